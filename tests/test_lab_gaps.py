"""The lab's test gaps, measured by planting wrong answers and grading them with the real commands.

Each planted mistake must lose exactly the points of the part it breaks, and nothing else; the
reference keeps all 80 autograded points; none of these honest (if wrong) submissions is flagged.
A forged training run (untrained weights saved with the reference's history) passes the notebook's
own Part E tests, so grading.tamper.verify must catch it outside the student's kernel: the control
run with verify switched off shows that it would otherwise earn Part E's 15 points.

    alice            the reference solution with its checkpoints      80
    gru_cell         Part C's forward returns torch.gru_cell(...)      60 (C: 5 + 15 lost)
    grucell_inside   Part C builds an nn.GRUCell inside forward        60
    detach           h.detach() inside the cell                        65 (gru_match_tests)
    init_over_h      init bound 1/hidden_size                          75 (gru_shape_tests)
    no_eval          nats_per_char without model.eval()                70 (eval_tests)
    no_checkpoints   the reference without checkpoints/                65 (Part E only; Part F on its own)
    forged           untrained weights with an invented history       65 and FLAGGED (verify)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grading_support import LAB
from grading_support import LAB_NOTEBOOK as NOTEBOOK
from grading_support import LAB_POINTS as POINTS
from grading_support import REPO, run_reference, sandbox_flags

pytestmark = pytest.mark.timeout(3600)  # training the reference, then grading 8 lab submissions


def _env(**extra) -> dict:
    env = dict(os.environ, COURSE_FAST="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               COURSE_GRADING_SECRET="lab-gaps-secret", **extra)
    env.setdefault("COURSE_DATA_MIRROR", str(REPO.parent / "shared" / "data"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def grade(course: Path, *args: str, **env) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "grading", *args, f"--course-dir={course}"]
    return subprocess.run(cmd, cwd=REPO, env=_env(**env), capture_output=True, text=True, timeout=3000)



def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _planted(nb, grade_id: str, old: str, new: str):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cell = _cell(nb, grade_id)
    assert old in cell.source, (grade_id, old)
    cell.source = cell.source.replace(old, new, 1)
    return nb


PLANTED = {
    "gru_cell": ("gru_answer", "        gi = x @ self.weight_ih.T",
                 "        return torch.gru_cell(x, h, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)\n"
                 "        gi = x @ self.weight_ih.T"),
    "grucell_inside": ("gru_answer", "        gi = x @ self.weight_ih.T",
                       "        cell = nn.GRUCell(self.input_size, self.hidden_size)\n"
                       "        cell.weight_ih, cell.weight_hh = self.weight_ih, self.weight_hh\n"
                       "        cell.bias_ih, cell.bias_hh = self.bias_ih, self.bias_hh\n"
                       "        return cell(x, h)\n        gi = x @ self.weight_ih.T"),
    "detach": ("gru_answer", "gh = h @ self.weight_hh.T", "h = h.detach()\n        gh = h @ self.weight_hh.T"),
    "init_over_h": ("gru_answer", "bound = 1 / math.sqrt(hidden_size)", "bound = 1 / hidden_size"),
    "no_eval": ("eval_answer", "    model.eval()\n", ""),
}
LOST = {"gru_cell": ["gru_shape_tests", "gru_match_tests"], "grucell_inside": ["gru_shape_tests", "gru_match_tests"],
        "detach": ["gru_match_tests"], "init_over_h": ["gru_shape_tests"], "no_eval": ["eval_tests"],
        "no_checkpoints": ["train_tests"], "alice": [], "forged": ["train_tests"]}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The reference solution run top to bottom in fast mode: the notebook plus its checkpoints."""
    return run_reference(tmp_path_factory.mktemp("reference"), _env())


def _forge(reference: Path, target: Path) -> None:
    """Untrained weights of the right shapes, saved with the reference's (good) training history."""
    import torch

    for path in sorted((reference / "checkpoints" / "fast").glob("*.pt")):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        torch.manual_seed(123)
        ckpt["model"] = {k: (torch.rand_like(v) - 0.5) * 0.2 if v.is_floating_point() else v
                         for k, v in ckpt["model"].items()}
        ckpt["best"] = None
        out = target / "checkpoints" / "fast" / path.name
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(ckpt, out)


def _course(root: Path, reference: Path, students: list[str]) -> Path:
    course = root / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / LAB, course / "solutions" / LAB,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints"))
    done = grade(course, "release", LAB)
    assert done.returncode == 0, done.stdout + done.stderr
    solved = nbformat.read(reference / NOTEBOOK, as_version=4)
    for student in students:
        folder = course / "submitted" / student / LAB
        folder.mkdir(parents=True)
        nb = _planted(solved, *PLANTED[student]) if student in PLANTED else solved
        nbformat.write(nb, folder / NOTEBOOK)
        if student == "forged":
            _forge(reference, folder)
        elif student != "no_checkpoints":
            shutil.copytree(reference / "checkpoints", folder / "checkpoints")
    return course


def _scores(course: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        grades = gb.find_submission_notebook(LAB, LAB, student).grades
        return {g.cell.name: g.score for g in grades if g.cell.name in POINTS}


def _block(stdout: str, student: str) -> str:
    lines = stdout.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith(student + " "))
    out = [lines[i]]
    for ln in lines[i + 1:]:
        if ln.strip().startswith("- "):
            out.append(ln)
        else:
            break
    return "\n".join(out)


@pytest.fixture(scope="module")
def graded(tmp_path_factory, reference):
    course = _course(tmp_path_factory.mktemp("gaps"), reference, list(LOST))
    done = grade(course, "autograde", LAB, "--timeout=60", "--workers=1", *sandbox_flags())
    return course, done


@pytest.mark.parametrize("student", list(LOST))
def test_each_planted_mistake_loses_exactly_its_part(graded, student):
    course, done = graded
    want = {k: (0.0 if k in LOST[student] else float(v)) for k, v in POINTS.items()}
    assert _scores(course, student) == want, _block(done.stdout, student)


@pytest.mark.parametrize("student", [s for s in LOST if s != "forged"])
def test_honest_mistakes_are_not_flagged(graded, student):
    _, done = graded
    assert "FLAGGED" not in _block(done.stdout, student), done.stdout


def test_forged_training_is_flagged_by_the_out_of_process_check(graded):
    _, done = graded
    block = _block(done.stdout, "forged")
    assert "FLAGGED for review" in block and "no better than character frequencies" in block, done.stdout


def test_part_f_does_not_depend_on_part_e(graded):
    course, _ = graded
    nb = nbformat.read(course / "autograded" / "no_checkpoints" / LAB / NOTEBOOK, as_version=4)
    outputs = json.dumps(_cell(nb, "eval_tests").outputs)
    assert "NameError" not in outputs and _scores(course, "no_checkpoints")["eval_tests"] == 10


def test_forged_training_would_pass_without_verify(tmp_path, reference):
    course = _course(tmp_path, reference, ["forged"])
    done = grade(course, "autograde", LAB, "--timeout=60", "--workers=1", *sandbox_flags(), COURSE_TAMPER_OFF="verify")
    assert _scores(course, "forged")["train_tests"] == 15, done.stdout
    assert "FLAGGED" not in _block(done.stdout, "forged")


def test_checks_are_never_released():
    release = REPO / "assignments" / LAB
    assert not (release / "checks.py").exists()
    assert (REPO / "solutions" / LAB / "checks.py").is_file()


def test_release_has_the_hand_in_box_and_no_hidden_seed_values():
    nb = nbformat.read(REPO / "assignments" / LAB / NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "Before you hand in" in text and "Restart Kernel and Run All Cells" in text
    assert "Restart & Run All" not in text
    assert "0.43 s per step" in text and "0.3 to 0.4 s" not in text
    assert "checkpoints/fast" in nb.cells[-1].source and "WARNING" in nb.cells[-1].source
