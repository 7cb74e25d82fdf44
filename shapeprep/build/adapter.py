"""The one Snakemake adapter: call ``shapeprep.build.<rule>.run`` with the rule's names.

``scripts/job.py`` (every rule's ``script:``) calls :func:`run_job` with
Snakemake's ``snakemake`` object. The rule's named inputs, outputs and params
are passed as keywords of the same names, so a rule and its ``run()``
signature are the one place a stage is wired. Besides them:

- ``shard_list``, an input of every per-shard rule that is there for the DAG
  (re-evaluation after the manifest checkpoint), is passed only to a
  ``run()`` that takes it;
- the job context is passed to a ``run()`` that names it: ``shard`` (the
  wildcard), ``log`` (the job log), ``workflow_dir``, ``threads`` (the rule's
  ``threads:``), ``limits`` (per-object limits from the ``limits`` config and
  the job's ``mem_mb``), ``journal`` (where the running object is kept), and
  ``config`` (the validated config, for settings that must not rerun a job:
  download speed).

By hand, :func:`snakemake_standin` builds the same object from the command line::

    python scripts/job.py normalize --input downloads=results/downloaded/00000.status.parquet \\
        --output meshes=/tmp/n.h5 status=/tmp/n.parquet \\
        --params settings='{"bound": 0.95, "weld_tolerance": 1e-6, "min_face_area": 1e-12}' curate=@
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
from pathlib import Path
from types import SimpleNamespace

from .objects import job_logging
from .worker import stage_limits

#: Inputs that exist for the DAG only; passed only to a ``run()`` that asks for them.
DAG_INPUTS = ("shard_list",)


def _named(items, files: bool) -> dict:
    """Snakemake's named input/output/params (or a stand-in namespace) as a plain dict.

    With ``files``, a file list (``expand``) becomes a list of str and a single file a str.
    """
    values = {}
    for name in items.keys():
        value = getattr(items, name)
        if files:
            value = [str(path) for path in value] if isinstance(value, (list, tuple)) else str(value)
        values[name] = value
    return values


def job_arguments(smk, run) -> dict:
    """Keywords for ``run`` from a Snakemake job: named inputs, outputs and params, then the context it names.

    Raises
    ------
    TypeError when two sections use one name.
    """
    accepted = inspect.signature(run).parameters
    arguments = {}
    for section, files in ((smk.input, True), (smk.output, True), (smk.params, False)):
        for name, value in _named(section, files).items():
            if name in arguments:
                raise TypeError(f"rule {smk.rule}: {name!r} names more than one input/output/param")
            if name in DAG_INPUTS and name not in accepted:
                continue
            arguments[name] = value
    context = {
        "shard": lambda: smk.wildcards.shard,
        "log": lambda: smk.log[0] if len(smk.log) else None,
        "workflow_dir": lambda: str(Path(smk.scriptdir).parent) if getattr(smk, "scriptdir", None) else None,
        "config": lambda: smk.config,
        "threads": lambda: int(getattr(smk, "threads", 1) or 1),
        "limits": lambda: stage_limits(smk.config, smk.rule, getattr(getattr(smk, "resources", None), "mem_mb", None)),
        "journal": lambda: journal_path(smk),
    }
    for name, value in context.items():
        if name in accepted and name not in arguments:
            arguments[name] = value()
    return arguments


def journal_path(smk) -> str:
    """Where a job keeps its running object: a hidden sibling of its first output."""
    first = Path(str(smk.output[0]))
    return str(first.with_name(f".{first.name}.running.jsonl"))


def run_job(smk) -> None:
    """Run the job of rule ``smk.rule`` with its log set up (see the module docstring)."""
    run = importlib.import_module(f"shapeprep.build.{smk.rule}").run
    with job_logging(smk.log[0] if len(smk.log) else None):
        run(**job_arguments(smk, run))


class NamedValues(SimpleNamespace):
    """Attribute access plus ``[0]``/``len`` like Snakemake's named lists."""

    def keys(self):
        return list(vars(self))

    def __getitem__(self, index):
        return list(vars(self).values())[index]

    def __len__(self):
        return len(vars(self))


def _pairs(items: list[str], parse_json: bool, config: dict) -> NamedValues:
    values = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if parse_json and value.startswith("@"):  # @section: that config section
            value = config[value[1:] or key]
        elif parse_json:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        values[key] = value
    return NamedValues(**values)


def load_config(path: str | None) -> dict:
    """A workflow config file validated against the schema, every default filled in (``{}``: all defaults)."""
    import yaml
    from snakemake.utils import validate

    config = (yaml.safe_load(Path(path).read_text()) if path else None) or {}
    validate(config, str(Path(__file__).resolve().parents[2] / "config" / "schema.yaml"))
    return config


def snakemake_standin(argv: list[str] | None = None) -> SimpleNamespace:
    """A stand-in for Snakemake's ``snakemake`` object: ``RULE --input/--output/--params KEY=VALUE ...``.

    ``--params`` and ``--input`` values are parsed as JSON when possible (list
    inputs take a JSON list); ``@name`` takes config section ``name`` (``@``
    alone: the section named like the key). ``--config`` is a config file,
    validated against the schema so every default is there.
    """
    parser = argparse.ArgumentParser(description="Run one shapeprep job by hand.")
    parser.add_argument("rule", help="rule name: a module of shapeprep.build")
    for name in ("input", "output", "params", "wildcards"):
        parser.add_argument(f"--{name}", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--log", default=None, help="log file (default: stderr)")
    parser.add_argument("--config", default=None, help="config YAML (default: every schema default)")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    return SimpleNamespace(
        rule=args.rule,
        input=_pairs(args.input, parse_json=True, config=config),
        output=_pairs(args.output, parse_json=False, config=config),
        params=_pairs(args.params, parse_json=True, config=config),
        wildcards=_pairs(args.wildcards, parse_json=False, config=config),
        log=[args.log] if args.log else [],
        config=config,
    )
