"""HDF5 training shards: many objects per file, one concatenated dataset per point set.

Layout (schema version :data:`shapeprep.SHARD_SCHEMA_VERSION`, README "Data format")::

    /                   attrs: schema_version, layout ("concatenated"), sdf_sign_convention,
                               point_sets (JSON: name -> columns), volume_bound, dtype,
                               to_source_frame, shard, num_objects, params (JSON), package_versions (JSON)
    /surface            (sum N, 6)  x y z nx ny nz   uniform on the watertight surface
    /salient            (sum K, 6)  x y z nx ny nz   on sharp edges (uniform when salient_fallback)
    /volume             (sum M, 4)  x y z sdf        uniform in [-volume_bound, volume_bound]^3
    /near_surface       (sum P, 4)  x y z sdf        surface points + N(0, sigma^2)
    /near_salient       (sum Q, 4)  x y z sdf        salient points + N(0, sigma^2)
    /near_surface_sigma (sum P,) uint8  row i's index into attrs["sigmas"]   (schema 3)
    /near_salient_sigma (sum Q,) uint8  likewise for near_salient             (schema 3)
    /offsets/<set>      (n + 1,) int64   object i owns rows offsets[i]:offsets[i+1]
                                         (of <set> and of its sigma labels)
    /objects/object_id, source, location, name, params_hash    (n,) UTF-8 str
    /objects/center (n, 3) float64, scale (n,) float64, salient_fallback (n,) bool
    /objects/validation, sample_metrics                        (n,) UTF-8 str (JSON)

Every dataset also says this in its own attributes (``description``,
``columns``, ``units``, ``sign``), so a shard opened with plain h5py explains
itself. Rows of every set are in random order, so a contiguous window is a
uniform random subset: the reader draws subsets with one read per set. SDF
values are negative inside. Points are in the normalised frame:
``original = point / scale + center``. h5py returns variable-length strings
as bytes; ``dataset.asstr()[()]`` gives ``str``.

Schema 2 (still read) lacks the sigma labels and the describing attributes.
Concatenated datasets were chosen over per-object groups by measurement
(``benchmarks/sampling.py reader``); the writer keeps the ``groups`` layout
only so that the benchmark can compare the two.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .. import SDF_SIGN_CONVENTION, SHARD_SCHEMA_VERSION
from ..atomic import atomic_path
from ..tables import TO_SOURCE_FRAME, decode_strings, read_object_table, write_object_table
from .sampling import POINT_SETS, ROW_LABELS

SAMPLE_KEYS = tuple(POINT_SETS)
#: Arrays kept per object by the sample stage: the point sets and their row labels.
STORE_KEYS = SAMPLE_KEYS + tuple(ROW_LABELS)
#: What each point set's rows are, for the datasets' ``description`` attribute.
SET_DESCRIPTIONS = {
    "surface": "uniform random points on the watertight surface with unit outward normals",
    "salient": "points on salient (sharp) edges with unit outward normals; uniform surface points where salient_fallback",
    "volume": "uniform random points in [-volume_bound, volume_bound]^3 with their signed distance",
    "near_surface": "surface points + N(0, sigma^2) per axis with their signed distance; sigma per row in /near_surface_sigma",
    "near_salient": "salient points + N(0, sigma^2) per axis with their signed distance; sigma per row in /near_salient_sigma",
}
#: Rows per chunk when a shard is compressed (compression needs chunking).
CHUNK_ROWS = 16384


@contextmanager
def sample_store_writer(path: str | Path):
    """Intermediate per-shard store of sample arrays (float32), written atomically.

    Yields
    ------
    add : callable ``add(object_id, arrays: dict, metrics: dict)``
    """
    import h5py

    with atomic_path(path) as temporary, h5py.File(temporary, "w", track_order=True) as handle:

        def add(object_id: str, arrays: dict, metrics: dict) -> None:
            group = handle.create_group(object_id)
            for key in STORE_KEYS:
                if key in arrays:
                    group.create_dataset(key, data=arrays[key], track_times=False)
            group.attrs["metrics"] = json.dumps(metrics, default=float)

        yield add


def read_sample_store(path: str | Path, object_id: str) -> dict:
    """Arrays of one object from a sample store: ``{set: (rows, columns) float32}`` plus its row labels."""
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle[object_id]
        return {key: group[key][()] for key in STORE_KEYS if key in group}


def sample_store_rows(path: str | Path, object_ids: list[str]) -> dict[str, list[int]]:
    """Row count per set and object, in ``object_ids`` order, without reading the arrays."""
    import h5py

    with h5py.File(path, "r") as handle:
        return {key: [handle[object_id][key].shape[0] for object_id in object_ids] for key in SAMPLE_KEYS}


def _string_array(values) -> np.ndarray:
    return np.array([str(value) for value in values], dtype=object)


def write_shard(
    path: str | Path,
    objects: list[dict],
    load_arrays: Callable[[str], dict],
    row_counts: dict[str, list[int]],
    file_attrs: dict,
    dtype: str = "float32",
    compression: str | None = None,
    layout: str = "concatenated",
) -> None:
    """Write a final shard, atomically (temp file, then rename).

    Parameters
    ----------
    path : output ``.h5``
    objects : list of dict, one per object in shard order
        ``object_id``; optional ``source``, ``location``, ``name``,
        ``params_hash``, ``center`` (3,), ``scale``, ``salient_fallback``,
        ``validation`` (dict), ``sample_metrics`` (dict).
    load_arrays : callable ``object_id -> {set: (rows, columns) array}``
        Called once per object, in order; only one object is in memory at a time.
    row_counts : dict ``set -> [rows per object]``
    file_attrs : dict
        ``shard``; optional ``params`` (dict), ``package_versions`` (dict), ``volume_bound``.
    dtype : ``"float32"`` or ``"float16"``
    compression : None, ``"none"``, ``"lzf"`` or ``"gzip"``
    layout : ``"concatenated"`` (the format) or ``"groups"`` (benchmark comparison only)
    """
    import h5py

    compression = None if compression in (None, "none") else compression
    ids = [obj["object_id"] for obj in objects]
    params = file_attrs.get("params", {})
    sigmas = {label: list(params.get("sample", {}).get(key, [])) for label, (_, key) in ROW_LABELS.items()}
    with atomic_path(path) as temporary, h5py.File(temporary, "w", track_order=True) as out:
        out.attrs["schema_version"] = SHARD_SCHEMA_VERSION
        out.attrs["layout"] = layout
        out.attrs["sdf_sign_convention"] = SDF_SIGN_CONVENTION
        out.attrs["point_sets"] = json.dumps(POINT_SETS)
        out.attrs["dtype"] = dtype
        out.attrs["to_source_frame"] = TO_SOURCE_FRAME
        out.attrs["shard"] = str(file_attrs["shard"])
        out.attrs["num_objects"] = len(objects)
        out.attrs["volume_bound"] = float(file_attrs.get("volume_bound", float("nan")))
        out.attrs["params"] = json.dumps(params, sort_keys=True, default=str)
        out.attrs["package_versions"] = json.dumps(file_attrs.get("package_versions", {}), sort_keys=True)
        write_object_table(out.create_group("objects"), objects)
        if layout == "concatenated":
            datasets, offsets = {}, {}
            for key, columns in POINT_SETS.items():
                counts = np.asarray(row_counts[key], dtype=np.int64)
                offsets[key] = np.concatenate([[0], np.cumsum(counts)])
                offset_set = out.create_dataset(f"offsets/{key}", data=offsets[key], track_times=False)
                offset_set.attrs["description"] = f"object i (row i of /objects) owns rows offsets[i]:offsets[i+1] of /{key}"
                total, width = int(offsets[key][-1]), len(columns.split())
                chunks = (min(CHUNK_ROWS, max(total, 1)), width) if compression else None
                datasets[key] = out.create_dataset(
                    key, shape=(total, width), dtype=dtype, chunks=chunks, compression=compression, track_times=False
                )
                _describe_set(datasets[key], key)
            for label, (labelled, _) in ROW_LABELS.items():
                total = int(offsets[labelled][-1])
                chunks = (min(CHUNK_ROWS, max(total, 1)),) if compression else None
                datasets[label] = out.create_dataset(
                    label, shape=(total,), dtype=np.uint8, chunks=chunks, compression=compression, track_times=False
                )
                datasets[label].attrs["description"] = (
                    f"row i is the index into attrs['sigmas'] of the sigma row i of /{labelled} was drawn with; "
                    f"object rows as /offsets/{labelled}"
                )
                datasets[label].attrs["sigmas"] = np.asarray(sigmas[label], dtype=np.float64)
                offsets[label] = offsets[labelled]
            for position, object_id in enumerate(ids):
                arrays = load_arrays(object_id)
                for key, dataset in datasets.items():
                    start, stop = offsets[key][position], offsets[key][position + 1]
                    if stop > start:
                        dataset[start:stop] = _stored(arrays, key, stop - start).astype(dataset.dtype)
        elif layout == "groups":
            groups = out.create_group("groups", track_order=True)
            for object_id in ids:
                arrays = load_arrays(object_id)
                group = groups.create_group(object_id)
                for key in SAMPLE_KEYS:
                    data = arrays[key].astype(dtype)
                    chunks = (min(CHUNK_ROWS, max(len(data), 1)), data.shape[1]) if compression else None
                    group.create_dataset(key, data=data, chunks=chunks, compression=compression, track_times=False)
        else:
            raise ValueError(f"unknown shard layout {layout!r}")


def _stored(arrays: dict, key: str, rows: int) -> np.ndarray:
    """An object's array for ``key``; sigma labels a store written before they existed lacks read as 255 (unknown)."""
    if key in arrays:
        return arrays[key]
    return np.full(rows, 255, dtype=np.uint8)


def _describe_set(dataset, key: str) -> None:
    """Attributes that make one point set readable without the README."""
    columns = POINT_SETS[key].split()
    dataset.attrs["description"] = SET_DESCRIPTIONS[key]
    dataset.attrs["columns"] = np.array(columns, dtype=object)
    dataset.attrs["rows"] = f"object i owns rows /offsets/{key}[i]:/offsets/{key}[i+1]; rows are in random order"
    dataset.attrs["units"] = "normalised frame: " + TO_SOURCE_FRAME
    if "sdf" in columns:
        dataset.attrs["sign"] = "sdf " + SDF_SIGN_CONVENTION + "; same units as xyz"
    else:
        dataset.attrs["sign"] = "normals point outward"


def write_shard_arrays(path: str | Path, items: Iterable[tuple[str, dict]], file_attrs: dict, **options) -> None:
    """:func:`write_shard` from in-memory ``(object_id, arrays)`` pairs (tests, benchmarks)."""
    items = list(items)
    arrays_by_id = dict(items)
    row_counts = {key: [len(arrays[key]) for _, arrays in items] for key in SAMPLE_KEYS}
    write_shard(path, [{"object_id": object_id} for object_id, _ in items], arrays_by_id.__getitem__, row_counts, file_attrs, **options)


def shard_object_ids(path: str | Path) -> list[str]:
    """Object ids stored in a shard, in order."""
    import h5py

    with h5py.File(path, "r") as handle:
        return decode_strings(handle["objects/object_id"][()])


def shard_objects(path: str | Path):
    """The shard's per-object table as a DataFrame (JSON columns decoded to dicts)."""
    import h5py

    with h5py.File(path, "r") as handle:
        return read_object_table(handle["objects"])


def shard_contents(path: str | Path) -> dict:
    """Objects and stored rows per point set of a shard, from its offsets only.

    Returns
    -------
    dict
        ``objects`` (int), ``points`` (``set -> rows``).
    """
    import h5py

    with h5py.File(path, "r") as handle:
        if "offsets" not in handle:
            return {"objects": 0, "points": {}}
        offsets = handle["offsets"]
        points = {key: int(offsets[key][-1]) for key in offsets}
        objects = len(offsets["surface"]) - 1 if "surface" in offsets else 0
    return {"objects": objects, "points": points}


def object_rows(handle, key: str, position: int) -> tuple[object, int, int]:
    """The dataset holding one object's rows of a set, and the row range: ``(dataset, start, stop)``."""
    if handle.attrs["layout"] == "groups":
        object_id = handle["objects/object_id"][position]
        object_id = object_id.decode() if isinstance(object_id, bytes) else object_id
        dataset = handle[f"groups/{object_id}/{key}"]
        return dataset, 0, dataset.shape[0]
    offsets = handle[f"offsets/{key}"]
    return handle[key], int(offsets[position]), int(offsets[position + 1])


def read_object_arrays(handle, position: int) -> dict:
    """Every set of the object at ``position`` of an open shard: ``{set: (rows, columns) float32}``.

    Schema 3 shards add the sigma labels (``near_surface_sigma (P,)``, ``near_salient_sigma (Q,)`` uint8).
    """
    arrays = {}
    for key in SAMPLE_KEYS:
        dataset, start, stop = object_rows(handle, key, position)
        arrays[key] = dataset[start:stop].astype(np.float32)
    for label, (labelled, _) in ROW_LABELS.items():
        if label in handle:
            offsets = handle[f"offsets/{labelled}"]
            arrays[label] = handle[label][int(offsets[position]):int(offsets[position + 1])]
    return arrays


def read_shard_object(path: str | Path, object_id: str) -> tuple[dict, dict]:
    """Every array and the metadata of one object.

    Returns
    -------
    arrays : dict ``set -> (rows, columns)`` float32
    meta : dict
        The object's row of :func:`shard_objects`.
    """
    import h5py

    objects = shard_objects(path)
    matches = np.flatnonzero(objects["object_id"].to_numpy() == object_id)
    if len(matches) == 0:
        raise KeyError(f"{object_id} is not in {path}")
    position = int(matches[0])
    with h5py.File(path, "r") as handle:
        arrays = read_object_arrays(handle, position)
    return arrays, objects.iloc[position].to_dict()
