"""Messy inputs: each gives a valid closed output (or a recorded reason upstream)."""

import numpy as np
import pytest

from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.geometry.validate import validate_mesh
from shapeprep.watertight import watertight_mesh

from .conftest import box, icosphere


def watertight_record(vertices, faces, resolution=48):
    mesh = normalize_mesh(vertices, faces)
    result = watertight_mesh(mesh.vertices, mesh.faces, resolution=resolution)
    record = validate_mesh(result.vertices, result.faces)
    assert record["reasons"] == [], record["reasons"]
    return record, result


def test_zero_area_and_duplicate_faces():
    vertices, faces = icosphere(subdivisions=3)
    collinear = np.array([[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0]], dtype=float) + 0.3
    faces = np.concatenate([faces, faces[:50], faces[:20, ::-1], np.arange(3)[None] + len(vertices)])
    record, _ = watertight_record(np.concatenate([vertices, collinear]), faces)
    assert record["components"] == 1 and record["genus"] == 0


def test_half_the_faces_flipped():
    vertices, faces = icosphere(subdivisions=3)
    faces = faces.copy()
    faces[::2] = faces[::2, ::-1]
    record, result = watertight_record(vertices, faces)
    assert record["components"] == 1 and result.stats["solid"]


def test_non_manifold_edges():
    # Three boxes sharing one edge: four faces meet there.
    parts = [box([0.5, 0.5, 0.5], center=c) for c in [(0.25, 0.25, 0), (-0.25, -0.25, 0), (0.25, -0.25, 0)]]
    vertices = np.concatenate([p[0] for p in parts])
    faces = np.concatenate([p[1] + 8 * i for i, p in enumerate(parts)])
    record, _ = watertight_record(vertices, faces)
    assert record["components"] == 1


def test_flat_zero_thickness_mesh_and_far_tiny_object():
    vertices, faces = box([0.05, 0.05, 0.0], center=(1e4, -2e4, 5e3))  # flat, tiny, far from the origin
    record, result = watertight_record(vertices, faces)
    assert record["components"] == 1 and not result.stats["solid"]


def test_million_face_mesh():
    vertices, faces = icosphere(subdivisions=8)
    assert len(faces) > 1_000_000
    record, _ = watertight_record(vertices, faces, resolution=32)
    assert record["components"] == 1 and record["genus"] == 0


@pytest.mark.parametrize("resolution", [16, 17])
def test_tiny_grids(resolution):
    vertices, faces = icosphere(subdivisions=2)
    watertight_record(vertices, faces, resolution=resolution)
