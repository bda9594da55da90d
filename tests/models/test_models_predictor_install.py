"""HMRPredictor (the official forward_step: SMPL, pred_cam_t, crop-normalised 2D keypoints) and the installed
safetensors format round trip."""

from __future__ import annotations

import json

import pytest
import torch

from backend.body import SMPLBody, write_synthetic_smpl_files
from backend.models import (
    CheckpointError,
    HMRPredictor,
    load_installed_model,
    load_tokenhmr,
    save_installed_model,
    write_tiny_tokenhmr_files,
)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    files = write_tiny_tokenhmr_files(tmp_path_factory.mktemp("tiny"), seed=0)
    return load_tokenhmr(files.checkpoint_path, files.tokenizer_path, files.model_config_path, files.config.backbone)


def test_predictor_matches_the_official_formulas(tiny_model, tmp_path):
    smpl_files = write_synthetic_smpl_files(tmp_path / "body_models")
    smpl = SMPLBody.from_files(smpl_files.smpl_path, smpl_files.joint_regressor_extra_path)
    img = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = HMRPredictor(tiny_model, smpl)(img)
        body = smpl(pred.network.global_orient, pred.network.body_pose, pred.network.betas)
    s, tx, ty = pred.network.pred_cam.unbind(-1)
    expected_t = torch.stack([tx, ty, 2 * 5000.0 / (256 * s + 1e-9)], -1)
    torch.testing.assert_close(pred.pred_cam_t, expected_t)
    assert pred.keypoints_3d.shape == (2, 44, 3), f"keypoints_3d {tuple(pred.keypoints_3d.shape)}"
    torch.testing.assert_close(pred.vertices, body.vertices)
    p = pred.keypoints_3d + pred.pred_cam_t[:, None]
    torch.testing.assert_close(pred.keypoints_2d, p[..., :2] / p[..., 2:] * (5000.0 / 256))
    torch.testing.assert_close(pred.focal_length, torch.full((2, 2), 5000.0))


def test_installed_model_round_trip(tiny_model, tmp_path):
    folder = save_installed_model(tiny_model, tmp_path / "tokenhmr", extra={"source": "tiny.ckpt"})
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "tokenizer.safetensors", "config.json"}
    assert json.loads((folder / "config.json").read_text())["source"] == "tiny.ckpt"
    loaded = load_installed_model(folder)
    img = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = tiny_model(img), loaded(img)
    assert torch.equal(a.cls_probs, b.cls_probs) and torch.equal(a.body_pose, b.body_pose), "outputs differ"
    assert loaded.config == tiny_model.config, f"{loaded.config} != {tiny_model.config}"


def test_installed_model_damaged_weights(tiny_model, tmp_path):
    folder = save_installed_model(tiny_model, tmp_path / "tokenhmr")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="cannot read the weights"):
        load_installed_model(folder)
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_installed_model(tmp_path / "nothing_here")
