# Build-wide outputs: the shard index, the per-object status table and the report.


rule index:
    input:
        manifest=rules.manifest.output.manifest,
        filtered=rules.manifest.output.filtered,
        download=expand(result("downloaded", "{shard}.status.parquet"), shard=SHARDS),
        normalize=expand(result("normalized", "{shard}.status.parquet"), shard=SHARDS),
        watertight=expand(result("watertight", "{shard}.status.parquet"), shard=SHARDS),
        validate=expand(result("validated", "{shard}.status.parquet"), shard=SHARDS),
        sample=expand(result("samples", "{shard}.status.parquet"), shard=SHARDS),
        shards=expand(result("shards", "{shard}.h5"), shard=SHARDS),
    output:
        index=result("index.parquet"),
    log:
        result("logs", "index.log"),
    localrule: "index" in config["local_rules"]
    conda:
        "../envs/shapeprep.yaml"
    resources:
        **build_resources("index"),
    params:
        code=stage_code_hash("index"),
    script:
        "../scripts/build_index.py"


rule report:
    input:
        manifest=rules.manifest.output.manifest,
        filtered=rules.manifest.output.filtered,
        download=expand(result("downloaded", "{shard}.status.parquet"), shard=SHARDS),
        normalize=expand(result("normalized", "{shard}.status.parquet"), shard=SHARDS),
        watertight=expand(result("watertight", "{shard}.status.parquet"), shard=SHARDS),
        validate=expand(result("validated", "{shard}.status.parquet"), shard=SHARDS),
        sample=expand(result("samples", "{shard}.status.parquet"), shard=SHARDS),
        shards=expand(result("shards", "{shard}.h5"), shard=SHARDS),
    output:
        objects=result("report", "objects.parquet"),
        objects_csv=result("report", "objects.csv"),
        html=result("report", "report.html"),
    log:
        result("logs", "report.log"),
    benchmark:
        result("benchmarks", "report.tsv")
    localrule: "report" in config["local_rules"]
    conda:
        "../envs/shapeprep.yaml"
    resources:
        **build_resources("report"),
    params:
        provenance={
            "config": provenance_config(),
            "code": {stage: stage_code_hash(stage) for stage in STAGES + ["report"]},
        },
    script:
        "../scripts/build_report.py"
