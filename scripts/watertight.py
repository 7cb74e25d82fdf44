"""Snakemake adapter: watertight remeshing of one shard. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import watertight
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        watertight.run(smk.input.meshes, smk.input.status, smk.output.meshes, smk.output.status, smk.params.watertight)


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
