"""Shared fixtures: the real meshes in ../shared/meshes and analytic shapes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MESHES = Path(os.environ.get("SHAPEPREP_SHARED_MESHES", REPO.parent / "shared" / "meshes"))


def shared_mesh(name: str) -> Path:
    """Path of a mesh in the shared development set (fails loudly when missing)."""
    path = SHARED_MESHES / name
    if not path.exists():
        pytest.fail(f"shared mesh {path} is missing; set SHAPEPREP_SHARED_MESHES")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def icosphere(radius: float = 0.5, subdivisions: int = 4):
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=subdivisions, radius=radius)
    return np.asarray(sphere.vertices, dtype=np.float64), np.asarray(sphere.faces, dtype=np.int64)


def box(extents, center=(0.0, 0.0, 0.0)):
    import trimesh

    mesh = trimesh.creation.box(extents=extents)
    return np.asarray(mesh.vertices, dtype=np.float64) + np.asarray(center), np.asarray(mesh.faces, dtype=np.int64)


def validated_config(config: dict) -> dict:
    """``config`` validated against config/schema.yaml with every default filled in, as the Snakefile sees it."""
    from snakemake.utils import validate

    validate(config, str(REPO / "config" / "schema.yaml"))
    return config
