"""SMPLBody against the official outputs of the parity fixture, and its behaviour on synthetic files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from backend.body import SMPLBody, SyntheticSMPLFiles, load_smpl_data, smpl_rest_body

RTOL, ATOL = 1e-4, 1e-5  # the fixture README's suggested tolerance


def test_matches_official_outputs(fixture_body_models: Path, parity_fixture: Path) -> None:
    body = SMPLBody.from_files(fixture_body_models / "smpl", fixture_body_models / "SMPL_to_J19.pkl")
    ref = np.load(parity_fixture / "outputs.npz")
    with torch.no_grad():
        out = body(torch.from_numpy(ref["global_orient"]), torch.from_numpy(ref["body_pose"]),
                   torch.from_numpy(ref["betas"]))
    for name, actual, key in (("vertices", out.vertices, "pred_vertices"), ("joints", out.joints, "pred_keypoints_3d")):
        expected = ref[key]
        diff = np.abs(actual.numpy() - expected).max()
        np.testing.assert_allclose(actual.numpy(), expected, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{name} vs official {key}: max |diff| {diff:.3g}")


def test_buffers_are_not_persistent(synthetic_smpl: SyntheticSMPLFiles) -> None:
    body = SMPLBody.from_files(synthetic_smpl.smpl_path, synthetic_smpl.joint_regressor_extra_path)
    keys = list(body.state_dict())
    assert keys == [], f"SMPLBody must add no state_dict keys (official checkpoints load strictly), got {keys}"
    assert body.v_template.dtype == torch.float32, f"buffers are float32 like smplx, got {body.v_template.dtype}"


def test_identity_pose_gives_rest_body(synthetic_smpl: SyntheticSMPLFiles) -> None:
    body = SMPLBody.from_files(synthetic_smpl.smpl_path, synthetic_smpl.joint_regressor_extra_path)
    betas = torch.tensor([[1.0, -0.5, 0.3, 0, 0, 0, 0, 0, 0, 0.2]])
    eye = torch.eye(3)
    out = body(eye.expand(1, 1, 3, 3), eye.expand(1, 23, 3, 3), betas)
    rest = smpl_rest_body(load_smpl_data(synthetic_smpl.smpl_path), betas[0].numpy())
    np.testing.assert_allclose(out.vertices[0].numpy(), rest.vertices, atol=1e-5, err_msg="identity pose = rest shape")
    np.testing.assert_allclose(out.smpl_joints[0].numpy(), rest.joints, atol=1e-5, err_msg="smpl_joints = J(betas)")
    assert out.joints.shape == (1, 44, 3), f"expected 44 keypoints, got {tuple(out.joints.shape)}"
    # OpenPose MidHip (index 8) is smplx joint 0, the pelvis.
    np.testing.assert_allclose(out.joints[0, 8].numpy(), rest.joints[0], atol=1e-6)


def test_rotating_root_rotates_everything_about_pelvis(synthetic_smpl: SyntheticSMPLFiles) -> None:
    body = SMPLBody.from_files(synthetic_smpl.smpl_path)  # no extra regressor: the 45 smplx joints
    eye = torch.eye(3)
    flip = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # 180 deg about x: upright in the camera frame
    zeros = torch.zeros(1, 10)
    rest = body(eye.expand(1, 1, 3, 3), eye.expand(1, 23, 3, 3), zeros)
    turned = body(flip.expand(1, 1, 3, 3), eye.expand(1, 23, 3, 3), zeros)
    assert turned.joints.shape == (1, 45, 3), f"without SMPL_to_J19 expect 45 joints, got {tuple(turned.joints.shape)}"
    pelvis = rest.smpl_joints[0, 0]
    expected = (rest.vertices[0] - pelvis) @ flip.T + pelvis
    np.testing.assert_allclose(turned.vertices[0].numpy(), expected.numpy(), atol=1e-5)
    head_y = turned.smpl_joints[0, 15, 1] - turned.smpl_joints[0, 0, 1]
    assert head_y < -0.3, f"after the 180 deg root flip the head should be below the pelvis in y, got {head_y:.3f}"


def test_bad_pose_shapes_are_named(synthetic_smpl: SyntheticSMPLFiles) -> None:
    body = SMPLBody.from_files(synthetic_smpl.smpl_path)
    eye = torch.eye(3)
    with pytest.raises(ValueError, match=r"body_pose should be \(2, 23, 3, 3\)"):
        body(eye.expand(2, 1, 3, 3), eye.expand(2, 21, 3, 3), torch.zeros(2, 10))
    with pytest.raises(ValueError, match=r"betas should be \(2, 10\)"):
        body(eye.expand(2, 1, 3, 3), eye.expand(2, 23, 3, 3), torch.zeros(2, 11))


def test_matches_smplx_smpllayer_with_the_official_wrapper(synthetic_smpl: SyntheticSMPLFiles) -> None:
    """Independent reference: smplx's own SMPLLayer (it reads chumpy-free pickles) + the official joint map."""
    import pickle

    import smplx
    from smplx.lbs import vertices2joints

    from backend.body import SMPL_TO_OPENPOSE
    from backend.geometry import axis_angle_to_rotmat

    layer = smplx.SMPLLayer(model_path=str(synthetic_smpl.smpl_path.parent), gender="neutral", num_betas=10)
    with open(synthetic_smpl.joint_regressor_extra_path, "rb") as f:
        j19 = torch.tensor(pickle.load(f, encoding="latin1"), dtype=torch.float32)
    body = SMPLBody.from_files(synthetic_smpl.smpl_path, synthetic_smpl.joint_regressor_extra_path)
    gen = torch.Generator().manual_seed(0)
    rot = axis_angle_to_rotmat(0.6 * torch.randn(3, 24, 3, generator=gen)).float()
    betas = torch.randn(3, 10, generator=gen)
    with torch.no_grad():
        ref = layer(global_orient=rot[:, :1], body_pose=rot[:, 1:], betas=betas)
        ref_joints = torch.cat([ref.joints[:, list(SMPL_TO_OPENPOSE)], vertices2joints(j19, ref.vertices)], dim=1)
        out = body(rot[:, :1], rot[:, 1:], betas)
    for name, a, b in (("vertices", out.vertices, ref.vertices), ("joints", out.joints, ref_joints),
                       ("smpl_joints", out.smpl_joints, ref.joints[:, :24])):
        diff = (a - b).abs().max().item()
        assert diff < 1e-6, f"{name} differ from smplx.SMPLLayer by {diff:.3g}"


def test_synthetic_keypoints_sit_on_a_person(synthetic_smpl: SyntheticSMPLFiles) -> None:
    from backend.body import KEYPOINT_NAMES

    body = SMPLBody.from_files(synthetic_smpl.smpl_path, synthetic_smpl.joint_regressor_extra_path)
    eye = torch.eye(3)
    with torch.no_grad():
        kp = body(eye.expand(1, 1, 3, 3), eye.expand(1, 23, 3, 3), torch.zeros(1, 10)).joints[0].numpy()
    k = {name: kp[i] for i, name in enumerate(KEYPOINT_NAMES)}
    assert k["OP Nose"][1] > k["OP Neck"][1] and k["OP Nose"][2] > k["OP Neck"][2], "nose above and in front of neck"
    assert k["OP LEye"][0] > 0 > k["OP REye"][0], f"left eye at +x: {k['OP LEye']}, right at -x: {k['OP REye']}"
    assert k["OP LBigToe"][2] > k["OP LAnkle"][2] > k["OP LHeel"][2], "toe in front of the ankle, heel behind"
    assert k["OP LBigToe"][0] > 0 > k["OP RBigToe"][0], "left toes at +x"
    assert k["Top of Head (LSP)"][1] == max(p[1] for p in kp), "top of head is the highest keypoint"
    assert k["OP LWrist"][0] > 0.6 and k["Right Wrist"][0] < -0.6, "T-pose wrists far out on their sides"


def test_autocast_does_not_lower_precision(synthetic_smpl: SyntheticSMPLFiles) -> None:
    body = SMPLBody.from_files(synthetic_smpl.smpl_path, synthetic_smpl.joint_regressor_extra_path)
    from backend.geometry import axis_angle_to_rotmat

    rot = axis_angle_to_rotmat(0.5 * torch.randn(2, 24, 3, generator=torch.Generator().manual_seed(1))).float()
    betas = torch.randn(2, 10, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = body(rot[:, :1], rot[:, 1:], betas)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = body(rot[:, :1], rot[:, 1:], betas)
    assert out.vertices.dtype == torch.float32, f"SMPL output stays float32 under autocast, got {out.vertices.dtype}"
    diff = (out.vertices - ref.vertices).abs().max().item()
    assert diff < 1e-6, f"autocast changed the vertices by {diff:.3g}"
