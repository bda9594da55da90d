"""The ``tokenmocap`` command line.

Each sub-command lives in its own module under ``backend/commands/`` exposing ``NAME``, ``HELP``,
``add_arguments(parser)`` and ``run(args) -> int``; this module only wires them together and configures logging
(the one place that does).
"""

from __future__ import annotations

import argparse
import errno
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
    from backend.commands._checks import UsageError

    log = logging.getLogger("backend.cli")
    try:
        return int(args._run(args) or 0)
    except UsageError as e:
        log.error("%s", e)
        return 2
    except KeyboardInterrupt:
        log.warning("cancelled (Ctrl-C); nothing more was written")
        return 130
    except OSError as e:
        # Last resort for a file or folder the command could not read or write (the commands check the paths they
        # are given first): one line naming the file, not a traceback; -v keeps the traceback for a bug report.
        log.error("%s", _os_error_message(e), exc_info=args.verbose)
        return 1


def _os_error_message(e: OSError) -> str:
    if e.filename is None:  # the project's own FileNotFoundError / TimeoutError messages already name the fix
        return str(e)
    hint = {
        errno.ENOENT: "the file or its folder does not exist; check the path",
        errno.EACCES: "this user may not read or write it; fix the permissions or choose another path",
        errno.EPERM: "this user may not read or write it; fix the permissions or choose another path",
        errno.EEXIST: "a file is in the way where a folder is needed; choose another path",
        errno.ENOTDIR: "a part of the path is a file, not a folder; choose another path",
        errno.EISDIR: "it is a folder; pass a file name",
        errno.EROFS: "it is on a read-only file system; choose another path",
        errno.ENOSPC: "the disk is full; free some space or choose another path",
    }.get(e.errno, "check the path and its permissions")
    return f"{e.filename}: {e.strerror or e} ({hint}); `tokenmocap -v COMMAND ...` shows the traceback"


if __name__ == "__main__":
    sys.exit(main())
