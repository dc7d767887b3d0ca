"""Seconds per submission for autograding a lab (the Sherlock lab by default), the way an instructor runs it.

Builds a temporary course (release + N copies of a finished reference submission with its
checkpoints), then times ``python -m grading autograde`` over all of them. The autograder
never trains, so this is kernel start-up, imports, loading the text, the notebook's cells, the
hidden checks' questions, the judge's references and the re-measured checkpoints, short samples
and a figure.

    python -m benchmarks.grading                   # 4 submissions, sandboxed, full mode
    python -m benchmarks.grading --submissions 8 --no-sandbox
    python -m benchmarks.grading --assignment imdb_sentiment --fast
    python -m benchmarks.grading --fast --grading-code ../old-checkout   # another version of grading/, same run

CPU seconds per submission are reported two ways: the whole command's (every process it started,
counted when they end, divided by N: nbgrader's start-up and the gradebook writer included) and
each task's own (the grader's log: the worker's thread, its kernels and its judge).

The reference submission is ``solutions/<lab>/`` with the checkpoints its last full-mode run left
in ``checkpoints/`` (train them by running the notebook once, COURSE_FAST unset). With ``--fast``
the notebook is first run in fast mode and graded in fast mode (tiny models).
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "sherlock_rnn_vs_gru"
GRADE = [sys.executable, "-m", "grading"]


def reference_submission(workdir: Path, fast: bool = False, code: Path = REPO, assignment: str = ASSIGNMENT) -> Path:
    """The solution notebook with its checkpoints, as a student would hand it in."""
    from grading.course import LAB_FACTS, LabFacts

    source, notebook = code / "solutions" / assignment, f"{assignment}.ipynb"
    folder = workdir / "reference"
    folder.mkdir()
    shutil.copy(source / notebook, folder / notebook)
    if not fast:
        trained = sorted(p for p in (source / "checkpoints").glob("*") if p.is_file())
        if LabFacts.read(source / LAB_FACTS).checkpoints and not trained:
            raise SystemExit(f"No full-mode checkpoints in {source / 'checkpoints'}: run the solution notebook once in "
                             "full mode (COURSE_FAST unset), or pass --fast.")
        (folder / "checkpoints").mkdir()
        for path in trained:
            shutil.copy(path, folder / "checkpoints" / path.name)
        return folder
    from nbclient import NotebookClient

    nb = nbformat.read(folder / notebook, as_version=4)
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    nbformat.write(nb, folder / notebook)
    return folder


def _run(cmd: list[str], env: dict, code: Path = REPO) -> subprocess.CompletedProcess:
    # cwd=code: `python -m grading` imports from the working folder first, before PYTHONPATH
    return subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)


def released_course(course: Path, env: dict, code: Path = REPO, assignment: str = ASSIGNMENT) -> Path:
    """A new course folder with the lab's source and its release (and a gradebook that knows it)."""
    course.mkdir(parents=True)
    shutil.copy(code / "nbgrader_config.py", course)
    shutil.copytree(code / "solutions" / assignment, course / "solutions" / assignment,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints", "__pycache__"))
    release = _run(GRADE + ["release", assignment, f"--course-dir={course}"], env, code)
    if release.returncode:
        raise SystemExit(release.stdout + release.stderr)
    return course


def submit_copies(course: Path, reference: Path, n: int, assignment: str = ASSIGNMENT) -> None:
    """n students (student000, ...) who each handed in the reference submission."""
    for i in range(n):
        shutil.copytree(reference, course / "submitted" / f"student{i:03d}" / assignment)


def autograde(course: Path, env: dict, sandbox: bool = True, code: Path = REPO,
              assignment: str = ASSIGNMENT) -> tuple[float, str]:
    """Seconds for one `grading autograde` over every submission, and what it printed."""
    cmd = GRADE + ["autograde", assignment, f"--course-dir={course}"] + ([] if sandbox else ["--no-sandbox"])
    start = time.perf_counter()
    result = _run(cmd, env, code)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise SystemExit(result.stdout[-4000:] + result.stderr[-2000:])
    return seconds, result.stdout


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--assignment", default=ASSIGNMENT, help="the lab to grade, a folder of solutions/")
    parser.add_argument("--submissions", type=int, default=4)
    parser.add_argument("--no-sandbox", action="store_true", help="grade without the bubblewrap sandbox")
    parser.add_argument("--fast", action="store_true", help="train and grade tiny fast-mode models")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course and print its path")
    parser.add_argument("--grading-code", type=Path, default=REPO,
                        help="a checkout whose grading/, helpers/, lab source and nbgrader_config.py to measure "
                             "(default: this one), run with this environment's packages")
    args = parser.parse_args(argv)

    code = args.grading_code.resolve()
    if not (code / "solutions" / args.assignment / f"{args.assignment}.ipynb").is_file():
        labs = sorted(p.parent.name for p in (code / "solutions").glob("*/checks.py"))
        parser.error(f"no lab {args.assignment!r} in {code / 'solutions'}; the labs are: {', '.join(labs)}")
    env = dict(os.environ, COURSE_FAST="1" if args.fast else "0", PYTHONPATH=str(code))
    env.setdefault("COURSE_DATA_MIRROR", str(REPO.parent / "shared" / "data"))
    env.setdefault("OMP_NUM_THREADS", "1")
    os.environ.update(env)
    workdir = Path(tempfile.mkdtemp(prefix="grading-bench-", dir="/tmp"))
    workdir.chmod(0o755)
    try:
        course = released_course(workdir / "course", env, code, args.assignment)
        reference = reference_submission(workdir, args.fast, code, args.assignment)
        submit_copies(course, reference, args.submissions, args.assignment)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds, stdout = autograde(course, env, sandbox=not args.no_sandbox, code=code, assignment=args.assignment)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        graded = sum(a == b for a, b in re.findall(r"\b([\d.]+)/([\d.]+) autograded", stdout))
        cores = os.cpu_count()
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"machine: {platform.machine()} {platform.system()}, {cores} CPU core(s), load average {load:.1f} at the end")
        print(f"lab: {args.assignment}; mode: {'fast' if args.fast else 'full'} models; sandbox: {'off' if args.no_sandbox else 'on'}; "
              f"OMP_NUM_THREADS={env.get('OMP_NUM_THREADS', 'unset')}")
        print(f"grading code: {code}")
        print(f"{args.submissions} submissions autograded in {seconds:.1f} s "
              f"({graded} with full autograded marks): {seconds / args.submissions:.1f} s per submission "
              "(including the one-off nbgrader start-up)")
        print(f"CPU time of the whole command (user+sys, every process it started): {cpu:.1f} s, "
              f"{cpu / args.submissions:.1f} s per submission")
        log = "".join(p.read_text() for p in (course / "autograded" / ".logs").glob("autograde-*.log"))
        tasks = [float(x) for x in re.findall(r"== student\d+: \w+ in [\d.]+ s \(CPU ([\d.]+) s\)", log)]
        if tasks:
            print(f"CPU time of each task (the grader's log): mean {sum(tasks) / len(tasks):.1f} s, "
                  f"range {min(tasks):.1f}-{max(tasks):.1f} s")
        if args.keep:
            print(f"course kept at {course}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
