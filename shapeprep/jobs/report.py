"""Report job: the per-object status table, the HTML build report and its figures as files."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path, write_table
from ..index import STAGES, object_table
from ..provenance import package_versions
from ..report import (
    CSV_COLUMNS,
    benchmark_table,
    distribution_figures,
    gallery_picks,
    render_html,
    shard_summary,
    thumbnails,
)

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


def run(manifest: str, filtered: str, status_tables: dict[str, list[str]], shard_files: list[str],
        objects_parquet: str, objects_csv: str, report_html: str, figures_dir: str, settings: dict,
        provenance: dict, workflow_dir: str | None = None) -> None:
    """Write the per-object status table (parquet and CSV), the report page and its figures.

    Parameters
    ----------
    status_tables : dict
        ``stage -> list of per-shard status parquet paths`` for every stage in :data:`STAGES`.
    shard_files : final shard paths (``<results>/shards/NNNNN.h5``; the gallery also
        reads ``normalized/`` and ``watertight/`` next to them)
    settings : the ``report`` config section (gallery sizes, thumbnail size, seed)
    provenance : config and parameter hashes to show
    workflow_dir : where to ask git for the commit
    """
    started = time.perf_counter()
    stage_tables = {
        stage: pd.concat([pd.read_parquet(path) for path in status_tables[stage]], ignore_index=True)
        for stage in STAGES
    }
    table = object_table(pd.read_parquet(manifest), stage_tables, pd.read_parquet(filtered))
    write_table(table, objects_parquet)
    with atomic_path(objects_csv) as temporary:
        table.reindex(columns=CSV_COLUMNS).to_csv(temporary, index=False)
    results = Path(objects_parquet).parents[1]
    shards = shard_summary(shard_files)
    benchmarks = benchmark_table(sorted(str(p) for p in (results / "benchmarks").rglob("*.tsv")))
    figures = distribution_figures(table)
    logger.info("report: tables and figures for %d objects in %.1f s", len(table), time.perf_counter() - started)
    picks = gallery_picks(table, settings["gallery_sample"], settings["gallery_worst"], settings["gallery_failures"],
                          settings["seed"])
    gallery = []
    for _, row in picks.iterrows():
        began = time.perf_counter()
        images = thumbnails(row, results, settings["thumbnail_size"])
        gallery.append((row.to_dict(), images))
        logger.info("report: gallery %s (%s) in %.2f s", str(row["object_id"])[:16], row["why"],
                    time.perf_counter() - began)
    provenance = {**provenance, "git_commit": git_commit(workflow_dir), "package_versions": package_versions()}
    page = render_html(table, shards, benchmarks, gallery, figures, provenance)
    write_figure_files(figures_dir, figures, gallery)
    with atomic_path(report_html) as temporary:
        temporary.write_text(page)
    logger.info("report: done in %.1f s", time.perf_counter() - started)
