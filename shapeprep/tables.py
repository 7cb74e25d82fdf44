"""The per-object table every HDF5 output of the build carries (point shards, sparse SDF shards).

``/objects``: ``object_id``, ``source``, ``location``, ``name``, ``params_hash``,
``validation``, ``sample_metrics`` (UTF-8 strings, the last two JSON), ``center``
``(n, 3)``, ``scale`` ``(n,)``, ``salient_fallback`` ``(n,)``; row ``i`` is object ``i``
of the file.
"""

from __future__ import annotations

import json

import numpy as np

#: How a point in a shard maps back to the source asset's frame.
TO_SOURCE_FRAME = "original = point / scale + center  (scale, center: /objects/scale, /objects/center)"
#: String columns besides ``object_id``.
STRING_COLUMNS = ("source", "location", "name", "params_hash", "validation", "sample_metrics")


def _string_array(values) -> np.ndarray:
    return np.array([str(value) for value in values], dtype=object)


def decode_strings(values) -> list[str]:
    """h5py's bytes (or str) to ``str``."""
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


def write_object_table(group, objects: list[dict]) -> None:
    """Write the table into an open HDF5 group; ``objects`` as in :func:`shapeprep.samples.shards.write_shard`."""
    import h5py

    strings = h5py.string_dtype("utf-8")
    n = len(objects)
    group.attrs["description"] = (
        "one row per object, in the order of /offsets; strings are UTF-8 (h5py: dataset.asstr()[()]); "
        "validation and sample_metrics hold JSON; " + TO_SOURCE_FRAME
    )
    group.create_dataset("object_id", data=_string_array(o["object_id"] for o in objects), dtype=strings)
    for column in STRING_COLUMNS:
        values = [o.get(column, "") for o in objects]
        values = [json.dumps(v, sort_keys=True, default=float) if isinstance(v, dict) else v for v in values]
        group.create_dataset(column, data=_string_array(values), dtype=strings)
    center = group.create_dataset("center", data=np.array([o.get("center", (0.0, 0.0, 0.0)) for o in objects],
                                                           dtype=np.float64).reshape(n, 3))
    center.attrs["description"] = "source-frame point the object was centred on; " + TO_SOURCE_FRAME
    scale = group.create_dataset("scale", data=np.array([o.get("scale", 1.0) for o in objects], dtype=np.float64))
    scale.attrs["description"] = "normalised units per source unit; " + TO_SOURCE_FRAME
    group.create_dataset("salient_fallback", data=np.array([bool(o.get("salient_fallback", False)) for o in objects]))


def read_object_table(group):
    """The table of an open ``/objects`` group as a DataFrame (JSON columns decoded to dicts)."""
    import pandas as pd

    frame = pd.DataFrame({"object_id": decode_strings(group["object_id"][()])})
    for column in STRING_COLUMNS:
        frame[column] = decode_strings(group[column][()])
    center = group["center"][()]
    frame["center_x"], frame["center_y"], frame["center_z"] = center[:, 0], center[:, 1], center[:, 2]
    frame["scale"] = group["scale"][()]
    frame["salient_fallback"] = group["salient_fallback"][()].astype(bool)
    for column in ("validation", "sample_metrics"):
        frame[column] = [json.loads(value) if value else {} for value in frame[column]]
    return frame
