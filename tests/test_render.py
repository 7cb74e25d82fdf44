"""Ray-cast thumbnails: normal maps with known colours, point splats."""

from __future__ import annotations

import numpy as np
import pytest

from shapeprep.report.render import normal_views, png_bytes, render_normals, render_points

from .conftest import box, icosphere


def test_sphere_normal_map_colours_at_centre_and_rim():
    vertices, faces = icosphere(radius=0.5, subdivisions=5)
    size = 129
    image = render_normals(vertices, faces, size=size, azimuth=0, elevation=0).astype(int)
    centre = size // 2
    # Facing the viewer: normal (0, 0, 1) -> (128, 128, 255).
    assert np.abs(image[centre, centre] - [128, 128, 255]).max() <= 4
    # Sphere radius 0.5 spans a quarter of the image from the centre.
    rim = size // 4 + 1
    assert np.abs(image[centre, centre - rim + 1] - [0, 128, 128]).max() <= 40  # left rim: normal -x
    assert np.abs(image[centre, centre + rim - 1] - [255, 128, 128]).max() <= 40  # right rim: +x
    assert np.abs(image[centre - rim + 1, centre] - [128, 255, 128]).max() <= 40  # top rim: +y
    assert (image[2, 2] == 255).all() and (image[centre, 2] == 255).all(), "background is white"
    covered = (image != 255).any(axis=2).mean()
    assert covered == pytest.approx(np.pi * 0.25**2, rel=0.03)  # disk of radius 1/4 of the image side


def test_views_turn_the_object():
    """A box seen from the side shows its +x face towards the viewer (blue)."""
    vertices, faces = box((1.0, 0.5, 0.5))
    front = render_normals(vertices, faces, size=64, azimuth=0, elevation=0)
    side = render_normals(vertices, faces, size=64, azimuth=90, elevation=0)
    covered = lambda image: (image != 255).any(axis=2)  # noqa: E731
    assert covered(front).sum() > 1.8 * covered(side).sum()  # 1 x 0.5 against 0.5 x 0.5
    assert (side[32, 32] == [128, 128, 255]).all()
    views = normal_views(vertices, faces, size=32)
    assert views.shape == (4, 32, 32, 3) and views.dtype == np.uint8


def test_points_and_salient_points():
    vertices, _ = icosphere(radius=0.5, subdivisions=3)
    image = render_points(vertices, vertices[:5], size=64, elevation=0)
    red = (image[..., 0] > 200) & (image[..., 1] < 80)
    grey = (image[..., 0] == image[..., 1]) & (image[..., 0] < 255)
    assert red.any() and grey.sum() > red.sum()


def test_png_roundtrip():
    import matplotlib.image

    image = np.zeros((8, 12, 3), dtype=np.uint8)
    image[2, 3] = [255, 0, 0]
    data = png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = matplotlib.image.imread(__import__("io").BytesIO(data))
    assert decoded.shape[:2] == (8, 12) and decoded[2, 3, 0] == 1.0


def test_normal_maps_job_writes_four_views_of_validated_objects(tmp_path):
    import h5py
    import pandas as pd

    from shapeprep.build.meshstore import mesh_store_writer
    from shapeprep.build.normal_maps import run

    vertices, faces = icosphere(radius=0.5, subdivisions=3)
    with mesh_store_writer(tmp_path / "watertight.h5") as add:
        add("sphere", vertices, faces, {})
        add("rejected", vertices, faces, {})
    pd.DataFrame({"object_id": ["sphere", "rejected"], "status": ["ok", "failed"], "reason": ["", "deviation"],
                  "message": "", "seconds": 0.0}).to_parquet(tmp_path / "validated.parquet")
    run(watertight=str(tmp_path / "watertight.h5"), validate_status=str(tmp_path / "validated.parquet"),
        settings={"size": 48, "backend": "cpu", "code": ""}, normal_maps=str(tmp_path / "maps.h5"))
    with h5py.File(tmp_path / "maps.h5") as handle:
        assert handle["object_id"][:].tolist() == [b"sphere"]
        maps = handle["normal_maps"][()]
    assert maps.shape == (1, 4, 48, 48, 3) and maps.dtype == np.uint8
    assert (maps[0, :, 24, 24, 2] > 230).all()  # every view sees the sphere head-on in the centre
