"""Lectures 05 and 06: every exercise checker passes the worked solution and fails a wrong answer.

The checkers and solutions are the notebooks' own cells, run on small stand-ins for the data and models
(the notebooks compute the real expected values from their full data in the same code).
"""
import ast
import math
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from helpers.generate import sample
from helpers.models import CharRNN, SentimentRNN
from helpers.padding import bucketed_batches, pad_batch, padding_fraction, sorted_batches
from helpers.text import CharVocab

LECTURES = Path(__file__).resolve().parents[1] / "lectures"


def code_cells(name):
    return ["".join(c.source) for c in nbformat.read(LECTURES / name, as_version=4).cells if c.cell_type == "code"]


def cell_with(cells, text):
    found = [c for c in cells if text in c]
    assert len(found) == 1, f"expected one cell with {text!r}, found {len(found)}"
    return found[0]


def run_functions(ns, cells, *names):
    """Define the named functions from the notebook's cells in ``ns`` (without running the rest of those cells)."""
    nodes = [node for c in cells for node in ast.parse(c.replace("%matplotlib", "#")).body
             if isinstance(node, ast.FunctionDef) and node.name in names]
    assert sorted(n.name for n in nodes) == sorted(names)
    exec(compile(ast.Module(body=nodes, type_ignores=[]), "notebook", "exec"), ns)


def results(ns, capsys, number, *answers):
    """The checker's verdict (True/False) for each answer; it must print a hint for the wrong ones."""
    out = []
    for answer in answers:
        ns[f"check_exercise_{number}"](answer)
        printed = capsys.readouterr().out.strip()
        assert printed == "correct" or printed.startswith("not yet: "), (answer, printed)
        out.append(printed == "correct")
    return out


# ---------------------------------------------------------------- lecture 05

def reviews(n, seed):
    """Token lists whose label is carried by one word ('good' or 'bad') among filler words."""
    rng = np.random.default_rng(seed)
    filler = [f"w{i}" for i in range(30)]
    tokens, labels = [], []
    for i in range(n):
        words = list(rng.choice(filler, size=int(rng.integers(5, 60))))
        words.insert(int(rng.integers(0, len(words))), "good" if i % 2 else "bad")
        tokens.append(words)
        labels.append(i % 2)
    return tokens, labels


@pytest.fixture(scope="module")
def nb05():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cells = code_cells("05_imdb_sentiment.ipynb")
    ns = dict(np=np, torch=torch, time=time, TfidfVectorizer=TfidfVectorizer, LogisticRegression=LogisticRegression,
              padding_fraction=padding_fraction, bucketed_batches=bucketed_batches, sorted_batches=sorted_batches,
              pad_batch=pad_batch, device=torch.device("cpu"), mode="test")
    run_functions(ns, cells, "fit_tfidf", "accuracy", "predict_proba")
    train_tokens, train_labels = reviews(200, 0)
    val_tokens, val_labels = reviews(60, 1)
    test_tokens, test_labels = reviews(80, 2)
    words = sorted({w for t in train_tokens for w in t})
    ids = {w: i + 2 for i, w in enumerate(words)}
    torch.manual_seed(0)
    ns.update(settings={"batch_size": 8}, lengths=np.array([len(t) for t in train_tokens]),
              train_tokens=train_tokens, train_labels=train_labels, val_tokens=val_tokens,
              val_labels_t=torch.tensor(val_labels), test_tokens=test_tokens, test_labels=torch.tensor(test_labels),
              val_seqs=[[ids.get(w, 1) for w in t] for t in val_tokens],
              model=SentimentRNN(len(ids) + 2, embed_dim=8, hidden_size=6, pool="max", pack=False).eval())
    ns["tfidf"] = {"tf-idf unigrams": {"predict": ns["fit_tfidf"](1, [" ".join(t) for t in train_tokens],
                                                                 train_labels)[0]}}
    exec(cell_with(cells, "def check_exercise_1"), ns)
    return ns, cells


def test_05_exercise_1_padding_share(nb05, capsys):
    ns, cells = nb05
    exec(cell_with(cells, "answer_1 = 1 - (3 + 5 + 10)"), ns)
    capsys.readouterr()
    assert results(ns, capsys, 1, ns["answer_1"], 0.5, 18 / 30) == [True, False, False]


def test_05_exercise_2_backward_padding_steps(nb05, capsys):
    ns, cells = nb05
    exec(cell_with(cells, "answer_2 = float(np.concatenate(steps).mean())"), ns)
    capsys.readouterr()
    assert results(ns, capsys, 2, ns["answer_2"], float(ns["lengths"].mean()), 0.0) == [True, False, False]


def test_05_exercise_3_always_positive(nb05, capsys):
    ns, cells = nb05
    ns["answer_3"] = (ns["test_labels"] == 1).sum().item() / len(ns["test_labels"])
    assert results(ns, capsys, 3, ns["answer_3"], 1.0, 0.0) == [True, False, False]


def test_05_exercise_4_prediction_shuffled_words(nb05, capsys):
    ns, _ = nb05
    assert results(ns, capsys, 4, "same", "lower", "higher", "Same ") == [True, False, False, True]


def test_05_exercise_5_state_leaking_across_reviews(nb05, capsys):
    ns, cells = nb05
    exec(cell_with(cells, "def predict_one_at_a_time(model, seqs)"), ns)  # the planted bug
    exec(cell_with(cells, "def predict_one_at_a_time_fixed"), ns)  # the worked solution
    capsys.readouterr()
    buggy = ns["predict_one_at_a_time"](ns["model"], ns["val_seqs"][:20])
    fixed = ns["predict_one_at_a_time_fixed"](ns["model"], ns["val_seqs"][:20])
    assert max(abs(a - b) for a, b in zip(buggy, fixed)) > 1e-3, "the stand-in model must show the leak"
    assert results(ns, capsys, 5, fixed, buggy, fixed[:10]) == [True, False, False]


def test_05_exercise_6_first_or_last_tokens(nb05, capsys):
    ns, cells = nb05
    exec(cell_with(cells, "answer_6[where] = accuracy"), ns)
    capsys.readouterr()
    right = ns["answer_6"]
    wrong = {"first": right["first"] - 0.05, "last": right["last"]}
    assert results(ns, capsys, 6, right, wrong, [right["first"], right["last"]]) == [True, False, False]


# ---------------------------------------------------------------- lecture 06

@pytest.fixture(scope="module")
def nb06():
    cells = code_cells("06_shakespeare_char_rnn.ipynb")
    text = "ROMEO: " + "".join(np.random.default_rng(0).choice(list("abcdefgh :\n"), size=25_000))
    vocab = CharVocab.from_text(text)
    ids = vocab.encode(text)
    torch.manual_seed(3)
    model = CharRNN(len(vocab), embed_dim=8, hidden_size=16, cell="lstm").eval()
    with torch.no_grad():
        last = model(vocab.encode("ROMEO:")[None])[0][0, -1]
    ns = dict(torch=torch, F=F, math=math, sample=sample, model=model, vocab=vocab, train_ids=ids[:4000],
              val_ids=ids[4000:], last=last, device=torch.device("cpu"), mode="test")
    exec(cell_with(cells, "def check_exercise_1"), ns)
    return ns, cells


def test_06_exercises_1_to_3(nb06, capsys):
    ns, cells = nb06
    ns["after"] = {"val_bpc": 2.0}  # printed beside the answer
    exec(cell_with(cells, "answer_1 = float(-(p_val"), ns)
    capsys.readouterr()
    assert results(ns, capsys, 1, ns["answer_1"], math.log2(len(ns["vocab"]))) == [True, False]
    assert results(ns, capsys, 2, math.exp(1.5), 1.5, 2 ** 1.5) == [True, False, False]
    exec(cell_with(cells, "def top_k_probs").replace("check_exercise_3(answer_3)", ""), ns)
    capsys.readouterr()
    flat = torch.softmax(ns["last"] / 0.8, dim=-1).tolist()  # forgot to cut to the top 5
    assert results(ns, capsys, 3, ns["answer_3"], flat) == [True, False]


def test_06_exercise_4_greedy_ignores_the_seed(nb06, capsys):
    ns, _ = nb06
    assert results(ns, capsys, 4, "yes", "no") == [True, False]


def test_06_exercise_5_state_not_carried(nb06, capsys):
    ns, cells = nb06
    exec(cell_with(cells, "def greedy(model, prime, length)"), ns)  # the planted bug
    exec(cell_with(cells, "def greedy_fixed"), ns)  # the worked solution
    capsys.readouterr()
    buggy = ns["greedy"](ns["model"], "ROMEO:", 200)
    assert buggy != ns["answer_5"], "the stand-in model must show the bug"
    assert results(ns, capsys, 5, ns["answer_5"], buggy, ns["answer_5"][:-1]) == [True, False, False]


def test_06_exercise_6_temperature_on_held_out_text(nb06, capsys):
    ns, cells = nb06
    exec(cell_with(cells, "answer_6 = min(losses, key=losses.get)"), ns)
    capsys.readouterr()
    others = [t for t in ns["TEMPERATURES"] if t != ns["answer_6"]]
    assert results(ns, capsys, 6, ns["answer_6"], *others) == [True] + [False] * len(others)
