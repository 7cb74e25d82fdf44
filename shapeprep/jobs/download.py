"""Download job: bring a shard's objects to disk and record each one's state."""

from __future__ import annotations

import contextlib
import logging
import os

from ..atomic import write_table
from ..download import download_shard
from ..manifest import read_shard_list
from ..mirrors import network_settings

logger = logging.getLogger("shapeprep")


@contextlib.contextmanager
def objaverse_logs_to(log_path: str | None):
    """Send objaverse's loguru lines to the job log and silence its progress bars."""
    from loguru import logger as objaverse_logger

    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    sink = None
    if log_path:
        objaverse_logger.remove()
        sink = objaverse_logger.add(log_path, level="INFO", format="{time:YYYY-MM-DD HH:mm:ss} objaverse {level} {message}")
    try:
        yield
    finally:
        if sink is not None:
            objaverse_logger.remove(sink)
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous


def run(shard_list: str, status_table: str, journal: str, params: dict, tuning: dict, log_path: str | None = None) -> None:
    """Write the shard's download status table.

    Parameters
    ----------
    shard_list : the shard's manifest TSV
    status_table : output parquet (see :func:`shapeprep.download.download_shard`)
    journal : the shard's download journal, kept between runs to resume
    params : what the outcome depends on: ``cache_dir``, ``max_attempts``,
        ``max_zip_members``, ``max_zip_bytes``
    tuning : what only changes speed: ``processes``, ``batch_size``,
        ``backoff_seconds``, ``timeout_seconds``, ``mirrors``
    """
    objects = read_shard_list(shard_list)
    settings = {"processes": 8, "batch_size": 200, "backoff_seconds": 2.0, "timeout_seconds": 60, **params, **tuning}
    with objaverse_logs_to(log_path), network_settings(settings.get("mirrors"), settings["timeout_seconds"]):
        status = download_shard(objects, params["cache_dir"], journal, settings)
    write_table(status, status_table)
