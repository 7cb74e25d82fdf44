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
from typing import Callable, Iterable

import pandas as pd

from ..status import STATUS_COLUMNS, Filtered, MeshError

logger = logging.getLogger("shapeprep")


def flatten_record(record: dict) -> dict:
    """Scalars pass through; lists and dicts become JSON strings (parquet-friendly)."""
    return {key: json.dumps(value) if isinstance(value, (list, dict)) else value for key, value in record.items()}


def reset_peak_rss() -> bool:
    """Reset the process's peak resident memory (Linux ``clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """The process's peak resident memory in MB since the last :func:`reset_peak_rss` (``VmHWM``).

    Falls back to the lifetime peak (``getrusage``) where ``/proc`` does not tell.
    """
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_objects(
    object_ids: Iterable[str],
    process: Callable[[str], dict],
    stage: str,
    progress_seconds: float = 30.0,
) -> pd.DataFrame:
    """Call ``process(object_id) -> metrics`` for each object and tabulate the outcome.

    Parameters
    ----------
    object_ids : iterable of str
    process : callable
        Returns a dict of metrics; raises MeshError to refuse an object, or
        returns ``{"failure": (reason, message), ...}`` to fail it while
        keeping its metrics (validation does this).
    stage : str
        Used in log lines.
    progress_seconds : float
        Interval between progress lines (objects done, rate, ETA) in the log.

    Returns
    -------
    DataFrame with :data:`STATUS_COLUMNS` and the metrics' columns. ``seconds`` and
    ``peak_rss_mb`` (the process's peak memory while the object ran, reset
    before each object) size cluster jobs (:mod:`shapeprep.build.cluster`).
    """
    object_ids = list(object_ids)
    rows = []
    started = last_report = time.perf_counter()
    for done, object_id in enumerate(object_ids, start=1):
        reset_peak_rss()
        begin = time.perf_counter()
        row = {"object_id": object_id, "status": "ok", "reason": "", "message": ""}
        try:
            metrics = process(object_id)
            failure = metrics.pop("failure", None)
            if failure:  # a checked object that did not pass keeps its metrics
                row.update(status="failed", reason=failure[0], message=failure[1])
            row.update(flatten_record(metrics))
        except Filtered as error:
            row.update(status="filtered", reason=error.reason, message=error.message)
            logger.info("%s %s filtered: %s", stage, object_id, error)
        except MeshError as error:
            row.update(status="failed", reason=error.reason, message=error.message)
            logger.warning("%s %s failed: %s", stage, object_id, error)
        except Exception as error:  # one broken object must not lose the shard
            row.update(status="failed", reason="internal_error", message=f"{type(error).__name__}: {error}")
            logger.error("%s %s crashed:\n%s", stage, object_id, traceback.format_exc())
        row["seconds"] = time.perf_counter() - begin
        row["peak_rss_mb"] = peak_rss_mb()
        rows.append(row)
        now = time.perf_counter()
        if now - last_report >= progress_seconds or done == len(object_ids):
            rate = done / max(now - started, 1e-9)
            eta = (len(object_ids) - done) / rate
            logger.info("%s progress: %d/%d objects, %.2f objects/s, ETA %.0f s", stage, done, len(object_ids), rate, eta)
            last_report = now
    frame = pd.DataFrame(rows)
    for column in STATUS_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype=float if column in ("seconds", "peak_rss_mb") else object)
    return frame[STATUS_COLUMNS + [c for c in frame.columns if c not in STATUS_COLUMNS]]


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
