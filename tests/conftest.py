"""Shared pytest fixtures. Stdlib only: this file is also loaded by the Blender (bpy) test run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES_ENV = "TOKENMOCAP_SHARED_FIXTURES"


def shared_fixtures_dir() -> Path | None:
    """The team's ``shared/fixtures`` folder: ``$TOKENMOCAP_SHARED_FIXTURES``, else ``../shared/fixtures``."""
    env = os.environ.get(FIXTURES_ENV)
    candidate = Path(env) if env else REPO_ROOT.parent / "shared" / "fixtures"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    folder = shared_fixtures_dir()
    if folder is None:
        pytest.skip(
            f"shared fixtures not found (set {FIXTURES_ENV} or place the team's shared/ beside the checkout); "
            "they hold reference tensors from the official TokenHMR code and are not part of a user's clone"
        )
    return folder


@pytest.fixture(scope="session")
def parity_fixture(shared_fixtures: Path) -> Path:
    folder = shared_fixtures / "tokenhmr_parity"
    if not folder.is_dir():
        pytest.skip(f"{folder} is missing from the shared fixtures")
    return folder
