"""Building the networks from the official files: ``load_tokenhmr`` and ``load_hmr2``.

The backbone size is not in any official file (the ViT-H factory is hard-coded), so it comes from the caller
(default ViT-H); the decoder sizes come from ``model_config.yaml`` when given (release values otherwise); the
tokenizer architecture comes from ``tokenizer.pth``. Sizes visible in the weights are checked against them with
named errors, then everything loads strictly. Models are built on the ``meta`` device and materialised once, so a
ViT-H is never randomly initialised just to be overwritten.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Callable, Mapping, TypeVar

import torch
import torch.nn as nn
import yaml

from .checkpoint import (
    CheckpointError,
    TokenizerFile,
    filter_hmr2_state_dict,
    filter_tokenhmr_state_dict,
    filter_tokenizer_state_dict,
    load_state_dict_strict,
    read_lightning_state_dict,
    read_tokenizer_file,
)
from .config import HMR2Config, TokenHMRConfig, TransformerDecoderConfig, ViTConfig, backbone_preset
from .hmr import HMR2, TokenHMR
from .quantizer import QuantizeEMAReset
from .token_classifier import TokenClassifier

__all__ = ["build_on_device", "load_hmr2", "load_tokenhmr", "read_official_model_config"]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=nn.Module)

# Keys the official TransformerDecoder accepts from MODEL.SMPL_HEAD.TRANSFORMER_DECODER.
_DECODER_KEYS = {
    "depth", "heads", "mlp_dim", "dim_head", "dropout", "emb_dropout", "emb_dropout_type", "norm", "norm_cond_dim",
    "context_dim", "dim", "skip_token_embedding",
}


def read_official_model_config(path: str | Path) -> dict:
    """Parse an official ``model_config.yaml`` (yacs/OmegaConf YAML) as plain nested dicts; extra keys are kept."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model config not found: {path}")
    with path.open("r", encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict) or "MODEL" not in data:
        raise ValueError(f"{path}: expected a TokenHMR/HMR 2.0 model_config.yaml with a MODEL section")
    return data


def _decoder_from_yaml(model_cfg: Mapping, base: TransformerDecoderConfig, source: str) -> TransformerDecoderConfig:
    head = model_cfg.get("MODEL", {}).get("SMPL_HEAD", {})
    values = dict(head.get("TRANSFORMER_DECODER", {}) or {})
    unknown = sorted(set(values) - _DECODER_KEYS)
    if unknown:
        raise ValueError(f"{source}: MODEL.SMPL_HEAD.TRANSFORMER_DECODER has unsupported keys {unknown}")
    if values.pop("norm", "layer") != "layer" or int(values.pop("norm_cond_dim", -1)) != -1:
        raise ValueError(f"{source}: only TRANSFORMER_DECODER.norm 'layer' is supported (the released models)")
    if values.pop("skip_token_embedding", False):
        raise ValueError(f"{source}: TRANSFORMER_DECODER.skip_token_embedding is not supported (not released)")
    # Token dropout of any type is identity at inference (and 0 in the releases).
    values.pop("emb_dropout_type", None)
    if float(values.pop("emb_dropout", 0.0) or 0.0) != 0.0:
        log.info("%s: emb_dropout is a training-only option and is ignored", source)
    return replace(base, **{k: (float(v) if k == "dropout" else int(v)) for k, v in values.items()})


def _check_model_config(model_cfg: Mapping, expected_type: str, source: str) -> None:
    model = model_cfg.get("MODEL", {})
    head_type = model.get("SMPL_HEAD", {}).get("TYPE")
    if head_type is not None and head_type != expected_type:
        other = "HMR 2.0 (load_hmr2)" if expected_type == "token" else "TokenHMR (load_tokenhmr)"
        raise CheckpointError(
            f"{source}: MODEL.SMPL_HEAD.TYPE is {head_type!r} but this loader needs {expected_type!r}; "
            f"the config belongs to {other}"
        )
    if model.get("IMAGE_SIZE", 256) != 256:
        raise ValueError(f"{source}: MODEL.IMAGE_SIZE must be 256 (both released models); got {model['IMAGE_SIZE']}")
    if model.get("SMPL_HEAD", {}).get("JOINT_REP", "6d") != "6d":
        raise ValueError(f"{source}: only MODEL.SMPL_HEAD.JOINT_REP '6d' is supported (upstream raises for 'aa')")
    if model.get("SMPL_HEAD", {}).get("TRANSFORMER_INPUT", "zero") != "zero":
        raise ValueError(f"{source}: only MODEL.SMPL_HEAD.TRANSFORMER_INPUT 'zero' is supported (the released models)")


def _resolve_backbone(backbone: ViTConfig | str) -> ViTConfig:
    return backbone_preset(backbone) if isinstance(backbone, str) else backbone


def _check_backbone(state_dict: Mapping[str, torch.Tensor], config: ViTConfig, source: str) -> None:
    pos = state_dict.get("backbone.pos_embed")
    if pos is None:
        return  # the strict load names the missing key
    depth = len({k.split(".")[2] for k in state_dict if k.startswith("backbone.blocks.")})
    if pos.shape[-1] != config.embed_dim or depth != config.depth:
        raise CheckpointError(
            f"{source}: the checkpoint backbone has embed_dim {pos.shape[-1]} and depth {depth}, the configured one "
            f"embed_dim {config.embed_dim} and depth {config.depth}. Pass the matching backbone config "
            "(the released TokenHMR and HMR 2.0 use ViT-H: 'vit_h')"
        )


def _token_count_in_checkpoint(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    weight = state_dict.get("smpl_head.decpose.mixer_head.0.MLP_token.ff.0.weight")
    return None if weight is None else int(weight.shape[1])


def _check_tokenizer_against_checkpoint(
    tokenizer: TokenizerFile, state_dict: Mapping[str, torch.Tensor], model_cfg: Mapping | None, sources: str
) -> None:
    arch = tokenizer.arch
    tokens = _token_count_in_checkpoint(state_dict)
    if tokens is not None and tokens != arch.num_tokens:
        raise CheckpointError(
            f"{sources}: token count mismatch: the tokenizer architecture (TOKEN_SIZE_MUL={arch.token_size_mul}, "
            f"DOWN_T={arch.down_t}) decodes {arch.num_tokens} tokens but the checkpoint's token classifier predicts "
            f"{tokens}. Use the tokenizer.pth from the same TokenHMR download as the checkpoint"
        )
    classes = state_dict.get("smpl_head.decpose.class_pred_layer.weight")
    if classes is not None and classes.shape[0] != arch.nb_code:
        raise CheckpointError(
            f"{sources}: codebook size mismatch: the tokenizer has {arch.nb_code} codes but the checkpoint's token "
            f"classifier predicts {classes.shape[0]} classes. Use the tokenizer.pth from the same download"
        )
    if model_cfg is not None:
        tok_cfg = model_cfg.get("MODEL", {}).get("SMPL_HEAD", {}).get("TOKENIZER", {}) or {}
        if "TOKEN_NUM" in tok_cfg and int(tok_cfg["TOKEN_NUM"]) != arch.num_tokens:
            raise CheckpointError(
                f"{sources}: model config MODEL.SMPL_HEAD.TOKENIZER.TOKEN_NUM is {tok_cfg['TOKEN_NUM']} but the "
                f"tokenizer architecture gives {arch.num_tokens} tokens"
            )
        if "TOKEN_CLASS_NUM" in tok_cfg and int(tok_cfg["TOKEN_CLASS_NUM"]) != arch.nb_code:
            raise CheckpointError(
                f"{sources}: model config TOKEN_CLASS_NUM is {tok_cfg['TOKEN_CLASS_NUM']} but the tokenizer "
                f"codebook has {arch.nb_code} codes"
            )


def build_on_device(factory: Callable[[], M], device: torch.device | str = "cpu") -> M:
    """Build a module on ``meta`` and allocate it (uninitialised) on ``device``; the caller then loads weights.

    Non-persistent quantizer statistics are reset to their defined initial values.
    """
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device=device)
    for sub in _all_modules(module):
        if isinstance(sub, QuantizeEMAReset):
            sub.reset_ema_state()
    return module


def _all_modules(module: nn.Module) -> list[nn.Module]:
    """Registered submodules plus the tokenizer decoders that token classifiers hold outside the registry."""
    found = list(module.modules())
    for sub in list(found):
        if isinstance(sub, TokenClassifier):
            found.extend(sub.token_decoder.modules())
    return found


def tokenhmr_config_for(
    tokenizer: TokenizerFile, model_cfg: Mapping | None, backbone: ViTConfig, source: str = "model config"
) -> TokenHMRConfig:
    """The ``TokenHMRConfig`` described by a tokenizer file, an optional official model config and a backbone."""
    base = TokenHMRConfig(tokenizer=tokenizer.arch).with_backbone(backbone)
    if model_cfg is None:
        return base
    _check_model_config(model_cfg, "token", source)
    decoder = _decoder_from_yaml(model_cfg, base.decoder, source)
    head = model_cfg.get("MODEL", {}).get("SMPL_HEAD", {})
    num_body_joints = int(model_cfg.get("SMPL", {}).get("NUM_BODY_JOINTS", 23))
    return replace(base, decoder=decoder, ief_iters=int(head.get("IEF_ITERS", 1)), num_body_joints=num_body_joints)


def load_tokenhmr(
    checkpoint_path: str | Path,
    tokenizer_path: str | Path,
    model_config_path: str | Path | None = None,
    backbone: ViTConfig | str = "vit_h",
    device: torch.device | str = "cpu",
) -> TokenHMR:
    """Load the official TokenHMR checkpoint and tokenizer strictly; returns the model in eval mode.

    Args:
        checkpoint_path: ``tokenhmr_model_latest.ckpt`` (Lightning, ``state_dict``).
        tokenizer_path: ``tokenizer.pth`` (``net`` + ``hparams``).
        model_config_path: optional ``model_config.yaml`` (decoder sizes; release values otherwise).
        backbone: backbone config or preset name (the released model is ViT-H).
        device: where to put the model.

    Returns:
        The loaded ``TokenHMR``.
    """
    checkpoint_path, tokenizer_path = Path(checkpoint_path), Path(tokenizer_path)
    tokenizer = read_tokenizer_file(tokenizer_path)
    state_dict = filter_tokenhmr_state_dict(read_lightning_state_dict(checkpoint_path))
    model_cfg = read_official_model_config(model_config_path) if model_config_path is not None else None
    config = tokenhmr_config_for(tokenizer, model_cfg, _resolve_backbone(backbone), str(model_config_path))
    sources = f"{checkpoint_path.name} + {tokenizer_path.name}"
    _check_tokenizer_against_checkpoint(tokenizer, state_dict, model_cfg, sources)
    _check_backbone(state_dict, config.backbone, checkpoint_path.name)
    model = build_on_device(lambda: TokenHMR(config), device)
    load_state_dict_strict(model, state_dict, str(checkpoint_path))
    load_state_dict_strict(model.token_decoder, filter_tokenizer_state_dict(tokenizer.net), str(tokenizer_path))
    return model.eval()


def load_hmr2(
    checkpoint_path: str | Path,
    model_config_path: str | Path | None = None,
    backbone: ViTConfig | str = "vit_h",
    device: torch.device | str = "cpu",
) -> HMR2:
    """Load an official HMR 2.0 checkpoint strictly (``discriminator.*``, ``smpl.*`` ignored); eval mode.

    Args:
        checkpoint_path: the HMR 2.0 Lightning ``.ckpt``.
        model_config_path: optional ``model_config.yaml``.
        backbone: backbone config or preset name (ViT-H for the release).
        device: where to put the model.

    Returns:
        The loaded ``HMR2``.
    """
    checkpoint_path = Path(checkpoint_path)
    state_dict = filter_hmr2_state_dict(read_lightning_state_dict(checkpoint_path))
    config = HMR2Config().with_backbone(_resolve_backbone(backbone))
    if model_config_path is not None:
        model_cfg = read_official_model_config(model_config_path)
        _check_model_config(model_cfg, "transformer_decoder", str(model_config_path))
        config = replace(config, decoder=_decoder_from_yaml(model_cfg, config.decoder, str(model_config_path)))
    _check_backbone(state_dict, config.backbone, checkpoint_path.name)
    model = build_on_device(lambda: HMR2(config), device)
    load_state_dict_strict(model, state_dict, str(checkpoint_path))
    return model.eval()
