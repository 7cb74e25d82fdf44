# List objects from the configured sources and assign them to shards.
# Rescan the sources after adding files with `snakemake --forcerun manifest`.


checkpoint manifest:
    output:
        manifest=result("manifest", "manifest.parquet"),
        filtered=result("manifest", "filtered.parquet"),
        shard_lists=expand(result("manifest", "shards", "{shard}.tsv"), shard=SHARDS),
    log:
        result("logs", "manifest.log"),
    benchmark:
        result("benchmarks", "manifest.tsv")
    localrule: "manifest" in config["local_rules"]
    conda:
        "../envs/shapeprep.yaml"
    params:
        settings=stage_params(
            "manifest",
            {
                "sources": config["sources"],
                "num_shards": config["shards"]["num_shards"],
            },
        ),
    script:
        "../scripts/job.py"
