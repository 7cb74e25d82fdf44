"""Report job: the per-object status table and the HTML build report."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path, write_table
from ..index import STAGES, object_table
from ..provenance import package_versions
from ..report import render_html


def run(manifest: str, filtered: str, status_tables: dict[str, list[str]], shard_files: list[str],
        objects_parquet: str, objects_csv: str, report_html: str, provenance: dict) -> None:
    """Write the per-object status table (parquet and CSV) and the report page.

    Parameters
    ----------
    status_tables : dict
        ``stage -> list of per-shard status parquet paths`` for every stage in :data:`STAGES`.
    shard_files : final shard paths
    provenance : dict
        Config and parameter hashes to show in the report.
    """
    stage_tables = {
        stage: pd.concat([pd.read_parquet(path) for path in status_tables[stage]], ignore_index=True)
        for stage in STAGES
    }
    table = object_table(pd.read_parquet(manifest), stage_tables, pd.read_parquet(filtered))
    write_table(table, objects_parquet)
    with atomic_path(objects_csv) as temporary:
        table.to_csv(temporary, index=False)
    shard_bytes = {Path(path).stem: os.path.getsize(path) for path in shard_files}
    page = render_html(table, shard_bytes, {**provenance, "package_versions": package_versions()})
    with atomic_path(report_html) as temporary:
        temporary.write_text(page)
