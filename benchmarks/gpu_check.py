"""One command that proves the cubvh path on a machine with a CUDA GPU (installs nothing).

Needs torch with CUDA and cubvh importable (README "GPU backend"). For every
mesh of ``--meshes`` (default ../shared/meshes) and each resolution it runs
the watertight engine with ``backend="cubvh"`` and ``backend="cpu"`` and
prints one row per run pair: wall time per phase (distance, flood fill, fill
holes, marching cubes, offset), peak GPU memory, the flood-fill path used
(``dense`` is cubvh.floodfill; ``block_graph`` with the fallback reason),
and agreement with the CPU result: vertex-level deviation of the GPU mesh
from the CPU mesh in voxels (mean, max) and whether faces, components and
genus agree. ``fill_holes: none`` runs exercise the dense flood fill; the
default (winding-number fill) runs the block graph on both.

Then it renders the 4-view normal maps both ways (time, identical pixels),
and runs ``tests/test_watertight_torch.py`` (the GPU test included).

It keeps to ``--budget-seconds`` (default 420, so the whole check fits in an
8-minute slot on one H100-class GPU): runs that would start after the budget
are listed as skipped. CPU comparisons at 1024 run on ``--cpu-1024-meshes``
meshes only (the CPU takes 15-55 s per mesh there).

    python benchmarks/gpu_check.py [--resolutions 256 512 1024] [--budget-seconds 420] [--out gpu_check.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "meshes"
SUFFIXES = {".obj", ".glb", ".gltf", ".ply", ".stl", ".off"}
PHASES = ("seconds_distance", "seconds_floodfill", "seconds_fill_holes", "seconds_marching_cubes", "seconds_offset")


def mesh_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())


def run_engine(vertices, faces, resolution: int, backend: str, fill_holes: str) -> dict:
    import torch

    from shapeprep.watertight import watertight_mesh

    if backend == "cubvh":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    result = watertight_mesh(vertices, faces, resolution, backend=backend, fill_holes=fill_holes)
    if backend == "cubvh":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if backend == "cubvh" else 0.0
    return {"result": result, "seconds": seconds, "peak_gib": peak}


def agreement(gpu, cpu, resolution: int) -> dict:
    from shapeprep.geometry.distance import IglDistance
    from shapeprep.geometry.grid import grid_spacing
    from shapeprep.geometry.validate import validate_mesh

    voxel = grid_spacing(resolution)
    deviation = IglDistance(cpu.vertices, cpu.faces).unsigned_distance(gpu.vertices) / voxel
    gpu_record, cpu_record = validate_mesh(gpu.vertices, gpu.faces), validate_mesh(cpu.vertices, cpu.faces)
    return {
        "deviation_mean_vox": float(deviation.mean()),
        "deviation_max_vox": float(deviation.max()),
        "faces_gpu": len(gpu.faces), "faces_cpu": len(cpu.faces),
        "same_components": gpu_record["components"] == cpu_record["components"],
        "same_genus": gpu_record["genus"] == cpu_record["genus"],
        "gpu_valid": gpu_record["reasons"] == [],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meshes", type=Path, default=SHARED)
    parser.add_argument("--resolutions", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--budget-seconds", type=float, default=420.0)
    parser.add_argument("--cpu-1024-meshes", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    args = parser.parse_args()
    began = time.perf_counter()

    import torch

    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.report.render import normal_views
    from shapeprep.status import MeshError
    from shapeprep.watertight.cubvh_backend import cubvh_available

    if not cubvh_available():
        print("gpu_check: cubvh does not import or torch sees no CUDA device; nothing to check", file=sys.stderr)
        return 2
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    meshes = {}
    for path in mesh_paths(args.meshes):
        try:
            source = normalize_mesh(*load_mesh(path))
        except (MeshError, ValueError) as error:
            print(f"skip {path.name}: {error}", flush=True)
            continue
        meshes[path.name] = (source.vertices, source.faces)

    rows, skipped = [], []
    header = (f"{'mesh':28s} {'res':>5s} {'fill':>6s} {'gpu s':>6s} {'cpu s':>6s} {'dist':>5s} {'flood':>5s} {'holes':>5s} "
              f"{'mc':>5s} {'off':>5s} {'GiB':>5s} {'floodfill':>12s} {'dev mean':>8s} {'dev max':>7s} topo  fallback")
    print(header, flush=True)
    for resolution in args.resolutions:
        for fill_holes in (("none", "winding_number") if resolution <= 512 else ("winding_number",)):
            for index, (name, (vertices, faces)) in enumerate(meshes.items()):
                if time.perf_counter() - began > args.budget_seconds:
                    skipped.append(f"{name} {resolution} {fill_holes}")
                    continue
                gpu = run_engine(vertices, faces, resolution, "cubvh", fill_holes)
                compare = resolution < 1024 or index < args.cpu_1024_meshes
                cpu = run_engine(vertices, faces, resolution, "cpu", fill_holes) if compare else None
                stats = gpu["result"].stats
                row = {"mesh": name, "resolution": resolution, "fill_holes": fill_holes, "gpu_seconds": gpu["seconds"],
                       "cpu_seconds": cpu["seconds"] if cpu else None, "peak_gib": gpu["peak_gib"],
                       "floodfill": stats.get("floodfill"), "fallback": stats.get("floodfill_fallback", ""),
                       **{phase: stats.get(phase, 0.0) for phase in PHASES}}
                if cpu:
                    row |= agreement(gpu["result"], cpu["result"], resolution)
                rows.append(row)
                topo = ("ok" if row.get("same_components") and row.get("same_genus") else "DIFF") if cpu else "-"
                print(f"{name[:28]:28s} {resolution:5d} {fill_holes[:6]:>6s} {row['gpu_seconds']:6.2f} "
                      f"{(row['cpu_seconds'] or 0):6.2f} " + " ".join(f"{row[p]:5.2f}" for p in PHASES)
                      + f" {row['peak_gib']:5.2f} {str(row['floodfill']):>12s} "
                      f"{row.get('deviation_mean_vox', float('nan')):8.3f} {row.get('deviation_max_vox', float('nan')):7.2f} "
                      f"{topo:4s}  {row['fallback'][:60]}", flush=True)

    renders = []
    for name, (vertices, faces) in meshes.items():
        if time.perf_counter() - began > args.budget_seconds:
            skipped.append(f"{name} render")
            continue
        timings = {}
        images = {}
        for backend in ("cubvh", "cpu"):
            start = time.perf_counter()
            images[backend] = normal_views(vertices, faces, 256, backend=backend)
            timings[backend] = time.perf_counter() - start
        same = float((images["cubvh"] == images["cpu"]).all(axis=-1).mean())
        renders.append({"mesh": name, "cubvh_seconds": timings["cubvh"], "cpu_seconds": timings["cpu"], "identical_pixels": same})
        print(f"render {name[:28]:28s} cubvh {timings['cubvh']:.3f} s  cpu {timings['cpu']:.3f} s  identical pixels {same:.4f}",
              flush=True)

    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_watertight_torch.py"],
                           cwd=REPO, capture_output=True, text=True)
    print("tests/test_watertight_torch.py:", tests.stdout.strip().splitlines()[-1] if tests.stdout.strip() else tests.stderr[-500:])

    compared = [row for row in rows if "deviation_max_vox" in row]
    summary = {
        "runs": len(rows), "compared": len(compared),
        "topology_differs": [f"{r['mesh']} {r['resolution']} {r['fill_holes']}" for r in compared
                             if not (r["same_components"] and r["same_genus"])],
        "max_deviation_vox": max((r["deviation_max_vox"] for r in compared), default=None),
        "dense_floodfill_runs": sum(r["floodfill"] == "dense" for r in rows),
        "fallbacks": sorted({r["fallback"] for r in rows if r["fallback"]}),
        "tests_returncode": tests.returncode, "skipped_for_budget": skipped,
        "seconds": time.perf_counter() - began,
    }
    print(json.dumps(summary, indent=1))
    args.out.write_text(json.dumps({"rows": rows, "renders": renders, "summary": summary}, indent=1, default=str))
    return 0 if tests.returncode == 0 and not summary["topology_differs"] else 1


if __name__ == "__main__":
    sys.exit(main())
