"""Argument checks shared by the sub-commands: each failure is one message saying what was expected, what was
found and the fix, raised as :class:`UsageError` (``backend.cli.main`` logs it and exits with status 2).

The checks run before any slow work (model loading, video decoding), so a typo costs a second, not a minute.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

__all__ = [
    "UsageError",
    "positive_int",
    "non_negative_int",
    "non_negative_float",
    "box_xyxy",
    "check_input_file",
    "check_output_folder",
    "check_output_file",
    "check_endpoint",
    "check_key_name",
]


class UsageError(ValueError):
    """An argument the command cannot work with; the message names the option, the value and the fix."""


def _int_at_least(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}; got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}; got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _int_at_least(text, 0)


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0; got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0; got {text!r}")
    return value


def box_xyxy(text: str) -> list[float]:
    """argparse type: ``X1,Y1,X2,Y2`` in pixels with X2 > X1 and Y2 > Y1."""
    parts = text.split(",")
    try:
        box = [float(p) for p in parts]
    except ValueError:
        box = []
    if len(box) != 4:
        raise argparse.ArgumentTypeError(f"expected four numbers X1,Y1,X2,Y2 in pixels (e.g. 10,20,200,480); "
                                         f"got {text!r}")
    if not (box[2] > box[0] and box[3] > box[1]):
        raise argparse.ArgumentTypeError(f"expected the top-left corner first (X2 > X1 and Y2 > Y1); got {text!r}")
    return box


def check_input_file(path: Path, what: str) -> None:
    """``path`` must be an existing, non-empty file; ``what`` says what it should be ("IMAGE, a JPEG or PNG")."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path} is a folder; expected {what}. Pass the file itself")
    if not path.exists():
        raise UsageError(f"{path} does not exist; expected {what}. Check the path (relative paths start in "
                         f"{Path.cwd()})")
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path} is not readable by this user; expected {what}. Fix its permissions")
    if path.stat().st_size == 0:
        raise UsageError(f"{path} is empty (0 bytes); expected {what}. The copy or download may have failed")


def _writable_folder_error(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (created here if missing), or None when they can."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} is a file, not a folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create the folder {folder} ({e.strerror or e})"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable by this user"
    return None


def check_output_folder(path: Path, option: str) -> None:
    """``path`` is (or can become) a folder this process can write into."""
    problem = _writable_folder_error(Path(path))
    if problem:
        raise UsageError(f"{option} {path}: expected a folder to write into; {problem}. Choose another {option}")


def check_output_file(path: Path, option: str) -> None:
    """``path`` can be written as a file: not a folder, and its folder exists (or can be made) and is writable."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder; expected a file name (e.g. {path / 'result.json'})")
    problem = _writable_folder_error(path.parent if str(path.parent) else Path("."))
    if problem:
        raise UsageError(f"{option} {path}: cannot write the file there; {problem}. Choose another {option}")


_TCP_ENDPOINT = re.compile(r"^tcp://(\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+):(\*|\d+)$")


def check_endpoint(address: str, option: str, bind: bool = False) -> None:
    """A ZeroMQ endpoint the CLI accepts: ``tcp://HOST:PORT`` (PORT 1-65535, ``*`` when binding) or ``ipc://PATH``.

    libzmq itself takes port 99999 as 99999 % 65536 = 34463, so a typo would bind or dial another port.
    """
    if address.startswith("ipc://") and len(address) > len("ipc://"):
        return
    match = _TCP_ENDPOINT.match(address)
    if match is None:
        raise UsageError(f"{option} {address!r}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:5555) or "
                         "ipc://PATH")
    port = match.group(2)
    if port == "*":
        if not bind:
            raise UsageError(f"{option} {address!r}: a client needs the server's port number, not '*'")
        return
    if not 1 <= int(port) <= 65535:
        raise UsageError(f"{option} {address!r}: port {port} is out of range; expected 1-65535")


_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def check_key_name(name: str) -> None:
    """A key pair's base name: letters, digits, '_', '-', '.', not starting with '.' (no folders)."""
    if not _KEY_NAME.match(name):
        raise UsageError(f"key name {name!r}: expected letters, digits, '_', '-' or '.' (not starting with '.', no "
                         "'/'), e.g. 'server' or 'studio-pc'; the folder goes in the FOLDER argument")
