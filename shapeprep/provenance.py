"""Hashes that make the build reproducible: seeds, parameter and code fingerprints.

Imported by the Snakefile at parse time, so it must stay import-light
(standard library only).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

#: Package modules each stage's output depends on. A change in any of them
#: changes the stage's code hash and so reruns that stage and everything after.
STAGE_MODULES = {
    "manifest": ["manifest", "sources", "jobs/manifest"],
    "download": ["download", "archives", "mirrors", "jobs/download"],
    "normalize": ["loaders", "normalize", "curate", "meshstore", "stage", "jobs/normalize"],
    "watertight": [
        "watertight", "watertight_torch", "blockgrid", "sparse_mc", "distance", "meshstore", "stage", "resume",
        "jobs/watertight",
    ],
    "validate": ["validate", "distance", "surface", "stage", "jobs/validate"],
    "sample": ["sampling", "salient", "sdf", "distance", "surface", "shards", "stage", "resume", "jobs/sample"],
    "shard": ["shards", "sampling", "jobs/shard"],
    "index": ["index", "shards", "jobs/index"],
    "report": ["report", "render", "index", "jobs/report"],
    "normal_maps": ["render", "meshstore", "stage", "jobs/normal_maps"],
}

#: Download settings that change only speed, never which bytes arrive. The job
#: reads them from the config; they stay out of every ``params:`` (and out of the
#: report's provenance), so tuning them reruns nothing.
DOWNLOAD_SPEED_KEYS = ("processes", "batch_size", "backoff_seconds", "timeout_seconds", "mirrors")

#: Packages whose versions are written into every shard.
TRACKED_PACKAGES = (
    "shapeprep", "numpy", "scipy", "trimesh", "libigl", "pymcubes", "fpsample", "meshiki", "pymeshlab", "torch", "cubvh",
    "h5py", "snakemake",
)


def stable_json(value) -> str:
    """Canonical JSON (sorted keys, no whitespace) of plain data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def canonical(value):
    """``value`` with every dict's keys sorted (through canonical JSON).

    Snakemake compares ``params`` by ``repr``, in which dict order shows: a
    reordered or default-filled config section must not look like a change.
    """
    return json.loads(stable_json(value))


def digest(*parts: str, length: int = 16) -> str:
    """Hex SHA-256 prefix of the joined ``parts``."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def params_hash(params: dict) -> str:
    """Fingerprint of a stage's parameters."""
    return digest(stable_json(params))


def object_seed(object_id: str, params: dict, base_seed: int = 0) -> int:
    """64-bit seed for one object's random draws, from its id and the stage parameters.

    The same object with the same parameters always gets the same numbers,
    whatever shard it lands in and whatever ran before it.
    """
    return int(digest(object_id, stable_json(params), str(base_seed)), 16)


def object_rng(object_id: str, params: dict, base_seed: int = 0):
    """``numpy.random.Generator`` seeded by :func:`object_seed`."""
    import numpy as np

    return np.random.default_rng(object_seed(object_id, params, base_seed))


def stage_code_hash(stage: str) -> str:
    """Hash of the source of every package module the stage depends on.

    Snakemake compares ``script:`` files by mtime only and package modules
    not at all; passing this through ``params:`` reruns exactly the stages
    whose code changed.
    """
    package_dir = Path(importlib.util.find_spec("shapeprep").origin).parent
    sources = [(package_dir / f"{module}.py").read_bytes() for module in STAGE_MODULES[stage]]
    return hashlib.sha256(b"\0".join(sources)).hexdigest()[:16]


def package_versions() -> dict:
    """Installed versions of :data:`TRACKED_PACKAGES` (absent ones omitted)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
