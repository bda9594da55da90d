"""``tokenmocap doctor``: what is installed, on which device, and what is missing with the exact fix."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys

from backend import __version__
from backend.paths import models_dir

NAME = "doctor"
HELP = "report versions, the compute device, installed model files and what is missing"

# Files `tokenmocap models install` places under the models directory, with what each is for.
EXPECTED_MODEL_FILES: tuple[tuple[str, str], ...] = (
    ("smpl/SMPL_NEUTRAL.pkl", "SMPL body model (smpl.is.tue.mpg.de)"),
    ("SMPL_to_J19.pkl", "extra joint regressor (TokenHMR data.zip)"),
    ("smpl_mean_params.npz", "mean SMPL parameters (TokenHMR data.zip)"),
    ("tokenhmr_model_latest.ckpt", "TokenHMR checkpoint (tokenhmr.is.tue.mpg.de)"),
    ("tokenizer.pth", "TokenHMR pose tokenizer (tokenhmr.is.tue.mpg.de)"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


def _version(module_name: str) -> str:
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # report any import failure, whatever its type, as text
        return f"NOT USABLE ({type(e).__name__}: {e})"
    return str(getattr(module, "__version__", "installed"))


def run(args: argparse.Namespace) -> int:
    del args
    lines = [f"tokenmocap {__version__}", f"python {sys.version.split()[0]} on {platform.platform()}"]
    for name in ("torch", "timm", "smplx", "numpy", "cv2", "zmq"):
        lines.append(f"  {name:<8} {_version(name)}")
    try:
        import torch

        if torch.cuda.is_available():
            lines.append(f"device: cuda ({torch.cuda.get_device_name(0)})")
        else:
            lines.append(f"device: cpu ({torch.get_num_threads()} threads); no CUDA device found")
    except Exception as e:  # torch missing or broken: doctor must still report the rest
        lines.append(f"device: unknown (torch not usable: {e})")

    folder = models_dir()
    lines.append(f"models directory: {folder}")
    missing = []
    for rel, what in EXPECTED_MODEL_FILES:
        present = (folder / rel).exists()
        lines.append(f"  [{'ok' if present else '--'}] {rel:<28} {what}")
        if not present:
            missing.append(rel)
    if missing:
        lines.append(
            "missing: " + ", ".join(missing) + ". Download them from their owners' sites (licence required), "
            "then run: tokenmocap models install PATH_TO_FOLDER_OR_ZIP"
        )
    else:
        lines.append("all model files present")
    print("\n".join(lines))
    return 0
