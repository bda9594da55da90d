"""``tokenmocap models install PATH`` and ``tokenmocap models list``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

NAME = "models"
HELP = "install the official model files (verify, convert to safetensors) or list what is installed"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    inst = sub.add_parser("install", help="install from a folder or .zip/.tar.gz of the official downloads")
    inst.add_argument("path", type=Path, help="folder or archive holding SMPL / TokenHMR / HMR 2.0 files")
    inst.add_argument("--models-dir", type=Path, default=None, help="destination (default: the data dir)")
    lst = sub.add_parser("list", help="show the installed files and which engines are ready")
    lst.add_argument("--models-dir", type=Path, default=None)


def run(args: argparse.Namespace) -> int:
    from backend.install import INSTALLED_FILES, InstallError, InstallReport, install_models, installed_state
    from backend.paths import models_dir

    from backend.commands._checks import check_output_folder

    dest = args.models_dir or models_dir()
    if args.models_command == "list":
        if dest.exists() and not dest.is_dir():
            log.error("--models-dir %s is a file; expected the folder `tokenmocap models install` writes into", dest)
            return 2
        state = installed_state(dest)
        lines = [f"  [{'ok' if state.present[rel] else '--'}] {rel:<28} {INSTALLED_FILES[rel][0]}"
                 for rel in INSTALLED_FILES]
        header = f"models directory: {dest}" + ("" if dest.is_dir() else " (does not exist yet: nothing installed)")
        print("\n".join([header, *lines, *InstallReport(state=state).lines()[1:]]))
        return 0
    if args.path.exists():  # a missing PATH is reported by install_models, before any folder is made
        check_output_folder(dest, "--models-dir")  # before the (slow) verification and conversion, not after
    try:
        report = install_models(args.path, dest)
    except InstallError as e:
        log.error("%s", e)
        return 1
    print("\n".join(report.lines()))
    return 1 if report.failed else 0
