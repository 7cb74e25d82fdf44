"""Sampling speed, salient-edge quality and reader throughput on the shared meshes (not a timed test).

Three parts, each printing a table:

``objects``
    Seconds per object for the default sample set of config/config.yaml
    (64k surface + 64k salient + 500k SDF queries) on every loadable shared
    mesh (``--corpus``: and every corpus mesh), with the phases and their
    p50 / p90 / p99 / max; target: median at most 1 s, max 5 s. Watertight meshes are
    made first at ``--resolution`` (not timed) and cached in ``--cache``.
    In the same run, the same 500k queries are labelled the way
    Hunyuan3D-2.1's sampling script does it (``igl.signed_distance`` with the
    fast-winding-number sign, one call per query set) as the peer for the
    labelling phase.
``salient``
    Salient edges detected on the source against the watertight mesh, and the
    numpy engine against meshiki: how many of the points lie within one voxel
    of a sharp edge of the source (precision), how much of the source's sharp
    edge length has a point within one voxel (coverage), and time.
``reader``
    Items per second through :class:`shapeprep.samples.data.ShardDataset` with its
    default subsample sizes, with 0 and 2 DataLoader workers, against the same
    data read from per-object npz files in Dora's layout with Dora's loading
    recipe (``np.load`` + random choice), in the same run. It also compares
    shard layouts (per-object groups against concatenated datasets with an
    offsets table; chunking, compression, float16) by random-item read speed
    and file size.

    python benchmarks/sampling.py [objects] [salient] [reader] [--resolution 256] [--cache DIR] [--corpus]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "meshes"
CORPUS = SHARED.parent / "corpus"
REPO = Path(__file__).resolve().parents[1]
SUFFIXES = {".obj", ".glb", ".gltf", ".ply", ".stl", ".off"}


def default_sample_params() -> dict:
    """The ``sample`` section of config/config.yaml."""
    import yaml

    return yaml.safe_load((REPO / "config" / "config.yaml").read_text())["sample"]


def prepared_meshes(resolution: int, cache: Path, folders=(SHARED,)) -> list[tuple[str, dict]]:
    """(name, {source_vertices, source_faces, vertices, faces}) for every loadable mesh under ``folders``."""
    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.status import MeshError
    from shapeprep.watertight import watertight_mesh

    cache.mkdir(parents=True, exist_ok=True)
    meshes = []
    for path in sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES):
        name = path.relative_to(SHARED if path.is_relative_to(SHARED) else SHARED.parent).as_posix()
        stored = cache / f"{name.replace('/', '__')}.{resolution}.npz"
        if not stored.exists():
            try:
                source = normalize_mesh(*load_mesh(path))
            except MeshError:
                continue
            result = watertight_mesh(source.vertices, source.faces, resolution)
            np.savez(stored, source_vertices=source.vertices, source_faces=source.faces,
                     vertices=result.vertices, faces=result.faces)
        with np.load(stored) as data:
            meshes.append((name, {key: data[key] for key in data.files}))
    return meshes


def part_objects(meshes) -> None:
    from shapeprep.build.provenance import object_rng
    from shapeprep.samples.sampling import sample_object

    params = default_sample_params()
    warm_up_kernels(params)
    queries = params["volume_points"] + sum(
        len(params[f"near_{kind}_sigmas"]) * params[f"near_{kind}_points_per_sigma"] for kind in ("surface", "salient")
    )
    print(f"\n## Per-object sampling: {params['surface_points']} surface + {params['salient_points']} salient "
          f"+ {queries} SDF queries (engine {params['salient_engine']}, salient on {params['salient_mesh']})")
    phases = ["trees", "surface", "salient", "volume_sdf", "near_sdf", "pack"]
    print(f"| mesh | watertight faces | total s | {' | '.join(phases)} | salient edges | fallback | peer labelling s | ours: trees+sdf s | ratio |")
    print("|---|---|---|" + "---|" * len(phases) + "---|---|---|---|---|")
    totals, ratios, rows = [], [], []
    for name, mesh in meshes:
        salient_mesh = (mesh["source_vertices"], mesh["source_faces"]) if params["salient_mesh"] == "source" else (mesh["vertices"], mesh["faces"])
        start = time.perf_counter()
        arrays, metrics = sample_object(mesh["vertices"], mesh["faces"], *salient_mesh, params, object_rng(name, params))
        total = time.perf_counter() - start
        totals.append(total)
        rows.append(metrics)
        peer = peer_labelling_seconds(mesh["vertices"], mesh["faces"], arrays)
        ours = metrics["seconds_trees"] + metrics["seconds_volume_sdf"] + metrics["seconds_near_sdf"]
        ratios.append(peer / ours)
        cells = " | ".join(f"{metrics[f'seconds_{phase}']:.2f}" for phase in phases)
        print(f"| {name} | {len(mesh['faces'])} | {total:.2f} | {cells} | {metrics['salient_edges']} | "
              f"{metrics['salient_fallback']} | {peer:.2f} | {ours:.2f} | {peer / ours:.1f}x |", flush=True)
    print(f"\nmedian {statistics.median(totals):.2f} s, p90 {np.percentile(totals, 90):.2f} s, max {max(totals):.2f} s "
          f"over {len(totals)} objects (target: median <= 1 s, max <= 5 s); labelling {statistics.median(ratios):.1f}x "
          f"faster than the peer's (median ratio)\n")
    print("| phase | p50 s | p90 s | p99 s | max s |")
    print("|---|---|---|---|---|")
    for phase in ["total"] + phases:
        values = totals if phase == "total" else [row[f"seconds_{phase}"] for row in rows]
        p50, p90, p99 = np.percentile(values, [50, 90, 99])
        print(f"| {phase} | {p50:.2f} | {p90:.2f} | {p99:.2f} | {max(values):.2f} |")


def warm_up_kernels(params: dict) -> None:
    """Load every compiled kernel the sample stage uses from numba's cache (compiling it on a fresh checkout)
    before timing, on a cube (sharp edges: the salient path too), so the first object's time is its own."""
    import trimesh

    from shapeprep.samples.sampling import sample_object

    cube = trimesh.creation.box()
    small = params | {key: 256 for key in ("surface_points", "salient_points", "volume_points",
                                            "near_surface_points_per_sigma", "near_salient_points_per_sigma")}
    sample_object(cube.vertices, cube.faces, cube.vertices, cube.faces, small, np.random.default_rng(0))


def peer_labelling_seconds(vertices, faces, arrays) -> float:
    """Hunyuan3D-2.1's labelling: one igl.signed_distance (fast winding number) call per query set."""
    import igl

    start = time.perf_counter()
    for key in ("volume", "near_surface", "near_salient"):
        igl.signed_distance(arrays[key][:, :3].astype(np.float64), vertices, faces,
                            sign_type=igl.SIGNED_DISTANCE_TYPE_FAST_WINDING_NUMBER)
    return time.perf_counter() - start


def part_salient(meshes, resolution: int) -> None:
    from scipy.spatial import cKDTree

    from shapeprep.geometry.grid import grid_spacing
    from shapeprep.samples.salient import meshiki_available, nearest_edge, salient_edges, sample_salient

    params = default_sample_params()
    count, angle = 16384, params["salient_angle_deg"]
    voxel = grid_spacing(resolution)
    engines = ["numpy"] + (["meshiki"] if meshiki_available() else [])
    print(f"\n## Salient points ({count}, {angle} deg): precision and coverage within 1 voxel of the source's sharp edges")
    print("| mesh | source sharp edges | " + " | ".join(f"{m}/{e} prec | cov | s" for m in ("source", "watertight") for e in engines) + " |")
    print("|---|---|" + "---|---|---|" * (2 * len(engines)))
    summary = {}
    for name, mesh in meshes:
        source_v, source_f = mesh["source_vertices"], mesh["source_faces"]
        truth, _ = salient_edges(source_v, source_f, angle)
        if len(truth) == 0:
            continue
        start, end = source_v[truth[:, 0]], source_v[truth[:, 1]]
        lengths = np.linalg.norm(end - start, axis=1)
        # Points along the true sharp edges, one per half voxel, to measure coverage.
        steps = np.maximum(1, np.ceil(lengths / (0.5 * voxel)).astype(int))
        owner = np.repeat(np.arange(len(truth)), steps)
        t = (np.arange(len(owner)) - np.repeat(np.cumsum(steps) - steps, steps) + 0.5) / np.repeat(steps, steps)
        along = start[owner] + t[:, None] * (end - start)[owner]
        cells = []
        for mesh_kind in ("source", "watertight"):
            v, f = (source_v, source_f) if mesh_kind == "source" else (mesh["vertices"], mesh["faces"])
            for engine in engines:
                begin = time.perf_counter()
                sample = sample_salient(v, f, count, angle, np.random.default_rng(0), engine)
                seconds = time.perf_counter() - begin
                if len(sample.points) == 0:
                    cells.append("- | - | -")
                    continue
                _, distance = nearest_edge(source_v, truth, sample.points)
                precision = float((distance < voxel).mean())
                coverage = float(np.average(cKDTree(sample.points).query(along)[0] < voxel, weights=lengths[owner] / steps[owner]))
                summary.setdefault((mesh_kind, engine), []).append((precision, coverage, seconds))
                cells.append(f"{precision:.2f} | {coverage:.2f} | {seconds:.2f}")
        print(f"| {name} | {len(truth)} | " + " | ".join(cells) + " |", flush=True)
    print("\n| detected on / engine | median precision | median coverage | median s |\n|---|---|---|---|")
    for (mesh_kind, engine), rows in summary.items():
        p, c, s = np.median(np.array(rows), axis=0)
        print(f"| {mesh_kind} / {engine} | {p:.2f} | {c:.2f} | {s:.2f} |")


def write_dora_npz(folder: Path, object_id: str, arrays: dict) -> Path:
    """One object in Dora's npz layout (shapeprep.samples.export), as Dora's loader reads it."""
    from shapeprep.samples.export import dora_arrays

    path = folder / f"{object_id}.npz"
    np.savez(path, **dora_arrays(arrays))
    return path


class DoraNpzDataset:
    """Dora's loading recipe on per-object npz files: load every array, then random subsets."""

    def __init__(self, paths, surface_points, query_points):
        self.paths, self.surface_points, self.query_points = list(paths), surface_points, query_points

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        import torch

        data = np.load(self.paths[index])
        rng = np.random.default_rng()
        coarse = data["fps_coarse_surface"][:, 0]
        sharp = data["fps_sharp_surface"][:, 0]
        rand_points = data["rand_points"]
        sharp_near = data["sharp_near_surface"]
        half = self.surface_points // 2
        queries = np.concatenate([rand_points, sharp_near])
        chosen = queries[rng.choice(len(queries), self.query_points, replace=False)]
        return {
            "surface": torch.from_numpy(coarse[rng.choice(len(coarse), half, replace=False)]),
            "salient": torch.from_numpy(sharp[rng.choice(len(sharp), half, replace=False)]),
            "query_points": torch.from_numpy(chosen[:, :3]),
            "query_sdf": torch.from_numpy(chosen[:, 3]),
        }


def items_per_second(dataset, workers: int, epochs: int = 2) -> float:
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_size=8, shuffle=True, num_workers=workers, persistent_workers=workers > 0)
    for _ in loader:  # warm-up epoch: worker start, page cache
        pass
    start = time.perf_counter()
    for _ in range(epochs):
        for _ in loader:
            pass
    return epochs * len(dataset) / (time.perf_counter() - start)


def part_reader(meshes, objects: int) -> None:
    import h5py

    from shapeprep.build.provenance import object_rng
    from shapeprep.samples.data import DEFAULT_COUNTS, ShardDataset
    from shapeprep.samples.sampling import sample_object
    from shapeprep.samples.shards import write_shard_arrays

    params = default_sample_params()
    folder = Path(tempfile.mkdtemp(prefix="shapeprep-reader-"))
    base = []
    for name, mesh in meshes[: min(6, len(meshes))]:
        arrays, _ = sample_object(mesh["vertices"], mesh["faces"], mesh["source_vertices"], mesh["source_faces"],
                                  params, object_rng(name, params))
        base.append(arrays)
    # Replicate with a per-copy jitter so no two objects share bytes.
    items = [(f"object{i:04d}", {k: v + np.float32(i * 1e-6) for k, v in base[i % len(base)].items()}) for i in range(objects)]
    npz_folder = folder / "dora"
    npz_folder.mkdir()
    npz_paths = [write_dora_npz(npz_folder, object_id, arrays) for object_id, arrays in items]

    layouts = {
        "concatenated, contiguous float32 (default)": dict(layout="concatenated", dtype="float32", compression=None),
        "concatenated, contiguous float16": dict(layout="concatenated", dtype="float16", compression=None),
        "concatenated, chunked 16k rows, lzf": dict(layout="concatenated", dtype="float32", compression="lzf"),
        "concatenated, chunked 16k rows, gzip": dict(layout="concatenated", dtype="float32", compression="gzip"),
        "per-object groups, contiguous float32": dict(layout="groups", dtype="float32", compression=None),
    }
    counts = DEFAULT_COUNTS
    query_total = counts["volume"] + counts["near_surface"] + counts["near_salient"]
    print(f"\n## Reader: {objects} objects, per item {counts['surface']} surface + {counts['salient']} salient "
          f"+ {query_total} SDF queries, batch 8; files in page cache")
    print("| data | MB on disk | items/s, 0 workers | items/s, 2 workers | ratio to Dora npz (0 / 2 workers) |\n|---|---|---|---|---|")
    npz_mb = sum(p.stat().st_size for p in npz_paths) / 1e6
    dora = DoraNpzDataset(npz_paths, counts["surface"] + counts["salient"], query_total)
    dora_rates = [items_per_second(dora, workers) for workers in (0, 2)]
    print(f"| Dora npz per object (np.load + random choice) | {npz_mb:.0f} | {dora_rates[0]:.1f} | {dora_rates[1]:.1f} | 1.0 / 1.0 |", flush=True)
    for label, options in layouts.items():
        path = folder / f"{options['layout']}-{options['dtype']}-{options['compression']}.h5"
        write_shard_arrays(path, items, {"shard": "bench"}, **options)
        dataset = ShardDataset([path])
        rates = [items_per_second(dataset, workers) for workers in (0, 2)]
        mb = path.stat().st_size / 1e6
        print(f"| {label} | {mb:.0f} | {rates[0]:.1f} | {rates[1]:.1f} | "
              f"{rates[0] / dora_rates[0]:.1f} / {rates[1] / dora_rates[1]:.1f} |", flush=True)
        if options["layout"] == "concatenated" and options["compression"] is None and options["dtype"] == "float32":
            exact = ShardDataset([path], subset="random")
            rates = [items_per_second(exact, workers) for workers in (0, 2)]
            print(f"| same, subset='random' (exact random rows) | {mb:.0f} | {rates[0]:.1f} | {rates[1]:.1f} | "
                  f"{rates[0] / dora_rates[0]:.1f} / {rates[1] / dora_rates[1]:.1f} |", flush=True)
    with h5py.File(folder / "concatenated-float32-None.h5") as handle:
        assert handle.attrs["layout"] == "concatenated"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", default=["objects", "salient", "reader"])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "shapeprep-bench-watertight")
    parser.add_argument("--only", nargs="*", default=None, help="mesh names (default: all loadable)")
    parser.add_argument("--reader-objects", type=int, default=96)
    parser.add_argument("--corpus", action="store_true", help="objects part: ../shared/corpus too")
    parser.add_argument("--threads", type=int, default=2, help="numba threads (the sample rule's threads)")
    args = parser.parse_args()
    from shapeprep.geometry.nearsurface import set_threads

    set_threads(args.threads)
    meshes = prepared_meshes(args.resolution, args.cache, (SHARED, CORPUS) if args.corpus else (SHARED,))
    if args.only:
        meshes = [(name, mesh) for name, mesh in meshes if name in args.only]
    if "objects" in args.parts:
        part_objects(meshes)
    if "salient" in args.parts:
        part_salient(meshes, args.resolution)
    if "reader" in args.parts:
        part_reader(meshes, args.reader_objects)


if __name__ == "__main__":
    main()
