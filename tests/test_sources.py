"""Manifest sources: Objaverse-XL metadata tables and Objaverse 1.0 uid lists."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest

from shapeprep.sources.manifest import build_manifest
from shapeprep.sources.mirrors import network_settings
from shapeprep.sources.objaverse import hf_url, list_objaverse_uids, list_objaverse_xl

from .conftest import validated_config
from .objaverse_server import ObjaverseServer


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def trellis_csv(tmp_path):
    """A table in the TRELLIS-500K layout, with one row of each kind of trouble."""
    rows = [
        (sha(f"object{i}"), f"https://sketchfab.com/3d-models/{i:032x}", 3.0 + i, f"caption {i}") for i in range(8)
    ]
    rows.append(("NOT-A-HASH", "https://sketchfab.com/3d-models/" + "a" * 32, 9.0, "bad sha"))
    rows.append((sha("ftp"), "ftp://example.org/model.glb", 9.0, "unknown host"))
    rows.append((sha("object0").upper(), "https://sketchfab.com/3d-models/" + "0" * 32, 3.0, "duplicate, upper case"))
    rows.append((sha("gh"), "https://github.com/org/repo/blob/" + "c" * 40 + "/dir/Model.OBJ", None, "no score"))
    frame = pd.DataFrame(rows, columns=["sha256", "file_identifier", "aesthetic_score", "captions"])
    path = tmp_path / "ObjaverseXL_sketchfab.csv"
    frame.to_csv(path, index=False)
    return path


def test_xl_table_keeps_metadata_and_records_unusable_rows(trellis_csv, tmp_path):
    objects, filtered = list_objaverse_xl({"metadata": str(trellis_csv)}, tmp_path)
    assert len(objects) == 9  # 8 sketchfab + the github row; the duplicate is kept once
    assert list(objects["object_id"]) == sorted(objects["object_id"])
    assert {"aesthetic_score", "captions"} <= set(objects.columns)
    github = objects[objects["location"].str.contains("github")].iloc[0]
    assert (github["file_format"], github["name"]) == ("obj", "Model.OBJ")
    assert dict(zip(filtered["reason"], filtered["object_id"])) == {"bad_sha256": "not-a-hash",
                                                                     "unknown_identifier": sha("ftp")}


def test_aesthetic_threshold_and_limit(trellis_csv, tmp_path):
    entry = {"metadata": str(trellis_csv), "min_aesthetic_score": 7.5, "limit": 2}
    objects, filtered = list_objaverse_xl(entry, tmp_path)
    passing = sorted(sha(f"object{i}") for i in range(8) if 3.0 + i >= 7.5)
    assert list(objects["object_id"]) == passing[:2], "limit keeps the first N in sha256 order"
    below = filtered[filtered["reason"] == "aesthetic_score_below"]
    assert len(below) == 5 + 1  # scores 3..7 and the row without a score
    assert (objects["aesthetic_score"] >= 7.5).all()
    larger, _ = list_objaverse_xl({**entry, "limit": 3}, tmp_path)
    assert set(objects["object_id"]) < set(larger["object_id"]), "raising the limit only adds objects"


def test_threshold_without_scores_is_a_config_error(tmp_path):
    path = tmp_path / "plain.csv"
    pd.DataFrame({"sha256": [sha("a")], "file_identifier": ["https://sketchfab.com/3d-models/" + "1" * 32]}).to_csv(
        path, index=False)
    with pytest.raises(ValueError, match="aesthetic_score"):
        list_objaverse_xl({"metadata": str(path), "min_aesthetic_score": 5}, tmp_path)


def test_hf_table_is_fetched_once_through_the_mirror(trellis_csv, tmp_path):
    server = ObjaverseServer(tmp_path / "server")
    try:
        target = server.root / "hf" / "datasets" / "JeffreyXiang" / "TRELLIS-500K" / "resolve" / "main"
        target.mkdir(parents=True)
        (target / "ObjaverseXL_sketchfab.csv").write_bytes(trellis_csv.read_bytes())
        entry = {"metadata": "hf://datasets/JeffreyXiang/TRELLIS-500K/ObjaverseXL_sketchfab.csv"}
        with network_settings(server.mirrors, 10):
            first, _ = list_objaverse_xl(entry, tmp_path / "cache")
            second, _ = list_objaverse_xl(entry, tmp_path / "cache")
        assert len(first) == len(second) == 9
        assert sum("TRELLIS-500K" in path for path in server.requests) == 1
    finally:
        server.stop()


def test_hf_url():
    assert hf_url("hf://datasets/a/b/c/d.csv") == "https://huggingface.co/datasets/a/b/resolve/main/c/d.csv"
    with pytest.raises(ValueError):
        hf_url("hf://models/a")


def test_uid_list(tmp_path):
    path = tmp_path / "uids.txt"
    path.write_text("# chairs\n" + "a" * 32 + "\n" + "b" * 32 + ".glb  # with suffix\n\n" + "a" * 32 + "\n")
    objects = list_objaverse_uids({"uids": str(path)})
    assert list(objects["object_id"]) == ["a" * 32, "b" * 32]
    assert list_objaverse_uids({"uids": str(path), "limit": 1})["object_id"].tolist() == ["a" * 32]


def test_manifest_merges_sources_and_assigns_shards(trellis_csv, tmp_path):
    uids = tmp_path / "uids.txt"
    uids.write_text("c" * 32 + "\n")
    sources = {"objaverse_xl": [{"metadata": str(trellis_csv), "min_aesthetic_score": 8}],
               "objaverse": [{"uids": str(uids)}]}
    sources = validated_config({"sources": sources})["sources"]
    manifest, filtered = build_manifest(sources, 4, tmp_path)
    assert set(manifest["source"]) == {"objaverse_xl", "objaverse"}
    assert manifest["shard"].isin([f"{i:05d}" for i in range(4)]).all()
    assert manifest["object_id"].is_unique
    assert not set(filtered["object_id"]) & set(manifest["object_id"])
