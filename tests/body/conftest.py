"""Fixtures of the body tests: one set of synthetic SMPL files per session (writing them takes about a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.body import SyntheticSMPLFiles, write_synthetic_smpl_files


@pytest.fixture(scope="session")
def synthetic_smpl(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSMPLFiles:
    return write_synthetic_smpl_files(tmp_path_factory.mktemp("synthetic_smpl"), seed=0)


@pytest.fixture(scope="session")
def fixture_body_models(parity_fixture: Path) -> Path:
    folder = parity_fixture / "body_models"
    if not (folder / "smpl" / "SMPL_NEUTRAL.pkl").is_file():
        pytest.skip(f"{folder}/smpl/SMPL_NEUTRAL.pkl is missing from the shared parity fixture")
    return folder
