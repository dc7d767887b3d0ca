"""What the grading sandbox costs: sandboxed vs plain kernels, and whole autograde runs.

Two measurements, each alternating sandbox on/off so that a change in machine load hits
both sides alike:

1. ``kernel``: start a kernel (``python3`` vs the sandbox's ``rnn-course-sandbox``), run the
   imports a graded lab notebook does (torch, matplotlib with a saved figure, helpers), shut
   it down. This is the sandbox's own overhead per submission.
2. ``grade``: ``python -m helpers.grade autograde`` of the Sherlock lab with N copies of the
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
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "sherlock_rnn_vs_gru"
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

    from helpers import sandbox

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


def _reference(workdir: Path) -> Path:
    """The reference submission: the solution notebook with its full-mode checkpoints."""
    source = REPO / "solutions" / ASSIGNMENT
    folder = workdir / "reference"
    (folder / "checkpoints").mkdir(parents=True)
    shutil.copy(source / f"{ASSIGNMENT}.ipynb", folder)
    for name in ("rnn.pt", "gru.pt"):
        if not (source / "checkpoints" / name).is_file():
            raise SystemExit(f"No {source / 'checkpoints' / name}: run the solution notebook once in full mode "
                             "(COURSE_FAST unset) to train the reference models.")
        shutil.copy(source / "checkpoints" / name, folder / "checkpoints" / name)
    return folder


def grade(submissions: int, rounds: int) -> None:
    env = dict(os.environ, COURSE_FAST="0")
    env.setdefault("COURSE_DATA_MIRROR", str(REPO.parent / "shared" / "data"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    times: dict[bool, list[float]] = {True: [], False: []}
    workdir = Path(tempfile.mkdtemp(prefix="sbx-grade-bench-"))
    try:
        template = workdir / "template"
        (template / "solutions" / ASSIGNMENT).mkdir(parents=True)
        shutil.copy(REPO / "nbgrader_config.py", template)
        nb = REPO / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        shutil.copy(nb, template / "solutions" / ASSIGNMENT / nb.name)
        cmd = [sys.executable, "-m", "helpers.grade"]
        done = subprocess.run(cmd + ["release", ASSIGNMENT, f"--course-dir={template}"], cwd=REPO, env=env,
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stdout + done.stderr)
        reference = _reference(workdir)
        for r in range(rounds):
            for sandboxed in (r % 2 == 0, r % 2 == 1):
                course = workdir / f"course-{r}-{int(sandboxed)}"
                shutil.copytree(template, course)
                for i in range(submissions):
                    shutil.copytree(reference, course / "submitted" / f"student{i:03d}" / ASSIGNMENT)
                run = cmd + ["autograde", ASSIGNMENT, f"--course-dir={course}"] + ([] if sandboxed else ["--no-sandbox"])
                start = time.perf_counter()
                done = subprocess.run(run, cwd=REPO, env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - start
                full = len(re.findall(r"(\d+)/\1 autograded", done.stdout))
                if done.returncode or full != submissions:
                    raise SystemExit(f"grading failed or marks missing ({full}/{submissions} full):\n"
                                     + done.stdout[-4000:] + done.stderr[-2000:])
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
