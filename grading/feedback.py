"""feedback: one HTML report per graded student, from the autograded notebooks."""
from __future__ import annotations

from grading.course import Course

def feedback(course: Course, assignment: str, args) -> int:
    code, log = course.nbgrader("generate_feedback", assignment, "--force", log=course.log_file("feedback", assignment))
    graded = sorted(p.parent.name for p in (course.root / "autograded").glob(f"*/{assignment}") if p.is_dir())
    missing = [s for s in graded if not list((course.root / "feedback" / s / assignment).glob("*.html"))]
    print(f"Feedback HTML for {len(graded) - len(missing)} of {len(graded)} graded student(s) "
          f"in feedback/<student>/{assignment}/.")
    if missing:
        print("No feedback for: " + ", ".join(missing) + " (see the log above).")
        return 1
    if code != 0:
        print(log[-3000:])
        return 1
    print("Hand them out with `nbgrader release_feedback` (exchange) or upload each HTML to your LMS.")
    return 0
