"""End-to-end: a TRELLIS-style CSV and an Objaverse 1.0 uid list, downloaded by the real
objaverse code from the local server, built by Snakemake into shards."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from shapeprep.samples.shards import shard_object_ids

from .conftest import REPO, shared_mesh
from .objaverse_server import ObjaverseServer, sha256_of
from .test_workflow import CONFIG

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def objaverse_build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("objaverse_build")
    server = ObjaverseServer(folder / "server")
    tree = shared_mesh("low-poly-tree.glb")
    uid_tree, uid_gone, uid_plane = "1" * 32, "2" * 32, "3" * 32
    server.sketchfab_objects({uid_tree: tree, uid_gone: None, uid_plane: shared_mesh("TwoSidedPlane.glb")})
    files = {"fandisk.obj": shared_mesh("fandisk.obj").read_bytes(),
             "animals/spot.obj": shared_mesh("spot.obj").read_bytes()}
    commit = server.git_repository("makers", "shapes", files)
    bomb = server.git_repository("makers", "bomb", {"woody.obj": shared_mesh("woody.obj").read_bytes(),
                                                    "data.bin": bytes(3 << 20)})
    rows = [
        ("tree", sha256_of(tree.read_bytes()), f"https://sketchfab.com/3d-models/{uid_tree}", 6.0),
        ("gone", "a" * 64, f"https://sketchfab.com/3d-models/{uid_gone}", 6.0),
        ("plane", sha256_of(shared_mesh("TwoSidedPlane.glb").read_bytes()),
         f"https://sketchfab.com/3d-models/{uid_plane}", 6.0),
        ("fandisk", sha256_of(files["fandisk.obj"]),
         f"https://github.com/makers/shapes/blob/{commit}/fandisk.obj", 5.5),
        ("spot", sha256_of(files["animals/spot.obj"]),
         f"https://github.com/makers/shapes/blob/{commit}/animals/spot.obj", 5.0),
        ("spot_modified", "b" * 64, f"https://github.com/makers/shapes/blob/{commit}/animals/spot.obj", 5.0),
        ("bomb", sha256_of(shared_mesh("woody.obj").read_bytes()),
         f"https://github.com/makers/bomb/blob/{bomb}/woody.obj", 5.0),
        ("ugly", "c" * 64, f"https://sketchfab.com/3d-models/{'4' * 32}", 2.0),
    ]
    names = {object_id: name for name, object_id, _, _ in rows}
    csv = pd.DataFrame([row[1:] for row in rows], columns=["sha256", "file_identifier", "aesthetic_score"])
    csv["captions"] = '["a caption"]'
    csv.to_csv(folder / "ObjaverseXL.csv", index=False)
    (folder / "uids.txt").write_text(f"{uid_tree}\n{'9' * 32}\n")
    names.update({uid_tree: "v1_tree", "9" * 32: "v1_unknown"})
    config = {
        **CONFIG,
        "sources": {"objaverse_xl": [{"metadata": "ObjaverseXL.csv", "min_aesthetic_score": 4.5}],
                    "objaverse": [{"uids": "uids.txt"}]},
        "shards": {"num_shards": 3},
        "download": {"cache_dir": str(folder / "cache"), "mirrors": server.mirrors, "processes": 2,
                     "backoff_seconds": 0.01, "timeout_seconds": 20, "max_zip_bytes": 1 << 20},
        "curate": {"min_extent_ratio": 0.01},
    }
    (folder / "config").mkdir()
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    home = folder / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2"]
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    dry = subprocess.run([*command, "--dry-run"], cwd=folder, capture_output=True, text=True, timeout=300, env=env)
    yield folder, names, home, dry, run
    server.stop()


def index_by_name(folder, names):
    index = pd.read_parquet(folder / "results" / "index.parquet")
    index["label"] = index["object_id"].map(names)
    return index.set_index("label")


def test_every_object_ends_with_its_status_and_reason(objaverse_build):
    folder, names, *_ = objaverse_build
    index = index_by_name(folder, names)
    got = {label: (row.status, row.failed_stage, row.reason) for label, row in index.iterrows()}
    assert got == {
        "tree": ("ok", "", ""),
        "fandisk": ("ok", "", ""),
        "spot": ("ok", "", ""),
        "v1_tree": ("ok", "", ""),
        "gone": ("failed", "download", "http_404"),
        "spot_modified": ("failed", "download", "hash_mismatch"),
        "bomb": ("failed", "download", "zip_too_large"),
        "v1_unknown": ("failed", "download", "not_in_objaverse"),
        "plane": ("filtered", "normalize", "flat_geometry"),
        "ugly": ("filtered", "manifest", "aesthetic_score_below"),
    }


def test_shards_hold_the_downloaded_objects(objaverse_build):
    folder, names, *_ = objaverse_build
    index = index_by_name(folder, names)
    in_shards = {object_id for path in (folder / "results" / "shards").glob("*.h5") for object_id in
                 shard_object_ids(path)}
    assert in_shards == set(index.loc[index["status"] == "ok", "object_id"])


def test_metadata_columns_reach_the_manifest(objaverse_build):
    folder, *_ = objaverse_build
    manifest = pd.read_parquet(folder / "results" / "manifest" / "manifest.parquet")
    xl = manifest[manifest["source"] == "objaverse_xl"]
    assert (xl["aesthetic_score"] >= 4.5).all() and (xl["captions"] == '["a caption"]').all()


def test_downloads_use_the_configured_cache_only(objaverse_build):
    folder, _, home, *_ = objaverse_build
    assert (folder / "cache" / "objaverse" / "github" / "repos" / "makers" / "shapes.zip").exists()
    assert not (home / ".objaverse").exists()


def test_download_log_has_objaverse_lines_and_no_progress_bars(objaverse_build):
    folder, *_, run = objaverse_build
    logs = "".join(path.read_text() for path in (folder / "results" / "logs" / "download").glob("*.log"))
    assert "objaverse INFO" in logs and "download progress" in logs
    assert "it/s]" not in run.stderr + run.stdout, "objaverse's tqdm bars would flood the Snakemake output"


def test_complete_build_has_nothing_to_do(objaverse_build):
    dry = objaverse_build[3]
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "Nothing to be done" in dry.stdout + dry.stderr
