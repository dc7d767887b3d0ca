"""The committed release (assignments/) is what nbgrader makes of solutions/ today, and gives nothing away."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
LABS = sorted(p.parent.name for p in REPO.glob("solutions/*/*.ipynb") if p.stem == p.parent.name)
NBGRADER_KEYS = ("grade", "grade_id", "locked", "points", "solution", "task", "checksum")


class Lab:
    """One lab's source notebook and its committed release."""

    def __init__(self, name: str):
        self.name, self.notebook = name, f"{name}.ipynb"
        self.source = REPO / "solutions" / name / self.notebook
        self.release = REPO / "assignments" / name


@pytest.fixture(scope="module", params=LABS)
def lab(request) -> Lab:
    return Lab(request.param)


@pytest.fixture(scope="module")
def regenerated(lab, tmp_path_factory) -> Path:
    """Run nbgrader generate_assignment on a copy of the lab's source with a throwaway gradebook."""
    course = tmp_path_factory.mktemp("release")
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(lab.source.parent, course / "solutions" / lab.name)  # checkpoints too: they must be dropped
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_assignment", lab.name, "--force",
         f"--course-dir={course}", f"--db=sqlite:///{course / 'gradebook.db'}"],
        cwd=course, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return course / "assignments" / lab.name


def _essence(nb) -> list[tuple]:
    """What students get: each cell's type, source and nbgrader settings (no outputs, ids or volatile metadata)."""
    out = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        out.append((cell.cell_type, cell.source, tuple((k, meta.get(k)) for k in NBGRADER_KEYS)))
    return out


def test_every_lab_is_released():
    assert "sherlock_rnn_vs_gru" in LABS and len(LABS) >= 2, LABS
    assert all((REPO / "assignments" / name / f"{name}.ipynb").is_file() for name in LABS), "run `make release`"


def test_release_is_up_to_date_with_the_solution(lab, regenerated):
    committed = nbformat.read(lab.release / lab.notebook, as_version=4)
    fresh = nbformat.read(regenerated / lab.notebook, as_version=4)
    assert _essence(committed) == _essence(fresh), (
        "assignments/ is out of date with solutions/: run `make release` and commit assignments/")
    assert committed.metadata.kernelspec.name == "python3"


def _committed(folder: Path) -> list[str] | None:
    """The files git tracks under folder (None outside a git checkout)."""
    done = subprocess.run(["git", "ls-files", "-z", "--", str(folder)], cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        return None
    return sorted(str(Path(REPO, f).relative_to(folder)) for f in done.stdout.split("\0") if f)


def test_release_holds_only_the_notebook(lab, regenerated):
    files = sorted(str(p.relative_to(regenerated)) for p in regenerated.rglob("*") if p.is_file())
    assert files == [lab.notebook], f"make release made {files} (checkpoints or caches must not be released)"
    # What is committed is what students get. A student who ran the lab inside assignments/ leaves
    # checkpoints there; that is their work, not the release, so untracked files are named, not failed.
    committed = _committed(lab.release)
    if committed is None:  # a copy without git: only the notebook may be there
        committed = sorted(str(p.relative_to(lab.release)) for p in lab.release.rglob("*") if p.is_file())
    assert committed == [lab.notebook], f"{lab.release}: {committed} are committed (only the notebook may be released)"


def _solution_only_lines(nb) -> set[str]:
    """Distinctive lines that occur only inside BEGIN/END SOLUTION or BEGIN/END HIDDEN TESTS regions."""
    region = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", re.S)
    secret, public = set(), set()
    for cell in nb.cells:
        for body in region.findall(cell.source):
            secret.update(ln.strip() for ln in body.splitlines() if len(ln.strip()) >= 30)
        public.update(ln.strip() for ln in region.sub("", cell.source).splitlines())
    return secret - public


def test_release_contains_no_solutions_or_hidden_tests(lab):
    source = nbformat.read(lab.source, as_version=4)
    text = (lab.release / lab.notebook).read_text()
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text
    secret = _solution_only_lines(source)
    assert len(secret) > 20, "the source should have solution regions"
    released = {ln.strip() for cell in nbformat.read(lab.release / lab.notebook, as_version=4).cells
                for ln in cell.source.splitlines()}
    leaked = sorted(secret & released)
    assert not leaked, f"solution-only lines in the release: {leaked[:5]}"


def test_points_table_matches_the_graded_cells():
    nb = nbformat.read(Lab("sherlock_rnn_vs_gru").source, as_version=4)
    auto = manual = 0
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            if meta.get("solution"):
                manual += meta["points"]
            else:
                auto += meta["points"]
    table = nb.cells[0].source
    rows = re.findall(r"^\| [A-I] \|.*\| (autograded|by hand) \| (\d+) \|$", table, re.M)
    assert sum(int(p) for kind, p in rows if kind == "autograded") == auto == 80
    assert sum(int(p) for kind, p in rows if kind == "by hand") == manual == 20
    assert "**100**" in table


def test_every_lab_is_worth_100_points(lab):
    nb = nbformat.read(lab.source, as_version=4)
    total = sum(c.metadata["nbgrader"]["points"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    assert total == 100, f"{lab.name} is worth {total} points"


def test_every_autograded_part_has_visible_tests_and_hidden_checks(lab):
    from grading.spec import load_checks, points_by_cell

    nb = nbformat.read(lab.source, as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")
             and not c.metadata["nbgrader"].get("solution")]
    checks = points_by_cell(load_checks(lab.source.parent / "checks.py"))
    assert {c.metadata.nbgrader.grade_id for c in tests} == set(checks)
    for cell in tests:
        assert "assert" in cell.source, f"{cell.metadata.nbgrader.grade_id} has no visible test"
        assert "HIDDEN TESTS" not in cell.source
        assert cell.metadata.nbgrader.locked
        assert checks[cell.metadata.nbgrader.grade_id] == cell.metadata.nbgrader.points


def test_the_labs_way_out_of_fast_mode_works_in_a_kernel_started_in_fast_mode(monkeypatch):
    """The hand-in box's advice: %env COURSE_FAST=0 in a first cell, then Restart and Run All."""
    from nbclient import NotebookClient

    for name in LABS:
        lab = Lab(name)
        text = "\n".join(c.source for c in nbformat.read(lab.release / lab.notebook, as_version=4).cells)
        facts = tomllib.loads((lab.source.parent / "grading.toml").read_text())
        if facts.get("checkpoints"):  # a lab that grades training: fast-mode checkpoints are not graded as full
            assert "%env COURSE_FAST=0" in text, f"{name}: say how to leave fast mode before handing in"
    monkeypatch.setenv("COURSE_FAST", "1")  # the server's environment, which every kernel inherits
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%env COURSE_FAST=0"),
                                         nbformat.v4.new_code_cell("import helpers\nprint(helpers.fast_mode())")])
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    assert nb.cells[1].outputs[0]["text"].strip() == "False"
