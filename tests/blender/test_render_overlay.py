"""scripts/render_overlay.py: a headless Workbench render over the source image lines up with the backend camera."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="needs bpy (run in .venv-blender)")

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_render_overlay_silhouette_matches_pinhole_projection(fresh_scene, scripted_backend, make_person, tmp_path):
    width, height = 320, 240
    person = make_person(seed=5, t_z=60.0, scale=0.3)
    person["focal_length"] = 5000.0 / 256 * max(width, height)
    person["cam_t_full"] = [0.6, 0.3, 60.0]  # off-centre, so a wrong principal point or axis flip shows
    backend = scripted_backend(people=[person])
    image = bpy.data.images.new("src", width, height)
    image.pixels.foreach_set(np.full(width * height * 4, 0.5, dtype=np.float32))
    src = tmp_path / "src.png"
    image.filepath_raw = str(src)
    image.file_format = "PNG"
    image.save()
    out = tmp_path / "overlay.png"
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "render_overlay.py"), str(src),
                             "--backend", backend.address, "--out", str(out)],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, f"render_overlay failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    match = re.search(r"rendered ([\d. ]+) \| pinhole ([\d. ]+) \| max difference ([\d.]+) px", result.stdout)
    assert match, f"no line-up report in the output:\n{result.stdout[-2000:]}"
    rendered = np.array(match.group(1).split(), dtype=float)
    pinhole = np.array(match.group(2).split(), dtype=float)
    assert float(match.group(3)) < 1.5, f"rendered silhouette {rendered} vs pinhole projection {pinhole}"
    assert rendered[2] - rendered[0] > 20, f"the body must be visible and sizeable, box {rendered}"
    assert (rendered[0] + rendered[2]) / 2 > width / 2, "pelvis to the right of centre (x = +0.6 m) renders right"
    img = bpy.data.images.load(str(out))
    assert tuple(img.size) == (width, height), f"overlay size {tuple(img.size)}"
