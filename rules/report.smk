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
        settings=stage_params("index", {}),
    script:
        "../scripts/job.py"


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
        # The gallery renders a few objects' meshes.
        normalized_meshes=expand(result("normalized", "{shard}.h5"), shard=SHARDS),
        watertight_meshes=expand(result("watertight", "{shard}.h5"), shard=SHARDS),
        # Sparse SDF volumes, when built: sizes and a reconstructed surface in the gallery.
        sparse_sdf_status=expand(
            result("sparse_sdf", "{shard}.status.parquet"),
            shard=SHARDS if config["sparse_sdf"]["enabled"] else [],
        ),
        sparse_files=expand(
            result("sparse_sdf", "{shard}.h5"),
            shard=SHARDS if config["sparse_sdf"]["enabled"] else [],
        ),
        # Conditioning renders, when built: a strip of views in the gallery.
        render_status=expand(
            result("render", "{shard}.status.parquet"),
            shard=SHARDS if config["render"]["enabled"] else [],
        ),
        render_files=expand(
            result("render", "{shard}.h5"),
            shard=SHARDS if config["render"]["enabled"] else [],
        ),
    output:
        objects=result("report", "objects.parquet"),
        objects_csv=report(
            result("report", "objects.csv"),
            caption="../report/objects.rst",
            category="Objects",
        ),
        html=report(
            result("report", "report.html"),
            caption="../report/build_report.rst",
            category="Build report",
        ),
        figures=report(
            directory(result("report", "figures")),
            patterns=["{section}--{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            subcategory="{section}",
        ),
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
        settings=canonical(config["report"]),
        provenance={"config": provenance_config(), "code": code_hashes()},
        # Build time per stage; the benchmark files are not inputs (no rule has them as outputs).
        benchmarks=result("benchmarks"),
    script:
        "../scripts/job.py"


rule normal_maps:
    input:
        shard_list=shard_list,
        watertight=rules.watertight.output.meshes,
        validate_status=rules.validate.output.status,
    output:
        normal_maps=result("normal_maps", "{shard}.h5"),
    log:
        result("logs", "normal_maps", "{shard}.log"),
    benchmark:
        result("benchmarks", "normal_maps", "{shard}.tsv")
    conda:
        "../envs/shapeprep.yaml"
    resources:
        **shard_resources("normal_maps"),
    params:
        settings=stage_params(
            "normal_maps",
            {
                "size": config["report"]["normal_map_size"],
                "backend": config["watertight"]["backend"],
            },
        ),
    script:
        "../scripts/job.py"
