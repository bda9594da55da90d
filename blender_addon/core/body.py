"""The rest body a character is built from: the backend's ``body_model`` reply as checked numpy arrays.

The backend's ``rest_body(betas)`` (SMPL or the built-in mannequin) fills it; the add-on never reads SMPL files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .joints import check_joint_table

__all__ = ["RestBodyData", "rest_body_from_mapping"]


@dataclass(frozen=True)
class RestBodyData:
    """A body in its rest pose for one shape, SMPL canonical frame (Y up, facing +Z), metres."""

    vertices: np.ndarray  # (V, 3) float64 rest vertices for the betas
    faces: np.ndarray  # (F, 3) int64 triangle vertex indices
    weights: np.ndarray  # (V, 24) float64 linear-blend skinning weights, rows sum to 1
    joints: np.ndarray  # (24, 3) float64 rest joints J(β)
    parents: np.ndarray  # (24,) int64, root -1
    joint_names: tuple[str, ...]  # 24 smplx names


def rest_body_from_mapping(data: Mapping, where: str = "body_model reply") -> RestBodyData:
    """Check and convert a ``body_model`` reply (arrays already decoded) into :class:`RestBodyData`.

    Args:
        data: mapping with ``vertices``, ``faces``, ``weights``, ``joints``, ``parents``, ``joint_names``.
        where: names the source in error messages.
    """
    missing = [k for k in ("vertices", "faces", "weights", "joints", "parents", "joint_names") if k not in data]
    if missing:
        raise ValueError(f"{where}: missing {missing}; found {sorted(data)}. Update the backend to protocol v1")
    vertices = np.asarray(data["vertices"], dtype=np.float64)
    faces = np.asarray(data["faces"])
    weights = np.asarray(data["weights"], dtype=np.float64)
    joints = np.asarray(data["joints"], dtype=np.float64)
    parents = np.asarray(data["parents"]).astype(np.int64)
    names = tuple(str(n) for n in data["joint_names"])
    if vertices.ndim != 2 or vertices.shape[1] != 3 or vertices.shape[0] == 0:
        raise ValueError(f"{where} 'vertices': expected shape (V, 3), got {vertices.shape}")
    n_v = vertices.shape[0]
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"{where} 'faces': expected integer shape (F, 3), got {faces.dtype} {faces.shape}")
    if faces.size and (faces.min() < 0 or faces.max() >= n_v):
        raise ValueError(f"{where} 'faces': indices must lie in [0, {n_v}), got [{faces.min()}, {faces.max()}]")
    if weights.shape != (n_v, 24):
        raise ValueError(f"{where} 'weights': expected shape ({n_v}, 24), got {weights.shape}")
    if joints.shape != (24, 3):
        raise ValueError(f"{where} 'joints': expected shape (24, 3), got {joints.shape}")
    for key, arr in (("vertices", vertices), ("weights", weights), ("joints", joints)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{where} {key!r}: contains NaN or infinite values")
    check_joint_table(names, parents)
    return RestBodyData(vertices, faces.astype(np.int64), weights, joints, parents, names)
