# Per-shard mesh stages: normalize (with curation filters) -> watertight -> validate.


rule normalize:
    input:
        shard_list=shard_list,
        downloads=rules.download.output.status,
    output:
        meshes=result("normalized", "{shard}.h5"),
        status=result("normalized", "{shard}.status.parquet"),
    log:
        result("logs", "normalize", "{shard}.log"),
    benchmark:
        result("benchmarks", "normalize", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    threads: rule_resource("normalize", "threads")
    resources:
        **shard_resources("normalize"),
    params:
        settings=stage_params("normalize"),
        curate=canonical(config["curate"]),
    script:
        "../scripts/job.py"


rule watertight:
    input:
        shard_list=shard_list,
        normalized=rules.normalize.output.meshes,
        normalized_status=rules.normalize.output.status,
    output:
        meshes=result("watertight", "{shard}.h5"),
        status=result("watertight", "{shard}.status.parquet"),
    log:
        result("logs", "watertight", "{shard}.log"),
    benchmark:
        result("benchmarks", "watertight", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    threads: rule_resource("watertight", "threads")
    resources:
        **shard_resources("watertight"),
    params:
        settings=stage_params("watertight"),
    script:
        "../scripts/job.py"


rule validate:
    input:
        shard_list=shard_list,
        watertight=rules.watertight.output.meshes,
        watertight_status=rules.watertight.output.status,
        normalized=rules.normalize.output.meshes,
    output:
        status=result("validated", "{shard}.status.parquet"),
    log:
        result("logs", "validate", "{shard}.log"),
    benchmark:
        result("benchmarks", "validate", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    threads: rule_resource("validate", "threads")
    resources:
        **shard_resources("validate"),
    params:
        settings=stage_params("validate"),
    script:
        "../scripts/job.py"
