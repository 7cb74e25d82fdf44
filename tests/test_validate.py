import numpy as np
import pytest

from shapeprep.geometry.grid import grid_spacing
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.geometry.validate import deviation_reasons, surface_deviation, validate_mesh
from shapeprep.watertight import watertight_mesh

from .conftest import icosphere, shared_mesh


@pytest.fixture(scope="module")
def suzanne_watertight():
    vertices, faces = load_mesh(shared_mesh("suzanne.obj"))
    source = normalize_mesh(vertices, faces)
    result = watertight_mesh(source.vertices, source.faces, resolution=64)
    return source, result


def test_valid_mesh_has_no_reasons(suzanne_watertight):
    _, result = suzanne_watertight
    record = validate_mesh(result.vertices, result.faces)
    assert record["reasons"] == []
    assert record["boundary_edges"] == 0 and record["non_manifold_edges"] == 0 and record["non_manifold_vertices"] == 0
    assert record["euler_characteristic"] == sum(2 - 2 * g for g in record["genus_per_component"])


def test_flipped_faces_are_caught(suzanne_watertight):
    _, result = suzanne_watertight
    faces = result.faces.copy()
    faces[:7] = faces[:7, ::-1]
    assert "inconsistent_winding" in validate_mesh(result.vertices, faces)["reasons"]


def test_inward_mesh_is_caught(suzanne_watertight):
    _, result = suzanne_watertight
    reasons = validate_mesh(result.vertices, result.faces[:, ::-1])["reasons"]
    assert reasons == ["non_positive_volume: 1 components"]


def test_hole_is_caught(suzanne_watertight):
    _, result = suzanne_watertight
    reasons = validate_mesh(result.vertices, result.faces[1:])["reasons"]
    assert reasons[0] == "open: 3 boundary edges"


def test_non_manifold_edge_is_caught(suzanne_watertight):
    _, result = suzanne_watertight
    faces = np.concatenate([result.faces, result.faces[:1, ::-1]])  # a third face on three edges
    record = validate_mesh(result.vertices, faces)
    assert record["non_manifold_edges"] == 3


def test_bowtie_vertex_is_caught():
    vertices, faces = icosphere(radius=0.3, subdivisions=1)
    apex = np.argmax(vertices[:, 2])
    shift = np.array([0, 0, 2 * vertices[apex, 2]])
    # Mirror a copy of the sphere so that it touches the original at one vertex only.
    mirrored = vertices * np.array([1, 1, -1]) + shift
    other_apex = np.argmin(mirrored[:, 2])
    mirrored_faces = faces[:, ::-1] + len(vertices)
    mirrored_faces[mirrored_faces == other_apex + len(vertices)] = apex
    record = validate_mesh(np.concatenate([vertices, mirrored]), np.concatenate([faces, mirrored_faces]))
    assert record["non_manifold_vertices"] == 1


def test_deviation_is_about_the_residual_offset(suzanne_watertight):
    source, result = suzanne_watertight
    voxel = grid_spacing(64)
    deviation = surface_deviation(result.vertices, result.faces, source.vertices, source.faces, voxel, 5000,
                                  np.random.default_rng(0))
    assert 0.2 < deviation["to_source_mean"] < 0.4  # vertices were projected to 0.25 voxel from the source
    assert deviation_reasons(deviation, 3.0, float("inf")) == []
    assert deviation_reasons(deviation, 0.1, 1.0)[0].startswith("chamfer")


def test_faces_near_points_keeps_every_face_within_reach_and_distances_do_not_change(suzanne_watertight):
    """The deviation indexes only the faces near its points: every face within reach of a point is kept (the
    dropped ones are all farther, by libigl over them; with one reach for all points and one per point), and
    the distances equal those over the whole mesh, to the bit, for the output and for the source, within the
    reach and (on the output) beyond it, where only the faces within each point's bound are searched."""
    import igl

    from shapeprep.geometry.nearsurface import ExactDistance
    from shapeprep.geometry.bvh import TriangleBVH
    from shapeprep.geometry.validate import _exact_distances, beyond_reach_bounds, faces_near_points

    source, result = suzanne_watertight
    rng = np.random.default_rng(5)
    reach = 3 * grid_spacing(64)
    points = np.concatenate([rng.uniform(-0.3, 0.3, (300, 3)), rng.uniform(-1, 1, (100, 3))])
    for vertices, faces, well_shaped in ((result.vertices, result.faces, True), (source.vertices, source.faces, False)):
        near = faces_near_points(vertices, faces, points, reach)
        assert 0.01 < near.mean() < 0.9
        dropped, _, _ = igl.point_mesh_squared_distance(points, vertices, np.ascontiguousarray(faces[~near]))
        assert (np.sqrt(dropped) > reach).all()
        whole = np.sqrt(ExactDistance(vertices, faces, reach=reach).query(points, want_closest=False, within=reach)[0])
        within = np.isfinite(whole)
        assert within.any() and (~within).any()
        exact = _exact_distances(vertices, faces, points, reach, well_shaped)
        assert np.array_equal(exact[within], whole[within])
        if well_shaped:  # beyond reach: a tree over the faces within each point's bound, as over them all
            everywhere = np.sqrt(TriangleBVH(vertices, faces).query(points[~within], want_closest=False)[0])
            assert np.array_equal(exact[~within], everywhere)
    # A reach per point: every face within its point's reach is kept; the bounds hold every distance.
    vertices, faces = result.vertices, result.faces
    truth = np.sqrt(igl.point_mesh_squared_distance(points, vertices, faces)[0])
    reaches = rng.uniform(0.5, 1.5, len(points)) * np.minimum(truth, 2 * reach)  # some points reach no face
    near = faces_near_points(vertices, faces, points, reaches)
    assert 0.01 < near.mean() < 0.9
    for point, point_reach in zip(points, reaches):
        dropped, _, _ = igl.point_mesh_squared_distance(point[None], vertices, np.ascontiguousarray(faces[~near]))
        assert np.sqrt(dropped[0]) > point_reach
    bounds = beyond_reach_bounds(points[:50], points[50:], truth[50:])
    assert (bounds >= truth[:50]).all() and np.isinf(beyond_reach_bounds(points[:5], points[:0], truth[:0])).all()
