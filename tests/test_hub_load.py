"""Twenty students fetch and submit at once through nbgrader's exchange on the hub deployment, bounded.

Each student is a real Unix account of the deployment (tests/hub_support.py); all of them run
`nbgrader fetch_assignment`, write their own marker into the notebook and `nbgrader submit` at the
same moment, as their JupyterLab's Assignment List does. The grader then collects: every student's
submission must be there exactly once, under their own name, holding their own marker. The p50/p95
time to fetch and submit is printed and written to test-artifacts/hub/load.json (figures for
benchmarks/README.md come from a separate, quieter run of this test; nothing here is timed against a bound).
"""
from __future__ import annotations

import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest

from hub_support import ARTIFACTS, ASSIGNMENT, Deployment, missing_requirements

STUDENTS = int(os.environ.get("HUB_LOAD_STUDENTS", "20"))
NOTEBOOK = f"{ASSIGNMENT}.ipynb"

pytestmark = [pytest.mark.scale, pytest.mark.timeout(900),
              pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements()))]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def test_twenty_students_submit_at_once_and_nothing_is_lost_or_mixed_up():
    deployment = Deployment([f"s{i:02d}" for i in range(STUDENTS)])
    try:
        deployment.set_up(lectures=False)
        release = deployment.grade("release", ASSIGNMENT, "--exchange")
        assert release.returncode == 0, release.stdout + release.stderr
        # Each student writes their own name into the written answer (a one-line Python edit, as an editor would).
        edit = ("import nbformat, os; p = '{a}/{n}'; nb = nbformat.read(p, 4); "
                "nb.cells[-2].source = 'answer of ' + os.environ['USER']; nbformat.write(nb, p)")

        def hand_in(student: str) -> tuple[str, float, int, str]:
            started = time.monotonic()
            done = deployment.as_student(student, f"cd ~ && nbgrader fetch_assignment {ASSIGNMENT} && "
                                                  f"python -c \"{edit.format(a=ASSIGNMENT, n=NOTEBOOK)}\" && "
                                                  f"nbgrader submit {ASSIGNMENT}")
            return student, time.monotonic() - started, done.returncode, done.stdout + done.stderr

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=STUDENTS) as pool:
            results = list(pool.map(hand_in, deployment.students))
        wall = time.monotonic() - started
        failed = {s: out[-1500:] for s, _, code, out in results if code != 0}
        assert not failed, failed

        collected = deployment.grade("collect", ASSIGNMENT, "--exchange")
        assert collected.returncode == 0, collected.stdout + collected.stderr
        assert f"Collected {STUDENTS} new submission(s)" in collected.stdout, collected.stdout
        submitted = sorted(p.name for p in (deployment.course / "submitted").iterdir())
        assert submitted == sorted(deployment.students)
        for student in deployment.students:
            nb = nbformat.read(deployment.course / "submitted" / student / ASSIGNMENT / NOTEBOOK, as_version=4)
            assert nb.cells[-2].source == f"answer of {student}", f"{student}'s submission holds someone else's work"

        times = sorted(t for _, t, _, _ in results)
        report = {"students": STUDENTS, "wall_s": round(wall, 1), "p50_s": round(percentile(times, 50), 1),
                  "p95_s": round(percentile(times, 95), 1), "max_s": round(times[-1], 1),
                  "load_average": os.getloadavg()[0], "cpus": os.cpu_count()}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "load.json").write_text(json.dumps(report, indent=1))
        print("fetch-and-submit times:", report)
    finally:
        deployment.tear_down()
