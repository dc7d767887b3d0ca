"""export: the gradebook's scores as a CSV, with a note on what is still incomplete."""
from __future__ import annotations

from pathlib import Path

from grading.course import Course, GradingError

def export(course: Course, assignment: str, args) -> int:
    target = Path(args.to).expanduser() if args.to else course.root / "grades.csv"
    target = target if target.is_absolute() else (Path.cwd() / target)
    code, log = course.nbgrader("export", f"--to={target}", f"--ExportPlugin.assignment=['{assignment}']")
    if code != 0 or not target.is_file():
        print(log[-3000:])
        raise GradingError("nbgrader export failed (log above).")
    rows = target.read_text().strip().splitlines()[1:]
    print(f"Wrote {len(rows)} row(s) for {assignment} to {target}.")
    with course.gradebook() as gb:
        submissions = {s.student.id: s.needs_manual_grade for s in gb.find_assignment(assignment).submissions}
    ungraded = sorted(s for s in submissions if not (course.root / "autograded" / s / assignment).is_dir())
    pending = sorted(s for s, manual in submissions.items() if manual and s not in ungraded)
    if ungraded:
        print(f"Note: {len(ungraded)} submission(s) were never autograded (they score 0 here): " + ", ".join(ungraded))
    if pending:
        print(f"Note: {len(pending)} submission(s) still have parts to grade by hand; their scores are incomplete: "
              + ", ".join(pending))
    return 0
