"""Per-object results of a running shard job, kept so a killed job does not start over.

Snakemake deletes a job's declared outputs before rerunning it, so a shard
job killed at object 900 of 1000 (time limit, preemption, node failure)
would redo all 1000. The expensive stages (watertight, sample) therefore also
write each finished object to a side folder beside their output,
``<output folder>/.resume/<shard>/<parameter hash>/<object id>.npz``, written
atomically. A rerun of the job takes an object from there when the entry's
input digest matches the object's current input (so a changed upstream
result is never reused), and the folder is removed once the shard's declared
outputs are complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from .provenance import params_hash


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 of the arrays' dtypes, shapes and bytes."""
    digest = hashlib.sha256()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _plain(value):
    """numpy scalars as Python scalars, so a resumed record has the types of a fresh one."""
    return value.item() if hasattr(value, "item") else str(value)


class ResumeCache:
    """Finished objects of one shard job under one parameter set.

    Parameters
    ----------
    output : path of the job's main declared output (``results/watertight/00003.h5``)
    params : the stage parameters; a change starts a fresh cache
    """

    def __init__(self, output: str | Path, params: dict):
        output = Path(output)
        self.shard_folder = output.parent / ".resume" / output.stem
        self.folder = self.shard_folder / params_hash(params)

    def path(self, object_id: str) -> Path:
        return self.folder / f"{object_id}.npz"

    def load(self, object_id: str, input_digest: str) -> tuple[dict[str, np.ndarray], dict] | None:
        """``(arrays, record)`` saved for this object and input, or None."""
        path = self.path(object_id)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["__input__"]) != input_digest:
                    return None
                arrays = {key: stored[key] for key in stored.files if not key.startswith("__")}
                record = json.loads(str(stored["__record__"]))
        except (OSError, ValueError, KeyError):  # unreadable entry: recompute
            return None
        return arrays, record

    def save(self, object_id: str, input_digest: str, arrays: dict[str, np.ndarray], record: dict) -> None:
        """Keep one finished object (atomically: a kill mid-write leaves no entry)."""
        path = self.path(object_id)
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, __input__=np.array(input_digest), __record__=np.array(json.dumps(record, default=_plain)),
                         **arrays)

    def clear(self) -> None:
        """Remove the shard's side folder (every parameter set): its outputs are complete."""
        shutil.rmtree(self.shard_folder, ignore_errors=True)
        parent = self.shard_folder.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()


def settle(resume: ResumeCache, table, status: str | Path, stage: str) -> None:
    """Write a resumable stage's status table (without the per-object ``resumed`` flag), log how many objects
    came from the cache, and remove the cache: the shard's outputs are complete."""
    import logging

    from ..atomic import write_table

    write_table(table.drop(columns="resumed", errors="ignore"), status)
    reused = int(table["resumed"].fillna(False).astype(bool).sum()) if "resumed" in table else 0
    if reused:
        logging.getLogger("shapeprep").info("%s: %d objects reused from a killed run", stage, reused)
    resume.clear()
