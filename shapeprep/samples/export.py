"""Export shard objects as the files that peers' own training code reads unchanged.

Each layout knows its peer loader's **contract**: file paths and list files,
keys, shapes, dtype, the **sign convention** (all peers store SDF positive
inside; our shards store it negative inside, so every label is negated), the
coordinate frame, and the row counts the loader slices or draws without
replacement. :func:`check_contract` compares a shard's per-object row counts
and frame with the contract *before anything is written*; a shard that cannot
satisfy it raises :class:`ContractError`, one line naming the config key to
change (the presets in ``config/presets/`` satisfy their layout).

``dora`` (Seed3D/Dora ``craftsman/data/objaverse.py``)
    ``<out>/<id>.npz`` float32: ``fps_coarse_surface (32768, 1, 6)``,
    ``fps_sharp_surface (32768, 1, 6)`` (fpsample FPS of our surface and salient
    sets), ``rand_points (400000 + M, 4)`` = exactly 400,000 near-surface rows,
    then the volume rows (the loader splits at row 400,000),
    ``sharp_near_surface (Q, 4)``. Lists ``<out>/{train,val,test}.json`` hold
    the npz paths (absolute: the loader opens them as listed).
``step1x`` (Step1X-3D ``step1x3d_geometry/data/base.py``)
    ``<out>/surfaces/<id>.npz`` float32: ``surface (N, 6)``, ``sharp_surface (K >= N, 6)``,
    ``near_surface_points (P + Q, 4)``, ``volume_rand_points (M, 4)``, ``bounds``
    (the volume bound). Lists ``<out>/{train,val,test}.json`` hold the uids (``<id>``).
``hunyuan`` (Hunyuan3D-2.1 ``hy3dshape/data/dit_asl.py``)
    ``<out>/<split>/<id>/geo_data/<id>_surface.npz`` float16: ``random_surface (N, 6)``,
    ``sharp_surface (K, 6)``; and ``<id>_sdf.npz`` (``vol_points``, ``vol_label``,
    ``random_near_*``, ``sharp_near_*``, labels ``-sdf``), as its sampling script
    writes it. The loader globs ``<split>/*``: point ``train_data_list`` at
    ``<out>/train``. It also reads ``render_cond/NNN.png`` views, which this
    export does not make (no render stage yet): recorded in ``export.json``.
``triposg`` (TripoSG ``scripts/inference_vae.py``, the only released reader)
    ``<out>/<id>.npy``: a pickled dict ``surface_points (N, 3)``, ``surface_normals (N, 3)``
    float32 (``np.load(path, allow_pickle=True).tolist()``). Lists as ``dora``.
``vecset`` (3DShape2VecSet ``util/shapenet.py``)
    ``<out>/ShapeNetV2_point/<category>/<id>.npz``: ``vol_points``, ``vol_label``,
    ``near_points``, ``near_label`` (occupancy, 1 inside), ``<id>.npy`` (scale 1.0);
    ``<out>/ShapeNetV2_watertight/<category>/4_pointcloud/<id>.npz``: ``points``,
    ``normals``; ``<category>/{train,val,test}.lst`` (no trailing newline: the
    loader splits on ``\\n``). ``category`` must be a ShapeNet synset id the
    loader's ``category_ids`` knows (the autoencoder ignores it).

Every export writes ``<out>/export.json``: layout, the peer loader, the sign,
the splits, and per object its files, ``center`` and ``scale``
(``original = point / scale + center``) and ``salient_fallback``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .salient import farthest_point_indices
from .shards import read_object_arrays, shard_objects

#: Splits written by every layout, in order.
SPLITS = ("train", "val", "test")
#: Dora's FPS count for both surface sets (sharp_sample.py: point_number 65536 // 2).
DORA_COUNT = 32768
#: Dora's fixed split of rand_points (objaverse.py: rows [:400000] near-surface, [400000:] volume).
DORA_NEAR_ROWS = 400000
#: The first ShapeNet synset id in 3DShape2VecSet's category_ids (the autoencoder ignores the category).
VECSET_DEFAULT_CATEGORY = "02691156"


class ContractError(ValueError):
    """A shard cannot satisfy a peer loader's contract; the message names the config key to change."""


@dataclass(frozen=True)
class Requirement:
    """Rows per object that a peer loader needs of one or more point sets (summed).

    ``rows`` is a number, or the name of another set whose row count is the bound.
    """

    sets: tuple[str, ...]
    rows: int | str
    exact: bool
    key: str
    why: str


@dataclass(frozen=True)
class Layout:
    """One peer's export contract."""

    name: str
    loader: str
    frame_bound: float | None  # None: any frame (the loader renormalises or does not care)
    requirements: tuple[Requirement, ...]


LAYOUTS = {
    "dora": Layout(
        "dora", "Seed3D/Dora pytorch_lightning/craftsman/data/objaverse.py (ObjaverseDataset)", 1.0,
        (
            Requirement(("near_surface",), DORA_NEAR_ROWS, True,
                        "sample.near_surface_points_per_sigma x len(sample.near_surface_sigmas)",
                        "rand_points[:400000] are near-surface, [400000:] volume (objaverse.py:175-179)"),
            Requirement(("volume",), 10000, False, "sample.volume_points",
                        "n_supervision[2] = 10000 drawn without replacement from rand_points[400000:] (objaverse.py:176)"),
            Requirement(("near_salient",), 21384, False,
                        "sample.near_salient_points_per_sigma x len(sample.near_salient_sigmas)",
                        "n_supervision[0] = 21384 drawn without replacement from sharp_near_surface (objaverse.py:174)"),
            Requirement(("surface",), DORA_COUNT, False, "sample.surface_points",
                        "fps_coarse_surface is (32768, 1, 6) (sharp_sample.py:230)"),
            Requirement(("salient",), DORA_COUNT, False, "sample.salient_points",
                        "fps_sharp_surface is (32768, 1, 6), indexed alike with the coarse set"),
        ),
    ),
    "step1x": Layout(
        "step1x", "stepfun-ai/Step1X-3D step1x3d_geometry/data/base.py (BaseDataset)", 1.0,
        (
            Requirement(("surface",), 32768, False, "sample.surface_points",
                        "n_samples = 32768 (configs/train-geometry-autoencoder/michelangelo.yaml), FPS or random draw (base.py:117-138)"),
            Requirement(("salient",), "surface", False, "sample.salient_points",
                        "sharp_surface[ind] reuses the surface indices (base.py:119-126), so K >= N"),
            Requirement(("volume", "near_surface", "near_salient"), 10000, False, "sample.volume_points",
                        "n_supervision = 10000 drawn without replacement (base.py:177)"),
        ),
    ),
    "hunyuan": Layout(
        "hunyuan", "Tencent-Hunyuan/Hunyuan3D-2.1 hy3dshape/hy3dshape/data/dit_asl.py (AlignedShapeLatentDataset)", None,
        (
            Requirement(("surface",), 81920, False, "sample.surface_points",
                        "pc_size = 81920 in 3 of its 5 configs, drawn without replacement (dit_asl.py:181)"),
            Requirement(("salient",), 30720, False, "sample.salient_points",
                        "pc_sharpedge_size = 30720 in its full fine-tuning config, drawn without replacement (dit_asl.py:189)"),
        ),
    ),
    "triposg": Layout(
        "triposg", "VAST-AI-Research/TripoSG scripts/inference_vae.py (load_surface)", 1.0,
        (
            Requirement(("surface",), 204800, False, "sample.surface_points",
                        "num_pc = 204800 drawn without replacement (inference_vae.py:12-18)"),
        ),
    ),
    "vecset": Layout(
        "vecset", "1zb/3DShape2VecSet util/shapenet.py (ShapeNet)", None,
        (
            Requirement(("surface",), 2048, False, "sample.surface_points",
                        "pc_size = 2048 drawn without replacement (shapenet.py:142)"),
            Requirement(("volume",), 1024, False, "sample.volume_points",
                        "num_samples = 1024 drawn without replacement (datasets.py:32, shapenet.py:147)"),
            Requirement(("near_surface",), 1024, False,
                        "sample.near_surface_points_per_sigma x len(sample.near_surface_sigmas)",
                        "num_samples = 1024 drawn without replacement (shapenet.py:151)"),
        ),
    ),
}


def _positive_inside(rows: np.ndarray, dtype=np.float32) -> np.ndarray:
    """(k, 4) xyz + sdf -> xyz + (-sdf): our negative-inside label to the peers' positive-inside."""
    flipped = np.array(rows, dtype=np.float32, copy=True)
    flipped[:, 3] *= -1.0
    return flipped.astype(dtype)


def object_rows(offsets: dict) -> dict[str, np.ndarray]:
    """Rows per object of every set from a shard's ``/offsets``: ``{set: (n,) int64}``."""
    return {key: np.diff(np.asarray(value, dtype=np.int64)) for key, value in offsets.items()}


def sampling_frame(params: dict) -> float | None:
    """The half-extent of the longest axis the shard's points were sampled in (None when unknown)."""
    sample = params.get("sample", {})
    if sample.get("frame_bound") is not None:
        return float(sample["frame_bound"])
    bound = params.get("normalize", {}).get("bound")
    return None if bound is None else float(bound)


def check_contract(layout: str, rows: dict[str, np.ndarray], params: dict, where: str = "shard") -> None:
    """Raise :class:`ContractError` when objects with these row counts cannot be read by the layout's loader.

    Parameters
    ----------
    layout : a key of :data:`LAYOUTS`
    rows : ``{set: (n,) int}`` rows per object (:func:`object_rows`)
    params : the shard's build parameters (its ``params`` attribute)
    where : names the shard in the message
    """
    spec = LAYOUTS[layout]
    if spec.frame_bound is not None:
        frame = sampling_frame(params)
        if frame is None or abs(frame - spec.frame_bound) > 1e-6:
            raise ContractError(
                f"{where}: points span ±{frame} on the longest axis, {layout}'s loader expects ±{spec.frame_bound}; "
                f"set sample.frame_bound: {spec.frame_bound} (config/presets/)"
            )
    for need in spec.requirements:
        have = sum(rows[key] for key in need.sets)
        if len(have) == 0:
            continue
        bound = rows[need.rows] if isinstance(need.rows, str) else np.full_like(have, need.rows)
        bad = (have != bound) if need.exact else (have < bound)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            relation = "exactly" if need.exact else "at least"
            target = need.rows if isinstance(need.rows, int) else f"the {need.rows} rows ({int(bound[first])})"
            raise ContractError(
                f"{where}: {'+'.join(need.sets)} has {int(have[first])} rows per object, {layout} needs {relation} "
                f"{target}: {need.why}; change {need.key} (config/presets/{_preset_name(layout)}.yaml)"
            )


def _preset_name(layout: str) -> str:
    return {"hunyuan": "hunyuan21"}.get(layout, layout)


# --- per-object arrays -------------------------------------------------------------------------


def dora_arrays(arrays: dict) -> dict[str, np.ndarray]:
    """One object in Dora's npz layout (see module docstring)."""
    coarse = arrays["surface"][farthest_point_indices(arrays["surface"][:, :3], DORA_COUNT)]
    sharp = arrays["salient"][farthest_point_indices(arrays["salient"][:, :3], DORA_COUNT)]
    return {
        "fps_sharp_surface": sharp[:, None, :].astype(np.float32),
        "sharp_near_surface": _positive_inside(arrays["near_salient"]),
        "fps_coarse_surface": coarse[:, None, :].astype(np.float32),
        "rand_points": _positive_inside(np.concatenate([arrays["near_surface"], arrays["volume"]])),
    }


def step1x_arrays(arrays: dict, volume_bound: float) -> dict[str, np.ndarray]:
    """One object in Step1X-3D's ``surfaces/<uid>.npz`` layout."""
    return {
        "surface": arrays["surface"].astype(np.float32),
        "sharp_surface": arrays["salient"].astype(np.float32),
        "near_surface_points": _positive_inside(np.concatenate([arrays["near_surface"], arrays["near_salient"]])),
        "volume_rand_points": _positive_inside(arrays["volume"]),
        "bounds": np.float32(volume_bound),
    }


def hunyuan_arrays(arrays: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One object in Hunyuan3D-2.1's two npz files: ``(surface file, sdf file)``, float16, labels ``-sdf``."""
    half = np.float16
    surface = {"random_surface": arrays["surface"].astype(half), "sharp_surface": arrays["salient"].astype(half)}
    sdf = {}
    for ours, theirs in (("volume", "vol"), ("near_surface", "random_near"), ("near_salient", "sharp_near")):
        sdf[f"{theirs}_points"] = arrays[ours][:, :3].astype(half)
        sdf[f"{theirs}_label"] = (-arrays[ours][:, 3]).astype(half)
    return surface, sdf


def triposg_arrays(arrays: dict) -> dict[str, np.ndarray]:
    """One object as TripoSG's ``load_surface`` reads it."""
    surface = arrays["surface"].astype(np.float32)
    return {"surface_points": np.ascontiguousarray(surface[:, :3]), "surface_normals": np.ascontiguousarray(surface[:, 3:])}


def vecset_arrays(arrays: dict) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """One object in 3DShape2VecSet's occupancy layout: ``(points file, point-cloud file)``; label 1 inside."""
    points = {
        "vol_points": arrays["volume"][:, :3].astype(np.float32),
        "vol_label": (arrays["volume"][:, 3] < 0).astype(np.uint8),
        "near_points": arrays["near_surface"][:, :3].astype(np.float32),
        "near_label": (arrays["near_surface"][:, 3] < 0).astype(np.uint8),
    }
    cloud = {"points": arrays["surface"][:, :3].astype(np.float32), "normals": arrays["surface"][:, 3:].astype(np.float32)}
    return points, cloud


# --- files -------------------------------------------------------------------------------------


def _save_npz(path: Path, arrays: dict) -> Path:
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.savez(handle, **arrays)
    return path


def _save_npy(path: Path, value) -> Path:
    with atomic_path(path) as temporary, open(temporary, "wb") as handle:
        np.save(handle, value, allow_pickle=True)
    return path


def _write_text(path: Path, text: str) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(text)
    return path


def object_files(arrays: dict, object_id: str, folder: Path, layout: str, split: str, volume_bound: float,
                 category: str = VECSET_DEFAULT_CATEGORY) -> list[Path]:
    """Write one object's files in ``layout`` under ``folder``; returns the written paths."""
    if layout == "dora":
        return [_save_npz(folder / f"{object_id}.npz", dora_arrays(arrays))]
    if layout == "step1x":
        return [_save_npz(folder / "surfaces" / f"{object_id}.npz", step1x_arrays(arrays, volume_bound))]
    if layout == "hunyuan":
        surface, sdf = hunyuan_arrays(arrays)
        geo = folder / split / object_id / "geo_data"
        return [_save_npz(geo / f"{object_id}_surface.npz", surface), _save_npz(geo / f"{object_id}_sdf.npz", sdf)]
    if layout == "triposg":
        return [_save_npy(folder / f"{object_id}.npy", triposg_arrays(arrays))]
    if layout == "vecset":
        points, cloud = vecset_arrays(arrays)
        point_folder = folder / "ShapeNetV2_point" / category
        return [
            _save_npz(point_folder / f"{object_id}.npz", points),
            _save_npy(point_folder / f"{object_id}.npy", np.float64(1.0)),
            _save_npz(folder / "ShapeNetV2_watertight" / category / "4_pointcloud" / f"{object_id}.npz", cloud),
        ]
    raise ValueError(f"unknown export layout {layout!r} ({', '.join(LAYOUTS)})")


def split_objects(object_ids: list[str], val_fraction: float, test_fraction: float) -> dict[str, list[str]]:
    """Deterministic train/val/test split by ``sha256(object_id)``: an object keeps its split as the dataset grows.

    A split with a positive fraction gets at least one object when there are
    at least two objects left for training.

    Returns
    -------
    dict ``split -> object ids`` (in the input order)
    """
    if not (val_fraction >= 0 and test_fraction >= 0 and val_fraction + test_fraction < 1):
        raise ValueError("val and test fractions must be >= 0 and sum below 1")
    position = {oid: int(hashlib.sha256(oid.encode()).hexdigest()[:15], 16) / 16**15 for oid in object_ids}
    split = {oid: "val" if position[oid] < val_fraction else "test" if position[oid] < val_fraction + test_fraction
             else "train" for oid in object_ids}
    for name, fraction in (("val", val_fraction), ("test", test_fraction)):
        training = sorted((oid for oid in object_ids if split[oid] == "train"), key=position.get)
        if fraction > 0 and name not in split.values() and len(training) >= 2:
            split[training[0]] = name
    return {name: [oid for oid in object_ids if split[oid] == name] for name in SPLITS}


def write_lists(folder: Path, layout: str, splits: dict[str, list[str]], files: dict[str, list[Path]],
                category: str = VECSET_DEFAULT_CATEGORY) -> list[Path]:
    """The list files each loader enumerates objects from (see module docstring)."""
    written = []
    for name, object_ids in splits.items():
        if layout in ("dora", "triposg"):
            entries = [str(files[oid][0].resolve()) for oid in object_ids]
            written.append(_write_text(folder / f"{name}.json", json.dumps(entries, indent=1)))
        elif layout == "step1x":
            written.append(_write_text(folder / f"{name}.json", json.dumps(object_ids, indent=1)))
        elif layout == "vecset" and object_ids:  # its loader reads an empty .lst as one model named ""
            written.append(_write_text(folder / "ShapeNetV2_point" / category / f"{name}.lst", "\n".join(object_ids)))
    return written


def export(shards: dict[str | Path, list[str] | None], folder: str | Path, layout: str, val_fraction: float = 0.01,
           test_fraction: float = 0.0, require_salient: bool = False, category: str = VECSET_DEFAULT_CATEGORY) -> dict:
    """Export objects of one or more shards into one folder in ``layout``.

    Every shard is checked against the layout's contract first; nothing is
    written when one fails (:class:`ContractError`).

    Parameters
    ----------
    shards : ``{shard path: object ids or None (all)}``
    folder : output folder (one dataset root for the peer's loader)
    layout : a key of :data:`LAYOUTS`
    val_fraction, test_fraction : split by object-id hash (:func:`split_objects`)
    require_salient : leave out objects without salient edges (``salient_fallback``), as Dora's sampler does
    category : 3DShape2VecSet category folder (a ShapeNet synset id)

    Returns
    -------
    dict: ``objects``, ``files``, ``skipped`` (object ids left out and why), ``splits`` (counts)
    """
    import h5py

    if layout not in LAYOUTS:
        raise ValueError(f"unknown export layout {layout!r} ({', '.join(LAYOUTS)})")
    folder = Path(folder)
    plan, skipped = [], {}
    for shard, wanted in shards.items():
        table = shard_objects(shard)
        missing = set(wanted or ()) - set(table["object_id"])
        if missing:
            raise KeyError(f"not in {shard}: {', '.join(sorted(missing))}")
        with h5py.File(shard, "r") as handle:
            params = json.loads(handle.attrs["params"])
            rows = object_rows({key: handle["offsets"][key][()] for key in handle["offsets"]})
            volume_bound = float(handle.attrs["volume_bound"])
        wanted = None if wanted is None else set(wanted)
        chosen = [i for i, oid in enumerate(table["object_id"]) if wanted is None or oid in wanted]
        if require_salient:
            for i in [i for i in chosen if table["salient_fallback"].iloc[i]]:
                skipped[table["object_id"].iloc[i]] = "salient_fallback (no salient edge)"
            chosen = [i for i in chosen if not table["salient_fallback"].iloc[i]]
        check_contract(layout, {key: value[chosen] for key, value in rows.items()}, params, where=str(shard))
        plan += [(shard, i, table.iloc[i], 1.05 if np.isnan(volume_bound) else volume_bound) for i in chosen]
    splits = split_objects([row["object_id"] for _, _, row, _ in plan], val_fraction, test_fraction)
    split_of = {oid: name for name, ids in splits.items() for oid in ids}
    files, manifest = {}, {}
    for shard, position, row, volume_bound in plan:
        object_id = row["object_id"]
        with h5py.File(shard, "r") as handle:
            arrays = read_object_arrays(handle, position)
        files[object_id] = object_files(arrays, object_id, folder, layout, split_of[object_id], volume_bound, category)
        manifest[object_id] = {
            "files": [path.relative_to(folder).as_posix() for path in files[object_id]],
            "split": split_of[object_id],
            "center": [row["center_x"], row["center_y"], row["center_z"]],
            "scale": row["scale"],
            "salient_fallback": bool(row["salient_fallback"]),
            "shard": str(shard),
        }
    lists = write_lists(folder, layout, splits, files, category)
    summary = {
        "layout": layout,
        "loader": LAYOUTS[layout].loader,
        "sdf_sign": "positive inside (ours negated)",
        "to_source_frame": "original = point / scale + center",
        "splits": {name: len(ids) for name, ids in splits.items()},
        "lists": [path.relative_to(folder).as_posix() for path in lists],
        "skipped": skipped,
        "objects": manifest,
    }
    if layout == "hunyuan":
        summary["missing"] = "render_cond/NNN.png conditioning views: not produced by this build (no render stage)"
    with atomic_path(folder / "export.json") as temporary:
        temporary.write_text(json.dumps(summary, indent=1))
    return {"objects": len(manifest), "files": sum(len(paths) for paths in files.values()) + len(lists),
            "skipped": skipped, "splits": summary["splits"]}
