"""The rnn_by_hand lab graded for real: one class of submissions through the README's commands.

One autograde run (sandboxed where the sandbox works, two workers) grades the whole class:

* the reference solution earns all 85 autograded points; honest partial submissions (each with one
  mistake a student makes) lose exactly the checks their mistake breaks, never more, and none is flagged;
* a bptt written with a helper called ``backward`` and a local ``grad``, beside the student's own
  autograd comparison at the top level, is not mistaken for autograd inside bptt;
* ordinary honest code (magics, plots in answer cells, ``from torch import *`` and ``from numpy import *`` in
  later cells, a variable named ``type``) is graded exactly;
* the blank release scores 0, and so does the blank release carrying test_tamper.py's tamper families (its three
  ATTACK_GROUPS);
* feedback is written for everyone and shows no line of checks.py and not the course secret.
"""
from __future__ import annotations

import html
import json
import re
import shutil

import nbformat
import pytest

import grading_support as support
from grading_support import REPO, cell
from test_tamper import ATTACK_GROUPS, attack_group

pytestmark = [pytest.mark.scale, pytest.mark.timeout(1800)]  # grades 15 whole notebooks

LAB = "rnn_by_hand"
SOURCE = REPO / "solutions" / LAB / f"{LAB}.ipynb"
POINTS = {"forward_tests": 20, "numeric_tests": 10, "bptt_tests": 20, "clip_tests": 15, "truncated_tests": 20}
MANUAL = ("reach_plot", "vanishing_answer")
ANSWERS = ("forward_answer", "numeric_answer", "bptt_answer", "clip_answer", "truncated_answer", "reach_plot")


def _answer(grade_id: str, *pairs: str) -> str:
    """The reference answer of one cell, with each (old, new) pair replaced once: a planted mistake."""
    text = support.solution_source(grade_id, SOURCE)
    for old, new in zip(pairs[::2], pairs[1::2]):
        assert old in text, (grade_id, old)
        text = text.replace(old, new, 1)
    return text


HELPER_BPTT = '''
def forward(x, params, h0):
    W_xh, W_hh, b_h = params["W_xh"], params["W_hh"], params["b_h"]
    h = [x.new_zeros(x.shape[0], W_hh.shape[0]) if h0 is None else h0]
    for t in range(x.shape[1]):
        h.append(torch.tanh(x[:, t] @ W_xh.T + h[-1] @ W_hh.T + b_h))
    return h


def backward(x, y, params, h):
    grad = {k: torch.zeros_like(v) for k, v in params.items()}
    later = torch.zeros_like(h[0])
    for t in reversed(range(x.shape[1])):
        d_o = h[t + 1] @ params["W_ho"].T + params["b_o"] - y[:, t]
        grad["W_ho"] += d_o.T @ h[t + 1]
        grad["b_o"] += d_o.sum(0)
        d_z = (1 - h[t + 1] ** 2) * (d_o @ params["W_ho"] + later)
        grad["W_xh"] += d_z.T @ x[:, t]
        grad["W_hh"] += d_z.T @ h[t]
        grad["b_h"] += d_z.sum(0)
        later = d_z @ params["W_hh"]
    grad["h0"] = later
    return grad


def bptt(x, y, params, h0=None):
    h = forward(x, params, h0)
    loss = sum(0.5 * ((h[t + 1] @ params["W_ho"].T + params["b_o"] - y[:, t]) ** 2).sum() for t in range(x.shape[1]))
    return float(loss), backward(x, y, params, h)
'''
# the student's own comparison with autograd, at the top level, reusing the names bptt's helpers use locally
OWN_AUTOGRAD_CHECK = '''
w = torch.randn(3, 3, requires_grad=True)
grad = torch.autograd.grad((w ** 2).sum(), [w])
later = grad[0].norm()
loss = (w * 2).sum()
loss.backward()
print("my own autograd comparison ran", float(later))
'''
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('my own plot')\nplt.show()\n"

# student -> ({answer cell: its source}, extra cells, autograded cells that lose their checks' points)
PARTIAL = {
    "reference": ({}, [], {}),
    "one_layer_only": ({"forward_answer": _answer("forward_answer", "for l in range(num_layers):",
                                                  "for l in range(1):")},
                       [], {"forward_tests": 12}),  # stacked (7) and ReLU/no-bias, whose last case has 2 layers (5)
    "forward_differences": ({"numeric_answer": _answer("numeric_answer", "flat[j] = old - eps\n            down",
                                                       "flat[j] = old\n            down",
                                                       "(up - down) / (2 * eps)", "(up - down) / eps")},
                            [], {"numeric_tests": 10}),
    "no_h0_gradient": ({"bptt_answer": _answer("bptt_answer", '    grads["h0"] = from_future\n', "")},
                       [], {"bptt_tests": 5}),
    "autograd_in_bptt": ({"bptt_answer": "def bptt(x, y, params, h0=None):\n"
                                         "    p = {k: v.clone().requires_grad_() for k, v in params.items()}\n"
                                         "    h = x.new_zeros(x.shape[0], p['W_hh'].shape[0]) if h0 is None else h0\n"
                                         "    loss = 0\n"
                                         "    for t in range(x.shape[1]):\n"
                                         "        h = torch.tanh(x[:, t] @ p['W_xh'].T + h @ p['W_hh'].T + p['b_h'])\n"
                                         "        loss = loss + 0.5 * ((h @ p['W_ho'].T + p['b_o'] - y[:, t]) ** 2).sum()\n"
                                         "    loss.backward()\n"
                                         "    return float(loss), {k: v.grad for k, v in p.items()}\n"},
                         [], {"bptt_tests": 20}),
    "clips_always": ({"clip_answer": _answer("clip_answer", "    if total > max_norm:\n        scale",
                                             "    if True:\n        scale")},
                     [], {"clip_tests": 5}),
    "no_detach": ({"truncated_answer": _answer("truncated_answer", "h = h.detach()", "h = h")},
                  [], {"truncated_tests": 12}),
    "restarts_from_zero": ({"truncated_answer": _answer("truncated_answer", "h = h.detach()", "h = None")},
                           [], {"truncated_tests": 8}),  # the reach is right, the forward pass is not
    "library_rnn": ({"forward_answer": "def rnn_forward(x, params, h0=None, nonlinearity='tanh'):\n"
                                       "    layers = sum(k.startswith('weight_ih_l') for k in params)\n"
                                       "    rnn = nn.RNN(x.shape[-1], params['weight_hh_l0'].shape[0], layers, "
                                       "nonlinearity=nonlinearity, bias='bias_ih_l0' in params, batch_first=True)\n"
                                       "    rnn = rnn.to(x.dtype)\n"
                                       "    rnn.load_state_dict(params)\n"
                                       "    return rnn(x, h0)\n"},
                    [], {"forward_tests": 20}),
    "helper_named_backward": ({"bptt_answer": HELPER_BPTT}, [OWN_AUTOGRAD_CHECK], {}),
    # magics and plots in answer cells, a loop variable named type; then, after the last test, star imports that
    # rebind sum, range, float, max (the graded functions read their globals as their test cells saw them)
    "magics_plots_star_imports": ({"forward_answer": "%matplotlib inline\nfrom math import *\nfrom torch.nn import *\n"
                                                     + "for type in ['tanh', 'relu']:\n    print(type)\n"
                                                     + PLOT + support.solution_source("forward_answer", SOURCE),
                                   "clip_answer": "%%time\n" + support.solution_source("clip_answer", SOURCE)},
                                  [PLOT, "from torch import *\nx = zeros(3)\ntype = 'scratch'",
                                   "from numpy import *\nprint(max([1, 2]), sum(range(3)))",
                                   "from helpers.plots import *\nprint(sqrt(2), Linear)"], {}),
}
BLANK = "blank"


def _total(cells: dict) -> float:
    return sum(v or 0.0 for k, v in cells.items() if k not in MANUAL)


def _fill(release, answers: dict, extra: list[str]):
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for grade_id in ANSWERS:
        cell(nb, grade_id).source = answers.get(grade_id, support.solution_source(grade_id, SOURCE))
    for source in extra:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def graded(shared_tmp):
    root = shared_tmp / f"lab-{LAB}"
    support.new_course(root, LAB, nbformat.read(SOURCE, as_version=4), SOURCE.parent / "checks.py", release=False)
    shutil.copy(SOURCE.parent / "grading.toml", root / "solutions" / LAB / "grading.toml")
    done = support.run_cli(root, "release", LAB)
    assert done.returncode == 0, done.stdout + done.stderr
    release = support.released(root, LAB)
    for student, (answers, extra, _) in PARTIAL.items():
        support.submit(root, student, LAB, _fill(release, answers, extra))
    support.submit(root, BLANK, LAB, release)
    for group in ATTACK_GROUPS:  # the blank release with test_tamper.py's families, in its groups
        support.submit(root, group, LAB, attack_group(release, group))
    done = support.autograde(root, LAB, "--workers=2")
    # the grader's own tracebacks only: on a loaded box Dask may log a worker's missed heartbeat as it shuts down
    crashes = [t for t in done.stderr.split("Traceback (most recent call last):")[1:] if "/grading/" in t]
    assert not crashes, done.stderr[-3000:]
    return root, done.stdout + done.stderr


@pytest.mark.parametrize("student", list(PARTIAL))
def test_honest_submissions_are_graded_exactly_and_never_flagged(graded, student):
    course, out = graded
    lost = PARTIAL[student][2]
    got = {k: v for k, v in support.scores(course, LAB)[student].items() if k in POINTS}
    want = {k: float(p - lost.get(k, 0)) for k, p in POINTS.items()}
    block = support.summary_block(out, student)
    assert got == want, block
    support.assert_unflagged(out, student)


@pytest.mark.parametrize("student", [BLANK, *ATTACK_GROUPS])
def test_blank_and_tampered_blank_notebooks_earn_nothing(graded, student):
    course, out = graded
    assert _total(support.scores(course, LAB)[student]) == 0, support.summary_block(out, student)


def test_feedback_shows_no_line_of_the_checks(graded):
    course, _ = graded
    hidden = support.hidden_lines(SOURCE.parent / "checks.py", course / "assignments" / LAB / f"{LAB}.ipynb")
    assert len(hidden) > 100
    support.feedback_pages(course, LAB, hidden)
    page = html.unescape(re.sub(r"<[^>]+>", "", next((course / "feedback" / "no_detach" / LAB).glob("*.html")).read_text()))
    assert re.search(r"failed - run_truncated: how far back the gradient reaches: .*reaches inputs 0 to \d+", page), page[-3000:]
