"""publish: the student edition of the course, a folder without solutions, hidden tests or grading.

    python -m grading publish --to ../rnn-course-students

It holds what students need and nothing an instructor must keep: the README and the student
pages of docs/, the lectures, the released labs (assignments/), the helpers package and the
set-up files. Only files committed to git are taken (no gradebook, submissions or local
checkpoints), and the result is checked for solution and hidden-test lines before it is
written. Push that folder to the public repository students clone; keep this one private.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from grading.course import SOLUTION_MARKERS, Course, GradingError

# What students get (folders and files at the top of the course).
STUDENT_PATHS = ("README.md", "LICENSE", "environment.yml", "pyproject.toml", "Makefile", ".gitignore",
                 "lectures", "assignments", "helpers", "data/README.md", "docs/students.md", "docs/helpers.md")


def _committed(root: Path) -> list[str]:
    done = subprocess.run(["git", "ls-files", "-z", "--", *STUDENT_PATHS], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise GradingError(f"{root} is not a git checkout: publish takes only committed files "
                           f"(git said: {done.stderr.strip()[:200]}).")
    return sorted(f for f in done.stdout.split("\0") if f)


def _secret_lines(root: Path) -> set[str]:
    """Distinctive lines that occur only inside solution and hidden-test regions of the lab sources."""
    import nbformat

    region = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END", re.S)
    secret, public = set(), set()
    for source in (root / "solutions").glob("*/*.ipynb"):
        for cell in nbformat.read(source, as_version=4).cells:
            for body in region.findall(cell.source):
                secret.update(ln.strip() for ln in body.splitlines() if len(ln.strip()) >= 30)
            public.update(ln.strip() for ln in region.sub("", cell.source).splitlines())
    return secret - public


def publish(course: Course, assignment: str | None, args) -> int:
    if not args.to:
        raise GradingError("Say where to write the student edition: --to FOLDER (a new or empty folder).")
    target = Path(args.to).expanduser().resolve()
    if target == course.root or course.root in target.parents:
        raise GradingError(f"--to {target} is inside the course; choose a folder outside it.")
    if target.exists() and any(target.iterdir()):
        raise GradingError(f"--to {target} is not empty; give a new folder (nothing is overwritten).")
    files = _committed(course.root)
    secret = _secret_lines(course.root)
    leaks = []
    for name in files:
        text = (course.root / name).read_text(errors="replace") if (course.root / name).is_file() else ""
        leaks += [f"{name}: {m}" for m in SOLUTION_MARKERS if m in text]
        if name.startswith("assignments/"):  # lectures and helpers share idioms with solutions by design
            leaks += [f"{name}: the solution or hidden-test line {line!r}" for line in secret if line in text][:1]
    if leaks:
        raise GradingError("The student edition would give away solutions: " + "; ".join(leaks[:10]))
    for name in files:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(course.root / name, dest, follow_symlinks=False)
    tops = sorted({f.split("/")[0] for f in files})
    print(f"Wrote the student edition ({len(files)} files: {', '.join(tops)}) to {target}.")
    print("Left out: solutions/, grading/, tests/, benchmarks/, nbgrader_config.py and the instructors' docs. "
          "Commit that folder to the repository students clone; keep this course repository private.")
    return 0
