"""Re-estimate the SLURM resources of each stage from a finished build (not a timed test).

Reads ``<results>/report/objects.parquet`` (every object's ``<stage>_seconds``
and ``<stage>_peak_rss_mb``), scales the times of the resolution-dependent
stages back to resolution 256 (the unit ``resources.*.seconds_per_object`` is
given in), and prints p50 / p90 / p99 / max per stage plus the ``resources:``
lines to paste into the config: ``seconds_per_object`` = p90,
``worst_object_seconds`` = max, ``mem_mb`` = 1.5 x the largest per-object peak
(at least 1000).

    python benchmarks/resources.py [results]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from shapeprep.build.cluster import resolution_factor
from shapeprep.status import OBJECT_STAGES, RESOLUTION_STAGES


def estimates(table: pd.DataFrame) -> pd.DataFrame:
    """Per stage: objects, seconds at 256 (p50, p90, p99, max) and peak memory (p99, max MB)."""
    rows = []
    resolution = pd.to_numeric(table.get("watertight_resolution"), errors="coerce").dropna()
    resolution = int(resolution.iloc[0]) if len(resolution) else 256
    for stage in OBJECT_STAGES:
        seconds = pd.to_numeric(table.get(f"{stage}_seconds"), errors="coerce").dropna()
        if seconds.empty:
            continue
        factor = resolution_factor({"watertight": {"resolution": resolution}}, stage)
        seconds = seconds / factor
        memory = pd.to_numeric(table.get(f"{stage}_peak_rss_mb"), errors="coerce").dropna()
        p50, p90, p99 = np.percentile(seconds, [50, 90, 99])
        rows.append({"stage": stage, "objects": len(seconds), "p50_s": p50, "p90_s": p90, "p99_s": p99,
                     "max_s": seconds.max(), "peak_mb_p99": np.percentile(memory, 99) if len(memory) else np.nan,
                     "peak_mb_max": memory.max() if len(memory) else np.nan,
                     "scaled_from": resolution if stage in RESOLUTION_STAGES else 256})
    return pd.DataFrame(rows).set_index("stage")


def main() -> None:
    results = Path(sys.argv[1] if len(sys.argv) > 1 else "results")
    table = estimates(pd.read_parquet(results / "report" / "objects.parquet"))
    print(table.round(2).to_string())
    print("\nresources:  # paste into config/config.yaml (seconds at resolution 256)")
    for stage, row in table.iterrows():
        memory = max(1000, int(math.ceil(1.5 * row["peak_mb_max"] / 100) * 100)) if row["peak_mb_max"] == row["peak_mb_max"] else None
        fields = [f"seconds_per_object: {row['p90_s']:.2f}", f"worst_object_seconds: {row['max_s']:.1f}"]
        if memory:
            fields.append(f"mem_mb: {memory}")
        print(f"  {stage}: {{{', '.join(fields)}}}")


if __name__ == "__main__":
    main()
