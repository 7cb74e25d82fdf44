import numpy as np
import pytest

from shapeprep.build.provenance import object_rng
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.geometry.surface import face_normals, sample_surface
from shapeprep.samples.salient import (
    manifold_edges,
    meshiki_available,
    nearest_edge,
    salient_edges,
    sample_salient,
)
from shapeprep.samples.sampling import sample_object
from shapeprep.watertight import watertight_mesh

from .conftest import icosphere, shared_mesh

SAMPLE_PARAMS = {
    "surface_points": 2000, "salient_points": 1000, "salient_angle_deg": 30.0, "salient_engine": "numpy",
    "salient_project": True, "volume_points": 2000, "volume_bound": 1.05,
    "near_surface_sigmas": [0.01, 0.05], "near_surface_points_per_sigma": 500,
    "near_salient_sigmas": [0.005], "near_salient_points_per_sigma": 700,
}
ENGINES = ["numpy"] + (["meshiki"] if meshiki_available() else [])


@pytest.fixture(scope="module")
def fandisk():
    mesh = normalize_mesh(*load_mesh(shared_mesh("fandisk.obj")))
    return mesh.vertices, mesh.faces


@pytest.fixture(scope="module")
def fandisk_watertight(fandisk):
    result = watertight_mesh(*fandisk, 96)
    return result.vertices, result.faces


def distance_to_segments(points, starts, ends):
    """(n,) distance of each point to the nearest of the segments (brute force, small inputs)."""
    direction = ends - starts
    t = np.einsum("nsk,sk->ns", points[:, None] - starts[None], direction) / np.einsum("sk,sk->s", direction, direction)
    closest = starts[None] + np.clip(t, 0, 1)[..., None] * direction[None]
    return np.linalg.norm(points[:, None] - closest, axis=-1).min(axis=1)


def flip_every_other_face(faces):
    flipped = faces.copy()
    flipped[::2] = flipped[::2, ::-1]
    return flipped


@pytest.mark.parametrize("engine", ENGINES)
def test_salient_points_lie_on_fandisk_sharp_edges_with_their_edge_normal(fandisk, engine):
    vertices, faces = fandisk
    sample = sample_salient(vertices, faces, 1500, 30.0, np.random.default_rng(0), engine)
    assert sample.engine == engine and sample.points.shape == (1500, 3) and sample.normals.shape == (1500, 3)
    edges, edge_normals = salient_edges(vertices, faces, 30.0)
    assert sample.edges == len(edges) > 100
    distance = distance_to_segments(sample.points, vertices[edges[:, 0]], vertices[edges[:, 1]])
    assert distance.max() < 1e-6
    # Each normal is the normalised sum of the two faces of the edge the point lies on.
    edge, _ = nearest_edge(vertices, edges, sample.points)
    from scipy.spatial import cKDTree

    interior = cKDTree(vertices[np.unique(edges)]).query(sample.points)[0] > 1e-4  # endpoints are shared by edges
    assert interior.sum() > 300
    assert np.allclose(sample.normals[interior], edge_normals[edge[interior]], atol=1e-6)
    # Spread over the sharp edges, not clumped: every long sharp edge gets points.
    lengths = np.linalg.norm(vertices[edges[:, 1]] - vertices[edges[:, 0]], axis=1)
    long_edges = edges[lengths > np.percentile(lengths, 90)]
    near = distance_to_segments(vertices[long_edges].mean(axis=1), sample.points, sample.points + 1e-9)
    assert np.percentile(near, 90) < 0.05


def test_edge_normal_is_the_sum_of_the_two_face_normals(fandisk):
    vertices, faces = fandisk
    edges, normals = salient_edges(vertices, faces, 30.0)
    all_edges, face_a, face_b, consistent = manifold_edges(faces)
    assert consistent.all()  # fandisk is consistently wound
    lookup = {tuple(edge): k for k, edge in enumerate(all_edges)}
    rows = np.array([lookup[tuple(edge)] for edge in edges])
    expected = face_normals(vertices, faces)[face_a[rows]] + face_normals(vertices, faces)[face_b[rows]]
    assert np.allclose(normals, expected / np.linalg.norm(expected, axis=1, keepdims=True))


def test_mixed_winding_does_not_create_salient_edges():
    vertices, faces = icosphere(radius=0.5, subdivisions=3)
    assert len(salient_edges(vertices, faces, 30.0)[0]) == 0
    mixed = flip_every_other_face(faces)
    assert not manifold_edges(mixed)[3].all()
    assert len(salient_edges(vertices, mixed, 30.0)[0]) == 0


def test_fandisk_with_mixed_winding_gives_the_same_sharp_edges(fandisk):
    vertices, faces = fandisk
    edges, _ = salient_edges(vertices, faces, 30.0)
    mixed_edges, _ = salient_edges(vertices, flip_every_other_face(faces), 30.0)
    assert set(map(tuple, edges)) == set(map(tuple, mixed_edges))


def test_meshiki_and_numpy_cover_the_same_edges(fandisk):
    if not meshiki_available():
        pytest.skip("meshiki not installed")
    from scipy.spatial import cKDTree

    vertices, faces = fandisk
    numpy_points = sample_salient(vertices, faces, 2000, 30.0, np.random.default_rng(0), "numpy").points
    meshiki_points = sample_salient(vertices, faces, 2000, 30.0, np.random.default_rng(0), "meshiki").points
    assert np.percentile(cKDTree(numpy_points).query(meshiki_points)[0], 95) < 0.03
    assert np.percentile(cKDTree(meshiki_points).query(numpy_points)[0], 95) < 0.03


def test_surface_points_lie_on_the_mesh_with_their_face_normal(rng):
    vertices, faces = icosphere(radius=0.5, subdivisions=4)
    points, normals = sample_surface(vertices, faces, 5000, rng)
    assert np.abs(np.linalg.norm(points, axis=1) - 0.5).max() < 0.01
    assert (np.einsum("ij,ij->i", normals, points) > 0).all()  # outward


def test_mesh_without_sharp_edges_is_kept_and_flagged():
    vertices, faces = icosphere(radius=0.5, subdivisions=4)
    arrays, metrics = sample_object(vertices, faces, vertices, faces, SAMPLE_PARAMS, np.random.default_rng(0))
    assert metrics["salient_fallback"] is True and metrics["salient_edges"] == 0
    assert arrays["salient"].shape == (1000, 6)
    assert np.abs(np.linalg.norm(arrays["salient"][:, :3], axis=1) - 0.5).max() < 0.01  # uniform on the surface
    assert arrays["near_salient"].shape == (700, 4)


def test_salient_points_from_the_source_are_projected_and_face_outward(fandisk, fandisk_watertight):
    from shapeprep.geometry.sdf import SignedDistance

    source_vertices, source_faces = fandisk
    vertices, faces = fandisk_watertight
    # Mixed winding in the source must not turn normals inward.
    mixed = flip_every_other_face(source_faces)
    arrays, metrics = sample_object(vertices, faces, source_vertices, mixed, SAMPLE_PARAMS, np.random.default_rng(0))
    salient = arrays["salient"].astype(np.float64)
    distance, face, _ = SignedDistance(vertices, faces).closest(salient[:, :3])
    assert distance.max() < 1e-5  # on the watertight surface, the SDF's zero level
    assert 0 < metrics["salient_offset"] < 2 * (2 / 95)  # the source lies within about a voxel inside
    agreement = np.einsum("ij,ij->i", salient[:, 3:], face_normals(vertices, faces)[face])
    assert np.median(agreement) > 0.8  # edge normals agree with the watertight surface they lie on
    # Outward: a step along the normal leaves the solid. (The face a point on a crease edge is matched with is
    # a tie between the edge's two faces, so agreement with "its" face is no test there; the step is.)
    stepped = SignedDistance(vertices, faces)(salient[:, :3] + 0.2 * (2 / 95) * salient[:, 3:])
    assert (stepped > 0).mean() > 0.995, (stepped <= 0).sum()
    consistent, _ = sample_object(vertices, faces, source_vertices, source_faces, SAMPLE_PARAMS, np.random.default_rng(0))
    assert np.allclose(consistent["salient"], arrays["salient"], atol=1e-6)  # winding of the source does not matter


def test_sample_object_shapes_labels_and_determinism(fandisk, fandisk_watertight):
    from shapeprep.geometry.sdf import signed_distance

    vertices, faces = fandisk_watertight
    source = fandisk
    runs = [sample_object(vertices, faces, *source, SAMPLE_PARAMS, object_rng("fandisk", SAMPLE_PARAMS)) for _ in range(2)]
    arrays, metrics = runs[0]
    expected = {"surface": (2000, 6), "salient": (1000, 6), "volume": (2000, 4), "near_surface": (1000, 4), "near_salient": (700, 4),
                "near_surface_sigma": (1000,), "near_salient_sigma": (700,)}
    assert {key: value.shape for key, value in arrays.items()} == expected
    assert metrics["salient_fallback"] is False
    for key in arrays:
        assert arrays[key].dtype == (np.uint8 if key.endswith("_sigma") else np.float32)
        assert np.array_equal(arrays[key], runs[1][0][key])
    other = sample_object(vertices, faces, *source, SAMPLE_PARAMS, object_rng("another-id", SAMPLE_PARAMS))[0]
    assert not np.array_equal(arrays["surface"], other["surface"])
    # Labels are the signed distance to the watertight mesh, negative inside.
    for key in ("volume", "near_surface", "near_salient"):
        rows = arrays[key].astype(np.float64)
        assert np.allclose(rows[:, 3], signed_distance(vertices, faces, rows[:, :3]), atol=1e-6)
    assert np.abs(arrays["volume"][:, :3]).max() <= 1.05
    assert 0.05 < metrics["volume_inside_fraction"] < 0.5
    # Stored in random order: the per-sigma blocks are mixed, so any window is a uniform subset.
    near = arrays["near_surface"][:, 3]
    assert abs(np.abs(near[:500]).mean() - np.abs(near[500:]).mean()) < 0.3 * np.abs(near).mean()
    # The sigma labels follow their rows through the shuffle: the wide sigma's rows lie farther out.
    sigma = arrays["near_surface_sigma"]
    assert np.bincount(sigma).tolist() == [SAMPLE_PARAMS["near_surface_points_per_sigma"]] * len(SAMPLE_PARAMS["near_surface_sigmas"])
    spread = [np.median(np.abs(near[sigma == index])) for index in range(len(SAMPLE_PARAMS["near_surface_sigmas"]))]
    assert np.argsort(spread).tolist() == np.argsort(SAMPLE_PARAMS["near_surface_sigmas"]).tolist()
