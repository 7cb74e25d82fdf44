"""Rasterise a :class:`~shapeprep.views.scene.TexturedScene` from many cameras with OpenGL (moderngl).

Headless: an EGL context (Mesa's llvmpipe on CPUs, the vendor's driver on
GPUs), one per process, made on first use. One pass per view writes three
images; with ``samples > 1`` it draws into multisampled textures that a
second, full-screen pass resolves (llvmpipe's multisampling about doubles
the cost of a view):

- **colour**: base colour x texture x vertex colour, alpha by the material's
  mode (``OPAQUE`` 1, ``MASK`` cut at its cutoff, ``BLEND`` blended over what
  is behind, drawn after the opaque parts); ``shading="lit"`` multiplies by
  ``ambient + (1 - ambient) |n . v|`` (a headlight: no side of an object is
  dark), ``"unlit"`` keeps the albedo. Surfaces are two-sided. Averaged over
  the samples: antialiased edges, fractional alpha.
- **normal** and **depth**: the world-space normal turned towards the camera
  and the depth along the viewing axis of the nearest surface covering the
  pixel (any of its samples; ``BLEND`` surfaces where their alpha reaches 0.5),
  evaluated at the pixel centre: exact values, never averaged across an edge.

Outputs per view: ``rgba (r, r, 4) uint8`` (straight alpha, background 0),
``normal (r, r, 3) uint8`` (``(n + 1) / 2 * 255``, background 0) and
``depth (r, r) float32`` (normalised-frame units, background 0).
"""

from __future__ import annotations

import os

import numpy as np

from .cameras import projection_matrix
from .scene import TexturedScene

#: Share of light that does not depend on the surface's angle to the camera ("lit" shading).
AMBIENT = 0.4

_VERTEX_SHADER = """
#version 330
uniform mat4 mvp;
uniform mat4 view;
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_color;
out vec3 v_world;
out vec3 v_normal;
out vec2 v_uv;
out vec4 v_color;
out float v_depth;
void main() {
    vec4 position = vec4(in_position, 1.0);
    gl_Position = mvp * position;
    v_world = in_position;
    v_normal = in_normal;
    v_uv = in_uv;
    v_color = in_color;
    v_depth = -(view * position).z;
}
"""

_FRAGMENT_SHADER = """
#version 330
uniform sampler2D base_texture;
uniform bool has_texture;
uniform vec4 base_color;
uniform int alpha_mode;      // 0 opaque, 1 mask, 2 blend
uniform float alpha_cutoff;
uniform bool lit;
uniform float ambient;
uniform vec3 eye;
in vec3 v_world;
in vec3 v_normal;
in vec2 v_uv;
in vec4 v_color;
in float v_depth;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec4 out_normal;
layout(location = 2) out vec4 out_depth;
void main() {
    vec4 color = base_color * v_color;
    if (has_texture) color *= texture(base_texture, v_uv);
    if (alpha_mode == 1 && color.a < alpha_cutoff) discard;
    if (alpha_mode != 2) color.a = 1.0;
    vec3 to_eye = normalize(eye - v_world);
    vec3 normal = normalize(v_normal);
    if (dot(normal, to_eye) < 0.0) normal = -normal;
    float light = lit ? ambient + (1.0 - ambient) * abs(dot(normal, to_eye)) : 1.0;
    out_color = vec4(color.rgb * light, color.a);
    // Blending runs on every attachment with its own alpha: 1 replaces, 0 keeps what is behind.
    float solid = color.a >= 0.5 ? 1.0 : 0.0;
    out_normal = vec4(normal * 0.5 + 0.5, solid);
    out_depth = vec4(v_depth, 0.0, 0.0, solid);
}
"""

# Resolves the multisampled images into the single-sample ones: colour averaged over the samples (antialiased
# edges); normal and depth from the nearest surface among the covered samples (exact values, never averaged).
_RESOLVE_VERTEX_SHADER = """
#version 330
void main() {
    vec2 corner = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
"""

_RESOLVE_FRAGMENT_SHADER = """
#version 330
uniform sampler2DMS colors;
uniform sampler2DMS normals;
uniform sampler2DMS depths;
uniform int samples;
layout(location = 0) out vec4 out_color;
layout(location = 1) out vec4 out_normal;
layout(location = 2) out vec4 out_depth;
void main() {
    ivec2 pixel = ivec2(gl_FragCoord.xy);
    vec4 color = vec4(0.0);
    float nearest = 0.0;
    int pick = -1;
    for (int i = 0; i < samples; i++) {
        color += texelFetch(colors, pixel, i);
        float depth = texelFetch(depths, pixel, i).r;
        if (depth > 0.0 && (pick < 0 || depth < nearest)) {
            nearest = depth;
            pick = i;
        }
    }
    out_color = color / float(samples);
    out_normal = pick < 0 ? vec4(0.0) : texelFetch(normals, pixel, pick);
    out_depth = vec4(nearest, 0.0, 0.0, 1.0);
}
"""

_CONTEXT = None


def gl_context(threads: int | None = None):
    """The process's headless OpenGL context (EGL), made on first use; ``threads`` sets llvmpipe's threads
    (it reads them once, when the first context is made)."""
    global _CONTEXT
    if _CONTEXT is None:
        import moderngl

        if threads:
            os.environ.setdefault("LP_NUM_THREADS", str(int(threads)))
        _CONTEXT = moderngl.create_context(standalone=True, backend="egl")
    return _CONTEXT


class ViewRenderer:
    """Renders one scene from many cameras.

    Parameters
    ----------
    scene : TexturedScene
    resolution : int
        Image side in pixels.
    fov_deg : float
        Field of view (square images: the same both ways).
    near, far : float
        Clipping distances along the viewing axis.
    shading : ``"lit"`` or ``"unlit"``
    threads : int or None, llvmpipe's rasteriser threads
    samples : int
        Samples per pixel (1: no multisampling: aliased edges, about half the time on llvmpipe).
    """

    def __init__(self, scene: TexturedScene, resolution: int, fov_deg: float, near: float, far: float,
                 shading: str = "lit", threads: int | None = None, samples: int = 4):
        import moderngl

        self.ctx = ctx = gl_context(threads)
        self.resolution, self.fov_deg, self.near, self.far = int(resolution), float(fov_deg), float(near), float(far)
        self.samples = int(samples)
        self.projection = projection_matrix(self.fov_deg, self.near, self.far)
        self.program = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self.program["lit"].value = shading == "lit"
        self.program["ambient"].value = AMBIENT
        size = (self.resolution, self.resolution)
        self._resources = [self.program]
        self.images = self._keep(ctx.framebuffer(
            color_attachments=[self._keep(ctx.renderbuffer(size, 4)), self._keep(ctx.renderbuffer(size, 4)),
                               self._keep(ctx.renderbuffer(size, 1, dtype="f4"))],
            depth_attachment=self._keep(ctx.depth_renderbuffer(size))))
        self.target = self.images
        if self.samples > 1:  # draw into multisampled textures, then resolve them into ``images``
            self.multisampled = [self._keep(ctx.texture(size, 4, samples=self.samples)),
                                 self._keep(ctx.texture(size, 4, samples=self.samples)),
                                 self._keep(ctx.texture(size, 1, dtype="f4", samples=self.samples))]
            self.target = self._keep(ctx.framebuffer(
                color_attachments=self.multisampled,
                depth_attachment=self._keep(ctx.depth_renderbuffer(size, samples=self.samples))))
            self.resolve = self._keep(ctx.program(vertex_shader=_RESOLVE_VERTEX_SHADER,
                                                  fragment_shader=_RESOLVE_FRAGMENT_SHADER))
            self.resolve["samples"].value = self.samples
            for unit, name in enumerate(("colors", "normals", "depths")):
                self.resolve[name].value = unit
            self.resolve_vao = self._keep(ctx.vertex_array(self.resolve, []))
        self.parts = []
        for primitive in sorted(scene.primitives, key=lambda p: p.alpha_mode == "BLEND"):
            n = len(primitive.positions)
            uv = primitive.uv if primitive.uv is not None else np.zeros((n, 2), np.float32)
            colors = primitive.colors if primitive.colors is not None else np.ones((n, 4), np.float32)
            buffers = [(self._keep(ctx.buffer(np.ascontiguousarray(array, dtype=np.float32).tobytes())), layout, name)
                       for array, layout, name in ((primitive.positions, "3f", "in_position"),
                                                   (primitive.normals, "3f", "in_normal"),
                                                   (uv, "2f", "in_uv"), (colors, "4f", "in_color"))]
            index = self._keep(ctx.buffer(np.ascontiguousarray(primitive.faces, dtype=np.uint32).tobytes()))
            vao = self._keep(ctx.vertex_array(self.program, [(b, layout, name) for b, layout, name in buffers],
                                              index_buffer=index, index_element_size=4))
            texture = None
            if primitive.texture is not None:
                image = np.ascontiguousarray(primitive.texture[::-1])  # OpenGL rows start at the bottom
                texture = self._keep(ctx.texture((image.shape[1], image.shape[0]), 4, image.tobytes()))
                texture.build_mipmaps()
                texture.filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
                texture.repeat_x = texture.repeat_y = True
            mode = {"OPAQUE": 0, "MASK": 1, "BLEND": 2}.get(primitive.alpha_mode, 0)
            self.parts.append((vao, texture, primitive.base_color, mode, primitive.alpha_cutoff))

    def _keep(self, resource):
        self._resources.append(resource)
        return resource

    def render(self, c2w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One view from camera-to-world ``c2w (4, 4)`` (:mod:`.cameras` conventions): ``(rgba, normal, depth)``."""
        import moderngl

        ctx = self.ctx
        view = np.linalg.inv(np.asarray(c2w, dtype=np.float64))
        mvp = self.projection @ view
        self.program["mvp"].write(mvp.T.astype("f4").tobytes())  # OpenGL matrices are column-major
        self.program["view"].write(view.T.astype("f4").tobytes())
        self.program["eye"].value = tuple(float(v) for v in c2w[:3, 3])
        ctx.disable(moderngl.CULL_FACE)
        ctx.enable(moderngl.DEPTH_TEST)
        # Premultiplied colour over a transparent background: opaque parts replace, blended parts (drawn last,
        # without depth writes) blend; blending costs per sample, so it is on for those only.
        ctx.blend_func = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA)
        self.target.use()
        self.target.clear(0.0, 0.0, 0.0, 0.0, depth=1.0)
        for vao, texture, base, mode, cutoff in self.parts:
            if mode == 2:
                ctx.enable(moderngl.BLEND)
                self.target.depth_mask = False
            self._draw(vao, texture, base, mode, cutoff)
        self.target.depth_mask = True
        ctx.disable(moderngl.BLEND)
        if self.samples > 1:
            ctx.disable(moderngl.DEPTH_TEST)
            self.images.use()
            for unit, texture in enumerate(self.multisampled):
                texture.use(unit)
            self.resolve_vao.render(moderngl.TRIANGLES, vertices=3)
        size = self.resolution
        read = self.images.read
        # OpenGL rows start at the bottom.
        rgba = np.frombuffer(read(components=4, attachment=0), np.uint8).reshape(size, size, 4)[::-1]
        normal = np.frombuffer(read(components=3, attachment=1), np.uint8).reshape(size, size, 3)[::-1]
        depth = np.frombuffer(read(components=1, attachment=2, dtype="f4"), np.float32).reshape(size, size)[::-1]
        return straight_alpha(rgba), np.ascontiguousarray(normal), np.ascontiguousarray(depth)

    def _draw(self, vao, texture, base, mode, cutoff):
        self.program["has_texture"].value = texture is not None
        if texture is not None:
            texture.use(0)
            self.program["base_texture"].value = 0
        self.program["base_color"].value = tuple(float(v) for v in base)
        self.program["alpha_mode"].value = mode
        self.program["alpha_cutoff"].value = float(cutoff)
        vao.render()

    def release(self) -> None:
        """Free the GPU objects of this scene (the context stays for the next)."""
        for resource in reversed(self._resources):
            resource.release()
        self._resources = []


def straight_alpha(premultiplied: np.ndarray) -> np.ndarray:
    """``(h, w, 4)`` uint8 premultiplied RGBA (a resolved multisample over a transparent background) as straight
    RGBA, the PNG convention."""
    alpha = premultiplied[..., 3:4].astype(np.float32)
    rgb = premultiplied[..., :3].astype(np.float32) * 255.0 / np.maximum(alpha, 1.0)
    out = premultiplied.copy()
    out[..., :3] = np.where(alpha > 0, np.clip(np.rint(rgb), 0, 255), 0).astype(np.uint8)
    return out
