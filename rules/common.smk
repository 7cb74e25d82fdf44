# Shared helpers. Keep this cheap: it runs in every cluster job's parse.

import os

from shapeprep import cluster
from shapeprep.provenance import DOWNLOAD_SPEED_KEYS, canonical, stage_code_hash

SHARDS = [f"{index:05d}" for index in range(config["shards"]["num_shards"])]

STAGES = ["normalize", "watertight", "validate", "sample"]

DEFAULT_RESOURCES = cluster.DEFAULT_RESOURCES


wildcard_constraints:
    shard=r"\d{5}",


def result(*parts):
    """Path under the configured results folder."""
    return os.path.join(config["results"], *parts)


def stage_params(stage):
    """A stage's config section plus its code hash: changing either reruns the stage."""
    return canonical({**config.get(stage, {}), "code": stage_code_hash(stage)})


def download_outcome_settings():
    """The download section without its speed settings: what the outcome depends on."""
    return {
        key: value
        for key, value in config["download"].items()
        if key not in DOWNLOAD_SPEED_KEYS
    }


def download_params():
    """The download settings an outcome depends on, plus the code hash."""
    return canonical(
        download_outcome_settings() | {"code": stage_code_hash("download")}
    )


def provenance_config():
    """The config as the report shows it, without the download speed settings
    (they change nothing in the data, so they must not rerun the report)."""
    return canonical({**config, "download": download_outcome_settings()})


def build_params():
    """Every stage's parameters, written into each shard as provenance."""
    stages = {stage: stage_params(stage) for stage in STAGES}
    return canonical(
        stages | {"download": download_params(), "curate": config["curate"]}
    )


def rule_resource(stage, key):
    """threads / mem_mb / runtime of a stage from config["resources"]."""
    return config["resources"].get(stage, {}).get(key, DEFAULT_RESOURCES[key])


def build_resources(stage):
    """mem_mb / runtime (and partition) of a whole-build job; see shapeprep.cluster."""
    return cluster.build_resources(config, stage)


def shard_resources(stage):
    """runtime / mem_mb (and GPU, partition) of a per-shard job; see shapeprep.cluster."""
    return cluster.shard_resources(
        config, stage, lambda shard: result("manifest", "shards", f"{shard}.tsv")
    )


def shard_list(wildcards):
    """The shard's object list, an input of every per-shard rule.

    Going through the checkpoint makes Snakemake re-evaluate these jobs after
    the manifest reruns; a list whose content did not change (checksummed,
    it is small) then reruns nothing. A per-shard rule without this input is
    not re-evaluated and keeps the "input will be updated" verdict of the
    first DAG, rebuilding every shard after new objects arrive."""
    checkpoints.manifest.get()
    return result("manifest", "shards", f"{wildcards.shard}.tsv")
