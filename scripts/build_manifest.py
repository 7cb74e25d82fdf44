"""Snakemake adapter: list the configured sources and write one object list per shard. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting).

The download section (cache folder for hf:// tables, mirrors, timeout) is
read from the config: it changes where and how metadata is fetched, not which
objects are listed.
"""

from shapeprep.jobs import manifest
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        manifest.run(smk.params.sources, smk.params.num_shards, smk.config.get("download", {}), smk.output.manifest,
                     smk.output.filtered, list(smk.output.shard_lists))


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
