import numpy as np
import pytest

from shapeprep.jobs.sample import sample_object
from shapeprep.loaders import load_mesh
from shapeprep.normalize import normalize_mesh
from shapeprep.provenance import object_rng
from shapeprep.sampling import (
    meshiki_available,
    sample_salient,
    sample_surface,
    salient_edges,
    signed_distance,
)

from .conftest import icosphere, shared_mesh

SAMPLE_PARAMS = {
    "surface_points": 2000, "salient_points": 1000, "salient_angle_deg": 30.0, "salient_engine": "numpy",
    "volume_points": 2000, "volume_bound": 1.05, "near_surface_sigmas": [0.01, 0.05],
    "near_surface_points_per_sigma": 500,
}


@pytest.fixture(scope="module")
def fandisk():
    vertices, faces = load_mesh(shared_mesh("fandisk.obj"))
    mesh = normalize_mesh(vertices, faces)
    return mesh.vertices, mesh.faces


def distance_to_segments(points, starts, ends):
    """(n,) distance of each point to the nearest of the segments (brute force, small inputs)."""
    direction = ends - starts
    t = np.einsum("nsk,sk->ns", points[:, None] - starts[None], direction) / np.einsum("sk,sk->s", direction, direction)
    closest = starts[None] + np.clip(t, 0, 1)[..., None] * direction[None]
    return np.linalg.norm(points[:, None] - closest, axis=-1).min(axis=1)


ENGINES = ["numpy"] + (["meshiki"] if meshiki_available() else [])


@pytest.mark.parametrize("engine", ENGINES)
def test_salient_points_lie_on_fandisk_sharp_edges(fandisk, engine):
    vertices, faces = fandisk
    points, normals, used = sample_salient(vertices, faces, 1500, 30.0, np.random.default_rng(0), engine)
    assert used == engine and points.shape == (1500, 3) and normals.shape == (1500, 3)
    edges, _ = salient_edges(vertices, faces, 30.0)
    distance = distance_to_segments(points, vertices[edges[:, 0]], vertices[edges[:, 1]])
    assert distance.max() < 1e-6
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-6)
    # Spread over the sharp edges, not clumped: every long sharp edge gets points.
    lengths = np.linalg.norm(vertices[edges[:, 1]] - vertices[edges[:, 0]], axis=1)
    long_edges = edges[lengths > np.percentile(lengths, 90)]
    near = distance_to_segments(vertices[long_edges].mean(axis=1), points, points + 1e-9)
    assert np.percentile(near, 90) < 0.05


def test_meshiki_and_numpy_cover_the_same_edges(fandisk):
    if not meshiki_available():
        pytest.skip("meshiki not installed")
    vertices, faces = fandisk
    from scipy.spatial import cKDTree

    numpy_points, _, _ = sample_salient(vertices, faces, 2000, 30.0, np.random.default_rng(0), "numpy")
    meshiki_points, _, _ = sample_salient(vertices, faces, 2000, 30.0, np.random.default_rng(0), "meshiki")
    # Each engine's points are close to the other's: same edges, similar density.
    assert np.percentile(cKDTree(numpy_points).query(meshiki_points)[0], 95) < 0.03
    assert np.percentile(cKDTree(meshiki_points).query(numpy_points)[0], 95) < 0.03


def test_surface_points_lie_on_the_mesh_with_their_face_normal(rng):
    vertices, faces = icosphere(radius=0.5, subdivisions=4)
    points, normals = sample_surface(vertices, faces, 5000, rng)
    assert np.abs(np.linalg.norm(points, axis=1) - 0.5).max() < 0.01
    assert (np.einsum("ij,ij->i", normals, points) > 0).all()  # outward


def test_sdf_sign_and_value_on_a_sphere():
    vertices, faces = icosphere(radius=0.5, subdivisions=5)
    points = np.array([[0, 0, 0], [0.2, 0, 0], [0.9, 0, 0], [0, 0, -0.7]])
    sdf = signed_distance(vertices, faces, points)
    assert sdf[0] < 0 and sdf[1] < 0 and sdf[2] > 0 and sdf[3] > 0  # negative inside
    assert np.allclose(sdf, np.linalg.norm(points, axis=1) - 0.5, atol=2e-3)


def test_mesh_without_sharp_edges_is_kept_and_flagged():
    vertices, faces = icosphere(radius=0.5, subdivisions=4)
    arrays, metrics = sample_object(vertices, faces, vertices, faces, SAMPLE_PARAMS, np.random.default_rng(0))
    assert metrics["salient_fallback"] is True
    assert arrays["salient"].shape == (1000, 6)


def test_sample_object_shapes_and_determinism(fandisk):
    vertices, faces = fandisk
    runs = [sample_object(vertices, faces, vertices, faces, SAMPLE_PARAMS, object_rng("fandisk", SAMPLE_PARAMS)) for _ in range(2)]
    arrays, metrics = runs[0]
    assert arrays["surface"].shape == (2000, 6) and arrays["salient"].shape == (1000, 6)
    assert arrays["volume"].shape == (2000, 4) and arrays["near_surface"].shape == (1000, 4)  # 2 sigmas x 500
    assert metrics["salient_fallback"] is False
    for key in arrays:
        assert arrays[key].dtype == np.float32
        assert np.array_equal(arrays[key], runs[1][0][key])
    other = sample_object(vertices, faces, vertices, faces, SAMPLE_PARAMS, object_rng("another-id", SAMPLE_PARAMS))[0]
    assert not np.array_equal(arrays["surface"], other["surface"])
