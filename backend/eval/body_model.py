"""SMPL forward passes for evaluation: the ground truth's gendered model and the prediction's neutral one."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from backend.body import SMPLBody
from backend.geometry import axis_angle_to_rotmat

__all__ = ["GenderedSMPL", "SMPL_GENDER_FILES", "H36M_REGRESSOR_FILE", "load_h36m_regressor"]

logger = logging.getLogger(__name__)

SMPL_GENDER_FILES = {"neutral": "SMPL_NEUTRAL.pkl", "male": "SMPL_MALE.pkl", "female": "SMPL_FEMALE.pkl"}
H36M_REGRESSOR_FILE = "J_regressor_h36m.npy"


class GenderedSMPL:
    """Calls the SMPL model of a sample's gender; the files come from one folder (``SMPL_{NEUTRAL,MALE,FEMALE}.pkl``).

    A missing gendered file is an error, not a silent switch to the neutral model: ground truth from the wrong
    body model shifts every error.
    """

    def __init__(self, smpl_dir: str | Path) -> None:
        self.smpl_dir = Path(smpl_dir)
        self._models: dict[str, SMPLBody] = {}

    def _model(self, gender: str) -> SMPLBody:
        if gender not in SMPL_GENDER_FILES:
            raise ValueError(f"unknown SMPL gender {gender!r}; expected one of {sorted(SMPL_GENDER_FILES)}")
        if gender not in self._models:
            path = self.smpl_dir / SMPL_GENDER_FILES[gender]
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path}: the {gender} SMPL model is needed for this dataset's ground truth. Download the SMPL "
                    f"models (smpl.is.tue.mpg.de) and pass their folder with --smpl-dir")
            self._models[gender] = SMPLBody.from_files(path).eval()
        return self._models[gender]

    def joint_regressor(self, gender: str = "neutral") -> np.ndarray:
        """The model's (24, V) SMPL joint regressor (TokenHMR scores EMDB with the neutral one on both meshes)."""
        return self._model(gender).J_regressor.double().numpy()

    @torch.no_grad()
    def __call__(self, gender: str, global_orient: np.ndarray, body_pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
        """Vertices (V, 3) in metres for axis-angle ``global_orient`` (3,), ``body_pose`` (69,), ``betas`` (≤10,)."""
        model = self._model(gender)
        pose = torch.as_tensor(np.concatenate([np.reshape(global_orient, 3), np.reshape(body_pose, 69)]),
                               dtype=torch.float64).reshape(24, 3)
        rot = axis_angle_to_rotmat(pose).to(torch.float32)
        b = np.zeros(model.num_betas)
        b[: min(len(betas), model.num_betas)] = np.asarray(betas).reshape(-1)[: model.num_betas]
        out = model(rot[None, :1], rot[None, 1:], torch.as_tensor(b, dtype=torch.float32)[None])
        return out.vertices[0].double().numpy()


def load_h36m_regressor(path: str | Path, num_vertices: int = 6890) -> np.ndarray:
    """Reads ``J_regressor_h36m.npy`` ((17, V) float) and checks its shape."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the H36M joint regressor is missing. It ships with the SPIN / 4D-Humans data download as "
            f"{H36M_REGRESSOR_FILE}; pass it with --h36m-regressor")
    reg = np.load(path, allow_pickle=False)
    if reg.shape != (17, num_vertices):
        raise ValueError(f"{path}: expected a (17, {num_vertices}) regressor; found {reg.shape}")
    return reg.astype(np.float64)
