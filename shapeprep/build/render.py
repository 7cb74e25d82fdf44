"""Render job: multi-view conditioning images of every validated object's textured source, with cameras."""

from __future__ import annotations

import json
import os
import time
from functools import partial

import numpy as np

from ..atomic import write_table
from ..sources.manifest import read_shard_list
from ..status import ok_objects, read_status
from ..views.cameras import fibonacci_directions, orbit_cameras, random_directions, transforms_json
from ..views.raster import ViewRenderer
from ..views.scene import load_textured
from ..views.store import write_view_shard
from .objects import run_objects
from .provenance import object_rng, package_versions
from .worker import Limits

#: Object-table columns the render shard copies from the manifest.
MANIFEST_COLUMNS = ("source", "location", "name")


def object_cameras(object_id: str, settings: dict) -> np.ndarray:
    """``(views + random_views, 4, 4)`` camera-to-world matrices: the Fibonacci sphere, then seeded random views
    (the seed comes from the object id and the render settings)."""
    directions = fibonacci_directions(settings["views"])
    if settings["random_views"]:
        seeding = {key: value for key, value in settings.items() if key != "code"}
        rng = object_rng(object_id, seeding, settings["seed"])
        directions = np.concatenate([directions, random_directions(settings["random_views"], rng)])
    return orbit_cameras(directions, settings["radius"])


def render_one(object_id: str, locations: dict, frames: dict, settings: dict, threads: int) -> tuple[dict, dict]:
    """Every view of one object: ``(metrics, views)``. Runs in the job's worker process (its own GL context)."""
    start = time.perf_counter()
    center, scale = frames[object_id]
    scene = load_textured(locations[object_id], center, scale)
    loaded = time.perf_counter()
    cameras = object_cameras(object_id, settings)
    # The object lies within sqrt(3) * bound of the origin: clip planes that keep all of it, and not much more.
    reach = 1.8
    renderer = ViewRenderer(scene, settings["resolution"], settings["fov_deg"], max(settings["radius"] - reach, 0.01),
                            settings["radius"] + reach, settings["shading"], threads, settings["samples"])
    try:
        rgba, normal, depth = zip(*(renderer.render(c2w) for c2w in cameras))
    finally:
        renderer.release()
    done = time.perf_counter()
    views = {"rgba": np.stack(rgba), "normal": np.stack(normal), "depth": np.stack(depth).astype(np.float16),
             "c2w": cameras.astype(np.float32),
             "transforms": transforms_json(cameras, settings["fov_deg"], settings["resolution"], center, scale)}
    coverage = (views["rgba"][..., 3] > 0).mean(axis=(1, 2))
    metrics = {"views": len(cameras), **scene.notes, "coverage_min": float(coverage.min()),
               "coverage_mean": float(coverage.mean()), "seconds_load": loaded - start,
               "seconds_render": done - loaded, "seconds_per_view": (done - loaded) / max(len(cameras), 1)}
    return metrics, views


def run(shard_list: str, normalize_status: str, validate_status: str, settings: dict, render_file: str,
        status: str, shard: str, threads: int = 1, limits: Limits | None = None, journal: str | None = None) -> None:
    """Write ``render_file`` (:mod:`shapeprep.views.store`) for every object that passed validation.

    Parameters
    ----------
    shard_list, normalize_status, validate_status : the shard's manifest, normalize and validate tables
    settings : the ``render`` config section (``views``, ``random_views``, ``seed``, ``radius``, ``fov_deg``,
        ``resolution``, ``shading``, ``samples``, ``compression``) plus ``code``
    render_file : output HDF5; status : output parquet (views, texture notes and seconds per object)
    shard : the shard's name
    threads : the rule's threads, given to the rasteriser
    limits, journal : per-object limits and the running-object journal (:mod:`shapeprep.build.worker`)
    """
    import h5py

    objects = read_shard_list(shard_list).set_index("object_id")
    normalized = read_status(normalize_status).set_index("object_id")
    todo = ok_objects(read_status(validate_status))
    locations = {oid: objects.loc[oid, "location"] for oid in todo}
    frames = {oid: (normalized.loc[oid, ["center_x", "center_y", "center_z"]].to_numpy(float),
                    float(normalized.loc[oid, "scale"])) for oid in todo}
    process = partial(render_one, locations=locations, frames=frames, settings=settings, threads=threads)
    parts = f"{render_file}.parts"  # each object as it finishes; the final file is written from it in order
    with h5py.File(parts, "w") as store_file:

        def store(object_id: str, views: dict) -> None:
            group = store_file.create_group(object_id)
            for key in ("rgba", "normal", "depth"):  # lzf per view: mostly background, 10-20x smaller, fast
                group.create_dataset(key, data=views[key], chunks=(1, *views[key].shape[1:]), compression="lzf")
            group.create_dataset("c2w", data=views["c2w"])
            group.attrs["transforms"] = json.dumps(views["transforms"])

        table = run_objects(todo, process, "render", store, limits, journal)
    try:
        done = table.loc[table["status"] == "ok", "object_id"].tolist()
        with h5py.File(parts, "r") as store_file:
            rows = [{"object_id": oid, **{column: objects.loc[oid, column] for column in MANIFEST_COLUMNS},
                     "center": frames[oid][0], "scale": frames[oid][1]} for oid in done]

            def load(oid: str) -> dict:
                group = store_file[oid]
                return {**{key: group[key][()] for key in ("rgba", "normal", "depth", "c2w")},
                        "transforms": json.loads(group.attrs["transforms"])}

            write_view_shard(render_file, rows, load, [store_file[oid]["rgba"].shape[0] for oid in done],
                             {"resolution": settings["resolution"], "fov_deg": settings["fov_deg"],
                              "radius": settings["radius"], "shading": settings["shading"], "shard": shard,
                              "params": dict(settings), "package_versions": package_versions()},
                             compression=settings["compression"])
    finally:
        os.remove(parts)
    write_table(table, status)
