"""The nbgrader steps grading adds to ``nbgrader autograde`` (nbgrader_config.py lists them).

* :class:`GradeInSandbox` takes the place of nbgrader's Execute: the notebook runs in a sandboxed
  kernel, the lab's hidden checks run in the grader's judge, and each test cell's outputs become the
  judge's verdict (:mod:`grading.grade_notebook`). Every way into autograding goes through it:
  ``python -m grading autograde``, plain ``nbgrader autograde`` and Formgrader's Autograde button.
* :class:`MakeInert` leaves only passive outputs (:mod:`grading.inert`): what Formgrader and feedback
  show can run no script.
* :class:`FlagForReview` runs after SaveAutoGrades: a check that found evidence honest code cannot
  produce marks its cell for a person to look at, with the reason as the cell's comment.
"""
from __future__ import annotations

from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer

from grading import grade_notebook, verdict
from grading.inert import make_inert


def _coursedir(step):
    """The CourseDirectory of the nbgrader app running this step (its config when run alone)."""
    from nbgrader.coursedir import CourseDirectory

    parent = step.parent
    while parent is not None:
        if hasattr(parent, "coursedir"):
            return parent.coursedir
        parent = getattr(parent, "parent", None)
    return CourseDirectory(config=step.config)


class GradeInSandbox(NbGraderPreprocessor):
    """Run the notebook sandboxed, ask it the lab's hidden checks, and record the judge's verdict."""

    sandbox = Bool(True, help="Run the notebook and the judge in the bubblewrap sandbox. Switch off only for "
                              "trusted submissions (python -m grading autograde --no-sandbox does).").tag(config=True)
    fast = Bool(False, help="Grade in fast mode: the lab's small data and fast-mode checkpoints (tests and tries). "
                            "Never taken from the server's COURSE_FAST.").tag(config=True)
    timeout = Integer(60, help="Seconds each cell may run; a longer one is interrupted and the rest still "
                               "runs.").tag(config=True)
    deadline = Integer(900, help="Seconds for the whole notebook, the hidden checks' questions "
                                 "included.").tag(config=True)

    def preprocess(self, nb, resources):
        coursedir = _coursedir(self)
        info = resources["nbgrader"]
        student, assignment = info["student"], info["assignment"]
        settings = grade_notebook.Settings(self.sandbox, self.fast, self.timeout, float(self.deadline))
        plan = grade_notebook.plan(
            nb, student=student, assignment=assignment, course_id=coursedir.course_id or "rnn-course",
            workdir=Path(resources["metadata"]["path"]),
            submitted=Path(coursedir.format_path(coursedir.submitted_directory, student, assignment)),
            source=Path(coursedir.format_path(coursedir.source_directory, ".", assignment)),
            settings=settings, limits=_limits(coursedir))
        submitted = _submitted_notebook(plan.files, info["notebook"])
        try:
            answered = grade_notebook.execute(plan, nb, Path(coursedir.root))
            results = grade_notebook.check(plan, answered)
        finally:
            grade_notebook.finish(plan)
        verdict.record(nb, results, submitted, plan.notes)
        for note in plan.notes:
            self.log.warning("%s: %s", student, note)
        return nb, resources


class MakeInert(NbGraderPreprocessor):
    """Only passive outputs: plain text and raster images (grading.inert)."""

    def preprocess(self, nb, resources):
        return make_inert(nb), resources


class FlagForReview(NbGraderPreprocessor):
    """Cells whose checks flagged evidence: marked for manual review, the reason in the part's comment.

    nbgrader keeps comments on answer cells only, so the reason goes to the answer cell just before
    the flagged test cell (where Formgrader and feedback show it).
    """

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        flagged = verdict.flags(nb)
        if not flagged:
            return nb, resources
        info = resources["nbgrader"]
        notes: dict[str, list[str]] = {}
        answer = None
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") or meta.get("task"):
                answer = meta.get("grade_id")
            elif meta.get("grade_id") in flagged and answer:
                notes.setdefault(answer, []).extend(flagged[meta["grade_id"]])
        with Gradebook(info["db_url"]) as gb:
            sub = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            for grade in sub.grades:
                if grade.cell.name in flagged:
                    grade.needs_manual_grade = True
            for comment in sub.comments:
                if comment.cell.name in notes:
                    comment.auto_comment = "FLAGGED for review: " + "; ".join(notes[comment.cell.name])
            gb.db.commit()
        return nb, resources


def _limits(coursedir):
    from grading.intake import IntakeLimits

    return IntakeLimits.from_config(getattr(coursedir, "max_file_size", None))


def _submitted_notebook(files: dict[str, bytes], name: str):
    import nbformat

    try:
        return nbformat.reads(files[f"{name}.ipynb"].decode("utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - a damaged hand-in has no outputs to show
        return None
