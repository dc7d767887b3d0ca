"""The adding problem (helpers.long_range): data, baselines, determinism, the model, and training through helpers.train."""
import pytest
import torch

from helpers.long_range import TOLERANCE, AddingTask, MemoryNet, adding_batch, sweep


def test_batch_has_one_marker_per_half_and_the_target_is_their_sum():
    x, y = adding_batch(500, 20, torch.Generator().manual_seed(0))
    assert x.shape == (500, 20, 2) and y.shape == (500,)
    markers = x[..., 1]
    assert torch.equal(markers.sum(1), torch.full((500,), 2.0))
    assert torch.equal(markers[:, :10].sum(1), torch.ones(500))  # one in the first half, one in the second
    assert torch.allclose((x[..., 0] * markers).sum(1), y)
    assert bool(((x[..., 0] >= 0) & (x[..., 0] < 1)).all())


def test_batches_are_a_pure_function_of_seed_epoch_and_step():
    task = AddingTask(12, batch_size=8, val_size=16)
    a, b = task.batch(1, 3, 0, "cpu"), task.batch(1, 3, 0, "cpu")
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(task.batch(1, 4, 0, "cpu")[0], a[0])
    assert not torch.equal(task.batch(1, 3, 1, "cpu")[0], a[0])
    assert torch.equal(AddingTask(12, batch_size=8, val_size=16).val_x, task.val_x)  # fixed validation set


class _Oracle(torch.nn.Module):
    """Reads the answer off the input: the model a perfect memory would be."""

    def __init__(self, noise=0.0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.noise = noise

    def forward(self, x):
        return (x[..., 0] * x[..., 1]).sum(1) + self.noise + 0 * self.w


class _Constant(_Oracle):
    def forward(self, x):
        return torch.ones(len(x)) + 0 * self.w


class _RecentOnly(_Oracle):
    """Remembers only the second marked value and guesses 0.5 for the first."""

    def forward(self, x):
        half = x.shape[1] // 2
        return (x[:, half:, 0] * x[:, half:, 1]).sum(1) + 0.5 + 0 * self.w


def test_evaluate_scores_a_perfect_memory_the_trivial_baseline_and_half_a_memory():
    task = AddingTask(30, val_size=4000)
    assert task.evaluate(_Oracle()) == {"val_loss": 0.0, "val_acc": 1.0, "val_relative": 0.0}
    assert task.evaluate(_Oracle(noise=2 * TOLERANCE))["val_acc"] == 0.0
    constant = task.evaluate(_Constant())
    assert constant["val_relative"] == pytest.approx(1.0)
    assert constant["val_loss"] == pytest.approx(1 / 6, rel=0.05) == task.baseline_mse  # Var(a + b), a, b ~ U(0, 1)
    assert constant["val_acc"] == pytest.approx(task.baseline_acc)
    assert task.evaluate(_RecentOnly())["val_relative"] == pytest.approx(0.5, abs=0.04)  # Var(a) / Var(a + b)
    assert task.evaluate(_Oracle(), max_batches=2)["val_loss"] == 0.0


def test_memory_net_shapes_and_forget_bias():
    x = torch.rand(4, 9, 2)
    for cell in ("rnn", "gru", "lstm"):
        assert MemoryNet(cell, 8)(x).shape == (4,)
    lstm = MemoryNet("lstm", 8, forget_bias=2.0).rnn
    assert torch.equal(lstm.bias_ih_l0[8:16], torch.full((8,), 2.0)) and torch.equal(lstm.bias_hh_l0[8:16], torch.zeros(8))
    with pytest.raises(ValueError, match="forget_bias applies to cell='lstm'"):
        MemoryNet("gru", 8, forget_bias=1.0)
    with pytest.raises(ValueError, match="cell must be"):
        MemoryNet("transformer")


@pytest.mark.parametrize("kwargs, match", [(dict(seq_len=1), "seq_len must be an int >= 2"),
                                           (dict(seq_len=10, batch_size=0), "batch_size must be a positive int"),
                                           (dict(seq_len=10, val_size=2.5), "val_size must be a positive int")])
def test_bad_settings_say_what_to_change(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AddingTask(**kwargs)


def test_sweep_trains_through_helpers_train_and_an_lstm_learns_a_short_problem():
    torch.set_num_threads(1)
    rows = sweep({"LSTM": dict(cell="lstm", forget_bias=1.0, clip_grad_norm=1.0),
                  "RNN": dict(cell="rnn")}, seq_lens=[6], max_steps=400, progress=False)
    assert [(r["config"], r["seq_len"]) for r in rows] == [("LSTM", 6), ("RNN", 6)]
    lstm = rows[0]
    assert lstm["history"].steps[-1] == 400 and lstm["seconds"] > 0
    assert lstm["val_relative"] < 0.3  # well below the trivial baseline (1.0) after 400 steps
    with pytest.raises(ValueError, match="unknown configuration keys"):
        sweep({"x": dict(cell="lstm", clip=1.0)}, [6], 1)
