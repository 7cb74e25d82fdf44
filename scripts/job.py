"""Every rule's ``script:``: run the rule's job, ``shapeprep.build.<rule>.run``, with the rule's names.

By hand: ``python scripts/job.py RULE --input NAME=PATH ... --output NAME=PATH ... --params NAME=JSON ...``
(see :mod:`shapeprep.build.adapter`).
"""

from shapeprep.build.adapter import run_job, snakemake_standin

# Objects run in worker processes started with "spawn", which import this file as __mp_main__: run only as main.
if __name__ == "__main__":
    run_job(snakemake if "snakemake" in globals() else snakemake_standin())  # noqa: F821
