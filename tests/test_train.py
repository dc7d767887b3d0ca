"""helpers.train: batching, learning, budgets, checkpoints, exact resume, divergence, bad arguments."""
import math
import os
import re
import signal

import pytest
import torch

from helpers import checkpoint
from helpers.models import CharRNN, SentimentRNN
from helpers.tasks import CharLMTask, SentimentTask, split_text
from helpers.text import CharVocab
from helpers.train import History, TrainConfig, TrainingDivergedError, evaluate, load_checkpoint, train

TEXT = "the cat sat on the mat. the dog sat on the log. " * 40


@pytest.fixture(scope="module")
def data():
    vocab = CharVocab.from_text(TEXT)
    train_ids, val_ids = split_text(vocab.encode(TEXT), val_fraction=0.1)
    return vocab, train_ids, val_ids


def char_model(vocab, seed=0, **kw):
    torch.manual_seed(seed)
    kw = {"embed_dim": 8, "hidden_size": 16, **kw}
    return CharRNN(len(vocab), **kw)


def config(**kw):
    base = dict(lr=1e-2, progress=False, device="cpu", eval_every=5, max_steps=20)
    return TrainConfig(**{**base, **kw})


def sentiment_data(n, seed):
    """Reviews of random filler ids 4..19 with one word that decides the label: 2 = good, 3 = bad."""
    g = torch.Generator().manual_seed(seed)
    seqs, labels = [], []
    for _ in range(n):
        length = int(torch.randint(3, 12, (1,), generator=g))
        seq = torch.randint(4, 20, (length,), generator=g).tolist()
        label = int(torch.randint(0, 2, (1,), generator=g))
        seq[int(torch.randint(0, length, (1,), generator=g))] = 2 if label else 3
        seqs.append(seq)
        labels.append(label)
    return seqs, labels


def history_without_time(h):
    d = h.to_dict()
    d.pop("seconds")
    return d


def assert_same_run(model_a, hist_a, model_b, hist_b):
    for (name, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch.equal(a, b), name
    assert history_without_time(hist_a) == history_without_time(hist_b)


# --- batching ---------------------------------------------------------------------------------

def test_split_text_holds_out_the_end():
    ids = torch.arange(100)
    train_ids, val_ids = split_text(ids, val_fraction=0.1)
    assert torch.equal(train_ids, ids[:90]) and torch.equal(val_ids, ids[90:])


def test_stream_batches_are_contiguous(data):
    _, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8, mode="stream")
    L = len(train_ids) // 4
    x0, y0 = task.batch(0, 0, seed=0, device=torch.device("cpu"))
    x1, _ = task.batch(0, 1, seed=0, device=torch.device("cpu"))
    assert x0.shape == y0.shape == (4, 8)
    for r in range(4):  # row r is stream r, which starts at r * L and continues in the next batch
        assert torch.equal(x0[r], train_ids[r * L: r * L + 8])
        assert torch.equal(y0[r], train_ids[r * L + 1: r * L + 9])
        assert torch.equal(x1[r], train_ids[r * L + 8: r * L + 16])
    assert task.batches_per_epoch == (L - 1) // 8


def test_random_batches_depend_only_on_seed_epoch_and_index(data):
    _, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8, mode="random")
    cpu = torch.device("cpu")
    before = torch.get_rng_state()
    a = task.batch(2, 3, seed=7, device=cpu)
    task.batch(0, 0, seed=1, device=cpu)
    assert torch.equal(task.batch(2, 3, seed=7, device=cpu)[0], a[0])
    assert not torch.equal(task.batch(3, 3, seed=7, device=cpu)[0], a[0])
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is untouched
    x, y = a
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are inputs shifted by one


def test_sentiment_bucketing_covers_every_example_and_pads_less():
    seqs, labels = sentiment_data(400, seed=0)
    bucketed = SentimentTask((seqs, labels), (seqs[:10], labels[:10]), batch_size=16, bucket=True)
    plain = SentimentTask((seqs, labels), (seqs[:10], labels[:10]), batch_size=16, bucket=False)
    cpu = torch.device("cpu")

    def padding(task):
        pads, seen = 0, []
        for k in range(task.batches_per_epoch):
            x, y, lengths = task.batch(0, k, seed=0, device=cpu)
            pads += x.numel() - int(lengths.sum())
            seen += task._plan(0, 0)[k].tolist()
        assert sorted(seen) == list(range(400))
        return pads

    assert padding(bucketed) < padding(plain) / 2
    x, y, lengths = bucketed.batch(0, 0, seed=0, device=cpu)
    assert x.shape[1] == int(lengths.max()) and y.dtype == torch.float32
    assert SentimentTask((seqs, labels), (seqs, labels), max_len=4).batch(0, 0, 0, cpu)[0].shape[1] <= 4


# --- learning ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["stream", "random"])
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_a_few_steps_lower_the_char_lm_loss(data, mode, cell):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=8, seq_len=16, mode=mode)
    model = char_model(vocab, cell=cell)
    before = evaluate(model, task)["val_loss"]
    history = train(model, task, config(max_steps=30, eval_every=10))
    assert history.val_loss[-1] < before - 0.5
    assert history.val_bpc[-1] == pytest.approx(history.val_loss[-1] / math.log(2))
    assert history.steps == list(range(1, 31)) and history.val_steps == [10, 20, 30]
    assert history.tokens[-1] == 30 * 8 * 16
    assert not model.training


def test_a_few_steps_lower_the_sentiment_loss():
    train_set, val_set = sentiment_data(256, seed=0), sentiment_data(64, seed=1)
    task = SentimentTask(train_set, val_set, batch_size=16)
    torch.manual_seed(0)
    model = SentimentRNN(20, embed_dim=8, hidden_size=8)
    before = evaluate(model, task)
    history = train(model, task, config(lr=2e-2, epochs=3, max_steps=None, eval_every=None))
    assert history.steps[-1] == 3 * task.batches_per_epoch
    assert history.val_loss[-1] < before["val_loss"] - 0.2
    assert history.val_acc[-1] > 0.8 and history.kind == "sentiment"
    # the mistakes split into positives called negative and the reverse, counted review by review
    metrics = evaluate(model, task)
    model.eval()
    with torch.no_grad():
        predicted = [int(model(x[None], torch.tensor([len(x)])) > 0) for x in task.val_x]
    labels = task.val_y.long().tolist()
    assert metrics["val_false_negatives"] == sum(p == 0 and y == 1 for p, y in zip(predicted, labels))
    assert metrics["val_false_positives"] == sum(p == 1 and y == 0 for p, y in zip(predicted, labels))
    assert metrics["val_acc"] == pytest.approx(1 - (metrics["val_false_negatives"] + metrics["val_false_positives"]) / len(labels))


def test_budgets(data, monkeypatch):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=16)
    h = train(char_model(vocab), task, config(max_steps=None, epochs=0.5, eval_every=None))
    assert h.steps[-1] == math.ceil(0.5 * task.batches_per_epoch)
    h = train(char_model(vocab), task, config(max_steps=3, epochs=1))
    assert h.steps[-1] == 3  # the first budget reached wins
    fake_clock(monkeypatch)  # 1 ms per reading: the budget does not depend on the machine's load
    h = train(char_model(vocab), task, config(max_steps=None, max_seconds=0.3, eval_every=None))
    # the clock is checked before each step and logged after it, so the last step started inside the budget and
    # the run stopped because the clock had passed it (the last logged time itself may be a hair under 0.3)
    assert "max_seconds=0.3" in h.stopped and h.final()["steps"] == h.steps[-1]
    assert len(h.steps) > 1 and h.seconds[-2] < 0.3


def test_no_checkpoint_path_writes_no_files(data, tmp_path, monkeypatch):
    vocab, train_ids, val_ids = data
    monkeypatch.chdir(tmp_path)
    train(char_model(vocab), CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8), config(max_steps=3))
    assert list(tmp_path.iterdir()) == []


# --- checkpoints and resume -------------------------------------------------------------------

def stop_at(step_to_stop):
    def callback(step):
        if step == step_to_stop:
            raise KeyboardInterrupt
    return callback


@pytest.mark.parametrize("mode", ["stream", "random"])
def test_interrupted_and_resumed_run_equals_uninterrupted(data, tmp_path, mode):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8, mode=mode)
    kw = dict(num_layers=2, dropout=0.3, cell="lstm")  # dropout makes the run depend on the RNG state
    model_a = char_model(vocab, **kw)
    hist_a = train(model_a, task, config(checkpoint_path=tmp_path / "a.pt", checkpoint_every=7))

    model_b = char_model(vocab, **kw)
    path = tmp_path / "b.pt"
    with pytest.raises(KeyboardInterrupt, match="Rerun the cell to resume"):
        train(model_b, task, config(checkpoint_path=path, checkpoint_every=7), callback=stop_at(10))
    saved = checkpoint.load(path)
    assert saved["step"] == 10 and not saved["finished"]
    torch.manual_seed(123)  # a fresh kernel: other weights, other global RNG state
    model_b = char_model(vocab, seed=99, **kw)
    hist_b = train(model_b, task, config(checkpoint_path=path, checkpoint_every=7))
    assert_same_run(model_a, hist_a, model_b, hist_b)
    assert checkpoint.load(path)["finished"]


def test_resumed_sentiment_run_equals_uninterrupted(tmp_path):
    task = SentimentTask(sentiment_data(96, 0), sentiment_data(16, 1), batch_size=16)

    def model():
        torch.manual_seed(0)
        return SentimentRNN(20, embed_dim=8, hidden_size=8, dropout=0.2)

    cfg = dict(max_steps=None, epochs=2, eval_every=4, checkpoint_path=tmp_path / "s.pt")
    model_a = model()
    hist_a = train(model_a, task, config(**{**cfg, "checkpoint_path": None}))
    model_b = model()
    with pytest.raises(KeyboardInterrupt):
        train(model_b, task, config(**cfg), callback=stop_at(5))  # mid-epoch
    model_b = model()
    hist_b = train(model_b, task, config(**cfg))
    assert_same_run(model_a, hist_a, model_b, hist_b)


def test_larger_budget_continues_a_finished_run(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    model_a = char_model(vocab)
    hist_a = train(model_a, task, config(max_steps=20))
    model_b = char_model(vocab)
    train(model_b, task, config(max_steps=10, checkpoint_path=tmp_path / "c.pt"))
    hist_b = train(model_b, task, config(max_steps=20, checkpoint_path=tmp_path / "c.pt"))
    assert_same_run(model_a, hist_a, model_b, hist_b)  # eval_every=5 divides 10: same evaluations


def test_ctrl_c_stops_at_a_step_boundary_and_saves(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    path = tmp_path / "int.pt"

    def press_ctrl_c(step):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs in the background (nohup, CI runners)
    with pytest.raises(KeyboardInterrupt, match="Rerun the cell"):
        train(char_model(vocab), task, config(checkpoint_path=path), callback=press_ctrl_c)
    assert checkpoint.load(path)["step"] == 4
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_interrupt_without_checkpoint_path_says_so(data):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    with pytest.raises(KeyboardInterrupt, match="checkpoint_path"):
        train(char_model(vocab), task, config(), callback=stop_at(2))


def test_finished_checkpoint_loads_without_training(data, tmp_path, capsys, monkeypatch):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    path = tmp_path / "done.pt"
    model = char_model(vocab)
    hist = train(model, task, config(checkpoint_path=path))
    mtime = path.stat().st_mtime_ns

    def no_training(*args, **kwargs):
        raise AssertionError("a finished checkpoint must not train")

    monkeypatch.setattr(task, "loss", no_training)
    for budget in (20, 15):  # the same budget, or a smaller one, is already reached
        fresh = char_model(vocab, seed=5)
        loaded = train(fresh, task, config(max_steps=budget, checkpoint_path=path))
        assert_same_run(model, hist, fresh, loaded)
        assert "Loaded the finished run" in capsys.readouterr().out
    assert path.stat().st_mtime_ns == mtime  # not rewritten
    # a changed setting still loads a finished run, with a note
    train(char_model(vocab), task, config(lr=0.5, checkpoint_path=path))
    assert "other settings: lr" in capsys.readouterr().out
    other = char_model(vocab)
    assert load_checkpoint(path, other).to_dict() == hist.to_dict()


def test_unfinished_checkpoint_with_other_settings_is_refused(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    path = tmp_path / "x.pt"
    train(char_model(vocab), task, config(max_steps=5, checkpoint_path=path))
    with pytest.raises(ValueError, match="lr: 0.01 in the checkpoint, 0.02 now.*Delete it"):
        train(char_model(vocab), task, config(lr=0.02, max_steps=10, checkpoint_path=path))
    other_task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=12)
    with pytest.raises(ValueError, match="seq_len"):
        train(char_model(vocab), other_task, config(max_steps=10, checkpoint_path=path))
    with pytest.raises(ValueError, match="different model"):
        train(char_model(vocab, hidden_size=32), task, config(max_steps=10, checkpoint_path=path))


def test_finished_checkpoint_of_another_model_is_refused(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    path = tmp_path / "relu.pt"
    train(char_model(vocab, cell="rnn", nonlinearity="relu"), task, config(max_steps=3, checkpoint_path=path))
    with pytest.raises(ValueError, match="different model.*nonlinearity: 'relu' in the checkpoint, 'tanh' now"):
        train(char_model(vocab, cell="rnn"), task, config(max_steps=3, checkpoint_path=path))  # same shapes
    with pytest.raises(ValueError, match="different model"):
        load_checkpoint(path, char_model(vocab, cell="rnn"))


def test_resume_accepts_an_amp_run_state_on_the_cpu(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    path = tmp_path / "amp.pt"
    with pytest.raises(KeyboardInterrupt):
        train(char_model(vocab), task, config(checkpoint_path=path), callback=stop_at(3))
    saved = checkpoint.load(path)
    saved["hidden"] = saved["hidden"].half()  # what an fp16 autocast run carries
    checkpoint.save(path, saved)
    assert train(char_model(vocab), task, config(checkpoint_path=path)).steps[-1] == 20


def test_checkpoint_write_is_atomic(tmp_path):
    path = tmp_path / "ck.pt"
    checkpoint.save(path, {"a": torch.ones(2)})

    class Boom:
        def __reduce__(self):
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        checkpoint.save(path, {"a": Boom()})
    assert torch.equal(checkpoint.load(path)["a"], torch.ones(2))  # the old file survives
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temporary left behind
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="Delete it"):
        checkpoint.load(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="run the training cell"):
        checkpoint.load(tmp_path / "missing.pt")


# --- divergence -------------------------------------------------------------------------------

class NaNAfter(CharRNN):
    """A CharRNN whose training forward pass returns NaN from its ``bad_call``-th call on."""

    def __init__(self, *args, bad_call, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls, self.bad_call = 0, bad_call

    def forward(self, x, hidden=None):
        logits, hidden = super().forward(x, hidden)
        if self.training:
            self.calls += 1
            if self.calls >= self.bad_call:
                logits = logits * float("nan")
        return logits, hidden


def test_nan_loss_raises_and_keeps_last_good_checkpoint(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    path = tmp_path / "nan.pt"
    torch.manual_seed(0)
    model = NaNAfter(len(vocab), embed_dim=8, hidden_size=16, bad_call=8)
    with pytest.raises(TrainingDivergedError, match=r"step 8.*Lower the learning rate, shorten seq_len.*clip harder"):
        train(model, task, config(checkpoint_path=path, checkpoint_every=5))
    saved = checkpoint.load(path)
    assert saved["step"] == 5 and saved["history"]["steps"] == [1, 2, 3, 4, 5]
    assert all(torch.isfinite(t).all() for t in saved["model"].values())


def test_infinite_gradient_raises(data):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    model = char_model(vocab)
    model.head.bias.register_hook(lambda g: g * float("inf"))
    with pytest.raises(TrainingDivergedError, match="gradient norm became .* at step 1"):
        train(model, task, config(clip_grad_norm=None))


# --- history ----------------------------------------------------------------------------------

def test_history_round_trip_and_final():
    h = History(steps=[1, 2], train_loss=[2.0, 1.0], grad_norm=[1, 1], seconds=[0.5, 1.0], tokens=[10, 20],
                val_steps=[2], val_loss=[1.5], val_bpc=[1.5 / math.log(2)])
    assert History.from_dict(h.to_dict()) == h
    final = h.final()
    assert final["train_loss"] == 1.5 and final["val_loss"] == 1.5 and final["tokens_per_second"] == 20
    assert History().final() == {"steps": 0}


def test_history_flush_records_queued_steps_and_stops_at_the_first_nan():
    """Losses wait as tensors (on a GPU, 25 steps at a time) and are read in one go."""
    h = History()
    for step, (loss, norm) in enumerate([(2.0, 1.0), (1.5, math.inf), (math.nan, 1.0), (1.0, 1.0)], start=1):
        h.log(step, torch.tensor(loss), torch.tensor(norm), step / 10, step * 10, 1e-3)
    assert h.flush() == (2, "gradient norm", math.inf) and h.steps == [1]
    h = History()
    for step, (loss, norm) in enumerate([(2.0, 1.0), (1.5, math.inf), (math.nan, 1.0)], start=1):
        h.log(step, torch.tensor(loss), torch.tensor(norm), step / 10, step * 10, 1e-3)
    step, what, value = h.flush(check_grad_norm=False)  # under AMP the scaler skips inf-gradient steps
    assert (step, what, math.isnan(value)) == (3, "loss", True) and h.steps == [1, 2] and h.tokens == [10, 20]
    assert h.flush() is None and "_queued" not in h.to_dict()


# --- bad arguments ----------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, match", [
    (dict(), "No budget"),
    (dict(max_steps=10, lr=0), "lr"),
    (dict(max_steps=10, lr=-1e-3), "lr"),
    (dict(max_steps=10, lr=float("nan")), "lr"),
    (dict(max_steps=10, optimizer="sgd"), "optimizer"),
    (dict(max_steps=10, weight_decay=-1), "weight_decay"),
    (dict(max_steps=10, clip_grad_norm=0), "clip_grad_norm"),
    (dict(max_steps=0), "max_steps"),
    (dict(max_steps=2.5), "max_steps"),
    (dict(epochs=-1), "epochs"),
    (dict(max_seconds=0), "max_seconds"),
    (dict(max_steps=10, eval_every=0), "eval_every"),
    (dict(max_steps=10, checkpoint_every=None), "checkpoint_every"),
    (dict(max_steps=10, seed=-1), "seed"),
    (dict(max_steps=10, device="gpu-please"), "device"),
])
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_bad_config_after_construction_is_caught_by_train(data):
    vocab, train_ids, val_ids = data
    cfg = config()
    cfg.lr = -1
    with pytest.raises(ValueError, match="lr"):
        train(char_model(vocab), CharLMTask(train_ids, val_ids, 4, 8), cfg)


def test_soft_training_targets_are_the_targets_of_the_loss():
    """Distillation (benchmarks/imdb_lstm_trials.py): training targets may be a teacher's probabilities."""
    task = SentimentTask(([[1, 2, 3], [4, 5]], [0.9, 0.25]), ([[1]], [1]), batch_size=2, bucket=False)
    torch.manual_seed(0)
    model = SentimentRNN(8, embed_dim=4, hidden_size=3, pool="max", pack=False)
    batch = task.batch(0, 0, seed=0, device=torch.device("cpu"))
    loss, _, _ = task.loss(model, batch)
    x, y, lengths = batch
    assert sorted(y.tolist()) == pytest.approx([0.25, 0.9])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(model(x, lengths), y)
    assert loss.item() == pytest.approx(expected.item())
    hard = torch.nn.functional.binary_cross_entropy_with_logits(model(x, lengths), (y > 0.5).float())
    assert loss.item() != pytest.approx(hard.item())
    as_bools = SentimentTask(([[1, 2]], [True]), ([[1]], [False]))  # e.g. df.sentiment == "pos"
    assert as_bools.train_y.tolist() == [1.0] and as_bools.val_y.tolist() == [0.0]


@pytest.mark.parametrize("make, match", [
    (lambda t, v: CharLMTask(t, v, batch_size=4, seq_len=10_000), "seq_len=10000 is too long"),
    (lambda t, v: CharLMTask(t, v, batch_size=1, seq_len=len(t), mode="random"), "longer than the training text"),
    (lambda t, v: CharLMTask(t, v, mode="shuffled"), "mode"),
    (lambda t, v: CharLMTask(t, v, batch_size=0), "batch_size"),
    (lambda t, v: CharLMTask(t, v, seq_len=0), "seq_len"),
    (lambda t, v: CharLMTask(t.float(), v), "integer ids"),
    (lambda t, v: CharLMTask(t, v[:1], batch_size=4, seq_len=8), "val_ids"),
    (lambda t, v: split_text(t, val_fraction=1.0), "val_fraction"),
    (lambda t, v: split_text(t[:5], val_fraction=0.1), "too few"),
    (lambda t, v: SentimentTask(([[1, 2]], [1, 0]), ([[1]], [1])), "labels"),
    (lambda t, v: SentimentTask(([[1, 2], []], [1, 0]), ([[1]], [1])), "empty"),
    (lambda t, v: SentimentTask(([[1, 2]], [2]), ([[1]], [1])), "0 or 1"),
    (lambda t, v: SentimentTask(([[1, 2]], [-0.1]), ([[1]], [1])), "probabilities in"),
    (lambda t, v: SentimentTask(([[1, 2]], [float("nan")]), ([[1]], [1])), "must be numbers"),
    (lambda t, v: SentimentTask(([[1, 2]], [1]), ([[1]], [0.5])), "val labels must be 0 or 1"),
    (lambda t, v: SentimentTask(([[1, 2]], ["1"]), ([[1]], [1])), "must be numbers"),
    (lambda t, v: SentimentTask([[1, 2]], ([[1]], [1])), "pair"),
    (lambda t, v: SentimentTask(([[1]], [1]), ([[1]], [1]), max_len=0), "max_len"),
])
def test_bad_task_arguments(data, make, match):
    _, train_ids, val_ids = data
    with pytest.raises(ValueError, match=match):
        make(train_ids, val_ids)


def test_bad_train_arguments(data):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    with pytest.raises(ValueError, match="TrainConfig"):
        train(char_model(vocab), task)
    with pytest.raises(ValueError, match="nn.Module"):
        train(lambda x: x, task, config())
    with pytest.raises(ValueError, match="CharLMTask or SentimentTask"):
        train(char_model(vocab), (train_ids, val_ids), config())
    small = CharRNN(3, embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="vocab_size=len\\(vocab\\)"):
        train(small, task, config())
    with pytest.raises(ValueError, match="max_batches"):
        evaluate(char_model(vocab), task, max_batches=0)


def test_a_finished_run_prints_one_summary_line(data, capsys):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=16)
    history = train(char_model(vocab), task, config(max_steps=5, eval_every=None, progress=True))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Trained ")]
    assert lines == [f"Trained {history.summary()}."]
    assert lines[0].startswith("Trained 5 steps in ") and "nats/char" in lines[0] and "bits/char" in lines[0]


def fake_clock(monkeypatch):
    """A clock that advances 1 ms per reading: time budgets that do not depend on the machine's load."""
    import types

    import helpers.train as train_module
    ticks = iter(range(10**9))
    monkeypatch.setattr(train_module, "time", types.SimpleNamespace(perf_counter=lambda: next(ticks) / 1000))


@pytest.mark.parametrize("budget, reason", [
    (dict(max_steps=6), "(the step budget was reached: max_steps=6)"),
    (dict(max_steps=None, epochs=1), "(all epochs done: epochs=1)"),
    (dict(max_steps=7, epochs=2), "(the step budget was reached: max_steps=7)"),
    (dict(max_steps=10_000, max_seconds=0.05), "(the time budget ran out: max_seconds=0.05, 10000 steps asked)"),
])
def test_the_summary_says_why_training_stopped(data, monkeypatch, budget, reason):
    fake_clock(monkeypatch)
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=16)
    h = train(char_model(vocab), task, config(eval_every=None, **budget))
    assert h.summary().startswith(f"{h.steps[-1]} steps in ") and reason in h.summary()


def test_an_interrupted_or_diverged_run_says_so(data, capsys):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    with pytest.raises(KeyboardInterrupt):
        train(char_model(vocab), task, config(progress=True), callback=stop_at(3))
    assert re.search(r"^Trained 3 steps in \d+ s \(interrupted at step 3\), train loss", capsys.readouterr().out, re.M)
    torch.manual_seed(0)
    model = NaNAfter(len(vocab), embed_dim=8, hidden_size=16, bad_call=4)
    with pytest.raises(TrainingDivergedError):
        train(model, task, config(progress=True))
    assert re.search(r"^Trained 3 steps in \d+ s \(diverged: the loss became nan at step 4\)", capsys.readouterr().out, re.M)


def test_a_time_budget_ends_the_bar_full_not_failed(data, monkeypatch, capsys):
    fake_clock(monkeypatch)
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    h = train(char_model(vocab), task, config(max_steps=10_000, max_seconds=0.05, eval_every=None, progress=True))
    bar = capsys.readouterr().err.split("\r")[-1]  # the bar's last drawing
    assert "100%" in bar and f"{h.steps[-1]}/{h.steps[-1]}" in bar and "10000" not in bar


def test_a_stored_notebook_keeps_the_final_bar_as_text(data, monkeypatch):
    """In Jupyter the bar is a widget whose saved text is what it showed first, unless it is shown again."""
    import IPython.display
    from tqdm.notebook import tqdm_notebook

    import helpers.train as train_module

    shown = []

    class Handle:
        def update(self, obj):
            shown.append(repr(obj))

    def display(obj, display_id=False):
        shown.append(repr(obj))
        return Handle()

    monkeypatch.setattr(train_module, "tqdm", tqdm_notebook)  # what tqdm.auto picks inside a kernel
    monkeypatch.setattr(IPython.display, "display", display)
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    train(char_model(vocab), task, config(max_steps=7, progress=True))
    assert len(shown) == 2 and "0/7" in shown[0]  # first shown empty, as a saved notebook would keep it
    assert "100%" in shown[1] and "7/7" in shown[1]  # shown again at the end: the stored text is the final bar


def test_checkpoints_are_readable_by_other_users(data, tmp_path):
    """A grader's or a teammate's uid reads the file: the mode is 0666 less the umask, as open() would make it."""
    vocab, train_ids, val_ids = data
    old = os.umask(0o022)
    try:
        train(char_model(vocab), CharLMTask(train_ids, val_ids, 4, 8), config(checkpoint_path=tmp_path / "c.pt"))
        checkpoint.save(tmp_path / "d.pt", {"a": torch.ones(1)})
        os.umask(0o077)  # a private umask is respected
        checkpoint.save(tmp_path / "e.pt", {"a": torch.ones(1)})
    finally:
        os.umask(old)
    assert [(tmp_path / name).stat().st_mode & 0o777 for name in ("c.pt", "d.pt", "e.pt")] == [0o644, 0o644, 0o600]


def test_live_plot_redraws_at_every_validation(data, monkeypatch):
    import helpers.plots

    class Handle:
        figures = []

        def update(self, obj):
            self.figures.append(obj)

    monkeypatch.setattr(helpers.plots, "_notebook_display", Handle)  # as if in a Jupyter kernel
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=16)
    history = train(char_model(vocab), task, config(max_steps=10, eval_every=5, live_plot=True))
    assert history.val_steps == [5, 10]
    assert len(Handle.figures) == 2 and all(isinstance(f, helpers.plots.FigureImage) for f in Handle.figures)
    assert "validation loss" in Handle.figures[-1].alt  # the curve is described from the data it shows


def test_live_plot_outside_a_notebook_does_nothing(data):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=16)
    assert train(char_model(vocab), task, config(max_steps=3, live_plot=True)).steps == [1, 2, 3]


# --- learning-rate schedule and keeping the best weights --------------------------------------

def test_constant_schedule_keeps_the_rate_and_cosine_decays_it_to_the_floor(data):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    flat = train(char_model(vocab), task, config(max_steps=21))
    assert flat.lr == [1e-2] * 21
    h = train(char_model(vocab), task, config(max_steps=21, lr_schedule="cosine", min_lr_fraction=0.1))
    assert h.lr[0] == pytest.approx(1e-2)  # step 1 uses the full rate
    assert h.lr[10] == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 10 / 21))))
    assert all(a > b for a, b in zip(h.lr, h.lr[1:]))
    assert 1e-3 < h.lr[-1] < 1.1e-3  # the last step is just above lr * min_lr_fraction


def test_cosine_follows_the_clock_under_a_time_budget(data, monkeypatch):
    fake_clock(monkeypatch)  # no dependence on the machine's load
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    h = train(char_model(vocab), task, config(max_steps=None, max_seconds=0.5, eval_every=None,
                                              lr_schedule="cosine", min_lr_fraction=0.0))
    assert h.seconds[-1] >= 0.5 and len(h.lr) > 50
    assert h.lr[0] == pytest.approx(1e-2, rel=0.01)  # the clock has barely started
    assert h.lr[-1] < 1e-4  # the last step starts a few ms before the end: the rate is nearly zero
    assert all(a > b for a, b in zip(h.lr, h.lr[1:]))


def test_interrupted_and_resumed_cosine_run_equals_uninterrupted(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    cfg = dict(lr_schedule="cosine", keep_best=True, checkpoint_every=7)
    model_a = char_model(vocab, dropout=0.3, num_layers=2)
    hist_a = train(model_a, task, config(checkpoint_path=tmp_path / "a.pt", **cfg))
    path = tmp_path / "b.pt"
    with pytest.raises(KeyboardInterrupt):
        train(char_model(vocab, dropout=0.3, num_layers=2), task, config(checkpoint_path=path, **cfg),
              callback=stop_at(12))
    model_b = char_model(vocab, seed=5, dropout=0.3, num_layers=2)
    hist_b = train(model_b, task, config(checkpoint_path=path, **cfg))
    assert_same_run(model_a, hist_a, model_b, hist_b)


def spoil_weights_at(step_to_spoil, model):
    """A callback that wrecks the weights once, so the validation loss after it is far worse."""
    def callback(step):
        if step == step_to_spoil:
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(torch.randn_like(p) * 3)
    return callback


def test_keep_best_ends_with_the_weights_of_the_lowest_validation_loss(data, tmp_path):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    model = char_model(vocab)
    path = tmp_path / "best.pt"
    h = train(model, task, config(max_steps=30, eval_every=10, keep_best=True, checkpoint_path=path),
              callback=spoil_weights_at(25, model))
    best = min(range(len(h.val_loss)), key=h.val_loss.__getitem__)
    assert h.val_steps[best] < 30 and h.val_loss[-1] > h.val_loss[best]  # the spoiled end is not the best
    assert h.best_step == h.val_steps[best]
    assert evaluate(model, task)["val_loss"] == pytest.approx(h.val_loss[best], abs=1e-6)
    assert f"kept the weights of step {h.best_step}" in h.summary()
    # a rerun loads the finished run, and load_checkpoint, both with the best weights
    for load in (lambda m: train(m, task, config(max_steps=30, eval_every=10, keep_best=True, checkpoint_path=path)),
                 lambda m: load_checkpoint(path, m)):
        other = char_model(vocab, seed=7)
        assert load(other).best_step == h.best_step
        assert evaluate(other, task)["val_loss"] == pytest.approx(h.val_loss[best], abs=1e-6)


def test_without_keep_best_the_last_weights_stay(data):
    vocab, train_ids, val_ids = data
    task = CharLMTask(train_ids, val_ids, batch_size=4, seq_len=8)
    model = char_model(vocab)
    h = train(model, task, config(max_steps=30, eval_every=10), callback=spoil_weights_at(25, model))
    assert h.best_step is None and "kept the weights" not in h.summary()
    assert evaluate(model, task)["val_loss"] == pytest.approx(h.val_loss[-1], abs=1e-6)


def test_a_file_that_is_not_a_training_checkpoint_is_refused(data, tmp_path):
    vocab, train_ids, val_ids = data
    path = tmp_path / "other.pt"
    checkpoint.save(path, {"model": char_model(vocab).state_dict()})  # e.g. torch.save(model.state_dict()) by hand
    with pytest.raises(ValueError, match="not a training checkpoint.*Delete it"):
        load_checkpoint(path, char_model(vocab))
    with pytest.raises(ValueError, match="not a training checkpoint"):
        train(char_model(vocab), CharLMTask(train_ids, val_ids, 4, 8), config(checkpoint_path=path))


@pytest.mark.parametrize("kwargs, match", [
    (dict(max_steps=10, lr_schedule="linear"), "lr_schedule"),
    (dict(max_steps=10, min_lr_fraction=1.5), "min_lr_fraction"),
    (dict(max_steps=10, min_lr_fraction=-0.1), "min_lr_fraction"),
])
def test_bad_schedule_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
