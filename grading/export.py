"""export: the gradebook's scores as a CSV, with a note on what is still incomplete."""
from __future__ import annotations

from pathlib import Path

from grading.course import Course, GradingError


def _submissions(course: Course, assignment: str) -> dict[str, bool]:
    """student id -> whether the submission still needs grading by hand."""
    with course.gradebook() as gb:
        return {s.student.id: s.needs_manual_grade for s in gb.find_assignment(assignment).submissions}


def manual_parts_pending(course: Course, assignment: str) -> list[str]:
    """Autograded students whose written parts nobody has graded yet."""
    return sorted(s for s, manual in _submissions(course, assignment).items()
                  if manual and (course.root / "autograded" / s / assignment).is_dir())


def export(course: Course, assignment: str, args) -> int:
    target = Path(args.to).expanduser() if args.to else course.root / "grades.csv"
    target = target if target.is_absolute() else (Path.cwd() / target)
    code, log = course.nbgrader("export", f"--to={target}", f"--ExportPlugin.assignment=['{assignment}']")
    if code != 0 or not target.is_file():
        print(log[-3000:])
        raise GradingError("nbgrader export failed (log above).")
    rows = target.read_text().strip().splitlines()[1:]
    print(f"Wrote {len(rows)} row(s) for {assignment} to {target}.")
    submissions = _submissions(course, assignment)
    ungraded = sorted(s for s in submissions if not (course.root / "autograded" / s / assignment).is_dir())
    pending = manual_parts_pending(course, assignment)
    if ungraded:
        print(f"Note: {len(ungraded)} submission(s) were never autograded (they score 0 here): " + ", ".join(ungraded))
    if pending:
        print(f"Note: {len(pending)} submission(s) still have parts to grade by hand; their scores are incomplete: "
              + ", ".join(pending))
    return 0
