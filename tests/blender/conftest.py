"""Fixtures for the Blender (bpy) tests: a fresh scene per test and a synthetic rest body.

The synthetic body is a small skinned mesh in the ``body_model`` reply's layout (one box of 8 vertices per
joint, rigidly weighted to that joint, plus blended vertices between parent and child), with a random but
plausible SMPL-shaped skeleton. It needs no SMPL files and no backend.
"""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy", reason="the Blender tests need bpy (run them in .venv-blender)")

from blender_addon.core import SMPL_JOINT_NAMES, SMPL_PARENTS  # noqa: E402

# SMPL-like rest joints (metres, SMPL canonical frame: Y up, facing +Z), rounded from a neutral body.
_REST_JOINTS = np.array([
    [0.00, -0.22, 0.03], [0.06, -0.31, 0.02], [-0.06, -0.31, 0.02], [0.00, -0.11, 0.00], [0.10, -0.69, 0.02],
    [-0.10, -0.69, 0.01], [0.00, 0.02, 0.03], [0.09, -1.09, -0.02], [-0.09, -1.09, -0.02], [0.00, 0.07, 0.03],
    [0.12, -1.15, 0.10], [-0.12, -1.15, 0.10], [0.00, 0.29, -0.01], [0.08, 0.19, -0.00], [-0.08, 0.19, -0.01],
    [0.00, 0.35, 0.05], [0.18, 0.23, -0.02], [-0.18, 0.23, -0.01], [0.44, 0.21, -0.04], [-0.44, 0.21, -0.04],
    [0.70, 0.22, -0.03], [-0.70, 0.22, -0.03], [0.78, 0.21, -0.05], [-0.78, 0.21, -0.05],
])


def synthetic_body_model(seed: int = 0) -> dict:
    """A ``body_model`` reply (arrays decoded) for a synthetic body; ``seed`` perturbs the shape."""
    rng = np.random.default_rng(seed)
    joints = _REST_JOINTS + rng.normal(scale=0.005, size=(24, 3))
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64) * 0.02
    box_faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                          [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    verts, faces, weights = [], [], []
    for j in range(24):
        parent = SMPL_PARENTS[j]
        centre = joints[j] if parent < 0 else 0.5 * (joints[j] + joints[parent])
        base = len(verts)
        verts.extend(centre + corners)
        faces.extend(box_faces + base)
        w = np.zeros((8, 24))
        if parent < 0:
            w[:, j] = 1.0
        else:
            w[:, j] = 0.7
            w[:, parent] = 0.3
        weights.extend(w)
    return {
        "vertices": np.asarray(verts),
        "faces": np.asarray(faces, dtype=np.int64),
        "weights": np.asarray(weights),
        "joints": joints,
        "parents": np.asarray(SMPL_PARENTS, dtype=np.int64),
        "joint_names": list(SMPL_JOINT_NAMES),
    }


def synthetic_person(seed: int = 0, t_z: float = 6.0, scale: float = 0.3) -> dict:
    """A ``PersonResult.to_json()`` object with a random pose, upright in front of the camera."""
    rng = np.random.default_rng(seed)
    return {
        "engine": "tokenhmr",
        "bbox": [100.0, 50.0, 300.0, 450.0],
        "score": 0.95,
        "global_orient": (np.array([np.pi, 0.0, 0.0]) + rng.normal(scale=0.1, size=3)).tolist(),
        "body_pose": rng.normal(scale=scale, size=(23, 3)).tolist(),
        "betas": rng.normal(scale=0.5, size=10).tolist(),
        "cam_crop": [0.8, 0.0, 0.1],
        "cam_t_full": [0.1 * rng.normal(), 0.2, t_z],
        "focal_length": 5000.0 / 256 * 640,
        "keypoints_2d": np.zeros((44, 2)).tolist(),
    }


@pytest.fixture
def fresh_scene():
    """An empty scene (factory settings) for each test."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context.scene
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def body_model() -> dict:
    return synthetic_body_model()


@pytest.fixture
def make_person():
    """``make_person(seed, t_z, scale)`` → a synthetic ``PersonResult`` JSON object."""
    return synthetic_person
