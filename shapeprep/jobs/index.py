"""Index job: one table over all shards, object id -> shard file and group."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..atomic import write_table
from ..shards import shard_object_ids


def run(shard_files: list[str], index_parquet: str) -> None:
    """Write ``index_parquet`` with ``object_id, shard, shard_file, position, group``.

    ``shard_file`` is relative to the index's folder, so the dataset can be moved as a whole.
    """
    root = Path(index_parquet).parent
    rows = []
    for path in shard_files:
        for position, object_id in enumerate(shard_object_ids(path)):
            rows.append(
                {
                    "object_id": object_id,
                    "shard": Path(path).stem,
                    "shard_file": os.path.relpath(path, root),
                    "position": position,
                    "group": f"objects/{object_id}",
                }
            )
    write_table(pd.DataFrame(rows, columns=["object_id", "shard", "shard_file", "position", "group"]), index_parquet)
