"""Build summary: one row per object, failure tables and an HTML page with figures.

Reads only status tables and shard file sizes, never meshes, so it stays
fast for large builds.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np
import pandas as pd

from .index import STAGES


def stage_counts(table: pd.DataFrame) -> pd.DataFrame:
    """Objects entering, passing and failing each stage.

    Returns
    -------
    DataFrame indexed by stage with ``attempted, ok, failed, filtered``.
    """
    rows = []
    for stage in STAGES:
        column = f"{stage}_status"
        status = table[column] if column in table else pd.Series(dtype=object)
        rows.append({"stage": stage, "attempted": int(status.notna().sum()), "ok": int((status == "ok").sum()),
                     "failed": int((status == "failed").sum()), "filtered": int((status == "filtered").sum())})
    return pd.DataFrame(rows).set_index("stage")


def failure_table(table: pd.DataFrame, examples: int = 3) -> pd.DataFrame:
    """Failed and filtered objects grouped by stage and reason, with counts and example object names.

    Returns
    -------
    DataFrame with ``status, failed_stage, reason, count, examples``.
    """
    failed = table[table["status"] != "ok"]
    if failed.empty:
        return pd.DataFrame(columns=["status", "failed_stage", "reason", "count", "examples"])
    grouped = failed.groupby(["status", "failed_stage", "reason"], sort=False)
    summary = grouped.agg(count=("object_id", "size"), examples=("name", lambda names: ", ".join(map(str, names[:examples]))))
    return summary.reset_index().sort_values("count", ascending=False, ignore_index=True)


def _figure_png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def distribution_figures(table: pd.DataFrame) -> dict[str, str]:
    """Histograms of the main per-object figures, as base64 PNGs.

    Returns
    -------
    dict ``title -> base64 png``
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [
        ("Source faces", "normalize_source_faces", True),
        ("Watertight faces", "watertight_faces", True),
        ("Components (watertight)", "validate_components", False),
        ("Genus (watertight)", "validate_genus", False),
        ("Chamfer deviation (voxels)", "validate_deviation_chamfer", False),
        ("Hausdorff deviation (voxels)", "validate_deviation_hausdorff", False),
    ]
    figures = {}
    for title, column, logarithmic in panels:
        values = pd.to_numeric(table.get(column, pd.Series(dtype=float)), errors="coerce").dropna()
        if values.empty:
            continue
        figure, axis = plt.subplots(figsize=(4.2, 2.8))
        data = np.log10(values.clip(lower=1)) if logarithmic else values
        axis.hist(data, bins=min(30, max(5, len(values))), color="#3b6ea5")
        axis.set_xlabel(f"log10 {title.lower()}" if logarithmic else title.lower())
        axis.set_ylabel("objects")
        axis.set_title(title)
        figures[title] = _figure_png(figure)
    seconds = {stage: pd.to_numeric(table.get(f"{stage}_seconds", pd.Series(dtype=float)), errors="coerce").dropna() for stage in STAGES}
    seconds = {stage: values for stage, values in seconds.items() if len(values)}
    if seconds:
        figure, axis = plt.subplots(figsize=(4.2, 2.8))
        axis.boxplot(list(seconds.values()), tick_labels=list(seconds.keys()))
        axis.set_ylabel("seconds per object")
        axis.set_title("Time per object and stage")
        figures["Time per object and stage"] = _figure_png(figure)
    return figures


def render_html(table: pd.DataFrame, shard_bytes: dict[str, int], provenance: dict) -> str:
    """The self-contained report page.

    Parameters
    ----------
    table : from :func:`object_table`
    shard_bytes : shard name -> file size
    provenance : dict of plain data (config, versions) shown at the end

    Returns
    -------
    str
        HTML with embedded images.
    """
    counts = stage_counts(table)
    failures = failure_table(table)
    figures = distribution_figures(table)
    ok = int((table["status"] == "ok").sum())
    summary = {
        "objects": len(table),
        "ok": ok,
        "failed": int((table["status"] == "failed").sum()),
        "filtered": int((table["status"] == "filtered").sum()),
        "shards": len(shard_bytes),
        "shard bytes": f"{sum(shard_bytes.values()) / 1e6:.1f} MB",
    }
    per_source = table.groupby(["source", "status"]).size().unstack(fill_value=0)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>shapeprep build report</title>",
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#eef}"
        ".figs img{margin:4px;border:1px solid #ddd}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>",
        "<h1>shapeprep build report</h1>",
        "<h2>Summary</h2>", pd.DataFrame([summary]).to_html(index=False),
        "<h2>Objects per stage</h2>", counts.to_html(),
        "<h2>Objects per source</h2>", per_source.to_html(),
        "<h2>Failed and filtered objects by stage and reason</h2>",
        failures.to_html(index=False) if len(failures) else "<p>No failures.</p>",
        "<h2>Distributions</h2><div class='figs'>",
        *[f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>" for title, png in figures.items()],
        "</div>",
        "<h2>Provenance</h2><pre>", html.escape(_pretty(provenance)), "</pre></body></html>",
    ]
    return "\n".join(parts)


def _pretty(value) -> str:
    import json

    return json.dumps(value, indent=2, sort_keys=True, default=str)
