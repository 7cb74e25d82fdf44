"""Shard job: pack one shard's passed objects and their provenance into the final HDF5."""

from __future__ import annotations

import json

from ..manifest import read_shard_list
from ..provenance import package_versions, params_hash
from ..shards import write_shard
from ..stage import STATUS_COLUMNS, read_status


def run(shard_list: str, normalize_status: str, validate_status: str, sample_status: str, sample_store: str,
        shard_file: str, shard: str, params: dict, build_params: dict) -> None:
    """Write ``shard_file`` with every object of the shard that passed all stages.

    Parameters
    ----------
    params : dict
        ``dtype``, ``compression``.
    build_params : dict
        Every stage's parameters, stored as provenance.
    """
    objects = read_shard_list(shard_list).set_index("object_id")
    normalized = read_status(normalize_status).set_index("object_id")
    validated = read_status(validate_status).set_index("object_id")
    sampled = read_status(sample_status).set_index("object_id")
    passed = sampled.index[sampled["status"] == "ok"].tolist()
    object_hash = params_hash(build_params)
    records = []
    for object_id in passed:
        validation = validated.loc[object_id].drop(labels=STATUS_COLUMNS[1:]).to_dict()
        validation["genus_per_component"] = json.loads(validation["genus_per_component"])
        records.append(
            {
                "object_id": object_id,
                "source": objects.loc[object_id, "source"],
                "location": objects.loc[object_id, "location"],
                "name": objects.loc[object_id, "name"],
                "center": normalized.loc[object_id, ["center_x", "center_y", "center_z"]].to_numpy(float),
                "scale": float(normalized.loc[object_id, "scale"]),
                "params_hash": object_hash,
                "salient_fallback": bool(sampled.loc[object_id, "salient_fallback"]),
                "validation": validation,
            }
        )
    write_shard(
        shard_file, sample_store, records,
        {"shard": shard, "params": build_params, "package_versions": package_versions()},
        dtype=params["dtype"], compression=params["compression"],
    )
