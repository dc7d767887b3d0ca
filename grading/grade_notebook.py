"""Grade one submitted notebook: plan, execute, check, record.

* **plan**: read the submission as data (:mod:`grading.intake`), strip every metadata field that
  changes execution, derive the submission's seed from the course secret, start the judge
  (:mod:`grading.judge`) and let it draw the hidden inputs.
* **execute**: run the notebook in a sandboxed kernel (:mod:`grading.run_notebook`), then put
  each hidden check's question to it; the answers come back as plain data.
* **check**: the judge compares the answers (and the submitted files: checkpoints, source) with
  its own references, in its own sandboxed process.
* **record**: write the judge's verdict into the test cells (:mod:`grading.verdict`), where
  nbgrader's SaveAutoGrades scores them.

Nothing a student's code does in the kernel decides a grade, except the data it returns.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grading import sandbox, verdict
from grading.intake import IntakeLimits, _read_regular, clean_in_place, read_submission
from grading.judge import JudgeError, JudgeProcess
from grading.run_notebook import NotebookRun, Question, question_folder
from grading.secret import load_secret, submission_seed

ANSWER_LIMIT = 80 * 2**20  # bytes one answer's files may take (probe.py bounds it the same way)
UID_BASE = 2_000_000_000  # unprivileged uids with no account, far above any real user's


class GradingRefused(RuntimeError):
    """This notebook cannot be graded safely here (no sandbox): the message names the command to use."""


@dataclass
class Settings:
    """How to grade (GradeInSandbox's options)."""

    sandbox: bool = True
    fast: bool = False
    cell_timeout: int = 60
    deadline: float = 900.0


@dataclass
class Plan:
    student: str
    assignment: str
    workdir: Path  # where nbgrader put the notebook: the kernel's working folder
    files: dict[str, bytes]  # the submission as handed in
    checks: Path
    settings: Settings
    config: sandbox.SandboxConfig | None  # None: --no-sandbox
    judge: JudgeProcess | None = None
    questions: list[Question] = field(default_factory=list)
    checks_info: list[dict] = field(default_factory=list)
    cells: dict[str, float] = field(default_factory=dict)  # this notebook's test cells and their points
    notes: list[str] = field(default_factory=list)
    failure: str = ""  # why no check could run (then every check fails closed with this reason)


def sandbox_config(settings: Settings) -> sandbox.SandboxConfig | None:
    """The sandbox of one grading job: a uid of this process's own when grading as root.

    RLIMIT_NPROC counts the processes of a uid across the machine: with every kernel as nobody, a
    fork bomb graded beside others would starve their kernels. One uid per grading process keeps
    each limit to its own sandbox.
    """
    if not settings.sandbox:
        return None
    own = {}
    if os.geteuid() == 0 and "COURSE_SANDBOX_UID" not in os.environ:
        own = {"uid": UID_BASE + os.getpid(), "gid": UID_BASE + os.getpid()}
    wall = int(max(1, min(settings.deadline, sandbox.SandboxConfig.from_env().wall_seconds)))
    return sandbox.SandboxConfig.from_env(wall_seconds=wall, **own)


def strip_metadata(nb) -> None:
    """Only nbgrader's own metadata survives: tags such as skip-execution or raises-exception go."""
    nb.metadata = nbformat.from_dict({k: nb.metadata[k] for k in ("kernelspec", "language_info") if k in nb.metadata})
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict({"nbgrader": cell.metadata["nbgrader"]} if "nbgrader" in cell.metadata else {})


# --- plan --------------------------------------------------------------------------------------------------

def plan(nb, *, student: str, assignment: str, course_id: str, workdir: Path, submitted: Path, source: Path,
         settings: Settings, limits: IntakeLimits) -> Plan:
    intake = read_submission(submitted, limits)
    p = Plan(student, assignment, Path(workdir), intake.files, source / "checks.py", settings, sandbox_config(settings))
    strip_metadata(nb)
    p.cells = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"].get("points", 0))
               for c in nb.cells if verdict.is_test(c)}
    if not p.checks.is_file():
        p.failure = f"the lab has no hidden checks ({source.name}/checks.py is missing)"
        return p
    notebooks = {n: b for n, b in intake.files.items() if n.endswith(".ipynb") and "/" not in n}
    seed = submission_seed(load_secret(), course_id, assignment, student, notebooks)
    try:
        p.judge = JudgeProcess(p.checks, p.config)
        drawn = p.judge.request({"op": "draw", "seed": seed, "fast": settings.fast, "cells": list(p.cells),
                                 "folder": str(p.judge.folder / "questions")}, timeout=300)
    except JudgeError as err:
        p.failure = f"the grader's checks could not be prepared ({err})"
        return p
    p.checks_info = drawn["checks"]
    p.questions = [Question(q["id"], q["source"], float(q["timeout"]), q["cell"], q["names"]) for q in drawn["questions"]]
    return p


# --- execute -------------------------------------------------------------------------------------------------

def _kernel(p: Plan, course_root: Path) -> dict:
    if p.config is None:
        return {"kernel_name": "python3"}
    try:
        return sandbox.kernel_settings(course_root, p.config)
    except sandbox.SandboxUnavailable as err:
        raise GradingRefused(
            f"{err}\nThis notebook was not graded. Grade from a terminal in the course folder with "
            f"`make grade ASSIGNMENT={p.assignment}` (python -m grading grade {p.assignment}), which says the same "
            "and offers --no-sandbox for trusted submissions.") from None


def execute(p: Plan, nb, course_root: Path) -> dict[int, str | None]:
    """Run the notebook and the questions; {question id: None if answered, else why not}."""
    kernel = _kernel(p, course_root)
    root_uid = p.config.uid if p.config is not None and os.geteuid() == 0 else None

    def make_folder(q: Question) -> Path:
        path, fd = question_folder(p.workdir, root_uid)
        try:
            for name in ("in.json", "in.safetensors"):
                data = (p.judge.folder / "questions" / str(q.id) / name).read_bytes()
                out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
                with os.fdopen(out, "wb") as fh:
                    fh.write(data)
        finally:
            os.close(fd)
        return path

    # The grading mode is the grader's (GradeInSandbox.fast), never the server's COURSE_FAST.
    env = {**os.environ, "COURSE_FAST": "1" if p.settings.fast else "0", "NBGRADER_EXECUTION": "autograde"}
    env.pop("COURSE_GRADING_SECRET", None)
    run = NotebookRun(nb, p.workdir, kernel, cell_timeout=p.settings.cell_timeout, deadline=p.settings.deadline,
                      env=env)
    try:
        answered = run.run(p.questions if not p.failure else [], make_folder)
    finally:
        sandbox.drop_run_folder(kernel)
    def label(i: int) -> str:
        return nb.cells[i].metadata.get("nbgrader", {}).get("grade_id") or f"cell {i + 1}"

    p.notes += [f"{label(i)}: {why}; the other cells were graded" for i, why in sorted(run.report.skipped.items())]
    p.notes += [f"{label(i)}: stopped at the {p.settings.cell_timeout} s limit per cell; the rest was graded"
                for i in run.report.timeouts if i not in run.report.skipped]
    if run.report.deadline_hit:
        cut = run.report.deadline_cut
        where = f" while {label(cut)} ran" if cut is not None else ""
        p.notes.append(f"the {p.settings.deadline:.0f} s deadline for this notebook passed{where}; "
                       "what ran before it was graded, nothing after it ran")
    return answered


def _collect_answer(q: Question, why: str | None, target: Path) -> dict | str:
    """Copy one answer's files (plain files, bounded) for the judge; or why there is none."""
    if why is not None:
        return {"error": why}
    out = {}
    for name in ("out.json", "out.safetensors", "out.error"):
        data = _read_regular(q.folder / name, ANSWER_LIMIT)
        out[name] = data if isinstance(data, bytes) else None
    if out["out.error"] is not None or out["out.json"] is None:
        return {"error": "the answer was too large, or not plain data (numbers, strings, lists, dicts, tensors)"}
    target.mkdir(parents=True)
    for name in ("out.json", "out.safetensors"):
        (target / name).write_bytes(out[name] or b"")
    return str(target)


# --- check ----------------------------------------------------------------------------------------------------

def check(p: Plan, answered: dict[int, str | None]) -> list[dict]:
    """The judge's results, one per check of this notebook's cells; every check fails closed on trouble."""
    if p.failure:
        return _all_failed(p, p.failure)
    answers = {str(q.id): _collect_answer(q, answered.get(q.id, "not asked"), p.judge.folder / "answers" / str(q.id))
               for q in p.questions}
    for rel, data in p.files.items():
        target = p.judge.folder / "files" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    try:
        results = p.judge.request({"op": "judge", "answers": answers, "files": str(p.judge.folder / "files")},
                                  timeout=max(60.0, p.settings.deadline))["results"]
    except JudgeError as err:
        return _all_failed(p, f"the grader's checks could not run ({err})")
    if any(r.get("internal") for r in results):
        p.notes.append("checks.py raised on some check (it failed closed); the judge said:\n" + p.judge.stderr())
    return results


def _all_failed(p: Plan, reason: str) -> list[dict]:
    checks = p.checks_info or [{"id": i, "cell": cell, "name": "hidden checks", "points": points}
                               for i, (cell, points) in enumerate(p.cells.items())]
    return [{"id": c["id"], "cell": c["cell"], "name": c["name"], "points": c["points"], "earned": 0.0,
             "message": reason, "flags": [], "internal": True} for c in checks]


def finish(p: Plan) -> None:
    """Stop the judge, and leave the kernel's folder holding plain files only."""
    if p.judge is not None:
        p.judge.close()
    for path in p.workdir.glob(".question-*"):
        shutil.rmtree(path, ignore_errors=True)
    left = clean_in_place(p.workdir)
    p.notes += [f"the notebook left {n.split(';')[0]} in its folder; removed" for n in left]
