# Per-shard training data: point samples with SDF labels, then the final HDF5 shard.


rule sample:
    input:
        shard_list=shard_list,
        watertight=rules.watertight.output.meshes,
        validate_status=rules.validate.output.status,
        normalized=rules.normalize.output.meshes,
    output:
        samples=result("samples", "{shard}.h5"),
        status=result("samples", "{shard}.status.parquet"),
    log:
        result("logs", "sample", "{shard}.log"),
    benchmark:
        result("benchmarks", "sample", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    threads: rule_resource("sample", "threads")
    resources:
        **shard_resources("sample"),
    params:
        settings=stage_params("sample"),
    script:
        "../scripts/job.py"


rule shard:
    input:
        shard_list=shard_list,
        normalize_status=rules.normalize.output.status,
        validate_status=rules.validate.output.status,
        sample_status=rules.sample.output.status,
        samples=rules.sample.output.samples,
    output:
        shard_file=result("shards", "{shard}.h5"),
    log:
        result("logs", "shard", "{shard}.log"),
    benchmark:
        result("benchmarks", "shard", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    threads: rule_resource("shard", "threads")
    resources:
        **shard_resources("shard"),
    params:
        settings=stage_params("shard"),
        build_params=build_params(),
    script:
        "../scripts/job.py"
