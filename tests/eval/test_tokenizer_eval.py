"""Tokenizer reconstruction error (TokenHMR Table 3): hand-computed errors on a toy body, then `tokenmocap eval
amass|moyo` end to end on pose files in the official layout with the tiny tokenizer and a synthetic SMPL."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from backend import cli
from backend.body import write_synthetic_smpl_files
from backend.eval.tokenizer_eval import evaluate_tokenizer, load_pose_vqvae
from backend.models import CheckpointError, read_tokenizer_file, write_tiny_tokenhmr_files
from training.pose_data import write_synthetic_pose_folder

THETA = 0.3


def rot_x(theta: float) -> torch.Tensor:
    c, s = math.cos(theta), math.sin(theta)
    return torch.tensor([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def toy_forward(body_rot):
    """Joints: each joint's rotation applied to e_x; vertices: to e_z (metres)."""
    ex = torch.tensor([1.0, 0.0, 0.0])
    ez = torch.tensor([0.0, 0.0, 1.0])
    return body_rot @ ex, body_rot @ ez


def turn_about_x(body_rot):
    """A 'tokenizer' whose reconstruction is every joint turned by THETA about x."""
    return rot_x(THETA) @ body_rot


def test_errors_match_hand_computation():
    # Dataset A: every joint turned 90° about z, so R e_x = e_y and Rx(θ) moves it by 2 sin(θ/2).
    # Dataset B: zero pose, R e_x = e_x is on the x axis: no joint error. Vertices (e_z) move 2 sin(θ/2) in both.
    poses = {"A": torch.tensor([0.0, 0.0, math.pi / 2]).expand(3, 21, 3).clone(), "B": torch.zeros(5, 21, 3)}
    report = evaluate_tokenizer(poses, turn_about_x, toy_forward, dataset="amass", split="test", tokenizer="toy",
                                batch_size=2)
    chord_mm = 2000.0 * math.sin(THETA / 2)
    assert report.num_poses == 8
    assert report.per_dataset_mm["A"]["mpjpe"] == pytest.approx(chord_mm, abs=1e-3)  # float32 maths
    assert report.per_dataset_mm["B"]["mpjpe"] == pytest.approx(0.0, abs=1e-3)
    assert report.mpjpe_mm == pytest.approx(chord_mm * 3 / 8, abs=1e-3), "pose-weighted mean over both files"
    assert report.mve_mm == pytest.approx(chord_mm, abs=1e-3)
    identity = evaluate_tokenizer(poses, lambda r: r, toy_forward, dataset="amass", split="test", tokenizer="id")
    assert identity.mpjpe_mm == 0.0 and identity.mve_mm == 0.0


def test_wrong_pose_shape_is_named():
    with pytest.raises(ValueError, match="bad: poses must be"):
        evaluate_tokenizer({"bad": torch.zeros(2, 23, 3)}, turn_about_x, toy_forward, dataset="amass", split="test",
                           tokenizer="toy")


@pytest.fixture(scope="module")
def tokenizer_setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    files = write_tiny_tokenhmr_files(root / "checkpoints", seed=3)
    smpl = write_synthetic_smpl_files(root / "body", seed=1)
    smpl_dir = root / "smpl"
    smpl_dir.mkdir()
    shutil.copy(smpl.smpl_path, smpl_dir / "SMPL_NEUTRAL.pkl")
    data = root / "smplh"
    write_synthetic_pose_folder(data, {"Transitions": 6, "SSM": 4, "MOYO": 3}, split="test", seed=2)
    return files.tokenizer_path, smpl_dir, data


def test_eval_amass_and_moyo_commands(tokenizer_setup, tmp_path, capsys):
    tokenizer, smpl_dir, data = tokenizer_setup
    common = ["--root", str(data), "--tokenizer", str(tokenizer), "--smpl-dir", str(smpl_dir), "--device", "cpu",
              "--models-dir", str(tmp_path)]
    assert cli.main(["eval", "amass", *common, "--out", str(tmp_path / "amass.json")]) == 0
    amass = json.loads((tmp_path / "amass.json").read_text())[0]
    assert amass["num_poses"] == 10 and set(amass["per_dataset_mm"]) == {"Transitions", "SSM"}
    assert np.isfinite(amass["mve_mm"]) and amass["mve_mm"] > 0, "a random tiny tokenizer cannot be exact"
    weighted = (6 * amass["per_dataset_mm"]["Transitions"]["mpjpe"] + 4 * amass["per_dataset_mm"]["SSM"]["mpjpe"]) / 10
    assert amass["mpjpe_mm"] == pytest.approx(weighted, rel=1e-9)
    printed = capsys.readouterr().out
    assert "Transitions" in printed and f"{amass['mve_mm']:5.1f}" in printed
    assert cli.main(["eval", "moyo", *common, "--split", "test", "--out", str(tmp_path / "moyo.json")]) == 0
    moyo = json.loads((tmp_path / "moyo.json").read_text())[0]
    assert moyo["num_poses"] == 3 and list(moyo["per_dataset_mm"]) == ["MOYO"]


def test_tokenizer_is_required_and_loaded_strictly(tokenizer_setup, tmp_path, caplog):
    tokenizer, smpl_dir, data = tokenizer_setup
    with caplog.at_level("ERROR"):
        rc = cli.main(["eval", "amass", "--root", str(data), "--smpl-dir", str(smpl_dir), "--out",
                       str(tmp_path / "a.json")])
    assert rc == 2, f"a missing --tokenizer is a usage error (exit 2), got {rc}"
    assert "pass its file with --tokenizer" in caplog.text, caplog.text
    assert not (tmp_path / "a.json").exists(), "no report without a tokenizer"
    vq = load_pose_vqvae(tokenizer)
    assert not vq.training
    official = read_tokenizer_file(tokenizer)
    net = {k: v for k, v in official.net.items() if not k.startswith("encoder.")}
    torch.save({"net": net, "hparams": official.hparams}, tmp_path / "no_encoder.pth")
    with pytest.raises(CheckpointError, match="missing keys .*encoder"):
        load_pose_vqvae(tmp_path / "no_encoder.pth")
