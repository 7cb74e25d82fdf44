"""Objaverse sources for the manifest: Objaverse-XL metadata tables and Objaverse 1.0 uid lists.

Objaverse-XL is read from a table with at least ``sha256`` and
``file_identifier`` (the TRELLIS-500K CSVs, or any CSV/parquet of that
shape), local or ``hf://datasets/<owner>/<name>/<path>``. Other columns
(``aesthetic_score``, ``captions``, ...) are kept as metadata. Selection
happens here, before anything is downloaded:

- ``min_aesthetic_score`` drops rows below the threshold (and rows without a
  score when the threshold is set); each drop is recorded with its reason;
- ``limit`` keeps the first N remaining objects in sha256 order, a fixed
  pseudo-random subset that only grows when the limit is raised.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pandas as pd

from ..atomic import atomic_path
from .identifiers import xl_suffix

FILTERED_COLUMNS = ["object_id", "source", "name", "reason", "message"]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def hf_url(location: str) -> str:
    """``https://huggingface.co/...`` download URL of an ``hf://datasets/<owner>/<name>/<path>`` location."""
    parts = location[len("hf://"):].split("/")
    if len(parts) < 4 or parts[0] != "datasets":
        raise ValueError(f"expected hf://datasets/<owner>/<name>/<path>, got {location!r}")
    return f"https://huggingface.co/datasets/{parts[1]}/{parts[2]}/resolve/main/{'/'.join(parts[3:])}"


def resolve_metadata(location: str, cache_dir: str | Path) -> Path:
    """Local path of a metadata table; ``hf://`` tables are fetched once into ``<cache>/metadata``.

    The fetch goes through urllib, so ``download.mirrors`` apply (see
    :func:`shapeprep.sources.mirrors.network_settings`).
    """
    if not location.startswith("hf://"):
        path = Path(location)
        if not path.is_file():
            raise FileNotFoundError(f"metadata table {location!r} does not exist")
        return path
    target = Path(cache_dir) / "metadata" / location[len("hf://"):]
    if not target.exists():
        with atomic_path(target) as temporary, urllib.request.urlopen(hf_url(location)) as response:
            temporary.write_bytes(response.read())
    return target


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or parquet table."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def list_objaverse_xl(entry: dict, cache_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Objects of one Objaverse-XL metadata table.

    Parameters
    ----------
    entry : dict
        ``metadata`` (path or hf:// URL), optional ``limit`` and ``min_aesthetic_score``.
    cache_dir : where hf:// tables are kept

    Returns
    -------
    (objects, filtered)
        ``objects`` has the manifest columns (``object_id`` = sha256,
        ``location`` = file identifier) plus the table's other columns;
        ``filtered`` has :data:`FILTERED_COLUMNS` for rows dropped by the
        selection or unusable (bad sha256, unknown identifier).
    """
    table = read_table(resolve_metadata(entry["metadata"], cache_dir))
    missing = {"sha256", "file_identifier"} - set(table.columns)
    if missing:
        raise ValueError(f"{entry['metadata']}: Objaverse-XL metadata needs columns {sorted(missing)}")
    table = table.copy()
    table["object_id"] = table["sha256"].astype(str).str.lower()
    table["location"] = table["file_identifier"].astype(str)
    table["name"] = [identifier.rstrip("/").split("/")[-1] for identifier in table["location"]]
    table = table.drop_duplicates("object_id", keep="first")
    formats, reasons = [], []
    for object_id, identifier in zip(table["object_id"], table["location"]):
        try:
            formats.append(xl_suffix(identifier).lstrip("."))  # raises for an unknown host
            reasons.append("" if _SHA256.match(object_id) else "bad_sha256")
        except ValueError:
            formats.append("")
            reasons.append("unknown_identifier")
    table["file_format"], table["reason"] = formats, reasons
    threshold = entry.get("min_aesthetic_score")
    if threshold is not None:
        if "aesthetic_score" not in table:
            raise ValueError(f"{entry['metadata']}: min_aesthetic_score is set but the table has no aesthetic_score")
        low = (table["reason"] == "") & ~(table["aesthetic_score"] >= threshold)
        table.loc[low, "reason"] = "aesthetic_score_below"
    messages = {
        "bad_sha256": "sha256 is not 64 hex digits",
        "unknown_identifier": "file_identifier is not from GitHub, Sketchfab, Thingiverse or Smithsonian",
        "aesthetic_score_below": f"aesthetic_score below {threshold}",
    }
    table["message"] = table["reason"].map(messages).fillna("")
    table["source"], table["file_size"] = "objaverse_xl", float("nan")
    kept = table[table["reason"] == ""].sort_values("object_id", kind="stable")
    if entry.get("limit") is not None:
        kept = kept.head(int(entry["limit"]))
    filtered = table.loc[table["reason"] != "", FILTERED_COLUMNS]
    extra = [c for c in table.columns if c not in ("sha256", "file_identifier", "reason", "message")]
    return kept[extra].reset_index(drop=True), filtered.reset_index(drop=True)


def list_objaverse_uids(entry: dict) -> pd.DataFrame:
    """Objaverse 1.0 objects from a uid list (one per line, ``#`` comments) or a table with a ``uid`` column.

    Parameters
    ----------
    entry : dict
        ``uids`` (path), optional ``limit`` (first N in file order).
    """
    path = Path(entry["uids"])
    if path.suffix in (".csv", ".parquet"):
        uids = read_table(path)["uid"].astype(str).tolist()
    else:
        lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
        uids = [line for line in lines if line]
    uids = list(dict.fromkeys(uid.removesuffix(".glb") for uid in uids))
    if entry.get("limit") is not None:
        uids = uids[: int(entry["limit"])]
    return pd.DataFrame({"object_id": uids, "source": "objaverse", "location": uids, "name": uids,
                         "file_format": "glb", "file_size": float("nan")})
