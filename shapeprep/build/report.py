"""Report job: the per-object status table, the HTML build report and its figures as files."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic import atomic_path, write_table
from ..report.page import (
    CSV_COLUMNS,
    RENDER_STRIP_LABEL,
    benchmark_table,
    distribution_figures,
    gallery_picks,
    render_html,
    shard_summary,
    thumbnails,
)
from ..report.render import png_bytes
from ..samples.shards import read_shard_object, shard_contents
from ..geometry.cubvh import resolve_backend
from .index import object_table, read_stage_tables
from .meshstore import read_mesh
from .provenance import package_versions

logger = logging.getLogger("shapeprep")


def git_commit(folder: str | Path | None) -> str:
    """The workflow's git commit (with ``-dirty`` when it has local changes), or ``unknown``."""
    if folder is None:
        return "unknown"
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def write_figure_files(folder: str | Path, figures: dict[str, bytes], gallery) -> None:
    """The report's images as PNG files (for ``snakemake --report``), replacing the folder atomically."""
    folder = Path(folder)
    temporary = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    # <section>--<name>.png: the rule's report() pattern files them under the section (a stage, or the gallery).
    for (stage, title), png in figures.items():
        name = "_".join("".join(c if c.isalnum() else " " for c in title.lower()).split())
        (temporary / f"{stage}--{name}.png").write_bytes(png)
    for index, (row, images) in enumerate(gallery):
        for label, png in images:
            (temporary / f"gallery--{index:02d}_{str(row['object_id'])[:12]}_{label.split()[0]}.png").write_bytes(png)
    shutil.rmtree(folder, ignore_errors=True)
    temporary.rename(folder)


def read_benchmarks(folder: str | Path) -> list[dict]:
    """One record per Snakemake ``benchmark:`` file under ``folder`` (``<stage>/<shard>.tsv`` or ``<stage>.tsv``).

    Returns
    -------
    list of dict with ``stage``, ``s``, ``cpu_time``, ``max_rss`` (unreadable files are skipped).
    """
    folder = Path(folder)
    records = []
    for path in sorted(folder.rglob("*.tsv")):
        stage = path.parent.name if path.parent != folder else path.stem
        try:
            record = pd.read_csv(path, sep="\t").iloc[0]
        except (OSError, ValueError, IndexError, pd.errors.EmptyDataError):
            continue
        records.append({"stage": stage, "s": float(record.get("s", np.nan)),
                        "cpu_time": float(pd.to_numeric(record.get("cpu_time", np.nan), errors="coerce")),
                        "max_rss": float(pd.to_numeric(record.get("max_rss", np.nan), errors="coerce"))})
    return records


def by_shard(paths: list[str]) -> dict[str, str]:
    """``shard name -> path`` of per-shard files named ``NNNNN.<ext>``."""
    return {Path(path).name.split(".")[0]: path for path in paths}


def sparse_mesh(path: str, object_id: str, picture_resolution: int = 256):
    """The mesh marching cubes makes of an object's stored sparse voxels (at most ``picture_resolution`` per axis),
    or None when the object is not in the file."""
    import h5py

    from ..tables import decode_strings
    from ..volumes.sparse import reconstruct_mesh
    from ..volumes.store import read_sparse_object

    with h5py.File(path, "r") as handle:
        ids = decode_strings(handle["objects/object_id"][()])
        if object_id not in ids:
            return None
        arrays = read_sparse_object(handle, ids.index(object_id))
        resolution, truncation = int(handle.attrs["resolution"]), float(handle.attrs["truncation_voxels"])
    step = max(1, -(-resolution // picture_resolution))
    return reconstruct_mesh(arrays["coords"], arrays["sdf"], resolution, truncation, step=step)


def render_strip(path: str, object_id: str, size: int, count: int = 6) -> np.ndarray | None:
    """``count`` of an object's stored views, evenly spaced, over white, side by side at ``size`` pixels:
    ``(size, count * size, 3)`` uint8, or None when the object is not in the render file."""
    import h5py
    from PIL import Image

    from ..tables import decode_strings
    from ..views.store import read_views

    with h5py.File(path, "r") as handle:
        ids = decode_strings(handle["objects/object_id"][()])
        if object_id not in ids:
            return None
        position = ids.index(object_id)
        offsets = handle["offsets"]
        available = int(offsets[position + 1] - offsets[position])
        picks = np.unique(np.linspace(0, available - 1, min(count, available)).round().astype(int))
        rgba = read_views(handle, position, picks)["rgba"].astype(np.float32) / 255.0
    over_white = rgba[..., :3] * rgba[..., 3:] + (1.0 - rgba[..., 3:])
    tiles = [np.asarray(Image.fromarray((view * 255).round().astype(np.uint8)).resize((size, size), Image.LANCZOS))
             for view in over_white]
    return np.concatenate(tiles, axis=1)


def object_images(row, stores: dict[str, dict[str, str]], shard_files: dict[str, str], size: int,
                  renderer: str = "cpu", sparse_files: dict[str, str] | None = None,
                  render_files: dict[str, str] | None = None) -> list:
    """Gallery thumbnails of one object from the declared mesh stores and shards.

    Parameters
    ----------
    row : the object's row of the object table
    stores : ``label -> shard name -> mesh store`` (``source``, ``watertight``)
    shard_files : ``shard name -> final shard``
    size : thumbnail side in pixels
    renderer : ``cpu`` or ``cubvh`` (ray casting the normal maps)
    sparse_files, render_files : ``shard name -> file`` of the optional sparse SDF and render stages
    """
    meshes = []
    for label, paths in stores.items():
        try:
            vertices, faces, _ = read_mesh(paths[row["shard"]], row["object_id"])
        except (KeyError, OSError):  # the object stopped before this stage
            continue
        meshes.append((label, vertices, faces))
    if sparse_files and row["shard"] in sparse_files and row["status"] == "ok":
        rebuilt = sparse_mesh(sparse_files[row["shard"]], row["object_id"])
        if rebuilt is not None:  # the sparse voxels' own surface, beside the watertight mesh it came from
            meshes.append(("sparse SDF (marching cubes)", *rebuilt))
    points = None
    if row["status"] == "ok":
        arrays, _ = read_shard_object(shard_files[row["shard"]], row["object_id"])
        # Objects without salient edges store uniform points in the salient set: not red.
        salient = None if bool(row.get("sample_salient_fallback") or False) else arrays["salient"][:, :3]
        points = (arrays["surface"][:, :3], salient)
    images = thumbnails(meshes, points, size, backend=renderer)
    if render_files and row["shard"] in render_files and row["status"] == "ok":
        strip = render_strip(render_files[row["shard"]], row["object_id"], size)
        if strip is not None:
            images.append((RENDER_STRIP_LABEL, png_bytes(strip)))
    return images


def run(manifest: str, filtered: str, shards: list[str], normalized_meshes: list[str], watertight_meshes: list[str],
        settings: dict, provenance: dict, benchmarks: str, objects: str, objects_csv: str, html: str, figures: str,
        workflow_dir: str | None = None, sparse_sdf_status: list[str] = (), sparse_files: list[str] = (),
        render_status: list[str] = (), render_files: list[str] = (), **status_tables: list[str]) -> None:
    """Write the per-object status table (parquet and CSV), the report page and its figures.

    Parameters
    ----------
    manifest, filtered : the manifest's object table and the objects its sources left out
    shards : final shard files
    normalized_meshes, watertight_meshes : per-shard mesh stores the gallery renders from
    settings : the ``report`` config section (gallery sizes, thumbnail size, seed, renderer)
    provenance : config and code hashes to show
    benchmarks : folder of the jobs' Snakemake ``benchmark:`` files (build time per stage)
    objects, objects_csv, html, figures : outputs (figures: a folder of PNGs)
    workflow_dir : where to ask git for the commit
    sparse_sdf_status, sparse_files : the sparse SDF status tables and files (empty unless ``sparse_sdf.enabled``):
        active voxels and bytes per object join the table, and the gallery shows the voxels' surface
    render_status, render_files : the render status tables and files (empty unless ``render.enabled``): seconds and
        missing textures per object join the table, and the gallery shows a strip of views
    status_tables : ``<stage>=`` per-shard status parquet paths, one keyword per
        :data:`~shapeprep.status.OBJECT_STAGES` stage
    """
    started = time.perf_counter()
    table = object_table(pd.read_parquet(manifest), read_stage_tables(status_tables), pd.read_parquet(filtered))
    if sparse_sdf_status:
        sparse = pd.concat([pd.read_parquet(path) for path in sparse_sdf_status], ignore_index=True)
        sparse = sparse[sparse["status"] == "ok"][["object_id", "active_voxels", "seconds"]]
        table = table.merge(sparse.rename(columns={"active_voxels": "sparse_sdf_active_voxels",
                                                   "seconds": "sparse_sdf_seconds"}), on="object_id", how="left")
        # Bytes per object: each file's size shared by its objects in proportion to their active voxels.
        for path in sparse_files:
            shard = Path(path).name.split(".")[0]
            mine = (table["shard"] == shard) & table["sparse_sdf_active_voxels"].notna()
            voxels = table.loc[mine, "sparse_sdf_active_voxels"].astype(float)
            if voxels.sum() > 0:
                table.loc[mine, "sparse_sdf_bytes"] = Path(path).stat().st_size * voxels / voxels.sum()
    if render_status:
        rendered = pd.concat([pd.read_parquet(path) for path in render_status], ignore_index=True)
        rendered = rendered[rendered["status"] == "ok"][["object_id", "seconds", "textures_missing"]]
        table = table.merge(rendered.rename(columns={"seconds": "render_seconds",
                                                     "textures_missing": "render_textures_missing"}),
                            on="object_id", how="left")
    write_table(table, objects)
    with atomic_path(objects_csv) as temporary:
        table.reindex(columns=CSV_COLUMNS).to_csv(temporary, index=False)
    summary = shard_summary([shard_contents(path) for path in shards], [Path(path).stat().st_size for path in shards])
    timing = benchmark_table(read_benchmarks(benchmarks))
    distributions = distribution_figures(table)
    logger.info("report: tables and figures for %d objects in %.1f s", len(table), time.perf_counter() - started)
    picks = gallery_picks(table, settings["gallery_sample"], settings["gallery_worst"], settings["gallery_failures"],
                          settings["seed"])
    renderer = resolve_backend(settings["renderer"])  # resolved where the job runs: login nodes rarely have a GPU
    logger.info("report: gallery normal maps ray cast with %s", renderer)
    stores = {"source": by_shard(normalized_meshes), "watertight": by_shard(watertight_meshes)}
    shard_files = by_shard(shards)
    gallery = []
    for _, row in picks.iterrows():
        began = time.perf_counter()
        gallery.append((row.to_dict(), object_images(row, stores, shard_files, settings["thumbnail_size"], renderer,
                                                     by_shard(sparse_files), by_shard(render_files))))
        logger.info("report: gallery %s (%s) in %.2f s", str(row["object_id"])[:16], row["why"],
                    time.perf_counter() - began)
    provenance = {**provenance, "git_commit": git_commit(workflow_dir), "package_versions": package_versions()}
    page = render_html(table, summary, timing, gallery, distributions, provenance)
    write_figure_files(figures, distributions, gallery)
    with atomic_path(html) as temporary:
        temporary.write_text(page)
    logger.info("report: done in %.1f s", time.perf_counter() - started)
