"""What one Snakemake job runs: a stage applied to every object of one shard.

Each module has a ``run(...)`` taking file paths and a params dict, so
``scripts/`` stay thin and every job can be run by hand.
"""
