"""What the grading suites share: whether to sandbox, and the lab's reference solution run once.

Imported by tests/test_grading.py, test_grading_scale.py, test_grading_modes.py, test_tamper.py
and test_lab_gaps.py (beside mini_assignment.py, the 3-point assignment most of them grade).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
LAB = "sherlock_rnn_vs_gru"
LAB_NOTEBOOK = f"{LAB}.ipynb"
LAB_SOURCE = REPO / "solutions" / LAB / LAB_NOTEBOOK
# the lab's autograded test cells and their points: what an honest, complete submission must get
LAB_POINTS = {"vocab_tests": 10, "batches_tests": 10, "gru_shape_tests": 5, "gru_match_tests": 15,
              "model_tests": 15, "train_tests": 15, "eval_tests": 10}


def sandbox_flags() -> list[str]:
    """``[]`` where grading.sandbox works here, else ``["--no-sandbox"]`` (tests/test_sandbox.py fails for the cause)."""
    try:
        from grading import sandbox

        sandbox.check()
        return []
    except Exception:  # noqa: BLE001 - any reason the sandbox cannot run here
        return ["--no-sandbox"]


def run_reference(folder: Path, env: dict) -> Path:
    """The lab's reference solution run top to bottom in ``folder`` under ``env`` (fast mode): notebook + checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(LAB_SOURCE, folder / LAB_NOTEBOOK)
    nb = nbformat.read(folder / LAB_NOTEBOOK, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    nbformat.write(nb, folder / LAB_NOTEBOOK)
    found = sorted(p.name for p in (folder / "checkpoints" / "fast").glob("*.pt"))
    assert found == ["gru.pt", "rnn.pt"], f"the reference run left checkpoints {found}, expected gru.pt and rnn.pt"
    return folder
