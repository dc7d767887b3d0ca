"""Shared pytest fixtures for rnn-course. Keep this small: put fixtures a single file needs in that file."""
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# Whole-class grading suites and the browser walk-throughs: minutes each, so `make test` leaves them
# to `make test-scale` (both run in CI, .ci/run). Marked here so each file's own marks stay as they are.
SCALE_FILES = {"test_grading_scale.py", "test_tamper.py", "test_lab_gaps.py", "test_bad_submissions.py",
               "test_browser.py", "test_browser_inert.py", "test_grading_modes.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SCALE_FILES:
            item.add_marker(pytest.mark.scale)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder with pyproject.toml)."""
    return REPO_ROOT
