"""Training config files: strict keys, typed values, nested dataclasses, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import load_config, save_config
from training.hmr import HMRTrainConfig
from training.hmr_data import DatasetSpec
from training.tokenizer import TokenizerTrainConfig

REPO = Path(__file__).resolve().parents[2]


def test_yaml_config_nested_and_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "hmr.yaml"
    path.write_text(
        "train_data:\n  COCO: {shards: ['coco/*.tar'], weight: 0.1}\n"
        "  BEDLAM: {shards: ['b/*.tar'], weight: 0.18, gt_3d: true}\n"
        "backbone: {embed_dim: 32, depth: 1, num_heads: 2, img_size: [256, 192]}\nlr_milestones: [10, 20]\n"
    )
    cfg = load_config(HMRTrainConfig, path)
    assert cfg.train_data["BEDLAM"] == DatasetSpec(("b/*.tar",), 0.18, True), f"got {cfg.train_data['BEDLAM']}"
    assert cfg.backbone.embed_dim == 32 and cfg.backbone.img_size == (256, 192), f"got {cfg.backbone}"
    assert cfg.lr_milestones == (10, 20), f"got {cfg.lr_milestones}"
    out = tmp_path / "again.json"
    save_config(cfg, out)
    assert load_config(HMRTrainConfig, out) == cfg, "config changed in a JSON round trip"


def test_unknown_keys_and_string_milestones_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("batch_sise: 12\n")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['batch_sise'\]"):
        load_config(TokenizerTrainConfig, path)
    path.write_text("lr_milestones: ['75000', '100000']\n")
    with pytest.raises(ValueError, match=r"lr_milestones\[0\]: expected an integer"):
        load_config(TokenizerTrainConfig, path)
    path.write_text("arch: {nb_codes: 12}\n")
    with pytest.raises(ValueError, match="nb_codes"):
        load_config(TokenizerTrainConfig, path)


@pytest.mark.parametrize("name", ["tokenizer_release.yaml", "tokenizer_synthetic_cpu.yaml"])
def test_shipped_tokenizer_configs_load(name: str) -> None:
    cfg = load_config(TokenizerTrainConfig, REPO / "training" / "configs" / name)
    assert all(isinstance(m, int) for m in cfg.lr_milestones), f"milestones must be ints: {cfg.lr_milestones}"
    assert cfg.arch.num_tokens in (20, 160), f"unexpected token count {cfg.arch.num_tokens}"


def test_shipped_hmr_config_loads() -> None:
    cfg = load_config(HMRTrainConfig, REPO / "training" / "configs" / "tokenhmr_release.yaml")
    assert {n for n, d in cfg.train_data.items() if d.gt_3d} == {"H36M-TRAIN-WMASK"}, "only H36M is 3D GT here"
    assert sum(d.weight for d in cfg.train_data.values()) == pytest.approx(0.82), "official weights (no BEDLAM)"
