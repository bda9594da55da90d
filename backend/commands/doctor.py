"""``tokenmocap doctor``: what is installed, on which device, and what is missing with the exact fix."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from pathlib import Path

from backend import __version__
from backend.install import INSTALLED_FILES, InstallReport, installed_state
from backend.paths import models_dir

NAME = "doctor"
HELP = "report versions, the compute device, installed model files and what is missing"

# Files `tokenmocap models install` places under the models directory, with what each is for (one layout, defined
# in backend.install).
EXPECTED_MODEL_FILES: tuple[tuple[str, str], ...] = tuple((rel, what) for rel, (what, _) in INSTALLED_FILES.items())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="check this models folder (default: the data dir, as the other commands use)")


def _version(module_name: str) -> str:
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # report any import failure, whatever its type, as text
        return f"NOT USABLE ({type(e).__name__}: {e})"
    return str(getattr(module, "__version__", "installed"))


def run(args: argparse.Namespace) -> int:
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

    folder = args.models_dir if args.models_dir is not None else models_dir()
    lines.append(f"models directory: {folder}"
                 + ("" if folder.is_dir() else " (does not exist yet: nothing installed)"))
    state = installed_state(folder)
    for rel, what in EXPECTED_MODEL_FILES:
        lines.append(f"  [{'ok' if state.present[rel] else '--'}] {rel:<31} {what}")
    lines.extend(InstallReport(state=state).lines()[1:])  # per engine: ready, or exactly what is missing
    if state.missing_for("tokenhmr"):
        lines.append(
            "To use TokenHMR, download the missing files from their owners' sites (licence required), then run: "
            "tokenmocap models install PATH_TO_FOLDER_OR_ZIP"
        )
    else:
        lines.append("TokenHMR files present")
    # The lite engine needs no licensed file: say whether it runs now, since it is what `auto` falls back to.
    from backend.lite import lite_available

    lite_ok, lite_reason = lite_available()
    lines.append(f"lite: ready, no licensed files needed ({lite_reason})" if lite_ok else
                 f"lite: unavailable ({lite_reason})")
    from backend.vision import available_detectors

    detectors = available_detectors(folder)
    lines.append("person detectors: " + ", ".join(f"{name} {'yes' if ok else 'no'}" for name, ok in detectors.items()))
    print("\n".join(lines))
    return 0
