"""The networks: TokenHMR and HMR 2.0 (ViT backbone, transformer decoder, token head, pose VQ-VAE), strict
loading of the official files, and the predictor that adds SMPL and the camera."""

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
from .config import (
    BACKBONE_PRESETS,
    HMR2Config,
    TokenClassifierConfig,
    TokenHMRConfig,
    TokenizerArch,
    TransformerDecoderConfig,
    ViTConfig,
    backbone_config_from_json,
    backbone_preset,
    config_from_dict,
    config_to_dict,
)
from .hmr import HMR2, HMROutput, TokenHMR, check_image_batch
from .loading import build_on_device, load_hmr2, load_tokenhmr, read_official_model_config
from .quantizer import EMAState, QuantizeEMAReset, code_perplexity, ema_codebook_update, nearest_code
from .predictor import FOCAL_LENGTH, IMAGE_SIZE, HMRPrediction, HMRPredictor
from .rot6d import rot6d_to_rotmat, rotmat_to_rot6d
from .safetensors_io import load_installed_model, save_installed_model
from .tiny import TINY_TOKENHMR_CONFIG, TinyTokenHMRFiles, write_tiny_tokenhmr_files
from .vit import ViT
from .vqvae import PoseTokenDecoder, PoseVQVAE

__all__ = [
    "BACKBONE_PRESETS",
    "CheckpointError",
    "EMAState",
    "FOCAL_LENGTH",
    "HMR2",
    "HMR2Config",
    "HMROutput",
    "HMRPrediction",
    "HMRPredictor",
    "IMAGE_SIZE",
    "PoseTokenDecoder",
    "PoseVQVAE",
    "QuantizeEMAReset",
    "TINY_TOKENHMR_CONFIG",
    "TinyTokenHMRFiles",
    "TokenClassifierConfig",
    "TokenHMR",
    "TokenHMRConfig",
    "TokenizerArch",
    "TokenizerFile",
    "TransformerDecoderConfig",
    "ViT",
    "ViTConfig",
    "backbone_config_from_json",
    "backbone_preset",
    "build_on_device",
    "check_image_batch",
    "code_perplexity",
    "config_from_dict",
    "config_to_dict",
    "ema_codebook_update",
    "filter_hmr2_state_dict",
    "filter_tokenhmr_state_dict",
    "filter_tokenizer_state_dict",
    "load_hmr2",
    "load_installed_model",
    "load_state_dict_strict",
    "load_tokenhmr",
    "nearest_code",
    "read_lightning_state_dict",
    "read_official_model_config",
    "read_tokenizer_file",
    "rot6d_to_rotmat",
    "rotmat_to_rot6d",
    "save_installed_model",
    "write_tiny_tokenhmr_files",
]
