"""The SMPL kinematic skeleton in numpy: rest joints as a linear function of betas, and forward kinematics.

The video pipeline needs joint positions (the pelvis for tracking and the root trajectory, ankles and feet for
contact) for whole sequences, without vertices. SMPL's chain joints are ``J = J_regressor · (v_template +
shapedirs·β)`` at rest; posing moves them by forward kinematics only (pose blend shapes change vertices, not
``J``), so this matches ``SMPLBody(...).smpl_joints`` exactly. The posed pelvis equals the rest pelvis J0(β) (the
root rotates about it), so in the camera frame ``pelvis = J0(β) + cam_t_full``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["SkeletonModel", "skeleton_for_models_dir", "skeleton_for_engine", "LEFT_ANKLE", "RIGHT_ANKLE", "LEFT_FOOT", "RIGHT_FOOT", "PELVIS"]

log = logging.getLogger(__name__)

PELVIS = 0
LEFT_ANKLE, RIGHT_ANKLE, LEFT_FOOT, RIGHT_FOOT = 7, 8, 10, 11


@dataclass(frozen=True)
class SkeletonModel:
    """Rest joints of an SMPL-topology body as a function of shape.

    Attributes:
        joints_template: (24, 3) rest joints of the mean shape, SMPL canonical frame, metres.
        joints_shapedirs: (24, 3, NB) change of the rest joints per shape coefficient.
        parents: (24,) int64 kinematic tree, root -1.
    """

    joints_template: np.ndarray
    joints_shapedirs: np.ndarray
    parents: np.ndarray

    @classmethod
    def from_arrays(cls, v_template: np.ndarray, shapedirs: np.ndarray, j_regressor: np.ndarray,
                    parents: np.ndarray) -> "SkeletonModel":
        """From SMPL arrays: v_template (V, 3), shapedirs (V, 3, NB), J_regressor (24, V), parents (24,)."""
        v_template = np.asarray(v_template, dtype=np.float64)
        shapedirs = np.asarray(shapedirs, dtype=np.float64)
        j_regressor = np.asarray(j_regressor, dtype=np.float64)
        if v_template.ndim != 2 or shapedirs.shape[:2] != v_template.shape or j_regressor.shape[1] != len(v_template):
            raise ValueError(
                f"SkeletonModel: expected v_template (V, 3), shapedirs (V, 3, NB), J_regressor (24, V); got "
                f"{v_template.shape}, {shapedirs.shape}, {j_regressor.shape}")
        # J_k = sum_v R[k, v] * (T[v] + sum_b S[v, :, b] beta_b): contract the vertex axis once, here.
        template = j_regressor @ v_template
        dirs = np.einsum("kv,vcb->kcb", j_regressor, shapedirs)
        par = np.asarray(parents, dtype=np.int64).reshape(-1).copy()
        par[0] = -1
        return cls(template, dirs, par)

    @classmethod
    def from_smpl_body(cls, body) -> "SkeletonModel":
        """From a :class:`backend.body.SMPLBody` (its ``v_template``, ``shapedirs``, ``J_regressor`` buffers)."""
        def arr(name: str) -> np.ndarray:
            return getattr(body, name).detach().cpu().double().numpy()

        return cls.from_arrays(arr("v_template"), arr("shapedirs"), arr("J_regressor"), arr("parents").astype(np.int64))

    @classmethod
    def from_smpl_data(cls, data) -> "SkeletonModel":
        """From :class:`backend.body.SMPLData` (an SMPL model file read by ``load_smpl_data``)."""
        return cls.from_arrays(data.v_template, data.shapedirs, data.J_regressor, data.parents)

    @classmethod
    def from_rest_joints(cls, joints: np.ndarray, parents: np.ndarray, num_betas: int = 10) -> "SkeletonModel":
        """A shape-independent skeleton (e.g. the built-in mannequin's rest joints (24, 3), parents (24,))."""
        joints = np.asarray(joints, dtype=np.float64)
        if joints.shape != (24, 3):
            raise ValueError(f"SkeletonModel.from_rest_joints: expected (24, 3) joints; got {joints.shape}")
        return cls(joints, np.zeros((24, 3, num_betas)), np.asarray(parents, dtype=np.int64).reshape(24))

    def rest_joints(self, betas: np.ndarray) -> np.ndarray:
        """Rest joints for shapes: betas (..., NB') → (..., 24, 3); extra or missing coefficients count as 0."""
        betas = np.asarray(betas, dtype=np.float64)
        nb = min(betas.shape[-1], self.joints_shapedirs.shape[-1])
        return self.joints_template + np.einsum("kcb,...b->...kc", self.joints_shapedirs[..., :nb], betas[..., :nb])

    def pelvis_cam(self, betas: np.ndarray, cam_t_full: np.ndarray) -> np.ndarray:
        """Pelvis in the camera frame: J0(β) + t; betas (..., NB), cam_t_full (..., 3) → (..., 3)."""
        return self.rest_joints(betas)[..., PELVIS, :] + np.asarray(cam_t_full, dtype=np.float64)

    def posed_joints(self, rotmats: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """Forward kinematics without translation (the pelvis stays at J0(β)).

        Args:
            rotmats: (T, 24, 3, 3) global_orient then body_pose rotation matrices.
            betas: (T, NB) or (NB,) shape.
        Returns:
            (T, 24, 3) posed joints in the frame of ``global_orient`` (camera frame for model outputs).
        """
        rotmats = np.asarray(rotmats, dtype=np.float64)
        if rotmats.ndim != 4 or rotmats.shape[1:] != (24, 3, 3):
            raise ValueError(f"posed_joints: expected (T, 24, 3, 3) rotations; got {rotmats.shape}")
        rest = np.broadcast_to(self.rest_joints(betas), (rotmats.shape[0], 24, 3))
        glob_r = np.empty_like(rotmats)
        out = np.empty((rotmats.shape[0], 24, 3))
        for k in range(24):
            p = self.parents[k]
            if p < 0:
                glob_r[:, k] = rotmats[:, k]
                out[:, k] = rest[:, k]
            else:
                glob_r[:, k] = glob_r[:, p] @ rotmats[:, k]
                out[:, k] = out[:, p] + np.einsum("tij,tj->ti", glob_r[:, p], rest[:, k] - rest[:, p])
        return out


def skeleton_for_models_dir(models_dir: str | Path) -> SkeletonModel:
    """The skeleton of the installed SMPL (``<models_dir>/smpl/SMPL_NEUTRAL.pkl``, the file the engines load), else
    the built-in mannequin's rest joints (shape-independent; the lite engine's body) with a log message."""
    from backend.body import load_smpl_data, mannequin_rest_body

    path = Path(models_dir) / "smpl" / "SMPL_NEUTRAL.pkl"
    if path.is_file():
        return SkeletonModel.from_smpl_data(load_smpl_data(path))
    log.info("no SMPL installed in %s: tracking and foot contact use the mannequin's skeleton", models_dir)
    body = mannequin_rest_body()
    return SkeletonModel.from_rest_joints(body.joints, body.parents)


def skeleton_for_engine(engine: object, models_dir: str | Path | None = None) -> SkeletonModel:
    """The skeleton matching an engine's body: its ``smpl`` (an SMPLBody) when it exposes one, else the SMPL
    installed in ``models_dir`` (default ``backend.paths.models_dir()``, where the engines load it from), else the
    mannequin (see :func:`skeleton_for_models_dir`)."""
    body = getattr(engine, "smpl", None)
    if body is not None and hasattr(body, "J_regressor"):
        return SkeletonModel.from_smpl_body(body)
    if models_dir is None:
        from backend.paths import models_dir as default_models_dir

        models_dir = default_models_dir()
    return skeleton_for_models_dir(models_dir)
