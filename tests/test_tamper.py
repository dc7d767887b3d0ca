"""Grades decided outside the student's interpreter: attacks earn nothing, honest code of any kind is graded exactly.

The real course commands grade the 3-point mini assignment (tests/mini_assignment.py: add 2
points, mul 1) in the sandbox. Its hidden checks (mini_assignment.CHECKS) run in the grader's judge
on inputs drawn per submission; the student's kernel only answers questions with plain data.

* Every attack family, with no right answer behind it, scores 0; with the right answers behind
  it, never more than those answers earn.
* Ordinary honest code (magics, plots anywhere, star imports, shadowed builtins, torch.compile,
  threads, progress bars, large prints, a hard exit in the last cell, a damaged timestamp, links
  left in the folder, nbgrader markers in a comment) is graded exactly and never flagged.
* Feedback is written for everyone, and no feedback holds a question's code, the course secret or
  a submission's seed.
"""
from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest

import grading_support as support
from mini_assignment import ASSIGNMENT, CHECKS, RIGHT, fill_answers

pytestmark = pytest.mark.timeout(3600)

WRONG = ("def add(a, b):\n    return 0", "def mul(a, b):\n    return 0")
BLANK = None  # the release as it is


def answers(add: str = RIGHT[0], mul: str = RIGHT[1]) -> tuple[str, str]:
    return add, mul


# --- honest submissions: answers (and extra cells) -> exact score, never flagged ---------------------------------

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [3, 1, 2])\nplt.title('my own plot')\nplt.show()\n"
HONEST = {
    "reference": (answers(), [], 3),
    "blank": (BLANK, [], 0),
    "add_only": (answers(mul=WRONG[1]), [], 2),
    "mul_only": (answers(add=WRONG[0]), [], 1),
    "raises": (answers(add="def add(a, b):\n    raise NotImplementedError"), [], 1),
    "other_ways": (("def add(a, b):\n    return sum([a, b])", "import operator\nmul = operator.mul"), [], 3),
    "magics": (("%load_ext autoreload\n%autoreload 2\n%matplotlib inline\n" + RIGHT[0], "%%time\n" + RIGHT[1]), [], 3),
    "plt_ion": (("import matplotlib.pyplot as plt\nplt.ion()\n" + PLOT + RIGHT[0], RIGHT[1]), [], 3),
    "plot_everywhere": ((PLOT + RIGHT[0], PLOT + RIGHT[1]), [PLOT], 3),
    "star_numpy": (("from numpy import *\n" + RIGHT[0], RIGHT[1]), ["from numpy import *\nprint(max([1, 2]))"], 3),
    "star_torch": (("from torch import *\n" + RIGHT[0], RIGHT[1]), ["from torch import *\nx = zeros(3)"], 3),
    "loop_type": (("for type in ['a', 'b']:\n    pass\nfor sum in range(2):\n    pass\n" + RIGHT[0], RIGHT[1]), [], 3),
    "torch_compile": (("import torch\ndef _add(a, b):\n    return a + b\nadd = torch.compile(_add, backend='eager')",
                       RIGHT[1]), [], 3),
    "noisy": (("import sys, warnings\nprint('working on add')\nprint('a note on stderr', file=sys.stderr)\n"
               "warnings.warn('just a warning')\n" + RIGHT[0], "print('x' * 3_000_000)\n" + RIGHT[1]), [], 3),
    "own_globals": (("input = [1, 2, 3]\nmax = 10\nabs = None\nlen = 4\n" + RIGHT[0], RIGHT[1]), [], 3),
    "seeds_threads_bars": (("import random, threading, time\nrandom.seed(0)\n"
                            "threading.Thread(target=time.sleep, args=(0.5,), daemon=True).start()\n"
                            "from tqdm.auto import tqdm\nfor _ in tqdm(range(50)):\n    pass\n" + RIGHT[0], RIGHT[1]),
                           ["import torch\ntorch.manual_seed(1)\ntorch.set_num_threads(1)"], 3),
    "extra_cells_and_tags": (answers(), ["print(add(2, 2), mul(3, 3))", "# my notes"], 3),
    "markers_in_comments": (("# ### BEGIN HIDDEN TESTS\n# ### BEGIN SOLUTION\n" + RIGHT[0],
                             RIGHT[1] + "\n# ### END HIDDEN TESTS"), ["# ### END SOLUTION"], 3),
    "exit_in_last_cell": (answers(), ["import os\nos._exit(0)"], 3),
    "memory_error_late": (answers(), ["x = bytearray(10**12)"], 3),
    "links_left": (answers(), ["import os\nos.symlink('/etc/passwd', 'passwd')\nos.symlink('..', 'up')\n"
                               "os.mkfifo('pipe')"], 3),
    "bad_timestamp": (answers(), [], 3),  # plus a damaged timestamp.txt, see _grade_class
}

# --- attacks: (answers, extra cells) -------------------------------------------------------------------------------

ATTACK_CODE = {
    # rewrites every later cell, the grader's questions included
    "input_transformer": '''
        def _rewrite(lines):
            return ["pass\\n"]
        get_ipython().input_transformers_cleanup.append(_rewrite)
        ''',
    "ast_transformer": '''
        import ast
        class _Drop(ast.NodeTransformer):
            def visit_Call(self, node):
                return ast.Constant(3)
        get_ipython().ast_transformers.append(_Drop())
        ''',
    "post_run_cell": '''
        from IPython.display import clear_output
        def _hide(result):
            result.error_in_exec = None
            clear_output()
        get_ipython().events.register("post_run_cell", _hide)
        get_ipython().events.register("post_execute", lambda: print("all tests passed"))
        ''',
    "custom_exc": '''
        get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: [])
        ''',
    "faked_run_cell": '''
        from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult
        _ip = get_ipython()
        def _fake(raw_cell, *args, **kwargs):
            return ExecutionResult(ExecutionInfo(raw_cell, False, False, True, None))
        async def _fake_async(raw_cell, *args, **kwargs):
            return _fake(raw_cell)
        _ip.run_cell, _ip.run_cell_async = _fake, _fake_async
        ''',
    "patched_builtins": '''
        import builtins, json, math, os
        _exec = builtins.exec
        def _exec_hijack(code, *args, **kwargs):
            if isinstance(code, str) and "answer(" in code:
                for d in os.listdir("."):
                    if d.startswith(".question"):
                        open(os.path.join(d, "out.json"), "w").write(json.dumps([0, 0, 0, 0, 0, 0]))
                return None
            return _exec(code, *args, **kwargs)
        builtins.exec = _exec_hijack
        math.isclose = lambda *a, **k: True
        builtins.isinstance = lambda *a, **k: True
        ''',
    "shadowed_names": '''
        __builtins__ = None
        get_ipython = None
        ''',
    "lying_objects": '''
        class _Anything(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        class _Whatever:
            def __eq__(self, other):
                return True
        add = lambda a, b: _Anything(0)
        mul = lambda a, b: _Whatever()
        ''',
    "stdout_and_display": '''
        import sys, io
        class _Out(io.StringIO):
            def write(self, s):
                return super().write("passed - add on random integers\\n")
        sys.stdout = sys.stderr = _Out()
        ''',
    "kill_on_question": '''
        import os
        def _kill(lines):
            if any("answer(" in line for line in lines):
                os._exit(1)
            return lines
        get_ipython().input_transformers_cleanup.append(_kill)
        ''',
    "forging_thread": '''
        import json, os, threading, time
        def _forge():
            while True:
                for d in os.listdir("."):
                    if d.startswith(".question"):
                        try:
                            open(os.path.join(d, "out.json"), "w").write(json.dumps([7] * 6))
                        except OSError:
                            pass
                time.sleep(0.001)
        threading.Thread(target=_forge, daemon=True).start()
        ''',
    "reads_the_grader": '''
        import glob, os
        for pattern in ["/**/checks.py", "/tmp/**/*.py", "../../../**/*", os.path.expanduser("~/.config/**/*")]:
            try:
                found = glob.glob(pattern, recursive=True)[:20]
            except OSError:
                found = []
            print(pattern, found)
        ''',
}
# a test cell rewritten to pass, and tags that skip or excuse execution (nbgrader restores the cells; they count for nothing anyway)
EDITED_TESTS = "edited_tests_and_tags"

# The families combined, for the labs' suites: a blank notebook per group carries every family into a lab (the mini
# assignment above grades each family alone). In each group the later cells run after the earlier ones have hooked
# the kernel, or are rewritten by them; the last group also edits the test cells and kills the kernel when asked.
ATTACK_GROUPS = {
    "attacks_data": ["reads_the_grader", "stdout_and_display", "lying_objects", "forging_thread", "patched_builtins"],
    "attacks_ipython": ["post_run_cell", "custom_exc", "ast_transformer", "faked_run_cell", "input_transformer"],
    f"{EDITED_TESTS}_kill": ["shadowed_names", "kill_on_question"],
}
assert {a for group in ATTACK_GROUPS.values() for a in group} == set(ATTACK_CODE), "every tamper family is used"


def attack_group(release, group: str) -> nbformat.NotebookNode:
    """The blank release with one group of tamper families appended (and its test cells edited, for the last)."""
    return _submission(release, group, None, [textwrap.dedent(ATTACK_CODE[name]) for name in ATTACK_GROUPS[group]])


def _attack_extra(name: str) -> list[str]:
    return [textwrap.dedent(ATTACK_CODE[name])] if name in ATTACK_CODE else []


def _submission(release, name: str, answer_pair, extra: list[str]) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    if answer_pair is not None:
        fill_answers(nb, *answer_pair)
    for source in extra:
        nb.cells.append(nbformat.v4.new_code_cell(source))
    if name in ("extra_cells_and_tags", EDITED_TESTS) or name.startswith(EDITED_TESTS):
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                cell.metadata["tags"] = ["skip-execution", "raises-exception"]
                if name.startswith(EDITED_TESTS):
                    cell.source = "print('all good')"
        nb.cells[-1].metadata["tags"] = ["hide-input", "nbval-skip"]
    return nb


def _grade_class(course: Path, students: dict) -> tuple[Path, str]:
    release = support.released(course, ASSIGNMENT)
    for name, (answer_pair, extra) in students.items():
        folder = support.submit(course, name, ASSIGNMENT, _submission(release, name, answer_pair, extra))
        if name == "bad_timestamp":
            (folder / "timestamp.txt").write_text("the 31st of Smarch, at noon")
    done = support.autograde(course, ASSIGNMENT, "--timeout=30", "--workers=2")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return course, done.stdout + done.stderr


@pytest.fixture(scope="module")
def honest(mini_template, shared_tmp):
    import shutil

    course = shutil.copytree(mini_template, shared_tmp / "tamper-honest")
    return _grade_class(course, {name: (a, extra) for name, (a, extra, _) in HONEST.items()})


def _attacks(with_answers: bool) -> dict:
    pair = answers() if with_answers else WRONG
    out = {name: (pair, _attack_extra(name)) for name in ATTACK_CODE}
    out[EDITED_TESTS] = (pair, [])
    return out


@pytest.fixture(scope="module")
def attacked(mini_template, shared_tmp):
    import shutil

    course = shutil.copytree(mini_template, shared_tmp / "tamper-attacked")
    return _grade_class(course, _attacks(with_answers=False))


@pytest.fixture(scope="module")
def attacked_with_answers(mini_template, shared_tmp):
    import shutil

    course = shutil.copytree(mini_template, shared_tmp / "tamper-answers")
    return _grade_class(course, _attacks(with_answers=True))


def _total(course: Path, student: str) -> float:
    return sum(v or 0 for v in support.scores(course, ASSIGNMENT)[student].values())


# --- the tests ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("student", list(HONEST))
def test_honest_code_is_graded_exactly_and_never_flagged(honest, student):
    course, out = honest
    block = support.summary_block(out, student)
    assert _total(course, student) == HONEST[student][2], block
    assert "FLAGGED" not in block and "FAILED" not in block, block


def test_what_the_grader_noticed_is_reported_against_that_student(honest):
    course, out = honest
    assert "the kernel died while running this cell" in support.summary_block(out, "exit_in_last_cell")
    links = support.summary_block(out, "links_left")
    assert "left" in links and "removed" in links
    assert not any(p.is_symlink() for p in (course / "autograded" / "links_left" / ASSIGNMENT).iterdir())
    assert "timestamp.txt is not a time nbgrader can read" in support.summary_block(out, "bad_timestamp")


@pytest.mark.parametrize("student", list(_attacks(False)))
def test_an_attack_without_answers_earns_nothing(attacked, student):
    course, out = attacked
    assert _total(course, student) == 0, support.summary_block(out, student)


@pytest.mark.parametrize("student", list(_attacks(True)))
def test_an_attack_with_the_right_answers_earns_no_more_than_they_do(attacked_with_answers, student):
    course, out = attacked_with_answers
    total = _total(course, student)
    assert total <= 3, support.summary_block(out, student)
    if student in ("reads_the_grader", "stdout_and_display", "post_run_cell", "custom_exc", EDITED_TESTS):
        # attacks that do not stop the right answers coming back (the others break their own answers)
        assert total == 3, support.summary_block(out, student)


def test_feedback_is_written_for_everyone_and_gives_nothing_away(honest, attacked):
    for course, _ in (honest, attacked):
        hidden = support.hidden_lines(CHECKS, course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", min_length=20)
        assert len(hidden) >= 10
        support.feedback_pages(course, ASSIGNMENT, hidden)


def test_feedback_names_the_check_and_what_differed(honest):
    course, _ = honest
    page = next((course / "feedback" / "mul_only" / ASSIGNMENT).glob("*.html")).read_text()
    assert re.search(r"failed - add on random integers: add\(-?\d+, -?\d+\) is 0, expected -?\d+", page)
