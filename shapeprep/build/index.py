"""Index job: one table over the whole build, object id -> final status, shard file and position.

Both the index and the report start from :func:`object_table`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..atomic import write_table
from ..samples.shards import shard_objects
from ..status import OBJECT_STAGES


def object_table(
    manifest: pd.DataFrame, stage_tables: dict[str, pd.DataFrame], filtered: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row per object with its final status and every stage's figures.

    Parameters
    ----------
    manifest : DataFrame with ``object_id, source, name, file_format, shard``
    stage_tables : dict
        ``stage -> concatenated status tables`` for :data:`~shapeprep.status.OBJECT_STAGES`.
    filtered : objects the sources' selection left out (``object_id, source,
        name, reason, message``); they get status ``filtered`` at stage ``manifest``.

    Returns
    -------
    DataFrame
        Manifest columns, ``status`` (``ok``, ``failed`` or ``filtered``),
        ``failed_stage`` (the stage that stopped the object), ``reason``,
        ``message``, and ``<stage>_<column>`` for every stage column.
    """
    table = manifest.copy()
    # Empty tables come back from parquet with float columns; ids are strings.
    table["object_id"] = table["object_id"].astype(str)
    table["status"], table["failed_stage"], table["reason"], table["message"] = "failed", "", "", ""
    decided = pd.Series(False, index=table.index)
    for stage in OBJECT_STAGES:
        stage_table = stage_tables.get(stage)
        if stage_table is None or stage_table.empty:
            continue
        stage_table = stage_table.assign(object_id=stage_table["object_id"].astype(str))
        renamed = stage_table.rename(columns={c: f"{stage}_{c}" for c in stage_table.columns if c != "object_id"})
        table = table.merge(renamed, on="object_id", how="left")
        failed = table[f"{stage}_status"].isin(["failed", "filtered"]) & ~decided
        table.loc[failed, "status"] = table.loc[failed, f"{stage}_status"]
        table.loc[failed, "failed_stage"] = stage
        table.loc[failed, "reason"] = table.loc[failed, f"{stage}_reason"]
        table.loc[failed, "message"] = table.loc[failed, f"{stage}_message"]
        decided |= failed
    last = stage_tables.get(OBJECT_STAGES[-1])
    if last is not None and not last.empty:
        ok = set(last.loc[last["status"] == "ok", "object_id"])
        table.loc[table["object_id"].isin(ok) & ~decided, "status"] = "ok"
    never_reached = (table["status"] == "failed") & (table["failed_stage"] == "")
    table.loc[never_reached, ["failed_stage", "reason"]] = ["unknown", "not_processed"]
    if filtered is not None and len(filtered):
        left_out = filtered.assign(status="filtered", failed_stage="manifest")
        table = pd.concat([table, left_out], ignore_index=True)
    return table


INDEX_COLUMNS = ["object_id", "source", "name", "shard", "status", "failed_stage", "reason",
                 "shard_file", "position", "salient_fallback"]


def build_index(table: pd.DataFrame, shard_files: list[str], index_folder: str | Path) -> pd.DataFrame:
    """Join the object table with the shards' contents.

    Parameters
    ----------
    table : :func:`object_table` output
    shard_files : final shard paths
    index_folder : folder the index is written to; ``shard_file`` is relative to it
        so that the dataset folder can be moved as a whole.

    Returns
    -------
    DataFrame with :data:`INDEX_COLUMNS`; ``shard_file`` is empty and
    ``position`` is -1 for objects that are in no shard.
    """
    located = []
    for path in shard_files:
        objects = shard_objects(path)
        located.append(pd.DataFrame({
            "object_id": objects["object_id"],
            "shard_file": os.path.relpath(path, index_folder),
            "position": range(len(objects)),
            "salient_fallback": objects["salient_fallback"],
        }))
    located = pd.concat(located, ignore_index=True) if located else pd.DataFrame(columns=INDEX_COLUMNS[-3:] + ["object_id"])
    located["object_id"] = located["object_id"].astype(str)
    index = table.merge(located, on="object_id", how="left")
    index["shard_file"] = index["shard_file"].fillna("")
    index["position"] = index["position"].fillna(-1).astype("int64")
    index["salient_fallback"] = index["salient_fallback"].fillna(False).astype(bool)
    for column in INDEX_COLUMNS:
        if column not in index:
            index[column] = ""
    return index[INDEX_COLUMNS]


def read_stage_tables(status_tables: dict[str, list[str]]) -> dict:
    """``stage -> one DataFrame`` of the per-shard status tables of every :data:`~shapeprep.status.OBJECT_STAGES` stage."""
    if set(status_tables) != set(OBJECT_STAGES):
        raise ValueError(f"status tables for {sorted(status_tables)}, expected {sorted(OBJECT_STAGES)}")
    return {stage: pd.concat([pd.read_parquet(path) for path in paths], ignore_index=True)
            for stage, paths in status_tables.items()}


def run(manifest: str, filtered: str, shards: list[str], settings: dict, index: str,
        **status_tables: list[str]) -> None:
    """Write ``index`` (columns :data:`INDEX_COLUMNS`).

    Parameters
    ----------
    manifest, filtered : the manifest's object table and the objects its sources left out
    shards : final shard files
    settings : ``code``, the job's code hash (a rerun trigger; nothing to set)
    index : output parquet; ``shard_file`` paths are relative to its folder
    status_tables : ``<stage>=`` per-shard status parquet paths, one keyword per
        :data:`~shapeprep.status.OBJECT_STAGES` stage
    """
    table = object_table(pd.read_parquet(manifest), read_stage_tables(status_tables), pd.read_parquet(filtered))
    write_table(build_index(table, shards, Path(index).parent), index)
