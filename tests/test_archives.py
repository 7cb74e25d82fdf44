"""Untrusted zips: only the wanted member comes out, and hostile archives are refused with a reason."""

import stat
import zipfile

import pytest

from shapeprep.sources.archives import extract_member
from shapeprep.status import MeshError

from .conftest import shared_mesh


def make_zip(path, members):
    """members: list of (name, bytes) or (ZipInfo, bytes)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return path


def test_extracts_only_the_wanted_mesh(tmp_path):
    mesh = shared_mesh("fandisk.obj").read_bytes()
    archive = make_zip(tmp_path / "repo.zip", [("repo-main/models/fandisk.obj", mesh), ("repo-main/README.md", b"hi")])
    out = extract_member(archive, "repo-main/models/fandisk.obj", tmp_path / "out" / "fandisk.obj")
    assert out.read_bytes() == mesh
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fandisk.obj"]


@pytest.mark.parametrize("name", ["../evil.obj", "repo/../../evil.obj", "/etc/evil.obj", "C:/evil.obj", "..\\evil.obj"])
def test_zip_slip_is_refused(tmp_path, name):
    archive = make_zip(tmp_path / "slip.zip", [("repo/ok.obj", b"v 0 0 0\n"), (name, b"pwned")])
    with pytest.raises(MeshError) as error:
        extract_member(archive, "repo/ok.obj", tmp_path / "out" / "ok.obj")
    assert error.value.reason == "zip_slip"
    assert not (tmp_path / "evil.obj").exists() and not (tmp_path / "out").exists()


def test_symlink_member_is_refused(tmp_path):
    link = zipfile.ZipInfo("repo/link.obj")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = make_zip(tmp_path / "link.zip", [(link, "/etc/passwd")])
    with pytest.raises(MeshError) as error:
        extract_member(archive, "repo/link.obj", tmp_path / "out.obj")
    assert error.value.reason == "zip_symlink"


def test_zip_bomb_is_refused_by_size_and_by_member_count(tmp_path):
    bomb = make_zip(tmp_path / "bomb.zip", [("repo/zeros.obj", b"\0" * (64 << 20))])  # 64 MB of zeros, ~64 kB zipped
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(MeshError) as error:
        extract_member(bomb, "repo/zeros.obj", tmp_path / "zeros.obj", max_uncompressed_bytes=16 << 20)
    assert error.value.reason == "zip_too_large" and not (tmp_path / "zeros.obj").exists()
    many = make_zip(tmp_path / "many.zip", [(f"repo/{i}.txt", b"") for i in range(50)])
    with pytest.raises(MeshError) as error:
        extract_member(many, "repo/0.txt", tmp_path / "0.txt", max_members=20)
    assert error.value.reason == "zip_too_many_members"


def test_member_that_inflates_past_its_declared_size_is_refused(tmp_path):
    archive = make_zip(tmp_path / "liar.zip", [("repo/a.obj", b"x" * 4096)])
    data = bytearray(archive.read_bytes())
    # Lower the declared uncompressed size in both headers; the stream still inflates to 4096 bytes.
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.find(signature)
        data[at + offset : at + offset + 4] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(data))
    with pytest.raises(MeshError) as error:
        extract_member(archive, "repo/a.obj", tmp_path / "a.obj")
    assert error.value.reason == "zip_corrupt"  # zipfile stops at the declared size and fails the CRC
    assert not (tmp_path / "a.obj").exists()


def test_missing_member_and_corrupt_archive_have_reasons(tmp_path):
    archive = make_zip(tmp_path / "repo.zip", [("repo/a.obj", b"v 0 0 0\n")])
    with pytest.raises(MeshError) as error:
        extract_member(archive, "repo/b.obj", tmp_path / "b.obj")
    assert error.value.reason == "zip_member_missing"
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(MeshError) as error:
        extract_member(tmp_path / "broken.zip", "a.obj", tmp_path / "a.obj")
    assert error.value.reason == "zip_corrupt"
