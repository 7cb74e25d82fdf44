"""The build report: summary tables, failures, distributions, a gallery and provenance.

Pure functions from tables and arrays to figures and HTML: the report job
(:mod:`shapeprep.build.report`) reads the files its rule declares and hands
them over. Tables and figures come from status tables, shard offsets and
Snakemake benchmark records, never meshes, so they stay fast at 500k objects
(``benchmarks/report.py``). The gallery renders a configurable handful of
objects (:mod:`shapeprep.report.render`): the source and watertight meshes as
normal maps and the stored training points with salient points in red.

:func:`render_html` gives one self-contained page (images embedded as data
URIs). The page records in ``<body>`` attributes whether its images decoded
and whether any script error occurred, so a headless browser can check it.
"""

from __future__ import annotations

import base64
import html
import io
import json

import numpy as np
import pandas as pd

from ..status import OBJECT_STAGES, STAGE_NAMES, STATUSES
from .render import png_bytes, render_normals, render_points

#: Columns of ``objects.csv``: who and what happened. Every stage's figures are in
#: ``objects.parquet``; writing them all as CSV took 43 s at 500k objects.
CSV_COLUMNS = ["object_id", "source", "name", "shard", "status", "failed_stage", "reason", "message"]


# ----------------------------------------------------------------------------- tables


def stage_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Objects entering, passing, failing and filtered at each stage.

    Returns
    -------
    DataFrame indexed by stage with ``attempted, ok, failed, filtered``.
    """
    rows = []
    for stage in OBJECT_STAGES:
        column = f"{stage}_status"
        status = table[column] if column in table else pd.Series(dtype=object)
        rows.append({"stage": stage, "attempted": int(status.notna().sum()),
                     **{name: int((status == name).sum()) for name in STATUSES}})
    return pd.DataFrame(rows).set_index("stage")


def source_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Objects per source and final status (columns ``ok, failed, filtered, total``)."""
    counts = table.groupby(["source", "status"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(STATUSES), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts


def failure_table(table: pd.DataFrame, examples: int = 3) -> pd.DataFrame:
    """Failed and filtered objects grouped by stage and reason, with counts and example ids.

    Returns
    -------
    DataFrame with ``status, failed_stage, reason, count, examples``.
    """
    failed = table[table["status"] != "ok"]
    if failed.empty:
        return pd.DataFrame(columns=["status", "failed_stage", "reason", "count", "examples"])
    grouped = failed.groupby(["status", "failed_stage", "reason"], sort=False)
    summary = grouped.agg(count=("object_id", "size"),
                          examples=("object_id", lambda ids: ", ".join(str(i)[:16] for i in ids[:examples])))
    return summary.reset_index().sort_values("count", ascending=False, ignore_index=True)


def shard_summary(contents: list[dict], sizes: list[int]) -> dict:
    """Shard count, bytes, objects and stored points per set.

    Parameters
    ----------
    contents : per shard, :func:`shapeprep.samples.shards.shard_contents` output
    sizes : per shard, its file size in bytes
    """
    points: dict[str, int] = {}
    for content in contents:
        for key, rows in content["points"].items():
            points[key] = points.get(key, 0) + rows
    return {
        "shards": len(contents),
        "bytes": int(sum(sizes)),
        "objects": int(sum(content["objects"] for content in contents)),
        "points": points,
    }


def benchmark_table(records: list[dict]) -> pd.DataFrame:
    """Build time per stage from Snakemake ``benchmark:`` records.

    Parameters
    ----------
    records : one dict per job: ``stage``, ``s`` (wall seconds), ``cpu_time``, ``max_rss`` (MB)

    Returns
    -------
    DataFrame indexed by stage (pipeline order) with ``jobs, wall_s, cpu_s, max_job_s, max_rss_mb``.
    """
    if not records:
        return pd.DataFrame(columns=["jobs", "wall_s", "cpu_s", "max_job_s", "max_rss_mb"])
    frame = pd.DataFrame(records)
    order = {name: index for index, name in enumerate(STAGE_NAMES)}
    summary = frame.groupby("stage").agg(jobs=("s", "size"), wall_s=("s", "sum"), cpu_s=("cpu_time", "sum"),
                                         max_job_s=("s", "max"), max_rss_mb=("max_rss", "max"))
    return summary.sort_index(key=lambda index: index.map(lambda name: order.get(name, 99))).round(2)


# ----------------------------------------------------------------------------- figures


def figure_png(figure) -> bytes:
    """PNG bytes of a matplotlib figure (closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


#: (title, column, log10 x axis, stage) of the histogram panels.
HISTOGRAMS = (
    ("Source faces", "normalize_source_faces", True, "normalize"),
    ("Watertight faces", "watertight_faces", True, "watertight"),
    ("Components (watertight)", "validate_components", False, "validate"),
    ("Genus (watertight)", "validate_genus", False, "validate"),
    ("Mean deviation (voxels)", "validate_deviation_chamfer", False, "validate"),
    ("p95 deviation (voxels)", "deviation_p95", False, "validate"),
    ("Invented share of surface (> 1.5 voxels from the source)", "validate_deviation_invented_fraction", False, "validate"),
    ("Widest hole closed (voxels)", "watertight_widest_hole_closed_voxels", False, "watertight"),
    ("Sparse SDF active voxels", "sparse_sdf_active_voxels", True, "sparse_sdf"),
    ("Sparse SDF bytes per object", "sparse_sdf_bytes", True, "sparse_sdf"),
    ("Salient edges", "sample_salient_edges", True, "sample"),
    ("Inside fraction of volume points", "sample_volume_inside_fraction", False, "sample"),
)


def distribution_figures(table: pd.DataFrame) -> dict[str, bytes]:
    """Histograms of the per-object figures and time per object per stage.

    Returns
    -------
    dict ``(stage, title) -> png bytes`` (panels without data are left out)
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = table.copy()
    if {"validate_deviation_to_source_p95", "validate_deviation_from_source_p95"} <= set(table.columns):
        table["deviation_p95"] = table[["validate_deviation_to_source_p95",
                                        "validate_deviation_from_source_p95"]].max(axis=1)
    figures = {}
    for title, column, logarithmic, stage in HISTOGRAMS:
        values = pd.to_numeric(table.get(column, pd.Series(dtype=float)), errors="coerce").dropna()
        if values.empty:
            continue
        figure, axis = plt.subplots(figsize=(4.2, 2.8))
        data = np.log10(values.clip(lower=1)) if logarithmic else values
        axis.hist(data, bins=min(40, max(5, int(np.sqrt(len(values))))), color="#3b6ea5")
        axis.set_xlabel(f"log10 {title.lower()}" if logarithmic else title.lower())
        axis.set_ylabel("objects")
        axis.set_title(f"{title}  (median {values.median():.3g})")
        figures[stage, title] = figure_png(figure)
    decisions = table.get("watertight_fill", pd.Series(dtype=object)).dropna()
    decisions = decisions[decisions.astype(str) != ""].astype(str).value_counts()
    if len(decisions):  # what the hole filling decided: none needed, filled, left open, reverted by the safety net
        figure, axis = plt.subplots(figsize=(4.2, 2.8))
        axis.bar(decisions.index.tolist(), decisions.to_numpy(), color="#3b6ea5")
        axis.set_ylabel("objects")
        axis.set_title("Hole fill decisions")
        figures["watertight", "Hole fill decisions"] = figure_png(figure)
    seconds = {stage: pd.to_numeric(table.get(f"{stage}_seconds", pd.Series(dtype=float)), errors="coerce").dropna()
               for stage in OBJECT_STAGES}
    seconds = {stage: values for stage, values in seconds.items() if len(values)}
    if seconds:
        figure, axis = plt.subplots(figsize=(4.2, 2.8))
        axis.boxplot([values.clip(lower=1e-4) for values in seconds.values()], tick_labels=list(seconds.keys()),
                     showfliers=False)
        axis.set_yscale("log")
        axis.set_ylabel("seconds per object")
        axis.set_title("Time per object and stage")
        figures["all", "Time per object and stage"] = figure_png(figure)
    return figures


# ----------------------------------------------------------------------------- gallery


def gallery_picks(table: pd.DataFrame, sample: int, worst: int, failures: int, seed: int = 0) -> pd.DataFrame:
    """Objects for the gallery: a seeded sample of ok objects, the worst by deviation and by invented
    surface (hole caps and walls farther than 1.5 voxels from the source), a few failures.

    Returns
    -------
    DataFrame of picked rows with a ``why`` column.
    """
    ok = table[table["status"] == "ok"].sort_values("object_id")
    picks = []
    if len(ok) and sample:
        chosen = np.random.default_rng(seed).choice(len(ok), size=min(sample, len(ok)), replace=False)
        picks.append(ok.iloc[np.sort(chosen)].assign(why="sample"))
    if "validate_deviation_chamfer" in table and worst:
        measured = table[pd.to_numeric(table["validate_deviation_chamfer"], errors="coerce").notna()]
        measured = measured.assign(_deviation=pd.to_numeric(measured["validate_deviation_chamfer"]))
        picks.append(measured.nlargest(worst, "_deviation").drop(columns="_deviation").assign(why="worst deviation"))
    if "validate_deviation_invented_area" in table and worst:
        invented = pd.to_numeric(table["validate_deviation_invented_area"], errors="coerce")
        measured = table[invented > 0].assign(_invented=invented[invented > 0])
        picks.append(measured.nlargest(worst, "_invented").drop(columns="_invented").assign(why="most invented surface"))
    # Failures that got as far as a normalised mesh can be shown.
    shown = table[(table["status"] == "failed") & table["failed_stage"].isin(["watertight", "validate", "sample"])]
    if failures:
        picks.append(shown.head(failures).assign(why="failed"))
    picks = [frame for frame in picks if len(frame)]
    if not picks:
        return table.iloc[:0].assign(why="")
    return pd.concat(picks, ignore_index=True).drop_duplicates("object_id", keep="first")


def thumbnails(meshes: list[tuple[str, np.ndarray, np.ndarray]], points: tuple | None, size: int,
               backend: str = "cpu") -> list[tuple[str, bytes]]:
    """``(label, png)`` thumbnails of one object: a normal map per mesh, then its training points.

    Parameters
    ----------
    meshes : ``(label, vertices (n, 3), faces (m, 3))`` per mesh to show (source, watertight)
    points : ``(surface (k, 3), salient (s, 3) or None)``, or None for an object without samples;
        salient points are drawn in red
    size : thumbnail side in pixels
    """
    images = [(label, png_bytes(render_normals(vertices, faces, size, backend=backend)))
              for label, vertices, faces in meshes]
    if points is not None:
        surface, salient = points
        images.append(("points (salient in red)", png_bytes(render_points(surface, salient, size))))
    return images


# ----------------------------------------------------------------------------- page


#: Label of the gallery's strip of conditioning renders (shown at its own width).
RENDER_STRIP_LABEL = "render views"


def _img(png: bytes, alt: str) -> str:
    strip = " class='strip'" if alt == RENDER_STRIP_LABEL else ""
    return f"<img{strip} alt='{html.escape(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"


SELF_CHECK = """<script>
window.addEventListener('error', function () {
  document.body.dataset.errors = String(Number(document.body.dataset.errors || 0) + 1);
});
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.images);
  document.body.dataset.images = String(images.length);
  document.body.dataset.broken = String(images.filter(function (i) { return !i.naturalWidth; }).length);
  document.body.dataset.loaded = 'true';
});
</script>"""

STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{margin-bottom:0}.lede{color:#555;margin-top:.3em}
table{border-collapse:collapse;margin:.8em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eef2f8}.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{background:#f4f6fa;border-radius:6px;padding:.6em 1em}.card b{font-size:1.6em;display:block}
.figs img{margin:4px;border:1px solid #ddd}.gallery{display:flex;flex-wrap:wrap;gap:12px}
.item{border:1px solid #ddd;border-radius:6px;padding:6px}.item img{width:160px;height:160px}.item img.strip{width:auto;display:block}
.item .cap{font-size:.8em;color:#444;max-width:500px}
pre{background:#f6f6f6;padding:1em;overflow:auto;max-height:30em}
</style>"""


def render_html(
    table: pd.DataFrame,
    shards: dict,
    benchmarks: pd.DataFrame,
    gallery: list[tuple[dict, list[tuple[str, bytes]]]],
    figures: dict[str, bytes],
    provenance: dict,
) -> str:
    """The self-contained report page.

    Parameters
    ----------
    table : :func:`shapeprep.build.index.object_table` output
    shards : :func:`shard_summary` output
    benchmarks : :func:`benchmark_table` output
    gallery : ``(row, thumbnails)`` per pictured object
    figures : :func:`distribution_figures` output
    provenance : config, parameter hashes, versions, git commit

    Returns
    -------
    str
    """
    counts = {name: int((table["status"] == name).sum()) for name in STATUSES}
    fallback = int(table.get("sample_salient_fallback", pd.Series(dtype=object)).fillna(False).astype(bool).sum())
    cards = [("objects", f"{len(table):,}"), ("ok", f"{counts['ok']:,}"), ("failed", f"{counts['failed']:,}"),
             ("filtered", f"{counts['filtered']:,}"), ("shards", f"{shards['shards']:,}"),
             ("shard size", f"{shards['bytes'] / 1e6:,.1f} MB"),
             ("points written", f"{sum(shards['points'].values()):,}"), ("no salient edges", f"{fallback:,}")]
    points = pd.DataFrame([shards["points"]], index=["rows"]) if shards["points"] else pd.DataFrame()
    failures = failure_table(table)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>shapeprep build report</title>", STYLE,
        "</head><body>", SELF_CHECK,
        "<h1>shapeprep build report</h1>",
        f"<p class='lede'>{len(table):,} objects from {table['source'].nunique() if len(table) else 0} sources;"
        " status tables, shard offsets and job benchmarks, plus a rendered gallery.</p>",
        "<div class='cards'>", *[f"<div class='card'><b>{value}</b>{label}</div>" for label, value in cards], "</div>",
        "<h2>Objects per source</h2>", source_counts(table).to_html() if len(table) else "<p>No objects.</p>",
        "<h2>Objects per stage</h2>", stage_counts(table).to_html(),
        "<h2>Points written per set</h2>", points.to_html() if len(points) else "<p>No points.</p>",
        "<h2>Build time per stage</h2>",
        benchmarks.to_html() if len(benchmarks) else "<p>No benchmark files yet.</p>",
        "<h2>Failed and filtered objects by stage and reason</h2>",
        failures.to_html(index=False) if len(failures) else "<p>No failures.</p>",
        "<h2>Distributions</h2><div class='figs'>",
        *[_img(png, title) for (_, title), png in figures.items()], "</div>",
        "<h2>Gallery</h2><p>Normal maps of the normalised source and the watertight mesh (ray cast, "
        "front view, 20&deg; elevation) and the stored surface points with salient points in red; with "
        "<code>render.enabled</code>, a strip of the conditioning renders.</p>",
        "<div class='gallery'>",
    ]
    for row, images in gallery:
        deviation = row.get("validate_deviation_chamfer")
        facts = [row["why"], str(row.get("name", "")), str(row["object_id"])[:16], row["status"]]
        if row["status"] != "ok":
            facts.append(f"{row['failed_stage']}: {row['reason']}")
        if deviation is not None and pd.notna(deviation):
            facts.append(f"deviation {float(deviation):.2f} vox")
        parts.append("<div class='item'>" + "".join(_img(png, label) for label, png in images)
                     + f"<div class='cap'>{html.escape(' · '.join(facts))}</div></div>")
    parts += ["</div>", "<h2>Provenance</h2><pre>",
              html.escape(json.dumps(provenance, indent=2, sort_keys=True, default=str)), "</pre></body></html>"]
    return "\n".join(parts)
