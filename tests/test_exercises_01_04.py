"""Every exercise of lectures 01-04 tells a right answer from a wrong one.

The notebooks tag their cells: ``exercise-setup`` (the hidden checkers and reference answers, self-contained),
``exercise`` (``answer_N = None`` and the check) and ``solution`` (the worked answers). Each test runs the
setup, then an exercise cell as a student would: unanswered, with a plausible wrong answer, and the solutions.
"""
import contextlib
import io
import re
from pathlib import Path

import matplotlib
import nbformat
import pytest

matplotlib.use("Agg")
LECTURES = Path(__file__).resolve().parent.parent / "lectures"

# A plausible wrong answer per exercise: the mistake a student is likely to make (Python source, evaluated
# after the setup cells and the exercise cell's own definitions).
WRONG = {
    "01_sequential_data.ipynb": {
        1: "(25, 64, 80)",                                    # seq_len first
        2: "(80, 128)",                                       # the row-vector shape
        3: "80 * 128 + 128 * 128 + 128",                      # one bias vector
        4: '{"spam filter": "many-to-one", "part-of-speech tag for each word": "delayed many-to-many", '
           '"melody from a chosen genre": "one-to-many", "German to English": "delayed many-to-many"}',
        5: '"near zero"',                                     # as if every shuffle destroyed the season
        6: "split_series",                                    # the planted bug itself
        7: "[0, 1] * 1000",                                   # order matters, but a bigram sees it
    },
    "02_rnn_activations.ipynb": {
        1: "[0.0, 0.0]",
        2: "20 * 10 + 20 * 20 + 2 * 20 + 20 * 10 + 20 * 20 + 2 * 20",   # layer 2 given layer 1's input size
        3: "1 / 50_000",
        4: '"elman"',
        5: "[50.0, 50.0]",                                    # as if tanh did not saturate
        6: "rnn_forward_buggy",
        7: "(torch.zeros(5, 1), torch.ones(5, 1))",          # differ at every step, not only the first
    },
    "03_backprop_through_time.ipynb": {
        1: "43",                                              # floor instead of the first t below 0.01
        2: "[[3.0, -4.0, 12.0], [1.3, -1.3, 1.3]]",          # forgot to clip by norm
        3: "30",
        4: '{"random W_hh": "below", "orthogonal W_hh": "equal"}',   # as if rho bounded every step
        5: "last_step_input_grads",                           # the planted missing detach
        6: "[[0.5, 0.0], [0.0, 0.5]]",                        # normal: no transient growth
    },
    "04_lstm_gru_gates.ipynb": {
        1: "4 * (256 * (100 + 256) + 2 * 256) * 2",           # forgot the second layer
        2: "0.0",
        3: "0.9",
        4: '{"forward": 4, "backward": 4}',                   # as if each layer kept its direction
        5: "set_forget_bias",
        6: '{"forget_bias": 0.0, "seq_len": 100}',
    },
}


def tagged(name, tag):
    nb = nbformat.read(LECTURES / name, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code" and tag in c.metadata.get("tags", [])]


def run(source, ns):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(source, ns)
    return out.getvalue()


@pytest.fixture(scope="module")
def setups():
    """The namespace each notebook's checkers live in, built once per notebook."""
    cache = {}

    def get(name):
        if name not in cache:
            ns = {}
            for cell in tagged(name, "exercise-setup"):
                run(cell.source, ns)
            cache[name] = ns
        return dict(cache[name])
    return get


def exercises(name):
    """(number, cell) for every exercise cell, from its ``answer_N = None`` line."""
    found = []
    for cell in tagged(name, "exercise"):
        numbers = re.findall(r"^answer_(\d+) = None", cell.source, flags=re.M)
        assert len(numbers) == 1, f"{name}: an exercise cell must set exactly one answer_N = None"
        found.append((int(numbers[0]), cell))
    return found


CASES = [(name, n) for name, wrong in WRONG.items() for n in wrong]


@pytest.mark.parametrize("name", WRONG)
def test_every_exercise_has_a_wrong_answer_here_and_the_three_kinds_are_there(name):
    numbers = sorted(n for n, _ in exercises(name))
    assert numbers == sorted(WRONG[name]), "add a wrong answer to WRONG for each new exercise"
    text = " ".join(c.source for c in nbformat.read(LECTURES / name, as_version=4).cells if c.cell_type == "markdown")
    for kind in ("(predict", "(debug", "(design"):
        assert kind in text, f"{name} needs an exercise marked {kind}...)"


@pytest.mark.parametrize("name, number", CASES)
def test_unanswered_and_wrong_answers_are_told_apart_from_right_ones(setups, name, number):
    cell = dict(exercises(name))[number]
    assert run(cell.source, setups(name)).strip().splitlines()[-1] == "not answered yet"
    wrong = cell.source.replace(f"answer_{number} = None", f"answer_{number} = {WRONG[name][number]}")
    printed = run(wrong, setups(name)).strip().splitlines()[-1]
    assert printed.startswith("not yet"), f"exercise {number} accepted the wrong answer {WRONG[name][number]}"


@pytest.mark.parametrize("name", WRONG)
def test_the_solutions_pass_every_check(setups, name):
    ns = setups(name)
    cells = tagged(name, "solution")
    assert cells and all(c.metadata.get("jupyter", {}).get("source_hidden") for c in cells), "solutions are collapsed"
    printed = "".join(run(c.source, ns) for c in cells).split()
    assert printed.count("correct") == len(WRONG[name]) and "not" not in printed
