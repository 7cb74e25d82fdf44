"""The object table and index on edge cases the workflow tests do not reach."""

from __future__ import annotations

import pandas as pd

from shapeprep.build.index import INDEX_COLUMNS, build_index, object_table
from shapeprep.build.objects import run_objects
from shapeprep.samples.sampling import POINT_SETS
from shapeprep.samples.shards import write_shard
from shapeprep.sources.manifest import MANIFEST_COLUMNS
from shapeprep.sources.objaverse import FILTERED_COLUMNS
from shapeprep.status import OBJECT_STAGES


def roundtrip(frame, tmp_path, name):
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    return pd.read_parquet(path)


def test_a_build_with_no_objects_gives_an_empty_index(tmp_path):
    """Empty tables come back from parquet with float columns; the join must still work."""
    manifest = roundtrip(pd.DataFrame(columns=MANIFEST_COLUMNS), tmp_path, "manifest")
    stages = {stage: roundtrip(run_objects([], lambda object_id: {}, stage), tmp_path, stage) for stage in OBJECT_STAGES}
    filtered = roundtrip(pd.DataFrame(columns=FILTERED_COLUMNS), tmp_path, "filtered")
    empty_shard = tmp_path / "00000.h5"
    write_shard(empty_shard, [], lambda object_id: {}, {name: [] for name in POINT_SETS}, {"shard": "00000"})
    table = object_table(manifest, stages, filtered)
    index = build_index(table, [empty_shard], tmp_path)
    assert index.empty and list(index.columns) == INDEX_COLUMNS


def test_first_stage_that_did_not_pass_decides_status(tmp_path):
    manifest = pd.DataFrame({"object_id": ["a", "b", "c"], "source": "local", "location": "", "name": ["a", "b", "c"],
                             "file_format": "obj", "file_size": 1, "shard": "00000"})
    ok = {"status": "ok", "reason": "", "message": "", "seconds": 0.0}
    stages = {
        "download": pd.DataFrame([{"object_id": i, **ok} for i in "abc"]),
        "normalize": pd.DataFrame([{"object_id": "a", **ok},
                                   {"object_id": "b", **ok, "status": "filtered", "reason": "flat_geometry"},
                                   {"object_id": "c", **ok, "status": "failed", "reason": "unreadable"}]),
        "watertight": pd.DataFrame([{"object_id": "a", **ok}]),
        "validate": pd.DataFrame([{"object_id": "a", **ok}]),
        "sample": pd.DataFrame([{"object_id": "a", **ok}]),
    }
    filtered = pd.DataFrame([{"object_id": "d", "source": "objaverse_xl", "name": "d", "reason": "aesthetic_score_below",
                              "message": ""}])
    table = object_table(manifest, stages, filtered).set_index("object_id")
    assert table.loc[["a", "b", "c", "d"], ["status", "failed_stage", "reason"]].values.tolist() == [
        ["ok", "", ""], ["filtered", "normalize", "flat_geometry"], ["failed", "normalize", "unreadable"],
        ["filtered", "manifest", "aesthetic_score_below"]]
