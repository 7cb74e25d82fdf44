"""Download job: bring a shard's objects to disk and record each one's state."""

from __future__ import annotations

import contextlib
import logging
import os

from ..atomic import write_table
from ..sources.download import download_shard
from ..sources.manifest import read_shard_list
from ..sources.mirrors import network_settings
from .provenance import download_speed_settings

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


def run(shard_list: str, settings: dict, journal: str, config: dict, status: str, log: str | None = None) -> None:
    """Write the shard's download status table.

    Parameters
    ----------
    shard_list : the shard's manifest TSV
    settings : what the outcome depends on: ``cache_dir``, ``max_attempts``,
        ``max_zip_members``, ``max_zip_bytes`` (and ``code``)
    journal : the shard's download journal, kept between runs to resume
    config : the workflow config; the speed settings of its ``download``
        section (:data:`~shapeprep.build.provenance.DOWNLOAD_SPEED_KEYS`) are read
        here rather than passed as params, so tuning them never reruns a download
    status : output parquet (see :func:`shapeprep.sources.download.download_shard`)
    log : the job log, where objaverse's own log lines go too
    """
    objects = read_shard_list(shard_list)
    speed = download_speed_settings(config["download"])
    with objaverse_logs_to(log), network_settings(speed["mirrors"], speed["timeout_seconds"]):
        table = download_shard(objects, settings["cache_dir"], journal, {**settings, **speed})
    write_table(table, status)
