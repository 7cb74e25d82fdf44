"""Snakemake adapter: point samples and SDF labels for one shard. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import sample
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        sample.run(
            smk.input.watertight, smk.input.validate_status, smk.input.normalized,
            smk.output.samples, smk.output.status, smk.params.sample,
        )


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
