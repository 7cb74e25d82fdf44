"""Hashes that make the build reproducible: seeds, parameter and code fingerprints.

Imported by the Snakefile at parse time, so it must stay import-light
(standard library only).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
from pathlib import Path

#: Download settings that change only speed, never which bytes arrive. The job
#: reads them from the config; they stay out of every ``params:`` (and out of the
#: report's provenance), so tuning them reruns nothing.
DOWNLOAD_SPEED_KEYS = ("processes", "batch_size", "backoff_seconds", "timeout_seconds", "mirrors")


def download_speed_settings(download: dict) -> dict:
    """The speed settings of the ``download`` config section (every one of :data:`DOWNLOAD_SPEED_KEYS`)."""
    return {key: download[key] for key in DOWNLOAD_SPEED_KEYS}


def download_outcome_settings(download: dict) -> dict:
    """The ``download`` config section without its speed settings: what the outcome depends on."""
    return {key: value for key, value in download.items() if key not in DOWNLOAD_SPEED_KEYS}


#: Packages whose versions are written into every shard.
TRACKED_PACKAGES = (
    "shapeprep", "numpy", "scipy", "trimesh", "libigl", "pymcubes", "fpsample", "meshiki", "pymeshlab", "torch", "cubvh",
    "h5py", "snakemake", "moderngl",
)


def stable_json(value) -> str:
    """Canonical JSON (sorted keys, no whitespace) of plain data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def canonical(value):
    """``value`` with every dict's keys sorted (through canonical JSON).

    Snakemake compares ``params`` by ``repr``, in which dict order shows: a
    reordered or default-filled config section must not look like a change.
    """
    return json.loads(stable_json(value))


def digest(*parts: str, length: int = 16) -> str:
    """Hex SHA-256 prefix of the joined ``parts``."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length]


def params_hash(params: dict) -> str:
    """Fingerprint of a stage's parameters."""
    return digest(stable_json(params))


def object_seed(object_id: str, params: dict, base_seed: int = 0) -> int:
    """64-bit seed for one object's random draws, from its id and the stage parameters.

    The same object with the same parameters always gets the same numbers,
    whatever shard it lands in and whatever ran before it.
    """
    return int(digest(object_id, stable_json(params), str(base_seed)), 16)


def object_rng(object_id: str, params: dict, base_seed: int = 0):
    """``numpy.random.Generator`` seeded by :func:`object_seed`."""
    import numpy as np

    return np.random.default_rng(object_seed(object_id, params, base_seed))


def package_root() -> Path:
    """Folder of the installed ``shapeprep`` package."""
    return Path(importlib.util.find_spec("shapeprep").origin).parent


def module_path(module: str, root: Path) -> Path | None:
    """Source file of a ``shapeprep`` module (``shapeprep.a.b``) under ``root``, or None when there is none."""
    parts = module.split(".")[1:]
    candidates = [root.joinpath(*parts, "__init__.py")]
    if parts:
        candidates.insert(0, root.joinpath(*parts[:-1], f"{parts[-1]}.py"))
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def with_parents(module: str, root: Path) -> set[str]:
    """``module`` and its parent packages that exist as source files under ``root``."""
    parts = module.split(".")
    names = (".".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    return {name for name in names if module_path(name, root) is not None}


@functools.lru_cache(maxsize=None)
def imported_modules(module: str, root: Path) -> frozenset[str]:
    """``shapeprep`` modules that ``module``'s source imports anywhere (top level or inside functions).

    Relative imports are resolved; ``from package import name`` counts
    ``package`` and, when ``name`` is a submodule, ``package.name``. Importing
    a module also runs its parent packages' ``__init__``, so those count too.
    """
    path = module_path(module, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found, named = set(), set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            # ``from package import name``: a submodule when such a file exists, else an attribute.
            named.update(f"{base}.{alias.name}" for alias in node.names)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    modules = set()
    for name in found:
        if name.split(".")[0] != "shapeprep":
            continue
        if name not in named and module_path(name, root) is None:  # an imported module must exist
            raise ImportError(f"{module} imports {name}, which is not a module under {root}")
        modules.update(with_parents(name, root))
    return frozenset(modules - {module})


@functools.lru_cache(maxsize=None)
def stage_modules(stage: str, root: Path | None = None) -> tuple[str, ...]:
    """Every ``shapeprep`` module ``shapeprep.build.<stage>`` imports, transitively (itself included), sorted.

    Read from the sources with :mod:`ast` (nothing is imported), so it is the
    import graph as written, lazy imports included.
    """
    root = root or package_root()
    start = f"shapeprep.build.{stage}"
    if module_path(start, root) is None:
        raise ValueError(f"no stage module {start} under {root}")
    seen, todo = set(), list(with_parents(start, root))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(imported_modules(module, root) - seen)
    return tuple(sorted(seen))


def stage_code_hash(stage: str, root: Path | None = None) -> str:
    """Hash of the source of every package module the stage's job imports (:func:`stage_modules`).

    Snakemake compares ``script:`` files by mtime only and package modules
    not at all; passing this through ``params:`` reruns exactly the stages
    whose code changed.
    """
    root = root or package_root()
    digest = hashlib.sha256()
    for module in stage_modules(stage, root):
        digest.update(module.encode() + b"\0" + module_path(module, root).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def package_versions() -> dict:
    """Installed versions of :data:`TRACKED_PACKAGES` (absent ones omitted)."""
    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
