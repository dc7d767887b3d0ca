"""publish: the student edition of the course, a folder without solutions, hidden tests or grading.

    python -m grading publish --to ../rnn-course-students

It holds what students need and nothing an instructor must keep: the README and the student
pages of docs/, the lectures, the released labs (assignments/), the helpers package and the
set-up files. Only files committed to git are taken (no gradebook, submissions or local
checkpoints), and the result is checked for solution and hidden-test lines before it is
written. Push that folder to the public repository students clone; keep this one private.

Text meant for instructors only stays in the same files as the rest, between two marker lines:
``<!-- instructors-only -->`` and ``<!-- /instructors-only -->`` in Markdown, ``# instructors-only``
and ``# /instructors-only`` in the Makefile. The student edition leaves those blocks out, so one
README serves both and cannot drift from its student version.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from grading.course import SOLUTION_MARKERS, Course, GradingError

# What students get (folders and files at the top of the course). nbgrader_config.py gives the
# Assignment List its course and exchange and Validate the autograder's time limit; it holds no answer.
STUDENT_PATHS = ("README.md", "LICENSE", "environment.yml", "pyproject.toml", "Makefile", ".gitignore",
                 "nbgrader_config.py", "jupyter-config", "lectures", "assignments", "helpers", "data/README.md",
                 "docs/students.md", "docs/helpers.md", "docs/data.md")
# Marker lines around instructors-only text, by file name: (start, end) as whole lines.
MARKERS = {".md": ("<!-- instructors-only -->", "<!-- /instructors-only -->"),
           "Makefile": ("# instructors-only", "# /instructors-only")}


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
    secret, public = set(), []
    for source in (root / "solutions").glob("*/*.ipynb"):
        for cell in nbformat.read(source, as_version=4).cells:
            for body in region.findall(cell.source):
                secret.update(ln.strip() for ln in body.splitlines() if len(ln.strip()) >= 30)
            public.append(region.sub("", cell.source))
    public_text = "\n".join(public)  # a line the instructions quote (say, in backticks) is public
    return {line for line in secret if line not in public_text}


def student_text(name: str, text: str) -> str:
    """text without its instructors-only blocks; an unclosed or stray marker is an error."""
    markers = MARKERS.get(Path(name).suffix) or MARKERS.get(Path(name).name)
    if not markers:
        return text
    kept, inside = [], None
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        mark = line.strip()
        if mark == markers[0]:
            if inside:
                raise GradingError(f"{name}:{number}: {mark} inside the block opened at line {inside}.")
            inside = number
        elif mark == markers[1]:
            if not inside:
                raise GradingError(f"{name}:{number}: {mark} without {markers[0]} before it.")
            inside = None
        elif not inside:
            kept.append(line)
    if inside:
        raise GradingError(f"{name}:{inside}: {markers[0]} is never closed by {markers[1]}.")
    return re.sub(r"\n{3,}", "\n\n", "".join(kept))  # no wide gap where a block was


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
    texts = {name: student_text(name, (course.root / name).read_text(errors="replace"))
             for name in files if (course.root / name).is_file() and name.endswith((".md", "Makefile"))}
    leaks = []
    for name in files:
        text = texts.get(name) or ((course.root / name).read_text(errors="replace")
                                   if (course.root / name).is_file() else "")
        leaks += [f"{name}: {m}" for m in SOLUTION_MARKERS if m in text]
        if name.startswith("assignments/"):  # lectures and helpers share idioms with solutions by design
            leaks += [f"{name}: the solution or hidden-test line {line!r}" for line in secret if line in text][:1]
    if leaks:
        raise GradingError("The student edition would give away solutions: " + "; ".join(leaks[:10]))
    for name in files:
        dest = target / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(course.root / name, dest, follow_symlinks=False)
        if name in texts:
            dest.write_text(texts[name])
    tops = sorted({f.split("/")[0] for f in files})
    print(f"Wrote the student edition ({len(files)} files: {', '.join(tops)}) to {target}.")
    print("Left out: solutions/, grading/, tests/, benchmarks/, the instructors' docs and the instructors-only "
          "parts of the README, docs and Makefile. Commit that folder to the repository students clone; "
          "keep this course repository private.")
    return 0
