"""Sparse SDF volumes over ../shared/meshes (and ../shared/corpus): time, memory, size, reconstruction (not a timed test).

Each object runs in a fresh subprocess (its own peak RSS): normalise, load the
compiled kernels (untimed: a build's job loads them once per shard), the
watertight engine at the sparse resolution, then :func:`shapeprep.volumes.sparse.sparse_sdf`.
Prints per resolution p50 / p90 / max of: seconds of the watertight step and
of the sparse step, active voxels, peak RSS of each step (the sparse step as
the sparse_sdf rule's job sees it: the watertight mesh held, the watertight
step's freed memory trimmed, the peak reset; the objects above 2 and 3 GB);
bytes per object on disk for
each storage choice (float16, int8; no filter, lzf, gzip) measured by writing
the object's shard; the int8 quantisation error; and the reconstruction
error (dense marching cubes of the stored voxels against the watertight
mesh, voxels; at 1024 on a grid of every second point, to bound memory).

    python benchmarks/sparse_sdf.py [--resolutions 512 1024] [--corpus] [--limit N] [--timeout 600]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "meshes"
CORPUS = SHARED.parent / "corpus"
SUFFIXES = {".obj", ".glb", ".gltf", ".ply", ".stl", ".off"}
STORAGES = [("float16", "none"), ("float16", "lzf"), ("float16", "gzip"), ("int8", "none"), ("int8", "gzip")]


def warm_up_kernels() -> None:
    """Load every compiled kernel from numba's cache before timing (a build's job loads them once per shard, not
    once per object): the watertight benchmark's warm-up (an open box through the engine), then the sparse step
    on a closed box, and crossing numbers (the uncertain signs) at two points."""
    import trimesh

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from watertight import warm_up_kernels as warm_up_watertight

    from shapeprep.volumes.sparse import crossing_numbers, sparse_sdf
    from shapeprep.watertight import watertight_mesh

    warm_up_watertight()
    box = trimesh.creation.box()
    closed = watertight_mesh(box.vertices * 0.8, box.faces, 32)
    sparse_sdf(closed.vertices, closed.faces, 32, 2.0)
    crossing_numbers(closed.vertices, closed.faces, np.zeros((2, 3)), 0)


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (``VmHWM``; Linux): whether it could."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mb() -> float:
    """The process's peak RSS since start or the last reset (``VmHWM``), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(path: str, resolution: int) -> dict:
    from shapeprep.build.worker import return_freed_memory
    from shapeprep.geometry.distance import IglDistance
    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.nearsurface import set_threads
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.volumes.sparse import reconstruct_mesh, sparse_sdf
    from shapeprep.volumes.store import decode_sdf, encode_sdf, write_sparse_shard
    from shapeprep.watertight import watertight_mesh

    set_threads(2)
    source = normalize_mesh(*load_mesh(path))
    warm_up_kernels()
    start = time.perf_counter()
    closed = watertight_mesh(source.vertices, source.faces, resolution)
    seconds_watertight = time.perf_counter() - start
    rss_watertight = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the peak so far is this step's
    # The sparse_sdf rule is its own job, whose worker holds the watertight mesh, not what the watertight step
    # freed: keep the mesh, trim the freed memory as a worker does after each object, and measure the step's
    # peak from there (Linux's high-water mark, reset).
    mesh_vertices, mesh_faces, source = closed.vertices, closed.faces, None
    closed = None
    return_freed_memory()
    can_reset = reset_peak_rss()
    start = time.perf_counter()
    coords, sdf = sparse_sdf(mesh_vertices, mesh_faces, resolution, 2.0)
    seconds_sparse = time.perf_counter() - start
    rss_sparse = peak_rss_mb() if can_reset else float("nan")
    row = {"seconds_watertight": seconds_watertight, "seconds_sparse": seconds_sparse,
           "rss_mb": max(rss_watertight, rss_sparse), "rss_watertight_mb": rss_watertight, "rss_sparse_mb": rss_sparse,
           "active": int(len(coords)), "faces": int(len(mesh_faces))}
    with tempfile.TemporaryDirectory() as folder:
        for storage, compression in STORAGES:
            shard = Path(folder) / f"{storage}-{compression}.h5"
            write_sparse_shard(shard, [{"object_id": "o"}], lambda _: (coords, sdf), [len(coords)],
                               {"resolution": resolution, "truncation_voxels": 2.0, "shard": "0"}, storage, compression)
            row[f"bytes_{storage}_{compression}"] = shard.stat().st_size
    row["int8_error_max"] = float(np.abs(decode_sdf(encode_sdf(sdf, "int8", 2.0), "int8", 2.0) - sdf).max())
    step = 2 if resolution > 512 else 1
    vertices, _ = reconstruct_mesh(coords, sdf, resolution, 2.0, step=step)
    row["inside_voxels"] = int((sdf < 0).sum())  # 0: a part thinner than a voxel, which no SDF grid resolves
    if len(vertices):
        error = IglDistance(mesh_vertices, mesh_faces).unsigned_distance(vertices) * (resolution - 1) / 2 / step
        row["recon_mean"], row["recon_p99"] = float(error.mean()), float(np.percentile(error, 99))
    else:
        row["recon_mean"] = row["recon_p99"] = float("nan")
    row["recon_step"] = step
    return row


def quantiles(values) -> str:
    values = np.asarray([v for v in values if v == v], dtype=float)
    if not len(values):
        return "- | - | -"
    return " | ".join(f"{v:.3g}" for v in (*np.percentile(values, [50, 90]), values.max()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--corpus", action="store_true")
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=Path("sparse_sdf.json"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return 0
    folders = (SHARED, CORPUS) if args.corpus else (SHARED,)
    meshes = sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    meshes = meshes[: args.limit or None]
    results = {}
    for resolution in args.resolutions:
        rows = []
        for path in meshes:
            try:
                done = subprocess.run([sys.executable, __file__, "--child", str(path), str(resolution)],
                                      capture_output=True, text=True, timeout=args.timeout)
                row = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {
                    "error": (done.stderr.strip().splitlines() or ["?"])[-1]}
            except subprocess.TimeoutExpired:
                row = {"error": "timeout"}
            row["mesh"] = path.relative_to(SHARED.parent).as_posix()
            rows.append(row)
            print(json.dumps(row), flush=True)
        good = [row for row in rows if "error" not in row]
        print(f"\n## resolution {resolution}: {len(good)} objects ({len(rows) - len(good)} failed)")
        print("| figure | p50 | p90 | max |\n| --- | --- | --- | --- |")
        total = [r["seconds_watertight"] + r["seconds_sparse"] for r in good]
        for name, values in (("seconds, watertight + sparse", total),
                             ("seconds, watertight step", [r["seconds_watertight"] for r in good]),
                             ("seconds, sparse step", [r["seconds_sparse"] for r in good]),
                             ("peak RSS, the larger step's (MB)", [r["rss_mb"] for r in good]),
                             ("peak RSS, watertight step (MB)", [r["rss_watertight_mb"] for r in good]),
                             ("peak RSS, sparse step as its own job (MB)", [r["rss_sparse_mb"] for r in good]),
                             ("active voxels", [r["active"] for r in good]),
                             *((f"MB per object, {s} {c}", [r[f"bytes_{s}_{c}"] / 1e6 for r in good]) for s, c in STORAGES),
                             ("int8 error (voxels)", [r["int8_error_max"] for r in good]),
                             ("reconstruction mean (voxels)", [r["recon_mean"] for r in good]),
                             ("reconstruction p99 (voxels)", [r["recon_p99"] for r in good])):
            print(f"| {name} | {quantiles(values)} |")
        for limit in (2000, 3000):
            over = sorted((r for r in good if r["rss_mb"] > limit), key=lambda r: -r["rss_mb"])
            print(f"objects above {limit} MB: {len(over)}" + "".join(
                f"; {r['mesh']} watertight {r['rss_watertight_mb']:.0f}, sparse {r['rss_sparse_mb']:.0f}" for r in over))
        for row in rows:
            if "error" in row:
                print(f"failed: {row['mesh']}: {row['error']}")
            elif row["inside_voxels"] == 0:
                print(f"no grid point inside: {row['mesh']} (thinner than a voxel: marching cubes of the SDF loses it)")
        results[resolution] = rows
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
