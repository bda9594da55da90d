"""Architecture configs of the networks and the named preset registry.

The official code hard-codes most sizes (the ViT-H factory ignores its config, the head's width is a literal 1024,
the token classifier's mixer sizes are literals), so our frozen dataclasses carry them explicitly. Values that
the official model config (``model_config.yaml``) does hold are read from it by ``load_tokenhmr`` / ``load_hmr2``;
everything else defaults to the release values documented in ``shared/reference/tokenhmr_spec.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Literal

import numpy as np

__all__ = [
    "BACKBONE_PRESETS",
    "HMR2Config",
    "NUM_BODY_JOINTS_TOKENIZED",
    "TokenClassifierConfig",
    "TokenHMRConfig",
    "TokenizerArch",
    "TransformerDecoderConfig",
    "ViTConfig",
    "backbone_config_from_json",
    "backbone_preset",
    "config_from_dict",
    "config_to_dict",
]

# The tokenizer encodes SMPL joints 1..21 (no root, no hands); the official code hard-codes 21.
NUM_BODY_JOINTS_TOKENIZED = 21


@dataclass(frozen=True)
class ViTConfig:
    """ViTPose-style backbone (``tokenhmr/lib/models/backbones/vit.py``).

    The defaults are the official ViT-H/16 factory values; the model input is (B,3,256,256) and the ViT sees the
    centre (256,192) window, hence ``img_size``.
    """

    embed_dim: int = 1280  # token width E
    depth: int = 32  # number of transformer blocks
    num_heads: int = 16  # attention heads; not recoverable from weight shapes, so it must be configured
    mlp_ratio: float = 4.0  # MLP hidden width = int(E * mlp_ratio)
    qkv_bias: bool = True  # bias on the fused qkv projection
    img_size: tuple[int, int] = (256, 192)  # (H, W) the patch embedding sees, after the centre-column slice
    patch_size: int = 16  # square patch (conv kernel and stride)
    patch_padding: int = 2  # official PatchEmbed: padding = 4 + 2*(ratio//2 - 1) with ratio 1
    in_chans: int = 3  # RGB
    layer_norm_eps: float = 1e-6  # the ViT's LayerNorms use eps 1e-6 (everything else uses 1e-5)
    drop_path_rate: float = 0.55  # stochastic depth at the last block (training only)
    last_norm: bool = True  # final LayerNorm ``last_norm``
    input_crop_columns: int = 32  # forward slices x[..., c:-c] off the (B,3,256,256) input

    @property
    def grid_size(self) -> tuple[int, int]:
        """Token grid (Hp, Wp) produced by the padded patch conv: (16, 12) for the official sizes."""
        h, w = self.img_size
        p, pad = self.patch_size, self.patch_padding
        return ((h + 2 * pad - p) // p + 1, (w + 2 * pad - p) // p + 1)

    @property
    def num_pos_embed(self) -> int:
        """Rows of ``pos_embed``: one per patch of the un-padded grid plus an (unused) cls slot; 193 officially."""
        h, w = self.img_size
        return (h // self.patch_size) * (w // self.patch_size) + 1


BACKBONE_PRESETS: dict[str, ViTConfig] = {
    # ViTPose sizes; only ViT-H has released TokenHMR / HMR 2.0 weights.
    "vit_s": ViTConfig(embed_dim=384, depth=12, num_heads=12, drop_path_rate=0.1),
    "vit_b": ViTConfig(embed_dim=768, depth=12, num_heads=12, drop_path_rate=0.3),
    "vit_l": ViTConfig(embed_dim=1024, depth=24, num_heads=16, drop_path_rate=0.5),
    "vit_h": ViTConfig(),
}


def backbone_config_from_json(data: dict) -> ViTConfig:
    """``ViTConfig`` from the ``"backbone"`` section of a ``fixture_config.json`` (parity fixture layout)."""
    section = data.get("backbone", data)
    required = ("embed_dim", "depth", "num_heads")
    missing = [k for k in required if k not in section]
    if missing:
        raise ValueError(f"backbone config lacks {missing}; found keys {sorted(section)}")
    base = ViTConfig()
    return ViTConfig(
        embed_dim=int(section["embed_dim"]),
        depth=int(section["depth"]),
        num_heads=int(section["num_heads"]),
        mlp_ratio=float(section.get("mlp_ratio", base.mlp_ratio)),
        qkv_bias=bool(section.get("qkv_bias", base.qkv_bias)),
        img_size=tuple(section.get("img_size", base.img_size)),
        patch_size=int(section.get("patch_size", base.patch_size)),
        patch_padding=int(section.get("patch_embed_padding", base.patch_padding)),
        in_chans=int(section.get("in_chans", base.in_chans)),
        layer_norm_eps=float(section.get("layer_norm_eps", base.layer_norm_eps)),
        drop_path_rate=float(section.get("drop_path_rate", base.drop_path_rate)),
        last_norm=bool(section.get("last_norm", base.last_norm)),
        input_crop_columns=int(section.get("input_crop_columns", base.input_crop_columns)),
    )


def backbone_preset(name: str) -> ViTConfig:
    """The named backbone config (``vit_s``, ``vit_b``, ``vit_l``, ``vit_h``)."""
    if name not in BACKBONE_PRESETS:
        raise ValueError(f"unknown backbone preset {name!r}; expected one of {sorted(BACKBONE_PRESETS)}")
    return BACKBONE_PRESETS[name]


@dataclass(frozen=True)
class TransformerDecoderConfig:
    """Cross-attention decoder of the SMPL head (``pose_transformer.TransformerDecoder``), release values."""

    dim: int = 1024  # hard-coded in the official heads
    depth: int = 6  # number of (self-attn, cross-attn, feed-forward) layers
    heads: int = 8  # attention heads
    dim_head: int = 64  # width per head; inner width = heads * dim_head
    mlp_dim: int = 1024  # feed-forward hidden width
    context_dim: int = 1280  # backbone embed dim (keys/values come from the ViT tokens)
    num_tokens: int = 1  # one query token
    token_dim: int = 1  # the query is zeros(B,1,1) ('zero' TRANSFORMER_INPUT)
    dropout: float = 0.0  # attention / feed-forward dropout (training only)


@dataclass(frozen=True)
class TokenizerArch:
    """Pose VQ-VAE architecture (``tokenizer.pth['hparams'].ARCH``); defaults are the release tokenizer.

    The token count is derived from the architecture; the stored ``NUM_TOKENS`` is stale in official files.
    """

    code_dim: int = 256  # CODE_DIM: codebook vector width
    nb_code: int = 2048  # NB_CODE: codebook size (token classes)
    down_t: int = 1  # DOWN_T: stride-2 temporal downsamplings in the encoder
    width: int = 512  # WIDTH: conv channels
    depth: int = 2  # DEPTH: residual blocks per Resnet1D
    dilation_rate: int = 3  # DILATION_RATE: dilation growth of the residual blocks
    token_size_mul: int = 4  # TOKEN_SIZE_MUL: encoder upsamplings (x2 each, one fewer than this)
    token_size_div: int = 4  # TOKEN_SIZE_DIV: decoder resampling stages
    nb_joints: int = NUM_BODY_JOINTS_TOKENIZED  # joints 1..21 (NB_JOINTS)

    @property
    def num_tokens(self) -> int:
        """T = ((21//10)*10) * 2**TOKEN_SIZE_MUL / 2**DOWN_T (official formula; 160 for the release)."""
        j = NUM_BODY_JOINTS_TOKENIZED
        numerator = ((j // 10) * 10) * (2**self.token_size_mul)
        if numerator % (2**self.down_t) != 0:
            raise ValueError(
                f"tokenizer ARCH TOKEN_SIZE_MUL={self.token_size_mul}, DOWN_T={self.down_t} gives a fractional "
                f"token count {numerator / 2**self.down_t}; the official encoder cannot produce it"
            )
        return numerator // (2**self.down_t)

    @property
    def encoder_upsample_len(self) -> int:
        """Length the encoder first resamples the 21 joints to: ((21*2)//10)*10 = 40."""
        return ((NUM_BODY_JOINTS_TOKENIZED * 2) // 10) * 10

    @property
    def decoder_upsample_sizes(self) -> list[int]:
        """Nearest-resampling sizes of the decoder: linspace(21, T, DIV, endpoint=False, int) reversed."""
        sizes = np.linspace(self.nb_joints, self.num_tokens, self.token_size_div, endpoint=False, dtype=int)
        return [int(s) for s in sizes[::-1]]

    @classmethod
    def from_hparams(cls, arch: dict) -> "TokenizerArch":
        """Build from the ``ARCH`` mapping of an official ``tokenizer.pth`` hparams (upper-case keys)."""
        names = {
            "CODE_DIM": "code_dim",
            "NB_CODE": "nb_code",
            "DOWN_T": "down_t",
            "WIDTH": "width",
            "DEPTH": "depth",
            "DILATION_RATE": "dilation_rate",
            "TOKEN_SIZE_MUL": "token_size_mul",
            "TOKEN_SIZE_DIV": "token_size_div",
        }
        missing = [k for k in names if k not in arch]
        if missing:
            raise ValueError(
                f"tokenizer hparams ARCH lacks {missing}; found keys {sorted(arch)}. "
                "Pass the tokenizer.pth from the TokenHMR download (data/checkpoints/tokenizer.pth)."
            )
        values = {field_name: int(arch[key]) for key, field_name in names.items()}
        return cls(**values)

    def to_hparams(self) -> dict:
        """The official upper-case ``ARCH`` mapping (with the fixed fields the official files carry)."""
        return {
            "MODEL_NAME": "vanilla",
            "CODE_DIM": self.code_dim,
            "NB_CODE": self.nb_code,
            "DOWN_T": self.down_t,
            "WIDTH": self.width,
            "DEPTH": self.depth,
            "DILATION_RATE": self.dilation_rate,
            "TOKEN_SIZE_MUL": self.token_size_mul,
            "TOKEN_SIZE_DIV": self.token_size_div,
            "NUM_TOKENS": -1,  # new official files store -1 (TH#34); the count is always derived
            "NB_JOINTS": self.nb_joints,
            "ROT_TYPE": "rot6d",
            "QUANTIZER": "ema_reset",
            "SMPL_TYPE": "smplh",
        }


@dataclass(frozen=True)
class TokenClassifierConfig:
    """MLP-Mixer token classifier (``token_classifier.TokenClassfier``); the sizes are literals in the official code."""

    hidden_dim: int = 64  # per-token feature width
    num_blocks: int = 4  # MixerLayers
    hidden_inter_dim: int = 256  # channel-MLP hidden width
    token_inter_dim: int = 64  # token-MLP hidden width


@dataclass(frozen=True)
class TokenHMRConfig:
    """TokenHMR: ViT backbone + transformer decoder + token classifier + VQ decoder (release defaults)."""

    backbone: ViTConfig = field(default_factory=ViTConfig)  # hard-coded ViT-H in the official code
    decoder: TransformerDecoderConfig = field(default_factory=TransformerDecoderConfig)
    classifier: TokenClassifierConfig = field(default_factory=TokenClassifierConfig)
    tokenizer: TokenizerArch = field(default_factory=TokenizerArch)  # from tokenizer.pth hparams.ARCH
    num_body_joints: int = 23  # SMPL.NUM_BODY_JOINTS; pose is 24 x 6D including the root
    ief_iters: int = 1  # MODEL.SMPL_HEAD.IEF_ITERS
    rot6d_convention: Literal["rows", "columns"] = "rows"  # TokenHMR stacks Gram-Schmidt vectors as rows

    @property
    def num_tokens(self) -> int:
        """Token count T, derived from the tokenizer architecture."""
        return self.tokenizer.num_tokens

    @property
    def token_class_num(self) -> int:
        """Token classes C = codebook size."""
        return self.tokenizer.nb_code

    def with_backbone(self, backbone: ViTConfig) -> "TokenHMRConfig":
        """Same config with another backbone; the decoder's context width follows the embed dim."""
        return replace(self, backbone=backbone, decoder=replace(self.decoder, context_dim=backbone.embed_dim))


@dataclass(frozen=True)
class HMR2Config:
    """HMR 2.0: same backbone and decoder, a linear regression head ``decpose`` (144 = 24 x 6D, columns 6D)."""

    backbone: ViTConfig = field(default_factory=ViTConfig)
    decoder: TransformerDecoderConfig = field(default_factory=TransformerDecoderConfig)
    num_body_joints: int = 23  # SMPL.NUM_BODY_JOINTS
    ief_iters: int = 1  # MODEL.SMPL_HEAD.IEF_ITERS
    rot6d_convention: Literal["rows", "columns"] = "columns"  # HMR 2.0 stacks them as columns

    def with_backbone(self, backbone: ViTConfig) -> "HMR2Config":
        """Same config with another backbone; the decoder's context width follows the embed dim."""
        return replace(self, backbone=backbone, decoder=replace(self.decoder, context_dim=backbone.embed_dim))


_MODEL_CONFIGS = {"tokenhmr": TokenHMRConfig, "hmr2": HMR2Config}


def config_to_dict(config: TokenHMRConfig | HMR2Config) -> dict:
    """JSON-ready form: ``{"model": "tokenhmr" | "hmr2", "config": {...nested fields...}}``."""
    model = "tokenhmr" if isinstance(config, TokenHMRConfig) else "hmr2"
    return {"model": model, "config": asdict(config)}


def _from_fields(cls: type, values: dict, where: str) -> object:
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"{where}: unknown fields {unknown} for {cls.__name__}; expected some of {sorted(known)}")
    kwargs = {}
    for name, value in values.items():
        default = getattr(cls(), name) if name in known else None
        if is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _from_fields(type(default), value, f"{where}.{name}")
        elif isinstance(default, tuple):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def config_from_dict(data: dict) -> TokenHMRConfig | HMR2Config:
    """Inverse of ``config_to_dict``."""
    model = data.get("model")
    if model not in _MODEL_CONFIGS:
        raise ValueError(f"model config: 'model' must be one of {sorted(_MODEL_CONFIGS)}; got {model!r}")
    return _from_fields(_MODEL_CONFIGS[model], dict(data.get("config", {})), "model config")
