"""grading.spec and release's checks: what a lab's hidden checks are made of, and what release refuses."""
import textwrap

import nbformat
import pytest
import torch

from grading.course import Course
from grading.probe import Missing, Raised, Unsupported
from grading.release import lint
from grading.spec import (Check, Context, Fail, close, dotted_names_reachable, equal, handed_in, load_checkpoint,
                          load_checks, names_reachable, tensor, value)
from mini_assignment import CHECKS, source_notebook


def message(fn, *args, **kwargs) -> str:
    with pytest.raises(Fail) as err:
        fn(*args, **kwargs)
    return str(err.value)


def test_refusals_say_what_happened_without_echoing_the_student():
    assert "not defined in the notebook" in message(value, Missing("f"), "f(1)")
    assert message(value, Raised("ValueError", True, "leak"), "f(1)") == "f(1) raised ValueError"
    custom = message(value, Raised("", False, "leak"), "f(1)")
    assert "a class of its own" in custom and "leak" not in custom
    assert "not plain data" in message(value, Unsupported("", False), "f(1)")
    # a builtin name the kernel claims, which is not a builtin exception, is not shown either
    assert "Nonsense" not in message(value, Raised("Nonsense", True, ""), "f(1)")


def test_comparisons_never_quote_a_students_string():
    secret = "print(open('/etc/passwd').read())  # the question's code, captured"
    for got in (secret, [secret], {"k": secret}):
        assert secret not in message(equal, got, 5, "f(2)")
    assert secret not in message(equal, secret, "expected text", "f(2)")
    assert "shape (3,)" in message(tensor, torch.zeros(3), "f(2)", shape=(2,))
    assert "up to" in message(close, torch.ones(2), torch.zeros(2), "f(2)")
    close(torch.ones(2) + 1e-9, torch.ones(2), "f(2)")
    equal(torch.arange(3), torch.arange(3), "f(2)")


SOURCE = [
    "import torch\nfrom torch import nn\nG = nn.GRUCell\n",
    "%matplotlib inline\n!ls\ndef helper(x):\n    return G(3, 4)\n",
    "class GRUCellScratch(nn.Module):\n    def forward(self, x):\n        return helper(x)\n",
    "def unrelated():\n    return torch.gru_cell\n",
    "this is not python (\n",
]


def test_names_reachable_follows_functions_aliases_and_imports():
    used = names_reachable(SOURCE, "GRUCellScratch")
    assert {"GRUCell", "helper", "G"} <= used and "gru_cell" not in used
    assert names_reachable(SOURCE, "Nope") is None
    redefined = SOURCE + ["class GRUCellScratch(nn.Module):\n    def forward(self, x):\n        return x * 2\n"]
    assert "GRUCell" not in names_reachable(redefined, "GRUCellScratch")  # the last definition is the one graded


AUTOGRAD_SOURCE = [
    "import torch\nimport torch.autograd\nfrom torch.func import grad as g\nimport numpy as np\n",
    "def backward(h, later):\n    grad = {}\n    grad['W'] = h.T @ later\n    return grad\n",
    "def bptt(x):\n    h = torch.tanh(x)\n    later = np.ones(3)\n    return backward(h, later)\n",
    "later = torch.autograd.grad\nw = torch.ones(2, requires_grad=True)\n(w * 2).sum().backward()\n",
    "def cheat(x):\n    loss = (x ** 2).sum()\n    loss.backward()\n    return g(torch.sin)(x), x.grad\n",
    "def local_import(x):\n    import torch.autograd as ag\n    from torch.autograd import functional\n    return x\n",
]


def test_dotted_names_reachable_tells_modules_and_methods_from_the_students_own_names():
    honest = dotted_names_reachable(AUTOGRAD_SOURCE, "bptt")
    # bptt's local ``later`` and backward's local ``grad`` are not the top-level ``later = torch.autograd.grad``,
    # and ``import torch.autograd`` at the top level makes bptt's torch.tanh no use of autograd
    assert {"torch.tanh", "h.T", "np.ones", "torch", "numpy"} <= honest
    assert not any("autograd" in chain or chain.endswith((".backward", ".grad")) for chain in honest), honest
    cheat = dotted_names_reachable(AUTOGRAD_SOURCE, "cheat")
    assert {"loss.backward", "x.grad", "torch.func.grad"} <= cheat
    assert {"torch.autograd", "torch.autograd.functional"} <= dotted_names_reachable(AUTOGRAD_SOURCE, "local_import")
    assert dotted_names_reachable(AUTOGRAD_SOURCE, "later") is None  # an assignment, not a function


def test_load_checks_refuses_malformed_lists(tmp_path):
    path = tmp_path / "checks.py"
    path.write_text(CHECKS)
    assert [c.cell for c in load_checks(path)] == ["test_add", "test_mul"]
    for bad in ("CHECKS = 3",
                "from grading.spec import Check\nCHECKS = [Check('a', 'x', 1, print), Check('a', 'x', 2, print)]",
                "from grading.spec import Check\nCHECKS = [Check('a', 'x', 0, print)]"):
        path.write_text(bad)
        with pytest.raises(ValueError):
            load_checks(path)


def _course(tmp_path, notebook, checks):
    source = tmp_path / "solutions" / "mini"
    source.mkdir(parents=True)
    nbformat.write(notebook, source / "mini.ipynb")
    if checks is not None:
        (source / "checks.py").write_text(checks)
    return Course(tmp_path, f"sqlite:///{tmp_path / 'gradebook.db'}")


def test_release_refuses_hidden_tests_missing_checks_and_points_that_do_not_add_up(tmp_path):
    assert lint(_course(tmp_path / "ok", source_notebook(), CHECKS), "mini") == []
    hidden = source_notebook()
    hidden.cells[2].source += "\n### BEGIN HIDDEN TESTS\nassert add(2, 2) == 4\n### END HIDDEN TESTS"
    assert "hidden tests" in " ".join(lint(_course(tmp_path / "hidden", hidden, CHECKS), "mini"))
    assert "no checks.py" in " ".join(lint(_course(tmp_path / "none", source_notebook(), None), "mini"))
    short = CHECKS.replace('Check("test_mul", "mul on random integers", 1', 'Check("test_mul", "mul on random integers", 0.5')
    assert "test cell test_mul is worth 1 points, its checks in checks.py 0.5" in lint(_course(tmp_path / "short", source_notebook(),
                                                                                   short), "mini")
    extra = CHECKS + textwrap.dedent('''
        CHECKS.append(Check("test_div", "div", 1, judge_mul))
        ''')
    assert any("test_div" in p for p in lint(_course(tmp_path / "extra", source_notebook(), extra), "mini"))


def test_ask_source_ships_what_it_names():
    def helper():
        return 1

    def ask(nb, inputs):
        return helper()

    source = Check("c", "n", 1, print, ask=ask, ship=(helper,)).ask_source()
    scope = {}
    exec(source, scope)
    assert scope["ask"](None, None) == 1


def test_handed_in_checkpoints_say_what_to_hand_in():
    import io

    full, fast = Context(seed=0, fast=False, files={}), Context(seed=0, fast=True, files={})
    assert message(handed_in, fast, "gru.pt") == ("no checkpoints/fast/gru.pt was handed in: run the training and "
                                                  "hand in the checkpoints/ folder")
    assert "no checkpoints/a.pt and checkpoints/b.json were handed in" in message(handed_in, full, "a.pt", "b.json")
    full.files["checkpoints/fast/gru.pt"] = b"x"  # the fast/full trap: the student is told which it is
    assert message(handed_in, full, "gru.pt").startswith(
        "only fast-mode checkpoints were handed in (checkpoints/fast/gru.pt): train without COURSE_FAST and hand in "
        "checkpoints/gru.pt")
    fast.files["checkpoints/fast/gru.pt"] = b"x" * 3_000_000
    assert message(handed_in, fast, "gru.pt", limit_mb=2) == "checkpoints/fast/gru.pt is 3 MB; keep it under 2 MB"
    assert handed_in(fast, "gru.pt") == [b"x" * 3_000_000]

    saved = io.BytesIO()
    torch.save({"model": {"w": torch.ones(2)}, "history": {}}, saved)
    assert load_checkpoint(fast, "gru.pt", saved.getvalue())["model"]["w"].tolist() == [1.0, 1.0]
    for junk in (b"not a checkpoint", _pickled(torch.ones(2)), _pickled({"weights": 1})):
        assert message(load_checkpoint, fast, "gru.pt", junk) == (
            "checkpoints/fast/gru.pt could not be loaded as a training checkpoint of this course")


class _Runs:  # an object whose unpickling would run code: weights_only refuses it
    def __reduce__(self):
        return (print, ("this ran in the grader",))


def _pickled(obj) -> bytes:
    import io

    out = io.BytesIO()
    torch.save(obj, out)
    return out.getvalue()


def test_a_checkpoint_that_would_run_code_is_refused_not_run(capsys):
    fast = Context(seed=0, fast=True, files={})
    assert "could not be loaded" in message(load_checkpoint, fast, "gru.pt", _pickled({"model": _Runs()}))
    assert "this ran" not in capsys.readouterr().out
