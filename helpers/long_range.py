"""The adding problem, a long-range memory task for ``helpers.train``, and a small model that reads it.

Taught in lecture 04 (LSTM and GRU gates; lecture 03 points to it). Each example is ``seq_len`` steps
of two numbers: a random value in [0, 1) and a marker that is 1 at exactly two steps, one in the first
half and one in the second half. The target, read after the last step, is the sum of the two marked
values (Hochreiter & Schmidhuber, 1997; this split of the markers follows Le et al., 2015).

Three yardsticks make "fails" mean something. Predicting the mean, 1, gives an MSE of Var(a + b) = 1/6:
the *trivial baseline*. Remembering only the second (recent) value and guessing the first gives 1/12,
half the baseline. Anything well below that has carried the first value across at least seq_len/2 steps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_int
from helpers.tasks import epoch_seed

__all__ = ["AddingTask", "MemoryNet", "TOLERANCE", "adding_batch", "sweep"]

TOLERANCE = 0.04  # an answer counts as right when |prediction - target| < 0.04 (Hochreiter & Schmidhuber, 1997)
CELLS = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def adding_batch(batch_size: int, seq_len: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``[batch_size, seq_len, 2]`` (value, marker) and targets ``[batch_size]``, drawn from ``generator``.

    Used by ``AddingTask`` (lecture 04).
    """
    check_int("batch_size", batch_size)
    check_int("seq_len", seq_len, minimum=2, hint=" (one marker in each half)")
    values = torch.rand(batch_size, seq_len, generator=generator)
    half = seq_len // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, seq_len, (batch_size,), generator=generator)
    markers = torch.zeros(batch_size, seq_len)
    rows = torch.arange(batch_size)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    target = values[rows, first] + values[rows, second]
    return torch.stack([values, markers], dim=-1), target


class AddingTask:
    """The adding problem at one ``seq_len``; fresh training batches every step, a fixed validation set.

    Batch ``k`` of epoch ``e`` is a pure function of ``(seed, e, k)``, as ``helpers.train`` requires.
    ``evaluate`` reports ``val_loss`` (MSE), ``val_acc`` (share within ``TOLERANCE``) and
    ``val_relative`` (MSE divided by the trivial baseline's MSE on the same validation set).

    Used in lecture 04.
    """

    kind = "adding"
    carries_state = False

    def __init__(self, seq_len: int, batch_size: int = 64, batches_per_epoch: int = 100, val_size: int = 1000):
        for name, value in [("batch_size", batch_size), ("batches_per_epoch", batches_per_epoch),
                            ("val_size", val_size)]:
            check_int(name, value)
        self.seq_len, self.batch_size = seq_len, batch_size
        self.batches_per_epoch, self.val_size = batches_per_epoch, val_size
        # the validation set has its own generator, so it never overlaps the training stream's draws
        self.val_x, self.val_y = adding_batch(val_size, seq_len, torch.Generator().manual_seed(2**31 - 1))
        self.baseline_mse = F.mse_loss(torch.ones_like(self.val_y), self.val_y).item()  # always predict 1
        self.baseline_acc = ((self.val_y - 1).abs() < TOLERANCE).float().mean().item()

    def __repr__(self) -> str:
        return (f"AddingTask(seq_len={self.seq_len}, batch_size={self.batch_size}, "
                f"{self.batches_per_epoch} batches/epoch, {self.val_size} validation sequences)")

    def signature(self) -> dict:
        """What a checkpoint must agree on to be resumed with this task."""
        return dict(kind=self.kind, seq_len=self.seq_len, batch_size=self.batch_size,
                    batches_per_epoch=self.batches_per_epoch, val_size=self.val_size)

    def batch(self, epoch: int, k: int, seed: int, device: torch.device):
        """Inputs ``[B, T, 2]`` and targets ``[B]`` of batch ``k`` in ``epoch``."""
        g = torch.Generator().manual_seed(epoch_seed(seed, epoch) * 1_000_003 + k)  # a fresh draw for each batch
        x, y = adding_batch(self.batch_size, self.seq_len, g)
        return x.to(device), y.to(device)

    def loss(self, model, batch, hidden=None):
        """(mean squared error, None, sequences in the batch)."""
        x, y = batch
        return F.mse_loss(model(x).float(), y), None, len(y)

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """MSE, accuracy within ``TOLERANCE`` and MSE relative to predicting 1, on the validation set."""
        device = next(model.parameters()).device
        n = self.val_size if max_batches is None else min(self.val_size, max_batches * self.batch_size)
        pred = torch.cat([model(self.val_x[i: i + 256].to(device)).float().cpu() for i in range(0, n, 256)])[:n]
        y = self.val_y[:n]
        mse = F.mse_loss(pred, y).item()
        return {"val_loss": mse, "val_acc": ((pred - y).abs() < TOLERANCE).float().mean().item(),
                "val_relative": mse / F.mse_loss(torch.ones_like(y), y).item()}


class MemoryNet(nn.Module):
    """One RNN, GRU or LSTM layer and a linear read-out of its last hidden state: one number per sequence.

    ``forget_bias`` (LSTM only) sets the forget gate's bias, split as PyTorch keeps two bias vectors:
    ``bias_ih`` gets the value and ``bias_hh`` zero, so the gate starts at sigmoid(forget_bias).

    Used in lecture 04.
    """

    def __init__(self, cell: str = "lstm", hidden_size: int = 32, input_size: int = 2,
                 forget_bias: float | None = None):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be 'rnn', 'gru' or 'lstm', got {cell!r}")
        check_int("hidden_size", hidden_size)
        if forget_bias is not None and cell != "lstm":
            raise ValueError(f"forget_bias applies to cell='lstm' only; the {cell.upper()} has no forget gate")
        self.config = dict(cell=cell, hidden_size=hidden_size, input_size=input_size, forget_bias=forget_bias)
        self.rnn = CELLS[cell](input_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)
        if forget_bias is not None:
            with torch.no_grad():  # gate order i, f, g, o: the f block is the second quarter
                self.rnn.bias_ih_l0[hidden_size: 2 * hidden_size] = forget_bias
                self.rnn.bias_hh_l0[hidden_size: 2 * hidden_size] = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``[B, T, input_size]`` -> predictions ``[B]``."""
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


def sweep(configs: dict, seq_lens, max_steps: int, lr: float = 1e-2, hidden_size: int = 32, batch_size: int = 64,
          seed: int = 0, progress: bool = True) -> list[dict]:
    """Train a fresh ``MemoryNet`` per configuration and ``seq_len`` with ``helpers.train``; one result row per run.

    ``configs`` maps a name to ``dict(cell=..., forget_bias=None, clip_grad_norm=None)``. Every run starts
    from ``seed`` and sees the same batches at a given ``seq_len``. A row holds the name, ``seq_len``, the
    final validation metrics, the training seconds and the ``History``.

    Used in lecture 04.
    """
    from tqdm.auto import tqdm

    from helpers.runtime import set_seed
    from helpers.train import TrainConfig, train

    if not configs:
        raise ValueError("configs is empty; give e.g. {'LSTM': dict(cell='lstm')}")
    unknown = {k for cfg in configs.values() for k in cfg} - {"cell", "forget_bias", "clip_grad_norm"}
    if unknown:
        raise ValueError(f"unknown configuration keys {sorted(unknown)}; use cell, forget_bias, clip_grad_norm")
    runs = [(name, cfg, seq_len) for name, cfg in configs.items() for seq_len in seq_lens]
    rows = []
    for name, cfg, seq_len in tqdm(runs, desc="adding problem", unit="run", disable=not progress):
        task = AddingTask(seq_len, batch_size=batch_size)
        set_seed(seed)  # the same initial weights for a cell type at every seq_len
        model = MemoryNet(cfg["cell"], hidden_size, forget_bias=cfg.get("forget_bias"))
        config = TrainConfig(lr=lr, max_steps=max_steps, clip_grad_norm=cfg.get("clip_grad_norm"),
                             eval_every=None, progress=False, seed=seed)
        history = train(model, task, config)
        rows.append(dict(config=name, seq_len=seq_len, **task.evaluate(model),
                         seconds=history.seconds[-1], history=history))
    return rows
