"""Export shard objects as the per-object npz files that peers' training code reads.

Each format keeps its project's keys, shapes, dtype and **sign convention**,
so the existing loaders consume the files unchanged. Our shards store SDF
negative inside; all three peers store it positive inside, so every label is
negated on export. Points stay in our normalised frame (longest axis in
``[-bound, bound]``, default 0.95), which is what their VAEs expect (inputs
in [-1, 1], queries in [-1.05, 1.05]).

``dora``  (Seed3D/Dora, one ``<id>.npz``, float32)
    ``fps_coarse_surface (C, 1, 6)``, ``fps_sharp_surface (C, 1, 6)``: farthest
    point samples (fpsample, as Dora) of our surface and salient sets, both
    ``C = min(count, rows)`` (Dora's loader indexes both with one index);
    ``rand_points (P + M, 4)``: near-surface rows, then volume rows;
    ``sharp_near_surface (Q, 4)``: near-salient rows. Positive inside (pysdf).
``step1x`` (Step1X-3D, ``<id>/samples.npz``, float32)
    ``surface (N, 6)``, ``sharp_surface (K, 6)``, ``near_surface_points (P + Q, 4)``,
    ``volume_rand_points (M, 4)``, ``bounds [-b, b]``. Positive inside (pysdf).
``hunyuan`` (Hunyuan3D-2.1, ``<id>_surface.npz`` and ``<id>_sdf.npz``, float16)
    ``random_surface (N, 6)``, ``sharp_surface (K, 6)``; ``vol_points (M, 3)``,
    ``vol_label (M,)``, ``random_near_points (P, 3)``, ``random_near_label (P,)``,
    ``sharp_near_points (Q, 3)``, ``sharp_near_label (Q,)``. Labels are ``-sdf``
    (positive inside), as its sampling script writes them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .salient import farthest_point_indices
from .shards import read_object_arrays, shard_objects

#: Dora's default point count for both surface sets.
DORA_COUNT = 32768


def _flip_sign(rows: np.ndarray) -> np.ndarray:
    """(k, 4) xyz + sdf -> xyz + (-sdf): our negative-inside label to the peers' positive-inside."""
    flipped = np.array(rows, dtype=np.float32, copy=True)
    flipped[:, 3] *= -1.0
    return flipped


def dora_arrays(arrays: dict, count: int = DORA_COUNT) -> dict[str, np.ndarray]:
    """One object in Dora's npz layout (see module docstring)."""
    count = min(count, len(arrays["surface"]), len(arrays["salient"]))
    coarse = arrays["surface"][farthest_point_indices(arrays["surface"][:, :3], count)]
    sharp = arrays["salient"][farthest_point_indices(arrays["salient"][:, :3], count)]
    return {
        "fps_sharp_surface": sharp[:, None, :].astype(np.float32),
        "sharp_near_surface": _flip_sign(arrays["near_salient"]),
        "fps_coarse_surface": coarse[:, None, :].astype(np.float32),
        "rand_points": _flip_sign(np.concatenate([arrays["near_surface"], arrays["volume"]])),
    }


def step1x_arrays(arrays: dict, bound: float) -> dict[str, np.ndarray]:
    """One object in Step1X-3D's ``samples.npz`` layout."""
    return {
        "surface": arrays["surface"].astype(np.float32),
        "sharp_surface": arrays["salient"].astype(np.float32),
        "near_surface_points": _flip_sign(np.concatenate([arrays["near_surface"], arrays["near_salient"]])),
        "volume_rand_points": _flip_sign(arrays["volume"]),
        "bounds": np.array([-bound, bound]),
    }


def hunyuan_arrays(arrays: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One object in Hunyuan3D-2.1's two npz files: ``(surface file, sdf file)``."""
    half = np.float16
    surface = {"random_surface": arrays["surface"].astype(half), "sharp_surface": arrays["salient"].astype(half)}
    sdf = {}
    for ours, theirs in (("volume", "vol"), ("near_surface", "random_near"), ("near_salient", "sharp_near")):
        sdf[f"{theirs}_points"] = arrays[ours][:, :3].astype(half)
        sdf[f"{theirs}_label"] = (-arrays[ours][:, 3]).astype(half)
    return surface, sdf


def _save_npz(path: Path, arrays: dict) -> Path:
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def export_object(arrays: dict, object_id: str, folder: str | Path, layout: str, bound: float = 1.05) -> list[Path]:
    """Write one object's files in ``layout`` (``dora``, ``step1x`` or ``hunyuan``) under ``folder``.

    Returns
    -------
    list of the written paths
    """
    folder = Path(folder)
    if layout == "dora":
        return [_save_npz(folder / f"{object_id}.npz", dora_arrays(arrays))]
    if layout == "step1x":
        return [_save_npz(folder / object_id / "samples.npz", step1x_arrays(arrays, bound))]
    if layout == "hunyuan":
        surface, sdf = hunyuan_arrays(arrays)
        return [_save_npz(folder / f"{object_id}_surface.npz", surface), _save_npz(folder / f"{object_id}_sdf.npz", sdf)]
    raise ValueError(f"unknown export layout {layout!r} (dora, step1x, hunyuan)")


def export_shard(shard: str | Path, folder: str | Path, layout: str, object_ids: list[str] | None = None) -> list[Path]:
    """Export every object of a shard (or the listed ones) and write ``export.json``.

    ``export.json`` maps each object id to its files and to the ``center`` and
    ``scale`` that take points back to the source frame
    (``original = point / scale + center``).

    Returns
    -------
    list of the written npz paths
    """
    import h5py

    folder = Path(folder)
    table = shard_objects(shard)
    wanted = set(object_ids) if object_ids is not None else None
    missing = (wanted or set()) - set(table["object_id"])
    if missing:
        raise KeyError(f"not in {shard}: {', '.join(sorted(missing))}")
    written, manifest = [], {}
    with h5py.File(shard, "r") as handle:
        bound = float(handle.attrs["volume_bound"])
        bound = 1.05 if np.isnan(bound) else bound
        for position, row in table.iterrows():
            if wanted is not None and row["object_id"] not in wanted:
                continue
            paths = export_object(read_object_arrays(handle, int(position)), row["object_id"], folder, layout, bound)
            written += paths
            manifest[row["object_id"]] = {
                "files": [str(path.relative_to(folder)) for path in paths],
                "center": [row["center_x"], row["center_y"], row["center_z"]],
                "scale": row["scale"],
                "salient_fallback": bool(row["salient_fallback"]),
            }
    with atomic_path(folder / "export.json") as temporary:
        temporary.write_text(json.dumps({"layout": layout, "sdf_sign": "positive inside", "objects": manifest}, indent=1))
    return written
