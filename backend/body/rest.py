"""The rest body the add-on builds its armature and skinned mesh from (the ``body_model`` message): from the
user's SMPL file for given betas, or from the built-in mannequin when SMPL is not installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .joint_names import SMPL_JOINT_NAMES, SMPL_PARENTS
from .mannequin import build_mannequin
from .smpl_files import SMPLData, load_smpl_data

__all__ = ["RestBody", "rest_body", "smpl_rest_body", "mannequin_rest_body", "INSTALLED_SMPL_RELPATH"]

INSTALLED_SMPL_RELPATH = "smpl/SMPL_NEUTRAL.pkl"  # where `tokenmocap models install` places the SMPL model


@dataclass(frozen=True)
class RestBody:
    """A skinned body in its rest pose, SMPL canonical frame (T-pose, y up, facing +z, body's left at +x), metres.

    Attributes:
        vertices: (V, 3) float64 rest vertices.
        faces: (F, 3) int64 triangles.
        weights: (V, 24) float64 skin weights, rows sum to 1.
        joints: (24, 3) float64 rest joint positions J(betas).
        parents: (24,) int64, root -1.
        joint_names: the 24 smplx joint names.
        source: "smpl" or "mannequin".
    """

    vertices: np.ndarray
    faces: np.ndarray
    weights: np.ndarray
    joints: np.ndarray
    parents: np.ndarray
    joint_names: tuple[str, ...]
    source: str


def _check_betas(betas: np.ndarray | None, num_available: int) -> np.ndarray:
    if betas is None:
        return np.zeros(num_available)
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or betas.shape[0] > num_available:
        raise ValueError(f"betas must be a 1-D array of at most {num_available} values, got shape {betas.shape}")
    if not np.all(np.isfinite(betas)):
        raise ValueError(f"betas must be finite, got {betas.tolist()}")
    return np.concatenate([betas, np.zeros(num_available - betas.shape[0])])


def smpl_rest_body(data: SMPLData, betas: np.ndarray | None = None) -> RestBody:
    """SMPL rest body for ``betas``: ``v = v_template + shapedirs . betas``, ``J = J_regressor v`` (smplx lbs).

    Args:
        data: the SMPL model arrays.
        betas: (NB,) shape coefficients (missing trailing ones are 0); None for the mean shape.
    """
    betas = _check_betas(betas, data.shapedirs.shape[-1])
    # shapedirs (V, 3, NB) contracted with betas (NB,): per-vertex offsets (V, 3).
    vertices = data.v_template + np.einsum("vck,k->vc", data.shapedirs, betas)
    return RestBody(
        vertices=vertices,
        faces=data.faces.copy(),
        weights=data.weights.copy(),
        joints=data.J_regressor @ vertices,
        parents=data.parents.copy(),
        joint_names=SMPL_JOINT_NAMES,
        source="smpl",
    )


def mannequin_rest_body() -> RestBody:
    """The built-in mannequin as a rest body. It has no shape space: one fixed adult body."""
    mesh = build_mannequin()
    return RestBody(
        vertices=mesh.vertices,
        faces=mesh.faces,
        weights=mesh.weights,
        joints=mesh.joints,
        parents=np.asarray(SMPL_PARENTS, dtype=np.int64),
        joint_names=SMPL_JOINT_NAMES,
        source="mannequin",
    )


def rest_body(
    betas: np.ndarray | None = None, smpl_path: str | Path | None = None, models_dir: str | Path | None = None
) -> RestBody:
    """The body the add-on should build: SMPL for ``betas`` when SMPL is installed, else the mannequin.

    Args:
        betas: (NB,) SMPL shape coefficients, or None. The mannequin has no shape space and ignores them (its
            ``source`` field says so to the caller).
        smpl_path: an SMPL model file (or its folder) to use.
        models_dir: the installed-models folder (``tokenmocap models install``); its ``smpl/SMPL_NEUTRAL.pkl`` is
            used when present, else the mannequin. Give at most one of ``smpl_path`` and ``models_dir``.

    Returns:
        :class:`RestBody`.
    """
    if smpl_path is not None and models_dir is not None:
        raise ValueError("rest_body: give smpl_path or models_dir, not both")
    if models_dir is not None:
        installed = Path(models_dir) / INSTALLED_SMPL_RELPATH
        smpl_path = installed if installed.is_file() else None
    if smpl_path is None:
        if betas is not None:
            _check_betas(betas, len(np.asarray(betas).reshape(-1)))
        return mannequin_rest_body()
    return smpl_rest_body(load_smpl_data(smpl_path), betas)
