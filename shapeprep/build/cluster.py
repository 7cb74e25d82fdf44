"""Cluster resources of per-shard jobs, computed from the config at DAG-build time.

Imported by the Snakefile in every job's parse, so it stays standard-library only.
The rules pass these through ``resources:``; snakemake-executor-plugin-slurm turns
``runtime``, ``mem_mb``, ``gpu``, ``gpu_model`` and ``slurm_partition`` into sbatch flags.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..status import RESOLUTION_STAGES


def objects_in_list(path: str) -> int:
    """Objects in a shard's TSV list (0 when it does not exist yet: before the manifest checkpoint)."""
    try:
        with open(path) as handle:
            return max(sum(1 for _ in handle) - 1, 0)
    except FileNotFoundError:
        return 0


def resolution_factor(config: dict, stage: str) -> float:
    """Work (and watertight memory) per object relative to resolution 256.

    The sparse grid's band grows with the surface area in voxels, about the
    square of the resolution (measured: median 0.78 s at 256, 3.3 s at 512).
    """
    if stage not in RESOLUTION_STAGES:
        return 1.0
    return max(1.0, (config["watertight"]["resolution"] / 256) ** 2)


def watertight_gpus(config: dict) -> int:
    """GPUs the watertight job asks for.

    ``resources.watertight.gpu`` set to a number wins; ``auto`` (the default)
    gives 1 when the backend is ``cubvh``, or ``auto`` with a partition set for
    the watertight rule (the GPU partition), else 0.
    """
    spec = config["resources"]["watertight"]
    if spec["gpu"] != "auto":
        return int(spec["gpu"])
    backend = config["watertight"]["backend"]
    return int(backend == "cubvh" or (backend == "auto" and bool(spec["slurm_partition"])))


def build_resources(config: dict, stage: str) -> dict:
    """``resources:`` of a whole-build job (index, report) when it is not a local rule:
    the configured ``mem_mb`` and ``runtime``, and ``slurm_partition`` when set."""
    spec = config["resources"][stage]
    resources = {key: spec[key] for key in ("mem_mb", "runtime")}
    if spec["slurm_partition"]:
        resources["slurm_partition"] = spec["slurm_partition"]
    return resources


def shard_minutes(objects: int, seconds_per_object: float, worst_object_seconds: float, factor: float = 1.0) -> int:
    """Minutes a shard job asks for: ``2 x (objects x seconds_per_object + worst_object_seconds) x factor``.

    ``seconds_per_object`` is a high quantile (p90) of the per-object time, not
    the mean, and ``worst_object_seconds`` the slowest object measured: one
    tail object in a shard cannot push the job past its limit, and the factor
    2 covers a slower node. Both are measured at resolution 256; ``factor`` is
    :func:`resolution_factor`. ``benchmarks/resources.py`` re-estimates them
    from a finished build. A shard with no objects asks for nothing beyond the floor.
    """
    if objects == 0:
        return 0
    return math.ceil(2 * (objects * seconds_per_object + worst_object_seconds) * factor / 60)


def shard_resources(config: dict, stage: str, shard_list_path: Callable[[str], str]) -> dict:
    """``resources:`` of a per-shard job.

    - ``runtime`` (minutes): the larger of the configured ``runtime`` and
      :func:`shard_minutes`;
    - ``mem_mb``: the configured value, times ``resolution / 256`` for watertight;
    - both times the attempt number, so a job killed for time or memory comes
      back with more when the profile sets ``retries``;
    - ``slurm_partition`` when configured for the stage; ``gpu`` (and
      ``gpu_model``) for watertight per :func:`watertight_gpus`.

    Parameters
    ----------
    config : the workflow config (validated against the schema, which fills in every default)
    stage : rule name
    shard_list_path : shard name -> path of its object list
    """
    spec = config["resources"][stage]
    factor = resolution_factor(config, stage)
    # Watertight memory measured 0.6 GB median / 1.5 GB worst at 512 and 2.9 GB at
    # 1024 on the shared meshes: about linear in the resolution.
    memory_factor = max(1.0, config["watertight"]["resolution"] / 256) if stage == "watertight" else 1.0
    fixed = build_resources(config, stage)
    floor, memory = fixed.pop("runtime"), fixed.pop("mem_mb")

    def runtime(wildcards, attempt):
        objects = objects_in_list(shard_list_path(wildcards.shard))
        estimate = shard_minutes(objects, spec["seconds_per_object"], spec["worst_object_seconds"], factor)
        return max(floor, estimate) * attempt

    def mem_mb(wildcards, attempt):
        return int(memory * memory_factor) * attempt

    resources = {"runtime": runtime, "mem_mb": mem_mb, **fixed}
    gpus = watertight_gpus(config) if stage == "watertight" else 0
    if gpus:
        resources["gpu"] = gpus
        if spec["gpu_model"]:
            resources["gpu_model"] = spec["gpu_model"]
    return resources
