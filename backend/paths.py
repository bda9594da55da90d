"""Where TokenMocap keeps the user's installed (licence-gated) files.

The official checkpoints and the SMPL files are never shipped with the project. ``tokenmocap models install``
copies and converts them into the data directory returned here.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_dir", "models_dir"]

DATA_DIR_ENV = "TOKENMOCAP_HOME"


def data_dir() -> Path:
    """The user data directory: ``$TOKENMOCAP_HOME``, else ``$XDG_DATA_HOME/tokenmocap``, else
    ``~/.local/share/tokenmocap`` (``%LOCALAPPDATA%\\tokenmocap`` on Windows)."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "tokenmocap"
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "tokenmocap"


def models_dir() -> Path:
    """Folder holding the installed model and body-model files."""
    return data_dir() / "models"
