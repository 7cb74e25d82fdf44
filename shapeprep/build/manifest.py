"""Manifest job: list every source, assign shards, write the per-shard object lists."""

from __future__ import annotations

import logging

from ..atomic import write_table
from ..sources.manifest import build_manifest, shard_name, write_shard_lists
from ..sources.mirrors import network_settings
from .provenance import download_speed_settings

logger = logging.getLogger("shapeprep")


def run(settings: dict, config: dict, manifest: str, filtered: str, shard_lists: list[str]) -> None:
    """Write the full manifest, the selection's rejections and one TSV per shard (``shard_lists`` in shard order).

    Parameters
    ----------
    settings : ``sources`` (the config section), ``num_shards``, ``code``
    config : the workflow config; its ``download`` section says where hf://
        metadata tables are kept (``cache_dir``) and how they are fetched
        (mirrors, timeout). Not a param: the listed objects do not depend on it.
    """
    download = config["download"]
    speed = download_speed_settings(download)
    with network_settings(speed["mirrors"], speed["timeout_seconds"]):
        objects, left_out = build_manifest(settings["sources"], settings["num_shards"], download["cache_dir"])
    paths = {shard_name(index): path for index, path in enumerate(shard_lists)}
    write_shard_lists(objects, settings["num_shards"], paths)
    write_table(left_out, filtered)
    write_table(objects, manifest)
    for reason, count in left_out["reason"].value_counts().items():
        logger.info("manifest: %d objects left out: %s", count, reason)
    logger.info("manifest: %d objects in %d shards", len(objects), settings["num_shards"])
