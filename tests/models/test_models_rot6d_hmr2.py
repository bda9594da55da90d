"""6D conventions (TokenHMR rows vs HMR 2.0 columns) and the HMR 2.0 network end to end on tiny sizes."""

from __future__ import annotations

from dataclasses import replace

import torch

from backend.models import HMR2, HMR2Config, load_hmr2, rot6d_to_rotmat, rotmat_to_rot6d
from backend.models.tiny import TINY_TOKENHMR_CONFIG


def test_rows_and_columns_are_transposes_and_round_trip():
    v = torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    rows, cols = rot6d_to_rotmat(v, "rows"), rot6d_to_rotmat(v, "columns")
    torch.testing.assert_close(rows, cols.transpose(-1, -2))
    eye = torch.eye(3).expand(50, 3, 3)
    torch.testing.assert_close(rows @ rows.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    assert torch.allclose(torch.linalg.det(rows), torch.ones(50), atol=1e-5), "det must be +1"
    for convention in ("rows", "columns"):
        r = rot6d_to_rotmat(v, convention)
        torch.testing.assert_close(rot6d_to_rotmat(rotmat_to_rot6d(r, convention), convention), r, atol=1e-5, rtol=0)
    # rows convention: the first row is the normalised a1
    torch.testing.assert_close(rows[:, 0], torch.nn.functional.normalize(v[:, :3], dim=-1))


def test_hmr2_loads_its_checkpoint_layout_and_uses_columns(tmp_path):
    config = replace(HMR2Config().with_backbone(TINY_TOKENHMR_CONFIG.backbone), decoder=TINY_TOKENHMR_CONFIG.decoder)
    torch.manual_seed(0)
    source = HMR2(config)
    with torch.no_grad():
        source.smpl_head.init_body_pose.copy_(torch.randn(1, 144))
    state = {"initialized": torch.tensor(True), **source.state_dict()}
    state["discriminator.D_conv1.weight"] = torch.zeros(32, 9, 1, 1)  # the HMR 2.0 training discriminator
    state["smpl.joint_map"] = torch.arange(25)
    path = tmp_path / "hmr2.ckpt"
    torch.save({"state_dict": state}, path)
    d = config.decoder
    yaml_path = tmp_path / "model_config.yaml"  # the HMR 2.0 model_config.yaml keys for the decoder sizes
    yaml_path.write_text(
        "MODEL:\n  IMAGE_SIZE: 256\n  SMPL_HEAD:\n    TYPE: transformer_decoder\n    TRANSFORMER_DECODER:\n"
        f"      depth: {d.depth}\n      heads: {d.heads}\n      mlp_dim: {d.mlp_dim}\n      dim_head: {d.dim_head}\n"
        f"      dropout: 0.0\n      emb_dropout: 0.0\n      norm: layer\n      context_dim: {d.context_dim}\n"
    )
    model = load_hmr2(path, yaml_path, backbone=config.backbone)
    img = torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = model(img)
        expected_pose6d = model.smpl_head.decpose(out.token_out) + model.smpl_head.init_body_pose
    assert out.cls_logits is None and out.cls_probs is None, "HMR 2.0 has no tokens"
    torch.testing.assert_close(out.pose_6d, expected_pose6d)
    rot = rot6d_to_rotmat(expected_pose6d, "columns").reshape(2, 24, 3, 3)
    torch.testing.assert_close(out.global_orient, rot[:, :1])
    torch.testing.assert_close(out.body_pose, rot[:, 1:])
    # The network sees only columns 32:224 of the crop (HMR 2.0 slices in forward_step; same numbers).
    edited = img.clone()
    edited[..., :32] = 100.0
    with torch.no_grad():
        torch.testing.assert_close(model(edited).pose_6d, out.pose_6d)


def test_init_weights_and_every_parameter_gets_a_gradient():
    from backend.models import TokenHMR

    torch.manual_seed(0)
    model = TokenHMR(TINY_TOKENHMR_CONFIG)
    model.init_weights()
    std = model.backbone.pos_embed.detach().std().item()
    assert 0.012 < std < 0.025, f"pos_embed should be trunc_normal(0.02) after init_weights; std {std}"
    assert torch.equal(model.backbone.last_norm.weight, torch.ones_like(model.backbone.last_norm.weight))
    model.train()
    out = model(torch.randn(2, 3, 256, 256))
    loss = out.pose_6d.square().mean() + out.betas.square().mean() + out.pred_cam.square().mean()
    loss.backward()
    bad = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not bad, f"parameters without a finite gradient: {bad}"
    frozen = [n for n, p in model.token_decoder.named_parameters() if p.requires_grad]
    assert not frozen, f"the tokenizer decoder must stay frozen (upstream never trains it): {frozen}"
    assert not model.token_decoder.training, "the tokenizer decoder must stay in eval mode"
