"""Cluster resources of per-shard jobs (shapeprep.build.cluster)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from shapeprep.build.cluster import shard_resources, watertight_gpus

from .conftest import validated_config


def config(backend="auto", resolution=256, **watertight_resources):
    return validated_config({
        "watertight": {"backend": backend, "resolution": resolution},
        "resources": {"watertight": {"mem_mb": 4000, "runtime": 60, "seconds_per_object": 2.0,
                                     "worst_object_seconds": 60.0, **watertight_resources},
                      "normalize": {"mem_mb": 3000, "runtime": 30, "seconds_per_object": 0.5}}})


@pytest.mark.parametrize(("backend", "extra", "gpus"), [
    ("cpu", {}, 0),
    ("auto", {}, 0),
    ("cubvh", {}, 1),
    ("auto", {"slurm_partition": "gpu"}, 1),
    ("cpu", {"gpu": 2}, 2),
    ("cubvh", {"gpu": 0}, 0),
])
def test_watertight_asks_for_a_gpu_only_when_it_will_use_one(backend, extra, gpus):
    assert watertight_gpus(config(backend, **extra)) == gpus
    resources = shard_resources(config(backend, **extra), "watertight", lambda shard: "missing.tsv")
    assert resources.get("gpu", 0) == gpus
    assert "gpu" not in shard_resources(config(backend, **extra), "normalize", lambda shard: "missing.tsv")


def test_runtime_and_memory_scale_with_shard_size_resolution_and_attempt(tmp_path):
    shard_list = tmp_path / "00000.tsv"
    shard_list.write_text("object_id\n" + "".join(f"{i}\n" for i in range(3000)))
    wildcards = SimpleNamespace(shard="00000")
    at_256 = shard_resources(config(resolution=256), "watertight", lambda shard: str(shard_list))
    at_512 = shard_resources(config(resolution=512, gpu_model="a100"), "watertight", lambda shard: str(shard_list))
    assert at_256["runtime"](wildcards, 1) == 202  # 2 x (3000 x 2 s + 60 s) = 202 min, above the 60 min floor
    assert at_512["runtime"](wildcards, 1) == 808  # (512/256)^2 more work per object
    assert at_512["runtime"](wildcards, 2) == 1616
    assert (at_256["mem_mb"](wildcards, 1), at_512["mem_mb"](wildcards, 1)) == (4000, 8000)
    assert "gpu_model" not in at_512  # no GPU requested, so no model either
    empty = shard_resources(config(), "normalize", lambda shard: str(tmp_path / "absent.tsv"))
    assert empty["runtime"](wildcards, 1) == 30 and empty["mem_mb"](wildcards, 1) == 3000


def test_one_slow_object_fits_the_request():
    """p90 x objects alone would not cover a shard whose one tail object takes 100x the p90."""
    from shapeprep.build.cluster import shard_minutes

    seconds = [2.0] * 999 + [200.0]  # what a 1000-object shard with one tail object costs
    assert shard_minutes(1000, seconds_per_object=2.0, worst_object_seconds=200.0) * 60 >= 2 * sum(seconds) * 0.99
    assert shard_minutes(0, 2.0, 200.0) == 0
