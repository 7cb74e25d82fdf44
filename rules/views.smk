# Conditioning renders per shard (off by default): README "Conditioning renders".


rule render:
    input:
        shard_list=shard_list,
        normalize_status=rules.normalize.output.status,
        validate_status=rules.validate.output.status,
    output:
        render_file=result("render", "{shard}.h5"),
        status=result("render", "{shard}.status.parquet"),
    log:
        result("logs", "render", "{shard}.log"),
    benchmark:
        result("benchmarks", "render", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    threads: rule_resource("render", "threads")
    resources:
        **shard_resources("render"),
    params:
        settings=stage_params(
            "render",
            {
                key: value
                for key, value in config["render"].items()
                if key != "enabled"
            },
        ),
    script:
        "../scripts/job.py"
