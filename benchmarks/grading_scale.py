"""Seconds per submission when a class of Sherlock-lab submissions is autograded by 1, 2 and N workers.

Builds one released course with ``--submissions`` copies of the reference submission (the
solution notebook with its checkpoints), then, for each worker count, grades a fresh copy of it
with ``python -m grading autograde --workers W`` and reads the run's log: the wall time, each
task's wall and CPU time (sampled over nbgrader and its sandboxed kernel), and the CPU time of
the one process that records grades. From the measured CPU time it prints a paper estimate for
300 submissions on one 16-core box and on a 4-node cluster.

    python -m benchmarks.grading_scale --fast                  # 40 submissions, workers 1, 2, 4
    python -m benchmarks.grading_scale --submissions 60 --workers 1,2,8
    python -m benchmarks.grading_scale --fast --template DIR --budget 600   # a loaded box: 10 min per count
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.grading import ASSIGNMENT, REPO, reference_submission, released_course, submit_copies

TASK = re.compile(r"^== (\S+): (graded|failed) in ([\d.]+) s \(CPU ([\d.]+) s\) on (\S+) ==$", re.M)
RECORD = re.compile(r"^== recorded (\d+): .* in ([\d.]+) s \(CPU ([\d.]+) s\) ==$", re.M)


def grade(course: Path, workers: int, env: dict, sandbox: bool, budget: float | None = None) -> dict:
    """One autograde run (stopped after budget seconds, if given); what it took, from the clock and its log."""
    cmd = [sys.executable, "-m", "grading", "autograde", ASSIGNMENT, f"--course-dir={course}", f"--workers={workers}"]
    cmd += [] if sandbox else ["--no-sandbox"]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        stdout, _ = proc.communicate(timeout=budget)
        stopped = False
    except subprocess.TimeoutExpired:  # SIGTERM first: each task's supervisor then takes its kernel down
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(5)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        stdout, _ = proc.communicate()
        stopped = True
    wall = time.perf_counter() - start
    if proc.returncode and not stopped:
        raise SystemExit(stdout[-4000:])
    log = "".join(p.read_text() for p in sorted((course / "autograded" / ".logs").glob("autograde-*.log")))
    tasks = [(float(w), float(c)) for _, status, w, c, _ in TASK.findall(log) if status == "graded"]
    records = [(int(n), float(w), float(c)) for n, w, c in RECORD.findall(log)]
    return {"workers": workers, "wall": wall, "load_before": load, "load_after": os.getloadavg()[0],
            "stopped": stopped, "full_marks": stdout.count("80/80 autograded"),
            "graded": len(tasks),  # executed by a worker (when stopped early, some were not recorded yet)
            "task_wall": sum(w for w, _ in tasks) / max(1, len(tasks)),
            "task_cpu": sum(c for _, c in tasks) / max(1, len(tasks)),
            "record_cpu": sum(c for *_, c in records) / max(1, sum(n for n, *_ in records)),
            "record_wall": sum(w for _, w, _ in records), "batches": len(records)}


def recording_cost(template: Path, workdir: Path, sizes=(1, 16)) -> tuple[float, float]:
    """CPU seconds of the one writer (grading.record): per batch (nbgrader start-up) and per submission.

    Records batches of the reference submission's own executed notebook into a copy of the course:
    what the writer does with a worker's result (no kernel runs).
    """
    import resource

    from grading.course import Course
    from grading.execute import Executed
    from grading.intake import read_submission
    from grading.record import record

    course_dir = workdir / "recording"
    shutil.copytree(template, course_dir)
    course = Course(course_dir, f"sqlite:///{course_dir / 'gradebook.db'}")
    first = sorted((course_dir / "submitted").iterdir())[0] / ASSIGNMENT
    notebook = (first / f"{ASSIGNMENT}.ipynb").read_text()
    cpu = {}
    for n in sizes:
        batch = [Executed(f"rec{n}-{i:03d}", notebooks={ASSIGNMENT: notebook}) for i in range(n)]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        problems = record(course, ASSIGNMENT, batch, lambda s: read_submission(first).files, workdir / f"rec{n}.log")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if problems:
            raise SystemExit(f"recording failed: {problems}")
        cpu[n] = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    small, large = min(sizes), max(sizes)
    per_submission = (cpu[large] - cpu[small]) / (large - small)
    return cpu[small] - small * per_submission, per_submission


def estimate(task_cpu: float, batch_cpu: float, per_cpu: float, n: int = 300) -> list[str]:
    """Paper estimates from measured CPU times (one core per worker, nothing else running)."""
    lines = []
    startup = 15.0  # cluster start, sandbox check, template gradebook: a few seconds here, rounded up
    for label, cores in (("one 16-core box (16 workers)", 16), ("4 nodes x 16 cores (64 workers)", 64)):
        batch = max(8, 2 * cores) if cores <= 16 else 32  # the writer's batch: local run, or a cluster
        grading = n * task_cpu / cores  # every core busy with one task after another
        recording = n * per_cpu + math.ceil(n / batch) * batch_cpu  # the one writer, overlapped with grading
        total = startup + max(grading, recording) + batch_cpu + batch * per_cpu  # the last batch comes after
        lines.append(f"  {n} submissions on {label}: ~{total / 60:.1f} min "
                     f"(grading {grading:.0f} s of wall time, recording {recording:.0f} s on the coordinator "
                     "in parallel with it)")
    return lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--submissions", type=int, default=40)
    parser.add_argument("--workers", default="1,2,4", help="comma-separated worker counts (default 1,2,4)")
    parser.add_argument("--fast", action="store_true", help="fast-mode models (train the reference in fast mode first)")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--budget", type=float, default=None,
                        help="stop each run after this many seconds and count what was recorded by then "
                             "(for a loaded machine; the figure is then seconds per recorded submission)")
    parser.add_argument("--template", help="a course made by an earlier run (--keep): released, with submissions")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its template/ is reusable)")
    parser.add_argument("--task-cpu", type=float, default=None,
                        help="with --workers 0: the CPU seconds per task measured before, for the estimate only")
    args = parser.parse_args(argv)

    env = dict(os.environ, COURSE_FAST="1" if args.fast else "0", PYTHONUNBUFFERED="1")
    env.setdefault("COURSE_DATA_MIRROR", str(REPO.parent / "shared" / "data"))
    env.pop("OMP_NUM_THREADS", None)  # autograde shares the cores out between its kernels
    os.environ.update({k: v for k, v in env.items() if k.startswith("COURSE_")})
    workdir = Path(tempfile.mkdtemp(prefix="grading-scale-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    try:
        if args.template:
            template = Path(args.template)
            args.submissions = len(list((template / "submitted").iterdir()))
        else:
            template = released_course(workdir / "template", env)
            submit_copies(template, reference_submission(workdir, args.fast), args.submissions)
        rows = []
        for workers in [int(w) for w in args.workers.split(",") if int(w) > 0]:
            course = workdir / f"workers{workers}"
            shutil.copytree(template, course)
            rows.append(grade(course, workers, env, not args.no_sandbox, args.budget))
            shutil.rmtree(course, ignore_errors=True)
            r = rows[-1]
            r["per_submission"] = r["wall"] / max(1, r["graded"] if r["stopped"] else args.submissions)
            done = f"stopped after {r['wall']:.0f} s with {r['graded']} of {args.submissions} graded" if r["stopped"] \
                else f"{r['wall']:.0f} s for {args.submissions}, {r['full_marks']} with 80/80"
            print(f"workers={workers}: {done} ({r['per_submission']:.1f} s per submission); task wall {r['task_wall']:.1f} s, "
                  f"task CPU {r['task_cpu']:.1f} s, recording CPU {r['record_cpu']:.2f} s per submission in "
                  f"{r['batches']} batch(es); load {r['load_before']:.1f} -> {r['load_after']:.1f}", flush=True)
        batch_cpu, per_cpu = recording_cost(template, workdir)
        print(f"recording (the one writer): {batch_cpu:.2f} s CPU per batch (nbgrader start-up) + "
              f"{per_cpu:.2f} s per submission")
        if not rows:
            print("\n".join(estimate(args.task_cpu, batch_cpu, per_cpu)))
            return
        base = rows[0]["per_submission"]
        print(f"\nmachine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPU core(s); "
              f"mode: {'fast' if args.fast else 'full'}; sandbox: {'off' if args.no_sandbox else 'on'}")
        print("| workers | wall (s) | s per submission | speed-up vs 1 | task wall (s) | task CPU (s) | load avg |")
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['workers']} | {r['wall']:.0f}{' (stopped)' if r['stopped'] else ''} | {r['per_submission']:.1f} "
                  f"| {base / r['per_submission']:.2f}x "
                  f"| {r['task_wall']:.1f} | {r['task_cpu']:.1f} | {r['load_before']:.1f}-{r['load_after']:.1f} |")
        one = rows[0]
        print(f"\nmeasured CPU per submission: {one['task_cpu']:.1f} s grading (nbgrader + kernel, 1 worker), "
              f"{one['record_cpu']:.2f} s recording in this run's batches")
        print("\n".join(estimate(one["task_cpu"], batch_cpu, per_cpu)))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
