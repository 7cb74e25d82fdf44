"""Conditioning renders over ../shared/meshes and ../shared/corpus: speed, size, read speed, and Blender (not a timed test).

Each object runs in a fresh subprocess (its own GL context and peak RSS):
normalise as the build does, load the textured source
(:func:`shapeprep.views.scene.load_textured`), render ``--views`` views
(Fibonacci sphere, radius 3.8, FoV 40, ``--resolution``) with
:class:`shapeprep.views.raster.ViewRenderer` on llvmpipe. Prints p50 / p90 / max
of seconds per view and per object (load + GL setup + views), split at 1M
faces; bytes per object for each storage (HDF5 per-view chunks: none, lzf,
gzip; a tar of PNGs) and random-view read speed for each.

The peer, in the same run (``--peer N``: the first N objects Blender imports,
``--peer-views`` views each): a TRELLIS-style Blender Cycles CPU render
(``benchmarks/render_blender.py``, run with ``--blender-python``, a Python that
has ``bpy``) of the same file at the same cameras and resolution. Reports its
seconds per view against ours and the silhouettes' agreement (intersection
over union of alpha > 0.5).

    python benchmarks/render.py [--corpus] [--views 24] [--resolution 512] [--peer 6]
        [--blender-python /path/to/python-with-bpy] [--samples 128] [--antialias 4]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from sparse_sdf import quantiles  # p50 | p90 | max of a table row (this folder is on sys.path when run)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "meshes"
CORPUS = SHARED.parent / "corpus"
SUFFIXES = {".obj", ".glb", ".gltf", ".ply", ".stl", ".off"}
BLENDER_SUFFIXES = {".obj", ".glb", ".gltf", ".ply", ".stl"}
STORAGES = ("none", "lzf", "gzip")
RADIUS, FOV = 3.8, 40.0


def read_speed(read, count: int, views: int, rng) -> float:
    """Random views read per second."""
    picks = rng.integers(0, views, count)
    start = time.perf_counter()
    for pick in picks:
        read(int(pick))
    return count / (time.perf_counter() - start)


def child(path: str, views: int, resolution: int, peer_dir: str | None, peer_views: int, samples: int) -> dict:
    import h5py
    from PIL import Image

    from shapeprep.geometry.loaders import load_mesh
    from shapeprep.geometry.normalize import normalize_mesh
    from shapeprep.views.cameras import fibonacci_directions, orbit_cameras, transforms_json
    from shapeprep.views.raster import ViewRenderer
    from shapeprep.views.scene import load_textured
    from shapeprep.views.store import write_view_shard

    mesh = normalize_mesh(*load_mesh(path))
    cameras = orbit_cameras(fibonacci_directions(views), RADIUS)
    start = time.perf_counter()
    scene = load_textured(path, mesh.center, mesh.scale)
    loaded = time.perf_counter()
    renderer = ViewRenderer(scene, resolution, FOV, RADIUS - 1.8, RADIUS + 1.8, "lit", threads=2, samples=samples)
    ready = time.perf_counter()
    per_view, images = [], []
    for c2w in cameras:
        begin = time.perf_counter()
        images.append(renderer.render(c2w))
        per_view.append(time.perf_counter() - begin)
    renderer.release()
    row = {"faces": scene.notes["faces"], "primitives": scene.notes["primitives"],
           "textures_missing": scene.notes["textures_missing"], "textures": sum(p.texture is not None for p in scene.primitives),
           "seconds_load": loaded - start, "seconds_setup": ready - loaded, "seconds_views": float(sum(per_view)),
           "seconds_object": time.perf_counter() - start, "seconds_per_view": float(np.median(per_view)),
           "seconds_per_view_max": float(max(per_view)),
           "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
           "coverage": float(np.mean([(rgba[..., 3] > 0).mean() for rgba, _, _ in images]))}
    arrays = {"rgba": np.stack([i[0] for i in images]), "normal": np.stack([i[1] for i in images]),
              "depth": np.stack([i[2] for i in images]), "c2w": cameras.astype(np.float32),
              "transforms": transforms_json(cameras, FOV, resolution, mesh.center, mesh.scale)}
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        for compression in STORAGES:
            shard = Path(folder) / f"{compression}.h5"
            begin = time.perf_counter()
            write_view_shard(shard, [{"object_id": "o"}], lambda _: arrays, [views],
                             {"resolution": resolution, "fov_deg": FOV, "radius": RADIUS, "shading": "lit",
                              "shard": "0"}, compression=compression)
            row[f"write_s_{compression}"] = time.perf_counter() - begin
            row[f"bytes_{compression}"] = shard.stat().st_size
            with h5py.File(shard) as handle:
                row[f"reads_per_s_{compression}"] = read_speed(
                    lambda i: (handle["rgba"][i], handle["normal"][i], handle["depth"][i]), 50, views, rng)
        # The tar-of-PNGs layout: RGBA and normal PNGs, 16-bit depth PNG (millimetres of the normalised frame).
        tar_path = Path(folder) / "views.tar"
        begin = time.perf_counter()
        with tarfile.open(tar_path, "w") as tar:
            for index in range(views):
                for name, image in ((f"{index:03d}_rgba.png", Image.fromarray(arrays["rgba"][index])),
                                    (f"{index:03d}_normal.png", Image.fromarray(arrays["normal"][index])),
                                    (f"{index:03d}_depth.png", Image.fromarray(
                                        np.round(arrays["depth"][index] * 1000).astype(np.uint16)))):
                    buffer = io.BytesIO()
                    image.save(buffer, format="PNG")
                    info = tarfile.TarInfo(name)
                    info.size = buffer.tell()
                    buffer.seek(0)
                    tar.addfile(info, buffer)
        row["write_s_png_tar"] = time.perf_counter() - begin
        row["bytes_png_tar"] = tar_path.stat().st_size
        with tarfile.open(tar_path) as tar:
            members = {member.name: member for member in tar.getmembers()}

            def read_png(index: int):
                return [np.asarray(Image.open(tar.extractfile(members[f"{index:03d}_{kind}.png"])))
                        for kind in ("rgba", "normal", "depth")]

            row["reads_per_s_png_tar"] = read_speed(read_png, 50, views, rng)
    if peer_dir:
        np.save(Path(peer_dir) / "ours_alpha.npy", arrays["rgba"][:peer_views, ..., 3])  # uint8
        (Path(peer_dir) / "job.json").write_text(json.dumps({
            "path": str(Path(path).resolve()), "center": mesh.center.tolist(), "scale": float(mesh.scale),
            "c2w": cameras[:peer_views].tolist(), "fov_deg": FOV, "resolution": resolution}))
    return row


def run_peer(peer_dir: Path, blender_python: str, samples: int, timeout: float) -> dict:
    """Blender Cycles at our cameras: seconds per view and the silhouettes' IoU with ours."""
    from PIL import Image

    job = json.loads((peer_dir / "job.json").read_text())
    job |= {"samples": samples, "out": str(peer_dir / "blender")}
    (peer_dir / "job.json").write_text(json.dumps(job))
    done = subprocess.run([blender_python, str(REPO / "benchmarks" / "render_blender.py"), str(peer_dir / "job.json")],
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        return {"peer_error": (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
    timing = json.loads((peer_dir / "blender" / "timing.json").read_text())
    ours = np.load(peer_dir / "ours_alpha.npy").astype(np.float64) / 255.0
    ious, edge_errors = [], []
    for index, alpha in enumerate(ours):
        theirs = np.asarray(Image.open(peer_dir / "blender" / f"{index:03d}.png"))[..., 3].astype(np.float64) / 255.0
        mask, their_mask = alpha > 0.5, theirs > 0.5
        union = (mask | their_mask).sum()
        ious.append(float((mask & their_mask).sum() / union) if union else 1.0)
        # Antialiasing: Cycles's alpha is fractional along the silhouette; how far ours is from it there.
        edge = ((theirs > 0.02) & (theirs < 0.98)) | ((alpha > 0.02) & (alpha < 0.98))
        edge_errors.append(float(np.abs(alpha - theirs)[edge].mean()) if edge.any() else 0.0)
    return {"peer_seconds_per_view": float(np.median(timing["seconds_per_view"])),
            "peer_seconds_import": timing["seconds_import"], "peer_iou_min": min(ious), "peer_iou_mean": float(np.mean(ious)),
            "peer_edge_alpha_error": float(np.mean(edge_errors))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="store_true")
    parser.add_argument("--views", type=int, default=24)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--antialias", type=int, default=4, help="our colour samples per pixel (render.samples)")
    parser.add_argument("--peer", type=int, default=6, help="objects rendered by Blender too (0: none)")
    parser.add_argument("--peer-views", type=int, default=4)
    parser.add_argument("--samples", type=int, default=128, help="Cycles samples per pixel (TRELLIS: 128)")
    parser.add_argument("--blender-python", default=os.environ.get("BLENDER_PYTHON", ""))
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, default=Path("render.json"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, views, resolution, peer_dir = args.child
        print(json.dumps(child(path, int(views), int(resolution), peer_dir if peer_dir != "-" else None, args.peer_views,
                               args.antialias)))
        return 0
    folders = (SHARED, CORPUS) if args.corpus else (SHARED,)
    meshes = sorted(p for folder in folders for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES)
    meshes = meshes[: args.limit or None]
    peer_left = args.peer if args.blender_python else 0
    if args.peer and not args.blender_python:
        print("no --blender-python (a Python with bpy): the Blender peer is skipped", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for number, path in enumerate(meshes):
            peer_dir = None
            if peer_left and path.suffix.lower() in BLENDER_SUFFIXES:
                peer_dir = Path(scratch) / str(number)
                peer_dir.mkdir()
            try:
                done = subprocess.run([sys.executable, __file__, "--peer-views", str(args.peer_views),
                                       "--antialias", str(args.antialias), "--child", str(path),
                                       str(args.views), str(args.resolution), str(peer_dir or "-")],
                                      capture_output=True, text=True, timeout=args.timeout)
                row = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else {
                    "error": (done.stderr.strip().splitlines() or ["?"])[-1][:200]}
            except subprocess.TimeoutExpired:
                row = {"error": "timeout"}
            if peer_dir and "error" not in row:
                peer_left -= 1
                try:
                    row |= run_peer(peer_dir, args.blender_python, args.samples, args.timeout)
                except subprocess.TimeoutExpired:
                    row["peer_error"] = "timeout"
            row["mesh"] = path.relative_to(SHARED.parent).as_posix()
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(rows, indent=1))
    good = [row for row in rows if "error" not in row]
    print(f"\n## {len(good)} objects ({len(rows) - len(good)} failed), {args.views} views of "
          f"{args.resolution}^2, {args.antialias} colour samples per pixel, llvmpipe, 2 threads")
    print("| figure | p50 | p90 | max |\n| --- | --- | --- | --- |")
    small = [r for r in good if r["faces"] < 1_000_000]
    for name, values in (("seconds per view (median per object)", [r["seconds_per_view"] for r in good]),
                         ("seconds per view, objects < 1M faces", [r["seconds_per_view"] for r in small]),
                         ("seconds per view, slowest view", [r["seconds_per_view_max"] for r in good]),
                         ("seconds per object (load + setup + views)", [r["seconds_object"] for r in good]),
                         ("seconds, load textured source", [r["seconds_load"] for r in good]),
                         ("faces", [r["faces"] for r in good]),
                         ("peak RSS (MB)", [r["rss_mb"] for r in good]),
                         *((f"MB per object, HDF5 {c}", [r[f"bytes_{c}"] / 1e6 for r in good]) for c in STORAGES),
                         ("MB per object, tar of PNGs", [r["bytes_png_tar"] / 1e6 for r in good]),
                         *((f"random views read per s, HDF5 {c}", [r[f"reads_per_s_{c}"] for r in good]) for c in STORAGES),
                         ("random views read per s, tar of PNGs", [r["reads_per_s_png_tar"] for r in good]),
                         ("seconds to write, HDF5 gzip", [r["write_s_gzip"] for r in good]),
                         ("seconds to write, tar of PNGs", [r["write_s_png_tar"] for r in good])):
        print(f"| {name} | {quantiles(values)} |")
    print(f"\nobjects over 1M faces: {len(good) - len(small)}; objects with a missing texture: "
          f"{sum(1 for r in good if r['textures_missing'])}; with textures: {sum(1 for r in good if r['textures'])}")
    peers = [r for r in good if "peer_seconds_per_view" in r]
    if peers:
        print(f"\n## Blender Cycles CPU ({args.samples} samples, uniform white world) at the same cameras, "
              f"{args.peer_views} views each")
        print("| mesh | faces | ours s/view | Cycles s/view | Cycles / ours | silhouette IoU min / mean "
              "| alpha error on the silhouette's edge pixels |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in peers:
            print(f"| {r['mesh']} | {r['faces']} | {r['seconds_per_view']:.3f} | {r['peer_seconds_per_view']:.2f} | "
                  f"{r['peer_seconds_per_view'] / r['seconds_per_view']:.0f}x | "
                  f"{r['peer_iou_min']:.3f} / {r['peer_iou_mean']:.3f} | {r['peer_edge_alpha_error']:.3f} |")
    for row in rows:
        if "error" in row or "peer_error" in row:
            print(f"failed: {row['mesh']}: {row.get('error') or row.get('peer_error')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
