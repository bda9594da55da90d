"""Clear errors for wrong files and wrong inputs: wrong checkpoint type, truncated files, tokenizer/checkpoint
mismatches, HMR 2.0 vs TokenHMR, wrong image tensors, and the restricted unpicklers refusing foreign globals."""

from __future__ import annotations

import pickle
from dataclasses import replace

import pytest
import torch

from backend.models import (
    CheckpointError,
    HMR2,
    HMR2Config,
    TokenizerArch,
    load_hmr2,
    load_tokenhmr,
    read_lightning_state_dict,
    read_tokenizer_file,
    write_tiny_tokenhmr_files,
)
from backend.models.tiny import TINY_TOKENHMR_CONFIG


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_tokenhmr_files(tmp_path_factory.mktemp("tiny"), seed=0)


def _load(files, checkpoint=None, tokenizer=None, **kwargs):
    return load_tokenhmr(
        checkpoint or files.checkpoint_path,
        tokenizer or files.tokenizer_path,
        files.model_config_path,
        backbone=files.config.backbone,
        **kwargs,
    )


def test_tokenizer_passed_as_checkpoint(tiny):
    with pytest.raises(CheckpointError, match="This is\\s+the pose tokenizer") as err:
        _load(tiny, checkpoint=tiny.tokenizer_path)
    assert "'net' and 'hparams'" in str(err.value), str(err.value)


def test_training_resume_file_passed_as_checkpoint(tiny, tmp_path):
    """A trainer's last.ckpt (model + optimizer + RNG state, numpy inside) is named as such, not as a bad layout."""
    import numpy as np
    import torch

    resume = tmp_path / "last.ckpt"
    torch.save({"model": {"backbone.w": torch.zeros(1)}, "optimizer": {}, "scheduler": {}, "step": 7,
                "rng": {"numpy": np.random.get_state()}}, resume)
    with pytest.raises(CheckpointError, match="resume file of our trainer") as err:
        _load(tiny, checkpoint=resume)
    assert "tokenhmr_model.ckpt" in str(err.value), str(err.value)


def test_checkpoint_passed_as_tokenizer(tiny):
    with pytest.raises(CheckpointError, match="This is a TokenHMR/HMR 2.0 checkpoint") as err:
        _load(tiny, tokenizer=tiny.checkpoint_path)
    assert "expected keys 'net' and 'hparams'" in str(err.value), str(err.value)


@pytest.mark.parametrize("which", ["checkpoint_path", "tokenizer_path"])
def test_truncated_files(tiny, tmp_path, which):
    source = getattr(tiny, which)
    damaged = tmp_path / source.name
    damaged.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    kwargs = {"checkpoint": damaged} if which == "checkpoint_path" else {"tokenizer": damaged}
    with pytest.raises(CheckpointError, match="damaged") as err:
        _load(tiny, **kwargs)
    assert str(damaged) in str(err.value), f"the error must name the file: {err.value}"


def test_not_a_torch_file(tiny, tmp_path):
    bogus = tmp_path / "model.ckpt"
    bogus.write_text("<html>404 not found</html>")
    with pytest.raises(CheckpointError, match="not a PyTorch file"):
        read_lightning_state_dict(bogus)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="model checkpoint not found"):
        read_lightning_state_dict(tmp_path / "nope.ckpt")


def test_tokenizer_with_another_token_count(tiny, tmp_path):
    other = replace(TINY_TOKENHMR_CONFIG, tokenizer=replace(TINY_TOKENHMR_CONFIG.tokenizer, token_size_mul=2))
    assert other.num_tokens != TINY_TOKENHMR_CONFIG.num_tokens, "test needs another token count"
    files = write_tiny_tokenhmr_files(tmp_path, config=other)
    with pytest.raises(CheckpointError, match="token count mismatch") as err:
        _load(tiny, tokenizer=files.tokenizer_path)
    message = str(err.value)
    assert f"decodes {other.num_tokens} tokens" in message and f"predicts {TINY_TOKENHMR_CONFIG.num_tokens}" in message


def test_tokenizer_with_another_codebook_size(tiny, tmp_path):
    other = replace(TINY_TOKENHMR_CONFIG, tokenizer=replace(TINY_TOKENHMR_CONFIG.tokenizer, nb_code=48))
    files = write_tiny_tokenhmr_files(tmp_path, config=other)
    with pytest.raises(CheckpointError, match="codebook size mismatch: the tokenizer has 48 codes"):
        _load(tiny, tokenizer=files.tokenizer_path)


def test_wrong_backbone_size(tiny):
    with pytest.raises(CheckpointError, match="embed_dim 32 and depth 1.*'vit_h'"):
        load_tokenhmr(tiny.checkpoint_path, tiny.tokenizer_path, tiny.model_config_path, backbone="vit_b")


def test_strict_load_names_the_keys(tiny, tmp_path):
    state = torch.load(tiny.checkpoint_path, weights_only=True)["state_dict"]
    del state["smpl_head.deccam.bias"]
    state["smpl_head.extra.weight"] = torch.zeros(1)
    state["backbone.last_norm.weight"] = torch.zeros(7)
    edited = tmp_path / "edited.ckpt"
    torch.save({"state_dict": state}, edited)
    with pytest.raises(CheckpointError) as err:
        _load(tiny, checkpoint=edited)
    message = str(err.value)
    for part in ("missing keys 1: [smpl_head.deccam.bias]", "unexpected keys 1: [smpl_head.extra.weight]",
                 "backbone.last_norm.weight (file (7,), model (32,))"):
        assert part in message, f"expected {part!r} in: {message}"


def test_hmr2_and_tokenhmr_checkpoints_are_told_apart(tiny, tmp_path):
    config = HMR2Config().with_backbone(TINY_TOKENHMR_CONFIG.backbone)
    config = replace(config, decoder=TINY_TOKENHMR_CONFIG.decoder)
    hmr2_path = tmp_path / "hmr2.ckpt"
    torch.save({"state_dict": HMR2(config).state_dict()}, hmr2_path)
    with pytest.raises(CheckpointError, match="found an HMR 2.0 one"):
        _load(tiny, checkpoint=hmr2_path)
    with pytest.raises(CheckpointError, match="found a TokenHMR one"):
        load_hmr2(tiny.checkpoint_path, backbone=TINY_TOKENHMR_CONFIG.backbone)


@pytest.mark.parametrize(
    "img, error, pattern",
    [
        (torch.zeros(1, 3, 256, 256, dtype=torch.uint8), TypeError, "floating tensor.*uint8"),
        (torch.zeros(1, 256, 256, 3), ValueError, r"\(B,3,256,256\).*\(1, 256, 256, 3\)"),
        (torch.zeros(3, 256, 256), ValueError, r"got \(3, 256, 256\)"),
        (torch.zeros(2, 3, 224, 224), ValueError, r"got \(2, 3, 224, 224\)"),
        ([[0.0]], TypeError, "torch.Tensor.*list"),
    ],
)
def test_wrong_image_tensor(tiny, img, error, pattern):
    model = _load(tiny)
    with pytest.raises(error, match=pattern):
        model(img)


class _Evil:
    def __reduce__(self):
        return (print, ("executed",))


class _Callback:  # stands for Lightning/OmegaConf objects in hyper_parameters and callbacks (also as dict keys)
    def __init__(self):
        self.value = 3

    def __hash__(self):
        return 1


def test_tokenizer_unpickler_refuses_foreign_globals(tmp_path):
    path = tmp_path / "tokenizer.pth"
    torch.save({"net": {}, "hparams": _Evil()}, path)
    with pytest.raises(CheckpointError, match="references __builtin__.print"):
        read_tokenizer_file(path)


def test_full_lightning_checkpoint_loads_without_running_its_objects(tiny, tmp_path):
    state = torch.load(tiny.checkpoint_path, weights_only=True)["state_dict"]
    path = tmp_path / "full.ckpt"
    torch.save({"state_dict": state, "epoch": 3, "hyper_parameters": {"cfg": _Callback()},
                "callbacks": {_Callback(): {"best": torch.tensor(1.0)}}}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    loaded = read_lightning_state_dict(path)
    assert set(loaded) == set(state), "the state_dict of a full Lightning checkpoint must load intact"
    key = "backbone.pos_embed"
    assert torch.equal(loaded[key], state[key]), f"{key} changed"


def test_arch_with_fractional_token_count_is_rejected():
    with pytest.raises(ValueError, match="fractional token count"):
        TokenizerArch(token_size_mul=0, down_t=3).num_tokens
