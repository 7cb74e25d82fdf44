"""The peer of benchmarks/render.py: a TRELLIS-style Blender Cycles render of one object (run with bpy's Python).

    python render_blender.py JOB.json

``JOB.json``: ``path`` (mesh file), ``center``, ``scale`` (our normalisation:
``normalized = (original - center) * scale``), ``c2w`` (camera-to-world
matrices, OpenGL/Blender camera convention, in our normalised frame),
``fov_deg``, ``resolution``, ``samples``, ``out`` (folder). Imports the file
with Blender's own importers, puts it back in the file's frame (the glTF and
OBJ importers turn y-up into z-up), applies our normalisation so the cameras
mean the same as ours, and renders RGBA PNGs with Cycles on the CPU under a
uniform white environment, as TRELLIS's dataset script does. Writes
``timing.json`` (seconds to import, per view).
"""

import json
import math
import sys
import time
from pathlib import Path

import bpy
from mathutils import Matrix


def import_file(path: Path) -> bool:
    """Import with Blender's importer; True when the importer turned y-up into z-up."""
    suffix = path.suffix.lower()
    if suffix in (".glb", ".gltf"):
        bpy.ops.import_scene.gltf(filepath=str(path))
        return True
    if suffix == ".obj":
        bpy.ops.wm.obj_import(filepath=str(path))
        return True
    if suffix == ".ply":
        bpy.ops.wm.ply_import(filepath=str(path))
        return False
    if suffix == ".stl":
        bpy.ops.wm.stl_import(filepath=str(path))
        return False
    raise ValueError(f"Blender has no importer for {suffix}")


def main() -> None:
    job = json.loads(Path(sys.argv[-1]).read_text())
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    started = time.perf_counter()
    turned = import_file(Path(job["path"]))
    # Back to the file's frame (undo y-up -> z-up), then our normalisation, on every root object.
    back = Matrix.Rotation(-math.pi / 2, 4, "X") if turned else Matrix.Identity(4)
    center, scale = job["center"], job["scale"]
    normalise = Matrix.Scale(scale, 4) @ Matrix.Translation((-center[0], -center[1], -center[2]))
    for obj in bpy.context.scene.objects:
        if obj.parent is None:
            obj.matrix_world = normalise @ back @ obj.matrix_world
    imported = time.perf_counter() - started

    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = int(job["samples"])
    scene.cycles.use_denoising = False
    scene.render.resolution_x = scene.render.resolution_y = int(job["resolution"])
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    world = bpy.data.worlds.new("uniform")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs[0].default_value = (1.0, 1.0, 1.0, 1.0)
    world.node_tree.nodes["Background"].inputs[1].default_value = 1.0
    scene.world = world
    camera_data = bpy.data.cameras.new("camera")
    camera_data.sensor_fit = "HORIZONTAL"
    camera_data.angle = math.radians(job["fov_deg"])
    camera = bpy.data.objects.new("camera", camera_data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    seconds = []
    for index, c2w in enumerate(job["c2w"]):
        camera.matrix_world = Matrix(c2w)
        scene.render.filepath = str(out / f"{index:03d}.png")
        begin = time.perf_counter()
        bpy.ops.render.render(write_still=True)
        seconds.append(time.perf_counter() - begin)
    (out / "timing.json").write_text(json.dumps({"seconds_import": imported, "seconds_per_view": seconds}))


if __name__ == "__main__":
    main()
