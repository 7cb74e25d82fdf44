"""The textured source of an object, as primitives a rasteriser draws: geometry, UVs, colours, materials.

:func:`load_textured` reads a mesh file with its materials (glTF PBR base
colour, OBJ/MTL diffuse, vertex colours, alpha modes), applies the scene's
node transforms and the normalisation recorded by the normalize stage, and
says what it could not honour. Texture paths written on another system
(``.\\Tex.jpg``, ``C:\\art\\tex.png``, wrong case) are looked up by file name
next to the model; a texture that is still missing leaves the base colour and
is recorded, never an error.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Longest side of a texture handed to the rasteriser: larger ones are downsampled (a 512^2 view samples
#: them through mipmaps anyway, and an 8k RGBA texture is 256 MB).
MAX_TEXTURE_SIDE = 2048


@dataclass
class Primitive:
    """One drawable part with one material.

    Attributes
    ----------
    positions : (n, 3) float32, normalised frame
    normals : (n, 3) float32, unit (the file's or area-weighted from the faces)
    faces : (m, 3) uint32
    uv : (n, 2) float32 or None, OpenGL convention (v up)
    colors : (n, 4) float32 in [0, 1] or None: vertex colours, multiplied into the base colour
    texture : (h, w, 4) uint8 or None, rows top first
    base_color : (4,) float32 in [0, 1]
    alpha_mode : ``"OPAQUE"``, ``"MASK"`` or ``"BLEND"``
    alpha_cutoff : float
    """

    positions: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None
    colors: np.ndarray | None
    texture: np.ndarray | None
    base_color: np.ndarray
    alpha_mode: str = "OPAQUE"
    alpha_cutoff: float = 0.5


@dataclass
class TexturedScene:
    """Every primitive of a source plus what loading it could not honour.

    ``notes`` counts: ``textures_missing`` (referenced, not found: base colour
    used), ``textures_resized``, ``textures_found_by_name`` (a foreign path
    resolved by file name), ``materials_missing`` (material libraries, such as
    an OBJ's ``.mtl``, not found: drawn white), ``materials_unreadable`` (1: the file's materials
    could not be parsed, its geometry is drawn grey), ``primitives``, ``faces``,
    ``blend_primitives``.
    """

    primitives: list[Primitive]
    notes: dict = field(default_factory=dict)


def _name_resolver(folder: Path):
    """A trimesh resolver that finds assets by their path, then by their file name (any case) in the model's
    folder, and remembers in ``missing`` and ``by_name`` what it could not find and what it found by name."""
    from trimesh.resolvers import FilePathResolver

    class NameResolver(FilePathResolver):
        def get(self, name: str) -> bytes:
            try:
                return super().get(name)
            except (FileNotFoundError, ValueError, OSError):
                pass
            wanted = name.replace("\\", "/").split("/")[-1].strip().lower()
            for entry in os.listdir(folder):
                if entry.lower() == wanted and (folder / entry).is_file():
                    self.by_name.append(name)
                    return (folder / entry).read_bytes()
            self.missing.append(name)
            raise FileNotFoundError(name)

    resolver = NameResolver(str(folder))
    resolver.missing, resolver.by_name = [], []
    return resolver


def _rgba(value, default=(1.0, 1.0, 1.0, 1.0)) -> np.ndarray:
    """A colour as ``(4,)`` float32 in [0, 1] from trimesh's uint8 or float forms."""
    if value is None:
        return np.asarray(default, dtype=np.float32)
    value = np.asarray(value)
    integer = np.issubdtype(value.dtype, np.integer)  # trimesh keeps glTF factors and MTL colours as uint8
    value = value.astype(np.float64).reshape(-1)
    if integer or value.max(initial=0.0) > 1.0:
        value = value / 255.0
    out = np.ones(4)
    out[: min(len(value), 4)] = value[:4]
    return out.astype(np.float32)


def _texture_array(image, notes: dict) -> np.ndarray:
    """A PIL image as ``(h, w, 4)`` uint8, downsampled to :data:`MAX_TEXTURE_SIDE`."""
    image = image.convert("RGBA")
    if max(image.size) > MAX_TEXTURE_SIDE:
        factor = MAX_TEXTURE_SIDE / max(image.size)
        image = image.resize((max(1, round(image.size[0] * factor)), max(1, round(image.size[1] * factor))))
        notes["textures_resized"] = notes.get("textures_resized", 0) + 1
    return np.asarray(image, dtype=np.uint8)


def _material(visual, notes: dict, texture_cache: dict) -> tuple:
    """``(base_color, texture, uv, colors, alpha_mode, alpha_cutoff)`` of a trimesh visual."""
    import trimesh

    base, image, uv, colors, mode, cutoff = None, None, None, None, "OPAQUE", 0.5
    if isinstance(visual, trimesh.visual.ColorVisuals):
        if visual.kind == "vertex":
            colors = _rgba_rows(visual.vertex_colors)
        elif visual.kind == "face":
            colors = None  # face colours are expanded per corner by the caller
        return _rgba(None), None, None, colors, mode, cutoff
    material = getattr(visual, "material", None)
    if material is not None:
        if hasattr(material, "baseColorFactor"):  # glTF PBR
            base = material.baseColorFactor
            image = material.baseColorTexture
            mode = (material.alphaMode or "OPAQUE").upper()
            cutoff = float(material.alphaCutoff) if material.alphaCutoff is not None else 0.5
        else:  # OBJ/MTL
            base = getattr(material, "diffuse", None)
            image = getattr(material, "image", None)
    if getattr(visual, "uv", None) is not None and image is not None:
        uv = np.asarray(visual.uv, dtype=np.float32)
        key = id(image)
        if key not in texture_cache:
            texture_cache[key] = _texture_array(image, notes)
        image = texture_cache[key]
    else:
        image = None
    attributes = getattr(visual, "vertex_attributes", None) or {}
    if "color" in attributes:
        colors = _rgba_rows(attributes["color"])
    return _rgba(base), image, uv, colors, mode, cutoff


def _rgba_rows(values) -> np.ndarray:
    values = np.asarray(values)
    scale = 255.0 if np.issubdtype(values.dtype, np.integer) or values.max(initial=0) > 1.0 else 1.0
    out = np.ones((len(values), 4), dtype=np.float32)
    out[:, : min(values.shape[1], 4)] = values[:, :4] / scale
    return out


def load_textured(path: str | Path, center, scale: float) -> TexturedScene:
    """Every textured primitive of a mesh file, mapped into the normalised frame.

    Parameters
    ----------
    path : a mesh file (:data:`shapeprep.geometry.loaders.SUPPORTED_SUFFIXES`)
    center : (3,), scale : float
        The normalize stage's record: ``normalized = (original - center) * scale``.

    Returns
    -------
    TexturedScene
    """
    import trimesh

    from ..geometry.loaders import load_mesh

    path = Path(path)
    notes = {"textures_missing": 0, "textures_resized": 0, "textures_found_by_name": 0, "materials_missing": 0,
             "materials_unreadable": 0}
    center = np.asarray(center, dtype=np.float64)
    if path.suffix.lower() in (".off",) or (path.suffix.lower() == ".ply" and _has_no_colors(path)):
        vertices, faces = load_mesh(path)  # no materials: the geometry loader (it reads strips and odd OFFs)
        return TexturedScene([_plain(vertices, faces, center, scale)], _count(notes, 1, len(faces), 0))
    resolver = _name_resolver(path.parent)
    try:
        scene = trimesh.load_scene(str(path), process=False, resolver=resolver)
    except Exception:  # materials or images trimesh cannot parse: the geometry alone, in grey, recorded
        vertices, faces = load_mesh(path)
        notes["materials_unreadable"] = 1
        return TexturedScene([_plain(vertices, faces, center, scale)], _count(notes, 1, len(faces), 0))
    primitives, textures, blend = [], {}, 0
    for node in scene.graph.nodes_geometry:
        transform, geometry_name = scene.graph[node]
        geometry = scene.geometry.get(geometry_name)
        if not isinstance(geometry, trimesh.Trimesh) or len(geometry.faces) == 0:
            continue
        base, texture, uv, colors, mode, cutoff = _material(geometry.visual, notes, textures)
        positions = (np.asarray(geometry.vertices, dtype=np.float64) @ transform[:3, :3].T + transform[:3, 3] - center) * scale
        normal_matrix = np.linalg.pinv(transform[:3, :3]).T  # pinv: a node scaled to zero must not raise
        normals = np.asarray(geometry.vertex_normals, dtype=np.float64) @ normal_matrix.T
        normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
        faces = np.asarray(geometry.faces, dtype=np.uint32)
        if colors is None and isinstance(geometry.visual, trimesh.visual.ColorVisuals) and geometry.visual.kind == "face":
            # Face colours: unshare the corners so each face keeps its own colour.
            corner = faces.reshape(-1)
            positions, normals = positions[corner], normals[corner]
            colors = np.repeat(_rgba_rows(geometry.visual.face_colors), 3, axis=0)
            faces = np.arange(len(corner), dtype=np.uint32).reshape(-1, 3)
        blend += mode == "BLEND"
        primitives.append(Primitive(positions.astype(np.float32), normals.astype(np.float32), faces, uv,
                                    colors, texture, base, mode, cutoff))
    if not primitives:
        vertices, faces = load_mesh(path)  # raises the loader's reason (no_faces, unreadable)
        primitives = [_plain(vertices, faces, center, scale)]
    missing = set(resolver.missing)
    notes["materials_missing"] = sum(1 for name in missing if name.lower().endswith(".mtl"))
    notes["textures_missing"] = len(missing) - notes["materials_missing"]
    notes["textures_found_by_name"] = len(set(resolver.by_name))
    return TexturedScene(primitives, _count(notes, len(primitives), sum(len(p.faces) for p in primitives), blend))


def _has_no_colors(path: Path) -> bool:
    """Whether a PLY header declares no vertex colour (then the geometry loader reads it, strips included)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(4096).split(b"end_header")[0].lower()
    except OSError:
        return True
    return b"red" not in header and b"diffuse_red" not in header


def _plain(vertices, faces, center, scale) -> Primitive:
    """A primitive with no material (a neutral grey) from a bare triangle soup."""
    import trimesh

    positions = (np.asarray(vertices, dtype=np.float64) - center) * scale
    mesh = trimesh.Trimesh(positions, faces, process=False)
    return Primitive(positions.astype(np.float32), np.asarray(mesh.vertex_normals, dtype=np.float32),
                     np.asarray(faces, dtype=np.uint32), None, None, None,
                     np.array([0.8, 0.8, 0.8, 1.0], dtype=np.float32))


def _count(notes: dict, primitives: int, faces: int, blend: int) -> dict:
    return {**notes, "primitives": primitives, "faces": faces, "blend_primitives": blend}
