"""Snakemake adapter: list the configured sources and write one object list per shard. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import manifest
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        manifest.run(smk.params.sources, smk.params.num_shards, smk.output.manifest, list(smk.output.shard_lists))


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
