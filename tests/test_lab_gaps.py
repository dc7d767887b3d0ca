"""The lab's hidden checks, measured by planting wrong answers and grading them with the real commands.

Each planted mistake must lose exactly the points of the part it breaks, and nothing else; the
reference keeps all 80 autograded points; none of these honest (if wrong) submissions is flagged.
Forged training (untrained weights saved with the reference's history) is caught by the judge,
which re-measures the checkpoints outside the student's kernel: Part E earns nothing and the
submission is flagged, since no honest run writes a history its own weights contradict.

    alice            the reference solution with its checkpoints        80
    gru_cell         Part C's forward returns torch.gru_cell(...)         60 (C: 5 + 15 lost)
    grucell_inside   Part C builds an nn.GRUCell inside forward           60
    helper_gru       Part C's forward calls a notebook helper that uses nn.GRUCell: 60
    unrelated_gru    nn.GRUCell used in the same cell, never reached from GRUCellScratch: 80
    detach           h.detach() inside the cell                          65 (gru_match_tests)
    init_over_h      init bound 1/hidden_size                            75 (gru_shape_tests)
    no_eval          nats_per_char without model.eval()                  70 (eval_tests)
    no_checkpoints   the reference without checkpoints/                  65 (Part E only; Part F on its own)
    patched_helpers  Part A wrong, helpers' CharVocab patched to agree    70 (the judge uses its own)
    forged           untrained weights with an invented history         65 and FLAGGED

A fast-mode hand-in graded in full mode loses Part E with the first cause named, and the grader
sees the student's own samples and plot (Parts G and H) although the re-run cannot make them.
"""
from __future__ import annotations

import json
import shutil

import nbformat
import pytest

import grading_support as support
from grading_support import LAB
from grading_support import LAB_NOTEBOOK as NOTEBOOK
from grading_support import LAB_POINTS as POINTS
from grading_support import REPO, cell

pytestmark = pytest.mark.timeout(3600)  # training the reference, then grading ten lab submissions


def _planted(nb, grade_id: str, *pairs: str):
    """nb with each (old, new) pair of pairs replaced once in the cell grade_id."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    target = cell(nb, grade_id)
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert old in target.source, (grade_id, old)
        target.source = target.source.replace(old, new, 1)
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
    "helper_gru": ("gru_answer", "class GRUCellScratch(nn.Module):",
                   "Step = nn.GRUCell\n\ndef _step(cell, x, h):\n"
                   "    library = Step(cell.input_size, cell.hidden_size)\n"
                   "    with torch.no_grad():\n"
                   "        for name in ('weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'):\n"
                   "            getattr(library, name).copy_(getattr(cell, name))\n"
                   "    return library(x, h)\n\n"
                   "class GRUCellScratch(nn.Module):",
                   "        gi = x @ self.weight_ih.T", "        return _step(self, x, h)\n        gi = x @ self.weight_ih.T"),
    "unrelated_gru": ("gru_answer", "class GRUCellScratch(nn.Module):",
                      "def compare_with_the_library(x):\n    return nn.GRUCell(3, 4)(x)\n\n"
                      "class GRUCellScratch(nn.Module):"),
    "detach": ("gru_answer", "gh = h @ self.weight_hh.T", "h = h.detach()\n        gh = h @ self.weight_hh.T"),
    "init_over_h": ("gru_answer", "bound = 1 / math.sqrt(hidden_size)", "bound = 1 / hidden_size"),
    "no_eval": ("eval_answer", "    model.eval()\n", ""),
    "patched_helpers": ("vocab_answer", "        self.chars = sorted(set(text))",
                        "        import helpers.text as _t\n"
                        "        _t.CharVocab.from_text = classmethod(lambda cls, text: cls(list(dict.fromkeys(text))))\n"
                        "        self.chars = list(dict.fromkeys(text))"),
}
LOST = {"gru_cell": ["gru_shape_tests", "gru_match_tests"], "grucell_inside": ["gru_shape_tests", "gru_match_tests"],
        "helper_gru": ["gru_shape_tests", "gru_match_tests"], "unrelated_gru": [], "detach": ["gru_match_tests"], "init_over_h": ["gru_shape_tests"],
        "no_eval": ["eval_tests"], "no_checkpoints": ["train_tests"], "patched_helpers": ["vocab_tests"],
        "alice": [], "forged": ["train_tests"]}


def _forge(reference, target) -> None:
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


@pytest.fixture(scope="module")
def graded(shared_tmp, lab_reference):
    course = support.lab_course(shared_tmp / "lab-gaps")
    solved = nbformat.read(lab_reference / NOTEBOOK, as_version=4)
    for student in LOST:
        nb = _planted(solved, *PLANTED[student]) if student in PLANTED else solved
        folder = support.submit(course, student, LAB, nb,
                                checkpoints=lab_reference if student not in ("forged", "no_checkpoints") else None)
        if student == "forged":
            _forge(lab_reference, folder)
    return course, support.autograde(course, LAB, "--timeout=60", "--workers=2")


@pytest.mark.parametrize("student", list(LOST))
def test_each_planted_mistake_loses_exactly_its_part(graded, student):
    course, done = graded
    want = {k: (0.0 if k in LOST[student] else float(v)) for k, v in POINTS.items()}
    got = {k: v for k, v in support.scores(course, LAB)[student].items() if k in POINTS}
    assert got == want, support.summary_block(done.stdout, student)


@pytest.mark.parametrize("student", [s for s in LOST if s != "forged"])
def test_honest_mistakes_are_not_flagged(graded, student):
    _, done = graded
    support.assert_unflagged(done.stdout, student)


def test_forged_training_is_flagged_by_the_judge(graded):
    course, done = graded
    support.assert_flagged(done.stdout, "forged", "history claims")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", support.COURSE_ID) as gb:
        sub = gb.find_submission_notebook(LAB, LAB, "forged")
        assert [g.cell.name for g in sub.grades if g.needs_manual_grade and g.cell.name in POINTS] == ["train_tests"]
        assert any(c.auto_comment and "FLAGGED for review" in c.auto_comment for c in sub.comments)


def test_part_f_does_not_depend_on_part_e(graded):
    course, _ = graded
    assert support.scores(course, LAB)["no_checkpoints"]["eval_tests"] == 10
    verdict = json.dumps(cell(support.graded_notebook(course, "no_checkpoints", LAB), "train_tests").outputs)
    assert "no checkpoints/fast/rnn.pt was handed in" in verdict


def test_a_fast_mode_hand_in_graded_in_full_mode_says_why_and_keeps_the_students_work(shared_tmp, lab_reference):
    course = support.lab_course(shared_tmp / "lab-fast-hand-in")
    support.submit(course, "fast", LAB, nbformat.read(lab_reference / NOTEBOOK, as_version=4), checkpoints=lab_reference)
    done = support.autograde(course, LAB, "--timeout=120", COURSE_FAST="0")
    assert "only fast-mode checkpoints" in support.summary_block(done.stdout, "fast"), done.stdout
    got = support.scores(course, LAB)["fast"]
    assert got["train_tests"] == 0 and got["vocab_tests"] == 10 and got["eval_tests"] == 10
    nb = support.graded_notebook(course, "fast", LAB)
    verdict = json.dumps(cell(nb, "train_tests").outputs)
    assert "only fast-mode checkpoints were handed in (checkpoints/fast/rnn.pt): train without COURSE_FAST" in verdict
    samples = json.dumps(cell(nb, "samples").outputs)
    assert "outputs the student handed in" in samples and "temperature 0.8" in samples
    curves = cell(nb, "curves").outputs
    assert any("image/png" in o.get("data", {}) for o in curves)


def test_checks_are_never_released():
    release = REPO / "assignments" / LAB
    assert not (release / "checks.py").exists()
    assert (REPO / "solutions" / LAB / "checks.py").is_file()
    shutil.rmtree(REPO / "solutions" / LAB / "__pycache__", ignore_errors=True)


def test_release_has_the_hand_in_box():
    nb = nbformat.read(REPO / "assignments" / LAB / NOTEBOOK, as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "Before you hand in" in text and "Restart Kernel and Run All Cells" in text
    assert "0.43 s per step" in text and "_SEED" not in text and "HIDDEN" not in text
    assert "checkpoints/fast" in nb.cells[-1].source and "WARNING" in nb.cells[-1].source
