"""The per-object loop of a shard job: run one stage over the objects of a shard without letting one object sink the shard.

Each object yields a status row: ``object_id, status ('ok' | 'failed' | 'filtered'),
reason, message, seconds`` plus the stage's own scalar metrics. A
:class:`~shapeprep.status.MeshError` is an expected refusal with its
reason; any other exception is recorded as ``internal_error`` with its
traceback in the job log, and the shard goes on. A
:class:`~shapeprep.status.Filtered` (a curation filter) gives status ``filtered``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from ..status import STATUS_COLUMNS
from .worker import Limits, ObjectJournal, ObjectWorker, outcome_of, peak_rss_mb, reset_peak_rss

logger = logging.getLogger("shapeprep")


def flatten_record(record: dict) -> dict:
    """Scalars pass through; lists and dicts become JSON strings (parquet-friendly)."""
    return {key: json.dumps(value) if isinstance(value, (list, dict)) else value for key, value in record.items()}


def run_objects(
    object_ids: Iterable[str],
    process: Callable[[str], dict | tuple[dict, object]],
    stage: str,
    store: Callable[[str, object], None] | None = None,
    limits: Limits | None = None,
    journal: str | Path | None = None,
    progress_seconds: float = 30.0,
) -> pd.DataFrame:
    """Call ``process(object_id)`` for each object and tabulate the outcome.

    Parameters
    ----------
    object_ids : iterable of str
    process : callable
        Returns a dict of metrics, or ``(metrics, payload)``; raises MeshError to
        refuse an object, or returns metrics with ``"failure": (reason, message)``
        to fail it while keeping its metrics (validation does this). With
        ``limits`` it must be picklable (a module-level function or a partial of one).
    stage : str
        Used in log lines.
    store : callable, optional
        ``store(object_id, payload)``, called here (in the job's process) for every
        object whose ``process`` returned a payload: where outputs get written.
    limits : Limits, optional
        Run every object in a worker process within these limits
        (:mod:`shapeprep.build.worker`); without, objects run in this process.
    journal : path, optional
        Where to keep the running object (:class:`~shapeprep.build.worker.ObjectJournal`),
        so that an object that killed the job is failed on the rerun.
    progress_seconds : float
        Interval between progress lines (objects done, rate, ETA) in the log.

    Returns
    -------
    DataFrame with :data:`STATUS_COLUMNS` and the metrics' columns. ``seconds`` and
    ``peak_rss_mb`` (the peak memory while the object ran) size cluster jobs
    (:mod:`shapeprep.build.cluster`).
    """
    object_ids = list(object_ids)
    rows = []
    worker = ObjectWorker(process) if limits is not None else None
    running = ObjectJournal(journal) if journal is not None else None
    allowed_deaths = limits.job_deaths if limits is not None else 1
    started = last_report = time.perf_counter()
    try:
        for done, object_id in enumerate(object_ids, start=1):
            row = {"object_id": object_id, "status": "ok", "reason": "", "message": ""}
            deaths = running.deaths.get(object_id, 0) if running is not None else 0
            if deaths >= allowed_deaths:
                outcome, seconds, peak = ("failed", "killed_with_job",
                                          f"the job died {deaths} time(s) while this object ran"), 0.0, 0.0
            else:
                if running is not None:
                    running.start(object_id)
                if worker is not None:
                    outcome, seconds, peak = worker.run(object_id, limits)
                else:
                    reset_peak_rss()
                    begin = time.perf_counter()
                    outcome = outcome_of(process, object_id)
                    seconds, peak = time.perf_counter() - begin, peak_rss_mb()
            row_from_outcome(row, outcome, object_id, stage, store)
            if running is not None and deaths < allowed_deaths:
                running.done(object_id)
            row["seconds"], row["peak_rss_mb"] = seconds, peak
            rows.append(row)
            now = time.perf_counter()
            if now - last_report >= progress_seconds or done == len(object_ids):
                rate = done / max(now - started, 1e-9)
                eta = (len(object_ids) - done) / rate
                logger.info("%s progress: %d/%d objects, %.2f objects/s, ETA %.0f s", stage, done, len(object_ids),
                            rate, eta)
                last_report = now
    finally:
        if worker is not None:
            worker.stop()
    if running is not None:
        running.close(remove=True)
    frame = pd.DataFrame(rows)
    for column in STATUS_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype=float if column in ("seconds", "peak_rss_mb") else object)
    return frame[STATUS_COLUMNS + [c for c in frame.columns if c not in STATUS_COLUMNS]]


def row_from_outcome(row: dict, outcome: tuple, object_id: str, stage: str, store) -> None:
    """Fill a status row from an outcome of :func:`~shapeprep.build.worker.outcome_of` (storing any payload)."""
    kind = outcome[0]
    if kind == "ok":
        result = outcome[1]
        metrics, payload = result if isinstance(result, tuple) else (result, None)
        metrics = dict(metrics)
        failure = metrics.pop("failure", None)
        if failure:  # a checked object that did not pass keeps its metrics
            row.update(status="failed", reason=failure[0], message=failure[1])
        if payload is not None and store is not None:
            store(object_id, payload)
        row.update(flatten_record(metrics))
    elif kind == "filtered":
        row.update(status="filtered", reason=outcome[1], message=outcome[2])
        logger.info("%s %s filtered: %s: %s", stage, object_id, outcome[1], outcome[2])
    elif kind == "failed":
        row.update(status="failed", reason=outcome[1], message=outcome[2])
        logger.warning("%s %s failed: %s: %s", stage, object_id, outcome[1], outcome[2])
    else:  # an unexpected exception: the shard goes on
        row.update(status="failed", reason="internal_error", message=outcome[1])
        logger.error("%s %s crashed:\n%s", stage, object_id, outcome[2])


@contextlib.contextmanager
def job_logging(log_path=None):
    """Send shapeprep's log lines to ``log_path`` (or stderr); log a job-killing error before re-raising."""
    handler = logging.FileHandler(log_path) if log_path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("shapeprep")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    # Where the job ran and what the scheduler gave it: the first thing to check
    # when a cluster job misbehaves (and how the SLURM test sees its GPU).
    root.info(
        "job on %s, SLURM_JOB_ID=%s, CUDA_VISIBLE_DEVICES=%s",
        socket.gethostname(),
        os.environ.get("SLURM_JOB_ID", "-"),
        os.environ.get("CUDA_VISIBLE_DEVICES", "-"),
    )
    try:
        yield
    except BaseException:
        root.error("job failed:\n%s", traceback.format_exc())
        raise
    finally:
        handler.close()
