# Per-shard mesh stages: normalize -> watertight -> validate.


rule normalize:
    input:
        shard_list=shard_list,
    output:
        meshes=result("normalized", "{shard}.h5"),
        status=result("normalized", "{shard}.status.parquet"),
    params:
        normalize=stage_params("normalize"),
    log:
        result("logs", "normalize", "{shard}.log"),
    benchmark:
        result("benchmarks", "normalize", "{shard}.tsv")
    threads: rule_resource("normalize", "threads")
    resources:
        mem_mb=rule_resource("normalize", "mem_mb"),
        runtime=rule_resource("normalize", "runtime"),
    conda:
        "../envs/shapeprep.yaml"
    script:
        "../scripts/normalize.py"


rule watertight:
    input:
        meshes=rules.normalize.output.meshes,
        status=rules.normalize.output.status,
    output:
        meshes=result("watertight", "{shard}.h5"),
        status=result("watertight", "{shard}.status.parquet"),
    params:
        watertight=stage_params("watertight"),
    log:
        result("logs", "watertight", "{shard}.log"),
    benchmark:
        result("benchmarks", "watertight", "{shard}.tsv")
    threads: rule_resource("watertight", "threads")
    resources:
        mem_mb=rule_resource("watertight", "mem_mb"),
        runtime=rule_resource("watertight", "runtime"),
    conda:
        "../envs/shapeprep.yaml"
    script:
        "../scripts/watertight.py"


rule validate:
    input:
        watertight=rules.watertight.output.meshes,
        watertight_status=rules.watertight.output.status,
        normalized=rules.normalize.output.meshes,
    output:
        status=result("validated", "{shard}.status.parquet"),
    params:
        validate=stage_params("validate"),
    log:
        result("logs", "validate", "{shard}.log"),
    benchmark:
        result("benchmarks", "validate", "{shard}.tsv")
    threads: rule_resource("validate", "threads")
    resources:
        mem_mb=rule_resource("validate", "mem_mb"),
        runtime=rule_resource("validate", "runtime"),
    conda:
        "../envs/shapeprep.yaml"
    script:
        "../scripts/validate.py"
