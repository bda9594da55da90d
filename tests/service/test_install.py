"""`tokenmocap models install`: from a folder or a zip of the official downloads, verified, converted to
safetensors, placed in the layout doctor and the engines read; clear reports of what is missing or broken."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from backend import cli
from backend.body import write_synthetic_smpl_files
from backend.install import ENGINE_REQUIREMENTS, InstallError, install_models, installed_state
from backend.models import load_installed_model, load_tokenhmr, write_tiny_tokenhmr_files


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    root = tmp_path_factory.mktemp("dl")
    tiny = write_tiny_tokenhmr_files(root / "data" / "checkpoints", seed=5)
    write_synthetic_smpl_files(root / "data" / "body_models", seed=5)
    return root, tiny


def _zip(folder, target):
    with zipfile.ZipFile(target, "w") as zf:
        for path in folder.rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(folder))
    return target


def test_install_from_zip_converts_weights_exactly(downloads, tmp_path):
    root, tiny = downloads
    report = install_models(_zip(root, tmp_path / "data.zip"), tmp_path / "models")
    assert not report.failed, report.failed
    state = installed_state(tmp_path / "models")
    assert state.missing_for("tokenhmr") == [], state.present
    installed = load_installed_model(tmp_path / "models" / "tokenhmr")
    original = load_tokenhmr(tiny.checkpoint_path, tiny.tokenizer_path, tiny.model_config_path,
                             backbone=tiny.config.backbone)
    for (key, a), (key_b, b) in zip(installed.state_dict().items(), original.state_dict().items()):
        assert key == key_b and np.array_equal(a.numpy(), b.numpy()), key
    for a, b in zip(installed.token_decoder.state_dict().values(), original.token_decoder.state_dict().values()):
        assert np.array_equal(a.numpy(), b.numpy()), "tokenizer decoder weights changed in conversion"


def test_partial_install_reports_exactly_what_is_missing(downloads, tmp_path, capsys):
    root, _ = downloads
    only_smpl = tmp_path / "smpl_only"
    (only_smpl / "smpl").mkdir(parents=True)
    (only_smpl / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes((root / "data/body_models/smpl/SMPL_NEUTRAL.pkl").read_bytes())
    code = cli.main(["models", "install", str(only_smpl), "--models-dir", str(tmp_path / "models")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "installed smpl/SMPL_NEUTRAL.pkl" in out, out
    for rel in ("SMPL_to_J19.pkl", "smpl_mean_params.npz", "tokenhmr/model.safetensors"):
        assert rel in out.split("tokenhmr: missing", 1)[1], f"{rel} not reported missing:\n{out}"
    assert "tokenhmr/config.json" not in out.split("tokenhmr: missing", 1)[1], "config is derived, not downloaded"


def test_corrupt_checkpoint_is_reported_and_nothing_half_installed(downloads, tmp_path):
    root, tiny = downloads
    broken = tmp_path / "broken"
    broken.mkdir()
    data = tiny.checkpoint_path.read_bytes()
    (broken / "tokenhmr_model_latest.ckpt").write_bytes(data[: len(data) // 2])
    (broken / "tokenizer.pth").write_bytes(tiny.tokenizer_path.read_bytes())
    report = install_models(broken, tmp_path / "models")
    assert len(report.failed) == 1 and "tokenhmr_model_latest.ckpt" in report.failed[0][0], report.failed
    assert "damaged" in report.failed[0][1] or "truncated" in report.failed[0][1], report.failed[0][1]
    assert not (tmp_path / "models" / "tokenhmr").exists(), "a failed checkpoint left files behind"


def test_tokenizer_without_checkpoint_and_empty_folders(downloads, tmp_path):
    root, tiny = downloads
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "tokenizer.pth").write_bytes(tiny.tokenizer_path.read_bytes())
    report = install_models(alone, tmp_path / "models")
    assert report.failed and "no TokenHMR checkpoint" in report.failed[0][1], report.failed
    (tmp_path / "empty").mkdir()
    with pytest.raises(InstallError, match="no official file found"):
        install_models(tmp_path / "empty", tmp_path / "models")
    with pytest.raises(InstallError, match="does not exist"):
        install_models(tmp_path / "missing", tmp_path / "models")


def test_zip_with_path_traversal_is_refused(tmp_path):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(InstallError, match="escapes"):
        install_models(evil, tmp_path / "models")
    assert not (tmp_path.parent / "escaped.txt").exists()


def test_doctor_reads_the_installed_layout(downloads, tmp_path, monkeypatch, capsys):
    root, _ = downloads
    monkeypatch.setenv("TOKENMOCAP_HOME", str(tmp_path))
    assert cli.main(["models", "install", str(root)]) == 0
    capsys.readouterr()
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for rel in ENGINE_REQUIREMENTS["tokenhmr"]:
        assert f"[ok] {rel}" in out, f"{rel} not shown as installed:\n{out}"
    assert "tokenhmr: ready" in out, out
