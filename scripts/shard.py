"""Snakemake adapter: write one final HDF5 shard. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import shard
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        shard.run(
            smk.input.shard_list, smk.input.normalize_status, smk.input.validate_status, smk.input.sample_status,
            smk.input.samples, smk.output.shard, smk.wildcards.shard, smk.params.shard, smk.params.build,
        )


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
