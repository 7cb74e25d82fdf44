"""Snakemake adapter: load, clean and normalize every object of one shard. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import normalize
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        normalize.run(smk.input.downloads, smk.output.meshes, smk.output.status, smk.params.normalize, smk.params.curate)


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
