"""Stage functions for tests/test_worker.py (importable by spawned worker processes)."""

from __future__ import annotations

import hashlib
import time

import numpy as np


def healthy(object_id: str) -> tuple[dict, dict]:
    """A deterministic object: metrics and arrays from its id."""
    seed = int(hashlib.sha256(object_id.encode()).hexdigest()[:8], 16)
    points = np.random.default_rng(seed).normal(size=(1000, 3))
    return {"mean": float(points.mean()), "count": 1000}, {"points": points}


def sometimes_bad(object_id: str) -> tuple[dict, dict]:
    """Healthy, except for objects named after what they do to the process."""
    if object_id.startswith("segfault"):
        import ctypes

        ctypes.string_at(0)
    if object_id.startswith("hog"):
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))
    if object_id.startswith("sleep"):
        time.sleep(3600)
    if object_id.startswith("memoryerror"):
        raise MemoryError("unable to allocate 2.0 TiB")
    if object_id.startswith("raise"):
        raise ValueError("a plain bug")
    return healthy(object_id)
