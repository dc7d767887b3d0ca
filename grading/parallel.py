"""Run grading tasks on N local processes or on a Dask cluster, and hand back each student's result once.

``workers=1`` without a scheduler runs the tasks in this process, one after another (no Dask
needed). Otherwise the tasks go to Dask distributed: a ``LocalCluster`` of ``workers`` processes
with one thread each, or the cluster whose scheduler is at ``scheduler`` (``tcp://host:8786``;
started by hand, by dask-jobqueue on Slurm/PBS, or by dask-kubernetes). Every task carries its
submission and the course material as data, so workers share no disk with this machine.

A worker that dies mid-task (killed, out of memory, node lost) has its tasks rerun elsewhere by
the Dask scheduler; each task's key names its student, and results are kept by student, so none
is lost or counted twice. At most ``window`` submissions are in flight at a time, which bounds
the memory a class of large checkpoints takes on this machine and on the scheduler.
"""
from __future__ import annotations

import os
import secrets
import warnings
from collections.abc import Callable, Iterable, Iterator

from grading.course import GradingError
from grading.execute import Executed, Material, Submission, grade

DASK_HINT = "pip install -e '.[grading]' (dask[distributed]) on this machine and on every worker"


def default_workers() -> int:
    """One worker per CPU, but no more than one per 2 GB of available memory (a grading kernel needs ~1 GB)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    available_gb = _available_memory() / 2**30
    return max(1, min(cpus, int(available_gb // 2)))


def _available_memory() -> float:
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))


def run(material: Material, submissions: Iterable[Submission], on_result: Callable[[Executed], None], *,
        workers: int = 1, scheduler: str | None = None, echo: Callable[[str], None] = print) -> str:
    """Grade every submission; call on_result once per student, in the order they finish. Returns where it ran."""
    if scheduler is None and workers <= 1:
        for submission in submissions:
            on_result(grade(material, submission))
        return "in this process"
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise GradingError(f"--workers {workers} and --scheduler need Dask distributed: {DASK_HINT}; "
                           "or grade with --workers 1.") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except (OSError, TimeoutError) as err:
            raise GradingError(f"Cannot reach the Dask scheduler at {scheduler} ({err}). Start it "
                               "(`dask scheduler`, or your dask-jobqueue/dask-kubernetes cluster) and pass its address.") from None
        with client:
            n = len(client.scheduler_info().get("workers", {}))
            if not n:
                echo(f"  The scheduler at {scheduler} has no workers yet; tasks wait until workers join.")
            _run_dask(client, material, submissions, on_result, window=max(2 * n, 4))
        return f"on the Dask cluster at {scheduler} ({n} worker(s) at the start)"
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      memory_limit=0, silence_logs=40) as cluster, Client(cluster) as client:
        _run_dask(client, material, submissions, on_result, window=2 * workers)
    return f"on {workers} local worker processes (Dask LocalCluster)"


def _run_dask(client, material: Material, submissions: Iterable[Submission],
              on_result: Callable[[Executed], None], *, window: int) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    run_id = secrets.token_hex(4)
    todo: Iterator[Submission] = iter(submissions)
    student_of: dict[str, str] = {}
    done: set[str] = set()
    pending = as_completed()

    def submit_next() -> None:
        submission = next(todo, None)
        if submission is None:
            return
        key = f"grade-{material.assignment}-{submission.student}-{run_id}"
        with warnings.catch_warnings():  # a submission's checkpoints make a large task: intended
            warnings.simplefilter("ignore")
            future = client.submit(grade, material, submission, key=key, pure=False, retries=0)
        student_of[future.key] = submission.student
        pending.add(future)

    for _ in range(window):
        submit_next()
    for future in pending:
        student = student_of[future.key]
        try:
            result = future.result()
        except KilledWorker as err:
            result = Executed(student, "failed", reason=(
                f"every worker that graded it died ({err}); a submission that kills its worker "
                "(out of memory outside the sandbox?) needs a look. Nothing was graded."))
        except Exception as err:  # noqa: BLE001 - reported against this student alone
            result = Executed(student, "failed", reason=f"the grading task failed: {type(err).__name__}: {err}")
        future.release()
        if student not in done:  # a key is delivered once; never record a student twice anyway
            done.add(student)
            on_result(result)
        submit_next()
