"""Index job: one table over the whole build, object id -> status, shard file and position."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..atomic import write_table
from ..index import STAGES, build_index, object_table


def run(manifest: str, filtered: str, status_tables: dict[str, list[str]], shard_files: list[str],
        index_parquet: str) -> None:
    """Write ``index_parquet`` (columns: :data:`shapeprep.index.INDEX_COLUMNS`).

    Parameters
    ----------
    status_tables : dict ``stage -> per-shard status parquet paths`` for every stage.
    """
    stage_tables = {
        stage: pd.concat([pd.read_parquet(path) for path in status_tables[stage]], ignore_index=True) for stage in STAGES
    }
    table = object_table(pd.read_parquet(manifest), stage_tables, pd.read_parquet(filtered))
    write_table(build_index(table, shard_files, Path(index_parquet).parent), index_parquet)
