# Shared helpers. Keep this cheap: it runs in every cluster job's parse.

import os

from shapeprep.build import cluster
from shapeprep.build.provenance import (
    canonical,
    download_outcome_settings,
    stage_code_hash,
)
from shapeprep.status import OBJECT_STAGES, STAGE_NAMES

SHARDS = [f"{index:05d}" for index in range(config["shards"]["num_shards"])]


wildcard_constraints:
    shard=r"\d{5}",


def result(*parts):
    """Path under the configured results folder."""
    return os.path.join(config["results"], *parts)


def stage_params(stage, settings=None):
    """A stage's settings (default: its config section) plus its code hash: changing either reruns the stage."""
    settings = config[stage] if settings is None else settings
    return canonical({**settings, "code": stage_code_hash(stage)})


def download_params():
    """The download settings an outcome depends on (not the speed settings), plus the code hash."""
    return stage_params("download", download_outcome_settings(config["download"]))


def provenance_config():
    """The config as the report shows it, without the download speed settings
    (they change nothing in the data, so they must not rerun the report)."""
    return canonical(
        {**config, "download": download_outcome_settings(config["download"])}
    )


def build_params():
    """The parameters of every stage that decides an object's status, written into each shard as provenance."""
    stages = {
        stage: download_params() if stage == "download" else stage_params(stage)
        for stage in OBJECT_STAGES
    }
    return canonical(stages | {"curate": config["curate"]})


def code_hashes():
    """Every stage's code hash, shown in the report's provenance."""
    return {stage: stage_code_hash(stage) for stage in STAGE_NAMES}


def rule_resource(stage, key):
    """threads / mem_mb / runtime of a stage from config["resources"] (the schema fills in defaults)."""
    return config["resources"][stage][key]


def build_resources(stage):
    """mem_mb / runtime (and partition) of a whole-build job; see shapeprep.build.cluster."""
    return cluster.build_resources(config, stage)


def shard_resources(stage):
    """runtime / mem_mb (and GPU, partition) of a per-shard job; see shapeprep.build.cluster."""
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
