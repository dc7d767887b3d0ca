"""nbgrader's exchange on a shared machine: collect under the submitter's real identity, release feedback.

On a JupyterHub every student writes into the exchange's ``inbound/`` folder. The folder name
``<student>+<assignment>+<time>+<random>`` is chosen by the student's own process, so it proves
nothing: anyone can make a folder called ``bob+...``. What a student cannot forge is the owner of
what they wrote: the kernel sets it to their uid. So a submission counts for the user who owns it,
and only when its name says the same; every file inside must be theirs too. The time in the name
is also the student's; it is checked against the folder's change time (ctime), which the kernel
keeps and no user can set back.
"""
from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from grading.collect import _report, _store, intake_limits
from grading.course import STUDENT_ID, Course, GradingError
from grading.intake import read_submission

DEFAULT_ROOT = "/srv/nbgrader/exchange"  # nbgrader's own default
# How far the time in a folder's name may lie before its ctime: copying a 200 MB submission takes
# seconds; a name that claims an earlier time than this is not believed (the ctime is recorded).
CLOCK_SLACK = timedelta(seconds=120)
# What nbgrader's own submit writes beside the notebooks; release_feedback needs both.
SUBMISSION_FILES = ("timestamp.txt", "submission_secret.txt")


def exchange_root(course: Course) -> Path:
    """Exchange.root as nbgrader resolves it: the Jupyter config folders, then the course's own config."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    merged = Config()
    for folder in [*reversed(jupyter_config_path()), str(course.root)]:  # lowest priority first
        if (Path(folder) / "nbgrader_config.py").is_file():
            merged.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
    return Path(merged.Exchange.get("root") or DEFAULT_ROOT)


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")  # nbgrader's timestamp_format


@dataclass
class Submission:
    path: Path
    student: str  # the owner's user name
    uid: int
    stamp: str  # the time recorded in submitted/<student>/<assignment>/timestamp.txt
    when: datetime


def _examine(entry: os.DirEntry, assignment: str, notes: list[str]) -> Submission | None:
    """One inbound folder: a Submission when its owner, its name and its time agree, else a note."""
    from nbgrader.utils import parse_utc

    parts = entry.name.split("+")
    if len(parts) < 3 or parts[1] != assignment:
        return None
    st = entry.stat(follow_symlinks=False)
    owner = _user(st.st_uid)
    if not stat.S_ISDIR(st.st_mode):
        notes.append(f"{entry.name!r}: not a folder (owned by {owner}); skipped")
        return None
    if parts[0] != owner:  # nbgrader's collect only warns here, and collects it under the claimed name
        notes.append(f"{entry.name!r} claims to be {parts[0]}'s submission but was written by {owner}: "
                     f"NOT collected for anyone (a student can name a folder after anyone; only its owner "
                     f"is proof). Look into it before the next collect.")
        return None
    if not STUDENT_ID.match(owner):
        notes.append(f"{owner!r}: not usable as a student id; {entry.name!r} skipped")
        return None
    try:
        claimed = parse_utc(parts[2])
    except (ValueError, OverflowError):
        notes.append(f"{entry.name!r}: no readable time in the name; skipped")
        return None
    changed = datetime.fromtimestamp(st.st_ctime, timezone.utc)
    stamp = parts[2]
    if claimed.replace(tzinfo=timezone.utc) < changed - CLOCK_SLACK:
        notes.append(f"{owner}: {entry.name!r} says it was submitted at {parts[2]}, but the exchange received "
                     f"it at {_stamp(changed)}; the exchange's time is recorded")
        stamp, claimed = _stamp(changed), changed.replace(tzinfo=None)
    return Submission(Path(entry.path), owner, st.st_uid, stamp, claimed)


def collect_from_exchange(course: Course, assignment: str) -> int:
    """The newest submission per student from inbound/, under the name of the user who wrote it."""
    from nbgrader.utils import parse_utc

    inbound = exchange_root(course) / course.course_id / "inbound"
    if not inbound.is_dir() or inbound.is_symlink():
        raise GradingError(
            f"cannot read the exchange ({inbound} does not exist). Set c.Exchange.root in a Jupyter "
            f"config folder's nbgrader_config.py (deploy/hub: JUPYTER_CONFIG_PATH) or in "
            f"{course.root / 'nbgrader_config.py'}, and release the assignment there first "
            f"(`python -m grading release {assignment} --exchange`); or collect a folder with --from FOLDER.")
    notes: list[str] = []
    newest: dict[str, Submission] = {}
    with os.scandir(inbound) as entries:
        for entry in entries:
            found = _examine(entry, assignment, notes)
            if found and (found.student not in newest or found.when > newest[found.student].when):
                newest[found.student] = found
    collected = []
    limits = intake_limits(course)
    for student, sub in sorted(newest.items()):
        stamp = course.submitted() / student / assignment / "timestamp.txt"
        if stamp.is_file() and not stamp.is_symlink() and parse_utc(stamp.read_text().strip()) >= sub.when:
            continue  # already collected (nbgrader's --update rule)
        intake = read_submission(sub.path, limits, owner=sub.uid)
        intake.files["timestamp.txt"] = sub.stamp.encode()
        if _store(course, assignment, student, intake, notes):
            collected.append(student)
    _report(course, assignment, collected, notes, " from the exchange")
    return 0


def _small_file(path: Path) -> bytes | None:
    """A short regular file's bytes (never through a link), or None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(4096) if stat.S_ISREG(os.fstat(fd).st_mode) else None


def release_feedback(course: Course, assignment: str) -> int:
    """Put each student's feedback HTML into the exchange, where only that student's nbgrader finds it.

    nbgrader files it under a hash of the submission's secret (written by the student's own
    submit), so the feedback folder needs that secret and the time from submitted/.
    """
    released, notes = [], []
    for folder in sorted((course.root / "feedback").glob(f"*/{assignment}")):
        student = folder.parent.name
        if folder.is_symlink() or not any(folder.glob("*.html")):
            continue
        found = {name: _small_file(course.submitted() / student / assignment / name) for name in SUBMISSION_FILES}
        if not all(found.values()):
            notes.append(f"{student}: the submission has no submission_secret.txt (not handed in through the "
                         "exchange); hand this feedback out another way")
            continue
        for name in SUBMISSION_FILES:
            (folder / name).unlink(missing_ok=True)
            (folder / name).write_bytes(found[name])
        released.append(student)
    if released:
        exclude = sorted({p.parent.name for p in (course.root / "feedback").glob(f"*/{assignment}")} - set(released))
        code, log = course.nbgrader(
            "release_feedback", assignment, f"--Exchange.root={exchange_root(course)}",
            f"--CourseDirectory.course_id={course.course_id}",
            *([f"--CourseDirectory.student_id_exclude={','.join(exclude)}"] if exclude else []),
            log=course.log_file("release_feedback", assignment))
        if code != 0:
            print(log[-3000:])
            return 1
    print(f"Released feedback on {assignment} to the exchange for {len(released)} student(s)"
          + (": " + ", ".join(released) if released else "") + ". Students fetch it in Assignment List "
          "(Fetch Feedback) or with `nbgrader fetch_feedback`.")
    for note in notes:
        print("  note: " + note)
    return 0


def release_to_exchange(course: Course, assignment: str) -> int:
    """nbgrader release_assignment: the generated release into the exchange's outbound/ folder."""
    code, log = course.nbgrader("release_assignment", assignment, "--force", f"--Exchange.root={exchange_root(course)}",
                                f"--CourseDirectory.course_id={course.course_id}",
                                log=course.log_file("release_assignment", assignment))
    if code != 0:
        print(log[-3000:])
        return 1
    print(f"Released {assignment} to the exchange ({exchange_root(course) / course.course_id / 'outbound'}): "
          "students see it in Assignment List.")
    return 0


# `python -m grading <step> <lab> --exchange`: what runs after the step itself.
AFTER_STEP = {"release": release_to_exchange, "feedback": release_feedback}
