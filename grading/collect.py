"""collect: bring submissions into submitted/<student>/<assignment>/, from a folder or nbgrader's exchange.

Submissions are read as data (grading.intake): links, devices, FIFOs, oversized files and
version-control folders are left out and reported against that student, never followed.
"""
from __future__ import annotations

import shutil
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
        if _store(course, assignment, student, read_submission(inner, limits), notes):
            collected.append(student)
    _report(course, assignment, collected, notes)
    return 0


def _from_exchange(course: Course, assignment: str) -> int:
    """nbgrader's exchange layout, read without following links: the newest submission per student."""
    from nbgrader.utils import parse_utc

    root = course.config().Exchange.get("root") or "/srv/nbgrader/exchange"
    inbound = Path(root) / course.course_id / "inbound"
    if not inbound.is_dir() or inbound.is_symlink():
        raise GradingError(
            f"nbgrader collect could not read the exchange ({inbound} does not exist). "
            f"Set c.Exchange.root in {course.root / 'nbgrader_config.py'} to the exchange folder your students "
            f"submit to, and release the assignment there first (`nbgrader release_assignment {assignment}`); "
            "or collect a folder of submissions with --from FOLDER.")
    newest: dict[str, tuple] = {}
    for entry in inbound.iterdir():
        parts = entry.name.split("+")
        if len(parts) < 3 or parts[1] != assignment or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            when = parse_utc(parts[2])
        except ValueError:
            continue
        if STUDENT_ID.match(parts[0]) and (parts[0] not in newest or when > newest[parts[0]][0]):
            newest[parts[0]] = (when, entry)
    collected, notes = [], []
    limits = intake_limits(course)
    for student, (when, entry) in sorted(newest.items()):
        stamp = course.submitted() / student / assignment / "timestamp.txt"
        if stamp.is_file() and not stamp.is_symlink() and parse_utc(stamp.read_text().strip()) >= when:
            continue  # already collected (nbgrader's --update rule)
        owner = _owner(entry)
        if owner != student:  # nbgrader's own check: the exchange folder's owner is who submitted
            notes.append(f"{student}: {entry.name} claims to be submitted by {student} but is owned by "
                         f"{owner}; cheating attempt?")
        intake = read_submission(entry, limits)
        intake.files["timestamp.txt"] = parts_stamp(entry)
        if _store(course, assignment, student, intake, notes):
            collected.append(student)
    _report(course, assignment, collected, notes, " from the exchange")
    return 0


def _owner(path: Path) -> str:
    import pwd

    uid = path.lstat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def parts_stamp(entry: Path) -> bytes:
    """The submission time nbgrader's exchange encodes in the folder name."""
    return entry.name.split("+")[2].encode()


def collect(course: Course, assignment: str, args) -> int:
    if args.exchange:
        return _from_exchange(course, assignment)
    if not args.source:
        raise GradingError("Say where the submissions are: --from FOLDER (one sub-folder per student), "
                           "or --exchange for nbgrader's exchange. For an LMS zip download use `nbgrader zip_collect`.")
    return _from_folder(course, assignment, Path(args.source).expanduser())
