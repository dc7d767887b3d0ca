"""Shared pytest fixtures for rnn-course; the helpers they use are in grading_support.py."""
import shutil
from pathlib import Path

import pytest

import grading_support as support
from mini_assignment import CHECKS, source_notebook

REPO_ROOT = Path(__file__).resolve().parent.parent

# Whole-class grading suites and the browser walk-throughs: minutes each, so `make test` leaves them
# to `make test-scale` (both run in CI, .ci/run). Marked here so each file's own marks stay as they are.
SCALE_FILES = {"test_grading_scale.py", "test_tamper.py", "test_lab_gaps.py", "test_bad_submissions.py",
               "test_browser.py", "test_browser_inert.py", "test_grading_modes.py", "test_entry_points.py"}


def pytest_collection_modifyitems(items):
    for item in items:
        if item.path.name in SCALE_FILES:
            item.add_marker(pytest.mark.scale)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder with pyproject.toml)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def lab_reference(tmp_path_factory) -> Path:
    """The lab's reference solution run once top to bottom in fast mode: its notebook and checkpoints."""
    return support.run_reference(tmp_path_factory.mktemp("lab-reference"), support.env())


@pytest.fixture(scope="session")
def shared_tmp():
    """A folder under /tmp every user can walk into, removed at the end of the session."""
    folder = support.shared_folder("rnn-tests-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def module_folder(shared_tmp, request):
    """This test module's own folder inside shared_tmp (walkable by the sandbox's uid), removed after it."""
    folder = shared_tmp / request.module.__name__
    folder.mkdir(mode=0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def mini_template(shared_tmp) -> Path:
    """A course with the 3-point mini assignment released and no submissions: copy it with mini_course()."""
    return support.new_course(shared_tmp / "mini-template", "mini", source_notebook(), CHECKS)


@pytest.fixture()
def mini_course(mini_template, shared_tmp, request):
    """A fresh copy of the released mini course for one test."""
    def make(name: str = request.node.name) -> Path:
        target = shared_tmp / f"mini-{name}"[:80]
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(mini_template, target)
        return target
    return make


@pytest.fixture(scope="session")
def browser():
    """Playwright driving the system Chromium (Playwright never downloads a browser of its own here)."""
    if support.CHROMIUM is None:
        pytest.skip("no system Chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=support.CHROMIUM, args=support.CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
