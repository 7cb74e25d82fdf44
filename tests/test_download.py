"""Downloads through the real objaverse code against a local server (no network).

The server (tests/objaverse_server.py) serves Objaverse-style files over HTTP
and real git repositories over git's smart HTTP; shapeprep.mirrors points
objaverse's hard-coded huggingface.co and github.com URLs at it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import pandas as pd
import pytest

from shapeprep.sources.download import (
    Journal,
    Outcome,
    download_shard,
    download_with_retries,
    github_zip_path,
)
from shapeprep.sources.mirrors import network_settings, rewrite_url

from .conftest import shared_mesh
from .objaverse_server import ObjaverseServer, sha256_of

PARAMS = {
    "processes": 2, "batch_size": 64, "max_attempts": 3, "backoff_seconds": 0.01,
    "max_zip_members": 1000, "max_zip_bytes": 1 << 20,
}


def mesh_bytes(name):
    return shared_mesh(name).read_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Sketchfab-style glbs and GitHub repositories, with one of each failure."""
    server = ObjaverseServer(tmp_path_factory.mktemp("server"))
    glbs = {name: shared_mesh(name) for name in ("low-poly-tree.glb", "love.glb", "TwoSidedPlane.glb")}
    uid = {"tree": "0" * 31 + "1", "love": "0" * 31 + "2", "gone": "0" * 31 + "3", "plane": "0" * 31 + "4"}
    served = server.sketchfab_objects({uid["tree"]: glbs["low-poly-tree.glb"], uid["love"]: glbs["love.glb"],
                                       uid["gone"]: None, uid["plane"]: glbs["TwoSidedPlane.glb"]})
    meshes = {"fandisk.obj": mesh_bytes("fandisk.obj"), "parts/spot.obj": mesh_bytes("spot.obj"),
              "suzanne.obj": mesh_bytes("suzanne.obj")}
    unlisted = {"extra/unlisted.obj": b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"}
    commit = server.git_repository("shapes", "meshes", {**meshes, **unlisted})
    bomb_commit = server.git_repository("shapes", "bomb", {"woody.obj": mesh_bytes("woody.obj"),
                                                           "padding.bin": bytes(3 << 20)})

    def github(repo, path, commit=commit):
        return f"https://github.com/{repo}/blob/{commit}/{path}"

    def sketchfab(key):
        return f"https://sketchfab.com/3d-models/{uid[key]}"

    rows = [
        ("tree", sketchfab("tree"), sha256_of(glbs["low-poly-tree.glb"].read_bytes())),
        ("love_server_error", sketchfab("love"), sha256_of(glbs["love.glb"].read_bytes())),
        ("sketchfab_404", sketchfab("gone"), "1" * 64),
        ("sketchfab_unknown", "https://sketchfab.com/3d-models/" + "f" * 32, "2" * 64),
        ("sketchfab_modified", sketchfab("plane"), "3" * 64),
        ("fandisk", github("shapes/meshes", "fandisk.obj"), sha256_of(meshes["fandisk.obj"])),
        ("spot", github("shapes/meshes", "parts/spot.obj"), sha256_of(meshes["parts/spot.obj"])),
        ("suzanne_modified", github("shapes/meshes", "suzanne.obj"), "4" * 64),
        ("not_in_repository", github("shapes/meshes", "nothere.obj"), "5" * 64),
        ("zip_bomb", github("shapes/bomb", "woody.obj", bomb_commit), sha256_of(mesh_bytes("woody.obj"))),
        ("deleted_repository", github("gone/deleted", "a.obj", "a" * 40), "6" * 64),
        ("zip_slip", github("evil/slip", "model.obj", "b" * 40), sha256_of(b"v 0 0 0\n")),
    ]
    objects = pd.DataFrame(rows, columns=["name", "location", "object_id"])
    objects["source"] = "objaverse_xl"
    server.fail_once.add(served[uid["love"]])
    yield server, objects.set_index("name"), served
    server.stop()


def plant_zip_slip(cache, identifier):
    """A cached repository zip with a member that climbs out of the destination."""
    archive = github_zip_path(cache, identifier)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("model.obj", "v 0 0 0\n")
        handle.writestr("../../escape.obj", "v 0 0 0\n")


def run_download(world, tmp_path, params=PARAMS):
    server, objects, _ = world
    cache = tmp_path / "cache"
    plant_zip_slip(cache, objects.loc["zip_slip", "location"])
    with network_settings(server.mirrors, timeout_seconds=20):
        table = download_shard(objects.reset_index(), cache, tmp_path / "journal.jsonl", params)
    return table.set_index(objects.index), cache


@pytest.fixture(scope="module")
def downloaded(world, tmp_path_factory):
    return run_download(world, tmp_path_factory.mktemp("download"))


EXPECTED = {
    "tree": ("downloaded", ""),
    "love_server_error": ("downloaded", ""),
    "sketchfab_404": ("missing", "http_404"),
    "sketchfab_unknown": ("missing", "not_in_objaverse"),
    "sketchfab_modified": ("modified", "hash_mismatch"),
    "fandisk": ("downloaded", ""),
    "spot": ("downloaded", ""),
    "suzanne_modified": ("modified", "hash_mismatch"),
    "not_in_repository": ("missing", "not_in_repository"),
    "zip_bomb": ("failed", "zip_too_large"),
    "deleted_repository": ("missing", "clone_failed"),
    "zip_slip": ("failed", "zip_slip"),
}


def test_every_object_ends_in_its_state_with_reason(downloaded):
    table, _ = downloaded
    got = {name: (row.state, row.reason) for name, row in table.iterrows()}
    assert got == EXPECTED
    assert set(table.loc[table["state"] == "downloaded", "status"]) == {"ok"}
    assert set(table.loc[table["state"] != "downloaded", "status"]) == {"failed"}


def test_downloaded_files_have_the_expected_hash(world, downloaded):
    from shapeprep.sources.identifiers import file_sha256

    _, objects, _ = world
    table, cache = downloaded
    for name, row in table[table["state"] == "downloaded"].iterrows():
        assert file_sha256(row.path) == objects.loc[name, "object_id"]
        assert row.path.startswith(str(cache)), "downloads go to the configured cache"
        assert row.bytes == os.path.getsize(row.path)


def test_server_error_is_retried_and_counted(downloaded):
    table, _ = downloaded
    assert table.loc["love_server_error", "attempts"] >= 2
    assert table.loc["tree", "attempts"] >= 1


def test_deleted_repository_is_retried_up_to_the_limit(downloaded):
    table, _ = downloaded
    # Tries count once the object was alone (or in a call that did not raise);
    # the calls before that, over batches split in halves, add at most log2(12).
    assert PARAMS["max_attempts"] <= table.loc["deleted_repository", "attempts"] <= PARAMS["max_attempts"] + 4


def test_zip_slip_writes_nothing_outside(downloaded, tmp_path):
    _, cache = downloaded
    assert not list(cache.parent.rglob("escape.obj"))


def test_github_objects_come_from_the_saved_repository_zip(world, downloaded):
    _, objects, _ = world
    _, cache = downloaded
    archive = github_zip_path(cache, objects.loc["fandisk", "location"])
    with zipfile.ZipFile(archive) as handle:
        assert {"fandisk.obj", "parts/spot.obj", "suzanne.obj"} <= set(handle.namelist())


def test_rerun_fetches_nothing_settled(world, downloaded, tmp_path):
    """Same journal and cache: only the retryable failures are asked for again."""
    server, objects, _ = world
    table, cache = downloaded
    journal = cache.parent / "journal.jsonl"
    before = len(server.requests)
    with network_settings(server.mirrors, timeout_seconds=20):
        again = download_shard(objects.reset_index(), cache, journal, PARAMS).set_index(objects.index)
    new_requests = server.requests[before:]
    assert not [path for path in new_requests if path.endswith(".glb")]
    assert not [path for path in new_requests if "shapes/" in path]
    assert again["state"].to_dict() == table["state"].to_dict()


def test_killed_download_resumes_without_refetching(world, tmp_path):
    server, objects, served = world
    sketchfab = objects.loc[["tree", "sketchfab_modified", "love_server_error"]].reset_index()
    stalled = served["0" * 31 + "2"]
    server.stall[stalled] = 60.0
    lists = tmp_path / "objects.json"
    lists.write_text(sketchfab.to_json(orient="records"))
    script = f"""
import json, pandas as pd
from shapeprep.sources.download import download_shard
from shapeprep.sources.mirrors import network_settings
objects = pd.DataFrame(json.load(open({str(lists)!r})))
params = dict({PARAMS!r}, processes=1, batch_size=1)
with network_settings({server.mirrors!r}, 120):
    download_shard(objects, {str(tmp_path / 'cache')!r}, {str(tmp_path / 'journal.jsonl')!r}, params)
"""
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    journal = Journal(tmp_path / "journal.jsonl")
    deadline = time.time() + 60
    while len(journal.outcomes()) < 2 and time.time() < deadline:
        time.sleep(0.1)
    while stalled not in server.requests and time.time() < deadline:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    settled_before_kill = set(journal.outcomes())
    assert len(settled_before_kill) == 2
    server.stall.clear()
    before = len(server.requests)
    with network_settings(server.mirrors, timeout_seconds=20):
        table = download_shard(sketchfab, tmp_path / "cache", tmp_path / "journal.jsonl", PARAMS)
    refetched = [path for path in server.requests[before:] if path.endswith(".glb")]
    assert refetched == [stalled]
    assert table["state"].tolist() == ["downloaded", "modified", "downloaded"]


def test_retries_isolate_the_failing_object_and_back_off():
    calls, sleeps = [], []

    def call(batch):
        calls.append((list(batch), sleeps[-1] if sleeps else 0.0))
        if "bad" in batch:
            return {}, RuntimeError("boom")
        return {object_id: Outcome("downloaded", path=object_id) for object_id in batch}, None

    results = download_with_retries(["a", "b", "bad", "c"], call, max_attempts=3, backoff_seconds=1.0,
                                    sleep=sleeps.append)
    assert {k: v[0].state for k, v in results.items()} == {"a": "downloaded", "b": "downloaded", "c": "downloaded",
                                                           "bad": "failed"}
    assert results["bad"][0].reason == "download_error"
    waits_before_bad_alone = [wait for batch, wait in calls if batch == ["bad"]]
    assert len(waits_before_bad_alone) == 3
    assert waits_before_bad_alone == sorted(set(waits_before_bad_alone)), "waits double while it keeps failing"


def test_mirror_rewrites_only_matching_prefixes():
    mirrors = {"https://huggingface.co": "http://m/hf"}
    assert rewrite_url("https://huggingface.co/datasets/x", mirrors) == "http://m/hf/datasets/x"
    assert rewrite_url("https://github.com/a/b", mirrors) == "https://github.com/a/b"


def test_network_settings_are_restored():
    before = {key: os.environ.get(key) for key in ("GIT_CONFIG_COUNT", "GIT_TERMINAL_PROMPT")}
    with network_settings({"https://github.com": "http://x/git"}, 5):
        assert os.environ["GIT_CONFIG_KEY_0"] == "url.http://x/git/.insteadOf"
        assert os.environ["GIT_CONFIG_VALUE_0"] == "https://github.com/"
    assert {key: os.environ.get(key) for key in before} == before


def test_journal_skips_a_torn_last_line(tmp_path):
    journal = Journal(tmp_path / "j.jsonl")
    journal.append({"kind": "outcome", "object_id": "a", "state": "downloaded"})
    with open(journal.path, "a") as handle:
        handle.write('{"kind": "outcome", "obj')
    assert list(journal.outcomes()) == ["a"]
    assert json.loads(journal.path.read_text().splitlines()[0])["object_id"] == "a"


def test_objaverse_v1_uids_through_load_objects(world, tmp_path):
    """Objaverse 1.0: a published uid, an unknown uid, and a listed uid whose file is gone."""
    server, _, _ = world
    uids = ["0" * 31 + "1", "e" * 32, "0" * 31 + "3"]
    objects = pd.DataFrame({"object_id": uids, "source": "objaverse", "location": uids})
    with network_settings(server.mirrors, timeout_seconds=20):
        table = download_shard(objects, tmp_path / "cache", tmp_path / "journal.jsonl", PARAMS).set_index("object_id")
    assert table["state"].tolist() == ["downloaded", "missing", "missing"]
    assert table["reason"].tolist() == ["", "not_in_objaverse", "http_404"]
    assert str(tmp_path / "cache") in table.loc[uids[0], "path"]
    assert (tmp_path / "cache" / "objaverse" / "hf-objaverse-v1" / "object-paths.json.gz").exists()


def test_torn_object_paths_file_is_fetched_again(world, tmp_path):
    from shapeprep.sources.download import fetch_object_paths

    server, _, _ = world
    target = tmp_path / "object-paths.json.gz"
    target.write_bytes(b"\x1f\x8b\x08\x00torn")
    with network_settings(server.mirrors, timeout_seconds=20):
        fetch_object_paths(str(tmp_path))
    import gzip

    assert "0" * 31 + "1" in json.loads(gzip.decompress(target.read_bytes()))


def test_copies_torn_by_a_killed_job_are_fetched_again(world, tmp_path):
    """objaverse copies into its cache in place: a kill can leave a truncated glb or zip at the final name."""
    server, objects, _ = world
    cache = tmp_path / "cache"
    chosen = objects.loc[["tree", "fandisk"]].reset_index()
    torn_glb = cache / "objaverse" / "hf-objaverse-v1" / "glbs" / "000-001" / f"{'0' * 31}1.glb"
    torn_glb.parent.mkdir(parents=True)
    torn_glb.write_bytes(shared_mesh("low-poly-tree.glb").read_bytes()[:1000])
    torn_zip = github_zip_path(cache, objects.loc["fandisk", "location"])
    torn_zip.parent.mkdir(parents=True)
    torn_zip.write_bytes(b"PK\x03\x04 torn")
    with network_settings(server.mirrors, timeout_seconds=20):
        table = download_shard(chosen, cache, tmp_path / "journal.jsonl", PARAMS)
    assert table["state"].tolist() == ["downloaded", "downloaded"]
    assert (table["attempts"] >= 2).all()


def test_files_the_metadata_does_not_list_are_journaled_as_new(downloaded):
    from shapeprep.sources.download import stored_path

    _, cache = downloaded
    events = [r for r in Journal(cache.parent / "journal.jsonl").records() if r.get("event") == "new"]
    # A call that asks for only some of a repository's objects reports the others as new too.
    unlisted = [r for r in events if r["file_identifier"].endswith("/extra/unlisted.obj")]
    assert unlisted
    new_id = unlisted[0]["object_id"]
    assert len(new_id) == 64 and not stored_path(cache, new_id, ".obj").exists()
