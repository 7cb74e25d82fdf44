import numpy as np

from shapeprep.geometry.grid import morton_codes
from shapeprep.geometry.sdf import SignedDistance, morton_order, signed_distance

from .conftest import box, icosphere


def analytic_box_sdf(points, half_extents):
    """Exact signed distance to an axis-aligned box centred at the origin (negative inside)."""
    q = np.abs(points) - half_extents
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=1)
    inside = np.minimum(q.max(axis=1), 0.0)
    return outside + inside


def test_box_labels_match_the_analytic_sdf(rng):
    half = np.array([0.5, 0.3, 0.2])
    vertices, faces = box(2 * half)
    points = np.concatenate([rng.uniform(-1.05, 1.05, (20000, 3)), rng.uniform(-1, 1, (5000, 3)) * half * 1.01])
    sdf = signed_distance(vertices, faces, points)
    expected = analytic_box_sdf(points, half)
    assert np.abs(sdf - expected).max() < 1e-4
    assert (np.sign(sdf) == np.sign(expected)).all()
    assert (expected < 0).sum() > 5000  # many points really are inside


def test_sphere_labels_match_the_analytic_sdf(rng):
    radius = 0.5
    vertices, faces = icosphere(radius=radius, subdivisions=6)  # chord error below 3e-5
    points = rng.uniform(-1.05, 1.05, (30000, 3))
    sdf = signed_distance(vertices, faces, points)
    assert np.abs(sdf - (np.linalg.norm(points, axis=1) - radius)).max() < 1e-4
    known = np.array([[0, 0, 0], [0.3, 0.1, 0], [0, 0, -0.49], [0.6, 0, 0], [1, 1, 1], [0, -0.51, 0]])
    assert np.array_equal(np.sign(signed_distance(vertices, faces, known)), [-1, -1, -1, 1, 1, 1])  # negative inside


def test_query_returns_the_closest_face_and_winding_number(rng):
    vertices, faces = icosphere(radius=0.5, subdivisions=3)
    points = rng.uniform(-1, 1, (2000, 3))
    sdf, face, winding = SignedDistance(vertices, faces).query(points)
    from trimesh.triangles import closest_point

    on_face = closest_point(vertices[faces[face]], points)
    assert np.allclose(np.linalg.norm(points - on_face, axis=1), np.abs(sdf), atol=1e-9)
    inside = np.linalg.norm(points, axis=1) < 0.45
    outside = np.linalg.norm(points, axis=1) > 0.55
    # The first pass is the coarse (fast) approximation: close to 1 and 0, never near the 0.5 threshold.
    assert np.all(np.abs(winding[inside] - 1) < 0.1) and np.all(np.abs(winding[outside]) < 0.1)


def test_sign_follows_the_winding_number_where_parts_overlap():
    # Two overlapping closed boxes: the pseudonormal of the closest face says
    # "outside" inside the overlap, the winding number (2) says inside.
    first, first_faces = box([0.6, 0.6, 0.6], center=(-0.15, 0, 0))
    second, second_faces = box([0.6, 0.6, 0.6], center=(0.15, 0, 0))
    vertices = np.concatenate([first, second])
    faces = np.concatenate([first_faces, second_faces + len(first)])
    point = np.array([[0.14, 0.0, 0.0]])  # inside both, 0.01 from the first box's +x face
    assert signed_distance(vertices, faces, point)[0] < 0


def test_morton_order_is_a_permutation_that_groups_neighbours(rng):
    points = rng.uniform(-1, 1, (5000, 3))
    points[100:200] = points[0]  # ties keep their input order
    order = morton_order(points)
    assert np.array_equal(np.sort(order), np.arange(5000))
    # The definition: a stable sort by the Z-order code of each point's cell on a 1024^3 grid over the box.
    low, high = points.min(axis=0), points.max(axis=0)
    cells = np.clip((points - low) / (high - low) * 1023, 0, 1023).astype(np.int64)
    assert np.array_equal(order, np.argsort(morton_codes(cells), kind="stable"))
    steps = np.linalg.norm(np.diff(points[order], axis=0), axis=1)
    assert np.median(steps) < 0.25 * np.median(np.linalg.norm(np.diff(points, axis=0), axis=1))
