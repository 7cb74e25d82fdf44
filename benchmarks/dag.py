"""DAG size and per-object overhead at scale.

``dag`` part: synthetic manifests of 10k, 100k and 500k objects (locations only,
no mesh files), written as a finished manifest checkpoint, then times
``snakemake -n`` (parse + DAG of every per-shard job) and its peak memory, and
the bare Snakefile parse (``snakemake --list-rules``) that every cluster job
pays. Targets: 500k objects in <= 60 s and <= 4 GB.

``overhead`` part: one shard of N tiny distinct meshes through the whole build
at the smallest settings, against an empty shard: ``(job time - empty job
time) / N`` per stage is the bookkeeping and I/O each object costs inside a
shard job, an upper bound since the tiny compute is included. Target <= 50 ms.

    python benchmarks/dag.py [dag|overhead|all] [--sizes 10000 100000 500000] [--objects-per-shard 1000]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from shapeprep.sources.manifest import MANIFEST_COLUMNS, shard_name, shard_of, write_shard_lists  # noqa: E402
from shapeprep.sources.objaverse import FILTERED_COLUMNS  # noqa: E402
from shapeprep.status import STAGES as ALL_STAGES  # noqa: E402

#: The per-shard stages a default build runs (normal maps are optional).
STAGES = tuple(stage.name for stage in ALL_STAGES if stage.per_shard and stage.name != "normal_maps")


def timed(command: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB (GNU time) and output of a command."""
    started = time.perf_counter()
    run = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB %M", *command], cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(run.stdout[-2000:] + run.stderr[-2000:])
    peak_kb = int(run.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return seconds, peak_kb / 1024, run.stdout + run.stderr


def synthetic_project(folder: Path, objects: int, num_shards: int) -> None:
    """A project whose manifest checkpoint is already done: the lists name files that need not exist."""
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(objects)]
    manifest = pd.DataFrame({
        "object_id": ids, "source": "local", "location": [f"/data/meshes/{i}.glb" for i in range(objects)],
        "name": [f"{i}.glb" for i in range(objects)], "file_format": "glb", "file_size": 1000,
    })
    manifest["shard"] = [shard_name(shard_of(object_id, num_shards)) for object_id in ids]
    results = folder / "results" / "manifest"
    (results / "shards").mkdir(parents=True)
    write_shard_lists(manifest[MANIFEST_COLUMNS], num_shards,
                      {shard_name(i): results / "shards" / f"{shard_name(i)}.tsv" for i in range(num_shards)})
    manifest.to_parquet(results / "manifest.parquet", index=False)
    pd.DataFrame(columns=FILTERED_COLUMNS).to_parquet(results / "filtered.parquet", index=False)
    config = {"results": "results", "sources": {"local": [{"path": "/data/meshes"}]}, "shards": {"num_shards": num_shards}}
    (folder / "config").mkdir()
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def dag_part(sizes: list[int], per_shard: int) -> None:
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "2"]
    print("| objects | shards | jobs planned | `snakemake -n` s | peak MB | parse only s | parse peak MB |")
    print("|---|---|---|---|---|---|---|")
    for objects in sizes:
        num_shards = max(1, objects // per_shard)
        with tempfile.TemporaryDirectory(prefix="shapeprep-dag-") as tmp:
            folder = Path(tmp)
            synthetic_project(folder, objects, num_shards)
            seconds, peak, output = timed([*snakemake, "-n", "--quiet", "rules"], folder)
            # The job-stats table is printed twice; its first "total" counts the `all` target too.
            jobs = next(int(line.split()[1]) for line in output.splitlines() if line.startswith("total")) - 1
            parse_seconds, parse_peak, _ = timed([*snakemake, "--list-rules"], folder)
        print(f"| {objects} | {num_shards} | {jobs} | {seconds:.1f} | {peak:.0f} | {parse_seconds:.2f} | "
              f"{parse_peak:.0f} |")


def tiny_meshes(folder: Path, count: int) -> None:
    """``count`` distinct small closed meshes (tetrahedra with jittered corners)."""
    folder.mkdir(parents=True)
    for index in range(count):
        jitter = 0.01 * (index % 97) + 0.001 * (index // 97)
        text = (f"v 0 0 0\nv 1 {jitter:.4f} 0\nv 0 1 {jitter:.4f}\nv {jitter:.4f} 0 1\n"
                "f 1 3 2\nf 1 2 4\nf 2 3 4\nf 1 4 3\n")
        (folder / f"t{index:05d}.obj").write_text(text)


def overhead_part(count: int) -> None:
    config = {
        "results": "results", "shards": {"num_shards": 1},
        "watertight": {"resolution": 16},
        "validate": {"deviation_samples": 100},
        "sample": {"surface_points": 64, "salient_points": 64, "volume_points": 64,
                   "near_surface_sigmas": [0.01], "near_surface_points_per_sigma": 64,
                   "near_salient_sigmas": [0.01], "near_salient_points_per_sigma": 64},
    }
    seconds = {}
    for label, objects in (("empty", 0), ("full", count)):
        with tempfile.TemporaryDirectory(prefix="shapeprep-overhead-") as tmp:
            folder = Path(tmp)
            tiny_meshes(folder / "meshes", objects)
            (folder / "config").mkdir()
            (folder / "config" / "config.yaml").write_text(
                yaml.safe_dump({**config, "sources": {"local": [{"path": "meshes", "glob": "*.obj"}]}}))
            subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--cores", "1"],
                           cwd=folder, check=True, capture_output=True)
            seconds[label] = {stage: float(pd.read_csv(folder / "results" / "benchmarks" / stage / "00000.tsv",
                                                       sep="\t")["s"].iloc[0]) for stage in STAGES}
    print(f"\n{count} tiny objects in one shard vs an empty shard (resolution 16, 64 points per set)\n")
    print("| stage | empty job s | full job s | ms per object |")
    print("|---|---|---|---|")
    for stage in STAGES:
        per_object = (seconds["full"][stage] - seconds["empty"][stage]) / count * 1000
        print(f"| {stage} | {seconds['empty'][stage]:.2f} | {seconds['full'][stage]:.2f} | {per_object:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", nargs="?", default="all", choices=["dag", "overhead", "all"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 500_000])
    parser.add_argument("--objects-per-shard", type=int, default=1000)
    parser.add_argument("--overhead-objects", type=int, default=300)
    args = parser.parse_args()
    if args.part in ("dag", "all"):
        dag_part(args.sizes, args.objects_per_shard)
    if args.part in ("overhead", "all"):
        overhead_part(args.overhead_objects)


if __name__ == "__main__":
    main()
