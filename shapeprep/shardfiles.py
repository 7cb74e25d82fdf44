"""Where the readers find shard files, and their open handles per process.

HDF5 handles must not cross a fork: a DataLoader worker that inherits its
parent's open file reads garbage. :class:`ShardHandles` opens each file
lazily in the process that reads it and forgets them when pickled.
"""

from __future__ import annotations

import os
from pathlib import Path


def shard_paths(source) -> list[str]:
    """Shard paths from a folder (its ``*.h5``, sorted), one file, or a list of files."""
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        return sorted(str(path) for path in Path(source).glob("*.h5"))
    if isinstance(source, (str, Path)):
        return [str(source)]
    return [str(path) for path in source]


class ShardHandles:
    """``handles(path)``: the file open for reading in this process (opened on first use)."""

    def __init__(self):
        self._files, self._pid = {}, None

    def __getstate__(self):
        return {"_files": {}, "_pid": None}

    def __call__(self, path: str):
        import h5py

        if self._pid != os.getpid():  # a new process (a DataLoader worker): its own handles
            self._files, self._pid = {}, os.getpid()
        if path not in self._files:
            self._files[path] = h5py.File(path, "r")
        return self._files[path]
