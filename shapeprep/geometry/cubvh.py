"""What every cubvh caller needs: whether it can run, and the faces its BVH accepts.

cubvh (ashawkey/cubvh) is not on PyPI and needs CUDA; nothing here imports it
at module level, so the package imports on CPU machines.
"""

from __future__ import annotations

import numpy as np

from ..status import MeshError


def cubvh_available() -> bool:
    """True when cubvh imports and torch sees a CUDA device."""
    try:
        import cubvh  # noqa: F401
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_backend(name: str) -> str:
    """The backend ``name`` stands for: ``auto`` is cubvh where it imports and CUDA is present, else cpu."""
    if name != "auto":
        return name
    return "cubvh" if cubvh_available() else "cpu"


def bvh_faces(faces: np.ndarray) -> np.ndarray:
    """Faces for ``cubvh.cuBVH``, which asserts more than 8 triangles: small meshes are repeated.

    Repeated faces change no distance and no first hit (a hit's face id modulo
    the original count is the original face).

    Parameters
    ----------
    faces : (m, 3) int, m >= 1

    Returns
    -------
    (m * k, 3) int64 with m * k > 8
    """
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        raise MeshError("no_faces", "no faces to build a BVH over")
    if len(faces) <= 8:
        faces = np.concatenate([faces] * (8 // len(faces) + 1))
    return faces
