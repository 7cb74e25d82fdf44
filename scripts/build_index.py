"""Snakemake adapter: the global index over all shards. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import index
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        status_tables = {stage: list(smk.input[stage]) for stage in index.STAGES}
        index.run(smk.input.manifest, smk.input.filtered, status_tables, list(smk.input.shards), smk.output.index)


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
