"""What a training run recorded: losses, gradient norms, validation metrics, time, and why it stopped.

Taught in lectures 05 (IMDb sentiment) and 06 (Shakespeare char-RNN), which plot and compare histories.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch


@dataclass
class History:
    """What happened during training: per-step loss and grad norm, validation metrics, time, tokens.

    Used by ``train``, which returns one (lectures 04-08 and the lab).
    """

    kind: str = "char_lm"  # or "sentiment"
    steps: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    grad_norm: list = field(default_factory=list)  # before clipping
    seconds: list = field(default_factory=list)  # cumulative wall time at each step
    tokens: list = field(default_factory=list)  # cumulative tokens (characters) at each step
    val_steps: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_bpc: list = field(default_factory=list)
    val_acc: list = field(default_factory=list)
    lr: list = field(default_factory=list)  # learning rate used at each step
    best_step: int | None = None  # keep_best: the step whose weights the model holds
    stopped: str | None = None  # why training stopped, e.g. "the time budget max_seconds=60 ran out"

    def __post_init__(self):
        self._queued = []  # steps whose loss and norm are still tensors on the device (not a field: never stored)

    def log(self, step: int, loss, grad_norm, seconds: float, tokens: int, lr: float) -> None:
        """Queue one step; ``loss`` and ``grad_norm`` may be tensors, read at the next ``flush``."""
        self._queued.append((step, loss, grad_norm, seconds, tokens, lr))

    def flush(self, check_grad_norm: bool = True) -> tuple | None:
        """Record the queued steps with one device sync. A NaN/Inf stops there: returns (step, what, value)."""
        queued, self._queued = self._queued, []
        if not queued:
            return None
        values = torch.stack([torch.stack([torch.as_tensor(loss).float(), torch.as_tensor(norm).float()])
                              for _, loss, norm, *_ in queued]).tolist()  # one copy from the device, not two per step
        for (step, _, _, seconds, tokens, lr), (loss, norm) in zip(queued, values):
            if not math.isfinite(loss):
                return step, "loss", loss
            if check_grad_norm and not math.isfinite(norm):
                return step, "gradient norm", norm
            self.steps.append(step)
            self.train_loss.append(loss)
            self.grad_norm.append(norm)
            self.seconds.append(seconds)
            self.tokens.append(tokens)
            self.lr.append(lr)
        return None

    def add_validation(self, step: int, metrics: dict) -> None:
        """Record ``evaluate``'s metrics at ``step``."""
        self.val_steps.append(step)
        for name in ("val_loss", "val_bpc", "val_acc"):
            if name in metrics:
                getattr(self, name).append(metrics[name])

    def final(self) -> dict:
        """Last step's numbers; ``train_loss`` averages the last 20 steps, which are noisy one by one."""
        out = {"steps": self.steps[-1] if self.steps else 0}
        if self.train_loss:
            tail = self.train_loss[-20:]
            out["train_loss"] = sum(tail) / len(tail)
        for name in ("val_loss", "val_bpc", "val_acc"):
            if getattr(self, name):
                out[name] = getattr(self, name)[-1]
        if self.best_step is not None and self.best_step in self.val_steps:
            i = self.val_steps.index(self.best_step)
            out["best_step"], out["best_val_loss"] = self.best_step, self.val_loss[i]
        if self.seconds:
            out["seconds"] = self.seconds[-1]
            out["tokens"] = self.tokens[-1]
            out["tokens_per_second"] = self.tokens[-1] / max(self.seconds[-1], 1e-9)
        return out

    def summary(self) -> str:
        """One line for the end of a run: steps, time, why it stopped, and the last losses and metrics."""
        f = self.final()
        steps = f"{f['steps']} step{'' if f['steps'] == 1 else 's'} in {f.get('seconds', 0.0):.0f} s"
        parts = [steps + (f" ({self.stopped})" if self.stopped else "")]
        if "train_loss" in f:
            parts.append(f"train loss {f['train_loss']:.3f}")
        if "val_loss" in f:
            unit = " nats/char" if self.kind == "char_lm" else ""
            parts.append(f"validation loss {f['val_loss']:.3f}{unit}")
        if "val_bpc" in f:
            parts.append(f"{f['val_bpc']:.3f} bits/char")
        if "val_acc" in f:
            parts.append(f"validation accuracy {f['val_acc']:.3f}")
        if "best_step" in f:
            parts.append(f"kept the weights of step {f['best_step']} (lowest validation loss, {f['best_val_loss']:.3f})")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        """Plain lists and strings (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> History:
        names = {f.name for f in fields(cls)}
        return cls(**{k: list(v) if isinstance(v, (list, tuple)) else v for k, v in d.items() if k in names})

    def plot(self, ax=None, label=None):
        """Train loss (solid, smoothed) and validation loss (dashed) against steps."""
        from helpers.plots import plot_histories

        return plot_histories({label or "run": self}, ax=ax)
