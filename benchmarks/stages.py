"""Per-object wall time of each stage on the shared meshes, plus the dense recipe as a peer.

For every mesh in ../shared/meshes this runs the same package functions the
Snakemake jobs call (load+normalize, watertight, validate, sample) at the
given resolution and prints one row per mesh and a median row. In the same
run it times the seed's dense recipe (dense UDF with the same libigl AABB,
scipy flood fill, PyMCubes) on the same meshes and prints the ratio.

    python benchmarks/stages.py [--resolution 256] [--dense-peer]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from shapeprep.build.provenance import object_rng
from shapeprep.geometry.grid import grid_spacing
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.geometry.validate import surface_deviation, validate_mesh
from shapeprep.samples.sampling import sample_object
from shapeprep.status import MeshError
from shapeprep.watertight import watertight_mesh
from shapeprep.watertight.reference import exterior_mask

SHARED = Path(__file__).resolve().parents[2] / "shared" / "meshes"
REPO = Path(__file__).resolve().parents[1]


def default_sample_params() -> dict:
    """The ``sample`` section of config/config.yaml: the set the example build writes."""
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["sample"]


def dense_recipe(vertices, faces, resolution, eps_voxels=1.0):
    """The seed recipe: UDF at every grid point, flood fill, marching cubes."""
    import mcubes

    from shapeprep.geometry.distance import IglDistance

    axis = np.linspace(-1, 1, resolution)
    grid = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    udf = IglDistance(vertices, faces).unsigned_distance(grid).reshape((resolution,) * 3)
    eps = eps_voxels * grid_spacing(resolution)
    shell = udf < eps
    sdf = (udf - eps).astype(np.float32)
    inside = ~exterior_mask(shell) & ~shell
    sdf[inside] *= -1
    return mcubes.marching_cubes(sdf, 0.0)


def mesh_files():
    suffixes = {".obj", ".glb", ".gltf", ".ply", ".stl", ".off", ".fbx"}
    return sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in suffixes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--dense-peer", action="store_true", help="also time the dense recipe (slow)")
    parser.add_argument("--only", nargs="*", default=None, help="mesh names to run (default: all)")
    args = parser.parse_args()
    sample_params = default_sample_params()
    header = f"{'mesh':34s} {'src F':>8s} {'wt F':>9s} {'load+norm':>9s} {'watertight':>10s} {'validate':>8s} {'sample':>7s} {'valid':>5s} {'chamfer':>7s}"
    if args.dense_peer:
        header += f" {'dense':>7s} {'speedup':>7s}"
    print(f"resolution {args.resolution}; seconds per object\n{header}")
    rows = []
    for path in mesh_files():
        name = path.relative_to(SHARED).as_posix()
        if args.only and name not in args.only:
            continue
        start = time.perf_counter()
        try:
            mesh = normalize_mesh(*load_mesh(path))
        except MeshError as error:
            print(f"{name:34s} refused: {error.reason}")
            continue
        t_norm = time.perf_counter() - start
        start = time.perf_counter()
        result = watertight_mesh(mesh.vertices, mesh.faces, args.resolution)
        t_wt = time.perf_counter() - start
        start = time.perf_counter()
        record = validate_mesh(result.vertices, result.faces)
        deviation = surface_deviation(result.vertices, result.faces, mesh.vertices, mesh.faces,
                                      grid_spacing(args.resolution), 20000, np.random.default_rng(0))
        t_val = time.perf_counter() - start
        start = time.perf_counter()
        sample_object(result.vertices, result.faces, mesh.vertices, mesh.faces, sample_params,
                      object_rng(name, sample_params))
        t_sample = time.perf_counter() - start
        row = [t_norm, t_wt, t_val, t_sample]
        line = (f"{name:34s} {len(mesh.faces):8d} {len(result.faces):9d} {t_norm:9.2f} {t_wt:10.2f} {t_val:8.2f} "
                f"{t_sample:7.2f} {str(not record['reasons']):>5s} {deviation['chamfer']:7.2f}")
        if args.dense_peer:
            start = time.perf_counter()
            dense_recipe(mesh.vertices, mesh.faces, args.resolution)
            t_dense = time.perf_counter() - start
            row += [t_dense, t_dense / t_wt]
            line += f" {t_dense:7.2f} {t_dense / t_wt:6.1f}x"
        rows.append(row)
        print(line, flush=True)
    medians = np.median(np.array(rows), axis=0)
    line = f"{'median':34s} {'':8s} {'':9s} {medians[0]:9.2f} {medians[1]:10.2f} {medians[2]:8.2f} {medians[3]:7.2f}"
    if args.dense_peer:
        line += f" {'':5s} {'':7s} {medians[4]:7.2f} {medians[5]:6.1f}x"
    print(line)


if __name__ == "__main__":
    main()
