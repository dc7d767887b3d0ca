"""The exercise checkers of lectures 07 and 08 (helpers.exercises.lecture07 / lecture08): each accepts the right
answer and refuses every wrong answer quoted here, with the hint that fits it; the notebooks import them."""
import contextlib
import io
import math
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from helpers.exercises import lecture07, lecture08
from helpers.forecasting import least_squares_forecaster, load_co2, make_windows
from helpers.seq2seq import Seq2Seq, dot_attention, make_date_data

ROOT = Path(__file__).resolve().parents[1]
LECTURES = {7: ROOT / "lectures" / "07_time_series_forecasting.ipynb", 8: ROOT / "lectures" / "08_seq2seq_attention.ipynb"}


def printed(check, *args):
    """(what the checker returned, what it printed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        ok = check(*args)
    return ok, out.getvalue().strip()


def refuses(check, *args, says=""):
    ok, text = printed(check, *args)
    assert ok is False and text.startswith("not yet") and says in text, text
    return text


# ---------------------------------------------------------------- lecture 07

@pytest.fixture(scope="module")
def co2():
    series = load_co2()
    return series, int(0.70 * len(series)), int(0.85 * len(series))


def test_07_exercise_1_receptive_field():
    assert printed(lecture07.check_exercise_1, None) == (False, "not answered yet")
    assert printed(lecture07.check_exercise_1, 31) == (True, "correct")
    for wrong in (30, 15, 63, 31.5):  # the formula without the step itself, one layer short, the lecture's stack
        refuses(lecture07.check_exercise_1, wrong)


def test_07_exercise_2_statistics_of_the_training_part(co2):
    series, train_end, val_end = co2
    right = [float(series[:train_end].mean()), float(series[:train_end].std())]
    assert printed(lecture07.check_exercise_2, right, series, train_end) == (True, "correct")
    assert printed(lecture07.check_exercise_2, [float(series.values[:train_end].mean()),
                                                float(series.values[:train_end].std())], series, train_end)[0]  # ddof 0
    refuses(lecture07.check_exercise_2, [float(series.values.mean()), float(series.values.std())], series, train_end,
            says="whole series")  # the planted bug itself
    for wrong in ([float(series[:val_end].mean()), float(series[:val_end].std())],  # validation weeks included
                  right[::-1], right[:1]):
        refuses(lecture07.check_exercise_2, wrong, series, train_end)


def _direct_maes(series, fit_end, start, stop, horizon=26):
    out = {}
    for window in (26, 52, 104, 156):
        forecast = least_squares_forecaster(*make_windows(series, window, horizon, 0, fit_end))
        X, Y = make_windows(series, window, horizon, start, stop)
        out[window] = float((forecast(X) - Y).abs().mean())
    return out


def test_07_exercise_3_window_chosen_on_validation(co2):
    series, train_end, val_end = co2
    check = lambda answer: printed(lecture07.check_exercise_3, answer, series, train_end, val_end)
    val = _direct_maes(series, train_end, train_end, val_end)
    best = min(val, key=val.get)
    assert check(None) == (False, "not answered yet")
    assert check({"val_mae": val, "window": best}) == (True, "correct")
    assert check({"val_mae": {str(w): v for w, v in val.items()}, "window": best})[0]  # keys as strings are fine
    test = _direct_maes(series, train_end, val_end, None)
    # the wrong answer: the window chosen on the test windows, whether or not it is the same number
    refuses(lecture07.check_exercise_3, {"val_mae": test, "window": min(test, key=test.get)}, series, train_end,
            val_end, says="test windows")
    refuses(lecture07.check_exercise_3, {"val_mae": test, "window": best}, series, train_end, val_end,
            says="test windows")
    leaked = _direct_maes(series, val_end, train_end, val_end)  # fitted on the validation weeks too
    refuses(lecture07.check_exercise_3, {"val_mae": leaked, "window": min(leaked, key=leaked.get)}, series,
            train_end, val_end, says="fitted on the validation weeks")
    one_step = _direct_maes(series, train_end, train_end, val_end, horizon=1)
    refuses(lecture07.check_exercise_3, {"val_mae": one_step, "window": min(one_step, key=one_step.get)}, series,
            train_end, val_end, says="one-week-ahead")
    for window in (26, 52, 156):  # the right evidence, the wrong conclusion
        if window != best:
            refuses(lecture07.check_exercise_3, {"val_mae": val, "window": window}, series, train_end, val_end,
                    says="lowest validation MAE")
    refuses(lecture07.check_exercise_3, best, series, train_end, val_end, says="give a dict")  # a bare window
    refuses(lecture07.check_exercise_3, {"val_mae": {26: val[26], 52: val[52]}, "window": best}, series, train_end,
            val_end, says="one MAE for each window")
    refuses(lecture07.check_exercise_3, {"val_mae": {w: v + 0.01 for w, v in val.items()}, "window": best}, series,
            train_end, val_end, says="0 of 4")


def test_07_exercise_4_baseline_26_weeks_ahead(co2):
    series, _, val_end = co2
    at_26 = lecture07.baselines_at(series, val_end)
    best = min(at_26, key=at_26.get)
    assert best == "seasonal-naive with drift" and at_26["naive"] > at_26["seasonal-naive"] > at_26[best]
    assert printed(lecture07.check_exercise_4, best.upper(), series, val_end) == (True, "correct")
    for wrong in ("naive", "seasonal-naive"):
        refuses(lecture07.check_exercise_4, wrong, series, val_end)
    refuses(lecture07.check_exercise_4, "linear", series, val_end, says="answer one of")


# ---------------------------------------------------------------- lecture 08

@pytest.fixture(scope="module")
def small_model():
    data = make_date_data(n_train=200, n_val=20, n_test=40, max_dates=3, seed=1)
    torch.manual_seed(0)
    model = Seq2Seq(len(data["vocab"]), embed_dim=8, hidden_size=16, attention="dot").eval()
    return model, [s for s, _ in data["test"]], data["vocab"]


def test_08_exercise_1_beam_width_one_is_greedy(small_model):
    model, sources, vocab = small_model
    assert printed(lecture08.check_exercise_1, None, model, sources[:10], vocab) == (False, "not answered yet")
    assert printed(lecture08.check_exercise_1, 0, model, sources[:10], vocab) == (True, "correct")
    for wrong in (1, 10, 0.5):
        refuses(lecture08.check_exercise_1, wrong, model, sources[:10], vocab, says="greedy")


def _attention_fixed(query, keys, values, mask):
    scores = query @ keys.transpose(1, 2) / math.sqrt(query.shape[-1])
    return scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1) @ values


def _attention_buggy(query, keys, values, mask):  # the planted bug: no mask
    return (query @ keys.transpose(1, 2) / math.sqrt(query.shape[-1])).softmax(-1) @ values


def test_08_exercise_2_attention_masks_padding():
    assert printed(lecture08.check_exercise_2, None) == (False, "not answered yet")
    assert printed(lecture08.check_exercise_2, _attention_fixed) == (True, "correct")
    refuses(lecture08.check_exercise_2, _attention_buggy, says="-inf")
    unscaled = lambda q, k, v, m: (q @ k.transpose(1, 2)).masked_fill(~m[:, None, :], float("-inf")).softmax(-1) @ v
    refuses(lecture08.check_exercise_2, unscaled)
    masked_to_zero = lambda q, k, v, m: (q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])).masked_fill(
        ~m[:, None, :], 0.0).softmax(-1) @ v  # zero is not -inf: padding still gets weight
    refuses(lecture08.check_exercise_2, masked_to_zero)
    refuses(lecture08.check_exercise_2, lambda q, k, v, m: dot_attention(q, k, v, m)[0][:, :1], says="")
    refuses(lecture08.check_exercise_2, lambda q, k, v, m: 1 / 0, says="ZeroDivisionError")


def test_08_exercise_3_alignment_rate(small_model):
    model, sources, vocab = small_model
    sources = sources[:10]
    rate = lecture08.alignment_rate(model, sources, vocab)
    assert 0.0 <= rate <= 1.0
    assert printed(lecture08.check_exercise_3, None, model, sources, vocab) == (False, "not answered yet")
    assert printed(lecture08.check_exercise_3, rate, model, sources, vocab) == (True, "correct")
    for wrong in (rate + 0.01, rate - 0.01, 1.0 if rate < 1 else 0.0):
        refuses(lecture08.check_exercise_3, wrong, model, sources, vocab)


def test_08_exercise_4_causal_pairs():
    assert printed(lecture08.check_exercise_4, 128 * 129 // 2) == (True, "correct")
    for wrong in (128 * 128, 127 * 128 // 2, 128):
        refuses(lecture08.check_exercise_4, wrong, says="row t")


# ---------------------------------------------------------------- the notebooks use them, and nbval's tags

@pytest.mark.parametrize("lecture", [7, 8])
def test_notebooks_import_their_checkers_and_define_none(lecture):
    cells = [c for c in nbformat.read(LECTURES[lecture], as_version=4).cells if c.cell_type == "code"]
    source = "\n".join(c.source for c in cells)
    assert "def check_" not in source
    assert f"from helpers.exercises.lecture0{lecture} import check_exercise_1" in source
    assert "NBVAL" not in source, "nbval markers go in cell tags, not in code students read"
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in cells)


def test_nbval_honours_the_check_output_tag_in_lax_mode(tmp_path):
    """A tagged cell whose stored output is wrong fails under --nbval-lax; untagged, it is not compared."""
    def notebook(tags):
        cell = nbformat.v4.new_code_cell("print(1 + 1)", outputs=[nbformat.v4.new_output("stream", text="3\n")])
        cell.execution_count, cell.metadata["tags"] = 1, tags
        nb = nbformat.v4.new_notebook(cells=[cell])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        return nb

    codes = {}
    for name, tags in (("tagged", ["nbval-check-output"]), ("untagged", [])):
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(notebook(tags), path)
        codes[name] = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                                      "--nbval-current-env", str(path), "-o", "addopts="], cwd=tmp_path,
                                     capture_output=True, text=True).returncode
    assert codes == {"tagged": 1, "untagged": 0}
