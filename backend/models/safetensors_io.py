"""Installed-model format: filtered weights as safetensors plus a JSON config, for fast memory-mapped loading.

``tokenmocap models install`` (``backend.install``) converts the user's official files once, after a strict load;
the service then calls ``load_installed_model``. One folder per model (``<models_dir>/tokenhmr``, ``.../hmr2``):

* ``model.safetensors``: the model's ``state_dict()`` (official key names, no ``smpl.*``);
* ``tokenizer.safetensors`` (TokenHMR only): the tokenizer decoder + codebook (``decoder.decoder.N.*``,
  ``quantizer.codebook``);
* ``config.json``: ``{"model": "tokenhmr" | "hmr2", "config": {...}}`` (``config_to_dict``; extra keys such as
  ``source`` are allowed).

Nothing is unpickled when loading.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .checkpoint import CheckpointError, load_state_dict_strict
from .config import TokenHMRConfig, config_from_dict, config_to_dict
from .hmr import HMR2, TokenHMR
from .loading import build_on_device

__all__ = ["CONFIG_FILE", "MODEL_FILE", "TOKENIZER_FILE", "load_installed_model", "save_installed_model"]

MODEL_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.safetensors"
CONFIG_FILE = "config.json"


def _save(state_dict: dict[str, torch.Tensor], path: Path) -> None:
    save_file({k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}, str(path))


def save_installed_model(model: TokenHMR | HMR2, folder: str | Path, extra: dict | None = None) -> Path:
    """Write ``model.safetensors`` (+ ``tokenizer.safetensors``) and ``config.json`` into ``folder``.

    Args:
        model: a loaded model.
        folder: destination folder (created if needed).
        extra: additional JSON fields for ``config.json`` (e.g. ``{"source": "tokenhmr_model_latest.ckpt"}``).

    Returns:
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _save(model.state_dict(), folder / MODEL_FILE)
    if isinstance(model, TokenHMR):
        _save(model.token_decoder.state_dict(), folder / TOKENIZER_FILE)
    description = {**config_to_dict(model.config), **(extra or {})}
    (folder / CONFIG_FILE).write_text(json.dumps(description, indent=1), encoding="utf-8")
    return folder


def _read(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"installed model file not found: {path}; run 'tokenmocap models install'")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: cannot read the weights ({e}); run 'tokenmocap models install' again") from e


def load_installed_model(folder: str | Path, device: torch.device | str = "cpu") -> TokenHMR | HMR2:
    """Load a model folder written by ``save_installed_model`` / ``tokenmocap models install``; strict, eval mode.

    Args:
        folder: the model folder (holding ``config.json``).
        device: where to put the model.

    Returns:
        ``TokenHMR`` or ``HMR2``.
    """
    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"installed model config not found: {config_path}; run 'tokenmocap models install'")
    try:
        config = config_from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{config_path}: {e}; run 'tokenmocap models install' again") from e
    model_class = TokenHMR if isinstance(config, TokenHMRConfig) else HMR2
    network = _read(folder / MODEL_FILE)
    model = build_on_device(lambda: model_class(config), device)
    load_state_dict_strict(model, network, str(folder / MODEL_FILE))
    if isinstance(model, TokenHMR):
        load_state_dict_strict(model.token_decoder, _read(folder / TOKENIZER_FILE), str(folder / TOKENIZER_FILE))
    return model.eval()
