"""SMPL as the official TokenHMR / HMR 2.0 wrapper runs it: smplx ``lbs`` on buffers read by our chumpy-free
loader, then the 44 output keypoints (25 OpenPose through ``joint_map`` + 19 from ``SMPL_to_J19``).

The official wrapper subclasses ``smplx.SMPLLayer``, whose loader cannot read the chumpy objects of the real file.
This module rebuilds the same buffers (float32, ``posedirs`` reshaped to (207, V*3), ``parents[0] = -1``) and calls
smplx's own ``lbs`` and ``vertices2joints``, so the maths is smplx's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from smplx.lbs import lbs, vertices2joints
from torch import nn

from .joint_names import NUM_BODY_JOINTS, NUM_SMPL_JOINTS, SMPL_TO_OPENPOSE, SMPLH_EXTRA_VERTEX_IDS
from .smpl_files import SMPLData, SMPLFileError, load_joint_regressor_extra, load_smpl_data

__all__ = ["SMPLBody", "SMPLBodyOutput"]


@dataclass
class SMPLBodyOutput:
    """Result of :class:`SMPLBody` (no translation applied; SMPL canonical frame rotated by ``global_orient``).

    Attributes:
        vertices: (B, V, 3) posed vertices.
        joints: (B, 44, 3) 25 OpenPose + 19 extra keypoints (official ``pred_keypoints_3d``); (B, 45, 3), the
            smplx 24 + 21 vertex joints, when the model has no extra regressor.
        smpl_joints: (B, 24, 3) posed joints of the kinematic chain (J0 = pelvis).
    """

    vertices: torch.Tensor
    joints: torch.Tensor
    smpl_joints: torch.Tensor


class SMPLBody(nn.Module):
    """The official SMPL layer (rotation matrices in, ``pose2rot=False``), holding only constant buffers.

    Args:
        data: arrays of the SMPL model file (:func:`load_smpl_data`).
        joint_regressor_extra: (19, V) ``SMPL_to_J19`` regressor, or None for the 45 smplx joints.
        num_betas: number of shape coefficients used (the official models use 10).
    """

    NUM_JOINTS = NUM_SMPL_JOINTS

    def __init__(self, data: SMPLData, joint_regressor_extra: np.ndarray | None = None, num_betas: int = 10) -> None:
        super().__init__()
        if data.shapedirs.shape[-1] < num_betas:
            raise SMPLFileError(
                f"{data.source}: shapedirs has {data.shapedirs.shape[-1]} shape components, num_betas={num_betas} "
                "requested"
            )
        num_v = data.num_vertices
        extra_ids = [i for _, i in SMPLH_EXTRA_VERTEX_IDS]
        if max(extra_ids) >= num_v:
            raise SMPLFileError(
                f"{data.source}: {num_v} vertices, but the smplx keypoint vertex ids go up to {max(extra_ids)}; "
                "an SMPL topology mesh (6890 vertices) is required"
            )
        self.num_betas = num_betas
        f32 = torch.float32

        def buf(name: str, value: np.ndarray, dtype: torch.dtype = f32) -> None:
            # Not in the official checkpoints' model keys that we load (smpl.* is ignored): non-persistent.
            self.register_buffer(name, torch.as_tensor(np.ascontiguousarray(value)).to(dtype), persistent=False)

        buf("v_template", data.v_template)
        buf("shapedirs", data.shapedirs[:, :, :num_betas])
        buf("J_regressor", data.J_regressor)
        # smplx: (V, 3, 207) -> (V*3, 207) -> transposed (207, V*3), so pose_feature @ posedirs is (B, V*3).
        buf("posedirs", data.posedirs.reshape(-1, data.posedirs.shape[-1]).T)
        buf("parents", data.parents, torch.long)
        buf("lbs_weights", data.weights)
        buf("faces_tensor", data.faces, torch.long)
        buf("extra_joints_idxs", np.asarray(extra_ids, dtype=np.int64), torch.long)
        buf("joint_map", np.asarray(SMPL_TO_OPENPOSE, dtype=np.int64), torch.long)
        self.has_extra_regressor = joint_regressor_extra is not None
        if joint_regressor_extra is not None:
            if joint_regressor_extra.shape != (19, num_v):
                raise SMPLFileError(
                    f"joint_regressor_extra should have shape (19, {num_v}), found {joint_regressor_extra.shape}"
                )
            buf("joint_regressor_extra", joint_regressor_extra)

    @classmethod
    def from_files(
        cls, smpl_path: str | Path, joint_regressor_extra_path: str | Path | None = None, num_betas: int = 10
    ) -> "SMPLBody":
        """Builds the layer from ``SMPL_NEUTRAL.pkl`` (file or its folder) and optionally ``SMPL_to_J19.pkl``."""
        data = load_smpl_data(smpl_path)
        extra = (
            None
            if joint_regressor_extra_path is None
            else load_joint_regressor_extra(joint_regressor_extra_path, data.num_vertices)
        )
        return cls(data, extra, num_betas=num_betas)

    @property
    def faces(self) -> np.ndarray:
        """(F, 3) int64 triangle indices."""
        return self.faces_tensor.cpu().numpy()

    def forward(self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor) -> SMPLBodyOutput:
        """Poses the body.

        Args:
            global_orient: (B, 1, 3, 3) root rotation matrix (camera frame for model outputs).
            body_pose: (B, 23, 3, 3) rotations of joints 1..23 relative to their parents.
            betas: (B, num_betas) shape coefficients.

        Returns:
            :class:`SMPLBodyOutput` in the buffers' dtype (float32).
        """
        batch = global_orient.shape[0]
        if global_orient.shape[1:] != (1, 3, 3) and global_orient.shape[1:] != (3, 3):
            raise ValueError(
                f"global_orient should be (B, 1, 3, 3) rotation matrices, got {tuple(global_orient.shape)}"
            )
        if body_pose.shape != (batch, NUM_BODY_JOINTS, 3, 3):
            raise ValueError(f"body_pose should be ({batch}, 23, 3, 3) rotation matrices, got {tuple(body_pose.shape)}")
        if betas.shape != (batch, self.num_betas):
            raise ValueError(f"betas should be ({batch}, {self.num_betas}), got {tuple(betas.shape)}")
        # The official models run SMPL in float32; keep it so under a caller's bf16 autocast (the skinning matmuls
        # would otherwise drop to bf16, ~1 cm error on the vertices).
        with torch.autocast(device_type=self.v_template.device.type, enabled=False):
            return self._forward_fp32(global_orient.reshape(batch, 1, 3, 3), body_pose, betas)

    def _forward_fp32(
        self, global_orient: torch.Tensor, body_pose: torch.Tensor, betas: torch.Tensor
    ) -> SMPLBodyOutput:
        dtype = self.v_template.dtype
        full_pose = torch.cat([global_orient, body_pose], dim=1).to(dtype)
        vertices, smpl_joints = lbs(
            betas.to(dtype),
            full_pose,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.J_regressor,
            self.parents,
            self.lbs_weights,
            pose2rot=False,
        )
        # smplx VertexJointSelector: the 24 chain joints, then 21 vertex picks (face, feet, fingertips) = 45.
        joints45 = torch.cat([smpl_joints, vertices.index_select(1, self.extra_joints_idxs)], dim=1)
        if not self.has_extra_regressor:
            return SMPLBodyOutput(vertices=vertices, joints=joints45, smpl_joints=smpl_joints)
        joints = torch.cat(
            [joints45[:, self.joint_map], vertices2joints(self.joint_regressor_extra, vertices)], dim=1
        )
        return SMPLBodyOutput(vertices=vertices, joints=joints, smpl_joints=smpl_joints)
