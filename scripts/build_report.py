"""Snakemake adapter: per-object status table and HTML report. Run by hand with --input/--output/--params KEY=VALUE (see shapeprep.scripting)."""

from shapeprep.jobs import report
from shapeprep.scripting import snakemake_standin
from shapeprep.stage import job_logging


def main(smk):
    with job_logging(smk.log[0]):
        report.run(
            smk.input.manifest,
            smk.input.filtered,
            {stage: list(smk.input[stage]) for stage in report.STAGES},
            list(smk.input.shards), smk.output.objects, smk.output.objects_csv, smk.output.html, smk.output.figures,
            smk.params.settings, smk.params.provenance, getattr(smk, "scriptdir", None),
        )


if __name__ == "__main__":
    main(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
