"""collect: bring submissions into submitted/<student>/<assignment>/, from a folder or nbgrader's exchange (grading.exchange).

Submissions are read as data (grading.intake): links, devices, FIFOs, oversized files and
version-control folders are left out and reported against that student, never followed.
"""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

from grading.course import STUDENT_ID, Course, GradingError
from grading.intake import CLUTTER, Intake, IntakeLimits, read_submission, write_submission
from grading.summary import handed_in


def intake_limits(course: Course) -> IntakeLimits:
    """The per-file limit of nbgrader_config.py (CourseDirectory.max_file_size, in kB)."""
    return IntakeLimits.from_config(course.config().CourseDirectory.get("max_file_size"))


def _store(course: Course, assignment: str, student: str, intake: Intake, notes: list[str]) -> bool:
    """Write one student's files into submitted/; False (with a note) when there is nothing to write."""
    expected = f"{assignment}.ipynb"
    top = [name for name in intake.files if "/" not in name and name.endswith(".ipynb")]
    if expected not in intake.files:
        if len(top) == 1:
            intake.files[expected] = intake.files.pop(top[0])
            notes.append(f"{student}: notebook {top[0]!r} renamed to {expected}")
        elif not intake.files:
            notes.append(f"{student}: an empty submission; skipped")
            return False
        else:  # kept, so the student is graded (0, FAILED) and listed in grades.csv instead of vanishing
            notes.append(f"{student}: expected {expected}, found {top or 'no notebook'}; collected anyway, "
                         "it will be reported FAILED with 0 points until the student hands in the notebook")
    target = course.submitted() / student / assignment
    if target.exists():
        shutil.rmtree(target)
    write_submission(intake, target)
    notes += [f"{student}: {n}" for n in intake.notes]
    if course.lab(assignment).checkpoints:
        notes.append(f"{student}: {handed_in(target, course.lab(assignment))}")
    return True


def _report(course: Course, assignment: str, collected: list[str], notes: list[str], where: str = "") -> None:
    new = "new " if where else ""
    print(f"Collected {len(collected)} {new}submission(s) of {assignment}{where} into "
          f"{course.submitted().relative_to(course.root)}/<student>/{assignment}/"
          + (": " + ", ".join(collected) if collected else "."))
    for note in notes:
        print("  note: " + note)


def _handed_in_at(folder: Path) -> bytes | None:
    """When the files say the work was handed in: the newest modification time of a notebook, as nbgrader writes it."""
    times = [p.lstat().st_mtime for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink()]
    if not times:
        return None
    return datetime.fromtimestamp(max(times), timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC").encode()


def _from_folder(course: Course, assignment: str, source: Path) -> int:
    if not source.is_dir():
        raise GradingError(f"--from {source}: no such folder.")
    collected, notes = [], []
    limits = intake_limits(course)
    for folder in sorted(source.iterdir()):
        if folder.is_symlink() or not folder.is_dir() or folder.name in CLUTTER:
            if folder.is_symlink():
                notes.append(f"{folder.name!r}: a symbolic link, not a folder; skipped")
            continue
        student = folder.name
        if not STUDENT_ID.match(student):
            notes.append(f"{student!r}: not usable as a student id (letters, digits, _ . @ + - only); skipped")
            continue
        inner = folder / assignment
        inner = inner if inner.is_dir() and not inner.is_symlink() else folder
        intake = read_submission(inner, limits)
        if "timestamp.txt" not in intake.files and (stamp := _handed_in_at(inner)):
            intake.files["timestamp.txt"] = stamp  # so Formgrader and the late rules have a time to show
        if _store(course, assignment, student, intake, notes):
            collected.append(student)
    _record_students(course, collected)
    _report(course, assignment, collected, notes)
    return 0


def _record_students(course: Course, students: list[str]) -> None:
    """Put the students in the gradebook with their names (grading.roster), if the gradebook exists yet."""
    from grading import roster
    from grading.record import gradebook_lock

    if students and course.db.startswith("sqlite:///") and not Path(course.db[len("sqlite:///"):]).is_file():
        return  # release makes the gradebook; autograde records them then
    with gradebook_lock(course), course.gradebook() as gb:
        roster.record(gb, course, students)


def collect(course: Course, assignment: str, args) -> int:
    if args.exchange:  # nbgrader's exchange on a shared machine: grading.exchange
        from grading.exchange import collect_from_exchange

        return collect_from_exchange(course, assignment)
    if not args.source:
        raise GradingError("Say where the submissions are: --from FOLDER (one sub-folder per student), "
                           "or --exchange for nbgrader's exchange. For an LMS zip download use `nbgrader zip_collect`.")
    return _from_folder(course, assignment, Path(args.source).expanduser())
