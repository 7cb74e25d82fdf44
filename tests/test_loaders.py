import json
import struct

import numpy as np
import pytest

from shapeprep.geometry.loaders import load_mesh, strips_to_triangles
from shapeprep.status import MeshError

from .conftest import SHARED_MESHES, shared_mesh

# Every shared mesh either loads with this many triangles (after fan
# triangulation, scene instancing applied) or is refused with this reason.
EXPECTED = {
    "2CylinderEngine.glb": 121496,
    "ADIS16480.STL": 7436,
    "Bookcase_Books.fbx": "unsupported_format",
    "CesiumMilkTruck.glb": 3624,
    "TwoSidedPlane.glb": 2,
    "bathtub.obj": 4375,
    "chair.off": 1804,
    "fandisk.obj": 12946,
    "igea.ply": 268686,
    "inspired_mesh_quads_Smooth.off": 3676,
    "love.glb": 46552,
    "low-poly-tree.glb": 1126,
    "rabbit.obj": 1252,
    "spot.obj": 5856,
    "stanford-bunny.obj": 69451,
    "suzanne.obj": 968,
    "thingi10k_1514499.stl": 26700,
    "woody.obj": 1267,
    "spider_obj/spider.obj": 1368,
    "sunflower_gltf/sunflower.gltf": 340,
}


def test_every_shared_mesh_is_covered():
    on_disk = {p.relative_to(SHARED_MESHES).as_posix() for p in SHARED_MESHES.rglob("*")
               if p.suffix.lower() in {".obj", ".glb", ".gltf", ".ply", ".stl", ".off", ".fbx"}}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shared_mesh_loads_or_is_refused_with_reason(name):
    expected = EXPECTED[name]
    if isinstance(expected, str):
        with pytest.raises(MeshError) as error:
            load_mesh(shared_mesh(name))
        assert error.value.reason == expected
        return
    vertices, faces = load_mesh(shared_mesh(name))
    assert faces.shape == (expected, 3) and faces.dtype == np.int64
    assert vertices.dtype == np.float64 and np.isfinite(vertices).all()
    assert faces.min() >= 0 and faces.max() < len(vertices)


def test_gltf_instancing_applies_node_transforms():
    # The truck's wheel mesh is instanced twice by node matrices: both copies are present and apart.
    vertices, faces = load_mesh(shared_mesh("CesiumMilkTruck.glb"))
    assert np.ptp(vertices[:, 0]) > 4.5  # wheels at both ends of a 4.87-long truck


def test_igea_tristrips_are_consistently_wound():
    from shapeprep.geometry.topology import winding_is_consistent

    _, faces = load_mesh(shared_mesh("igea.ply"))
    assert winding_is_consistent(faces)


def test_strips_to_triangles_alternates_orientation():
    faces = strips_to_triangles(np.array([0, 1, 2, 3, -1, 4, 5, 6]))
    assert faces.tolist() == [[0, 1, 2], [2, 1, 3], [4, 5, 6]]


def _glb_with_extensions(path, extensions):
    document = json.dumps({"asset": {"version": "2.0"}, "extensionsUsed": extensions}).encode()
    document += b" " * (-len(document) % 4)
    body = struct.pack("<II", len(document), 0x4E4F534A) + document
    path.write_bytes(b"glTF" + struct.pack("<II", 2, 12 + len(body)) + body)


@pytest.mark.parametrize("extension", ["KHR_draco_mesh_compression", "EXT_meshopt_compression"])
def test_compressed_glb_is_refused(tmp_path, extension):
    path = tmp_path / "compressed.glb"
    _glb_with_extensions(path, [extension])
    with pytest.raises(MeshError) as error:
        load_mesh(path)
    assert error.value.reason == "compressed_gltf" and extension in error.value.message


@pytest.mark.parametrize(
    "content, reason",
    [
        ("v 0 0 0\nv 1 0 0\nv 0 1 0\n", "no_faces"),
        ("v 0 0 0\nv nan 0 0\nv 0 1 0\nf 1 2 3\n", "non_finite"),
    ],
)
def test_bad_obj_is_refused(tmp_path, content, reason):
    path = tmp_path / "bad.obj"
    path.write_text(content)
    with pytest.raises(MeshError) as error:
        load_mesh(path)
    assert error.value.reason == reason


def test_truncated_file_is_unreadable(tmp_path):
    path = tmp_path / "truncated.glb"
    path.write_bytes(shared_mesh("TwoSidedPlane.glb").read_bytes()[:100])
    with pytest.raises(MeshError) as error:
        load_mesh(path)
    assert error.value.reason == "unreadable"


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(MeshError) as error:
        load_mesh(tmp_path / "absent.obj")
    assert error.value.reason == "unreadable"
