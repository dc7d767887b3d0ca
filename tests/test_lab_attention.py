"""The attention lab (lecture 08) graded for real: one class of submissions through the README's commands.

The reference solution runs once top to bottom in fast mode (its fast checkpoint is what a student
trying the notebook hands in); then one autograde run (sandboxed where the sandbox works, two workers,
fast mode, as Sherlock's fast checkpoints are graded) grades the whole class:

    reference          the solution with its checkpoint                          80
    honest_style       %matplotlib inline, a plot in an answer, a star import    80
                       (torch.nn.functional's softmax), a variable named `type`,
                       a scratch `want = F.sdpa(...)` beside a local `want`
                       inside attention
    no_scale           attention without 1/sqrt(d)                               65 (attention_tests)
    additive_bias      AdditiveAttention's v with a bias                          65 (additive_tests)
    greedy_eos         greedy's score leaves out EOS's log-probability            70 (greedy_tests)
    no_length_norm     beam_search ignores alpha                                  70 (half of beam_tests)
    library_attention  attention's context from F.scaled_dot_product_attention    65 (attention_tests)
    no_checkpoint      the reference without checkpoints/                         60 (dates_tests)
    forged             untrained weights, a history claiming 0.99 exact match     60 and FLAGGED
    blank              the release as it is                                        0
    attacks_*          the blank release with test_tamper's families, in its        0
                       three ATTACK_GROUPS

No honest submission is flagged, and feedback shows no line of checks.py that the notebook lacks.
"""
from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest

import grading_support as support
from grading_support import REPO, cell
from test_tamper import ATTACK_GROUPS, attack_group

pytestmark = [pytest.mark.scale, pytest.mark.timeout(3600)]

LAB = "attention"
SOURCE = REPO / "solutions" / LAB / f"{LAB}.ipynb"
CHECKS = REPO / "solutions" / LAB / "checks.py"
POINTS = {"attention_tests": 15, "additive_tests": 15, "greedy_tests": 10, "beam_tests": 20, "dates_tests": 20}
MANUAL = ("heatmap", "written")
ANSWERS = ("attention_answer", "additive_answer", "greedy_answer", "beam_answer", "dates_answer", "heatmap")

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('my own plot')\nplt.show()\n"
# (grade_id, old, new, ...): each old replaced once in the reference answer of that cell
PLANTED = {
    "no_scale": ("attention_answer", " / math.sqrt(query.shape[-1])", ""),
    "additive_bias": ("additive_answer", "self.v = nn.Linear(attn_size, 1, bias=False)", "self.v = nn.Linear(attn_size, 1)"),
    "greedy_eos": ("greedy_answer", "        score += float(log_probs[best])\n        if best == EOS:\n            break",
                   "        if best == EOS:\n            break\n        score += float(log_probs[best])"),
    "no_length_norm": ("beam_answer", "score / len(tokens) ** alpha))  # the length counts EOS", "score))",
                       "[(tokens, score / len(tokens) ** alpha) for", "[(tokens, score) for"),
    "library_attention": ("attention_answer", "    return weights @ values, weights",
                          "    return F.scaled_dot_product_attention(query, keys, values, attn_mask=mask), weights"),
    "honest_style": ("attention_answer", "def attention(",
                     "%matplotlib inline\nfrom torch.nn.functional import *\n\ndef attention(",
                     "    weights = scores.softmax(dim=-1)\n    return weights @ values, weights",
                     "    want = softmax(scores, dim=-1)  # a local name a scratch cell also binds\n"
                     "    return want @ values, want",
                     "greedy_answer", "def greedy(", PLOT + "\n\ndef greedy(",
                     "dates_answer", "SETTINGS = dict(embed_dim=32, hidden_size=64, attention=\"dot\"",
                     "type = \"dot\"\nSETTINGS = dict(embed_dim=32, hidden_size=64, attention=type"),
}
HONEST_EXTRA = {"honest_style": {"attention_tests": "want = F.scaled_dot_product_attention(torch.randn(1, 2, 4), "
                                 "torch.randn(1, 3, 4), torch.randn(1, 3, 5))\n" + PLOT}}
LOST = {"reference": [], "honest_style": [], "no_scale": ["attention_tests"], "additive_bias": ["additive_tests"],
        "greedy_eos": ["greedy_tests"], "no_length_norm": [], "library_attention": ["attention_tests"],
        "no_checkpoint": ["dates_tests"], "forged": ["dates_tests"]}
PARTLY = {"no_length_norm": {"beam_tests": 10.0}}  # the check without length normalisation still passes


def _answers(student: str) -> dict[str, str]:
    """grade_id -> the student's answer: the reference's, with this student's planted changes."""
    out = {g: support.solution_source(g, SOURCE) for g in ANSWERS}
    plan = list(PLANTED.get(student, ()))
    grade_id = None
    while plan:
        if plan[0] in ANSWERS:
            grade_id = plan.pop(0)
        old, new = plan.pop(0), plan.pop(0)
        assert old in out[grade_id], (student, grade_id, old)
        out[grade_id] = out[grade_id].replace(old, new, 1)
    return out


def _filled(release, student: str) -> nbformat.NotebookNode:
    """The release with this student's answers in its answer cells, and their extra cells after a test cell."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    answers = _answers(student)
    for grade_id, text in answers.items():
        cell(nb, grade_id).source = text
    for after, text in HONEST_EXTRA.get(student, {}).items():
        index = nb.cells.index(cell(nb, after))
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(text))
    return nb


def _forge(reference, target) -> None:
    """Untrained weights of the reference's shapes, saved with a history that claims 0.99 exact match."""
    import torch

    ckpt = torch.load(reference / "checkpoints" / "fast" / "dates.pt", map_location="cpu", weights_only=True)
    torch.manual_seed(123)
    ckpt["model"] = {k: (torch.rand_like(v) - 0.5) * 0.2 if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["best"] = None
    ckpt["history"]["val_acc"] = [0.99] * len(ckpt["history"]["val_acc"])
    out = target / "checkpoints" / "fast" / "dates.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, out)


@pytest.fixture(scope="module")
def reference(module_folder):
    """The reference solution run top to bottom in fast mode: notebook and checkpoints/fast/."""
    return support.run_reference(module_folder / "reference", support.env(), source=SOURCE, checkpoints=("dates.pt",))


@pytest.fixture(scope="module")
def graded(module_folder, reference):
    course = module_folder / "course"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(REPO / "solutions" / LAB, course / "solutions" / LAB,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints", "__pycache__"))
    done = support.run_cli(course, "release", LAB)
    assert done.returncode == 0, done.stdout + done.stderr
    release = support.released(course, LAB)
    for student in LOST:
        has_checkpoint = student not in ("no_checkpoint", "forged")
        folder = support.submit(course, student, LAB, _filled(release, student),
                                checkpoints=reference if has_checkpoint else None)
        if student == "forged":
            _forge(reference, folder)
    support.submit(course, "blank", LAB, release)
    for group in ATTACK_GROUPS:
        support.submit(course, group, LAB, attack_group(release, group))
    done = support.autograde(course, LAB, "--timeout=60", "--workers=2")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return course, done.stdout + done.stderr


def _auto(course, student: str) -> dict[str, float]:
    return {k: v or 0.0 for k, v in support.scores(course, LAB)[student].items() if k in POINTS}


@pytest.mark.parametrize("student", list(LOST))
def test_honest_submissions_are_graded_exactly(graded, student):
    course, out = graded
    want = {k: (0.0 if k in LOST[student] else float(v)) for k, v in POINTS.items()} | PARTLY.get(student, {})
    assert _auto(course, student) == want, support.summary_block(out, student)


@pytest.mark.parametrize("student", [s for s in LOST if s != "forged"])
def test_honest_submissions_are_never_flagged(graded, student):
    _, out = graded
    support.assert_unflagged(out, student)


def test_a_forged_history_is_flagged_by_the_judge(graded):
    _, out = graded
    support.assert_flagged(out, "forged", "history claims")


@pytest.mark.parametrize("student", ["blank", *ATTACK_GROUPS])
def test_blank_and_tampered_notebooks_earn_nothing(graded, student):
    course, out = graded
    assert sum(_auto(course, student).values()) == 0, support.summary_block(out, student)


def test_the_messages_say_what_was_asked(graded):
    course, _ = graded

    def verdict(student, grade_id):
        return json.dumps(cell(support.graded_notebook(course, student, LAB), grade_id).outputs)

    assert "compute the scores and the softmax yourself" in verdict("library_attention", "attention_tests")
    assert "passed - beam_search without length normalisation" in verdict("no_length_norm", "beam_tests")
    assert "failed - beam_search with length normalisation" in verdict("no_length_norm", "beam_tests")
    assert "no checkpoints/fast/dates.pt was handed in" in verdict("no_checkpoint", "dates_tests")
    assert re.search(r"passed - the submitted date model, re-measured on fresh dates", verdict("reference", "dates_tests"))


def test_feedback_shows_no_hidden_line(graded):
    course, _ = graded
    hidden = support.hidden_lines(CHECKS, course / "assignments" / LAB / f"{LAB}.ipynb", min_length=20)
    assert len(hidden) > 100
    support.feedback_pages(course, LAB, hidden)


def test_checks_and_solutions_are_never_released():
    release = REPO / "assignments" / LAB
    assert not (release / "checks.py").exists() and not (release / "grading.toml").exists()
    text = support.notebook_text(release / f"{LAB}.ipynb")
    assert "BEGIN SOLUTION" not in text and "math.sqrt(query.shape[-1])" not in text
    assert "Before you hand in" in text and "checkpoints/dates.pt" in text
