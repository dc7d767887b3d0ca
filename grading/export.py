"""export: the gradebook's scores as one CSV row per student with every lab, and what is still incomplete.

nbgrader's own export writes a row per student and assignment; the course's grades.csv turns that
into one row per student: id and name, then each lab's score, the total and the maximum. A lab a
student never handed in counts 0. Notes say which submissions were never autograded and which
still have written parts to grade by hand (their score is then incomplete).
"""
from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from grading.course import Course, GradingError

ID_COLUMNS = ("student_id", "last_name", "first_name", "email")


def _submissions(course: Course, assignment: str) -> dict[str, bool]:
    """student id -> whether the submission still needs grading by hand."""
    with course.gradebook() as gb:
        return {s.student.id: s.needs_manual_grade for s in gb.find_assignment(assignment).submissions}


def manual_parts_pending(course: Course, assignment: str) -> list[str]:
    """Autograded students whose written parts nobody has graded yet."""
    return sorted(s for s, manual in _submissions(course, assignment).items()
                  if manual and (course.root / "autograded" / s / assignment).is_dir())


def _labs(course: Course) -> dict[str, float]:
    """Every lab the gradebook knows, with its maximum score, in release order."""
    with course.gradebook() as gb:
        return {a.name: a.max_score for a in sorted(gb.assignments, key=lambda a: (a.duedate is None, a.name))}


def wide(rows: list[dict], labs: dict[str, float]) -> list[dict]:
    """nbgrader's long rows (one per student and lab) as one row per student with a column per lab."""
    students: dict[str, dict] = {}
    for row in rows:
        person = students.setdefault(row["student_id"], {k: row.get(k, "") for k in ID_COLUMNS} | dict.fromkeys(labs, 0.0))
        if row["assignment"] in labs:
            person[row["assignment"]] = float(row["score"] or 0)
    for person in students.values():
        person["total"] = sum(person[lab] for lab in labs)
        person["max_total"] = sum(labs.values())
    return [students[s] for s in sorted(students)]


def export(course: Course, assignment: str | None, args) -> int:
    target = Path(args.to).expanduser() if getattr(args, "to", None) else course.root / "grades.csv"
    target = target if target.is_absolute() else (Path.cwd() / target)
    labs = _labs(course)
    with tempfile.TemporaryDirectory() as tmp:
        long = Path(tmp) / "long.csv"
        code, log = course.nbgrader("export", f"--to={long}")
        if code != 0 or not long.is_file():
            print(log[-3000:])
            raise GradingError("nbgrader export failed (log above).")
        rows = wide(list(csv.DictReader(long.open())), labs)
    with target.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*ID_COLUMNS, *labs, "total", "max_total"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"Wrote {len(rows)} student(s) with {len(labs)} lab(s) ({', '.join(labs)}) to {target}.")
    for lab in labs:
        submissions = _submissions(course, lab)
        ungraded = sorted(s for s in submissions if not (course.root / "autograded" / s / lab).is_dir())
        pending = manual_parts_pending(course, lab)
        if ungraded:
            print(f"Note: {lab}: {len(ungraded)} submission(s) were never autograded (they score 0 here): "
                  + ", ".join(ungraded))
        if pending:
            print(f"Note: {lab}: {len(pending)} submission(s) still have parts to grade by hand; their scores are "
                  "incomplete: " + ", ".join(pending))
    return 0
