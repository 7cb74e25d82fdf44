"""Hole filling: the narrow-holes fill against the former winding-number fill, in the same run (not a timed test).

Over the labelled set (tests/fill_cases.py: holes punched at known widths,
flipped windings, open containers and sheets) and every mesh of
../shared/meshes + ../shared/corpus, at each resolution, each object is made
watertight with ``fill_holes`` = ``narrow_holes`` (the default),
``winding_number`` (the former default) and ``none``, each in a fresh
subprocess with a time limit. Per method it prints:

- labelled set: solid rate on closed-with-holes (volume within 3% of the
  closed original), open rate on containers and sheets (deviation mean
  <= 0.35 and p95 <= 1.5 voxels), cap deviation from the closed original (p99, max);
- corpus: objects whose output has p95 deviation from the source > 1.5 voxels,
  objects validation would drop (two-sided mean deviation > 3 voxels, the
  ``validate.max_chamfer_voxels`` default) among those that pass unfilled,
  how many were filled, reverted, and the seconds of the fill.

    python benchmarks/fill.py [--resolutions 256 512] [--shared-only] [--corpus-only] [--caps] [--limit N] [--timeout 300] [--out fill.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "meshes"
CORPUS = SHARED.parent / "corpus"
SUFFIXES = {".obj", ".glb", ".gltf", ".ply", ".stl", ".off"}
METHODS = ("narrow_holes", "winding_number", "none")
MAX_CHAMFER = 3.0


def mesh_files(shared_only: bool = False) -> list[Path]:
    folders = (SHARED,) if shared_only else (SHARED, CORPUS)
    return sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)


def measure(vertices, faces, resolution: int, method: str, closed=None) -> dict:
    from shapeprep.geometry.distance import IglDistance
    from shapeprep.geometry.grid import grid_spacing
    from shapeprep.geometry.validate import surface_deviation, validate_mesh
    from shapeprep.watertight import watertight_mesh

    start = time.perf_counter()
    result = watertight_mesh(vertices, faces, resolution, fill_holes=method)
    seconds = time.perf_counter() - start
    voxel = grid_spacing(resolution)
    deviation = surface_deviation(result.vertices, result.faces, vertices, faces, voxel, 20000, np.random.default_rng(0))
    v, f = result.vertices, result.faces
    row = {"seconds": seconds, "seconds_fill": result.stats.get("seconds_fill_holes", 0.0),
           "solid": bool(result.stats["solid"]), "reclaimed": int(result.stats["reclaimed_voxels"]),
           "fill": result.stats.get("fill", ""), "valid": validate_mesh(v, f)["reasons"] == [],
           "volume": float(np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6) if len(f) else 0.0,
           **{key: deviation[key] for key in ("to_source_mean", "to_source_p95", "chamfer", "invented_fraction", "invented_area")}}
    if closed is not None:
        to_closed = IglDistance(*closed).unsigned_distance(v) / voxel
        row["to_closed_p99"], row["to_closed_max"] = float(np.percentile(to_closed, 99)), float(to_closed.max())
    return row


def child(args) -> None:
    """One object, every method, in this process; prints JSON."""
    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.nearsurface import set_threads
    from shapeprep.geometry.normalize import normalize_mesh

    set_threads(2)
    if args.case is not None:
        sys.path.insert(0, str(REPO))
        from tests.fill_cases import labelled_cases

        case = labelled_cases(args.resolution)[args.case]
        vertices, faces, closed = case.vertices, case.faces, case.closed
        rows = {"name": case.name, "expect": case.expect}
        if closed is not None:
            rows["closed_volume"] = measure(*closed, args.resolution, "none")["volume"]
    else:
        source = normalize_mesh(*load_mesh(args.mesh))
        vertices, faces, closed = source.vertices, source.faces, None
        rows = {"name": Path(args.mesh).relative_to(SHARED.parent).as_posix()}
    for method in METHODS:
        rows[method] = measure(vertices, faces, args.resolution, method, closed)
    print(json.dumps(rows))


def run_child(extra: list[str], timeout: float) -> dict | None:
    command = [sys.executable, __file__, "--child", *extra]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def labelled_report(rows: list[dict]) -> None:
    print("\nlabelled set")
    print("| method | solid (closed with holes) | same (mixed windings) | open stays open | cap p99 / max to closed original (voxels) | fill s p50 / max |")
    print("| --- | --- | --- | --- | --- | --- |")
    for method in METHODS:
        ok = {"solid": [], "same": [], "open": []}
        caps, seconds = [], []
        for row in rows:
            if "error" in row:
                continue
            result = row[method]
            seconds.append(result["seconds_fill"])
            if row["expect"] in ("solid", "same"):
                ok[row["expect"]].append(result["solid"] and abs(result["volume"] / row["closed_volume"] - 1) <= 0.03)
                caps.append((result["to_closed_p99"], result["to_closed_max"]))
            else:
                ok["open"].append(result["to_source_mean"] <= 0.35 and result["to_source_p95"] <= 1.5)
        cap = f"{max(c[0] for c in caps):.2f} / {max(c[1] for c in caps):.2f}" if caps else "-"
        print(f"| {method} | " + " | ".join(f"{sum(v)}/{len(v)}" for v in ok.values())
              + f" | {cap} | {np.median(seconds):.2f} / {max(seconds):.2f} |")
    for row in rows:
        if "error" in row:
            print(f"  {row.get('name', '?')}: {row['error']}")
            continue
        new, old = row["narrow_holes"], row["winding_number"]
        print(f"  {row['name']:42s} {row['expect']:5s} new: solid={new['solid']!s:5} fill={new['fill']:11s} "
              f"p95={new['to_source_p95']:.2f}  old: solid={old['solid']!s:5} p95={old['to_source_p95']:.2f}")


def corpus_report(rows: list[dict]) -> None:
    good = [row for row in rows if "error" not in row]
    print(f"\ncorpus: {len(good)} objects ({len(rows) - len(good)} failed to load or timed out)")
    print("| method | p95 deviation > 1.5 vox | dropped (chamfer > 3) | of those, pass unfilled | filled | reverted | invented area > 1% | fill s p50 / p90 / max |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for method in METHODS:
        results = [row[method] for row in good]
        plain = [row["none"] for row in good]
        high = sum(r["to_source_p95"] > 1.5 for r in results)
        dropped = [r["chamfer"] > MAX_CHAMFER or not r["valid"] for r in results]
        unfilled_pass = sum(d and p["chamfer"] <= MAX_CHAMFER and p["valid"] for d, p in zip(dropped, plain))
        filled = sum(r["reclaimed"] > 0 for r in results)
        reverted = sum(r["fill"] == "reverted" for r in results)
        invented = sum(r["invented_fraction"] > 0.01 for r in results)
        seconds = np.array([r["seconds_fill"] for r in results]) if results else np.zeros(1)
        print(f"| {method} | {high} ({100 * high / max(len(results), 1):.1f}%) | {sum(dropped)} | {unfilled_pass} | {filled} | "
              f"{reverted} | {invented} | {np.percentile(seconds, 50):.2f} / {np.percentile(seconds, 90):.2f} / {seconds.max():.2f} |")
    worst = sorted(good, key=lambda row: -row["narrow_holes"]["to_source_p95"])[:8]
    print("worst p95 with narrow_holes: " + ", ".join(f"{row['name']} {row['narrow_holes']['to_source_p95']:.2f} "
                                                    f"({row['narrow_holes']['fill']}; none {row['none']['to_source_p95']:.2f})"
                                                    for row in worst))


def caps_report(resolution: int) -> None:
    """Where the caps lie: output vertices farther than a voxel from the holed source, on the labelled cases
    with punched holes; their distance to the winding number's 0.5 level set (``|w - 0.5| / |grad w|``, the
    gradient by central differences over 0.1 voxel) and to the surface the holes removed."""
    import igl

    from shapeprep.geometry.distance import IglDistance
    from shapeprep.geometry.grid import grid_spacing
    from shapeprep.geometry.nearsurface import set_threads
    from shapeprep.watertight import watertight_mesh
    from shapeprep.watertight.holes import oriented_faces
    from tests.fill_cases import labelled_cases

    set_threads(2)
    voxel = grid_spacing(resolution)
    print(f"\ncaps at {resolution}: output vertices farther than 1 voxel from the holed source")
    print("| case | such vertices | to the 0.5 level set p50 / p99 (voxels) | within 0.5 voxel of it | "
          "of the others, within 1.1 voxel of the source | to the removed surface p50 / p99 / max (voxels) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for case in labelled_cases(resolution):
        if case.expect != "solid" or "flipped" in case.name:
            continue
        result = watertight_mesh(case.vertices, case.faces, resolution)
        holed = IglDistance(case.vertices, case.faces)
        points = result.vertices[holed.unsigned_distance(result.vertices) / voxel > 1.0]
        oriented, _ = oriented_faces(case.vertices, case.faces)
        tree = igl.FastWindingNumberBVH()
        tree.init(np.ascontiguousarray(case.vertices), np.ascontiguousarray(oriented))

        def winding(q):
            return tree.winding_number(np.ascontiguousarray(q), 2.0)

        step = 0.1 * voxel
        gradient = np.stack([(winding(points + step * e) - winding(points - step * e)) / (2 * step) for e in np.eye(3)], 1)
        to_level = np.abs(winding(points) - 0.5) / np.maximum(np.linalg.norm(gradient, axis=1), 1e-12) / voxel
        on_level = to_level <= 0.5
        rim = (holed.unsigned_distance(points[~on_level]) / voxel <= 1.1).mean() if (~on_level).any() else 1.0
        removed = IglDistance(*case.closed).unsigned_distance(points) / voxel
        print(f"| {case.name} | {len(points)} | {np.percentile(to_level, 50):.2f} / {np.percentile(to_level, 99):.3g} | "
              f"{on_level.mean():.2f} | {rim:.2f} | {np.percentile(removed, 50):.2f} / {np.percentile(removed, 99):.2f} / "
              f"{removed.max():.2f} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--shared-only", action="store_true", help="../shared/meshes only (no corpus): for 512 on 2 cores")
    parser.add_argument("--corpus-only", action="store_true", help="skip the labelled set")
    parser.add_argument("--caps", action="store_true", help="only where the caps lie (labelled cases with holes)")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=Path("fill.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--resolution", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mesh", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    sys.path.insert(0, str(REPO))
    from tests.fill_cases import labelled_cases

    if args.caps:
        for resolution in args.resolutions:
            caps_report(resolution)
        return 0
    everything = {}
    for resolution in args.resolutions:
        started = time.perf_counter()
        n_cases = 0 if args.corpus_only else len(labelled_cases(resolution))
        labelled = []
        for index in range(n_cases):
            row = run_child(["--resolution", str(resolution), "--case", str(index)], args.timeout)
            labelled.append(row)
            print(json.dumps({"resolution": resolution, "case": index, **row}), flush=True)  # survives a cut run
        meshes = mesh_files(args.shared_only)[: args.limit or None]
        corpus = []
        for path in meshes:
            row = run_child(["--resolution", str(resolution), "--mesh", str(path)], args.timeout)
            row.setdefault("name", path.relative_to(SHARED.parent).as_posix())
            corpus.append(row)
            print(json.dumps({"resolution": resolution, **row}), flush=True)
        print(f"\n## resolution {resolution} ({time.perf_counter() - started:.0f} s)")
        if labelled:
            labelled_report(labelled)
        corpus_report(corpus)
        everything[resolution] = {"labelled": labelled, "corpus": corpus}
        args.out.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
