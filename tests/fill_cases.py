"""The labelled hole-filling set: real meshes with holes punched at known widths, flipped windings,
open containers and open sheets, each with the outcome a correct fill gives.

Used by ``tests/test_fill.py`` and ``benchmarks/fill.py``. Every case is built
from a mesh of ``../shared/meshes`` or a simple generated surface, in the
normalised frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shapeprep.geometry.grid import grid_spacing
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh

from .conftest import shared_mesh


@dataclass
class FillCase:
    """One labelled object: ``expect`` is ``solid`` (closed, holes to close), ``open`` (must stay open) or ``same``
    (closed, must come out as itself); ``closed`` is the surface before holes were punched (for volumes and caps)."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    expect: str
    closed: tuple | None = None
    hole_voxels: float = 0.0


def normalized(name: str):
    source = normalize_mesh(*load_mesh(shared_mesh(name)))
    return source.vertices, source.faces


def punch_holes(vertices, faces, count: int, width_voxels: float, resolution: int, seed: int = 0):
    """Remove the faces within ``width/2`` of ``count`` spread-out surface points: round holes ``width`` voxels across."""
    rng = np.random.default_rng(seed)
    centroids = vertices[faces].mean(axis=1)
    radius = width_voxels / 2 * grid_spacing(resolution)
    centres = [centroids[rng.integers(len(centroids))]]
    while len(centres) < count:  # far apart, so holes do not merge
        pick = centroids[rng.integers(len(centroids), size=64)]
        spread = np.min(np.linalg.norm(pick[:, None] - np.array(centres)[None], axis=2), axis=1)
        centres.append(pick[np.argmax(spread)])
    distance = np.min(np.linalg.norm(centroids[:, None] - np.array(centres)[None], axis=2), axis=1)
    return vertices, faces[distance > radius]


def flip_windings(faces, fraction: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    flipped = faces.copy()
    chosen = rng.random(len(faces)) < fraction
    flipped[chosen] = flipped[chosen][:, ::-1]
    return flipped


def open_box(sides_open=1, inner=False):
    """A single-sheet box with ``sides_open`` of its faces removed (+y first): a tray, a room open on one side."""
    import trimesh

    box = trimesh.creation.box(extents=[1.6, 1.0, 1.2])
    keep = box.face_normals[:, 1] < 0.5 if sides_open else np.ones(len(box.faces), bool)
    parts = [(np.asarray(box.vertices), np.asarray(box.faces)[keep])]
    if inner:  # a smaller closed box standing inside the room
        small = trimesh.creation.box(extents=[0.4, 0.4, 0.4])
        parts.append((np.asarray(small.vertices) + [0.2, -0.29, 0.0], np.asarray(small.faces)))
    vertices = np.concatenate([v for v, _ in parts])
    offsets = np.cumsum([0] + [len(v) for v, _ in parts[:-1]])
    faces = np.concatenate([f + o for (_, f), o in zip(parts, offsets)])
    source = normalize_mesh(vertices, faces)
    return source.vertices, source.faces


def open_cup():
    """A cylinder with a bottom and no top: a cup, single sheet."""
    import trimesh

    cylinder = trimesh.creation.cylinder(radius=0.5, height=1.2, sections=64)
    keep = cylinder.face_normals[:, 2] < 0.5
    source = normalize_mesh(np.asarray(cylinder.vertices), np.asarray(cylinder.faces)[keep])
    return source.vertices, source.faces


def terrain(n=40, seed=0):
    """A bumpy height field sheet."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n))
    z = 0.15 * np.sin(3 * x) * np.cos(2 * y) + 0.01 * rng.standard_normal((n, n))
    vertices = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)
    index = np.arange(n * n).reshape(n, n)
    a, b, c, d = index[:-1, :-1].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel(), index[:-1, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
    source = normalize_mesh(vertices, faces)
    return source.vertices, source.faces


def mask():
    """The front of a sphere (a face-mask-like shell open at the back)."""
    import trimesh

    sphere = trimesh.creation.icosphere(subdivisions=4, radius=0.8)
    keep = sphere.triangles_center[:, 2] > -0.1
    source = normalize_mesh(np.asarray(sphere.vertices), np.asarray(sphere.faces)[keep])
    return source.vertices, source.faces


def labelled_cases(resolution: int = 128, widths=(2, 4, 8, 16)) -> list[FillCase]:
    """The labelled set at ``resolution`` (hole widths in its voxels)."""
    cases = []
    for name in ("spot.obj", "fandisk.obj"):
        vertices, faces = normalized(name)
        stem = name.split(".")[0]
        cases.append(FillCase(f"{stem} closed, 30% flipped", vertices, flip_windings(faces, 0.3), "same", (vertices, faces)))
        for width in widths:
            holed = punch_holes(vertices, faces, 4, width, resolution)[1]
            cases.append(FillCase(f"{stem} 4 holes {width} vox", vertices, holed, "solid", (vertices, faces), width))
            cases.append(FillCase(f"{stem} 4 holes {width} vox, 30% flipped", vertices, flip_windings(holed, 0.3), "solid",
                                  (vertices, faces), width))
    cases.append(FillCase("bathtub", *normalized("bathtub.obj"), "open"))
    cases.append(FillCase("cup", *open_cup(), "open"))
    cases.append(FillCase("tray (box open on top)", *open_box(), "open"))
    cases.append(FillCase("room open on one side, box inside", *open_box(inner=True), "open"))
    cases.append(FillCase("two-sided plane", *normalized("TwoSidedPlane.glb"), "open"))
    cases.append(FillCase("terrain", *terrain(), "open"))
    cases.append(FillCase("mask", *mask(), "open"))
    return cases
