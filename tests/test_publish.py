"""`python -m grading publish`: the student edition holds the course students need and no solution.

It reads as the students' own: no instructor commands, and every relative link in it leads somewhere.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from grading.course import GradingError
from grading.publish import student_text

REPO = Path(__file__).resolve().parent.parent
# What only instructors run or read; none of it may reach the students' README, docs or Makefile.
INSTRUCTOR_ONLY = ("make release", "make collect", "make autograde", "make grade", "make feedback", "make export",
                   "make student-edition", "GRADE_ARGS", "python -m grading", "python -m benchmarks",
                   "## Instructors", "docs/instructors.md", "docs/grading.md", "docs/sandbox.md",
                   "grading-at-scale.md", "benchmarks/README.md", "instructors-only")


def publish(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", "publish", *args, f"--course-dir={REPO}"],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("publish") / "students"
    done = publish(f"--to={target}")
    assert done.returncode == 0, done.stdout + done.stderr
    return target


def slug(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def links(path: Path) -> list[str]:
    """Relative link targets in a Markdown file or in a notebook's Markdown cells."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        text = path.read_text()
    text = re.sub(r"```.*?```|`[^`\n]*`", "", text, flags=re.S)  # code is not a link
    found = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", text)
    found += re.findall(r"(?:href|src)=\"([^\"]+)\"", text)
    return [t for t in found if not re.match(r"[a-z][a-z0-9+.-]*:", t, re.I)]  # http:, mailto:, data: ...


def course_pages(root: Path) -> list[Path]:
    """The course's own pages: what git would keep (no virtual environment of any name, no test output)."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-co", "--exclude-standard", "*.md", "*.ipynb"],
                            capture_output=True, text=True)
    if listed.returncode == 0:
        return sorted(root / line for line in listed.stdout.splitlines() if (root / line).is_file())
    venvs = {cfg.parent for cfg in root.rglob("pyvenv.cfg")}
    return sorted(page for page in [*root.rglob("*.md"), *root.rglob("*.ipynb")]
                  if not venvs & set(page.parents) and "test-artifacts" not in page.parts)


def broken_links(root: Path) -> list[str]:
    broken = []
    for page in course_pages(root):
        for target in links(page):
            file, _, anchor = unquote(target).partition("#")
            dest = (page.parent / file).resolve() if file else page
            where = f"{page.relative_to(root)} -> {target}"
            if root.resolve() not in (dest, *dest.parents):
                broken.append(f"{where} (outside the course)")
            elif not dest.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and dest.suffix == ".md":
                headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*$", dest.read_text(), re.M)
                if anchor not in {slug(h) for h in headings}:
                    broken.append(f"{where} (no heading with that anchor)")
    return broken


def test_the_student_edition_has_lectures_lab_and_helpers_but_no_solutions(edition):
    tops = {p.name for p in edition.iterdir()}
    assert {"README.md", "lectures", "assignments", "helpers", "Makefile", "pyproject.toml"} <= tops
    assert not tops & {"solutions", "grading", "tests", "benchmarks", ".ci"}
    for release in sorted(REPO.glob("assignments/*/*.ipynb")):  # every released lab
        assert (edition / release.relative_to(REPO)).is_file(), release
    for path in edition.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, path


def test_every_relative_link_in_the_student_edition_leads_somewhere(edition):
    assert links(edition / "README.md"), "the link finder found no link in the README"
    assert broken_links(edition) == []


def test_every_relative_link_in_the_course_leads_somewhere():
    assert broken_links(REPO) == []


def test_the_students_readme_docs_and_makefile_carry_no_instructor_commands(edition):
    for name in ("README.md", "docs/students.md", "docs/helpers.md", "docs/data.md", "Makefile"):
        text = (edition / name).read_text()
        found = [phrase for phrase in INSTRUCTOR_ONLY if phrase in text]
        assert not found, f"{name} still has {found}"
    readme = (edition / "README.md").read_text()
    assert "## The lectures" in readme and "## The lab" in readme and "make lab" in readme


def test_the_instructors_readme_keeps_everything_the_students_one_has(edition):
    """One README: the students' is the instructors' less the marked blocks, line for line."""
    for name in ("README.md", "docs/students.md", "docs/helpers.md", "Makefile"):
        full, student = (REPO / name).read_text(), (edition / name).read_text()
        assert set(student.splitlines()) <= set(full.splitlines()), name
    full = (REPO / "README.md").read_text()
    assert "make student-edition" in full and "docs/instructors.md" in full and "make grade" in full


def test_the_student_editions_makefile_offers_no_grading_target(edition):
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # not ours
    done = subprocess.run(["make", "-n", "release"], cwd=edition, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode != 0 and "No rule to make target" in done.stderr, done.stdout + done.stderr
    done = subprocess.run(["make", "-n", "test"], cwd=edition, capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and "pytest" in done.stdout, done.stdout + done.stderr


def test_instructor_markers_must_pair_up():
    text = "a\n<!-- instructors-only -->\nsecret\n<!-- /instructors-only -->\n\n\nb\n"
    assert student_text("README.md", text) == "a\n\nb\n"
    assert student_text("Makefile", "x:\n# instructors-only\ny:\n# /instructors-only\n") == "x:\n"
    assert student_text("notes.txt", "<!-- instructors-only -->\n") == "<!-- instructors-only -->\n"
    with pytest.raises(GradingError, match="never closed"):
        student_text("README.md", "<!-- instructors-only -->\nsecret\n")
    with pytest.raises(GradingError, match="without"):
        student_text("README.md", "<!-- /instructors-only -->\n")


def test_publish_refuses_a_folder_that_is_not_empty_or_inside_the_course(tmp_path):
    (tmp_path / "old.txt").write_text("x")
    done = publish(f"--to={tmp_path}")
    assert done.returncode == 2 and "is not empty" in done.stderr
    done = publish(f"--to={REPO / 'lectures'}")
    assert done.returncode == 2 and "inside the course" in done.stderr
