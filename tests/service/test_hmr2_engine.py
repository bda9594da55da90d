"""HMR 2.0 through the same path as TokenHMR: an official-layout Lightning checkpoint (tiny, random, with the
`discriminator.*` and `smpl.*` groups the loader must drop) is installed, loaded and served."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from backend.body import write_synthetic_smpl_files
from backend.install import install_models
from backend.models import HMR2, HMR2Config, TransformerDecoderConfig, ViTConfig

from .test_model_service import BOXES

TINY_HMR2 = HMR2Config(backbone=ViTConfig(embed_dim=32, depth=1, num_heads=2, drop_path_rate=0.0),
                       decoder=TransformerDecoderConfig(depth=1, heads=2, dim_head=8, mlp_dim=16, context_dim=32))

MODEL_CONFIG_YAML = """MODEL:
  IMAGE_SIZE: 256
  SMPL_HEAD:
    TYPE: transformer_decoder
    TRANSFORMER_DECODER:
      depth: 1
      heads: 2
      mlp_dim: 16
      dim_head: 8
      dropout: 0.0
      emb_dropout: 0.0
      norm: layer
      context_dim: 32
"""


@pytest.fixture(scope="module")
def hmr2_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("hmr2_download")
    torch.manual_seed(0)
    model = HMR2(TINY_HMR2)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor) * 0.05)
        identity_6d = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).repeat(24)  # columns convention
        model.smpl_head.init_body_pose.copy_(identity_6d)
        model.smpl_head.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))
    state = {"initialized": torch.tensor(True), **model.state_dict(),
             "discriminator.D_conv1.weight": torch.zeros(3, 3), "smpl.joint_map": torch.arange(25)}
    ckpt_dir = root / "logs" / "train" / "multiruns" / "hmr2" / "0" / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    torch.save({"state_dict": state}, ckpt_dir / "epoch=35-step=1000000.ckpt")
    (ckpt_dir / "model_config.yaml").write_text(MODEL_CONFIG_YAML)
    backbone = {"embed_dim": 32, "depth": 1, "num_heads": 2, "drop_path_rate": 0.0}
    (ckpt_dir / "fixture_config.json").write_text(json.dumps({"backbone": backbone}))
    write_synthetic_smpl_files(root / "data", seed=1)
    models = tmp_path_factory.mktemp("hmr2_models")
    report = install_models(root, models)
    assert not report.failed, report.failed
    assert report.state.missing_for("hmr2") == [], report.lines()
    return models


def test_hmr2_is_installed_and_served(hmr2_models, start_server, make_client, astronaut_bgr):
    running = start_server(models_dir=hmr2_models, engine="hmr2", detector="full_frame", device="cpu")
    client = make_client(running.address, timeout_ms=60_000)
    hello = client.hello()
    assert hello["engines"]["hmr2"]["available"] and not hello["engines"]["tokenhmr"]["available"], hello["engines"]
    result = client.reconstruct(astronaut_bgr, boxes=BOXES)
    assert result["engine"] == "hmr2" and len(result["people"]) == 2, result
    for person in result["people"]:
        assert person["engine"] == "hmr2"
        for key in ("global_orient", "body_pose", "betas", "cam_t_full", "keypoints_2d"):
            assert np.all(np.isfinite(person[key])), (key, person[key])
