"""Watertight engine against its peers on the shared meshes (not a timed test).

Every measurement runs in a fresh subprocess so its peak RSS is its own.
For each mesh and resolution it prints wall time, peak RSS, distance queries,
seconds per phase, output faces, validity, deviation from the source (mean
and 95th percentile, both directions, in voxels), and source parts larger
than 3 voxels that the output lost. In the same run it measures the seed's
dense recipe (dense UDF with the same libigl AABB, scipy flood fill, dense
PyMCubes) and ``mesh2sdf.compute(..., fix=True)`` on the first
``--peer-meshes`` meshes and prints the ratios of medians.

    python benchmarks/watertight.py [--resolutions 256 512] [--big-mesh stanford-bunny.obj]
        [--peer-meshes 4] [--dense-resolutions 256] [--mesh2sdf-resolutions 128 256]

``--distribution 256 512`` instead runs every mesh of ../shared/meshes and
../shared/corpus, our engine and (``--peer-timeout`` > 0) today's libigl-AABB
band search on the same object in the same run, and prints p50 / p90 / p99 /
max per phase, microseconds per band voxel and peak RSS:

    python benchmarks/watertight.py --distribution 256 [--threads 2] [--peer-timeout 300] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "meshes"
CORPUS = SHARED.parent / "corpus"
SUFFIXES = {".obj", ".glb", ".gltf", ".ply", ".stl", ".off"}


def mesh_files(*folders: Path) -> list[Path]:
    """Every mesh file a local source would list under ``folders`` (default: the shared meshes)."""
    folders = folders or (SHARED,)
    return sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)


def warm_up_kernels() -> None:
    """Load every compiled kernel from numba's cache before timing: a box open on one side at 32 goes
    through the band, the flood fill, the hole filling and its safety net, marching cubes and the offset
    (a build's worker loads them once for many objects)."""
    from shapeprep.geometry.bvh import TriangleBVH
    from shapeprep.watertight import watertight_mesh

    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4]]  # no +x side
    faces = np.array([[q[0], q[1], q[2]] for q in quads] + [[q[0], q[2], q[3]] for q in quads])
    watertight_mesh(corners, faces, 32)
    watertight_mesh(corners, faces, 32, max_hole_voxels=1.0, max_hole_fraction=0.0)  # left open
    # The safety net's far distances (source points beyond the binned index's reach) use the BVH.
    TriangleBVH(corners, faces).query(corners * 3.0, want_closest=False)


def measure_engines(path: Path, resolution: int, threads: int = 2, peer_timeout: float = 0.0) -> dict:
    """Our engine, then (``peer_timeout`` > 0) today's libigl-AABB band search in the same process.

    Peak RSS is read after our engine ran, before the peer. Both run the same
    flood fill, marching cubes and finish; ``max_diff_voxels`` compares their
    meshes (identical faces and vertices within rounding when the distances are exact).
    """
    import signal

    from shapeprep.geometry.distance import IglDistance
    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.nearsurface import set_threads
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.watertight import WatertightOptions, watertight_mesh
    from shapeprep.watertight.engine import watertight_from_distance

    set_threads(threads)
    source = normalize_mesh(*load_mesh(path))
    warm_up_kernels()
    start = time.perf_counter()
    ours = watertight_mesh(source.vertices, source.faces, resolution)
    row = {"faces_in": len(source.faces), "wall": time.perf_counter() - start,
           "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "faces": len(ours.faces),
           "band_voxels": ours.stats["band_voxels"], "evaluations": ours.stats.get("distance_evaluations", 0),
           "fill": ours.stats.get("fill", ""), "reclaimed_voxels": ours.stats.get("reclaimed_voxels", 0),
           **{key: value for key, value in ours.stats.items() if key.startswith("seconds_")}}
    row["us_per_band_voxel"] = 1e6 * row["seconds_distance"] / max(row["band_voxels"], 1)
    if peer_timeout > 0:
        def give_up(*_):
            raise TimeoutError

        signal.signal(signal.SIGALRM, give_up)
        signal.alarm(int(peer_timeout))
        try:
            start = time.perf_counter()
            peer = watertight_from_distance(IglDistance(source.vertices, source.faces),
                                            WatertightOptions(resolution=resolution))
            row["peer_wall"] = time.perf_counter() - start
            row["peer_seconds_distance"] = peer.stats["seconds_distance"]
            row["peer_us_per_band_voxel"] = 1e6 * peer.stats["seconds_distance"] / max(peer.stats["band_voxels"], 1)
            same = peer.faces.shape == ours.faces.shape and np.array_equal(peer.faces, ours.faces)
            voxel = 2.0 / (resolution - 1)
            row["max_diff_voxels"] = float(np.abs(peer.vertices - ours.vertices).max() / voxel) if same and len(
                ours.faces) else (0.0 if same else float("inf"))
        except TimeoutError:
            row["peer_wall"] = float(peer_timeout)
            row["peer_timeout"] = True
        finally:
            signal.alarm(0)
    return row


def quantiles(values) -> str:
    values = np.asarray([v for v in values if v == v], dtype=float)
    if not len(values):
        return "| - | - | - | - |"
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return f"| {p50:.3g} | {p90:.3g} | {p99:.3g} | {values.max():.3g} |"


def distribution(resolution: int, threads: int, peer_timeout: float, timeout: float, limit: int | None,
                 folders=(SHARED, CORPUS), out: Path | None = None) -> None:
    """p50 / p90 / p99 / max per phase over the shared meshes and the corpus, ours and the libigl AABB peer."""
    files = mesh_files(*folders)[:limit]
    rows, failed = {}, {}
    for path in files:
        command = [sys.executable, __file__, "--engines", str(path), str(resolution), str(threads), str(peer_timeout)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            failed[path.name] = f"timeout {timeout:.0f}s"
            continue
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            failed[path.name] = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:80]
            continue
        row = rows[path.relative_to(SHARED.parent).as_posix()] = json.loads(lines[-1])
        print(f"{path.name}: ours {row['wall']:.2f}s (distance {row['seconds_distance']:.2f}s), peer "
              f"{row.get('peer_wall', float('nan')):.2f}s, {row['rss_mb']:.0f} MB", file=sys.stderr, flush=True)
    print(f"\n### watertight at {resolution}: {len(rows)} objects of {len(files)} "
          f"({' + '.join(folder.name for folder in folders)}), "
          f"{threads} threads\n")
    print("| figure | p50 | p90 | p99 | max |")
    print("|---|---|---|---|---|")
    phases = ["wall", "seconds_distance", "seconds_floodfill", "seconds_fill_holes", "seconds_marching_cubes",
              "seconds_offset", "us_per_band_voxel", "rss_mb"]
    if peer_timeout > 0:
        phases += ["peer_wall", "peer_seconds_distance", "peer_us_per_band_voxel"]
    for key in phases:
        print(f"| {key} " + quantiles(row.get(key, float("nan")) for row in rows.values()))
    if peer_timeout > 0:
        both = [row for row in rows.values() if "peer_seconds_distance" in row]
        ratio = [row["peer_wall"] / row["wall"] for row in rows.values() if "peer_wall" in row]
        dist_ratio = [row["peer_seconds_distance"] / max(row["seconds_distance"], 1e-9) for row in both]
        print("| peer / ours, wall " + quantiles(ratio))
        print("| peer / ours, distance " + quantiles(dist_ratio))
        diffs = [row["max_diff_voxels"] for row in both]
        timeouts = sum(bool(row.get("peer_timeout")) for row in rows.values())
        differing = [f"{name} ({row['max_diff_voxels']:.2g})" for name, row in rows.items()
                     if row.get("max_diff_voxels", 0) > 0.05]
        print(f"\nmeshes identical to the peer's (same faces, vertices within 0.05 voxel): "
              f"{sum(d <= 0.05 for d in diffs)}/{len(diffs)}; largest difference {max(diffs, default=0):.2g} voxel"
              f"{' (' + ', '.join(differing) + ')' if differing else ''}; "
              f"peer timed out (>{peer_timeout:.0f} s, counted at the limit): {timeouts}")
    slowest = sorted(rows.items(), key=lambda item: -item[1]["wall"])[:8]
    print("\nslowest: " + "; ".join(
        f"{name} {row['wall']:.1f}s (distance {row['seconds_distance']:.1f}, offset {row['seconds_offset']:.1f}, "
        f"mc {row['seconds_marching_cubes']:.1f}, fill {row['seconds_fill_holes']:.1f}, {row['faces_in']:,} faces in)"
        for name, row in slowest))
    if failed:
        print("not measured: " + "; ".join(f"{name}: {why}" for name, why in failed.items()))
    if out is not None:
        out.write_text(json.dumps({"resolution": resolution, "rows": rows, "failed": failed}, indent=1))


def lost_parts(source_vertices, source_faces, out_vertices, out_faces, voxel, eps) -> tuple[int, int]:
    """Source components larger than 3 voxels, and how many of them the output misses.

    A part is lost when the median distance from points on it to the output
    exceeds ``eps + 2`` voxels and they are not inside the output either
    (parts enclosed by other parts become solid interior, which is kept).
    """
    from shapeprep.geometry.distance import IglDistance
    from shapeprep.geometry.surface import sample_surface
    from shapeprep.geometry.topology import face_components

    n_parts, label = face_components(source_faces, len(source_vertices))
    distance = IglDistance(out_vertices, out_faces)
    rng = np.random.default_rng(0)
    big, lost = 0, 0
    for part in range(n_parts):
        faces = source_faces[label == part]
        corners = source_vertices[np.unique(faces)]
        if np.ptp(corners, axis=0).max() <= 3 * voxel:
            continue
        big += 1
        points, _ = sample_surface(source_vertices, faces, 200, rng)
        far = np.median(distance.unsigned_distance(points)) > eps + 2 * voxel
        if far and np.median(distance.winding_number(points)) < 0.5:
            lost += 1
    return big, lost


def measure_ours(path: Path, resolution: int) -> dict:
    from shapeprep.geometry.grid import grid_spacing
    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.geometry.validate import surface_deviation, validate_mesh
    from shapeprep.watertight import watertight_mesh

    source = normalize_mesh(*load_mesh(path))
    start = time.perf_counter()
    result = watertight_mesh(source.vertices, source.faces, resolution)
    wall = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    voxel = grid_spacing(resolution)
    record = validate_mesh(result.vertices, result.faces)
    deviation = surface_deviation(
        result.vertices, result.faces, source.vertices, source.faces, voxel, 20000, np.random.default_rng(0)
    )
    parts, lost = lost_parts(source.vertices, source.faces, result.vertices, result.faces, voxel, result.stats["eps"])
    stats = result.stats
    return {
        "wall": wall,
        "rss_mb": rss,
        "queries": stats["distance_queries"],
        "t_dist": stats["seconds_distance"],
        "t_flood": stats["seconds_floodfill"] + stats["seconds_fill_holes"],
        "t_mc": stats["seconds_marching_cubes"],
        "t_offset": stats["seconds_offset"],
        "faces": len(result.faces),
        "valid": not record["reasons"],
        "solid": stats["solid"],
        "genus": record["genus"],
        "dev_out_mean": deviation["to_source_mean"],
        "dev_out_p95": deviation["to_source_p95"],
        "dev_src_mean": deviation["from_source_mean"],
        "dev_src_p95": deviation["from_source_p95"],
        "parts": parts,
        "lost": lost,
    }


def measure_dense(path: Path, resolution: int) -> dict:
    """The seed recipe: exact UDF at every grid point, dense flood fill, dense marching cubes."""
    import mcubes

    from shapeprep.geometry.distance import IglDistance
    from shapeprep.geometry.grid import grid_spacing
    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.watertight.reference import exterior_mask

    source = normalize_mesh(*load_mesh(path))
    start = time.perf_counter()
    axis = np.linspace(-1, 1, resolution)
    distance = IglDistance(source.vertices, source.faces)
    udf = np.empty((resolution,) * 3, dtype=np.float32)
    for i in range(resolution):  # slab by slab, as the reference scripts do
        plane = np.stack(np.meshgrid([axis[i]], axis, axis, indexing="ij"), -1).reshape(-1, 3)
        udf[i] = distance.unsigned_distance(plane).reshape(resolution, resolution)
    eps = grid_spacing(resolution)
    shell = udf < eps
    sdf = udf - np.float32(eps)
    sdf[~exterior_mask(shell) & ~shell] *= -1
    vertices, faces = mcubes.marching_cubes(sdf, 0.0)
    wall = time.perf_counter() - start
    return {"wall": wall, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "faces": len(faces)}


def measure_mesh2sdf(path: Path, resolution: int) -> dict:
    import mesh2sdf

    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.geometry.validate import validate_mesh

    source = normalize_mesh(*load_mesh(path))
    start = time.perf_counter()
    _, mesh = mesh2sdf.compute(source.vertices, source.faces, resolution, fix=True, level=2 / resolution, return_mesh=True)
    wall = time.perf_counter() - start
    record = validate_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces))
    return {
        "wall": wall,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "faces": len(mesh.faces),
        "valid": not record["reasons"],
    }


METHODS = {"ours": measure_ours, "dense": measure_dense, "mesh2sdf": measure_mesh2sdf}


def run_isolated(method: str, path: Path, resolution: int, timeout: float) -> dict | None:
    """One measurement in a fresh interpreter (own peak RSS); None on failure or timeout."""
    command = [sys.executable, __file__, "--one", method, str(path), str(resolution)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout {timeout:.0f}s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def print_ours(rows: dict, resolution: int) -> None:
    columns = [
        "wall", "rss_mb", "queries", "t_dist", "t_flood", "t_mc", "t_offset", "faces", "valid", "solid",
        "dev_out_mean", "dev_out_p95", "dev_src_mean", "dev_src_p95", "parts", "lost",
    ]
    print(f"\n### ours at {resolution}\n")
    print(format_row(["mesh"] + columns))
    print(format_row(["---"] * (len(columns) + 1)))
    for name, row in rows.items():
        if "error" in row:
            print(format_row([name, row["error"]] + [""] * (len(columns) - 1)))
            continue
        cells = []
        for key in columns:
            value = row[key]
            cells.append(f"{value:.2f}" if isinstance(value, float) else str(value))
        print(format_row([name] + cells))
    good = [r for r in rows.values() if "error" not in r]
    medians = [f"{statistics.median(r[k] for r in good):.2f}" if isinstance(good[0][k], (int, float)) and not isinstance(good[0][k], bool) else "" for k in columns]
    medians[columns.index("valid")] = f"{sum(r['valid'] for r in good)}/{len(good)}"
    medians[columns.index("solid")] = f"{sum(r['solid'] for r in good)}/{len(good)}"
    medians[columns.index("lost")] = str(sum(r["lost"] for r in good))
    print(format_row(["**median**"] + medians))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", nargs=3, metavar=("METHOD", "PATH", "RES"), help=argparse.SUPPRESS)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--big-mesh", default="stanford-bunny.obj", help="Also run this mesh at 1024.")
    parser.add_argument("--peer-meshes", type=int, default=4, help="Meshes the peers run on (they are slow).")
    parser.add_argument("--peers", nargs="*", default=["stanford-bunny.obj", "fandisk.obj", "suzanne.obj", "spot.obj"])
    parser.add_argument("--dense-resolutions", type=int, nargs="*", default=[256])
    parser.add_argument("--mesh2sdf-resolutions", type=int, nargs="*", default=[128, 256])
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--engines", nargs=4, metavar=("PATH", "RES", "THREADS", "PEER_TIMEOUT"), help=argparse.SUPPRESS)
    parser.add_argument("--distribution", type=int, nargs="*", metavar="RES",
                        help="Only the distribution over meshes + corpus at these resolutions.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--peer-timeout", type=float, default=300,
                        help="Seconds the libigl-AABB peer may take per object in --distribution (0: no peer).")
    parser.add_argument("--limit", type=int, default=None, help="First N files of the distribution only.")
    parser.add_argument("--shared-only", action="store_true", help="Distribution over ../shared/meshes only.")
    parser.add_argument("--out", type=Path, default=None, help="--distribution: per-object rows as JSON (RES is appended).")
    args = parser.parse_args()
    if args.engines:
        path, resolution, threads, peer_timeout = args.engines
        print(json.dumps(measure_engines(Path(path), int(resolution), int(threads), float(peer_timeout))))
        return
    if args.distribution is not None:
        for resolution in args.distribution or [256]:
            distribution(resolution, args.threads, args.peer_timeout, args.timeout, args.limit,
                         (SHARED,) if args.shared_only else (SHARED, CORPUS),
                         args.out.with_suffix(f".{resolution}.json") if args.out else None)
        return
    if args.one:
        method, path, resolution = args.one
        print(json.dumps(METHODS[method](Path(path), int(resolution))))
        return

    files = mesh_files()
    ours = {}
    for resolution in args.resolutions:
        ours[resolution] = {p.relative_to(SHARED).as_posix(): run_isolated("ours", p, resolution, args.timeout) for p in files}
        print_ours(ours[resolution], resolution)
    if args.big_mesh:
        big = run_isolated("ours", SHARED / args.big_mesh, 1024, args.timeout)
        print_ours({args.big_mesh: big}, 1024)

    peers = args.peers[: args.peer_meshes]
    print("\n### peers on the same meshes (ratio = peer wall / our wall, median over meshes)\n")
    print(format_row(["peer", "res", "meshes", "peer wall (median s)", "ours wall (median s)", "speed ratio", "peer RSS MB", "ours RSS MB", "notes"]))
    print(format_row(["---"] * 9))
    for method, resolutions in (("dense", args.dense_resolutions), ("mesh2sdf", args.mesh2sdf_resolutions)):
        for resolution in resolutions:
            ours_rows = ours.get(resolution) or {name: run_isolated("ours", SHARED / name, resolution, args.timeout) for name in peers}
            results = {name: run_isolated(method, SHARED / name, resolution, args.timeout) for name in peers}
            ok = [n for n in peers if "error" not in results[n] and "error" not in ours_rows[n]]
            if not ok:
                print(format_row([method, str(resolution), "0", "", "", "", "", "", "; ".join(r.get("error", "") for r in results.values())]))
                continue
            peer_wall = statistics.median(results[n]["wall"] for n in ok)
            our_wall = statistics.median(ours_rows[n]["wall"] for n in ok)
            ratios = [results[n]["wall"] / ours_rows[n]["wall"] for n in ok]
            notes = ", ".join(f"{n}: {results[n]['wall']:.1f}s" + ("" if results[n].get("valid", True) else " invalid") for n in ok)
            print(format_row([
                method, str(resolution), str(len(ok)), f"{peer_wall:.2f}", f"{our_wall:.2f}",
                f"{statistics.median(ratios):.1f}x", f"{statistics.median(results[n]['rss_mb'] for n in ok):.0f}",
                f"{statistics.median(ours_rows[n]['rss_mb'] for n in ok):.0f}", notes,
            ]))


if __name__ == "__main__":
    main()
