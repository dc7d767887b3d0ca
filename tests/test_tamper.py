"""Tamper-proof grades (grading.tamper): attacks from inside the kernel earn nothing and are flagged.

The integration tests run the real course command (``python -m grading release`` and
``autograde``) on a temporary course with a 5-point assignment (add: 2, mean: 2, scale: 1) whose
tests use ``==``, a builtin (``abs``), an assertion helper (``math.isclose``) and an expected
exception. One run grades thirteen honest submissions, one every attack family; a control run
grades the same attacks with the defences switched off (``COURSE_TAMPER_OFF=all``) and shows that
each one would otherwise earn the marks it aims at, so the assertions cannot pass by accident.
The lab's own gaps and the forged-training attack are in tests/test_lab_gaps.py.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from grading import tamper
from grading_support import sandbox_flags

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENT = "tmp_lab"
NOTEBOOK = "work"
POINTS = {"test_add": 2, "test_mean": 2, "test_scale": 1}
SECRET = "test-course-secret"

pytestmark = pytest.mark.timeout(3600)  # two grading runs of 22 and 9 submissions; slow on a loaded 2-core box


def _cell(kind, source, grade_id=None, points=None, solution=False, locked=None):
    cell = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
    if grade_id:
        meta = {"grade_id": grade_id, "schema_version": 3, "task": False, "solution": solution,
                "grade": points is not None, "locked": (not solution) if locked is None else locked}
        if points is not None:
            meta["points"] = points
        cell.metadata["nbgrader"] = meta
    return cell


def source_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=[
        _cell("markdown", "# Tamper test assignment (5 points)"),
        _cell("code", "import math", "setup"),
        _cell("code", "def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION", "add", solution=True),
        _cell("code", "assert add(1, 2) == 3\n### BEGIN HIDDEN TESTS\nassert add(10, -3) == 7\n### END HIDDEN TESTS",
              "test_add", points=2),
        _cell("code", "def mean(xs):\n    ### BEGIN SOLUTION\n    if not xs:\n        raise ValueError('empty')\n"
                      "    return sum(xs) / len(xs)\n    ### END SOLUTION", "mean", solution=True),
        _cell("code", "assert abs(mean([1, 2, 6]) - 3.0) < 1e-9\n### BEGIN HIDDEN TESTS\n"
                      "assert abs(mean([0.5, 1.5, -2.0, 4.0]) - 1.0) < 1e-9\ntry:\n    mean([])\nexcept ValueError:\n"
                      "    pass\nelse:\n    raise AssertionError('mean([]) must raise ValueError')\n### END HIDDEN TESTS",
              "test_mean", points=2),
        _cell("code", "def scale(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n    ### END SOLUTION", "scale", solution=True),
        _cell("code", "assert math.isclose(scale(2.0), 6.0)\n### BEGIN HIDDEN TESTS\n"
                      "assert math.isclose(scale(-1.5), -4.5)\n### END HIDDEN TESTS", "test_scale", points=1),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


ADD = "def add(a, b):\n    return a + b\n"
MEAN = "def mean(xs):\n    if not xs:\n        raise ValueError('empty')\n    return sum(xs) / len(xs)\n"
SCALE = "def scale(x):\n    return 3 * x\n"
WRONG_ADD, WRONG_SCALE = "def add(a, b):\n    return 0\n", "def scale(x):\n    return 0.0\n"
WRONG_MEAN = "def mean(xs):\n    if not xs:\n        raise ValueError('empty')\n    return 0.0\n"
WRONG = (WRONG_ADD, WRONG_MEAN, WRONG_SCALE)

# --- honest submissions: (add, mean, scale) answers -> exact score, never flagged ------------------
HONEST = {
    "reference": ((ADD, MEAN, SCALE), 5),
    "blank": (None, 0),
    "add_only": ((ADD, WRONG_MEAN, WRONG_SCALE), 2),
    "mean_only": ((WRONG_ADD, MEAN, WRONG_SCALE), 2),
    "scale_only": ((WRONG_ADD, WRONG_MEAN, SCALE), 1),
    "other_ways": (("def add(a, b):\n    return sum([a, b])\n",
                    "import statistics\n\ndef mean(xs):\n    return statistics.mean(xs)  # StatisticsError is a ValueError\n",
                    "def scale(x):\n    return x * 3.0\n"), 5),
    "magics": (("%load_ext autoreload\n%autoreload 2\nimport matplotlib\nmatplotlib.use('Agg')\n" + ADD, MEAN,
                "%%time\n" + SCALE), 5),
    "noisy": (("import sys, warnings\nprint('working on add')\nprint('a note on stderr', file=sys.stderr)\n"
               "warnings.warn('just a warning')\n" + ADD, MEAN, "print(3 * 2)\n" + SCALE), 5),
    "own_globals": (("input = [1, 2, 3]\nsum_so_far = 0\nmax = 10\n" + ADD,
                     "def mean(xs):\n    if not xs:\n        raise ValueError('empty')\n    total = 0\n"
                     "    for x in xs:\n        total += x\n    return total / len(xs)\n", SCALE), 5),
    "hidden_wrong": (("def add(a, b):\n    return 3\n", MEAN, SCALE), 3),
    "raises": (("def add(a, b):\n    raise NotImplementedError\n", MEAN, SCALE), 3),
    "wrong_type": ((ADD, MEAN, "def scale(x):\n    return str(3 * x)\n"), 4),
    "extra_cells": ((ADD, MEAN, SCALE), 5),  # plus extra cells and harmless tags, see _submission
}

# --- attacks: (answers, what the attack earns with the defences off) --------------------------------
ATTACKS = {
    "input_transformer": ((WRONG_ADD + textwrap.dedent('''
        def _rewrite(lines):
            return ["pass\\n"] if any("assert" in line for line in lines) else lines
        get_ipython().input_transformers_cleanup.append(_rewrite)
        '''), WRONG_MEAN, WRONG_SCALE), 5),
    "ast_transformer": ((WRONG_ADD + textwrap.dedent('''
        import ast
        class _Drop(ast.NodeTransformer):
            def visit_Assert(self, node):
                return ast.Pass()
            def visit_Raise(self, node):
                return ast.Pass()
        get_ipython().ast_transformers.append(_Drop())
        '''), WRONG_MEAN, WRONG_SCALE), 5),
    # nbgrader turns an execute_reply with status 'error' into an error output, so a working
    # suppression must make the reply itself say 'ok'
    "post_run_cell": ((WRONG_ADD + textwrap.dedent('''
        from IPython.display import clear_output
        def _hide(result):
            if result.error_in_exec is not None:
                result.error_in_exec = None
                clear_output()
        get_ipython().events.register("post_run_cell", _hide)
        '''), WRONG_MEAN, WRONG_SCALE), 5),
    "custom_exc": ((WRONG_ADD + textwrap.dedent('''
        import sys
        def _swallow(shell, etype, value, tb, tb_offset=None):
            frame = sys._getframe()
            while frame is not None:
                found = frame.f_locals.get("result")
                if hasattr(found, "error_in_exec"):
                    found.error_in_exec = None
                frame = frame.f_back
            return []
        get_ipython().set_custom_exc((Exception,), _swallow)
        '''), WRONG_MEAN, WRONG_SCALE), 5),
    "faked_result": ((WRONG_ADD + textwrap.dedent('''
        from IPython.core.interactiveshell import ExecutionInfo, ExecutionResult
        _ip = get_ipython()
        _run, _run_async = _ip.run_cell, _ip.run_cell_async
        def _success(raw_cell, store_history=False, silent=False, shell_futures=True, cell_id=None):
            result = ExecutionResult(ExecutionInfo(raw_cell, store_history, silent, shell_futures, cell_id))
            result.execution_count = _ip.execution_count
            return result
        def _fake(raw_cell, *args, **kwargs):
            return _success(raw_cell) if "assert" in raw_cell else _run(raw_cell, *args, **kwargs)
        async def _fake_async(raw_cell, *args, **kwargs):
            return _success(raw_cell) if "assert" in raw_cell else await _run_async(raw_cell, *args, **kwargs)
        _ip.run_cell, _ip.run_cell_async = _fake, _fake_async
        '''), WRONG_MEAN, WRONG_SCALE), 5),
    "patched_helper": ((ADD, MEAN, WRONG_SCALE + "import math\nmath.isclose = lambda *args, **kwargs: True\n"), 5),
    "shadowed_builtin": ((ADD, WRONG_MEAN + "abs = lambda x: 0\n", SCALE), 5),
    "lying_eq": ((textwrap.dedent('''
        class _Anything(int):
            def __eq__(self, other):
                return True
            __hash__ = int.__hash__
        def add(a, b):
            return _Anything(0)
        '''), MEAN, SCALE), 5),
    "skip_tag": (WRONG, 5),  # skip-execution on every test cell, see _submission
}


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", COURSE_SECRET_ENV: SECRET, **extra,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


COURSE_SECRET_ENV = tamper.SECRET_ENV


def _grade(course: Path, *args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grading", *args, f"--course-dir={course}"], cwd=REPO,
                          capture_output=True, text=True, timeout=3000, env=_env(**env))



def _submission(release: nbformat.NotebookNode, name: str, answers) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    if answers is not None:
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in ("add", "mean", "scale"):
                cell.source = answers[("add", "mean", "scale").index(gid)]
    if name == "skip_tag":
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                cell.metadata["tags"] = ["skip-execution", "raises-exception"]
    if name == "extra_cells":
        nb.cells.insert(2, nbformat.v4.new_markdown_cell("My notes on this assignment."))
        extra = nbformat.v4.new_code_cell("print(add(2, 2), mean([1, 2]), scale(1))")
        extra.metadata["tags"] = ["hide-input"]
        extra.metadata["collapsed"] = True
        nb.cells.append(extra)
    return nb


def _course(root: Path, students: dict) -> Path:
    course = root / "course"
    (course / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", course)
    nbformat.write(source_notebook(), course / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb")
    done = _grade(course, "release", ASSIGNMENT)
    assert done.returncode == 0, done.stdout + done.stderr
    release = nbformat.read(course / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    for name, (answers, _) in students.items():
        folder = course / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(_submission(release, name, answers), folder / f"{NOTEBOOK}.ipynb")
    return course


def _scores(course: Path) -> dict[str, dict[str, float]]:
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()
    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        for sub in gb.find_assignment(ASSIGNMENT).submissions:
            nb = gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, sub.student_id)
            out[sub.student_id] = {g.cell.name: g.score for g in nb.grades if g.cell.name in POINTS}
    return out


def _summary_line(stdout: str, student: str) -> str:
    lines = stdout.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.strip().startswith(student + " "))
    block = [lines[i]]
    for ln in lines[i + 1:]:
        if ln.startswith("      ") and not ln.strip().startswith(tuple(f"{s} " for s in {**HONEST, **ATTACKS})):
            block.append(ln)
        else:
            break
    return "\n".join(block)


def _run(root: Path, students: dict, **env):
    course = _course(root, students)
    done = _grade(course, "autograde", ASSIGNMENT, "--timeout=20", "--workers=1", *sandbox_flags(), **env)
    return course, done


@pytest.fixture(scope="module")
def honest(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("honest"), HONEST)


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("attacked"), ATTACKS)


@pytest.fixture(scope="module")
def undefended(tmp_path_factory):
    """The attacks graded with every tamper defence switched off."""
    return _run(tmp_path_factory.mktemp("undefended"), ATTACKS, COURSE_TAMPER_OFF="all")


# --- integration: the real grading commands ---------------------------------------------------------

@pytest.mark.parametrize("student", list(HONEST))
def test_honest_submission_is_graded_exactly_and_not_flagged(honest, student):
    course, done = honest
    scores = _scores(course)[student]
    assert sum(scores.values()) == HONEST[student][1], (scores, _summary_line(done.stdout, student))
    assert "FLAGGED" not in _summary_line(done.stdout, student), done.stdout


@pytest.mark.parametrize("student", list(ATTACKS))
def test_attack_earns_nothing_and_is_flagged(attacked, student):
    course, done = attacked
    scores = _scores(course)[student]
    assert scores == dict.fromkeys(POINTS, 0.0), (scores, _summary_line(done.stdout, student))
    assert "FLAGGED for review" in _summary_line(done.stdout, student), done.stdout


@pytest.mark.parametrize("student", list(ATTACKS))
def test_attack_would_earn_marks_without_the_defences(undefended, student):
    course, done = undefended
    assert sum(_scores(course)[student].values()) == ATTACKS[student][1], done.stdout
    assert "FLAGGED" not in _summary_line(done.stdout, student)


def test_graded_notebooks_hold_no_inserted_cells(honest):
    course, _ = honest
    nb = nbformat.read(course / "autograded" / "reference" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "_grading_reset" not in text and "_grading_snapshot" not in text
    tests = [c for c in nb.cells if tamper.is_test(c)]
    assert len(tests) == 3 and len(nb.cells) == len(source_notebook().cells)


# --- prepare / judge, without a kernel ------------------------------------------------------------

def _student(answers=(ADD, MEAN, SCALE)):
    return _submission(source_notebook(), "x", answers)


def test_prepare_strips_execution_metadata_and_restores_nbgrader_metadata():
    nb = _student()
    for cell in nb.cells:
        cell.metadata["tags"] = ["skip-execution"]
        cell.metadata["papermill"] = {"parameters": True}
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.metadata["nbgrader"]["points"] = 100
    nb.metadata["kernelspec"] = {"name": "evil"}
    prepared, plan = tamper.prepare(nb, source_notebook(), b"k", student="s")
    for cell in prepared.cells:
        assert set(cell.metadata) <= {"nbgrader"}
        assert cell.metadata.get("nbgrader", {}).get("points") in (None, 1, 2)
    assert prepared.metadata["kernelspec"]["name"] == "python3"
    assert any("skip-execution" in f for f in plan["found"])


def test_prepare_inserts_a_reset_before_every_test_and_one_canary_each():
    prepared, plan = tamper.prepare(_student(), source_notebook(), b"k", student="s")
    kinds = [plan["inserted"].get(c.id, {}).get("kind", "test" if c.id in plan["tests"] else "-") for c in prepared.cells]
    assert kinds.count("canary") == 3 and kinds.count("test") == 3 and kinds.count("reset") == 6
    for i, kind in enumerate(kinds):
        if kind in ("canary", "test"):
            assert kinds[i - 1] == "reset"
    json.dumps(plan)  # the plan is plain data
    ids = [c.id for c in prepared.cells]
    assert len(set(ids)) == len(ids)


def test_canaries_depend_on_secret_and_student_and_look_like_tests():
    layouts = set()
    for secret, student in [(b"a", "s1"), (b"a", "s2"), (b"b", "s1"), (b"c", "s3"), (b"d", "s4")]:
        prepared, plan = tamper.prepare(_student(), source_notebook(), secret, student=student)
        layouts.add(tuple((plan["inserted"].get(c.id, {}).get("kind"), c.source) for c in prepared.cells
                          if plan["inserted"].get(c.id, {}).get("kind") != "reset"))
        for c in prepared.cells:
            if plan["inserted"].get(c.id, {}).get("kind") == "canary":
                assert "### BEGIN HIDDEN TESTS" in c.source  # a copy of the master test, one assertion changed
    assert len(layouts) > 1


@pytest.mark.parametrize("seed", range(20))
def test_every_mutation_contradicts_the_assertion_it_changes(seed):
    """Evaluated on the same values, a true assertion is false after the mutation."""
    rng = random.Random(seed)
    env = {"add": lambda a, b: a + b, "mean": lambda xs: sum(xs) / len(xs) if xs else (_ for _ in ()).throw(ValueError()),
           "scale": lambda x: 3 * x, "math": __import__("math")}
    for cell in source_notebook().cells:
        if tamper.is_test(cell):
            mutant = tamper.mutate(cell.source, rng)
            assert mutant is not None and mutant != cell.source
            exec(cell.source, dict(env))  # the real test passes
            with pytest.raises((AssertionError, ValueError)):
                exec(mutant, dict(env))


def _executed(prepared, plan, *, canary_passes=False, reset_output=None):
    """What an executed notebook looks like: every test passed; canaries failed unless told otherwise."""
    nb = nbformat.from_dict(json.loads(json.dumps(prepared)))
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cell.execution_count = i + 1
        info = plan["inserted"].get(cell.id, {})
        if info.get("kind") == "reset":
            text = reset_output if reset_output is not None else info["nonce"] + "\n"
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
        elif info.get("kind") == "canary" and not canary_passes:
            cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
    return nb


def test_judge_passes_an_honest_run_and_removes_inserted_cells():
    student = _student()
    prepared, plan = tamper.prepare(student, source_notebook(), b"k", student="s")
    nb, verdict = tamper.judge(_executed(prepared, plan), plan)
    assert not verdict.flagged, verdict
    assert [c.source for c in nb.cells] == [c.source for c in student.cells]
    assert [c.id for c in nb.cells] == [c.id for c in student.cells]


@pytest.mark.parametrize("how", ["canary passed", "reset rewritten", "reset found a hook", "test skipped"])
def test_judge_flags_and_zeroes_every_autograded_part(how):
    prepared, plan = tamper.prepare(_student(), source_notebook(), b"k", student="s")
    nb = _executed(prepared, plan, canary_passes=how == "canary passed",
                   reset_output={"reset rewritten": "", "reset found a hook": None}.get(how))
    if how == "reset found a hook":
        for cell in nb.cells:
            if plan["inserted"].get(cell.id, {}).get("kind") == "reset":
                cell.outputs[0].text += "found: post_run_cell hooks\n"
    if how == "test skipped":
        next(c for c in nb.cells if c.id in plan["tests"]).execution_count = None
    nb, verdict = tamper.judge(nb, plan)
    assert verdict.flagged and verdict.reasons
    assert verdict.parts_zeroed == sorted(POINTS)
    zeroed = tamper.apply(nb, verdict)
    assert all(not tamper.passed(c) for c in zeroed.cells if tamper.is_test(c))


def test_secret_file_is_made_private_and_the_kernel_never_sees_it(tmp_path, monkeypatch):
    from grading import sandbox_kernel

    monkeypatch.delenv(tamper.SECRET_ENV, raising=False)
    monkeypatch.setattr(tamper, "SECRET_FILE", tmp_path / "cfg" / "grading-secret")
    first = tamper.load_secret()
    assert len(first) >= 32 and tamper.load_secret() == first
    assert stat.S_IMODE((tmp_path / "cfg" / "grading-secret").stat().st_mode) == 0o600
    monkeypatch.setenv(tamper.SECRET_ENV, "from-env")
    assert tamper.load_secret() == b"from-env"
    assert tamper.SECRET_ENV not in sandbox_kernel.ENV_KEEP
    assert tamper.SECRET_ENV not in sandbox_kernel.kernel_env(sys.executable, 1)


def test_each_course_gets_its_own_hidden_test_seed():
    seeds = {tamper.course_seed(s) for s in (b"a", b"b", b"c", b"d")}
    assert len(seeds) == 4 and all(0 < s < 2**31 for s in seeds)
    prepared, plan = tamper.prepare(_student(), source_notebook(), b"a", student="s")
    resets = [c.source for c in prepared.cells if plan["inserted"].get(c.id, {}).get("kind") == "reset"]
    assert all(f"_SEED\"] = {tamper.course_seed(b'a')}" in r for r in resets)
