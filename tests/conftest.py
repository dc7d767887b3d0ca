"""Shared pytest fixtures for rnn-course. Keep this small: put fixtures a single file needs in that file."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder with pyproject.toml)."""
    return REPO_ROOT
