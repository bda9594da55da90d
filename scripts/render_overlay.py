#!/usr/bin/env python
"""Render reconstructed characters over their source image with the scene camera matched to the backend's.

Usage (from the repository root, in the Blender venv, with a backend running):
    PYTHONPATH=. .venv-blender/bin/python scripts/render_overlay.py IMAGE --backend tcp://127.0.0.1:5555 \
        [--out overlay.png] [--engine WORKBENCH|CYCLES] [--person N] [--alpha 0.6]

The image goes to the backend (``reconstruct``, then ``body_model`` per person), the add-on builds the keyed
characters exactly as the Reconstruct operator does, and the scene camera gets the backend's focal length (lens
from focal px with the sensor fitted to the longer side) and the image's resolution. The characters are rendered
headless (Workbench, or Cycles on the CPU) with a transparent film and alpha-blended over the image; each
person's detection box is drawn as an outline. If the camera matches, the body sits inside its box.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import bpy
import numpy as np

from blender_addon.blender_io import BuildSettings, build_keyed_character
from blender_addon.bridge import BridgeWorker, ImageJob, JobError
from blender_addon.core import CAMERA_TO_BLENDER

_ENCODINGS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png"}


def reconstruct(image: Path, address: str, person: int | None, timeout_s: float) -> ImageJob:
    """Run an image job against the backend to the end (blocking; this is a script, not the UI)."""
    encoding = _ENCODINGS.get(image.suffix.lower())
    if encoding is None:
        raise ValueError(f"{image.name}: expected a .jpg or .png image")
    worker = BridgeWorker(address).start()
    try:
        job = ImageJob(worker, image.read_bytes(), encoding, None if person is None else [person])
        while not job.done:
            event = worker.wait_event(timeout_s)
            if event is None:
                raise JobError(f"no answer from {address} within {timeout_s:.0f} s")
            job.handle(event)
        return job
    finally:
        worker.stop()


def _read_rgba(path: Path) -> np.ndarray:
    """(H, W, 4) float32 pixels, top row first, in the file's own (display) values."""
    img = bpy.data.images.load(str(path))
    img.colorspace_settings.name = "Non-Color"  # raw file values, no conversion
    w, h = img.size
    px = np.empty(w * h * 4, dtype=np.float32)
    img.pixels.foreach_get(px)
    bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1]


def _write_png(rgba: np.ndarray, path: Path) -> None:
    h, w = rgba.shape[:2]
    img = bpy.data.images.new("overlay", w, h, alpha=True)
    img.colorspace_settings.name = "Non-Color"
    img.pixels.foreach_set(np.ascontiguousarray(rgba[::-1]).ravel().astype(np.float32))
    img.filepath_raw = str(path)
    img.file_format = "PNG"
    img.save()
    bpy.data.images.remove(img)


def _draw_box(rgba: np.ndarray, box: np.ndarray, colour=(1.0, 0.85, 0.0, 1.0), width: int = 3) -> None:
    h, w = rgba.shape[:2]
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    x1, x2 = np.clip([x1, x2], 0, w - 1)
    y1, y2 = np.clip([y1, y2], 0, h - 1)
    rgba[y1:y1 + width, x1:x2 + 1] = colour
    rgba[max(y2 - width + 1, 0):y2 + 1, x1:x2 + 1] = colour
    rgba[y1:y2 + 1, x1:x1 + width] = colour
    rgba[y1:y2 + 1, max(x2 - width + 1, 0):x2 + 1] = colour


def pinhole_silhouette_box(characters, focal_px: float, width: int, height: int) -> np.ndarray:
    """(4,) x1, y1, x2, y2 of the posed meshes projected with the backend's own pinhole model.

    Independent of Blender's camera: world points go back to the OpenCV camera frame (M⁻¹) and project with
    ``u = f x / z + W/2``, ``v = f y / z + H/2``.
    """
    depsgraph = bpy.context.evaluated_depsgraph_get()
    points = []
    for character in characters:
        evaluated = character.mesh.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        co = np.empty(len(mesh.vertices) * 3, dtype=np.float64)
        mesh.vertices.foreach_get("co", co)
        world = np.array(character.mesh.matrix_world)
        pts = co.reshape(-1, 3) @ world[:3, :3].T + world[:3, 3]
        points.append(pts @ CAMERA_TO_BLENDER)  # rows: M⁻¹ p = Mᵀ p
        evaluated.to_mesh_clear()
    cam = np.concatenate(points)
    u = focal_px * cam[:, 0] / cam[:, 2] + width / 2
    v = focal_px * cam[:, 1] / cam[:, 2] + height / 2
    return np.array([u.min(), v.min(), u.max(), v.max()])


def alpha_box(layer: np.ndarray) -> np.ndarray:
    """(4,) x1, y1, x2, y2 of the rendered silhouette (alpha > 0.5), in pixel-edge coordinates."""
    ys, xs = np.nonzero(layer[..., 3] > 0.5)
    if xs.size == 0:
        return np.full(4, np.nan)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def render_characters(engine: str, out: Path) -> None:
    scene = bpy.context.scene
    scene.render.engine = "BLENDER_WORKBENCH" if engine == "WORKBENCH" else "CYCLES"
    if engine == "CYCLES":
        scene.cycles.device = "CPU"
        scene.cycles.samples = 16
        world = bpy.data.worlds.new("overlay_world")
        world.color = (0.8, 0.8, 0.8)
        scene.world = world
        light = bpy.data.objects.new("overlay_sun", bpy.data.lights.new("overlay_sun", "SUN"))
        light.rotation_euler = (0.6, 0.2, 0.0)
        scene.collection.objects.link(light)
    else:
        scene.display.shading.light = "STUDIO"
        scene.display.shading.color_type = "SINGLE"
        scene.display.shading.single_color = (0.35, 0.65, 1.0)
    scene.view_settings.view_transform = "Standard"
    scene.render.film_transparent = True
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGBA"
    scene.render.filepath = str(out)
    bpy.ops.render.render(write_still=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path, help="source image (.jpg or .png)")
    parser.add_argument("--backend", required=True, help="backend address, e.g. tcp://127.0.0.1:5555")
    parser.add_argument("--out", type=Path, default=Path("overlay.png"))
    parser.add_argument("--engine", choices=("WORKBENCH", "CYCLES"), default="WORKBENCH")
    parser.add_argument("--person", type=int, default=None, help="only this person (index); default everyone")
    parser.add_argument("--alpha", type=float, default=0.6, help="opacity of the rendered bodies")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each reply")
    args = parser.parse_args(argv)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        job = reconstruct(args.image, args.backend, args.person, args.timeout)
    except (JobError, ValueError, OSError) as e:
        print(f"render_overlay: {e}", file=sys.stderr)
        return 1
    source = _read_rgba(args.image)
    h, w = source.shape[:2]
    settings = BuildSettings(clip_name=args.image.stem, image_size_wh=(w, h))
    characters = [build_keyed_character(r.track_id, r.track, r.body, settings) for r in job.ready]
    with tempfile.TemporaryDirectory() as tmp:
        layer_path = Path(tmp) / "bodies.png"
        render_characters(args.engine, layer_path)
        layer = _read_rgba(layer_path)
    if layer.shape[:2] != (h, w):
        print(f"render_overlay: render is {layer.shape[1]}x{layer.shape[0]}, image {w}x{h}", file=sys.stderr)
        return 1
    a = layer[..., 3:4] * args.alpha
    out = source.copy()
    out[..., :3] = layer[..., :3] * a + source[..., :3] * (1.0 - a)
    out[..., 3] = 1.0
    for ready in job.ready:
        _draw_box(out, ready.bboxes[0])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write_png(out, args.out)
    covered = float((layer[..., 3] > 0.5).mean())
    print(f"wrote {args.out} ({w}x{h}, {len(job.ready)} character(s), body covers {covered * 100:.1f}% of the image)")
    # Line-up check: the rendered silhouette's box vs the backend pinhole projection of the same posed mesh
    # (clipped to the image; partly visible bodies are compared on their visible part).
    want = pinhole_silhouette_box(characters, job.ready[0].track.focal_length_px, w, h)
    want = np.clip(want, 0, [w, h, w, h])
    got = alpha_box(layer)
    print("silhouette box (x1 y1 x2 y2): rendered " + " ".join(f"{v:.1f}" for v in got)
          + " | pinhole " + " ".join(f"{v:.1f}" for v in want)
          + f" | max difference {np.nanmax(np.abs(got - want)):.2f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
