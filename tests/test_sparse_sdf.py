"""Sparse SDF volumes describe the watertight mesh exactly: signs, distances, reconstruction, storage, reader."""

import h5py
import igl
import numpy as np
import pytest
import trimesh

from shapeprep.geometry.distance import IglDistance
from shapeprep.geometry.grid import grid_spacing, index_to_point, morton_codes
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.volumes.sparse import crossing_numbers, crossing_pairs, occupancy_grid, pseudo_normal_at, reconstruct_mesh, sparse_sdf
from shapeprep.volumes.store import decode_sdf, encode_sdf, read_sparse_object, write_sparse_shard
from shapeprep.watertight import watertight_mesh

from .conftest import shared_mesh

MESHES = ["spot.obj", "stanford-bunny.obj", "fandisk.obj", "ADIS16480.STL"]
RESOLUTION = 256


@pytest.fixture(scope="module")
def volumes():
    out = {}
    for name in MESHES:
        source = normalize_mesh(*load_mesh(shared_mesh(name)))
        closed = watertight_mesh(source.vertices, source.faces, RESOLUTION)
        out[name] = (closed.vertices, closed.faces, *sparse_sdf(closed.vertices, closed.faces, RESOLUTION, 2.0))
    return out


@pytest.mark.parametrize("name", MESHES)
def test_values_are_the_exact_signed_distance_to_the_watertight_mesh(volumes, name):
    vertices, faces, coords, sdf = volumes[name]
    voxel = grid_spacing(RESOLUTION)
    points = index_to_point(coords, RESOLUTION)
    assert np.abs(sdf).max() < 2.0 and coords.min() >= 0 and coords.max() < RESOLUTION
    distance = IglDistance(vertices, faces).unsigned_distance(points) / voxel
    assert np.allclose(np.abs(sdf), distance, atol=1e-5)
    # Every grid point within the truncation is active: none missing.
    assert len(coords) == len(np.unique(coords, axis=0))
    # The sign agrees with the exact winding number at every voxel farther than half a voxel (inside negative).
    far = np.abs(sdf) > 0.5
    fast = igl.fast_winding_number(vertices, faces, points[far])
    doubt = np.flatnonzero((fast > 0.5) != (sdf[far] < 0))
    exact = igl.winding_number(vertices, faces, points[far][doubt]) if len(doubt) else np.zeros(0)
    assert ((exact > 0.5) == (sdf[far][doubt] < 0)).all()
    assert (sdf < 0).mean() > 0.3  # both sides are there
    codes = morton_codes(coords)
    assert (np.diff(codes.astype(np.float64)) > 0).all()  # Morton order


@pytest.mark.parametrize("name", MESHES)
def test_marching_cubes_over_the_voxels_reproduces_the_watertight_mesh(volumes, name):
    vertices, faces, coords, sdf = volumes[name]
    voxel = grid_spacing(RESOLUTION)
    recon_vertices, recon_faces = reconstruct_mesh(coords, sdf, RESOLUTION, 2.0)
    to_watertight = IglDistance(vertices, faces).unsigned_distance(recon_vertices) / voxel
    to_recon = IglDistance(recon_vertices, recon_faces).unsigned_distance(vertices) / voxel
    assert to_watertight.mean() < 0.01 and np.percentile(to_watertight, 99) < 0.1
    assert to_recon.mean() < 0.05  # marching cubes cuts sharp creases by up to about a voxel


def test_reconstruction_keeps_an_enclosed_cavity_outside():
    # A hollow ball (an outward outer sphere, an inward inner one): its cavity is outside the solid although no
    # path through inactive space reaches it from the grid's boundary. Filling it would add a third surface at
    # the band's inner edge, two voxels from the mesh.
    outer, inner = trimesh.creation.icosphere(4, 0.8), trimesh.creation.icosphere(4, 0.45)
    vertices = np.concatenate([outer.vertices, inner.vertices])
    faces = np.concatenate([outer.faces, inner.faces[:, ::-1] + len(outer.vertices)])
    resolution = 96
    coords, sdf = sparse_sdf(vertices, faces, resolution, 2.0)
    recon_vertices, recon_faces = reconstruct_mesh(coords, sdf, resolution, 2.0)
    recon = trimesh.Trimesh(recon_vertices, recon_faces)
    assert recon.is_volume and len(recon.split(only_watertight=False)) == 2
    expected = trimesh.Trimesh(vertices, faces).volume  # the shell between the spheres, positive
    assert abs(recon.volume - expected) < 0.02 * expected
    error = IglDistance(vertices, faces).unsigned_distance(recon_vertices) / grid_spacing(resolution)
    assert error.max() < 0.3


def test_crossing_numbers_and_edge_pseudo_normals(volumes):
    vertices, faces, coords, sdf = volumes["fandisk.obj"]
    points = index_to_point(coords[::499], RESOLUTION)
    # At grid points within two voxels of the closed surface: libigl's exact winding number, along every axis.
    exact = igl.winding_number(vertices, faces, points)
    assert np.abs(exact - np.round(exact)).max() < 1e-6 and (np.round(exact) == 1).mean() > 0.3
    for axis in range(3):  # rays from grid points meet marching-cubes vertices and edges head-on: all count
        assert np.array_equal(crossing_numbers(vertices, faces, points, axis), np.round(exact))
        # The budget's count of the pairs the kernel tests: per face, the points within its extent across the ray.
        across, corners = points[:, (axis + 1) % 3], vertices[faces][:, :, (axis + 1) % 3]
        within = (across[None] >= corners.min(axis=1)[:, None]) & (across[None] <= corners.max(axis=1)[:, None])
        assert crossing_pairs(vertices, faces, points, axis) == within.sum() > 0
    # Pseudo-normals gathered around each feature equal the classic accumulation over every face in face order
    # (Baerentzen and Aanaes): per undirected edge the sum of its faces' unit normals, per vertex the
    # angle-weighted sum; compared at every face, every edge and every corner (trimesh computes its own normals).
    mesh = trimesh.Trimesh(vertices, faces, process=False)
    unit = np.where(mesh.area_faces[:, None] > 0, mesh.face_normals, 0.0)
    sides = np.sort(np.stack([faces[:, [1, 2]], faces[:, [2, 0]], faces[:, [0, 1]]], axis=1), axis=2).reshape(-1, 2)
    _, edge_of_side = np.unique(sides, axis=0, return_inverse=True)
    assert edge_of_side.max() + 1 == 3 * len(faces) // 2  # closed: every edge has exactly two faces
    edge_sum = np.zeros((edge_of_side.max() + 1, 3))
    np.add.at(edge_sum, edge_of_side.reshape(-1), np.repeat(unit, 3, axis=0))
    vertex_sum = np.zeros((len(vertices), 3))
    np.add.at(vertex_sum, faces.reshape(-1), np.repeat(unit, 3, axis=0) * mesh.face_angles.reshape(-1, 1))
    every = np.arange(len(faces))
    assert np.allclose(pseudo_normal_at(vertices, faces, every, np.zeros_like(every), every * 0), unit)
    for corner in range(3):
        at_corner = np.full(len(faces), corner)
        assert np.allclose(pseudo_normal_at(vertices, faces, every, np.ones_like(every), at_corner),
                           edge_sum[edge_of_side.reshape(-1, 3)[:, corner]], rtol=0, atol=1e-12)
        assert np.allclose(pseudo_normal_at(vertices, faces, every, np.full_like(every, 2), at_corner),
                           vertex_sum[faces[:, corner]], rtol=0, atol=1e-12)


def test_storage_round_trip_and_occupancy(volumes, tmp_path):
    items = {name: volumes[name][2:] for name in MESHES[:2]}
    path = tmp_path / "00000.h5"
    for storage, tolerance in (("float16", 1e-3), ("int8", 2.0 / 254 + 1e-6)):
        write_sparse_shard(path, [{"object_id": name} for name in items], items.__getitem__,
                           [len(c) for c, _ in items.values()],
                           {"resolution": RESOLUTION, "truncation_voxels": 2.0, "shard": "00000"}, storage=storage)
        with h5py.File(path, "r") as handle:
            assert handle.attrs["sdf_storage"] == storage and handle["coords"].dtype == np.uint16
            assert "offsets[i]:offsets[i+1]" in handle["offsets"].attrs["description"]
            for position, (coords, sdf) in enumerate(items.values()):
                stored = read_sparse_object(handle, position)
                assert np.array_equal(stored["coords"], coords)
                assert np.abs(stored["sdf"] - sdf).max() <= tolerance
                assert np.array_equal(stored["occupancy"], occupancy_grid(coords, RESOLUTION))
                assert stored["occupancy"].sum() > 100
    assert np.array_equal(decode_sdf(encode_sdf(np.array([-2.0, 0.0, 2.0]), "int8", 2.0), "int8", 2.0), [-2, 0, 2])


def test_reader_and_collate_with_worker_processes(volumes, tmp_path):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from shapeprep.data import SparseSDFDataset, sparse_collate

    items = {name: volumes[name][2:] for name in MESHES}
    for shard, names in (("00000", MESHES[:2]), ("00001", MESHES[2:])):
        write_sparse_shard(tmp_path / f"{shard}.h5", [{"object_id": n} for n in names], items.__getitem__,
                           [len(items[n][0]) for n in names],
                           {"resolution": RESOLUTION, "truncation_voxels": 2.0, "shard": shard})
    dataset = SparseSDFDataset(tmp_path)
    assert len(dataset) == 4
    loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=sparse_collate)
    seen = 0
    for batch in loader:
        coords, feats = batch["coords"], batch["feats"]
        sizes = [len(items[name][0]) for name in batch["object_id"]]
        assert coords.dtype == torch.int32 and coords.shape == (sum(sizes), 4) and feats.shape == (sum(sizes), 1)
        assert torch.equal(torch.bincount(coords[:, 0].long()), torch.tensor(sizes))  # batch index first
        assert batch["occupancy"].shape == (2, 64, 64, 64) and batch["occupancy"].dtype == torch.bool
        first = batch["object_id"][0]
        assert torch.equal(coords[: sizes[0], 1:].long(), torch.from_numpy(items[first][0]))
        seen += len(sizes)
    assert seen == 4
