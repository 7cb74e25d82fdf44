"""Object identifiers: content hashes of local files and Objaverse-XL file identifiers."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Objaverse-XL sub-sources by the host of their file identifier.
XL_HOSTS = {
    "github.com": "github",
    "sketchfab.com": "sketchfab",
    "www.thingiverse.com": "thingiverse",
    "thingiverse.com": "thingiverse",
    "3d-api.si.edu": "smithsonian",
}


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def xl_source(file_identifier: str) -> str:
    """Objaverse-XL sub-source (``github``, ``sketchfab``, ``thingiverse``, ``smithsonian``) of an identifier.

    Raises
    ------
    ValueError for an identifier from none of them.
    """
    host = file_identifier.split("/")[2] if "://" in file_identifier else ""
    if host not in XL_HOSTS:
        raise ValueError(f"not an Objaverse-XL file identifier: {file_identifier!r}")
    return XL_HOSTS[host]


def github_parts(file_identifier: str) -> tuple[str, str, str, str]:
    """``(org, repo, commit, path inside the repository)`` of a GitHub file identifier.

    ``https://github.com/<org>/<repo>/blob/<commit>/<path>``.
    """
    parts = file_identifier.split("/")
    if len(parts) < 8 or parts[5] != "blob":
        raise ValueError(f"not a GitHub blob identifier: {file_identifier!r}")
    return parts[3], parts[4], parts[6], "/".join(parts[7:])


def xl_suffix(file_identifier: str) -> str:
    """File suffix (with the dot, lower case) an Objaverse-XL object is stored with."""
    source = xl_source(file_identifier)
    if source == "github":
        return Path(github_parts(file_identifier)[3]).suffix.lower()
    return ".stl" if source == "thingiverse" else ".glb"
