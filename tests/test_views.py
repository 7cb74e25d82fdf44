"""Conditioning renders: cameras and images agree, materials are honoured, missing textures are recorded."""

import json

import h5py
import numpy as np
import pytest

from shapeprep.build.render import object_cameras
from shapeprep.geometry.loaders import load_mesh
from shapeprep.geometry.normalize import normalize_mesh
from shapeprep.views.cameras import fibonacci_directions, orbit_cameras, transforms_json
from shapeprep.views.scene import load_textured
from shapeprep.views.store import read_views, write_view_shard

from .conftest import shared_mesh

#: Face colours of the test cube, by outward normal.
FACE_COLORS = {(1, 0, 0): (220, 40, 40), (-1, 0, 0): (40, 200, 60), (0, 1, 0): (40, 70, 220),
               (0, -1, 0): (230, 210, 40), (0, 0, 1): (210, 60, 200), (0, 0, -1): (50, 210, 210)}
CELL = 64
RESOLUTION = 256
FOV = 40.0
RADIUS = 5.0  # the whole cube in view (its corners reach 1.65; 4.81 frames any normalised object)


def renderer_or_skip():
    from shapeprep.views.raster import gl_context

    try:
        gl_context()
    except Exception as error:  # no EGL on this machine: say so, never pass silently
        pytest.skip(f"no headless OpenGL context (EGL): {error}")


def textured_cube(folder, missing_texture: bool = False):
    """A cube of half-size 0.5 whose six faces sample six cells of one texture atlas (3 x 2 cells)."""
    import trimesh
    from PIL import Image

    atlas = np.zeros((2 * CELL, 3 * CELL, 3), np.uint8)
    vertices, faces, uv = [], [], []
    for index, (normal, color) in enumerate(FACE_COLORS.items()):
        row, column = divmod(index, 3)
        atlas[row * CELL:(row + 1) * CELL, column * CELL:(column + 1) * CELL] = color
        normal = np.array(normal, float)
        axis = int(np.flatnonzero(normal)[0])
        u_axis, v_axis = [a for a in range(3) if a != axis]
        corners = []
        for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            corner = 0.5 * normal.copy()
            corner[u_axis], corner[v_axis] = 0.5 * du, 0.5 * dv
            corners.append(corner)
            # Inside the cell, away from its border (mipmaps must not bleed a neighbour in); v up in OpenGL.
            u = (column * CELL + CELL / 2 + du * CELL / 4) / (3 * CELL)
            v = 1.0 - (row * CELL + CELL / 2 - dv * CELL / 4) / (2 * CELL)
            uv.append((u, v))
        start = 4 * index
        triangles = [[start, start + 1, start + 2], [start, start + 2, start + 3]]
        if np.dot(np.cross(corners[1] - corners[0], corners[2] - corners[0]), normal) < 0:
            triangles = [t[::-1] for t in triangles]
        vertices += corners
        faces += triangles
    material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(atlas),
                                                   baseColorFactor=[255, 255, 255, 255])
    if missing_texture:
        material = trimesh.visual.material.PBRMaterial(baseColorTexture=Image.fromarray(atlas),
                                                       baseColorFactor=[200, 100, 50, 255])
    mesh = trimesh.Trimesh(np.array(vertices), np.array(faces), process=False,
                           visual=trimesh.visual.TextureVisuals(uv=np.array(uv), material=material))
    if not missing_texture:
        path = folder / "cube.glb"
        mesh.export(path)
        return path
    files = mesh.export(file_type="gltf")
    for name, data in files.items():
        (folder / name).write_bytes(data)
    # Point the image at a file that is not there, as scraped glTFs often do.
    document = json.loads((folder / "model.gltf").read_text())
    document["images"] = [{"uri": "textures/atlas.png"}]
    (folder / "model.gltf").write_text(json.dumps(document))
    return folder / "model.gltf"


def render_all(path, cameras, shading="unlit", samples=4):
    from shapeprep.views.raster import ViewRenderer

    mesh = normalize_mesh(*load_mesh(path))
    scene = load_textured(path, mesh.center, mesh.scale)
    renderer = ViewRenderer(scene, RESOLUTION, FOV, RADIUS - 1.8, RADIUS + 1.8, shading, samples=samples)
    try:
        views = [renderer.render(c2w) for c2w in cameras]
    finally:
        renderer.release()
    return scene, mesh, views


def pixels_from_camera_file(points, frame, transforms):
    """Project with nothing but the camera file: ``(k, 2)`` pixels (u right, v down) and depths."""
    c2w = np.array(frame["transform_matrix"])
    camera = (np.asarray(points) - c2w[:3, 3]) @ c2w[:3, :3]
    depth = -camera[:, 2]
    u = transforms["cx"] + transforms["fl_x"] * camera[:, 0] / depth
    v = transforms["cy"] - transforms["fl_y"] * camera[:, 1] / depth
    return np.stack([u, v], axis=1), depth


@pytest.mark.parametrize("samples", [1, 4])
def test_each_face_has_its_colour_where_the_camera_file_puts_it(tmp_path, samples):
    renderer_or_skip()
    path = textured_cube(tmp_path)
    cameras = orbit_cameras(fibonacci_directions(24), RADIUS)
    scene, mesh, views = render_all(path, cameras, samples=samples)
    assert scene.notes["textures_missing"] == 0 and sum(p.texture is not None for p in scene.primitives) == 1
    transforms = transforms_json(cameras, FOV, RESOLUTION, mesh.center, mesh.scale)
    assert np.isclose(transforms["fl_x"], RESOLUTION / 2 / np.tan(np.radians(FOV / 2)))
    half = 0.5 * mesh.scale  # the cube's half-size in the normalised frame
    corners = np.array([[x, y, z] for x in (-half, half) for y in (-half, half) for z in (-half, half)])
    checked = {normal: 0 for normal in FACE_COLORS}
    for (rgba, normal_image, depth_image), frame in zip(views, transforms["frames"]):
        eye = np.array(frame["transform_matrix"])[:3, 3]
        mask = rgba[..., 3] > 0
        # Every projected corner lies on the mask (within a pixel: corners sit on the silhouette).
        pixels, _ = pixels_from_camera_file(corners, frame, transforms)
        for u, v in pixels:
            assert mask[int(v) - 1:int(v) + 2, int(u) - 1:int(u) + 2].any()
        # The mask is the cube's projection: its bounding box is the corners' (to a pixel).
        rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        assert abs(columns[0] - pixels[:, 0].min()) < 1.5 and abs(columns[-1] + 1 - pixels[:, 0].max()) < 1.5
        assert abs(rows[0] - pixels[:, 1].min()) < 1.5 and abs(rows[-1] + 1 - pixels[:, 1].max()) < 1.5
        for normal, color in FACE_COLORS.items():
            centre = half * np.array(normal, float)
            facing = np.dot(normal, (eye - centre) / np.linalg.norm(eye - centre))
            if facing < 0.5:
                continue
            ((u, v),), (depth,) = pixels_from_camera_file(centre[None], frame, transforms)
            row, column = int(v), int(u)
            assert np.abs(rgba[row, column, :3].astype(int) - color).max() <= 3, (normal, rgba[row, column])
            assert rgba[row, column, 3] == 255
            assert abs(depth_image[row, column] - depth) < 0.02
            decoded = normal_image[row, column] / 255.0 * 2.0 - 1.0
            assert np.abs(decoded - normal).max() < 0.02
            checked[normal] += 1
    assert min(checked.values()) >= 2, checked  # every face, in at least two views


def test_lit_shading_keeps_faces_that_face_the_camera_at_their_albedo(tmp_path):
    renderer_or_skip()
    path = textured_cube(tmp_path)
    camera = orbit_cameras(np.array([[1.0, 0.0, 0.0]]), RADIUS)  # straight at the +x face
    _, _, ((rgba, _, _),) = render_all(path, camera, shading="lit")
    centre = RESOLUTION // 2
    # The headlight hits the +x face head-on at the centre: ambient + (1 - ambient) * 1 = the albedo.
    assert np.abs(rgba[centre, centre, :3].astype(int) - FACE_COLORS[(1, 0, 0)]).max() <= 3


def test_a_missing_texture_renders_with_the_base_colour_and_is_recorded(tmp_path):
    renderer_or_skip()
    path = textured_cube(tmp_path, missing_texture=True)
    assert not list(tmp_path.glob("*.png"))
    camera = orbit_cameras(np.array([[1.0, 0.0, 0.0]]), RADIUS)
    scene, _, ((rgba, _, _),) = render_all(path, camera)
    assert scene.notes["textures_missing"] == 1
    centre = RESOLUTION // 2
    assert np.abs(rgba[centre, centre, :3].astype(int) - (200, 100, 50)).max() <= 2


def test_a_missing_material_library_is_recorded(tmp_path):
    import shutil

    shutil.copy(shared_mesh("rabbit.obj"), tmp_path / "rabbit.obj")  # without its rabbit.mtl (magenta)
    alone = load_textured(tmp_path / "rabbit.obj", np.zeros(3), 1.0)
    assert alone.notes["materials_missing"] == 1 and alone.notes["textures_missing"] == 0
    assert np.allclose(alone.primitives[0].base_color, 1.0)
    with_library = load_textured(shared_mesh("rabbit.obj"), np.zeros(3), 1.0)
    assert with_library.notes["materials_missing"] == 0
    assert np.allclose(with_library.primitives[0].base_color, [1.0, 0.0, 1.0, 1.0])


def test_textures_named_with_foreign_paths_are_found_and_renders_repeat_bit_for_bit():
    renderer_or_skip()
    path = shared_mesh("spider_obj/spider.obj")  # its MTL names textures as .\\wal67ar_small.jpg
    cameras = orbit_cameras(fibonacci_directions(4), RADIUS)
    scene, _, first = render_all(path, cameras, shading="lit")
    assert scene.notes["textures_found_by_name"] == 5 and scene.notes["textures_missing"] == 0
    assert all(primitive.texture is not None for primitive in scene.primitives)
    _, _, second = render_all(path, cameras, shading="lit")
    for one, two in zip(first, second):
        for a, b in zip(one, two):
            assert np.array_equal(a, b)
    colors = np.concatenate([rgba[rgba[..., 3] == 255][:, :3] for rgba, _, _ in first])
    assert len(np.unique(colors // 16, axis=0)) > 20  # textured, not one flat colour


def test_random_views_are_seeded_by_object_and_settings():
    settings = {"views": 6, "random_views": 3, "seed": 0, "radius": RADIUS, "fov_deg": FOV, "resolution": 64,
                "shading": "lit", "samples": 4, "compression": "gzip", "code": "x"}
    first = object_cameras("abc", settings)
    assert first.shape == (9, 4, 4)
    assert np.array_equal(first, object_cameras("abc", settings))
    assert np.array_equal(first, object_cameras("abc", {**settings, "code": "y"}))  # code is no seed
    assert not np.allclose(first[6:], object_cameras("abd", settings)[6:])
    assert np.allclose(first[:6], object_cameras("abd", settings)[:6])  # the Fibonacci views are shared
    assert np.allclose(np.linalg.norm(first[:, :3, 3], axis=1), RADIUS)
    rotations = first[:, :3, :3]
    assert np.allclose(rotations @ rotations.transpose(0, 2, 1), np.eye(3), atol=1e-12)
    # Each camera looks at the origin: -z (the viewing axis) points from the eye to it.
    assert np.allclose(-first[:, :3, 2], -first[:, :3, 3] / RADIUS)


def test_render_shard_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    views = {oid: {"rgba": rng.integers(0, 256, (k, 16, 16, 4), dtype=np.uint8),
                   "normal": rng.integers(0, 256, (k, 16, 16, 3), dtype=np.uint8),
                   "depth": rng.uniform(0, 5, (k, 16, 16)).astype(np.float32),
                   "c2w": rng.normal(size=(k, 4, 4)).astype(np.float32),
                   "transforms": {"frames": [{"file_path": f"{i:03d}.png"} for i in range(k)]}}
             for oid, k in (("a", 3), ("b", 5))}
    path = tmp_path / "views.h5"
    write_view_shard(path, [{"object_id": "a"}, {"object_id": "b"}], views.__getitem__, [3, 5],
                     {"resolution": 16, "fov_deg": FOV, "radius": RADIUS, "shading": "lit", "shard": "00000"})
    with h5py.File(path) as handle:
        assert handle.attrs["layout"] == "views" and handle["rgba"].chunks == (1, 16, 16, 4)
        back = read_views(handle, 1, [4, 0])
        assert np.array_equal(back["rgba"], views["b"]["rgba"][[0, 4]])
        assert np.array_equal(back["c2w"], views["b"]["c2w"][[0, 4]])
        assert np.allclose(back["depth"], views["b"]["depth"][[0, 4]], rtol=1e-3)
        assert back["transforms"] == views["b"]["transforms"]
        assert json.loads(handle.attrs["params"]) == {}
    # Exported as TRELLIS's image-conditioned datasets read it: renders_cond/<instance>/transforms.json, then
    # a frame's file_path under that folder, opened as RGBA.
    from PIL import Image

    from shapeprep.cli import main

    assert main(["export-views", str(path), str(tmp_path / "trellis")]) == 0
    for instance, arrays in views.items():
        image_root = tmp_path / "trellis" / "renders_cond" / instance
        metadata = json.loads((image_root / "transforms.json").read_text())
        assert len(metadata["frames"]) == len(arrays["rgba"])
        for index, frame in enumerate(metadata["frames"]):
            image = np.asarray(Image.open(image_root / frame["file_path"]).convert("RGBA"))
            assert np.array_equal(image, arrays["rgba"][index])


def test_view_dataset_through_worker_processes(tmp_path):
    """The reader returns views with their cameras, composited over the background, through DataLoader workers,
    and draws the same views again with a fixed seed."""
    renderer_or_skip()
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    from shapeprep.data import ViewDataset

    path = textured_cube(tmp_path)
    cameras = orbit_cameras(fibonacci_directions(6), RADIUS)
    _, mesh, rendered = render_all(path, cameras)
    transforms = transforms_json(cameras, FOV, RESOLUTION, mesh.center, mesh.scale)
    arrays = {"rgba": np.stack([v[0] for v in rendered]), "normal": np.stack([v[1] for v in rendered]),
              "depth": np.stack([v[2] for v in rendered]), "c2w": cameras.astype(np.float32), "transforms": transforms}
    shard = tmp_path / "render" / "00000.h5"
    objects = [{"object_id": "cube-a"}, {"object_id": "cube-b"}, {"object_id": "cube-c"}]
    write_view_shard(shard, objects, lambda _: arrays, [6, 6, 6],
                     {"resolution": RESOLUTION, "fov_deg": FOV, "radius": RADIUS, "shading": "unlit", "shard": "00000"})
    dataset = ViewDataset(tmp_path / "render", views_per_item=2, background=1.0, seed=7)
    batches = list(DataLoader(dataset, batch_size=3, num_workers=2))
    (batch,) = batches
    assert batch["image"].shape == (3, 2, 3, RESOLUTION, RESOLUTION) and batch["alpha"].shape == (3, 2, 1, RESOLUTION, RESOLUTION)
    assert batch["c2w"].shape == (3, 2, 4, 4) and batch["object_id"] == ["cube-a", "cube-b", "cube-c"]
    for item in range(3):
        for slot in range(2):
            view = int(batch["view_index"][item, slot])
            assert torch.equal(batch["c2w"][item, slot], torch.from_numpy(cameras[view].astype(np.float32)))
            expected = arrays["rgba"][view, ..., :3] / 255.0 * (arrays["rgba"][view, ..., 3:] / 255.0) \
                + (1.0 - arrays["rgba"][view, ..., 3:] / 255.0)
            assert np.allclose(batch["image"][item, slot].permute(1, 2, 0).numpy(), expected, atol=1e-6)
    assert np.allclose(batch["intrinsics"][0].numpy(), [[transforms["fl_x"], 0, RESOLUTION / 2],
                                                        [0, transforms["fl_y"], RESOLUTION / 2], [0, 0, 1]])
    again = next(iter(DataLoader(ViewDataset(tmp_path / "render", views_per_item=2, seed=7), batch_size=3)))
    assert torch.equal(again["view_index"], batch["view_index"])
