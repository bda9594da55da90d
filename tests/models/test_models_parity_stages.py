"""Stage-by-stage parity of the networks with the official TokenHMR code (shared fixture intermediates)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from backend.models import load_tokenhmr, rot6d_to_rotmat
from backend.models.tiny import backbone_config_from_json

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def fixture_run(parity_fixture):
    backbone = backbone_config_from_json(json.loads((parity_fixture / "fixture_config.json").read_text()))
    model = load_tokenhmr(
        parity_fixture / "tokenhmr_fixture.ckpt",
        parity_fixture / "tokenizer.pth",
        parity_fixture / "model_config.yaml",
        backbone=backbone,
    )
    img = torch.from_numpy(np.load(parity_fixture / "inputs.npz")["img"])
    with torch.no_grad():
        out = model(img)
    return model, out, np.load(parity_fixture / "intermediates.npz"), np.load(parity_fixture / "outputs.npz")


def _close(name, actual, expected):
    actual = actual.detach().numpy() if isinstance(actual, torch.Tensor) else actual
    expected = expected.reshape(actual.shape)
    diff = float(np.abs(actual - expected).max())
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=f"{name}: max |diff| {diff}")


def test_backbone_features(fixture_run):
    _, out, inter, _ = fixture_run
    _close("backbone_features", out.features, inter["backbone_features"])


def test_decoder_token(fixture_run):
    _, out, inter, _ = fixture_run
    _close("token_out", out.token_out, inter["token_out"])


def test_token_logits_and_probs(fixture_run):
    _, out, inter, outputs = fixture_run
    _close("cls_logits", out.cls_logits, inter["cls_logits"])
    _close("cls_logits_softmax", out.cls_probs, outputs["cls_logits_softmax"])


def test_vq_decoder_output(fixture_run):
    _, out, inter, _ = fixture_run
    _close("body_pose_6d_tokens", out.body_pose_6d_tokens, inter["body_pose_6d_tokens"])


def test_vq_decoder_alone_from_reference_probs(fixture_run):
    model, _, inter, outputs = fixture_run
    with torch.no_grad():
        decoded = model.token_decoder(torch.from_numpy(outputs["cls_logits_softmax"]))
    _close("token decoder(reference probs)", decoded.reshape(decoded.shape[0], -1), inter["body_pose_6d_tokens"])


def test_pose_6d_and_rotations_rows_convention(fixture_run):
    _, out, inter, outputs = fixture_run
    _close("pose_6d_full", out.pose_6d, inter["pose_6d_full"])
    ref = rot6d_to_rotmat(torch.from_numpy(inter["pose_6d_full"]), "rows").reshape(2, 24, 3, 3)
    _close("rot6d(reference pose_6d)", ref[:, 1:], outputs["body_pose"])
    columns = rot6d_to_rotmat(torch.from_numpy(inter["pose_6d_full"]), "columns").reshape(2, 24, 3, 3)
    worst = float((columns[:, 1:] - torch.from_numpy(outputs["body_pose"])).abs().max())
    assert worst > 1e-2, f"the columns convention must NOT match TokenHMR's output (max diff only {worst})"
    _close("global_orient", out.global_orient, outputs["global_orient"])
    _close("body_pose", out.body_pose, outputs["body_pose"])


def test_betas_and_camera(fixture_run):
    _, out, _, outputs = fixture_run
    _close("betas", out.betas, outputs["betas"])
    _close("pred_cam", out.pred_cam, outputs["pred_cam"])
