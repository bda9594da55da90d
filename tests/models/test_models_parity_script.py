"""scripts/parity.py: passes on the shared official fixture, fails on a wrong reference, and derives every size
from the files (a fixture folder with another backbone and tokenizer architecture)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from backend.body import SMPLBody, write_synthetic_smpl_files
from backend.models import HMRPredictor, TokenHMRConfig, TokenizerArch, load_tokenhmr, write_tiny_tokenhmr_files
from backend.models.tiny import TINY_TOKENHMR_CONFIG

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "parity.py"


def _run(folder: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True, cwd=REPO, timeout=300
    )


def test_parity_script_passes_on_the_official_fixture(parity_fixture):
    result = _run(parity_fixture)
    assert result.returncode == 0, f"parity.py exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "PARITY OK" in result.stdout, result.stdout
    for key in ("pred_vertices", "pred_keypoints_2d", "cls_logits_softmax", "pred_cam_t_full", "img_1"):
        assert any(line.split()[1:2] == [key] and line.rstrip().endswith("ok") for line in result.stdout.splitlines()), (
            f"expected an 'ok' row for {key} in:\n{result.stdout}"
        )


def test_parity_script_fails_on_a_perturbed_reference(parity_fixture, tmp_path):
    folder = tmp_path / "fixture"
    folder.mkdir()
    for item in parity_fixture.iterdir():
        if item.name != "outputs.npz":
            (folder / item.name).symlink_to(item)
    outputs = dict(np.load(parity_fixture / "outputs.npz"))
    outputs["betas"] = outputs["betas"] + 1e-3
    np.savez(folder / "outputs.npz", **outputs)
    result = _run(folder)
    assert result.returncode == 1, f"expected exit 1 for a wrong 'betas' reference, got {result.returncode}\n{result.stdout}"
    assert "FAILED: outputs/betas" in result.stdout, result.stdout


def _write_fixture(folder: Path, config: TokenHMRConfig, seed: int) -> None:
    """A fixture folder in the official layout whose references come from our own implementation."""
    files = write_tiny_tokenhmr_files(folder, seed=seed, config=config)
    smpl = write_synthetic_smpl_files(folder / "body_models", seed=seed)
    backbone = json.loads(files.backbone_config_path.read_text())["backbone"]
    (folder / "fixture_config.json").write_text(
        json.dumps({"files": {"checkpoint": files.checkpoint_path.name}, "backbone": backbone})
    )
    model = load_tokenhmr(files.checkpoint_path, files.tokenizer_path, files.model_config_path, config.backbone)
    predictor = HMRPredictor(model, SMPLBody.from_files(smpl.smpl_path, smpl.joint_regressor_extra_path))
    img = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        pred = predictor(img)
    np.savez(folder / "inputs.npz", img=img.numpy())
    np.savez(
        folder / "outputs.npz",
        global_orient=pred.network.global_orient.numpy(),
        body_pose=pred.network.body_pose.numpy(),
        betas=pred.network.betas.numpy(),
        pred_cam_t=pred.pred_cam_t.numpy(),
        pred_vertices=pred.vertices.numpy(),
        pred_keypoints_2d=pred.keypoints_2d.numpy(),
        cls_logits_softmax=pred.network.cls_probs.numpy(),
    )


@pytest.mark.slow
def test_parity_script_derives_sizes_from_the_files(tmp_path):
    # The hidden-fixture family: DOWN_T 2, TOKEN_SIZE_MUL 3, DIV 3, depth 3, dilation 2; another ViT size.
    arch = TokenizerArch(code_dim=16, nb_code=64, down_t=2, width=24, depth=3, dilation_rate=2, token_size_mul=3,
                         token_size_div=3)
    config = replace(TINY_TOKENHMR_CONFIG, tokenizer=arch).with_backbone(
        replace(TINY_TOKENHMR_CONFIG.backbone, embed_dim=48, depth=2, num_heads=4)
    )
    folder = tmp_path / "other_fixture"
    _write_fixture(folder, config, seed=5)
    result = _run(folder)
    assert result.returncode == 0, f"parity.py exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "12/12 keys" in result.stdout, result.stdout  # 5 config constants + the 7 outputs written above


def test_config_constants_other_than_ours_fail_by_name():
    spec = importlib.util.spec_from_file_location("parity_script", SCRIPT)
    parity = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = parity  # dataclasses look their module up while the script loads
    try:
        spec.loader.exec_module(parity)
    finally:
        del sys.modules[spec.name]
    official = {"EXTRA": {"FOCAL_LENGTH": 5000}, "MODEL": {"IMAGE_SIZE": 256, "IMAGE_MEAN": [0.485, 0.456, 0.406],
                                                           "IMAGE_STD": [0.229, 0.224, 0.225], "BBOX_SHAPE": [192, 256]}}
    assert all(r.ok for r in parity._config_rows(official)) and len(parity._config_rows(official)) == 5
    assert parity._config_rows({"MODEL": {}}) == [], "absent keys take the official defaults"
    other = {"EXTRA": {"FOCAL_LENGTH": 1000}, "MODEL": {"BBOX_SHAPE": [256, 256]}}
    failed = {r.key: r.note for r in parity._config_rows(other) if not r.ok}
    assert set(failed) == {"EXTRA.FOCAL_LENGTH", "MODEL.BBOX_SHAPE"}, failed
    assert "fixture [1000.0] but the implementation uses [5000.0]" in failed["EXTRA.FOCAL_LENGTH"]
