"""The tiny official-format TokenHMR files other tests build on: format, determinism, strict round trip."""

from __future__ import annotations

import json
import pickle
import pickletools
import zipfile

import pytest
import torch

from backend.models import load_tokenhmr, read_tokenizer_file
from backend.models.tiny import TINY_TOKENHMR_CONFIG, backbone_config_from_json, write_tiny_tokenhmr_files

# The globals of an official tokenizer.pth (shared/fixtures/tokenhmr_parity/README.md).
OFFICIAL_TOKENIZER_GLOBALS = {
    "collections OrderedDict",
    "yacs.config CfgNode",
    "__builtin__ set",
    "torch FloatStorage",
    "torch._utils _rebuild_tensor_v2",
}


def _pickle_globals(path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        data = archive.read(name)
    return {str(arg) for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "STACK_GLOBAL")}


def test_tokenizer_file_pickles_like_the_official_one(tmp_path):
    files = write_tiny_tokenhmr_files(tmp_path)
    found = _pickle_globals(files.tokenizer_path)
    assert found == OFFICIAL_TOKENIZER_GLOBALS, f"expected globals {OFFICIAL_TOKENIZER_GLOBALS}, found {found}"
    with pytest.raises(pickle.UnpicklingError):
        torch.load(files.tokenizer_path, weights_only=True)
    tokenizer = read_tokenizer_file(files.tokenizer_path)
    assert tokenizer.arch == TINY_TOKENHMR_CONFIG.tokenizer, f"{tokenizer.arch} != {TINY_TOKENHMR_CONFIG.tokenizer}"
    assert tokenizer.hparams["ARCH"]["NUM_TOKENS"] == -1, tokenizer.hparams["ARCH"]


def test_checkpoint_has_the_official_layout(tmp_path):
    files = write_tiny_tokenhmr_files(tmp_path)
    container = torch.load(files.checkpoint_path, weights_only=True)
    assert list(container) == ["state_dict"], f"top-level keys {list(container)}"
    groups = {k.split(".")[0] for k in container["state_dict"]}
    assert groups == {"initialized", "backbone", "smpl_head", "smpl"}, f"key groups {groups}"


def test_files_load_strictly_and_run(tmp_path):
    files = write_tiny_tokenhmr_files(tmp_path, seed=3)
    backbone = backbone_config_from_json(json.loads(files.backbone_config_path.read_text()))
    assert backbone == files.config.backbone, f"{backbone} != {files.config.backbone}"
    model = load_tokenhmr(files.checkpoint_path, files.tokenizer_path, files.model_config_path, backbone=backbone)
    saved = torch.load(files.checkpoint_path, weights_only=True)["state_dict"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), f"{key} differs from the checkpoint after loading"
    net = read_tokenizer_file(files.tokenizer_path).net
    assert torch.equal(model.token_decoder.quantizer.codebook, net["quantizer.codebook"]), "codebook not loaded"
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 256, generator=torch.Generator().manual_seed(0)))
    assert out.body_pose.shape == (2, 23, 3, 3), f"body_pose shape {tuple(out.body_pose.shape)}"
    assert out.cls_probs.shape == (2, 20, 32), f"cls_probs shape {tuple(out.cls_probs.shape)}"
    eye = torch.eye(3).expand(2, 23, 3, 3)
    err = (out.body_pose @ out.body_pose.transpose(-1, -2) - eye).abs().max().item()
    assert err < 1e-5, f"body_pose rotations not orthonormal: max |R R^T - I| = {err}"
    peak = out.cls_probs.max(-1).values.mean().item()
    assert peak > 0.2, f"token softmax should be peaked (mean max prob > 0.2); got {peak}"


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    a = write_tiny_tokenhmr_files(tmp_path / "a", seed=1)
    b = write_tiny_tokenhmr_files(tmp_path / "b", seed=1)
    c = write_tiny_tokenhmr_files(tmp_path / "c", seed=2)
    sa, sb, sc = (torch.load(f.checkpoint_path, weights_only=True)["state_dict"] for f in (a, b, c))
    key = "backbone.blocks.0.attn.qkv.weight"
    assert torch.equal(sa[key], sb[key]), "same seed must give the same weights"
    assert not torch.equal(sa[key], sc[key]), "different seeds must give different weights"
