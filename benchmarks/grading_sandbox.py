"""What the grading sandbox costs: sandboxed vs plain kernels, and whole autograde runs.

Two measurements, each alternating sandbox on/off so that a change in machine load hits
both sides alike:

1. ``kernel``: start a kernel (``python3`` vs the sandbox's ``rnn-course-sandbox``), run the
   imports a graded lab notebook does (torch, matplotlib with a saved figure, helpers), shut
   it down. This is the sandbox's own overhead per submission.
2. ``grade``: ``python -m grading autograde`` of the Sherlock lab with N copies of the
   reference submission (as benchmarks/grading.py builds them), sandbox on vs ``--no-sandbox``;
   seconds per submission, nbgrader start-up included.

    python -m benchmarks.grading_sandbox kernel --rounds 5
    python -m benchmarks.grading_sandbox grade --submissions 3 --rounds 1
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.grading import ASSIGNMENT, autograde, reference_submission, released_course, submit_copies

REPO = Path(__file__).resolve().parent.parent
IMPORTS = (
    "import torch, matplotlib\n"
    "import matplotlib.pyplot as plt\n"
    "fig, ax = plt.subplots(); ax.plot([0, 1]); fig.savefig('fig.png')\n"
    "import helpers, helpers.train, helpers.models\n"
    "print(torch.__version__)"
)


def _machine() -> str:
    load = os.getloadavg()[0]
    return (f"{platform.machine()} {platform.system()}, {os.cpu_count()} CPU core(s), "
            f"load average {load:.1f}, python {platform.python_version()}, "
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")


def _one_kernel(sandboxed: bool, workdir: Path) -> dict[str, float]:
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    from grading import sandbox

    config = Config()
    if sandboxed:
        for arg in sandbox.nbgrader_args(workdir.parent):
            key, value = arg[2:].split("=", 1)
            cls, trait = key.split(".")
            if cls == "KernelManager":
                config[cls][trait] = value
    km = KernelManager(kernel_name=sandbox.KERNEL_NAME if sandboxed else "python3", config=config)
    t0 = time.perf_counter()
    km.start_kernel(cwd=str(workdir))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    t1 = time.perf_counter()
    reply = kc.execute_interactive(IMPORTS, timeout=300, output_hook=lambda msg: None)
    t2 = time.perf_counter()
    if reply["content"]["status"] != "ok":
        raise SystemExit(f"the imports failed in the {'sandboxed' if sandboxed else 'plain'} kernel: "
                         f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}")
    kc.stop_channels()
    km.shutdown_kernel()
    t3 = time.perf_counter()
    return {"start": t1 - t0, "imports": t2 - t1, "shutdown": t3 - t2, "total": t3 - t0}


def kernel(rounds: int) -> None:
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="sbx-bench-") as tmp:
        workdir = Path(tmp) / "autograded" / "student" / "lab"
        workdir.mkdir(parents=True)
        os.chmod(tmp, 0o755)
        for r in range(rounds):
            for sandboxed in (r % 2 == 0, r % 2 == 1):  # alternate which goes first
                results[sandboxed].append(_one_kernel(sandboxed, workdir))
    print(f"machine: {_machine()}")
    print(f"kernel start + lab imports + shutdown, median of {rounds} (min-max):")
    for key in ("start", "imports", "shutdown", "total"):
        cells = []
        for sandboxed in (False, True):
            xs = [x[key] for x in results[sandboxed]]
            cells.append(f"{statistics.median(xs):5.2f} s ({min(xs):.2f}-{max(xs):.2f})")
        print(f"  {key:9s} plain {cells[0]}   sandboxed {cells[1]}")
    diff = statistics.median(x["total"] for x in results[True]) - statistics.median(x["total"] for x in results[False])
    print(f"sandbox overhead per kernel (median total difference): {diff:+.2f} s")


def grade(submissions: int, rounds: int) -> None:
    env = dict(os.environ, COURSE_FAST="0")
    env.setdefault("COURSE_DATA_MIRROR", str(REPO.parent / "shared" / "data"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    times: dict[bool, list[float]] = {True: [], False: []}
    workdir = Path(tempfile.mkdtemp(prefix="sbx-grade-bench-"))
    try:
        template = released_course(workdir / "template", env)
        reference = reference_submission(workdir)
        for r in range(rounds):
            for sandboxed in (r % 2 == 0, r % 2 == 1):
                course = workdir / f"course-{r}-{int(sandboxed)}"
                shutil.copytree(template, course)
                submit_copies(course, reference, submissions)
                seconds, stdout = autograde(course, env, sandbox=sandboxed)
                full = len(re.findall(r"(\d+)/\1 autograded", stdout))
                if full != submissions:
                    raise SystemExit(f"marks missing ({full}/{submissions} full):\n" + stdout[-4000:])
                times[sandboxed].append(seconds / submissions)
        print(f"machine: {_machine()}")
        print(f"autograde of {submissions} reference submissions of {ASSIGNMENT} (full marks each), "
              f"{rounds} round(s), seconds per submission incl. nbgrader start-up:")
        for sandboxed in (False, True):
            xs = times[sandboxed]
            print(f"  sandbox {'on ' if sandboxed else 'off'}: median {statistics.median(xs):.1f} s "
                  f"({', '.join(f'{x:.1f}' for x in xs)})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["kernel", "grade"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=3)
    args = parser.parse_args(argv)
    if args.what == "kernel":
        kernel(args.rounds)
    else:
        grade(args.submissions, args.rounds)


if __name__ == "__main__":
    main()
