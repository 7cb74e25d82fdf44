"""Shard job: pack one shard's passed objects and their provenance into the final HDF5."""

from __future__ import annotations

import json
from functools import partial

from ..samples.shards import read_sample_store, sample_store_rows, write_shard
from ..sources.manifest import read_shard_list
from ..status import STATUS_COLUMNS, read_status
from .provenance import package_versions, params_hash

SAMPLE_METRICS = ("salient_engine", "salient_edges", "salient_offset", "volume_inside_fraction", "frame_scale")


def frame_scale(sampled, object_id: str) -> float:
    """The sample stage's frame factor of one object (1 in tables written before ``sample.frame_bound`` existed)."""
    if "frame_scale" not in sampled.columns:
        return 1.0
    return float(sampled.loc[object_id, "frame_scale"])


def run(shard_list: str, normalize_status: str, validate_status: str, sample_status: str, samples: str,
        settings: dict, build_params: dict, shard_file: str, shard: str) -> None:
    """Write ``shard_file`` with every object of the shard that passed all stages.

    Parameters
    ----------
    shard_list : the shard's manifest TSV (source, location and name of each object)
    normalize_status, validate_status, sample_status : the stages' status tables
    samples : the sample stage's store
    settings : dict
        ``dtype``, ``compression`` (and ``code``).
    build_params : dict
        Every stage's parameters, stored as provenance.
    shard_file : output HDF5
    shard : the shard's name (``NNNNN``)
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
                # The sample stage may rescale to the peer's frame (sample.frame_bound); points map back through both.
                "scale": float(normalized.loc[object_id, "scale"]) * frame_scale(sampled, object_id),
                "params_hash": object_hash,
                "salient_fallback": bool(sampled.loc[object_id, "salient_fallback"]),
                "validation": validation,
                "sample_metrics": {key: sampled.loc[object_id, key] for key in SAMPLE_METRICS if key in sampled.columns},
            }
        )
    write_shard(
        shard_file, records, partial(read_sample_store, samples), sample_store_rows(samples, passed),
        {
            "shard": shard, "params": build_params, "package_versions": package_versions(),
            "volume_bound": build_params["sample"]["volume_bound"],
        },
        dtype=settings["dtype"], compression=settings["compression"],
    )
