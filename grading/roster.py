"""Students' names in the gradebook: from the class list when there is one, the student id otherwise.

The class list is ``roster.csv`` in the course folder (never committed: it names people), in the
format nbgrader's own ``nbgrader db student import`` reads: a header ``id,first_name,last_name,email``
and one row per student. Formgrader shows "last name, first name"; a student missing from the
list is shown by id (last name = the id), never as "None, None".
"""
from __future__ import annotations

import csv
from pathlib import Path

from grading.course import STUDENT_ID, Course, GradingError

ROSTER = "roster.csv"
FIELDS = ("first_name", "last_name", "email")


def read(course: Course) -> dict[str, dict[str, str]]:
    """student id -> {first_name, last_name, email} from roster.csv (empty when there is none)."""
    path = Path(course.root) / ROSTER
    if not path.is_file():
        return {}
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise GradingError(f"{path}: cannot read the class list ({err}).") from None
    if rows and "id" not in rows[0]:
        raise GradingError(f"{path}: the first line must name the columns: id,first_name,last_name,email.")
    out = {}
    for n, row in enumerate(rows, 2):
        sid = (row.get("id") or "").strip()
        if not STUDENT_ID.match(sid):
            raise GradingError(f"{path}, line {n}: {sid!r} is not a student id (letters, digits, _ . @ + - only).")
        out[sid] = {f: (row.get(f) or "").strip() for f in FIELDS}
    return out


def record(gb, course: Course, students: list[str]) -> None:
    """Create or update each student in the gradebook, named from the class list (or by id)."""
    names = read(course)
    for student in students:
        given = names.get(student, {})
        gb.update_or_create_student(student, first_name=given.get("first_name", ""),
                                    last_name=given.get("last_name") or student, email=given.get("email") or None)
