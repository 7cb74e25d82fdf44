"""Run a ``scripts/*.py`` adapter by hand, without Snakemake.

Inside Snakemake a script gets a global ``snakemake`` object; by hand,
:func:`snakemake_standin` builds an object with the same ``input``,
``output``, ``params``, ``log`` and ``wildcards`` attributes from the
command line::

    python scripts/normalize.py --input shard_list=results/manifest/shards/00000.tsv \\
        --output meshes=/tmp/n.h5 status=/tmp/n.parquet \\
        --params normalize='{"bound": 0.95, "weld_tolerance": 1e-6, "min_face_area": 1e-12}'
"""

from __future__ import annotations

import argparse
import json
from types import SimpleNamespace


class _Namespace(SimpleNamespace):
    """Attribute access plus ``[0]`` indexing, like Snakemake's named lists."""

    def __getitem__(self, index):
        return list(vars(self).values())[index]


def _pairs(items: list[str], parse_json: bool) -> _Namespace:
    values = {}
    for item in items or []:
        key, _, value = item.partition("=")
        if parse_json:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        values[key] = value
    return _Namespace(**values)


def snakemake_standin(argv: list[str] | None = None) -> SimpleNamespace:
    """A stand-in for Snakemake's ``snakemake`` object, from ``key=value`` arguments.

    ``--params`` values are parsed as JSON when possible; list-valued inputs
    take a JSON list.
    """
    parser = argparse.ArgumentParser(description="Run a shapeprep Snakemake script by hand.")
    for name in ("input", "output", "params", "wildcards"):
        parser.add_argument(f"--{name}", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--log", default=None, help="log file (default: stderr)")
    parser.add_argument("--config", default="{}", help="JSON of the config sections a script reads directly")
    args = parser.parse_args(argv)
    return SimpleNamespace(
        input=_pairs(args.input, parse_json=True),
        output=_pairs(args.output, parse_json=False),
        params=_pairs(args.params, parse_json=True),
        wildcards=_pairs(args.wildcards, parse_json=False),
        log=[args.log] if args.log else [None],
        config=json.loads(args.config),
    )
