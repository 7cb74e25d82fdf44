import numpy as np
import pytest

from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh, to_original_frame
from shapeprep.geometry.topology import edge_face_counts
from shapeprep.status import MeshError

from .conftest import shared_mesh

LOADABLE = ["fandisk.obj", "woody.obj", "igea.ply", "ADIS16480.STL", "2CylinderEngine.glb", "chair.off", "suzanne.obj"]


@pytest.mark.parametrize("name", LOADABLE)
@pytest.mark.parametrize("bound", [0.95, 0.5])
def test_longest_axis_spans_exactly_the_bound(name, bound):
    vertices, faces = load_mesh(shared_mesh(name))
    mesh = normalize_mesh(vertices, faces, bound=bound)
    extent = mesh.vertices.max(axis=0) - mesh.vertices.min(axis=0)
    assert np.abs(mesh.vertices).max() <= bound + 1e-12
    assert extent.max() == pytest.approx(2 * bound, rel=1e-9)
    centre = (mesh.vertices.max(axis=0) + mesh.vertices.min(axis=0)) / 2
    assert np.allclose(centre, 0, atol=1e-9)


def test_mapping_back_recovers_the_source_frame():
    vertices, faces = load_mesh(shared_mesh("fandisk.obj"))  # centred 15 units off the origin
    mesh = normalize_mesh(vertices, faces)
    restored = to_original_frame(mesh.vertices, mesh.center, mesh.scale)
    lower, upper = vertices.min(axis=0), vertices.max(axis=0)
    assert np.allclose(restored.min(axis=0), lower, atol=1e-9) and np.allclose(restored.max(axis=0), upper, atol=1e-9)


def test_welding_closes_uv_seams():
    vertices, faces = load_mesh(shared_mesh("spot.obj"))  # open until welded
    assert (edge_face_counts(faces)[1] == 1).any()
    mesh = normalize_mesh(vertices, faces)
    counts = edge_face_counts(mesh.faces)[1]
    assert (counts == 2).all()


def test_duplicate_and_degenerate_faces_are_dropped():
    vertices, faces = load_mesh(shared_mesh("chair.off"))
    mesh = normalize_mesh(vertices, faces)
    # SOURCES.md counts 676 duplicates before degenerate ones are removed.
    assert mesh.counts["duplicate_faces"] > 500 and mesh.counts["degenerate_faces"] > 0
    assert len(np.unique(np.sort(mesh.faces, axis=1), axis=0)) == len(mesh.faces)


def test_flat_mesh_keeps_zero_thickness_axis():
    vertices, faces = load_mesh(shared_mesh("woody.obj"))
    mesh = normalize_mesh(vertices, faces)
    assert np.ptp(mesh.vertices[:, 2]) == 0.0


def test_all_degenerate_is_refused():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], dtype=float)
    with pytest.raises(MeshError) as error:
        normalize_mesh(vertices, np.array([[0, 1, 2]]))
    assert error.value.reason == "no_faces"


def test_single_point_is_refused():
    with pytest.raises(MeshError) as error:
        normalize_mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]))
    assert error.value.reason == "zero_extent"
