# Per-shard downloads: I/O-bound, so one thread each; objaverse's process pool
# (download.processes) gives the concurrency. Listed in `local_rules` (the
# default) the jobs run where Snakemake runs (a login or transfer node with
# internet access); otherwise on resources.download.slurm_partition.


rule download:
    input:
        shard_list=shard_list,
    output:
        status=result("downloaded", "{shard}.status.parquet"),
    log:
        result("logs", "download", "{shard}.log"),
    benchmark:
        result("benchmarks", "download", "{shard}.tsv")
    localrule: "download" in config["local_rules"]
    conda:
        "../envs/shapeprep.yaml"
    threads: 1
    resources:
        **shard_resources("download"),
        downloads=1,
    params:
        settings=download_params(),
        journal=lambda wildcards: result(
            "downloaded", f"{wildcards.shard}.journal.jsonl"
        ),
    script:
        "../scripts/job.py"
