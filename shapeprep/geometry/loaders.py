"""Read any supported mesh file into one triangle soup ``(vertices, faces)``.

Formats: OBJ (quads, n-gons, groups), GLB/GLTF scenes (node transforms and
instancing applied), PLY (faces or triangle strips), STL, OFF (faces spread
over several lines). Everything a loader cannot honestly read raises
:class:`~shapeprep.status.MeshError` with a reason, never an empty mesh:

=====================  =====================================================
reason                 when
=====================  =====================================================
``unsupported_format`` extension not in :data:`SUPPORTED_SUFFIXES` (e.g. FBX)
``compressed_gltf``    GLB/GLTF uses Draco or meshopt (trimesh reads zeros)
``unreadable``         the file is missing, truncated or malformed
``no_faces``           the file holds no triangles (point cloud, lines)
``non_finite``         a coordinate is NaN or infinite
=====================  =====================================================
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np

from ..status import MeshError

SUPPORTED_SUFFIXES = (".obj", ".glb", ".gltf", ".ply", ".stl", ".off")

#: glTF extensions whose geometry trimesh cannot decode (it silently yields zeros).
COMPRESSION_EXTENSIONS = (
    "KHR_draco_mesh_compression",
    "EXT_meshopt_compression",
    "KHR_meshopt_compression",
)


def load_mesh(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Load a mesh file and merge all its parts into one triangle soup.

    Parameters
    ----------
    path : str or Path
        A file with one of :data:`SUPPORTED_SUFFIXES` (case-insensitive).

    Returns
    -------
    vertices : (n, 3) float64
        Positions in the file's own frame, scene transforms applied.
    faces : (m, 3) int64
        Triangles indexing ``vertices``; polygons are fan-triangulated.

    Raises
    ------
    MeshError
        With one of the reasons in the module docstring.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise MeshError(
            "unsupported_format",
            f"{path.name}: format {suffix or '(none)'} is not supported "
            f"(supported: {', '.join(SUPPORTED_SUFFIXES)}; convert FBX etc. with assimp)",
        )
    if not path.is_file():
        raise MeshError("unreadable", f"{path}: no such file")
    try:
        if suffix in (".glb", ".gltf"):
            check_gltf_compression(path)
        if suffix == ".off":
            vertices, faces = read_off(path)
        elif suffix == ".ply" and _ply_has_tristrips(path):
            vertices, faces = read_ply_tristrips(path)
        else:
            vertices, faces = _load_with_trimesh(path)
    except MeshError:
        raise
    except Exception as exc:  # any parser error means the file cannot be read
        raise MeshError("unreadable", f"{path.name}: {type(exc).__name__}: {exc}") from exc
    return check_triangles(vertices, faces, path.name)


def check_triangles(vertices: np.ndarray, faces: np.ndarray, name: str = "mesh") -> tuple[np.ndarray, np.ndarray]:
    """Validate shapes, index range and finiteness of a triangle soup.

    Parameters
    ----------
    vertices : (n, 3) float
    faces : (m, 3) int
    name : str
        Used in error messages.

    Returns
    -------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    """
    vertices = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        raise MeshError("no_faces", f"{name}: no triangles (a point cloud or line set?)")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError("unreadable", f"{name}: face indices out of range [0, {len(vertices)})")
    used = vertices[np.unique(faces)]
    if not np.isfinite(used).all():
        raise MeshError("non_finite", f"{name}: {int((~np.isfinite(used)).any(axis=1).sum())} vertices are NaN/inf")
    return vertices, faces


def check_gltf_compression(path: Path) -> None:
    """Refuse GLB/GLTF files whose meshes use Draco or meshopt compression.

    trimesh loads Draco primitives as all-zero vertices with only a log
    line, which would silently produce a degenerate object.
    """
    header = _gltf_json(path)
    used = set(header.get("extensionsUsed", [])) | set(header.get("extensionsRequired", []))
    compressed = sorted(used.intersection(COMPRESSION_EXTENSIONS))
    if compressed:
        raise MeshError(
            "compressed_gltf",
            f"{path.name}: uses {', '.join(compressed)}; decompress first "
            "(e.g. `gltf-transform copy in.glb out.glb`)",
        )


def _gltf_json(path: Path) -> dict:
    data = path.read_bytes()
    if path.suffix.lower() == ".gltf":
        return json.loads(data.decode("utf-8"))
    if len(data) < 20 or data[:4] != b"glTF":
        raise MeshError("unreadable", f"{path.name}: not a binary glTF (bad magic)")
    chunk_length, chunk_type = struct.unpack("<II", data[12:20])
    if chunk_type != 0x4E4F534A:  # 'JSON'
        raise MeshError("unreadable", f"{path.name}: first GLB chunk is not JSON")
    return json.loads(data[20 : 20 + chunk_length].decode("utf-8"))


def _load_with_trimesh(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Flatten a trimesh scene: every geometry instance with its world transform.

    Visuals are never copied or split (textured scenes blow up memory when
    split); only vertices and faces are read.
    """
    import trimesh

    # Materials are irrelevant to geometry: missing or Windows-path .mtl/texture references are common in the
    # wild, and decoding a glTF's textures cost a 1.1 MB seagull 1.2 GB (0.1 GB without; the same vertices and
    # faces, checked on every glTF/PLY/STL/OFF of meshes + corpus).
    scene = trimesh.load_scene(str(path), process=False, skip_materials=True)
    vertex_blocks, face_blocks, offset = [], [], 0
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue
        vertices = np.asarray(geometry.vertices, dtype=np.float64)
        vertices = vertices @ transform[:3, :3].T + transform[:3, 3]
        vertex_blocks.append(vertices)
        face_blocks.append(np.asarray(geometry.faces, dtype=np.int64) + offset)
        offset += len(vertices)
    if not face_blocks:
        raise MeshError("no_faces", f"{path.name}: the file holds no triangle geometry")
    return np.concatenate(vertex_blocks), np.concatenate(face_blocks)


def triangulate_polygons(polygons: list[np.ndarray]) -> np.ndarray:
    """Fan-triangulate polygons of any size, vectorised per polygon size.

    Parameters
    ----------
    polygons : list of (k,) int arrays, k >= 3

    Returns
    -------
    faces : (sum(k - 2), 3) int64
    """
    by_size: dict[int, list[np.ndarray]] = {}
    for polygon in polygons:
        if len(polygon) >= 3:
            by_size.setdefault(len(polygon), []).append(polygon)
    blocks = []
    for size, group in sorted(by_size.items()):
        rings = np.asarray(group, dtype=np.int64)  # (p, size)
        fan = np.arange(1, size - 1)
        block = np.stack(
            [np.repeat(rings[:, :1], size - 2, axis=1), rings[:, fan], rings[:, fan + 1]], axis=-1
        )
        blocks.append(block.reshape(-1, 3))
    return np.concatenate(blocks) if blocks else np.zeros((0, 3), dtype=np.int64)


def read_off(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an OFF file token by token.

    Real OFF files spread one face's indices over several lines, or append
    colours after the indices; both are handled: a face is ``k`` followed by
    ``k`` indices wherever they lie, and the rest of the line holding its last
    index is skipped.

    Returns
    -------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    """
    lines = path.read_text(errors="replace").splitlines()
    tokens: list[str] = []
    line_of_token: list[int] = []
    for number, line in enumerate(lines):
        for token in line.split("#", 1)[0].split():
            tokens.append(token)
            line_of_token.append(number)
    if not tokens or not re.fullmatch(r"[A-Z]*OFF", tokens[0]):
        raise MeshError("unreadable", f"{path.name}: missing OFF header")
    # Variants (COFF, NOFF, ...) add per-vertex columns: only the first 3 are read.
    line_ids = np.asarray(line_of_token)
    n_vertices, n_faces = int(tokens[1]), int(tokens[2])
    position = 4  # header, counts (V F E)

    def next_line_start(token_index: int) -> int:
        return int(np.searchsorted(line_ids, line_ids[token_index] + 1))

    vertices = np.empty((n_vertices, 3), dtype=np.float64)
    for i in range(n_vertices):
        vertices[i] = [float(t) for t in tokens[position : position + 3]]
        position = next_line_start(position + 2)
    polygons = []
    for _ in range(n_faces):
        size = int(tokens[position])
        polygons.append(np.asarray(tokens[position + 1 : position + 1 + size], dtype=np.int64))
        position = next_line_start(position + size)
    return vertices, triangulate_polygons(polygons)


def _ply_header(path: Path) -> tuple[list[str], int]:
    with open(path, "rb") as handle:
        head = handle.read(65536)
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        raise MeshError("unreadable", f"{path.name}: not a PLY file")
    body_start = head.index(b"\n", end) + 1
    return head[:end].decode("ascii", errors="replace").splitlines(), body_start


def _ply_has_tristrips(path: Path) -> bool:
    lines, _ = _ply_header(path)
    return any(line.split()[:2] == ["element", "tristrips"] for line in lines if line.strip())


_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def read_ply_tristrips(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a binary PLY whose connectivity is ``element tristrips``.

    trimesh loads such files (e.g. Cyberware scans) as point clouds. Strips
    are lists of vertex indices with ``-1`` restarts; every other triangle
    in a strip is flipped to keep a consistent winding.

    Returns
    -------
    vertices : (n, 3) float64
    faces : (m, 3) int64
    """
    lines, body_start = _ply_header(path)
    fmt = next(line.split()[1] for line in lines if line.startswith("format"))
    if fmt not in ("binary_little_endian", "binary_big_endian"):
        raise MeshError("unreadable", f"{path.name}: tristrips are only read from binary PLY, not {fmt}")
    endian = "<" if fmt == "binary_little_endian" else ">"
    elements: list[tuple[str, int, list[list[str]]]] = []
    for line in lines:
        words = line.split()
        if words[:1] == ["element"]:
            elements.append((words[1], int(words[2]), []))
        elif words[:1] == ["property"]:
            elements[-1][2].append(words[1:])
    data = path.read_bytes()
    offset = body_start
    vertices = strips = None
    for name, count, properties in elements:
        if any(p[0] == "list" for p in properties):
            if len(properties) != 1:
                raise MeshError("unreadable", f"{path.name}: unexpected layout of element {name}")
            count_type, item_type = (np.dtype(endian + _PLY_TYPES[t]) for t in properties[0][1:3])
            lists = []
            for _ in range(count):
                length = int(np.frombuffer(data, count_type, 1, offset)[0])
                offset += count_type.itemsize
                lists.append(np.frombuffer(data, item_type, length, offset).astype(np.int64))
                offset += length * item_type.itemsize
            if name == "tristrips":
                strips = np.concatenate(lists) if lists else np.zeros(0, np.int64)
        else:
            dtype = np.dtype([(p[1], endian + _PLY_TYPES[p[0]]) for p in properties])
            table = np.frombuffer(data, dtype, count, offset)
            offset += count * dtype.itemsize
            if name == "vertex":
                vertices = np.stack([table["x"], table["y"], table["z"]], axis=1).astype(np.float64)
    if vertices is None or strips is None:
        raise MeshError("unreadable", f"{path.name}: PLY lacks vertex or tristrips data")
    return vertices, strips_to_triangles(strips)


def strips_to_triangles(strips: np.ndarray) -> np.ndarray:
    """Decode concatenated triangle strips with ``-1`` restarts.

    Parameters
    ----------
    strips : (k,) int
        Vertex indices; ``-1`` starts a new strip.

    Returns
    -------
    faces : (m, 3) int64
        Consistently wound triangles; degenerate ones (strip swaps) dropped.
    """
    strips = np.asarray(strips, dtype=np.int64)
    if len(strips) < 3:
        return np.zeros((0, 3), dtype=np.int64)
    a, b, c = strips[:-2], strips[1:-1], strips[2:]
    valid = (a >= 0) & (b >= 0) & (c >= 0)
    restart = np.concatenate([[0], np.flatnonzero(strips == -1) + 1])
    strip_start = restart[np.searchsorted(restart, np.arange(len(a)), side="right") - 1]
    odd = (np.arange(len(a)) - strip_start) % 2 == 1
    faces = np.stack([np.where(odd, b, a), np.where(odd, a, b), c], axis=1)[valid]
    degenerate = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    return faces[~degenerate]
