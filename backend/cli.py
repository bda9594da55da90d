"""The ``tokenmocap`` command line.

Each sub-command lives in its own module under ``backend/commands/`` exposing ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires them together and configures logging
(the one place that does).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]

# Sub-command modules, in the order `tokenmocap --help` lists them. Modules are imported lazily so that
# `tokenmocap doctor` works even when a heavy optional dependency of another command is broken.
COMMAND_MODULES: tuple[str, ...] = (
    "backend.commands.doctor",
    "backend.commands.demo",
    "backend.commands.eval",
    "backend.commands.serve",
    "backend.commands.models",
    "backend.commands.reconstruct",
    "backend.commands.keys",
    "backend.commands.mocap",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tokenmocap", description="Markerless motion capture for Blender.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
