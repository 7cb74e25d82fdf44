"""Manifest job: list every source, assign shards, write the per-shard object lists."""

from __future__ import annotations

import logging

from ..atomic import write_table
from ..manifest import build_manifest, shard_name, write_shard_lists
from ..mirrors import network_settings

logger = logging.getLogger("shapeprep")


def run(
    sources: dict,
    num_shards: int,
    download: dict,
    manifest_parquet: str,
    filtered_parquet: str,
    shard_lists: list[str],
) -> None:
    """Write the full manifest, the selection's rejections and one TSV per shard (``shard_lists`` in shard order).

    ``download`` is the download config section: its ``cache_dir`` keeps hf://
    metadata tables, its ``mirrors`` and ``timeout_seconds`` apply to fetching them.
    """
    with network_settings(download.get("mirrors"), download.get("timeout_seconds", 60)):
        manifest, filtered = build_manifest(sources, num_shards, download.get("cache_dir", "cache"))
    paths = {shard_name(index): path for index, path in enumerate(shard_lists)}
    write_shard_lists(manifest, num_shards, paths)
    write_table(filtered, filtered_parquet)
    write_table(manifest, manifest_parquet)
    for reason, count in filtered["reason"].value_counts().items():
        logger.info("manifest: %d objects left out: %s", count, reason)
    logger.info("manifest: %d objects in %d shards", len(manifest), num_shards)
