"""``tokenmocap demo`` on a fresh machine (no licensed files): real CLI, real photo, real Blender re-import."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from backend import cli
from backend.body import SMPL_JOINT_NAMES, mannequin_rest_body
from backend.demo import find_blender_python
from backend.demo.fbx import FBXExportError
from backend.demo.preview import LEFT_BGR, RIGHT_BGR
from backend.lite import forward_kinematics, lite_available
from backend.lite.rotations import axis_angle_to_matrix
from backend.results import PersonResult

# Re-imports an FBX in a fresh bpy scene and prints what it holds: armature bones, mesh sizes, the action's
# frame range and each bone head's world position on the action's first frame.
REIMPORT_SCRIPT = """
import json, sys
import bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.fbx(filepath=sys.argv[1])
arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
meshes = [o for o in bpy.data.objects if o.type == "MESH"]
out = {"armatures": len(arms), "mesh_vertices": [len(m.data.vertices) for m in meshes]}
if arms:
    arm = arms[0]
    action = arm.animation_data.action if arm.animation_data else None
    out["frame_range"] = list(action.frame_range) if action else None
    bpy.context.scene.frame_set(int(action.frame_range[0]) if action else 1)
    out["bones"] = {b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones}
print("REIMPORT " + json.dumps(out))
"""
POSITION_TOLERANCE_M = 0.01


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ok, reason = lite_available()
    if not ok:
        pytest.skip(f"the demo needs the lite engine on a machine without TokenHMR: {reason}")
    home = tmp_path_factory.mktemp("home")  # no installed models: a fresh machine
    out = tmp_path_factory.mktemp("demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("TOKENMOCAP_HOME", str(home))
    try:
        try:
            find_blender_python()
            args = ["demo", "--out", str(out)]
        except FBXExportError:
            args = ["demo", "--out", str(out), "--no-fbx"]
        code = cli.main(args)
    finally:
        mp.undo()
    assert code == 0, f"tokenmocap demo exited with {code}"
    return out


def test_demo_writes_a_lite_result(demo_out: Path) -> None:
    result = json.loads((demo_out / "result.json").read_text())
    assert result["engine"] == "lite" and result["body"] == "mannequin", (result["engine"], result["body"])
    assert result["image_size"] == [512, 512], result["image_size"]
    assert len(result["people"]) == 1, len(result["people"])
    person = PersonResult.from_json(result["people"][0])
    assert person.engine == "lite", person.engine


def test_demo_preview_shows_the_skeleton_on_the_photo(demo_out: Path) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    preview = cv2.imread(str(demo_out / "preview.png"), cv2.IMREAD_COLOR)
    assert preview is not None and preview.shape == (512, 512, 3), None if preview is None else preview.shape
    photo = np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1])
    changed = np.abs(preview.astype(int) - photo.astype(int)).sum(axis=2) > 30
    assert changed.mean() > 0.15, f"only {changed.mean():.1%} of pixels differ from the photo: no mesh drawn?"

    def mean_x(colour: tuple[int, int, int]) -> tuple[int, float]:
        near = np.abs(preview.astype(int) - np.array(colour)).sum(axis=2) < 40
        return int(near.sum()), float(np.nonzero(near)[1].mean()) if near.any() else -1.0

    n_left, x_left = mean_x(LEFT_BGR)
    n_right, x_right = mean_x(RIGHT_BGR)
    assert n_left > 200 and n_right > 200, f"skeleton lines missing: {n_left} left, {n_right} right pixels"
    # The astronaut faces the camera: her left side is on the image's right.
    assert x_left > x_right + 50, f"left side drawn at x={x_left:.0f}, right side at x={x_right:.0f}"


def test_demo_fbx_reimports_with_armature_and_pose(demo_out: Path) -> None:
    try:
        python = find_blender_python()
    except FBXExportError as e:
        pytest.skip(f"no Blender venv, the demo skipped its FBX: {e}")
    fbx = demo_out / "character.fbx"
    assert fbx.is_file() and fbx.stat().st_size > 10_000, f"{fbx} missing or too small"
    proc = subprocess.run(
        [str(python), "-c", REIMPORT_SCRIPT, str(fbx)], capture_output=True, text=True, timeout=300
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("REIMPORT ")]
    assert proc.returncode == 0 and lines, f"bpy re-import failed ({proc.returncode}): {proc.stderr[-2000:]}"
    info = json.loads(lines[-1][len("REIMPORT "):])
    body = mannequin_rest_body()
    assert info["armatures"] == 1, info["armatures"]
    assert sorted(info["bones"]) == sorted(SMPL_JOINT_NAMES), sorted(info["bones"])
    assert info["mesh_vertices"] == [len(body.vertices)], info["mesh_vertices"]
    assert info["frame_range"] is not None, "the armature has no action"

    # The pose: every bone head where the result puts that joint (camera frame → Blender: (x, z, -y)).
    person = PersonResult.from_json(json.loads((demo_out / "result.json").read_text())["people"][0])
    local = axis_angle_to_matrix(np.concatenate([person.global_orient[None], person.body_pose]))
    joints, _ = forward_kinematics(local, body.joints, body.parents)
    joints_cam = joints + person.cam_t_full
    expected = np.stack([joints_cam[:, 0], joints_cam[:, 2], -joints_cam[:, 1]], axis=1)
    got = np.array([info["bones"][name] for name in SMPL_JOINT_NAMES])
    err = np.linalg.norm(got - expected, axis=1)
    worst = int(np.argmax(err))
    assert err[worst] < POSITION_TOLERANCE_M, (
        f"bone {SMPL_JOINT_NAMES[worst]} at {got[worst].round(3)}, expected {expected[worst].round(3)}"
    )
    rest = body.joints[:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])  # rest joints in Blender axes
    assert np.linalg.norm((got - got[0]) - (rest - rest[0]), axis=1).max() > 0.1, "the armature is in rest pose"
