"""HDF5 training shards: many objects per file, with provenance.

Layout (schema version :data:`shapeprep.SHARD_SCHEMA_VERSION`, see README "Data format")::

    /                      attrs: schema_version, sdf_sign_convention, shard,
                                  num_objects, params (JSON), package_versions (JSON)
    /object_ids            (n,) str, in group order
    /objects/<object_id>/  attrs: source, location, name, center (3,), scale,
                                  params_hash, salient_fallback, validation (JSON)
        surface            (N, 6)  xyz, unit normal     -- uniform on the watertight surface
        salient            (K, 6)  xyz, unit normal     -- on sharp edges (uniform if none)
        volume             (M, 4)  xyz, sdf             -- uniform in [-b, b]^3
        near_surface       (P, 4)  xyz, sdf             -- Gaussian around surface + salient

Points are in the normalised frame: ``original = point / scale + center``.
SDF values are negative inside. Datasets are float32 unless configured float16.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from . import SDF_SIGN_CONVENTION, SHARD_SCHEMA_VERSION
from .atomic import atomic_path

SAMPLE_KEYS = ("surface", "salient", "volume", "near_surface")


@contextmanager
def sample_store_writer(path: str | Path):
    """Intermediate per-shard store of sample arrays (float32), written atomically.

    Yields
    ------
    add : callable ``add(object_id, arrays: dict, metrics: dict)``
    """
    import h5py

    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w", track_order=True) as handle:

            def add(object_id: str, arrays: dict, metrics: dict) -> None:
                group = handle.create_group(object_id)
                for key in SAMPLE_KEYS:
                    group.create_dataset(key, data=arrays[key], track_times=False)
                group.attrs["metrics"] = json.dumps(metrics, default=float)

            yield add


def write_shard(
    path: str | Path,
    sample_store: str | Path,
    objects: list[dict],
    file_attrs: dict,
    dtype: str = "float32",
    compression: str | None = None,
) -> None:
    """Write the final shard file from a sample store.

    Parameters
    ----------
    path : output ``.h5``
    sample_store : the sample job's store
    objects : list of dict
        One per object to include, in order: ``object_id``, ``source``,
        ``location``, ``name``, ``center`` (3 floats), ``scale``,
        ``params_hash``, ``salient_fallback``, ``validation`` (dict).
    file_attrs : dict
        ``shard``, ``params`` (dict), ``package_versions`` (dict).
    dtype : ``"float32"`` or ``"float16"``
    compression : None, ``"lzf"`` or ``"gzip"``
    """
    import h5py

    compression = None if compression in (None, "none") else compression
    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w", track_order=True) as out, h5py.File(sample_store, "r") as samples:
            out.attrs["schema_version"] = SHARD_SCHEMA_VERSION
            out.attrs["sdf_sign_convention"] = SDF_SIGN_CONVENTION
            out.attrs["shard"] = file_attrs["shard"]
            out.attrs["num_objects"] = len(objects)
            out.attrs["params"] = json.dumps(file_attrs["params"], sort_keys=True)
            out.attrs["package_versions"] = json.dumps(file_attrs["package_versions"], sort_keys=True)
            out.create_dataset(
                "object_ids", data=np.array([o["object_id"] for o in objects], dtype=object),
                dtype=h5py.string_dtype(), track_times=False,
            )
            root = out.create_group("objects", track_order=True)
            for obj in objects:
                group = root.create_group(obj["object_id"])
                for key in SAMPLE_KEYS:
                    data = samples[obj["object_id"]][key][()].astype(dtype)
                    chunks = (min(len(data), 8192), data.shape[1]) if compression and len(data) else None
                    group.create_dataset(key, data=data, compression=compression, chunks=chunks, track_times=False)
                for key in ("source", "location", "name", "params_hash"):
                    group.attrs[key] = str(obj[key])
                group.attrs["center"] = np.asarray(obj["center"], dtype=np.float64)
                group.attrs["scale"] = float(obj["scale"])
                group.attrs["salient_fallback"] = bool(obj["salient_fallback"])
                group.attrs["validation"] = json.dumps(obj["validation"], sort_keys=True, default=float)


def read_shard_object(path: str | Path, object_id: str) -> tuple[dict, dict]:
    """Read every array and attribute of one object.

    Returns
    -------
    arrays : dict of ``surface, salient, volume, near_surface`` numpy arrays
    attrs : dict
    """
    import h5py

    with h5py.File(path, "r") as handle:
        group = handle["objects"][object_id]
        arrays = {key: group[key][()] for key in SAMPLE_KEYS}
        attrs = dict(group.attrs)
    attrs["validation"] = json.loads(attrs["validation"])
    return arrays, attrs


def shard_object_ids(path: str | Path) -> list[str]:
    """Object ids stored in a shard, in order."""
    import h5py

    with h5py.File(path, "r") as handle:
        return [value.decode() if isinstance(value, bytes) else value for value in handle["object_ids"][()]]
