# Sparse signed distance volumes per shard (off by default): README "Sparse SDF volumes".


rule sparse_sdf:
    input:
        shard_list=shard_list,
        normalize_status=rules.normalize.output.status,
        validate_status=rules.validate.output.status,
        watertight=rules.watertight.output.meshes,
    output:
        sparse_file=result("sparse_sdf", "{shard}.h5"),
        status=result("sparse_sdf", "{shard}.status.parquet"),
    log:
        result("logs", "sparse_sdf", "{shard}.log"),
    benchmark:
        result("benchmarks", "sparse_sdf", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    threads: rule_resource("sparse_sdf", "threads")
    resources:
        **shard_resources("sparse_sdf"),
    params:
        settings=stage_params(
            "sparse_sdf",
            {
                key: value
                for key, value in config["sparse_sdf"].items()
                if key != "enabled"
            },
        ),
    script:
        "../scripts/job.py"
