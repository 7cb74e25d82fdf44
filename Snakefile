# shapeprep: sources -> downloads -> normalized -> watertight -> validated -> sampled -> HDF5 shards -> report.
# The job unit is a shard (many objects), so the DAG stays small at 500k objects.


from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schema.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/manifest.smk"
include: "rules/download.smk"
include: "rules/meshes.smk"
include: "rules/samples.smk"
include: "rules/volumes.smk"
include: "rules/views.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        expand(result("shards", "{shard}.h5"), shard=SHARDS),
        result("index.parquet"),
        result("report", "report.html"),
        expand(
            result("normal_maps", "{shard}.h5"),
            shard=SHARDS if config["report"]["normal_maps"] else [],
        ),
        expand(
            result("sparse_sdf", "{shard}.h5"),
            shard=SHARDS if config["sparse_sdf"]["enabled"] else [],
        ),
        expand(
            result("render", "{shard}.h5"),
            shard=SHARDS if config["render"]["enabled"] else [],
        ),
