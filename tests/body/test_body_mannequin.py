"""The built-in mannequin and the rest body served through `body_model`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from smplx.lbs import batch_rigid_transform

from backend.body import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SyntheticSMPLFiles,
    build_mannequin,
    load_smpl_data,
    rest_body,
)
from backend.geometry import axis_angle_to_rotmat


@pytest.fixture(scope="module")
def mannequin():
    return build_mannequin()


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip(((points - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _pose_lbs(vertices: np.ndarray, weights: np.ndarray, joints: np.ndarray, rotvecs: np.ndarray) -> np.ndarray:
    """Independent LBS with smplx's rigid transform chain: (24, 3) rotation vectors -> posed vertices."""
    rot = axis_angle_to_rotmat(torch.from_numpy(rotvecs))[None]
    _, transforms = batch_rigid_transform(rot, torch.from_numpy(joints)[None], torch.tensor(SMPL_PARENTS))
    per_vertex = torch.einsum("vj,jab->vab", torch.from_numpy(weights), transforms[0])
    homo = torch.cat([torch.from_numpy(vertices), torch.ones(len(vertices), 1, dtype=torch.float64)], dim=1)
    return torch.einsum("vab,vb->va", per_vertex, homo)[:, :3].numpy()


def test_skeleton_is_smpl(mannequin) -> None:
    body = rest_body()
    assert body.source == "mannequin", f"no SMPL path should give the mannequin, got {body.source}"
    assert body.joints.shape == (24, 3), f"24 joints expected, got {body.joints.shape}"
    assert body.parents.tolist() == list(SMPL_PARENTS), f"parents {body.parents.tolist()}"
    assert body.joint_names == SMPL_JOINT_NAMES


def test_adult_proportions(mannequin) -> None:
    v = mannequin.vertices
    height = v[:, 1].max() - v[:, 1].min()
    span = v[:, 0].max() - v[:, 0].min()
    assert 1.6 < height < 1.9, f"adult height expected (1.6..1.9 m), got {height:.3f}"
    assert 0.9 < span / height < 1.1, f"T-pose arm span about equal to height, got ratio {span / height:.3f}"
    j = mannequin.joints
    leg = j[1, 1] - j[10, 1]
    assert 0.42 < leg / height < 0.55, f"hip-to-sole about half the height, got {leg / height:.3f}"


def test_left_is_plus_x(mannequin) -> None:
    j = mannequin.joints
    for name in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand"):
        left, right = j[SMPL_JOINT_NAMES.index(f"left_{name}")], j[SMPL_JOINT_NAMES.index(f"right_{name}")]
        assert left[0] > 0 > right[0], f"left_{name} must be at +x and right_{name} at -x, got {left[0]}, {right[0]}"
    assert j[10, 2] > j[7, 2], "the toes (left_foot) point forward (+z) of the ankle"


def test_weights_normalised_and_follow_the_nearest_bone(mannequin) -> None:
    w = mannequin.weights
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-12, err_msg="skin weight rows sum to 1")
    assert w.min() >= 0.0, f"negative skin weight {w.min()}"
    top = w.argmax(axis=1)
    assert np.all(w.max(axis=1) > 0.5), "each vertex is mostly (> 50 %) weighted to one bone"
    j = mannequin.joints
    # The bone of joint k runs from joint k towards its children; the vertex must lie close to that bone.
    children = {k: [c for c, p in enumerate(SMPL_PARENTS) if p == k] for k in range(24)}
    dist = np.full(len(w), np.inf)
    for k in range(24):
        ends = [j[c] for c in children[k]] or [j[k] + (j[k] - j[SMPL_PARENTS[k]]) * 0.8]
        for end in ends:
            mask = top == k
            dist[mask] = np.minimum(dist[mask], _segment_distance(mannequin.vertices[mask], j[k], end))
    p95 = np.percentile(dist, 95)
    assert p95 < 0.16, f"95 % of vertices within 16 cm of their main bone, got {p95:.3f}"
    hand = mannequin.vertices[:, 0] > 0.72  # beyond the left wrist
    assert set(np.unique(top[hand])) <= {20, 22}, f"left-hand vertices weighted to {set(np.unique(top[hand]))}"


def test_mesh_is_closed_and_outward(mannequin) -> None:
    f = mannequin.faces
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert np.all(counts == 2), f"every edge shared by exactly 2 triangles (closed parts), got counts {set(counts)}"
    v = mannequin.vertices
    volume = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6.0
    assert 0.05 < volume < 0.15, f"outward triangles give a positive body-sized volume, got {volume:.4f} m^3"


def test_bending_the_elbow_moves_only_the_forearm(mannequin) -> None:
    rotvecs = np.zeros((24, 3))
    rotvecs[18] = [0.0, -np.pi / 2, 0.0]  # left elbow 90 deg about y: forearm swings towards +z (forward)
    posed = _pose_lbs(mannequin.vertices, mannequin.weights, mannequin.joints, rotvecs)
    moved = np.linalg.norm(posed - mannequin.vertices, axis=1)
    forearm = mannequin.vertices[:, 0] > 0.55
    torso = np.abs(mannequin.vertices[:, 0]) < 0.2
    assert moved[torso].max() < 1e-9, f"torso must not move, moved {moved[torso].max():.3g}"
    hand_tip = posed[forearm][:, 2].max()
    assert hand_tip > 0.3, f"forearm should swing forward (+z) to about 0.35 m, max z {hand_tip:.3f}"


def test_smpl_rest_body_for_betas(synthetic_smpl: SyntheticSMPLFiles) -> None:
    data = load_smpl_data(synthetic_smpl.smpl_path)
    mean = rest_body(smpl_path=synthetic_smpl.smpl_path)
    tall = rest_body(np.array([2.0]), smpl_path=synthetic_smpl.smpl_path)
    assert mean.source == "smpl" and mean.vertices.shape == (6890, 3)
    np.testing.assert_allclose(mean.vertices, data.v_template, err_msg="zero betas give the template")
    np.testing.assert_allclose(tall.vertices, data.v_template + 2.0 * data.shapedirs[:, :, 0])
    np.testing.assert_allclose(tall.joints, data.J_regressor @ tall.vertices)
    h_mean, h_tall = np.ptp(mean.vertices[:, 1]), np.ptp(tall.vertices[:, 1])
    assert 1.6 < h_mean < 1.9 and h_tall > h_mean * 1.04, f"synthetic SMPL height {h_mean:.3f}, beta0=2 {h_tall:.3f}"
    with pytest.raises(ValueError, match="at most 10 values"):
        rest_body(np.zeros(11), smpl_path=synthetic_smpl.smpl_path)


def test_rest_body_from_models_dir(synthetic_smpl: SyntheticSMPLFiles, tmp_path) -> None:
    installed = rest_body(np.array([1.0]), models_dir=synthetic_smpl.smpl_path.parent.parent)
    assert installed.source == "smpl", f"an installed smpl/SMPL_NEUTRAL.pkl should be used, got {installed.source}"
    empty = rest_body(np.array([1.0]), models_dir=tmp_path)
    assert empty.source == "mannequin", f"no installed SMPL should give the mannequin, got {empty.source}"
    with pytest.raises(ValueError, match="not both"):
        rest_body(smpl_path=synthetic_smpl.smpl_path, models_dir=tmp_path)
