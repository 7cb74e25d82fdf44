"""Cameras around an object: where they stand, how they look, how they project.

Conventions (those of NeRF's and TRELLIS's ``transforms.json``, Blender's and
OpenGL's camera): a camera-to-world matrix ``c2w (4, 4)`` whose columns are
the camera's right (+x), up (+y) and backward (+z) axes and its position; the
camera looks along ``-z``. Image pixel ``(u, v)`` has ``u`` to the right and
``v`` down from the top-left corner; a camera-frame point ``(x, y, z)`` with
``z < 0`` lands at ``u = cx + fl_x * x / -z``, ``v = cy - fl_y * y / -z``.
The world frame is the normalised frame of the point and SDF shards, with
``+y`` up (glTF's convention).
"""

from __future__ import annotations

import math

import numpy as np

#: The golden angle, radians: successive Fibonacci-sphere points turn by it.
GOLDEN_ANGLE = math.pi * (3.0 - math.sqrt(5.0))


def fibonacci_directions(count: int) -> np.ndarray:
    """``(count, 3)`` unit vectors spread evenly over the sphere (the Fibonacci lattice, ``+y`` as its axis)."""
    index = np.arange(count, dtype=np.float64)
    y = 1.0 - (2.0 * index + 1.0) / max(count, 1)
    ring = np.sqrt(np.clip(1.0 - y * y, 0.0, 1.0))
    angle = index * GOLDEN_ANGLE
    return np.stack([ring * np.cos(angle), y, ring * np.sin(angle)], axis=1)


def random_directions(count: int, rng: np.random.Generator) -> np.ndarray:
    """``(count, 3)`` unit vectors uniform on the sphere."""
    directions = rng.normal(size=(count, 3))
    return directions / np.linalg.norm(directions, axis=1, keepdims=True)


def look_at(eye: np.ndarray, target: np.ndarray | None = None, up: np.ndarray | None = None) -> np.ndarray:
    """Camera-to-world matrix ``(4, 4)`` of a camera at ``eye (3,)`` looking at ``target`` (the origin), ``up`` (+y)
    kept upright; a camera looking along ``up`` takes ``+z`` as its up instead."""
    eye = np.asarray(eye, dtype=np.float64)
    target = np.zeros(3) if target is None else np.asarray(target, dtype=np.float64)
    up = np.array([0.0, 1.0, 0.0]) if up is None else np.asarray(up, dtype=np.float64)
    backward = eye - target
    backward /= np.linalg.norm(backward)
    if abs(float(backward @ up)) > 0.999:
        up = np.array([0.0, 0.0, 1.0])
    right = np.cross(up, backward)
    right /= np.linalg.norm(right)
    camera_up = np.cross(backward, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, camera_up, backward, eye
    return c2w


def orbit_cameras(directions: np.ndarray, radius: float) -> np.ndarray:
    """``(k, 4, 4)`` camera-to-world matrices at ``radius`` along each direction ``(k, 3)``, looking at the origin."""
    return np.stack([look_at(direction * radius) for direction in np.asarray(directions, dtype=np.float64)])


def focal_length(fov_deg: float, resolution: int) -> float:
    """Focal length in pixels of a square image ``resolution`` wide with field of view ``fov_deg``."""
    return 0.5 * resolution / math.tan(math.radians(fov_deg) / 2.0)


def project(points: np.ndarray, c2w: np.ndarray, fov_deg: float, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(k, 2)`` (u right, v down, pixel centres at ``i + 0.5``) and depth ``(k,)`` (distance
    along the viewing axis) of world points ``(k, 3)`` seen by camera ``c2w``."""
    w2c = np.linalg.inv(c2w)
    camera = np.asarray(points, dtype=np.float64) @ w2c[:3, :3].T + w2c[:3, 3]
    depth = -camera[:, 2]
    focal = focal_length(fov_deg, resolution)
    centre = resolution / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        pixels = np.stack([centre + focal * camera[:, 0] / depth, centre - focal * camera[:, 1] / depth], axis=1)
    return pixels, depth


def projection_matrix(fov_deg: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection ``(4, 4)`` of a square image."""
    f = 1.0 / math.tan(math.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, 0.0, 0.0], [0.0, f, 0.0, 0.0],
                     [0.0, 0.0, (far + near) / (near - far), 2.0 * far * near / (near - far)],
                     [0.0, 0.0, -1.0, 0.0]])


def transforms_json(c2ws: np.ndarray, fov_deg: float, resolution: int, center, scale: float,
                    file_pattern: str = "{:03d}.png") -> dict:
    """The NeRF / TRELLIS camera file of one object's views.

    ``scale`` and ``offset`` map the source file's frame onto the frame of the
    cameras (the normalised frame): ``normalized = (original + offset) * scale``,
    as TRELLIS records them. Intrinsics are given both as ``camera_angle_x``
    (NeRF) and as ``fl_x, fl_y, cx, cy, w, h`` (instant-ngp, nerfstudio).
    """
    angle = math.radians(fov_deg)
    focal = focal_length(fov_deg, resolution)
    return {
        "camera_angle_x": angle, "camera_angle_y": angle,
        "fl_x": focal, "fl_y": focal, "cx": resolution / 2.0, "cy": resolution / 2.0,
        "w": int(resolution), "h": int(resolution),
        "scale": float(scale), "offset": [-float(c) for c in center],
        "frames": [{"file_path": file_pattern.format(index), "camera_angle_x": angle,
                    "transform_matrix": np.asarray(c2w, dtype=float).tolist()} for index, c2w in enumerate(c2ws)],
    }
