"""Curation filters on real meshes."""

from __future__ import annotations

import numpy as np
import pytest

from shapeprep.build.normalize import drop_far_parts
from shapeprep.geometry.curate import curate_counts, curate_shape, extent_ratio, far_parts, planar_fraction
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh, to_original_frame
from shapeprep.geometry.topology import face_components
from shapeprep.status import Filtered

from .conftest import box, shared_mesh

NORMALIZE = {"bound": 0.95, "weld_tolerance": 1e-6, "min_face_area": 1e-12}
FILTERS = {"min_extent_ratio": 0.01, "max_planar_fraction": 0.9, "planar_tolerance": 0.002}


def normalized(name):
    vertices, faces = load_mesh(shared_mesh(name))
    return normalize_mesh(vertices, faces, **NORMALIZE)


@pytest.mark.parametrize("name", ["fandisk.obj", "stanford-bunny.obj", "suzanne.obj", "chair.off", "igea.ply",
                                  "2CylinderEngine.glb", "ADIS16480.STL"])
def test_real_objects_pass(name):
    mesh = normalized(name)
    metrics = curate_shape(mesh.vertices, mesh.faces, FILTERS)
    assert metrics["planar_fraction"] < 0.9
    assert metrics["extent_ratio"] > 0.01


def test_two_sided_plane_is_flat_and_planar():
    mesh = normalized("TwoSidedPlane.glb")
    assert extent_ratio(mesh.vertices) < 1e-6
    assert planar_fraction(mesh.vertices, mesh.faces, 0.002) == pytest.approx(1.0)
    with pytest.raises(Filtered) as caught:
        curate_shape(mesh.vertices, mesh.faces, FILTERS)
    assert caught.value.reason == "flat_geometry"
    with pytest.raises(Filtered) as caught:
        curate_shape(mesh.vertices, mesh.faces, {"max_planar_fraction": 0.9, "planar_tolerance": 0.002})
    assert caught.value.reason == "planar_patch"


def test_ground_plane_with_a_small_object_is_a_planar_patch():
    """Suzanne at a tenth of the size standing on a large square: the square holds most of the area."""
    suzanne = normalized("suzanne.obj")
    ground_vertices, ground_faces = box((2.0, 2.0, 0.0))
    ground_vertices = ground_vertices[:, [0, 1, 2]]
    small = suzanne.vertices * 0.1 + [0, 0, 0.1]
    vertices = np.concatenate([ground_vertices, small])
    faces = np.concatenate([ground_faces, suzanne.faces + len(ground_vertices)])
    fraction = planar_fraction(vertices, faces, 0.002)
    assert 0.9 < fraction < 1.0
    with pytest.raises(Filtered, match="planar_patch"):
        curate_shape(vertices, faces, {"max_planar_fraction": 0.9, "planar_tolerance": 0.002})


def test_box_spreads_its_area_over_six_planes():
    vertices, faces = box((1.0, 0.6, 0.3))
    sides = np.array([0.6 * 0.3, 1.0 * 0.3, 1.0 * 0.6])
    assert planar_fraction(vertices, faces, 0.002) == pytest.approx(sides.max() / (2 * sides.sum()))


def test_count_bounds():
    curate_counts(100, 200, {"min_faces": 200, "max_faces": 200, "max_vertices": 100})
    for params, reason in [({"min_faces": 201}, "too_few_faces"), ({"max_faces": 199}, "too_many_faces"),
                           ({"min_vertices": 101}, "too_few_vertices"), ({"max_vertices": 99}, "too_many_vertices")]:
        with pytest.raises(Filtered) as caught:
            curate_counts(100, 200, params)
        assert caught.value.reason == reason


def test_far_part_is_dropped_and_frame_follows_the_kept_body():
    """fandisk with a small suzanne five body-sizes away: the suzanne goes, the frame maps back exactly."""
    fandisk_v, fandisk_f = load_mesh(shared_mesh("fandisk.obj"))
    suzanne_v, suzanne_f = load_mesh(shared_mesh("suzanne.obj"))
    size = np.ptp(fandisk_v, axis=0).max()
    far = suzanne_v / np.ptp(suzanne_v, axis=0).max() * size * 0.2 + fandisk_v.max(axis=0) + 5 * size
    vertices = np.concatenate([fandisk_v, far])
    faces = np.concatenate([fandisk_f, suzanne_f + len(fandisk_v)])
    mesh = normalize_mesh(vertices, faces, **NORMALIZE)
    kept, dropped = drop_far_parts(mesh, NORMALIZE, 1.0)
    suzanne = normalize_mesh(suzanne_v, suzanne_f, **NORMALIZE)
    assert dropped == face_components(suzanne.faces, len(suzanne.vertices))[0]
    alone = normalize_mesh(fandisk_v, fandisk_f, **NORMALIZE)
    assert kept.faces.shape == alone.faces.shape
    np.testing.assert_allclose(kept.center, alone.center, atol=1e-9)
    assert kept.scale == pytest.approx(alone.scale)
    np.testing.assert_allclose(to_original_frame(kept.vertices, kept.center, kept.scale).min(axis=0),
                               fandisk_v.min(axis=0), atol=1e-6)


def test_parts_of_one_object_are_not_far():
    """2CylinderEngine's many parts all sit together: nothing is dropped."""
    mesh = normalized("2CylinderEngine.glb")
    count, _ = face_components(mesh.faces, len(mesh.vertices))
    keep, dropped = far_parts(mesh.vertices, mesh.faces, 0.5)
    assert count > 10
    assert dropped == 0 and keep.all()
