"""The ``shapeprep`` command line, run as users run it."""

import json
import subprocess
import sys

import numpy as np
import trimesh

from .conftest import shared_mesh


def shapeprep(*args):
    return subprocess.run([sys.executable, "-m", "shapeprep.cli", *map(str, args)], capture_output=True, text=True)


def test_watertight_writes_original_frame_and_validate_passes(tmp_path):
    source = shared_mesh("spot.obj")
    out = tmp_path / "spot_watertight.ply"
    normalized = tmp_path / "spot_normalized.obj"
    run = shapeprep("watertight", source, out, "--res", 64, "--normalized-source", normalized)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["faces"] > 0 and summary["backend"] == "cpu"
    result = trimesh.load(out, process=False)
    original = trimesh.load(source, process=False, force="mesh")
    # Same frame as the input: bounding boxes agree up to the small residual offset.
    voxel_in_source = 2.0 / 63 / summary["scale"]
    assert np.abs(result.bounds - original.bounds).max() < 1.5 * voxel_in_source
    assert np.abs(trimesh.load(normalized, process=False).bounds).max() <= 0.95 + 1e-9
    check = shapeprep("validate", out, "--source", source, "--res", 64)
    assert check.returncode == 0, check.stdout
    record = json.loads(check.stdout)
    assert record["reasons"] == [] and record["deviation_chamfer"] < 0.5


def test_normalized_frame_output(tmp_path):
    out = tmp_path / "suzanne.obj"
    run = shapeprep("watertight", shared_mesh("suzanne.obj"), out, "--res", 48, "--frame", "normalized")
    assert run.returncode == 0, run.stderr
    assert np.abs(trimesh.load(out, process=False).vertices).max() < 1.0


def test_bad_input_gives_clear_error_and_exit_code(tmp_path):
    run = shapeprep("watertight", shared_mesh("Bookcase_Books.fbx"), tmp_path / "out.obj")
    assert run.returncode == 2
    assert "unsupported_format" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out.obj").exists()
    missing = shapeprep("validate", tmp_path / "nope.obj")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


def test_validate_reports_an_open_mesh_with_exit_one():
    run = shapeprep("validate", shared_mesh("stanford-bunny.obj"))
    assert run.returncode == 1
    assert any(reason.startswith("open") for reason in json.loads(run.stdout)["reasons"])
