"""The example build through `snakemake --profile slurm` on a real single-node SLURM cluster.

Runs only with SHAPEPREP_SLURM_TEST=1 (CI sets it): the fixture starts munge,
mariadb + slurmdbd, slurmctld and slurmd with two fake GPUs through
.ci/local_slurm.sh (root, Debian), and stops them afterwards. Every step has a
hard timeout, so a status-polling problem fails the test instead of hanging CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from .conftest import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("SHAPEPREP_SLURM_TEST") != "1", reason="set SHAPEPREP_SLURM_TEST=1 (root, Debian)"),
]

HARNESS = REPO / ".ci" / "local_slurm.sh"
# CI only: status checks every few seconds instead of the profile's cluster-friendly
# pace, and the accounting database's root account.
FAST_POLLING = [
    "--slurm-init-seconds-before-status-checks", "5", "--seconds-between-status-checks", "5",
    "--max-status-checks-per-second", "2", "--default-resources", "slurm_account=root", "mem_mb=2000", "runtime=30",
]


@pytest.fixture(scope="session")
def cluster():
    """Up until the whole session ends: with slurm-client installed but no
    controller, the slurm plugin's import (every snakemake start) waits about
    9 s for `scontrol`, which would slow every later workflow test."""
    started = subprocess.run(["timeout", "900", "bash", str(HARNESS), "start"], capture_output=True, text=True)
    assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
    yield
    subprocess.run(["timeout", "120", "bash", str(HARNESS), "stop"], capture_output=True, text=True)


@pytest.fixture(scope="module")
def slurm_build(cluster, tmp_path_factory):
    """The repository's workflow, example meshes and profile in a scratch folder, built on SLURM."""
    folder = tmp_path_factory.mktemp("slurm_build")
    for name in ("Snakefile", "rules", "scripts", "config", "envs", "slurm", "examples"):
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    # Ask for a GPU for watertight although the backend falls back to the CPU:
    # what is tested is that SLURM hands the job a device.
    (folder / "gpu.yaml").write_text(yaml.safe_dump({"resources": {"watertight": {"gpu": 1}}}))
    command = [sys.executable, "-m", "snakemake", "--profile", "slurm",
               "--configfile", "config/config.yaml", "gpu.yaml", *FAST_POLLING]
    run = subprocess.run(["timeout", "-s", "INT", "1200", *command], cwd=folder, capture_output=True, text=True,
                         timeout=1300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return folder, run


def sacct_jobs():
    """``job id -> (state, allocated TRES)`` of every job the cluster ran."""
    out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "JobID,State,AllocTRES"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    return {line.split("|")[0]: line.split("|")[1:] for line in out.splitlines() if line}


def job_ids_in_logs(folder, rule):
    ids = {}
    for log in sorted((folder / "results" / "logs" / rule).glob("*.log")):
        match = re.search(r"SLURM_JOB_ID=(\S+), CUDA_VISIBLE_DEVICES=(\S+)", log.read_text())
        assert match, f"{log} has no job line"
        ids[log.stem] = match.groups()
    return ids


def test_build_completes_with_every_object_accounted_for(slurm_build):
    folder, _ = slurm_build
    index = pd.read_parquet(folder / "results" / "index.parquet")
    assert len(index) == 8 and (index["status"] == "ok").sum() == 7
    assert len(list((folder / "results" / "shards").glob("*.h5"))) == 4


def test_shard_jobs_went_through_sbatch(slurm_build):
    folder, run = slurm_build
    jobs = sacct_jobs()
    for rule in ("normalize", "watertight", "validate", "sample", "shard"):
        for shard, (job_id, _) in job_ids_in_logs(folder, rule).items():
            assert job_id in jobs, f"{rule} {shard}: SLURM job {job_id} not in sacct"
            assert jobs[job_id][0] == "COMPLETED"
    assert "has been submitted with SLURM jobid" in run.stdout + run.stderr


def test_local_rules_ran_outside_slurm(slurm_build):
    """config local_rules: downloads, index and report run where Snakemake runs."""
    folder, _ = slurm_build
    logs = list((folder / "results" / "logs" / "download").glob("*.log"))
    logs += [folder / "results" / "logs" / "index.log", folder / "results" / "logs" / "report.log"]
    for log in logs:
        assert "SLURM_JOB_ID=-," in log.read_text(), f"{log.name} ran inside a SLURM job"


def test_gpu_rule_got_a_device_and_cpu_rules_did_not(slurm_build):
    folder, _ = slurm_build
    jobs = sacct_jobs()
    for job_id, devices in job_ids_in_logs(folder, "watertight").values():
        assert re.fullmatch(r"\d+(,\d+)*", devices), devices
        assert "gres/gpu=1" in jobs[job_id][1]
    for rule in ("normalize", "sample"):
        for job_id, devices in job_ids_in_logs(folder, rule).values():
            assert devices == "-" and "gres/gpu" not in jobs[job_id][1]


def test_validate_and_sample_of_a_shard_share_one_job(slurm_build):
    folder, _ = slurm_build
    validate = job_ids_in_logs(folder, "validate")
    sample = job_ids_in_logs(folder, "sample")
    assert {shard: ids[0] for shard, ids in validate.items()} == {shard: ids[0] for shard, ids in sample.items()}
