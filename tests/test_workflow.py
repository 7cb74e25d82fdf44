"""End-to-end: run the Snakemake build on shared meshes in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from shapeprep.samples.shards import SAMPLE_KEYS, read_shard_object, shard_object_ids

from .conftest import REPO, shared_mesh

pytestmark = pytest.mark.slow

MESHES = ["fandisk.obj", "suzanne.obj", "TwoSidedPlane.glb", "rabbit.obj", "Bookcase_Books.fbx"]

CONFIG = {
    "results": "results",
    "sources": {"local": [{"path": "meshes", "glob": "*"}]},
    "shards": {"num_shards": 8},  # more shards than objects: empty shards must work
    "watertight": {"resolution": 48},
    "validate": {"deviation_samples": 2000},
    "sample": {
        "surface_points": 1024, "salient_points": 512, "volume_points": 1024,
        "near_surface_sigmas": [0.005, 0.05], "near_surface_points_per_sigma": 256,
        "near_salient_sigmas": [0.005], "near_salient_points_per_sigma": 300,
    },
}


def make_project(folder, config=CONFIG):
    (folder / "meshes").mkdir(parents=True)
    for name in MESHES:
        shutil.copy(shared_mesh(name), folder / "meshes" / name)
    (folder / "meshes" / "broken.obj").write_text("v 0 0 0\nv 1 0 0\nf 1 2 9\n")  # index out of range
    write_config(folder, config)


def write_config(folder, config):
    (folder / "config").mkdir(exist_ok=True)
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def snakemake(folder, *args):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2", *args]
    return subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900)


def jobs_in(text):
    """``(rule, shard or None)`` of every job block in Snakemake's output."""
    jobs = set()
    for block in re.split(r"\n(?=\s*(?:local)?(?:rule|checkpoint) \w+:)", text):
        match = re.match(r"\s*(?:local)?(?:rule|checkpoint) (\w+):", block)
        if match and match.group(1) != "all":
            shard = re.search(r"wildcards: shard=(\d{5})", block)
            jobs.add((match.group(1), shard.group(1) if shard else None))
    return jobs


def planned_jobs(folder, *args, env=None):
    """``(rule, shard)`` of every job a dry run plans (``args`` may name another ``--snakefile``)."""
    snakefile = [] if "--snakefile" in args else ["--snakefile", str(REPO / "Snakefile")]
    command = [sys.executable, "-m", "snakemake", *snakefile, "--cores", "2", "--dry-run", *args]
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stderr
    return jobs_in(run.stdout + run.stderr)


def planned_rules(folder, *args, env=None):
    """Rules a dry run would execute."""
    return {rule for rule, _ in planned_jobs(folder, *args, env=env)}


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    folder = tmp_path_factory.mktemp("build")
    make_project(folder)
    run = snakemake(folder)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return folder


def test_every_object_ends_ok_or_failed_with_reason(build):
    table = pd.read_parquet(build / "results" / "report" / "objects.parquet")
    assert len(table) == len(MESHES) + 1
    by_name = table.set_index("name")
    assert set(by_name["status"]) <= {"ok", "failed"}
    assert by_name.loc["Bookcase_Books.fbx", ["failed_stage", "reason"]].tolist() == ["normalize", "unsupported_format"]
    assert by_name.loc["broken.obj", ["failed_stage", "reason"]].tolist() == ["normalize", "unreadable"]
    for name in ["fandisk.obj", "suzanne.obj", "TwoSidedPlane.glb", "rabbit.obj"]:
        assert by_name.loc[name, "status"] == "ok", by_name.loc[name, "message"]
    assert (table.loc[table["status"] == "failed", "reason"] != "").all()


def test_shards_hold_exactly_the_passed_objects(build):
    table = pd.read_parquet(build / "results" / "report" / "objects.parquet")
    index = pd.read_parquet(build / "results" / "index.parquet")
    # The index covers every object; the ok ones point into a shard, the rest carry their reason.
    assert set(index["object_id"]) == set(table["object_id"])
    failed = index[index["status"] == "failed"]
    assert (failed["shard_file"] == "").all() and (failed["position"] == -1).all() and (failed["reason"] != "").all()
    in_shards = index[index["status"] == "ok"]
    assert set(in_shards["object_id"]) == set(table.loc[table["status"] == "ok", "object_id"])
    for row in in_shards.itertuples():
        shard_file = build / "results" / row.shard_file
        assert shard_object_ids(shard_file)[row.position] == row.object_id
        arrays, meta = read_shard_object(shard_file, row.object_id)
        assert arrays["surface"].shape == (1024, 6) and arrays["salient"].shape == (512, 6)
        assert arrays["volume"].shape == (1024, 4) and arrays["near_surface"].shape == (512, 4)
        assert arrays["near_salient"].shape == (300, 4)
        assert meta["validation"]["boundary_edges"] == 0
        assert meta["scale"] > 0 and meta["salient_fallback"] == row.salient_fallback
        with h5py.File(shard_file) as handle:
            assert handle.attrs["sdf_sign_convention"].startswith("negative inside")
            assert handle.attrs["schema_version"] == 3 and handle.attrs["layout"] == "concatenated"
            assert handle.attrs["volume_bound"] == 1.05
            assert "watertight" in json.loads(handle.attrs["params"])
            assert "h5py" in json.loads(handle.attrs["package_versions"])


def test_flat_plane_without_sharp_edges_is_kept_and_flagged(build):
    index = pd.read_parquet(build / "results" / "index.parquet").set_index("name")
    assert index.loc["TwoSidedPlane.glb", "status"] == "ok"
    assert bool(index.loc["TwoSidedPlane.glb", "salient_fallback"])
    assert not bool(index.loc["fandisk.obj", "salient_fallback"])


def test_dataset_reads_the_build_through_the_index(build):
    from shapeprep.samples.data import ShardDataset

    dataset = ShardDataset(build / "results" / "index.parquet", surface_points=256, salient_points=128,
                           volume_points=200, near_surface_points=100, near_salient_points=100, seed=3)
    index = pd.read_parquet(build / "results" / "index.parquet")
    assert len(dataset) == int((index["status"] == "ok").sum())
    assert len(ShardDataset(build / "results" / "index.parquet", require_salient=True)) == len(dataset) - 1
    item = dataset[0]
    assert tuple(item["query_points"].shape) == (400, 3) and tuple(item["surface"].shape) == (256, 6)


def test_fandisk_surface_maps_back_to_the_source_frame(build):
    from shapeprep.geometry.loaders import load_mesh

    index = pd.read_parquet(build / "results" / "index.parquet")
    table = pd.read_parquet(build / "results" / "report" / "objects.parquet").set_index("name")
    object_id = table.loc["fandisk.obj", "object_id"]
    shard_file = build / "results" / index.set_index("object_id").loc[object_id, "shard_file"]
    arrays, meta = read_shard_object(shard_file, object_id)
    center = np.array([meta["center_x"], meta["center_y"], meta["center_z"]])
    original = arrays["surface"][:, :3] / meta["scale"] + center
    vertices, _ = load_mesh(shared_mesh("fandisk.obj"))
    voxel_in_source = 2.0 / 47 / meta["scale"]
    lower, upper = vertices.min(axis=0), vertices.max(axis=0)
    assert (original >= lower - 2 * voxel_in_source).all() and (original <= upper + 2 * voxel_in_source).all()


def html_rows(page, heading):
    """``first cell -> other cells`` of the table after an ``<h2>`` heading of the report."""
    section = page.split(f"<h2>{heading}</h2>")[1].split("</table>")[0]
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S):
        cells = [cell.strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)]
        if cells and cells[0]:
            rows[cells[0]] = cells[1:]
    return rows


def test_report_lists_counts_and_every_failure_reason(build):
    page = (build / "results" / "report" / "report.html").read_text()
    table = pd.read_parquet(build / "results" / "report" / "objects.parquet")
    index = pd.read_parquet(build / "results" / "index.parquet")
    listed = pd.read_csv(build / "results" / "report" / "objects.csv")
    assert len(table) == len(index) == len(listed)
    assert listed["status"].tolist() == table["status"].tolist()
    for reason in table.loc[table["status"] != "ok", "reason"].unique():
        assert f"<td>{reason}</td>" in page
    cards = dict(re.findall(r"<div class='card'><b>([^<]+)</b>([^<]+)</div>", page))
    cards = {label: value for value, label in cards.items()}
    for status in ("ok", "failed", "filtered"):
        assert cards[status] == f"{int((table['status'] == status).sum()):,}"
    assert cards["objects"] == f"{len(table):,}" and cards["shards"] == str(CONFIG["shards"]["num_shards"])
    stages = html_rows(page, "Objects per stage")  # attempted, ok, failed, filtered
    for stage in ("download", "normalize", "sample"):
        column = table[f"{stage}_status"]
        expected = [int(column.notna().sum())] + [int((column == s).sum()) for s in ("ok", "failed", "filtered")]
        assert stages[stage] == [str(value) for value in expected]
    points = html_rows(page, "Points written per set")["rows"]  # near_salient, near_surface, salient, surface, volume
    assert int(points[3]) == CONFIG["sample"]["surface_points"] * int((table["status"] == "ok").sum())
    timing = page.split("<h2>Build time per stage</h2>")[1].split("<h2>")[0]
    assert all(f"<th>{stage}</th>" in timing for stage in ("normalize", "watertight", "sample", "shard"))
    assert "git_commit" in page and "package_versions" in page


def test_report_gallery_shows_source_watertight_and_points(build):
    page = (build / "results" / "report" / "report.html").read_text()
    gallery = page.split("<h2>Gallery</h2>")[1].split("<h2>")[0]
    items = gallery.count("<div class='item'>")
    ok = int((pd.read_parquet(build / "results" / "index.parquet")["status"] == "ok").sum())
    assert items == ok  # fewer ok objects than the default sample size: every one is pictured
    assert gallery.count("alt='source'") == gallery.count("alt='watertight'") == items
    assert gallery.count("alt='points (salient in red)'") == items
    figures = sorted(path.name for path in (build / "results" / "report" / "figures").glob("*.png"))
    assert {name.split("--")[0] for name in figures} >= {"normalize", "watertight", "validate", "sample", "gallery"}
    assert sum(name.startswith("gallery--") for name in figures) == 3 * items


@pytest.mark.skipif(shutil.which("chromium") is None and os.environ.get("SHAPEPREP_BROWSER_TEST") != "1",
                    reason="needs chromium (CI installs it)")
def test_report_loads_in_a_headless_browser(build, tmp_path):
    """Chromium opens the page with no script errors, and every image decodes to a non-zero size."""
    page = build / "results" / "report" / "report.html"
    chromium = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-extensions", "--no-first-run", "--disable-dev-shm-usage", "--enable-logging=stderr",
                "--v=0", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000"]
    dom = subprocess.run([*chromium, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout).group(1)
    attributes = dict(re.findall(r'data-(\w+)="([^"]*)"', body))
    assert attributes.get("loaded") == "true", body
    assert "errors" not in attributes, f"script errors: {attributes}"
    assert int(attributes["images"]) >= 3 and attributes["broken"] == "0"
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and ("rror" in line or "Uncaught" in line)]
    assert not console, console
    screenshot = tmp_path / "report.png"  # kept in the test's temp dir as the CI artifact
    shot = subprocess.run([*chromium, f"--screenshot={screenshot}", "--window-size=1280,3000", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]


def test_empty_shards_are_written_and_readable(build):
    manifest = pd.read_parquet(build / "results" / "manifest" / "manifest.parquet")
    empty = sorted(set(f"{i:05d}" for i in range(8)) - set(manifest["shard"]))
    assert empty, "the fixture must produce at least one empty shard"
    for shard in empty:
        assert shard_object_ids(build / "results" / "shards" / f"{shard}.h5") == []


def test_nothing_to_do_after_a_complete_run(build):
    assert planned_rules(build) == set()


def test_sampling_change_reruns_only_sampling_and_after(build, tmp_path):
    config = json.loads(json.dumps(CONFIG))
    config["sample"]["surface_points"] = 2048
    write_config(build, config)
    try:
        assert planned_rules(build) == {"sample", "shard", "index", "report"}
    finally:
        write_config(build, CONFIG)


def test_rerun_in_another_folder_gives_identical_arrays(build, tmp_path):
    make_project(tmp_path)
    run = snakemake(tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    first = pd.read_parquet(build / "results" / "index.parquet")
    second = pd.read_parquet(tmp_path / "results" / "index.parquet")
    assert first["object_id"].tolist() == second["object_id"].tolist()
    for row in first[first["status"] == "ok"].itertuples():
        a, _ = read_shard_object(build / "results" / row.shard_file, row.object_id)
        b, _ = read_shard_object(tmp_path / "results" / row.shard_file, row.object_id)
        for key in SAMPLE_KEYS:
            assert np.array_equal(a[key], b[key]), (row.object_id, key)


# ----------------------------------------------------------------------------- partial rebuilds

AFTER_SAMPLE = {"shard", "index", "report"}


def changed_config(**sections):
    config = json.loads(json.dumps(CONFIG))
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    return config


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"watertight": {"resolution": 40}}, {"watertight", "validate", "sample"} | AFTER_SAMPLE),
        ({"validate": {"max_chamfer_voxels": 2.5}}, {"validate", "sample"} | AFTER_SAMPLE),
        ({"normalize": {"bound": 0.9}}, {"normalize", "watertight", "validate", "sample"} | AFTER_SAMPLE),
        ({"shard": {"dtype": "float16"}}, AFTER_SAMPLE),
        ({"download": {"processes": 3, "batch_size": 7}}, set()),  # speed settings rerun nothing
    ],
    ids=["watertight_resolution", "validate_threshold", "normalize_bound", "shard_dtype", "download_speed"],
)
def test_parameter_change_reruns_exactly_its_stage_and_after(build, change, expected):
    write_config(build, changed_config(**change))
    try:
        assert planned_rules(build) == expected
    finally:
        write_config(build, CONFIG)


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        # The validate stage's checks: validate and after, and watertight, whose hole-filling safety net
        # runs the same checks to decide whether to revert a fill.
        ("geometry/validate.py", {"watertight", "validate", "sample"} | AFTER_SAMPLE),
        # Components and volumes are used by curation (normalize) and the watertight finish
        # (small parts, decimation checks): a change reruns both, which the hand-kept list missed.
        ("geometry/topology.py", {"normalize", "watertight", "validate", "sample"} | AFTER_SAMPLE),
        ("report/page.py", {"report"}),
    ],
    ids=["validate_checks", "topology", "report_page"],
)
def test_code_change_reruns_the_stages_that_import_it(build, tmp_path, module, expected):
    """Snakemake tracks script files by mtime only: each stage's code hash (a param) does it.

    The workflow runs from a copy whose module has one more line; Snakemake
    puts the workflow folder first on sys.path, so the copy's package is the
    one that is hashed. Every stage x module pair is checked at the hash level
    in tests/test_layout.py; these dry runs check the wiring end to end.
    """
    workflow = tmp_path / "workflow"
    workflow.mkdir()
    for name in ("Snakefile", "rules", "scripts", "config", "envs", "shapeprep"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, workflow / name)
    for cache in (workflow / "shapeprep").rglob("__pycache__"):
        shutil.rmtree(cache)
    with open(workflow / "shapeprep" / module, "a") as handle:
        handle.write("\n# a change in this module\n")
    rules = planned_rules(build, "--snakefile", str(workflow / "Snakefile"))
    assert rules == expected


def test_normal_maps_rule_runs_through_the_adapter(build, tmp_path):
    """The optional rule, through Snakemake and scripts/job.py: four views of every validated object."""
    copy = tmp_path / "copy"
    shutil.copytree(build, copy, symlinks=True)
    write_config(copy, changed_config(report={"normal_maps": True, "normal_map_size": 32}))
    index = pd.read_parquet(copy / "results" / "index.parquet")
    shard = index.loc[index["status"] == "ok", "shard"].iloc[0]
    run = snakemake(copy, f"results/normal_maps/{shard}.h5")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert {rule for rule, _ in jobs_in(run.stdout + run.stderr)} == {"normal_maps"}
    validated = pd.read_parquet(copy / "results" / "validated" / f"{shard}.status.parquet")
    with h5py.File(copy / "results" / "normal_maps" / f"{shard}.h5") as handle:
        ids = [value.decode() for value in handle["object_id"][()]]
        assert handle["normal_maps"].shape == (len(ids), 4, 32, 32, 3)
    assert ids == validated.loc[validated["status"] == "ok", "object_id"].tolist()


def test_sparse_sdf_rule_builds_alone_and_reruns_alone(build, tmp_path):
    """The optional sparse SDF rule: only it (and the report, which shows the config) runs when enabled or
    when one of its keys changes; the point shards are untouched."""
    from shapeprep.data import SparseSDFDataset

    copy = tmp_path / "copy"
    shutil.copytree(build, copy, symlinks=True)
    write_config(copy, changed_config(sparse_sdf={"enabled": True, "resolution": 64}))
    assert planned_rules(copy) == {"sparse_sdf", "report"}
    run = snakemake(copy)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    index = pd.read_parquet(copy / "results" / "index.parquet")
    dataset = SparseSDFDataset(copy / "results" / "sparse_sdf", tensors=False)
    assert sorted(item[2] for item in dataset.items) == sorted(index.loc[index["status"] == "ok", "object_id"])
    item = dataset[0]
    assert len(item["coords"]) > 100 and (item["sdf"] < 0).any() and (item["sdf"] > 0).any()
    page = (copy / "results" / "report" / "report.html").read_text()
    assert "Sparse SDF active voxels" in page and "sparse SDF (marching cubes)" in page
    objects = pd.read_parquet(copy / "results" / "report" / "objects.parquet")
    assert (objects.loc[objects["status"] == "ok", "sparse_sdf_bytes"] > 0).all()
    write_config(copy, changed_config(sparse_sdf={"enabled": True, "resolution": 64, "truncation_voxels": 3.0}))
    assert planned_rules(copy) == {"sparse_sdf", "report"}


def test_render_rule_builds_alone_and_reruns_alone(build, tmp_path):
    """The optional render rule: only it (and the report) runs when enabled or when one of its keys changes;
    every validated object gets its views and its camera file, and the gallery shows them."""
    from shapeprep.views.store import read_views

    copy = tmp_path / "copy"
    shutil.copytree(build, copy, symlinks=True)
    settings = {"enabled": True, "views": 3, "random_views": 1, "resolution": 32}
    write_config(copy, changed_config(render=settings))
    assert planned_rules(copy) == {"render", "report"}
    run = snakemake(copy)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    index = pd.read_parquet(copy / "results" / "index.parquet")
    rendered = []
    for path in sorted((copy / "results" / "render").glob("*.h5")):
        with h5py.File(path) as handle:
            ids = [value.decode() for value in handle["objects/object_id"][()]]
            rendered += ids
            assert handle["rgba"].shape == (4 * len(ids), 32, 32, 4)
            for position in range(len(ids)):
                views = read_views(handle, position)
                assert len(views["transforms"]["frames"]) == 4 and views["transforms"]["w"] == 32
                assert np.allclose(np.array(views["transforms"]["frames"][2]["transform_matrix"]), views["c2w"][2])
                # The object is in the views (a flat sheet seen exactly edge-on covers no pixel).
                assert (views["rgba"][..., 3] > 0).any(axis=(1, 2)).sum() >= 3
    assert sorted(rendered) == sorted(index.loc[index["status"] == "ok", "object_id"])
    assert "alt='render views'" in (copy / "results" / "report" / "report.html").read_text()
    write_config(copy, changed_config(render={**settings, "fov_deg": 30.0}))
    assert planned_rules(copy) == {"render", "report"}


def test_deleted_shard_file_rebuilds_only_that_shard(build, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(build, copy, symlinks=True)
    index = pd.read_parquet(copy / "results" / "index.parquet")
    shard = index.loc[index["status"] == "ok", "shard"].iloc[0]
    (copy / "results" / "shards" / f"{shard}.h5").unlink()
    assert planned_jobs(copy) == {("shard", shard), ("index", None), ("report", None)}


def test_new_objects_rebuild_only_the_shards_they_land_in(build, tmp_path):
    from shapeprep.sources.identifiers import file_sha256
    from shapeprep.sources.manifest import shard_name, shard_of

    copy = tmp_path / "copy"
    shutil.copytree(build, copy, symlinks=True)
    new = ["spot.obj", "chair.off", "low-poly-tree.glb"]
    for name in new:
        shutil.copy(shared_mesh(name), copy / "meshes" / name)
    touched = {shard_name(shard_of(file_sha256(copy / "meshes" / name), CONFIG["shards"]["num_shards"]))
               for name in new}
    run = snakemake(copy, "--forcerun", "manifest")
    assert run.returncode == 0, run.stderr[-3000:]
    executed = jobs_in(run.stdout + run.stderr)
    per_shard = {"download", "normalize", "watertight", "validate", "sample", "shard"}
    expected = {("manifest", None), ("index", None), ("report", None)}
    expected |= {(rule, shard) for rule in per_shard for shard in touched}
    assert executed == expected
    assert len(touched) < CONFIG["shards"]["num_shards"]


def test_sources_change_reruns_the_manifest_by_itself(build, tmp_path):
    """Adding an Objaverse uid list is a params change of the manifest checkpoint."""
    uids = build / "uids.txt"
    uids.write_text("")
    write_config(build, {**CONFIG, "sources": {**CONFIG["sources"], "objaverse": [{"uids": "uids.txt"}]}})
    try:
        assert "manifest" in planned_rules(build)
    finally:
        write_config(build, CONFIG)
        uids.unlink()


def test_reordered_config_reruns_nothing(build):
    """params are compared by repr: key order (or writing out a default) must not count as a change."""
    reordered = {section: (dict(reversed(list(values.items()))) if isinstance(values, dict) else values)
                 for section, values in reversed(list(CONFIG.items()))}
    reordered["normalize"] = {"min_face_area": 1.0e-12, "bound": 0.95}  # defaults written out
    write_config(build, reordered)
    try:
        assert planned_rules(build) == set()
    finally:
        write_config(build, CONFIG)


def test_object_that_kills_its_worker_fails_alone_and_the_build_completes(tmp_path):
    """A segfault in the watertight worker of one object (injected): that object fails as crashed, the rest of
    its shard and the whole build go on, index and report included."""
    from shapeprep.sources.identifiers import file_sha256

    (tmp_path / "meshes").mkdir()
    for name in ("fandisk.obj", "suzanne.obj", "woody.obj"):
        shutil.copy(shared_mesh(name), tmp_path / "meshes" / name)
    write_config(tmp_path, changed_config(shards={"num_shards": 1}))
    victim = file_sha256(tmp_path / "meshes" / "suzanne.obj")
    fault = json.dumps({"object": victim, "kind": "segfault", "stage": "watertight"})
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "SHAPEPREP_INJECT_FAULT": fault})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    index = pd.read_parquet(tmp_path / "results" / "index.parquet").set_index("name")
    assert index.loc["suzanne.obj", ["status", "failed_stage", "reason"]].tolist() == ["failed", "watertight", "crashed"]
    assert (index.loc[["fandisk.obj", "woody.obj"], "status"] == "ok").all()
    page = (tmp_path / "results" / "report" / "report.html").read_text()
    assert "<td>crashed</td>" in page


# ----------------------------------------------------------------------------- resume


RESUME_MESHES = ["stanford-bunny.obj", "igea.ply", "2CylinderEngine.glb", "fandisk.obj", "suzanne.obj"]


def test_killed_shard_job_resumes_without_redoing_finished_objects(tmp_path):
    """SIGKILL the watertight job of a one-shard build after some objects; the rerun reuses them."""
    from shapeprep.build.meshstore import read_mesh
    from shapeprep.watertight import watertight_mesh

    (tmp_path / "meshes").mkdir()
    for name in RESUME_MESHES:
        shutil.copy(shared_mesh(name), tmp_path / "meshes" / name)
    # job_deaths 2: the object running at the kill is tried again (with 1 it is recorded as killed_with_job).
    config = changed_config(shards={"num_shards": 1}, watertight={"resolution": 160}, limits={"job_deaths": 2})
    write_config(tmp_path, config)
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "1",
               "results/watertight/00000.h5"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    side = tmp_path / "results" / "watertight" / ".resume" / "00000"
    deadline = time.time() + 300
    finished_before_kill = []
    while time.time() < deadline and process.poll() is None:
        finished_before_kill = list(side.glob("*/*.npz"))
        if len(finished_before_kill) >= 2:
            break
        time.sleep(0.05)
    # Snakemake runs scripts/job.py as a copy named .snakemake/scripts/tmp<random>.job.py; with one core and
    # resume files appearing, the running job is the watertight one.
    jobs = subprocess.run(["pgrep", "-f", r"\.job\.py"], capture_output=True, text=True).stdout.split()
    assert finished_before_kill and jobs, "the watertight job was not caught running"
    workers = [pid for job in jobs for pid in
               subprocess.run(["pgrep", "-P", job], capture_output=True, text=True).stdout.split()]
    for pid in workers + jobs:  # the job and its object worker, as a scheduler kills a job
        os.kill(int(pid), signal.SIGKILL)
    process.communicate(timeout=120)
    assert process.returncode != 0
    assert not (tmp_path / "results" / "watertight" / "00000.h5").exists(), "nothing of the killed job looks finished"
    finished_before_kill = {path.stem for path in side.glob("*/*.npz")}

    run = snakemake(tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = (tmp_path / "results" / "logs" / "watertight" / "00000.log").read_text()
    reused = int(re.search(r"watertight: (\d+) objects reused from a killed run", log).group(1))
    assert reused == len(finished_before_kill) >= 2
    assert not side.exists(), "the side folder goes once the shard is complete"
    index = pd.read_parquet(tmp_path / "results" / "index.parquet")
    assert (index["status"] == "ok").sum() == len(RESUME_MESHES)
    # A reused object is exactly what a fresh run computes.
    object_id = sorted(finished_before_kill)[0]
    normalized = tmp_path / "results" / "normalized" / "00000.h5"
    vertices, faces, _ = read_mesh(normalized, object_id)
    fresh = watertight_mesh(vertices, faces, backend="cpu", resolution=160, **{
        key: value for key, value in yaml.safe_load((REPO / "config" / "config.yaml").read_text())["watertight"].items()
        if key not in ("backend", "resolution")})
    stored_vertices, stored_faces, _ = read_mesh(tmp_path / "results" / "watertight" / "00000.h5", object_id)
    assert np.array_equal(stored_faces, fresh.faces)
    assert np.array_equal(stored_vertices, fresh.vertices.astype(np.float32).astype(np.float64))


def test_snakemake_report_carries_our_figures(build, tmp_path):
    """`snakemake --report report.zip` registers the build report, the object table and every figure."""
    import zipfile

    archive = tmp_path / "report.zip"
    run = snakemake(build, "--report", str(archive))
    assert run.returncode == 0, run.stderr[-3000:]
    names = zipfile.ZipFile(archive).namelist()
    ours = sorted(path.name for path in (build / "results" / "report" / "figures").glob("*.png"))
    assert all(any(name.endswith(figure) for name in names) for figure in ours)
    assert any(name.endswith("/report.html") and "/data/raw/" in name for name in names)
    assert any(name.endswith("objects.csv") for name in names)


def test_preset_build_exports_what_doras_loader_reads(tmp_path):
    """``--configfile config/presets/dora.yaml`` over a project config, then ``shapeprep export --layout dora``."""
    from . import peer_loaders

    (tmp_path / "meshes").mkdir()
    for name in ("fandisk.obj", "suzanne.obj"):
        shutil.copy(shared_mesh(name), tmp_path / "meshes" / name)
    write_config(tmp_path, {"results": "results", "sources": {"local": [{"path": "meshes", "glob": "*"}]},
                            "shards": {"num_shards": 1}, "watertight": {"resolution": 48}})
    run = snakemake(tmp_path, "--configfile", str(REPO / "config" / "presets" / "dora.yaml"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with h5py.File(tmp_path / "results" / "shards" / "00000.h5", "r") as handle:
        params = json.loads(handle.attrs["params"])
        assert params["watertight"]["resolution"] == 48 and params["sample"]["frame_bound"] == 1.0  # merged, preset on top
        surface, offsets = handle["surface"][()], handle["offsets/surface"][()]
        scale, center = handle["objects/scale"][()], handle["objects/center"][()]
        names = handle["objects/name"].asstr()[()]
    # The preset's frame: each object's longest axis spans [-1, 1] (plus the residual offset), and maps back
    # onto the source's bounding box through original = point / scale + center.
    from shapeprep.geometry.loaders import load_mesh

    for i, name in enumerate(names):
        points = surface[offsets[i]:offsets[i + 1], :3].astype(np.float64)
        assert 1.0 < np.abs(points).max() < 1.0 + 0.25 * (2 / 47) / 0.95 + 1e-4
        source, _ = load_mesh(tmp_path / "meshes" / name)
        original = points / scale[i] + center[i]
        voxel = (2 / 47) / scale[i]
        assert np.abs(original.min(0) - source.min(0)).max() < voxel and np.abs(original.max(0) - source.max(0)).max() < voxel
    export = subprocess.run([sys.executable, "-m", "shapeprep", "export", "results/index.parquet", "out", "--layout", "dora",
                             "--val-fraction", "0.5"], cwd=tmp_path, capture_output=True, text=True)
    assert export.returncode == 0, export.stderr
    items = [item for split in ("train", "val") for item in peer_loaders.dora_items(str(tmp_path / "out"), split)]
    assert len(items) == 2
    assert all(item["coarse_surface"].shape == (32768, 6) and item["rand_points"].shape == (41384, 3) for item in items)
