"""Synthetic SMPL-format model files for tests: the official file formats with random but valid, human-shaped
content (no licensed data).

The body is the built-in mannequin resampled to SMPL's 6890 vertices, with its vertices ordered so that the
smplx keypoint vertex ids (nose 332, eyes, ears, toes, heels, fingertips) land on the matching places, a joint
regressor that averages the vertices around each joint, and small random shape and pose blend shapes. Renders,
keypoints and detections made with it therefore look like a person. Formats follow
``shared/fixtures/tokenhmr_parity/README.md`` (protocol-2 pickles, uint32 faces, scipy csc ``J_regressor``,
kintree root 4294967295).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse

from .joint_names import NUM_SMPL_JOINTS, SMPL_PARENTS, SMPLH_EXTRA_VERTEX_IDS
from .mannequin import MANNEQUIN_JOINTS, build_mannequin

__all__ = ["SyntheticSMPLFiles", "write_synthetic_smpl_files", "SMPL_NUM_VERTICES"]

SMPL_NUM_VERTICES = 6890
_NUM_BETAS = 10
_ROOT_PARENT_UINT32 = 4294967295

# Where the smplx vertex-pick keypoints sit on the mannequin: the vertex nearest each point is moved to the id.
_LANDMARK_POINTS = {
    "nose": (0.0, 0.44, 0.25), "reye": (-0.035, 0.48, 0.2), "leye": (0.035, 0.48, 0.2),
    "rear": (-0.2, 0.45, 0.06), "lear": (0.2, 0.45, 0.06),
    "LBigToe": (0.09, -1.18, 0.25), "LSmallToe": (0.14, -1.18, 0.22), "LHeel": (0.085, -1.2, -0.15),
    "RBigToe": (-0.09, -1.18, 0.25), "RSmallToe": (-0.14, -1.18, 0.22), "RHeel": (-0.085, -1.2, -0.15),
    "lthumb": (0.8, 0.2, 0.06), "lindex": (0.86, 0.2, 0.03), "lmiddle": (0.87, 0.2, 0.0),
    "lring": (0.86, 0.2, -0.03), "lpinky": (0.84, 0.2, -0.06),
    "rthumb": (-0.8, 0.2, 0.06), "rindex": (-0.86, 0.2, 0.03), "rmiddle": (-0.87, 0.2, 0.0),
    "rring": (-0.86, 0.2, -0.03), "rpinky": (-0.84, 0.2, -0.06),
}  # fmt: skip

_J = MANNEQUIN_JOINTS
# The 19 joints of SMPL_to_J19 (official JOINT_NAMES 25..43), as points on the mannequin.
_J19_POINTS = np.array([
    _J[8], _J[5], _J[2], _J[1], _J[4], _J[7], _J[21], _J[19], _J[17], _J[16], _J[18], _J[20],
    _J[12] + (0.0, 0.02, 0.0), (0.0, 0.56, 0.03), _J[0], (0.0, 0.21, 0.0), _J[6], (0.0, 0.36, 0.1), (0.0, 0.46, 0.03),
])  # fmt: skip


@dataclass(frozen=True)
class SyntheticSMPLFiles:
    """Paths of the files written by :func:`write_synthetic_smpl_files`.

    Attributes:
        smpl_path: ``smpl/SMPL_NEUTRAL.pkl`` (its folder is smplx's ``model_path``).
        joint_regressor_extra_path: ``SMPL_to_J19.pkl``.
        mean_params_path: ``smpl_mean_params.npz``.
    """

    smpl_path: Path
    joint_regressor_extra_path: Path
    mean_params_path: Path


def _nearest_regressor(points: np.ndarray, vertices: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(P, V) rows over each point's k nearest vertices, inverse-distance weights with jitter, rows sum to 1."""
    reg = np.zeros((len(points), len(vertices)))
    for row, p in enumerate(points):
        d = np.linalg.norm(vertices - p, axis=1)
        idx = np.argpartition(d, k)[:k]
        w = 1.0 / (d[idx] + 0.01) * rng.uniform(0.8, 1.2, size=k)
        reg[row, idx] = w / w.sum()
    return reg


def _joint_regressor(joints: np.ndarray, vertices: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """(24, V) non-negative rows summing to 1 whose regressed points equal ``joints`` where the k nearest vertices
    surround the joint: 70 % a non-negative least-squares fit, 30 % inverse-distance (jittered) weights."""
    from scipy.optimize import nnls

    smooth = _nearest_regressor(joints, vertices, k, rng)
    reg = np.zeros_like(smooth)
    for row, p in enumerate(joints):
        idx = np.nonzero(smooth[row])[0]
        # Residual of the smooth part, then fit the rest: sum w v = p and sum w = 1 (weighted as a hard row).
        target = (p - 0.3 * smooth[row] @ vertices) / 0.7
        a = np.vstack([vertices[idx].T, 10.0 * np.ones(len(idx))])
        w, _ = nnls(a, np.concatenate([target, [10.0]]))
        reg[row, idx] = 0.7 * w / w.sum() + 0.3 * smooth[row, idx]
    return reg


def _body_vertices(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mannequin resampled to 6890 vertices in SMPL id order: (vertices, faces, weights)."""
    mesh = build_mannequin(n_around=18, ring_spacing_m=0.021)
    num_real = len(mesh.vertices)
    if num_real > SMPL_NUM_VERTICES:  # an internal invariant of the chosen resolution
        raise RuntimeError(f"mannequin resolution gives {num_real} vertices, more than SMPL's {SMPL_NUM_VERTICES}")
    # Pad with copies of existing vertices (unreferenced by faces) to reach SMPL's vertex count.
    pad = rng.choice(num_real, SMPL_NUM_VERTICES - num_real, replace=False)
    source = np.concatenate([np.arange(num_real), pad])
    # Move the vertex nearest each landmark point to its smplx vertex id; the other vertices fill the rest in order.
    order = np.full(SMPL_NUM_VERTICES, -1, dtype=np.int64)
    landmarks: list[int] = []
    for name, vid in SMPLH_EXTRA_VERTEX_IDS:
        d = np.linalg.norm(mesh.vertices - np.asarray(_LANDMARK_POINTS[name]), axis=1)
        d[landmarks] = np.inf
        order[vid] = int(np.argmin(d))
        landmarks.append(int(order[vid]))
    keep = np.ones(SMPL_NUM_VERTICES, dtype=bool)
    keep[landmarks] = False  # each landmark leaves the real range once; its padding copies stay
    order[order < 0] = source[keep]
    # Faces point at the first occurrence of each real vertex in the new order.
    _, new_index = np.unique(order, return_index=True)
    return mesh.vertices[order], new_index[mesh.faces], mesh.weights[order]


def write_synthetic_smpl_files(folder: str | Path, seed: int = 0) -> SyntheticSMPLFiles:
    """Writes ``smpl/SMPL_NEUTRAL.pkl``, ``SMPL_to_J19.pkl`` and ``smpl_mean_params.npz`` under ``folder``.

    Args:
        folder: output folder (created).
        seed: random seed; the same seed writes the same values.

    Returns:
        :class:`SyntheticSMPLFiles` with the three paths.
    """
    folder = Path(folder)
    (folder / "smpl").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vertices, faces, weights = _body_vertices(rng)
    v_template = vertices + rng.normal(0.0, 0.002, size=vertices.shape)
    num_v = SMPL_NUM_VERTICES

    J_regressor = _joint_regressor(MANNEQUIN_JOINTS, v_template, 40, rng)
    joints = J_regressor @ v_template

    # Shape space: beta 0 scales the body about the pelvis (+3 % per unit), the others move body parts smoothly.
    shapedirs = np.empty((num_v, 3, _NUM_BETAS))
    shapedirs[:, :, 0] = 0.03 * (v_template - joints[0])
    shapedirs[:, :, 1:] = np.einsum("vj,jck->vck", weights, rng.normal(0.0, 0.01, size=(NUM_SMPL_JOINTS, 3, 9)))

    # Pose blend shapes: each vertex reacts only to the 9 entries of its own joint and of that joint's parent.
    posedirs = np.zeros((num_v, 3, 207))
    own = weights.argmax(axis=1)
    for j in range(1, NUM_SMPL_JOINTS):
        for joint in (j, SMPL_PARENTS[j]):
            if joint < 1:
                continue
            rows = np.nonzero(own == j)[0]
            cols = slice((joint - 1) * 9, joint * 9)
            posedirs[rows, :, cols] = rng.normal(0.0, 0.004, size=(len(rows), 3, 9))

    kintree = np.stack([np.asarray(SMPL_PARENTS, dtype=np.int64), np.arange(NUM_SMPL_JOINTS, dtype=np.int64)])
    kintree[0, 0] = _ROOT_PARENT_UINT32
    model = {
        "v_template": v_template,
        "f": faces.astype(np.uint32),
        "J_regressor": scipy.sparse.csc_matrix(J_regressor),
        "weights": weights,
        "posedirs": posedirs,
        "shapedirs": shapedirs,
        "kintree_table": kintree,
        "J": joints,
        "bs_style": "lbs",
        "bs_type": "lrotmin",
    }
    smpl_path = folder / "smpl" / "SMPL_NEUTRAL.pkl"
    with open(smpl_path, "wb") as f:
        pickle.dump(model, f, protocol=2)

    j19 = _nearest_regressor(_J19_POINTS, v_template, 30, rng)
    extra_path = folder / "SMPL_to_J19.pkl"
    with open(extra_path, "wb") as f:
        pickle.dump(j19, f, protocol=2)

    # Mean pose in the rows-convention 6D, deliberately not orthonormal: the root turned 180 deg about x
    # (upright in the camera frame, y down), every other joint near identity.
    pose6d = np.tile(np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]), (NUM_SMPL_JOINTS, 1))
    pose6d[0] = (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)
    pose6d += rng.normal(0.0, 0.05, size=pose6d.shape)
    mean_path = folder / "smpl_mean_params.npz"
    np.savez(
        mean_path,
        pose=pose6d.reshape(-1),
        shape=rng.normal(0.0, 0.1, size=_NUM_BETAS),
        cam=np.array([0.9, 0.0, 0.0]) + rng.normal(0.0, 0.02, size=3),
    )
    return SyntheticSMPLFiles(smpl_path=smpl_path, joint_regressor_extra_path=extra_path, mean_params_path=mean_path)
