"""Snakemake adapter: 4-view normal maps of one shard's watertight meshes. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import normal_maps
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        normal_maps.run(smk.input.watertight, smk.input.validate_status, smk.output.normal_maps,
                        smk.params.size, smk.params.backend)


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
