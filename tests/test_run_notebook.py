"""grading.run_notebook: a notebook runs in one kernel, an accident costs only its cell, then the questions."""
import os
import time

import nbformat
import pytest

from grading.probe import decode, encode
from grading.run_notebook import NotebookRun, Question, question_folder
from grading_support import sandbox_flags

pytestmark = pytest.mark.timeout(300)


def notebook(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def run(tmp_path, nb, questions=(), *, kernel=None, cell_timeout=60, deadline=300, uid=None):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)

    def make_folder(q):
        folder, fd = question_folder(work, uid)
        os.close(fd)
        text, tensors = encode(q.inputs)
        (folder / "in.json").write_bytes(text)
        (folder / "in.safetensors").write_bytes(tensors)
        return folder

    runner = NotebookRun(nb, work, kernel or {"kernel_name": "python3"}, cell_timeout=cell_timeout,
                         deadline=deadline, env=dict(os.environ))
    answered = runner.run(list(questions), make_folder)
    return runner, answered


def question(n, ask, inputs=None, timeout=60):
    q = Question(n, ask, timeout)
    q.inputs = inputs
    return q


def answer_of(q):
    return decode((q.folder / "out.json").read_bytes(), (q.folder / "out.safetensors").read_bytes())


ASK_F = "def ask(nb, inputs):\n    return [attempt(nb.f, x) for x in inputs]\n"


def test_cells_run_in_order_and_questions_see_the_final_definitions(tmp_path):
    nb = notebook("def f(x):\n    return x + 1", "y = f(1)\nprint(y)", "def f(x):\n    return x * 10")
    q = question(0, ASK_F, [1, 2])
    runner, answered = run(tmp_path, nb, [q])
    assert answered == {0: None} and answer_of(q) == [10, 20]
    assert nb.cells[1].outputs[0]["text"] == "2\n"


def test_a_question_reads_its_names_as_they_stood_right_after_its_test_cell(tmp_path):
    nb = notebook("def f(x):\n    return x + 1", "assert f(1) == 2", "from torch import *\nf = None\ng = 5")
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "test_f", "grade": True, "points": 1}
    q = question(0, ASK_F, [1, 2])
    q.cell, q.names = "test_f", ["f"]
    q_late = question(1, "def ask(nb, inputs):\n    return nb.g\n")
    runner, answered = run(tmp_path, nb, [q, q_late])
    assert answer_of(q) == [2, 3] and answer_of(q_late) == 5


def test_a_questions_functions_read_their_globals_as_they_stood_after_its_test_cell(tmp_path):
    # later cells rebind what f reads: the builtins (a star import), its helper, a constant; f itself is untouched
    nb = notebook("SCALE = 10\ndef helper(x):\n    return x * SCALE\ndef f(x):\n    return helper(sum(range(x)))",
                  "assert f(3) == 30", "from torch import *\nfrom numpy import *\ndef helper(x):\n    return -1\nSCALE = 0")
    nb.cells[1].metadata["nbgrader"] = {"grade_id": "test_f", "grade": True, "points": 1}
    q = question(0, ASK_F, [3, 4])
    q.cell, q.names = "test_f", ["f"]
    q_late = question(1, "def ask(nb, inputs):\n    return [nb.SCALE, attempt(nb.f, 3)]\n")
    runner, answered = run(tmp_path, nb, [q, q_late])
    assert answer_of(q) == [30, 60]
    late = answer_of(q_late)  # a question of no test cell sees the notebook as it ends, as before
    assert late[0] == 0 and type(late[1]).__name__ == "Raised"


def test_a_cell_that_kills_the_kernel_costs_only_that_cell(tmp_path):
    nb = notebook("def f(x):\n    return x + 1", "import os\nos._exit(3)", "def g():\n    return 7",
                  "import os\nos._exit(4)")
    q_f, q_g = question(0, ASK_F, [1]), question(1, "def ask(nb, inputs):\n    return attempt(nb.g)\n")
    runner, answered = run(tmp_path, nb, [q_f, q_g])
    assert answered == {0: None, 1: None}
    assert answer_of(q_f) == [2] and answer_of(q_g) == 7
    assert sorted(runner.report.skipped) == [1, 3]
    assert "the kernel died" in nb.cells[1].outputs[-1]["evalue"]


def test_a_cell_that_ignores_the_interrupt_is_replaced(tmp_path):
    nb = notebook("def f(x):\n    return x", "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass",
                  "z = 5")
    q = question(0, "def ask(nb, inputs):\n    return nb.z\n")
    runner, answered = run(tmp_path, nb, [q], cell_timeout=2)
    assert answered == {0: None} and answer_of(q) == 5
    assert 1 in runner.report.skipped and 1 in runner.report.timeouts


def test_a_slow_cell_is_interrupted_and_the_rest_still_runs(tmp_path):
    nb = notebook("import time\ntime.sleep(60)", "w = 1")
    q = question(0, "def ask(nb, inputs):\n    return nb.w\n")
    runner, answered = run(tmp_path, nb, [q], cell_timeout=2)
    assert answer_of(q) == 1 and runner.report.timeouts == [0] and not runner.report.skipped


def test_questions_that_hang_or_kill_the_kernel_get_no_answer_and_the_next_one_is_asked(tmp_path):
    nb = notebook("import time, os\ndef slow():\n    time.sleep(600)\ndef boom():\n    os._exit(1)\ndef ok():\n    return 1")
    qs = [question(0, "def ask(nb, inputs):\n    return nb.slow()\n", timeout=2),
          question(1, "def ask(nb, inputs):\n    return nb.boom()\n"),
          question(2, "def ask(nb, inputs):\n    return nb.ok()\n")]
    runner, answered = run(tmp_path, nb, qs)
    assert answered[0].startswith("no answer within 2 s")
    assert "died while answering" in answered[1]
    assert answered[2] is None and answer_of(qs[2]) == 1


def test_the_deadline_stops_the_run_and_says_so(tmp_path):
    nb = notebook("import time\ntime.sleep(4)", "import time\ntime.sleep(4)", "a = 1")
    q = question(0, "def ask(nb, inputs):\n    return nb.a\n")
    start = time.monotonic()
    runner, answered = run(tmp_path, nb, [q], cell_timeout=10, deadline=6)
    assert time.monotonic() - start < 40
    assert runner.report.deadline_hit and answered[0].startswith("not asked")
    # the deadline stopped a cell (the second, or the first on a box slow to start the kernel), not the limit
    assert runner.report.deadline_cut in (0, 1) and runner.report.timeouts == []


def test_star_imports_and_shadowed_builtins_do_not_break_the_question(tmp_path):
    nb = notebook("from torch import *\nfrom numpy import *\nexec = None\ncompile = print\nrange = None\nfor type in [1, 2]:\n    pass\n"
                  "def f(x):\n    return x * 2")
    q = question(0, ASK_F, [3])
    runner, answered = run(tmp_path, nb, [q])
    assert answered == {0: None} and answer_of(q) == [6]


@pytest.mark.skipif(bool(sandbox_flags()), reason="the sandbox does not work here (tests/test_sandbox.py says why)")
def test_the_sandboxed_kernel_answers_too(tmp_path):
    from grading import sandbox

    work = tmp_path / "course"
    work.mkdir()
    kernel = sandbox.kernel_settings(work)
    try:
        nb = notebook("import socket\ndef f(x):\n    return x - 1")
        q = question(0, ASK_F, [10])
        uid = sandbox.SandboxConfig.from_env().uid if os.geteuid() == 0 else None
        runner, answered = run(tmp_path, nb, [q], kernel=kernel, uid=uid)
        assert answered == {0: None} and answer_of(q) == [9]
    finally:
        sandbox.drop_run_folder(kernel)


def test_what_the_kernel_writes_to_its_own_stdout_and_stderr_never_reaches_the_grader(tmp_path, capfd):
    nb = notebook("import os\nos.write(1, b'\\xff\\x1b[2J raw-out')\nos.write(2, b'\\xfe\\x1b]0;pwned\\x07 raw-err')\n"
                  "print('printed')")
    runner, _ = run(tmp_path, nb)
    captured = capfd.readouterr()
    assert "raw-out" not in captured.out + captured.err and "raw-err" not in captured.out + captured.err
    assert any("printed" in o.get("text", "") for o in nb.cells[0].outputs)  # a cell's own output still comes back
