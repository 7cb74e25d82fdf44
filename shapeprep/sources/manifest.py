"""The object manifest: which objects exist, where they live, which shard owns them.

Columns: ``object_id`` (content hash for local files, sha256 for
Objaverse-XL, uid for Objaverse 1.0), ``source``, ``location`` (path or
URL), ``name`` (human-readable), ``file_format``, ``file_size``, plus any
metadata columns a source provides. Shard membership is
``hash(object_id) mod num_shards``: adding objects changes only the shards
they fall in, never the others.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from ..geometry.loaders import SUPPORTED_SUFFIXES
from .identifiers import file_sha256
from .objaverse import FILTERED_COLUMNS, list_objaverse_uids, list_objaverse_xl

#: Mesh formats we list but cannot read, so they end in the status table
#: with a reason instead of vanishing silently.
KNOWN_UNSUPPORTED_SUFFIXES = (".fbx", ".dae", ".3ds", ".blend", ".usd", ".usda", ".usdc", ".usdz", ".abc", ".x3d", ".wrl", ".3mf")

MANIFEST_COLUMNS = ["object_id", "source", "location", "name", "file_format", "file_size", "shard"]


def shard_of(object_id: str, num_shards: int) -> int:
    """Stable shard index of an object: independent of every other object."""
    return int(hashlib.sha256(object_id.encode()).hexdigest()[:12], 16) % num_shards


def shard_name(index: int) -> str:
    """Zero-padded shard name used in file paths (``"00007"``)."""
    return f"{index:05d}"


def list_local_objects(root: str, pattern: str = "**/*") -> pd.DataFrame:
    """Mesh files under ``root`` matching ``pattern``, one row per distinct content.

    Companion files (textures, .mtl, .bin) are not objects. Files with
    identical bytes get the same id; the first by path is kept.

    Returns
    -------
    DataFrame with :data:`MANIFEST_COLUMNS` except ``shard``.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"local source folder {root!r} does not exist")
    wanted = SUPPORTED_SUFFIXES + KNOWN_UNSUPPORTED_SUFFIXES
    rows = []
    for path in sorted(root_path.glob(pattern)):
        if not path.is_file() or path.suffix.lower() not in wanted:
            continue
        rows.append(
            {
                "object_id": file_sha256(path),
                "source": "local",
                "location": str(path),
                "name": str(path.relative_to(root_path)),
                "file_format": path.suffix.lower().lstrip("."),
                "file_size": path.stat().st_size,
            }
        )
    frame = pd.DataFrame(rows, columns=MANIFEST_COLUMNS[:-1])
    return frame.drop_duplicates("object_id", keep="first")


def build_manifest(sources: dict, num_shards: int, cache_dir: str | Path = "cache") -> tuple[pd.DataFrame, pd.DataFrame]:
    """All objects of the configured sources with their shard.

    Parameters
    ----------
    sources : dict
        The ``sources`` config section, validated (every key present): ``local`` (list of ``{"path", "glob"}``),
        ``objaverse_xl`` (list of ``{"metadata", "limit", "min_aesthetic_score"}``),
        ``objaverse`` (list of ``{"uids", "limit"}``).
    num_shards : int
    cache_dir : where ``hf://`` metadata tables are kept

    Returns
    -------
    (manifest, filtered)
        ``manifest`` sorted by ``object_id`` with :data:`MANIFEST_COLUMNS` first
        and any metadata columns after; an object listed by several sources is
        kept once (local first). ``filtered``: objects the sources' selection
        dropped, with :data:`shapeprep.sources.objaverse.FILTERED_COLUMNS`.
    """
    frames = [list_local_objects(entry["path"], entry["glob"]) for entry in sources["local"]]
    filtered = []
    for entry in sources["objaverse_xl"]:
        objects, dropped = list_objaverse_xl(entry, cache_dir)
        frames.append(objects)
        filtered.append(dropped)
    frames += [list_objaverse_uids(entry) for entry in sources["objaverse"]]
    frames = [frame for frame in frames if len(frame)]
    manifest = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=MANIFEST_COLUMNS[:-1])
    manifest = manifest.drop_duplicates("object_id", keep="first").sort_values("object_id", ignore_index=True)
    manifest["shard"] = [shard_name(shard_of(oid, num_shards)) for oid in manifest["object_id"]]
    filtered = [frame for frame in filtered if len(frame)]
    filtered = pd.concat(filtered, ignore_index=True) if filtered else pd.DataFrame(columns=FILTERED_COLUMNS)
    filtered = filtered[~filtered["object_id"].isin(manifest["object_id"])].drop_duplicates("object_id")
    extra = [column for column in manifest.columns if column not in MANIFEST_COLUMNS]
    return manifest[MANIFEST_COLUMNS + extra], filtered.reset_index(drop=True)


def write_shard_lists(manifest: pd.DataFrame, num_shards: int, paths: dict) -> None:
    """Write one TSV per shard (header only when empty).

    The files are small and byte-identical when their objects do not change,
    so Snakemake's checksum of small inputs keeps untouched shards from rerunning.

    Parameters
    ----------
    manifest : DataFrame from :func:`build_manifest`
    num_shards : int
    paths : dict
        ``shard name -> output path``.
    """
    for index in range(num_shards):
        name = shard_name(index)
        rows = manifest.loc[manifest["shard"] == name, MANIFEST_COLUMNS]
        with atomic_path(paths[name]) as temporary:
            rows.to_csv(temporary, sep="\t", index=False)


def read_shard_list(path: str | Path) -> pd.DataFrame:
    """Read a shard's object list written by :func:`write_shard_lists`."""
    return pd.read_csv(path, sep="\t", dtype={"object_id": str, "shard": str, "name": str, "location": str})
