"""release: generate the student version of an assignment and check that no solution leaks."""
from __future__ import annotations

import shutil

from grading.course import SOLUTION_MARKERS, Course, GradingError, notebooks_in

def release(course: Course, assignment: str, args) -> int:
    source = course.source(assignment)
    if not notebooks_in(source):
        raise GradingError(f"No notebook in {source}: the source of an assignment lives in solutions/<assignment>/.")
    code, log = course.nbgrader("generate_assignment", assignment, "--force")
    if code != 0:
        print(log[-3000:])
        raise GradingError(f"nbgrader generate_assignment failed for {assignment} (log above).")
    target = course.release(assignment)
    shutil.rmtree(target / "checkpoints", ignore_errors=True)  # the config's hook does this too
    leaks = [f"{nb.name}: {m}" for nb in notebooks_in(target) for m in SOLUTION_MARKERS if m in nb.read_text()]
    if leaks:
        raise GradingError("The release still contains solution markers: " + "; ".join(leaks))
    files = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    print(f"Released {assignment} to {target.relative_to(course.root)}/: {', '.join(files)}")
    print("The gradebook now knows its test cells. Commit assignments/ and hand the folder to students.")
    return 0
