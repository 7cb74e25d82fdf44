"""Take one file out of a downloaded zip without trusting the archive.

Objaverse-XL's GitHub objects arrive as whole repositories saved as zips;
only the object's own file is extracted. Archives are refused (with a
:class:`~shapeprep.status.MeshError` reason) when a member name escapes the
destination (zip-slip: ``..`` components, absolute or drive paths), when a
member is a symlink, or when the member count or the uncompressed size
exceeds the configured limits (zip bombs). The limits are checked on the
declared sizes; a member whose stream inflates past its declared size fails
zipfile's own length and CRC check and is refused as ``zip_corrupt``.
"""

from __future__ import annotations

import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath

from ..atomic import atomic_path
from ..status import MeshError


def unsafe_member_reason(info: zipfile.ZipInfo) -> str | None:
    """Why a member must not be extracted, or None when it is safe.

    Returns
    -------
    ``"zip_slip"`` (absolute path, drive letter or ``..`` component),
    ``"zip_symlink"``, or None.
    """
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
        return "zip_slip"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "zip_symlink"
    return None


def check_archive(archive: zipfile.ZipFile, max_members: int, max_uncompressed_bytes: int) -> None:
    """Refuse the whole archive when any member is unsafe or the limits are exceeded.

    Raises
    ------
    MeshError
        ``zip_slip``, ``zip_symlink``, ``zip_too_many_members`` or ``zip_too_large``.
    """
    members = archive.infolist()
    if len(members) > max_members:
        raise MeshError("zip_too_many_members", f"{len(members)} members, limit {max_members}")
    declared = sum(info.file_size for info in members)
    if declared > max_uncompressed_bytes:
        raise MeshError("zip_too_large", f"{declared} bytes uncompressed, limit {max_uncompressed_bytes}")
    for info in members:
        reason = unsafe_member_reason(info)
        if reason:
            raise MeshError(reason, f"refusing archive: member {info.filename!r} is unsafe")


def extract_member(
    archive_path: str | Path,
    member: str,
    destination: str | Path,
    max_members: int = 100_000,
    max_uncompressed_bytes: int = 4 << 30,
) -> Path:
    """Extract one member to ``destination`` (a file path), atomically.

    Parameters
    ----------
    archive_path : the zip file
    member : name of the member inside the archive (``/`` separators)
    destination : where the member's bytes go
    max_members, max_uncompressed_bytes : zip-bomb limits for the whole archive

    Returns
    -------
    Path of the written file.

    Raises
    ------
    MeshError
        The reasons of :func:`check_archive`, ``zip_member_missing``,
        ``zip_corrupt`` (not a zip, or a member that does not match its header).
    """
    destination = Path(destination)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            check_archive(archive, max_members, max_uncompressed_bytes)
            try:
                info = archive.getinfo(member)
            except KeyError:
                raise MeshError("zip_member_missing", f"{member!r} is not in {Path(archive_path).name}") from None
            with atomic_path(destination) as temporary, archive.open(info) as source, open(temporary, "wb") as target:
                shutil.copyfileobj(source, target)
    except zipfile.BadZipFile as error:
        raise MeshError("zip_corrupt", f"{Path(archive_path).name}: {error}") from None
    return destination

