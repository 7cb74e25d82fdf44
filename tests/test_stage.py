"""Per-object stage loop: outcomes and the progress lines a `tail -f` on a job log shows."""

from __future__ import annotations

import logging
import re
import time

from shapeprep.build.objects import job_logging, run_objects
from shapeprep.status import Filtered, MeshError


def test_progress_lines_at_a_steady_interval(tmp_path):
    log = tmp_path / "job.log"

    def slow(object_id):
        time.sleep(0.03)
        return {}

    with job_logging(str(log)):
        run_objects([f"o{i}" for i in range(12)], slow, "watertight", progress_seconds=0.1)
    lines = [line for line in log.read_text().splitlines() if "watertight progress" in line]
    done = [int(re.search(r"progress: (\d+)/12 objects, [\d.]+ objects/s, ETA \d+ s", line).group(1)) for line in lines]
    assert len(done) >= 3 and done == sorted(done) and done[-1] == 12
    assert "SLURM_JOB_ID=" in log.read_text().splitlines()[0]


def test_outcomes_ok_failed_filtered_and_crash():
    def process(object_id):
        if object_id == "flat":
            raise Filtered("flat_geometry", "sheet")
        if object_id == "bad":
            raise MeshError("unreadable", "garbage")
        if object_id == "crash":
            raise ZeroDivisionError("bug")
        return {"faces": 4}

    logging.getLogger("shapeprep").handlers.clear()
    status = run_objects(["good", "flat", "bad", "crash"], process, "normalize").set_index("object_id")
    assert status["status"].tolist() == ["ok", "filtered", "failed", "failed"]
    assert status["reason"].tolist() == ["", "flat_geometry", "unreadable", "internal_error"]
    assert status.loc["good", "faces"] == 4
