"""Tiny TokenHMR files in the exact official formats, with random seeded weights, for tests anywhere in the project.

``write_tiny_tokenhmr_files(folder, seed)`` writes:

* ``tokenhmr_tiny.ckpt``: ``torch.save({'state_dict': ...})`` like the released ``tokenhmr_model_latest.ckpt``
  (keys ``backbone.*``, ``smpl_head.*``, plus ``initialized`` and an ``smpl.joint_map`` buffer that loaders must ignore).
* ``tokenizer.pth``: ``torch.save({'net': ..., 'hparams': <yacs.config.CfgNode>})``. The ``hparams`` object is
  pickled under the global ``yacs.config.CfgNode`` exactly as the official file, without needing yacs installed,
  so ``torch.load(weights_only=True)`` fails on it just as on the real file.
* ``model_config.yaml``: the official model-config keys (decoder sizes, token count, SMPL paths).
* ``fixture_config.json``: ``{"backbone": {...}}``, the backbone sizes (the official code hard-codes them), in the
  layout of ``shared/fixtures/tokenhmr_parity/fixture_config.json``; ``backbone_config_from_json`` reads it.

The ``SMPL.*`` paths in the yaml point at ``body_models/`` beside the files, where
``backend.body.write_synthetic_smpl_files(folder)`` puts its files, so the two writers pair up.
Sizes: ViT embed 32 / depth 1 / 2 heads, decoder dim 1024 (hard-coded upstream) depth 1, tokenizer with 20 tokens
and a 32-code codebook: about 6 MB in all, loads in well under a second.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .config import TokenHMRConfig, TokenizerArch, TransformerDecoderConfig, ViTConfig, backbone_config_from_json
from .hmr import TokenHMR
from .vqvae import PoseVQVAE

__all__ = ["TINY_TOKENHMR_CONFIG", "TinyTokenHMRFiles", "backbone_config_from_json", "write_tiny_tokenhmr_files"]

TINY_TOKENHMR_CONFIG = TokenHMRConfig(
    backbone=ViTConfig(embed_dim=32, depth=1, num_heads=2, drop_path_rate=0.0),
    decoder=TransformerDecoderConfig(depth=1, heads=2, dim_head=8, mlp_dim=16, context_dim=32),
    tokenizer=TokenizerArch(
        code_dim=8, nb_code=32, down_t=1, width=16, depth=1, dilation_rate=2, token_size_mul=1, token_size_div=2
    ),
)

# The OpenPose BODY_25 selection of the 45 smplx joints (tokenhmr smpl_wrapper); a constant, not SMPL data.
_SMPL_JOINT_MAP = [24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34]


@dataclass(frozen=True)
class TinyTokenHMRFiles:
    """Paths and configuration of the written files.

    Attributes:
        checkpoint_path: the Lightning-format checkpoint.
        tokenizer_path: the official-format tokenizer.
        model_config_path: the official-format model config (yaml).
        backbone_config_path: JSON with the backbone sizes (``{"backbone": {...}}``).
        config: the full architecture, as ``load_tokenhmr`` rebuilds it from the files.
    """

    checkpoint_path: Path
    tokenizer_path: Path
    model_config_path: Path
    backbone_config_path: Path
    config: TokenHMRConfig


class _CfgNodeStandIn(dict):
    """Pickled under the global name ``yacs.config.CfgNode`` (see ``_OfficialPickler``)."""


class _OfficialPickler(pickle._Pickler):  # the Python pickler lets us write one global by name
    def save_global(self, obj: Any, name: str | None = None) -> None:
        if obj is _CfgNodeStandIn:
            # Protocol 2 GLOBAL opcode, as pickle writes it for the real yacs class.
            self.write(pickle.GLOBAL + b"yacs.config\nCfgNode\n")
            self.memoize(obj)
            return
        super().save_global(obj, name)


class _OfficialPickleModule:
    """The ``pickle_module`` handed to ``torch.save`` for the tokenizer file."""

    Pickler = _OfficialPickler


def _cfg_node(data: dict) -> _CfgNodeStandIn:
    node = _CfgNodeStandIn({k: _cfg_node(v) if isinstance(v, dict) else v for k, v in data.items()})
    # yacs pickles these instance attributes (hence the official file's '__builtin__.set' global).
    node.__dict__.update(
        {"__immutable__": False, "__deprecated_keys__": set(), "__renamed_keys__": {}, "__new_allowed__": False}
    )
    return node


def _randomise(module: nn.Module, generator: torch.Generator) -> None:
    """Move every weight away from its default so a mis-mapped key changes the outputs."""
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("weight") and tensor.ndim == 1:  # LayerNorm scales
                tensor.copy_(1.0 + 0.1 * torch.randn(tensor.shape, generator=generator))
            else:
                fan_in = tensor[0].numel() if tensor.ndim > 1 else 50
                tensor.copy_(torch.randn(tensor.shape, generator=generator) / fan_in**0.5)


def _model_config_yaml(config: TokenHMRConfig) -> str:
    d = config.decoder
    return f"""SMPL:
  MODEL_PATH: body_models/smpl
  GENDER: neutral
  NUM_BODY_JOINTS: {config.num_body_joints}
  JOINT_REGRESSOR_EXTRA: body_models/SMPL_to_J19.pkl
  MEAN_PARAMS: body_models/smpl_mean_params.npz
EXTRA:
  FOCAL_LENGTH: 5000
MODEL:
  IMAGE_SIZE: 256
  IMAGE_MEAN: [0.485, 0.456, 0.406]
  IMAGE_STD: [0.229, 0.224, 0.225]
  BBOX_SHAPE: [192, 256]
  TOKENIZER_CHECKPOINT_PATH: tokenizer.pth
  BACKBONE:
    TYPE: vit
  SMPL_HEAD:
    TYPE: token
    IN_CHANNELS: 2048
    PREDICT_HAND: true
    TOKENIZER:
      TOKEN_CODE_DIM: {config.tokenizer.code_dim}
      TOKEN_NUM: {config.num_tokens}
      TOKEN_CLASS_NUM: {config.token_class_num}
      TOKENIZER_TYPE: Vanilla
    TRANSFORMER_DECODER:
      depth: {d.depth}
      heads: {d.heads}
      mlp_dim: {d.mlp_dim}
      dim_head: {d.dim_head}
      dropout: 0.0
      emb_dropout: 0.0
      norm: layer
      context_dim: {d.context_dim}
LOSS_WEIGHTS:
  ADVERSARIAL: 0.0
"""


def write_tiny_tokenhmr_files(
    folder: str | Path, seed: int = 0, config: TokenHMRConfig = TINY_TOKENHMR_CONFIG
) -> TinyTokenHMRFiles:
    """Write a tiny TokenHMR checkpoint, tokenizer, model config and backbone JSON in the official formats.

    Load them with ``load_tokenhmr(files.checkpoint_path, files.tokenizer_path, files.model_config_path,
    backbone=files.config.backbone)``. Same seed, same bytes of weights.

    Args:
        folder: destination (created if needed).
        seed: RNG seed of the weights.
        config: architecture (``TINY_TOKENHMR_CONFIG`` by default; any ``TokenHMRConfig`` works).

    Returns:
        The written paths and the configuration.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(seed)
    config = config.with_backbone(config.backbone)

    tokenizer = PoseVQVAE(config.tokenizer)
    _randomise(tokenizer, generator)
    model = TokenHMR(config)
    _randomise(model, generator)
    with torch.no_grad():
        # A peaked token softmax and a camera scale near 0.9, as in the shared parity fixture.
        model.smpl_head.decpose.class_pred_layer.weight.mul_(6.0)
        identity_6d = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).repeat(config.num_body_joints + 1)
        model.smpl_head.init_body_pose.copy_(identity_6d + 0.1 * torch.randn(identity_6d.shape, generator=generator))
        model.smpl_head.init_cam.copy_(torch.tensor([[0.9, 0.0, 0.0]]))
        for layer in (model.smpl_head.deccam, model.smpl_head.decshape, model.smpl_head.decpose_grot):
            layer.weight.mul_(0.05)
            layer.bias.mul_(0.05)

    state_dict = {"initialized": torch.tensor(True)}
    state_dict.update({k: v.clone() for k, v in model.state_dict().items()})
    state_dict["smpl.joint_map"] = torch.tensor(_SMPL_JOINT_MAP, dtype=torch.int64)
    checkpoint_path = folder / "tokenhmr_tiny.ckpt"
    torch.save({"state_dict": state_dict}, checkpoint_path)

    hparams = _cfg_node({"ARCH": config.tokenizer.to_hparams(), "EXP": {"NAME": "tiny", "SEED": seed}})
    tokenizer_path = folder / "tokenizer.pth"
    net = {k: v.clone() for k, v in tokenizer.state_dict().items()}
    torch.save({"net": net, "hparams": hparams}, tokenizer_path, pickle_module=_OfficialPickleModule)

    model_config_path = folder / "model_config.yaml"
    model_config_path.write_text(_model_config_yaml(config), encoding="utf-8")
    backbone_config_path = folder / "fixture_config.json"
    backbone = asdict(config.backbone)
    backbone["patch_embed_padding"] = backbone.pop("patch_padding")
    backbone_config_path.write_text(json.dumps({"backbone": backbone}, indent=1), encoding="utf-8")
    return TinyTokenHMRFiles(
        checkpoint_path=checkpoint_path,
        tokenizer_path=tokenizer_path,
        model_config_path=model_config_path,
        backbone_config_path=backbone_config_path,
        config=config,
    )
