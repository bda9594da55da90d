"""`tokenmocap eval` end to end: a 3DPW folder in the release layout, the tiny TokenHMR installed through
`tokenmocap models install`, synthetic SMPL models."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
import skimage.data

from backend import cli
from backend.body import write_synthetic_smpl_files
from backend.eval.body_model import GenderedSMPL
from backend.models import write_tiny_tokenhmr_files

from .test_datasets import write_3dpw


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("downloads")
    write_tiny_tokenhmr_files(root / "checkpoints", seed=1)
    files = write_synthetic_smpl_files(root / "body_models", seed=1)
    models = tmp_path_factory.mktemp("models")
    assert cli.main(["models", "install", str(root), "--models-dir", str(models)]) == 0
    smpl_dir = tmp_path_factory.mktemp("smpl")
    for gender in ("NEUTRAL", "MALE", "FEMALE"):
        shutil.copy(files.smpl_path, smpl_dir / f"SMPL_{gender}.pkl")
    rng = np.random.default_rng(0)
    reg = np.abs(rng.normal(size=(17, 6890)))
    np.save(models / "J_regressor_h36m.npy", reg / reg.sum(1, keepdims=True))
    return models, smpl_dir


def test_eval_3dpw_writes_report_plot_and_table(installed, tmp_path, capsys):
    models, smpl_dir = installed
    write_3dpw(tmp_path / "3DPW")
    frames = tmp_path / "3DPW" / "imageFiles" / "courtyard_test_00"
    frames.mkdir(parents=True)
    for i in range(4):
        cv2.imwrite(str(frames / f"image_{i:05d}.jpg"), skimage.data.astronaut()[:, :, ::-1])
    out = tmp_path / "report" / "3dpw.json"
    rc = cli.main(["eval", "3dpw", "--root", str(tmp_path / "3DPW"), "--model", "tokenhmr", "--models-dir",
                   str(models), "--smpl-dir", str(smpl_dir), "--out", str(out), "--device", "cpu"])
    assert rc == 0
    report = json.loads(out.read_text())[0]
    assert report["num_samples"] == 2, report  # frames 0 and 1 are the valid ones in the synthetic sequence
    assert report["engine"] == "tokenhmr" and report["dataset"] == "3dpw"
    assert np.isfinite(report["mpjpe_mm"]) and report["pa_mpjpe_mm"] <= report["mpjpe_mm"] + 1e-6
    assert set(report["per_sequence_mm"]) == {"courtyard_test_00"}
    assert cv2.imread(str(out.with_suffix(".png"))) is not None
    printed = capsys.readouterr().out
    assert "PA-MPJPE" in printed and f"{report['mpjpe_mm']:5.1f}" in printed


def test_missing_gendered_model_is_an_error_not_a_fallback(installed, tmp_path):
    _, smpl_dir = installed
    only_neutral = tmp_path / "smpl"
    only_neutral.mkdir()
    shutil.copy(smpl_dir / "SMPL_NEUTRAL.pkl", only_neutral)
    bodies = GenderedSMPL(only_neutral)
    assert bodies("neutral", np.zeros(3), np.zeros(69), np.zeros(10)).shape == (6890, 3)
    with pytest.raises(FileNotFoundError, match="SMPL_FEMALE.pkl"):
        bodies("female", np.zeros(3), np.zeros(69), np.zeros(10))


def test_missing_regressor_names_the_file(installed, tmp_path):
    models, smpl_dir = installed
    write_3dpw(tmp_path / "3DPW")
    with pytest.raises(FileNotFoundError, match="J_regressor_h36m.npy"):
        cli.main(["eval", "3dpw", "--root", str(tmp_path / "3DPW"), "--models-dir", str(models), "--smpl-dir",
                  str(smpl_dir), "--h36m-regressor", str(tmp_path / "nope.npy"), "--out", str(tmp_path / "r.json")])
