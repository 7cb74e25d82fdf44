"""The build: one module per Snakemake rule, plus what the jobs share.

Each rule module has ``run(**names)`` taking the rule's named inputs,
outputs and params as keywords (``scripts/job.py`` passes them through
:func:`shapeprep.build.adapter.run_job`), so every job can also be run by
hand. The shared modules: :mod:`.objects` (the per-object loop that never
lets one object sink a shard), :mod:`.resume`, :mod:`.meshstore`,
:mod:`.provenance` (seeds, parameter and code hashes) and :mod:`.cluster`
(per-job resources). Nothing outside ``build/`` imports it except the
Snakefile and ``scripts/``.
"""
