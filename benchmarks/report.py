"""Report speed at 500k objects, and thumbnail rendering per object.

``tables`` part: the status tables of a real example build are replicated to
N objects (fresh ids, the same columns and value mix), then the report's
summary work is timed: the object table join, per-stage and per-source
counts, the failure table, the distribution figures and the HTML page
without the gallery. Target: <= 30 s at 500k objects.

``thumbnails`` part: per shared mesh, the gallery's three images at the
default size (normal maps of the source and of the watertight mesh at 256,
and the point splat), and the 4-view normal maps at 256 that TripoSG-style
scoring uses. Peer in the same run: trimesh's ray caster
(``mesh.ray.intersects_first``, the common pure-Python route) on the same rays.

    python benchmarks/report.py [tables|thumbnails|all] [--objects 500000] [--build results]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from shapeprep.build.index import object_table  # noqa: E402
from shapeprep.build.report import read_benchmarks  # noqa: E402
from shapeprep.report.page import (  # noqa: E402
    CSV_COLUMNS,
    benchmark_table,
    distribution_figures,
    failure_table,
    render_html,
    source_counts,
    stage_counts,
)
from shapeprep.status import OBJECT_STAGES  # noqa: E402

STAGE_FOLDERS = {"download": "downloaded", "normalize": "normalized", "watertight": "watertight",
                 "validate": "validated", "sample": "samples"}


def replicate(frame: pd.DataFrame, ids: dict[str, str], copies: int) -> pd.DataFrame:
    """``copies`` copies of ``frame`` with each copy's object ids renamed."""
    parts = []
    for copy in range(copies):
        renamed = frame.copy()
        renamed["object_id"] = renamed["object_id"].map(lambda object_id: f"{copy:07d}{ids[object_id]}")
        parts.append(renamed)
    return pd.concat(parts, ignore_index=True)


def synthetic_tables(build: Path, objects: int):
    manifest = pd.read_parquet(build / "manifest" / "manifest.parquet")
    ids = {object_id: object_id[:16] for object_id in manifest["object_id"]}
    copies = max(1, objects // len(manifest))
    stages = {}
    for stage in OBJECT_STAGES:
        table = pd.concat([pd.read_parquet(path) for path in sorted((build / STAGE_FOLDERS[stage]).glob("*.status.parquet"))],
                          ignore_index=True)
        stages[stage] = replicate(table, ids, copies)
    return replicate(manifest, ids, copies), stages


def part_tables(build: Path, objects: int) -> None:
    manifest, stages = synthetic_tables(build, objects)
    timings = {}
    started = time.perf_counter()
    table = object_table(manifest, stages)
    timings["object table (join of 5 stages)"] = time.perf_counter() - started
    started = time.perf_counter()
    stage_counts(table), source_counts(table), failure_table(table)
    timings["counts and failure table"] = time.perf_counter() - started
    started = time.perf_counter()
    figures = distribution_figures(table)
    timings["distribution figures"] = time.perf_counter() - started
    started = time.perf_counter()
    benchmarks = benchmark_table(read_benchmarks(build / "benchmarks"))
    shards = {"shards": 500, "bytes": 0, "objects": len(table), "points": {}}
    page = render_html(table, shards, benchmarks, [], figures, {"config": {}})
    timings["HTML page (no gallery)"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        table.to_parquet(Path(tmp) / "objects.parquet", index=False)
        timings["objects.parquet"] = time.perf_counter() - started
        started = time.perf_counter()
        table.reindex(columns=CSV_COLUMNS).to_csv(Path(tmp) / "objects.csv", index=False)
        timings["objects.csv"] = time.perf_counter() - started
    print(f"{len(table):,} objects ({len(table.columns)} columns), page {len(page) / 1e6:.1f} MB\n")
    print("| step | s |")
    print("|---|---|")
    for step, seconds in timings.items():
        print(f"| {step} | {seconds:.2f} |")
    print(f"| **total** | **{sum(timings.values()):.2f}** |")


def part_thumbnails(size: int) -> None:
    import trimesh
    from sampling import prepared_meshes  # benchmarks/sampling.py: normalised + watertight at 256, cached

    from shapeprep.report.render import normal_views, pixel_rays, render_normals, render_points, view_rotation

    print(f"\n| mesh | watertight faces | gallery (3 images, {size} px) s | 4 views 256 px s |"
          " one view 256 px: ours s | trimesh ray s | trimesh / ours |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    rng = np.random.default_rng(0)
    for name, mesh in prepared_meshes(256, Path(tempfile.gettempdir()) / "shapeprep-bench-watertight"):
        points = trimesh.Trimesh(mesh["vertices"], mesh["faces"], process=False).sample(16384)
        started = time.perf_counter()
        render_normals(mesh["source_vertices"], mesh["source_faces"], size)
        render_normals(mesh["vertices"], mesh["faces"], size)
        render_points(points, points[rng.choice(len(points), 512)], size)
        gallery = time.perf_counter() - started
        started = time.perf_counter()
        normal_views(mesh["vertices"], mesh["faces"], 256)
        four = time.perf_counter() - started
        started = time.perf_counter()
        render_normals(mesh["vertices"], mesh["faces"], 256)
        ours = time.perf_counter() - started
        turned = mesh["vertices"] @ view_rotation(0, 20).T
        origins, directions = pixel_rays(256, 1.0)
        peer_mesh = trimesh.Trimesh(turned, mesh["faces"], process=False)
        started = time.perf_counter()
        peer_mesh.ray.intersects_first(origins, directions)
        peer = time.perf_counter() - started
        rows.append((gallery, four, peer / ours))
        print(f"| {name} | {len(mesh['faces']):,} | {gallery:.2f} | {four:.2f} | {ours:.3f} | {peer:.2f} | "
              f"{peer / ours:.0f}x |")
    gallery, four, ratio = np.median(np.array(rows), axis=0)
    print(f"| **median** | | **{gallery:.2f}** | **{four:.2f}** | | | **{ratio:.0f}x** |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", default="all", choices=["tables", "thumbnails", "all"])
    parser.add_argument("--objects", type=int, default=500_000)
    parser.add_argument("--build", type=Path, default=REPO / "results",
                        help="results folder of a finished build (the example build: `snakemake --cores 2`)")
    parser.add_argument("--size", type=int, default=192, help="gallery thumbnail size (config report.thumbnail_size)")
    args = parser.parse_args()
    if args.part in ("tables", "all"):
        part_tables(args.build, args.objects)
    if args.part in ("thumbnails", "all"):
        part_thumbnails(args.size)


if __name__ == "__main__":
    main()
