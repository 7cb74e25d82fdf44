"""``shapeprep``: single-mesh tools that run the same functions as the Snakemake rules.

    shapeprep watertight IN OUT --res 512 [--backend cpu|cubvh|auto] [--frame original|normalized]
    shapeprep validate MESH [--source SRC --res R] [--frame original|normalized]
    shapeprep export SHARD|INDEX OUT --layout dora|step1x|hunyuan|triposg|vecset [--object ID ...]

Exit status: 0 on success, 1 when ``validate`` finds the mesh invalid,
2 on bad input (unreadable file, unsupported format, bad option).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import __version__
from .status import MeshError


def _write_mesh(path: str, vertices: np.ndarray, faces: np.ndarray) -> None:
    import trimesh

    from .atomic import atomic_path

    suffix = Path(path).suffix.lower().lstrip(".")
    with atomic_path(path) as temporary:
        trimesh.Trimesh(vertices, faces, process=False).export(temporary, file_type=suffix)


def _json_ready(record: dict) -> dict:
    return {key: (value.item() if isinstance(value, np.generic) else value) for key, value in record.items()}


def watertight_command(args) -> int:
    from .geometry.loaders import load_mesh
    from .geometry.normalize import normalize_mesh, to_original_frame
    from .watertight import resolve_backend, watertight_mesh

    vertices, faces = load_mesh(args.input)
    source = normalize_mesh(vertices, faces)
    options = {
        "eps_voxels": args.eps_voxels,
        "fill_holes": args.fill_holes,
        "max_hole_voxels": args.max_hole_voxels,
        "offset_reduction": args.offset_reduction,
        "residual_offset_voxels": args.residual_offset_voxels,
        "min_part_voxels": args.min_part_voxels,
        "target_faces": args.target_faces,
    }
    backend = resolve_backend(args.backend)
    result = watertight_mesh(source.vertices, source.faces, args.res, backend=backend, **options)
    out_vertices = result.vertices
    if args.frame == "original":
        out_vertices = to_original_frame(result.vertices, source.center, source.scale)
    _write_mesh(args.output, out_vertices, result.faces)
    if args.normalized_source:
        _write_mesh(args.normalized_source, source.vertices, source.faces)
    summary = {
        "input": str(args.input),
        "output": str(args.output),
        "frame": args.frame,
        "backend": backend,
        "center": source.center.tolist(),
        "scale": source.scale,
        "faces": int(len(result.faces)),
        "vertices": int(len(result.vertices)),
        **_json_ready(result.stats),
    }
    print(json.dumps(summary, indent=2))
    return 0


def validate_command(args) -> int:
    from .geometry.grid import grid_spacing
    from .geometry.loaders import load_mesh
    from .geometry.normalize import normalize_mesh, weld_vertices
    from .geometry.validate import surface_deviation, validate_mesh

    vertices, faces = load_mesh(args.mesh)
    # Formats such as STL store every triangle's corners separately.
    vertices, faces = weld_vertices(np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64), 0.0)
    record = validate_mesh(vertices, faces)
    if args.source:
        source = normalize_mesh(*load_mesh(args.source))
        if args.frame == "original":
            vertices = (vertices - source.center) * source.scale
        deviation = surface_deviation(
            vertices, faces, source.vertices, source.faces, grid_spacing(args.res), args.samples, np.random.default_rng(0)
        )
        record.update({f"deviation_{key}": value for key, value in deviation.items()})
    print(json.dumps(_json_ready(record), indent=2))
    return 1 if record["reasons"] else 0


def export_command(args) -> int:
    from .samples.export import export

    source = Path(args.source)
    if source.suffix == ".parquet":
        import pandas as pd

        index = pd.read_parquet(source)
        index = index[(index["status"] == "ok") & (index["shard_file"] != "")]
        if args.object:
            missing = set(args.object) - set(index["object_id"])
            if missing:
                raise ValueError(f"not in {source} (or not ok): {', '.join(sorted(missing))}")
            index = index[index["object_id"].isin(args.object)]
        shards = {source.parent / name: group["object_id"].tolist() for name, group in index.groupby("shard_file")}
    else:
        shards = {source: args.object or None}
    try:
        summary = export(shards, args.output, args.layout, val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                         require_salient=args.require_salient, category=args.category)
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    print(json.dumps({"layout": args.layout, "output": str(args.output), **summary}))
    return 0


def export_views_command(args) -> int:
    from .views.export import export_trellis

    source = Path(args.source)
    shards = sorted(source.glob("*.h5")) if source.is_dir() else [source]
    if not shards:
        raise ValueError(f"no render shards (*.h5) in {source}")
    summary = export_trellis(shards, args.output, set(args.object) if args.object else None)
    print(json.dumps({"layout": "trellis", "output": str(args.output), **summary}))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .watertight import WatertightOptions
    from .watertight.options import FILL_METHODS

    defaults = WatertightOptions()
    parser = argparse.ArgumentParser(prog="shapeprep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"shapeprep {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    watertight = commands.add_parser("watertight", help="Watertight remesh of one mesh file.")
    watertight.add_argument("input", help="Any supported mesh (GLB/GLTF, OBJ, PLY, STL, OFF).")
    watertight.add_argument("output", help="Output mesh; format from the extension (.obj, .ply, .glb, .stl, .off).")
    watertight.add_argument("--res", type=int, default=defaults.resolution, help="Grid points per axis over -1..1.")
    watertight.add_argument("--backend", choices=["auto", "cpu", "cubvh"], default="auto")
    watertight.add_argument("--frame", choices=["original", "normalized"], default="original",
                            help="Write OUT in the input's frame (default) or the normalised [-1, 1] frame.")
    watertight.add_argument("--normalized-source", help="Also write the normalised source mesh here.")
    watertight.add_argument("--eps-voxels", type=float, default=defaults.eps_voxels)
    watertight.add_argument("--fill-holes", choices=list(FILL_METHODS), default=defaults.fill_holes)
    watertight.add_argument("--max-hole-voxels", type=float, default=defaults.max_hole_voxels)
    watertight.add_argument("--offset-reduction", choices=["project", "none"], default=defaults.offset_reduction)
    watertight.add_argument("--residual-offset-voxels", type=float, default=defaults.residual_offset_voxels)
    watertight.add_argument("--min-part-voxels", type=float, default=defaults.min_part_voxels)
    watertight.add_argument("--target-faces", type=int, default=None)
    watertight.set_defaults(handler=watertight_command)

    validate = commands.add_parser("validate", help="Print the validation record of a mesh as JSON.")
    validate.add_argument("mesh")
    validate.add_argument("--source", help="Source mesh to measure the deviation from.")
    validate.add_argument("--res", type=int, default=defaults.resolution, help="Grid the deviation is measured in voxels of.")
    validate.add_argument("--frame", choices=["original", "normalized"], default="original",
                          help="Frame MESH is in: the source's original frame or the normalised one.")
    validate.add_argument("--samples", type=int, default=20000, help="Points per surface for the deviation.")
    validate.set_defaults(handler=validate_command)

    export = commands.add_parser("export", help="Write shard objects as a peer's training code reads them (positive-inside SDF).")
    export.add_argument("source", help="A shard .h5, or the build's index.parquet (every ok object).")
    export.add_argument("output", help="Output folder: the dataset root the peer's loader is pointed at.")
    export.add_argument("--layout", choices=["dora", "step1x", "hunyuan", "triposg", "vecset"], required=True)
    export.add_argument("--object", action="append", help="Object id to export (repeatable; default: all).")
    export.add_argument("--val-fraction", type=float, default=0.01, help="Objects in the val split (by id hash).")
    export.add_argument("--test-fraction", type=float, default=0.0, help="Objects in the test split (by id hash).")
    export.add_argument("--require-salient", action="store_true",
                        help="Leave out objects without salient edges (salient_fallback), as Dora's sampler does.")
    export.add_argument("--category", default="02691156",
                        help="vecset: the ShapeNet synset id folder (its loader only knows those ids).")
    export.set_defaults(handler=export_command)

    views = commands.add_parser("export-views", help="Write render shards as TRELLIS's loaders read them "
                                "(renders_cond/<object id>/NNN.png + transforms.json).")
    views.add_argument("source", help="A render shard .h5, or the folder of them (results/render).")
    views.add_argument("output", help="The dataset root TRELLIS is pointed at.")
    views.add_argument("--object", action="append", help="Object id to export (repeatable; default: all).")
    views.set_defaults(handler=export_views_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``shapeprep`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except MeshError as error:
        print(f"shapeprep {args.command}: {error}", file=sys.stderr)
        return 2
    except (ValueError, RuntimeError, OSError) as error:
        print(f"shapeprep {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
