"""Write files so that a killed job never leaves one that looks finished."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary sibling path; rename it onto ``path`` only on success.

    The temporary name ends in ``.tmp`` plus the process id, in the same
    directory, so ``os.replace`` is atomic on POSIX filesystems.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()


def write_table(frame, path: str | Path) -> None:
    """Write a pandas DataFrame as parquet atomically."""
    with atomic_path(path) as temporary:
        frame.to_parquet(temporary, index=False)
