"""Snakemake adapter: validate the watertight meshes of one shard. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import validate
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        validate.run(smk.input.watertight, smk.input.watertight_status, smk.input.normalized, smk.output.status, smk.params.validate)


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
