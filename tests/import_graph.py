"""The package's import graph, its layering, and the modules each stage's code hash covers.

    python tests/import_graph.py        # prints all three; exit 1 on a circle or an upward import

Layers, bottom up: the package root, ``status`` and ``atomic``; ``geometry``;
``sources``, ``watertight``, ``samples``, ``report`` (side by side: none
imports another); ``build``; ``cli``; ``__main__``. A module imports only from lower
layers or from its own sub-package. The graph is read from the sources with
:mod:`ast` (lazy imports inside functions included) by the same code that
computes the code hashes (:mod:`shapeprep.build.provenance`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from shapeprep.build.provenance import imported_modules, package_root, stage_modules
from shapeprep.status import STAGE_NAMES

LAYERS = {
    "shapeprep": 0, "shapeprep.status": 0, "shapeprep.atomic": 0, "shapeprep.tables": 0, "shapeprep.shardfiles": 0,
    "shapeprep.geometry": 1,
    "shapeprep.sources": 2, "shapeprep.watertight": 2, "shapeprep.samples": 2, "shapeprep.report": 2,
    "shapeprep.volumes": 2, "shapeprep.views": 2,
    "shapeprep.build": 3,
    "shapeprep.cli": 4, "shapeprep.__main__": 5, "shapeprep.data": 4,
}


def package_modules(root: Path | None = None) -> list[str]:
    """Every module of the package under ``root``, dotted, sorted."""
    root = root or package_root()
    names = []
    for path in root.rglob("*.py"):
        parts = ("shapeprep",) + path.relative_to(root).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


def import_graph(root: Path | None = None) -> dict[str, set[str]]:
    """``module -> shapeprep modules it imports``."""
    root = root or package_root()
    return {module: imported_modules(module, root) for module in package_modules(root)}


def unit(module: str) -> str:
    """The layered unit a module belongs to: its sub-package, or itself at the top level."""
    parts = module.split(".")
    return ".".join(parts[:2])


def upward_imports(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """``(importer, imported)`` pairs that break the layering (same-unit imports are free)."""
    bad = []
    for module, imports in graph.items():
        for target in imports:
            if target == "shapeprep" or unit(target) == unit(module):
                continue
            if LAYERS[unit(target)] >= LAYERS[unit(module)]:
                bad.append((module, target))
    return sorted(bad)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles between modules (a package's ``__init__`` importing its own modules is not one:
    importing ``a.b`` runs ``a`` first, so parent edges are left out)."""
    edges = {module: {t for t in imports if not module.startswith(t + ".")} for module, imports in graph.items()}
    found, state, stack = [], {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return found


def main() -> int:
    graph = import_graph()
    print("# import graph (module -> shapeprep modules it imports)\n")
    for module, imports in graph.items():
        print(f"{module:40s} -> {', '.join(sorted(imports)) or '-'}")
    circles, upward = cycles(graph), upward_imports(graph)
    print(f"\ncircles: {circles or 'none'}")
    print(f"upward or sideways imports: {upward or 'none'}")
    print("\n# modules each stage's code hash covers\n")
    for stage in STAGE_NAMES:
        modules = [m.removeprefix("shapeprep.") for m in stage_modules(stage) if m != "shapeprep"]
        print(f"{stage:12s} ({len(modules) + 1}) shapeprep, {', '.join(modules)}")
    return 1 if circles or upward else 0


if __name__ == "__main__":
    sys.exit(main())
