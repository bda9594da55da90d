"""Reading the official checkpoint files and loading them strictly.

Formats (see ``shared/fixtures/tokenhmr_parity/README.md``):

* TokenHMR / HMR 2.0 Lightning ``.ckpt``: ``{'state_dict': {...}}`` (possibly a full Lightning checkpoint with
  ``hyper_parameters``, callbacks, ...). Keys ``backbone.*``, ``smpl_head.*`` plus ``smpl.*`` (SMPL buffers: licensed
  data, ignored; SMPL is built from the user's files), ``initialized`` and, for HMR 2.0, ``discriminator.*``.
* ``tokenizer.pth``: ``{'net': VQ-VAE state_dict, 'hparams': yacs CfgNode}``; ``hparams.ARCH`` gives the
  architecture, and the token count is derived from it (the stored ``NUM_TOKENS`` is stale).

Loading never falls back to an unsafe unpickler and never leaves a weight at its random initialisation: a missing,
unexpected or mis-shaped key is an error that names the keys (the official loader only logs a warning).
"""

from __future__ import annotations

import logging
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
import torch.nn as nn

from ._unpickle import LIGHTNING_PICKLE, TOKENIZER_PICKLE, ConfigDict
from .config import TokenizerArch

__all__ = [
    "CheckpointError",
    "TokenizerFile",
    "filter_hmr2_state_dict",
    "filter_tokenhmr_state_dict",
    "filter_tokenizer_state_dict",
    "load_state_dict_strict",
    "read_lightning_state_dict",
    "read_tokenizer_file",
]

log = logging.getLogger(__name__)

# Groups of an official Lightning state_dict that inference never uses (see the module docstring).
IGNORED_PREFIXES = ("smpl.", "discriminator.")
IGNORED_KEYS = ("initialized",)
NETWORK_PREFIXES = ("backbone.", "smpl_head.")
LIST_LIMIT = 10


class CheckpointError(ValueError):
    """A model file is not what was expected: wrong type, damaged, or not matching its partner file."""


def _check_file(path: Path, what: str) -> bool:
    """Raise unless ``path`` looks like a complete torch file; True for the zip format (memory-mappable)."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}. Download it from the model's site and pass its path")
    with path.open("rb") as f:
        head = f.read(4)
    # torch.save writes a zip archive; very old files are a bare pickle (protocol 2 starts with 0x80 0x02).
    if head[:2] == b"PK":
        if not zipfile.is_zipfile(path):
            raise CheckpointError(
                f"{path}: the {what} is damaged (a zip archive without its central directory: truncated download?). "
                "Download it again"
            )
        return True
    if not head.startswith(b"\x80"):
        raise CheckpointError(f"{path}: not a PyTorch file (starts with {head!r}); expected the {what}")
    return False


def _torch_load(path: Path, what: str, **kwargs: object) -> object:
    try:
        return torch.load(path, map_location="cpu", **kwargs)
    except (RuntimeError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path}: cannot read the {what} ({e}); the file is damaged or truncated") from e


def read_lightning_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a TokenHMR / HMR 2.0 Lightning checkpoint, on CPU.

    Tries ``torch.load(weights_only=True)`` (enough for the ``{'state_dict'}``-only release file); a full Lightning
    checkpoint whose hyper-parameters need other classes is read with an unpickler that replaces every foreign
    object by an inert placeholder (nothing in the file is executed).

    Args:
        path: the ``.ckpt`` file.

    Returns:
        The state dict, all keys (``smpl.*`` etc. included; see the ``filter_*`` functions).
    """
    path = Path(path)
    # Memory-map zip checkpoints: a ViT-H file is 2.7 GB and is copied into the model right after.
    mmap = _check_file(path, "model checkpoint")
    try:
        container = _torch_load(path, "model checkpoint", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError:
        log.info("%s holds more than tensors (a full Lightning checkpoint); reading it with inert placeholders", path)
        container = _torch_load(
            path, "model checkpoint", weights_only=False, pickle_module=LIGHTNING_PICKLE, mmap=mmap
        )
    if not isinstance(container, Mapping):
        raise CheckpointError(f"{path}: expected a dict with 'state_dict', found {type(container).__name__}")
    if "net" in container and "hparams" in container:
        raise CheckpointError(
            f"{path}: expected a TokenHMR/HMR 2.0 checkpoint with 'state_dict', found 'net' and 'hparams'. This is "
            "the pose tokenizer (tokenizer.pth); pass it as the tokenizer and the .ckpt file as the checkpoint"
        )
    if {"model", "optimizer", "step"} <= set(map(str, container)):
        raise CheckpointError(
            f"{path}: expected a Lightning checkpoint with 'state_dict', found 'model', 'optimizer' and 'step'. This "
            "is a resume file of our trainer (last.ckpt); pass the exported tokenhmr_model.ckpt from the same folder"
        )
    state_dict = container.get("state_dict", container)
    if not isinstance(state_dict, Mapping) or not any(str(k).startswith(NETWORK_PREFIXES) for k in state_dict):
        keys = sorted(map(str, container))[:LIST_LIMIT]
        raise CheckpointError(
            f"{path}: expected a Lightning checkpoint whose 'state_dict' has 'backbone.*' and 'smpl_head.*' keys; "
            f"found top-level keys {keys}. Pass tokenhmr_model_latest.ckpt (TokenHMR) or the HMR 2.0 .ckpt"
        )
    bad = [k for k, v in state_dict.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: state_dict entries that are not tensors: {bad[:LIST_LIMIT]}")
    return dict(state_dict)


@dataclass(frozen=True)
class TokenizerFile:
    """Content of a ``tokenizer.pth``.

    Attributes:
        net: the VQ-VAE state dict (``encoder.*``, ``decoder.*``, ``quantizer.codebook``).
        hparams: the training configuration as nested plain dicts.
        arch: the architecture parsed from ``hparams['ARCH']``.
    """

    net: dict[str, torch.Tensor]
    hparams: dict
    arch: TokenizerArch


def read_tokenizer_file(path: str | Path) -> TokenizerFile:
    """Read an official ``tokenizer.pth`` without yacs and without executing anything from the pickle.

    Checks the codebook shape against ``hparams.ARCH`` (NB_CODE x CODE_DIM).

    Args:
        path: the tokenizer file.

    Returns:
        The parsed file.
    """
    path = Path(path)
    _check_file(path, "tokenizer file")
    try:
        container = _torch_load(path, "tokenizer file", weights_only=False, pickle_module=TOKENIZER_PICKLE)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{path}: {e}") from e
    if not isinstance(container, Mapping) or "net" not in container or "hparams" not in container:
        found = sorted(map(str, container))[:LIST_LIMIT] if isinstance(container, Mapping) else type(container)
        hint = (
            " This is a TokenHMR/HMR 2.0 checkpoint; pass the tokenizer.pth from the same download as the tokenizer"
            if isinstance(container, Mapping) and "state_dict" in container
            else ""
        )
        raise CheckpointError(f"{path}: expected keys 'net' and 'hparams', found {found}.{hint}")
    hparams = container["hparams"]
    hparams = hparams.to_plain() if isinstance(hparams, ConfigDict) else dict(hparams)
    if "ARCH" not in hparams:
        raise CheckpointError(f"{path}: hparams lacks 'ARCH'; found {sorted(hparams)}")
    try:
        arch = TokenizerArch.from_hparams(dict(hparams["ARCH"]))
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e
    net = dict(container["net"])
    codebook = net.get("quantizer.codebook")
    if codebook is None:
        raise CheckpointError(f"{path}: tokenizer 'net' has no 'quantizer.codebook'; found {sorted(net)[:LIST_LIMIT]}")
    if tuple(codebook.shape) != (arch.nb_code, arch.code_dim):
        raise CheckpointError(
            f"{path}: codebook has shape {tuple(codebook.shape)} but hparams.ARCH says NB_CODE={arch.nb_code}, "
            f"CODE_DIM={arch.code_dim}; the file is inconsistent"
        )
    return TokenizerFile(net=net, hparams=hparams, arch=arch)


def _select(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ignored groups; keep everything else so a strict load reports unknown keys."""
    return {
        k: v for k, v in state_dict.items() if not k.startswith(IGNORED_PREFIXES) and k not in IGNORED_KEYS
    }


def filter_tokenhmr_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """TokenHMR Lightning state dict -> ``TokenHMR`` state dict: drops ``smpl.*``, ``initialized``,
    ``discriminator.*`` (no other transform); rejects an HMR 2.0 checkpoint with the fix."""
    if "smpl_head.decpose.weight" in state_dict:
        raise CheckpointError(
            "expected a TokenHMR checkpoint (smpl_head.decpose.mixer_*), found an HMR 2.0 one "
            "(smpl_head.decpose.weight, a regression head); load it with load_hmr2 / engine 'hmr2'"
        )
    return _select(state_dict)


def filter_hmr2_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HMR 2.0 Lightning state dict -> ``HMR2`` state dict: drops ``smpl.*``, ``initialized``, ``discriminator.*``;
    rejects a TokenHMR checkpoint with the fix."""
    if any(k.startswith("smpl_head.decpose.mixer_") for k in state_dict):
        raise CheckpointError(
            "expected an HMR 2.0 checkpoint (smpl_head.decpose.weight), found a TokenHMR one "
            "(smpl_head.decpose.mixer_*, a token classifier); load it with load_tokenhmr and its tokenizer.pth"
        )
    return _select(state_dict)


def filter_tokenizer_state_dict(
    net: Mapping[str, torch.Tensor], parts: tuple[str, ...] = ("decoder", "quantizer")
) -> dict[str, torch.Tensor]:
    """Tokenizer ``net`` -> the parts a module needs (``PoseTokenDecoder``: decoder + quantizer; ``PoseVQVAE``: all
    three). Like the official ``DecodeTokens.load_weights`` it skips keys containing ``body_model``."""
    prefixes = tuple(f"{p}." for p in parts)
    return {k: v for k, v in net.items() if k.startswith(prefixes) and "body_model" not in k}


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:LIST_LIMIT])
    more = f", ... ({len(keys) - LIST_LIMIT} more)" if len(keys) > LIST_LIMIT else ""
    return f"{len(keys)}: [{shown}{more}]"


def load_state_dict_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """``module.load_state_dict(strict=True)`` with an error naming missing, unexpected and mis-shaped keys.

    Args:
        module: the target module.
        state_dict: already filtered state dict.
        source: file name for the message.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        f"{k} (file {tuple(state_dict[k].shape)}, model {tuple(expected[k].shape)})"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"missing keys {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_listing(unexpected)}")
        if misshaped:
            parts.append(f"mis-shaped keys {_listing(misshaped)}")
        raise CheckpointError(
            f"{source} does not match {type(module).__name__}: " + "; ".join(parts) + ". The file belongs to another "
            "model or architecture (check the backbone size and the model config)"
        )
    module.load_state_dict(dict(state_dict), strict=True)
