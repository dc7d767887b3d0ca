"""The report of an autograde run: each student's score from the gradebook, notes, and the summary.

Everything here comes from the grader's own records (the gradebook, the submitted files, what the
judge recorded); student text is stripped of terminal control sequences before it is printed.
"""
from __future__ import annotations

import json
from pathlib import Path
from dataclasses import dataclass, field

from grading.course import Course

FORMGRADER = "`make lab`, then Nbgrader > Formgrader > Manual Grading"  # one way to say it, everywhere


@dataclass
class Outcome:
    student: str
    status: str = "graded"  # graded | failed | skipped
    auto: float = 0.0
    auto_max: float = 0.0
    manual_pending: int = 0
    notes: list[str] = field(default_factory=list)
    flag: str = ""  # evidence a check found that honest code cannot produce: FLAGGED for review


def scores(course: Course, assignment: str, student: str, notebooks: list[str]) -> tuple[float, float, int]:
    auto = auto_max = 0.0
    pending = 0
    with course.gradebook() as gb:
        for name in notebooks:
            source = gb.find_notebook(name, assignment)
            manual = {c.name for c in source.solution_cells}
            for grade in gb.find_submission_notebook(name, assignment, student).grades:
                if grade.cell.name in manual:
                    pending += bool(grade.needs_manual_grade)
                else:
                    auto += grade.score or 0.0
                    auto_max += grade.max_score
    return auto, auto_max, pending


def _locked_cells(nb_json: dict) -> dict[str, tuple[str, bool]]:
    """grade_id -> (source, is a test cell) for every locked cell."""
    cells = {}
    for c in nb_json.get("cells", []):
        meta = c.get("metadata", {}).get("nbgrader", {})
        if meta.get("locked") and "grade_id" in meta:
            cells[meta["grade_id"]] = ("".join(c["source"]).strip(), bool(meta.get("grade")))
    return cells


def edited_cells(course: Course, assignment: str, student: str, notebook: str) -> list[str]:
    """Notes on locked cells a student changed or deleted (nbgrader restores edits and deleted tests)."""
    try:
        release = json.loads((course.release(assignment) / f"{notebook}.ipynb").read_text())
        submitted = json.loads((course.submitted() / student / assignment / f"{notebook}.ipynb").read_text())
    except (OSError, ValueError):
        return []
    expected, got = _locked_cells(release), _locked_cells(submitted)
    with course.gradebook() as gb:  # the master copies, hidden tests included
        master = {c.name: c.source.strip() for c in gb.find_notebook(notebook, assignment).source_cells}
    edited = [k for k in expected if k in got and got[k][0] not in (expected[k][0], master.get(k))]
    deleted_tests = [k for k, (_, test) in expected.items() if k not in got and test]
    deleted_other = [k for k, (_, test) in expected.items() if k not in got and not test]
    notes = []
    if edited:
        notes.append("edited test/read-only cells, restored before grading: " + ", ".join(edited))
    if deleted_tests:
        notes.append("deleted test cells, put back and graded: " + ", ".join(deleted_tests))
    if deleted_other:
        notes.append("deleted read-only cells (nbgrader does not put these back): " + ", ".join(deleted_other))
    return notes


def handed_in(folder: Path, lab, fast: bool = False) -> str:
    """One line saying what a student handed in beside the notebook, and what it means for grading.

    In fast-mode grading (tests, tries) the fast-mode checkpoints are the ones graded.
    """
    if not lab.checkpoints:
        return "handed in: the notebook"

    def found(pattern: str) -> list[str]:
        return sorted(p.relative_to(folder).as_posix() for p in folder.glob(pattern) if p.is_file()) if pattern else []

    graded, other = found(lab.checkpoints), found(lab.fast_checkpoints)
    if fast and lab.fast_checkpoints:
        graded, other = other, []
    if graded:
        return "handed in: the notebook and " + ", ".join(graded)
    if other:
        return ("handed in: only fast-mode checkpoints (" + ", ".join(other) + "), which full-mode grading does not "
                "read: the parts that load checkpoints earn nothing; the other parts are graded on their own")
    return (f"handed in: the notebook only (no {lab.checkpoints}): the parts that load checkpoints earn nothing; "
            "the other parts are graded on their own")


def summary(outcomes: list[Outcome], assignment: str, seconds: float) -> str:
    width = max(len(o.student) for o in outcomes)
    lines = ["", f"Autograde summary for {assignment} ({seconds:.0f} s):"]
    for o in outcomes:
        if o.status == "failed":
            head = "FAILED"
        else:
            head = f"{o.auto:g}/{o.auto_max:g} autograded" + (f", {o.manual_pending} part(s) to grade by hand"
                                                              if o.manual_pending else "")
            if o.status == "skipped":
                head = "skipped, " + head
            if o.flag:
                head += f", FLAGGED for review: {o.flag}"
        lines.append(f"  {o.student:<{width}}  {head}")
        lines += [f"  {'':<{width}}    - {n}" for n in o.notes]
    counts = {s: sum(o.status == s for o in outcomes) for s in ("graded", "failed", "skipped")}
    lines.append(f"{counts['graded']} graded, {counts['failed']} failed, {counts['skipped']} skipped.")
    if any(o.manual_pending for o in outcomes):
        lines.append(f"Next: grade the written parts in Formgrader ({FORMGRADER}), then run feedback and export.")
    return "\n".join(lines)
