"""Manifest job: list every source, assign shards, write the per-shard object lists."""

from __future__ import annotations

import logging

from ..atomic import write_table
from ..manifest import build_manifest, shard_name, write_shard_lists

logger = logging.getLogger("shapeprep")


def run(sources: dict, num_shards: int, manifest_parquet: str, shard_lists: list[str]) -> None:
    """Write the full manifest and one TSV per shard (``shard_lists`` in shard order)."""
    manifest = build_manifest(sources, num_shards)
    paths = {shard_name(index): path for index, path in enumerate(shard_lists)}
    write_shard_lists(manifest, num_shards, paths)
    write_table(manifest, manifest_parquet)
    logger.info("manifest: %d objects in %d shards", len(manifest), num_shards)
