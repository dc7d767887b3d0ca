"""Structure of lectures 01-02 and the exercise checker they use (nbval runs the notebooks themselves)."""
import contextlib
import io

import nbformat
import pytest

from helpers.exercises import check
from helpers.runtime import REPO_ROOT

LECTURES = REPO_ROOT / "lectures"
NOTEBOOKS = ["01_sequential_data.ipynb", "02_rnn_activations.ipynb"]


def code_cells(name):
    nb = nbformat.read(LECTURES / name, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def printed(check, *args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        check(*args)
    return out.getvalue().strip()


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_first_code_cell_describes_the_run(name):
    assert code_cells(name)[0].source.splitlines()[0] == "import helpers; print(helpers.describe())"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_stored_outputs_are_real_and_error_free(name):
    cells = code_cells(name)
    assert all(c.execution_count is not None for c in cells), "execute the notebook to store its outputs"
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercises_are_unanswered_and_solutions_pass(name):
    outputs = ["".join(o.get("text", "") for o in c.outputs) for c in code_cells(name)]
    asked = [out for c, out in zip(code_cells(name), outputs) if "answer_" in c.source and "= None" in c.source]
    solved = [out for c, out in zip(code_cells(name), outputs) if "solution" in c.metadata.get("tags", [])]
    assert len(asked) >= 2 and all(out.strip() == "not answered yet" for out in asked)
    assert solved and all(set(out.split()) == {"correct"} for out in solved)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercises_use_the_shared_checker(name):
    assert any("from helpers.exercises import check" in c.source for c in code_cells(name))


def test_checker_tells_right_from_wrong():
    assert printed(check, None, (64, 25, 80), "h") == "not answered yet"
    assert printed(check, (64, 25, 80), (64, 25, 80), "h") == "correct"
    assert printed(check, (25, 64, 80), (64, 25, 80), "order?") == "not yet: order?"
    assert printed(check, 16289, 16288, "h") == "not yet: h"          # counts must be exact
    assert printed(check, [0.1001], [0.1], "h") == "correct"          # floats within 1e-3 relative
    assert printed(check, [0.2], [0.1], "h") == "not yet: h"
    assert printed(check, " Jordan", "jordan", "h") == "correct"
    assert printed(check, {"a": "x", "b": "z"}, {"a": "x", "b": "y"}, "h") == "not yet: 1 of 2 right. h"
    assert printed(check, "12", 12, "h") == "correct"                # a number typed as text still counts
    assert printed(check, "abc", 12, "h") == "not yet: h"            # never raises
