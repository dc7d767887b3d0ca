"""One training loop for both tasks: budgets, clipping, AMP, progress, checkpoints with exact resume.

Checkpoint contract (``TrainConfig.checkpoint_path``):

- Written atomically every ``checkpoint_every`` steps, at the end, and on Ctrl-C (at a step boundary).
  It holds the model, optimizer, GradScaler, step, carried hidden state, all RNG states, the
  history, the budget, and the settings that shape the run (task, lr, optimizer, clipping, seed).
- Rerunning ``train`` with a checkpoint present compares the step and time it reached with the
  budget now asked for. Budget already reached ("finished") => the weights and history are loaded
  and nothing trains (one line says so). Budget larger => training resumes and continues to it.
  Budgets are totals, so ``max_steps=2000`` after a 1000-step run trains 1000 more steps.
- A resumed run equals the uninterrupted one exactly (on the same device): batch k of epoch e is
  a pure function of (seed, e, k), and the carried state and RNG states come from the checkpoint.
- Resuming an unfinished checkpoint with different settings raises ValueError (delete the file or
  use another path); a finished one still loads, with a note naming what differs.
- A NaN/Inf loss raises ``TrainingDivergedError``; the file on disk stays the last good checkpoint.
- ``keep_best=True`` also stores the weights with the lowest validation loss; a finished run (and
  ``load_checkpoint``) hands those back, and ``History.best_step`` says which step they come from.

Learning rate: ``lr_schedule="cosine"`` lowers it from ``lr`` to ``lr * min_lr_fraction`` along half
a cosine of the budget used so far: the larger of steps/total steps and seconds/``max_seconds``.
Over a step or epoch budget that is exact on resume; over a time budget it follows the clock, and
enlarging a budget on resume raises the rate again from where the curve now is.

A fresh run seeds Python, NumPy and PyTorch with ``config.seed`` (dropout and random chunks follow it).
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from tqdm.auto import tqdm

from helpers import checkpoint
from helpers.runtime import get_device, set_seed

__all__ = ["TrainConfig", "History", "TrainingDivergedError", "train", "evaluate", "load_checkpoint"]

FORMAT = 1
_SETTINGS = ("lr", "optimizer", "weight_decay", "clip_grad_norm", "seed", "lr_schedule", "min_lr_fraction")
_OLD_DEFAULTS = {"lr_schedule": "constant", "min_lr_fraction": 0.1}  # checkpoints written before these existed
SCHEDULES = ("constant", "cosine")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def _positive(name, value, kind=(int, float), allow_none=True):
    if value is None and allow_none:
        return
    ok = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a positive {'int' if kind is int else 'number'}"
                         f"{' or None' if allow_none else ''}, got {value!r}")


@dataclass
class TrainConfig:
    """Everything about a run except the model and the data. Give at least one budget."""

    lr: float = 2e-3
    lr_schedule: str = "constant"  # or "cosine": decays to lr * min_lr_fraction by the end of the budget
    min_lr_fraction: float = 0.1
    optimizer: str = "adamw"  # "adamw" or "adam"
    weight_decay: float = 0.0
    clip_grad_norm: float | None = 1.0  # None: no clipping (the norm is still recorded)
    epochs: float | None = None  # budgets: training stops at the first one reached
    max_steps: int | None = None
    max_seconds: float | None = None
    eval_every: int | None = 100  # None: evaluate only at the end
    eval_batches: int | None = None  # None: the whole validation set
    checkpoint_path: str | Path | None = None
    checkpoint_every: int = 200
    keep_best: bool = False  # end with the weights of the lowest validation loss, not the last ones
    amp: bool = True  # mixed precision, used on CUDA only
    seed: int = 0
    progress: bool = True
    live_plot: bool = False  # in a notebook: a loss curve that redraws at every validation
    device: str | torch.device | None = None  # None: helpers.get_device()

    def __post_init__(self):
        self.validate()

    def validate(self) -> None:
        """Raise ValueError on the first bad setting."""
        _positive("lr", self.lr, allow_none=False)
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        if not isinstance(self.min_lr_fraction, (int, float)) or not 0 <= self.min_lr_fraction <= 1:
            raise ValueError(f"min_lr_fraction must be a number in [0, 1], got {self.min_lr_fraction!r}")
        if self.optimizer not in ("adamw", "adam"):
            raise ValueError(f"optimizer must be 'adamw' or 'adam', got {self.optimizer!r}")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        _positive("clip_grad_norm", self.clip_grad_norm)
        if self.epochs is None and self.max_steps is None and self.max_seconds is None:
            raise ValueError("No budget: set epochs, max_steps or max_seconds, e.g. TrainConfig(max_steps=500)")
        _positive("epochs", self.epochs)
        _positive("max_steps", self.max_steps, kind=int)
        _positive("max_seconds", self.max_seconds)
        _positive("eval_every", self.eval_every, kind=int)
        _positive("eval_batches", self.eval_batches, kind=int)
        _positive("checkpoint_every", self.checkpoint_every, kind=int, allow_none=False)
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(f"device={self.device!r} is not a device name: use 'cpu', 'cuda' or 'mps'") from None


@dataclass
class History:
    """What happened during training: per-step loss and grad norm, validation metrics, time, tokens."""

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
        """One line for the end of a run: steps, time, and the last losses and metrics."""
        f = self.final()
        parts = [f"{f['steps']} steps in {f.get('seconds', 0.0):.0f} s"]
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


@contextlib.contextmanager
def _deferred_interrupt():
    """Turn the first Ctrl-C into a flag checked between steps, so the checkpoint is consistent."""
    flag = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag["hit"]:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        flag["hit"] = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _total_steps(config: TrainConfig, batches_per_epoch: int) -> int | None:
    limits = [config.max_steps] if config.max_steps is not None else []
    if config.epochs is not None:
        limits.append(math.ceil(config.epochs * batches_per_epoch))
    return min(limits) if limits else None


def _budget_used(config, step, seconds, total) -> float:
    """Fraction of the budget spent, 0..1: the larger of the step and the time fractions."""
    used = [step / total] if total else []
    if config.max_seconds is not None:
        used.append(seconds / config.max_seconds)
    return min(max(used, default=0.0), 1.0)


def _lr_at(config, used: float) -> float:
    if config.lr_schedule == "constant":
        return config.lr
    floor = config.lr * config.min_lr_fraction
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * used))


def _budget_reached(config, step, seconds, total) -> bool:
    return (total is not None and step >= total) or (config.max_seconds is not None and seconds >= config.max_seconds)


def _settings(model, task, config) -> dict:
    return dict(model=type(model).__name__, task=task.signature(), **{k: getattr(config, k) for k in _SETTINGS})


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in new:
        if isinstance(new[key], dict) and isinstance(old.get(key), dict):
            out += [f"{key}.{d}" for d in _differences(old[key], new[key])]
        elif old.get(key, _OLD_DEFAULTS.get(key)) != new[key]:
            out.append(f"{key}: {old.get(key, _OLD_DEFAULTS.get(key))!r} in the checkpoint, {new[key]!r} now")
    return out


def _to(hidden, device):
    """Move a carried state; float32, so an AMP run's fp16 state also resumes without autocast."""
    if hidden is None:
        return None
    if isinstance(hidden, (tuple, list)):
        return tuple(h.to(device, torch.float32) for h in hidden)
    return hidden.to(device, torch.float32)


def _load_weights(model, ckpt: dict, path) -> None:
    saved, now = ckpt.get("model_config"), getattr(model, "config", None)
    if saved is not None and now is not None and saved != now:
        changed = "; ".join(f"{k}: {saved.get(k)!r} in the checkpoint, {v!r} now" for k, v in now.items()
                            if saved.get(k) != v)
        raise ValueError(f"The checkpoint {path} holds a different model ({changed}). Build the model with the "
                         "checkpoint's settings, or delete the file to train afresh.")
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        saved = ckpt.get("model_config")
        raise ValueError(f"The checkpoint {path} holds a different model{f' ({saved})' if saved else ''}. "
                         f"Build the model with those settings, or delete the file to train afresh.\n{e}") from None


def _check_ids_fit(model, task) -> None:
    embed = getattr(model, "embed", None)
    if isinstance(embed, torch.nn.Embedding) and task.max_id >= embed.num_embeddings:
        raise ValueError(f"The data holds id {task.max_id}, but the model's embedding has {embed.num_embeddings} rows. "
                         "Build the model with vocab_size=len(vocab) of the vocabulary that encoded this data.")


def _make_optimizer(model, config, device):
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    # fused on CUDA: one kernel, and GradScaler can skip inf steps without a GPU->CPU sync every step
    return cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=device.type == "cuda")


def _diverged(step, value, what, path, last_saved):
    kept = (f"The checkpoint {path} still holds step {last_saved}, the last good one; delete it before retraining "
            "with new settings." if path and last_saved is not None else "No checkpoint was written.")
    return TrainingDivergedError(
        f"The {what} became {value} at step {step}: training diverged. Lower the learning rate, "
        f"shorten seq_len, or clip harder (a smaller clip_grad_norm). {kept}")


@torch.no_grad()
def evaluate(model, task, max_batches: int | None = None) -> dict:
    """Validation metrics: ``val_loss`` and ``val_bpc`` (char LM) or ``val_loss`` and ``val_acc`` (sentiment)."""
    _positive("max_batches", max_batches, kind=int)
    was_training = model.training
    model.eval()
    try:
        return task.evaluate(model, max_batches)
    finally:
        model.train(was_training)


def _load_best(model, ckpt) -> None:
    """A finished keep_best run ends with its best weights, not its last ones."""
    if ckpt.get("finished") and ckpt.get("best"):
        model.load_state_dict(ckpt["best"]["model"])


def load_checkpoint(path, model) -> History:
    """Load a checkpoint's weights into ``model`` (the best ones for a finished keep_best run); return its history."""
    ckpt = checkpoint.load(path)
    _load_weights(model, ckpt, path)
    _load_best(model, ckpt)
    return History.from_dict(ckpt["history"])


def train(model, task, config: TrainConfig | None = None, callback=None) -> History:
    """Train ``model`` on ``task`` within ``config``'s budget; returns the History (model left in eval mode).

    ``callback(step)``, if given, runs after every step (e.g. to record something, or to stop by
    raising KeyboardInterrupt, which saves a checkpoint like Ctrl-C does).
    """
    if not isinstance(config, TrainConfig):
        raise ValueError("train needs a TrainConfig with a budget, e.g. train(model, task, TrainConfig(max_steps=500))")
    config.validate()
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module (e.g. a CharRNN), got {type(model).__name__}")
    if not all(hasattr(task, name) for name in ("batch", "loss", "evaluate", "signature", "batches_per_epoch")):
        raise ValueError(f"task must be a CharLMTask or SentimentTask, got {type(task).__name__}")
    device = torch.device(config.device) if config.device is not None else get_device()
    model.to(device)
    _check_ids_fit(model, task)
    path = Path(config.checkpoint_path) if config.checkpoint_path else None
    total = _total_steps(config, task.batches_per_epoch)
    settings = _settings(model, task, config)
    use_amp = config.amp and device.type == "cuda"
    optimizer = _make_optimizer(model, config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history, step, hidden, last_saved = History(kind=task.kind), 0, None, None
    best = None  # keep_best: {"step", "val_loss", "model"} with the weights on the CPU

    if path is not None and path.exists():
        ckpt = checkpoint.load(path)
        _load_weights(model, ckpt, path)
        history, step = History.from_dict(ckpt["history"]), ckpt["step"]
        changed = _differences(ckpt.get("settings", {}), settings)
        if _budget_reached(config, step, history.seconds[-1] if history.seconds else 0.0, total):
            shown = ", ".join(f"{k} {v:.4g}" for k, v in history.final().items() if k.startswith("val_"))
            print(f"Loaded the finished run from {path} (step {step}{', ' + shown if shown else ''}); "
                  "delete the file to train again.")
            if changed:
                print("Note: it was trained with other settings: " + "; ".join(changed))
            _load_best(model, ckpt)
            model.eval()
            return history
        if changed:
            raise ValueError(f"The checkpoint {path} was made with other settings (" + "; ".join(changed) +
                             "). Delete it or choose another checkpoint_path to train with the new ones.")
        optimizer.load_state_dict(ckpt["optimizer"])
        if ckpt["scaler"]:  # empty when the run so far had no AMP (e.g. started on a CPU)
            scaler.load_state_dict(ckpt["scaler"])
        hidden = _to(ckpt["hidden"], device)
        best = ckpt.get("best")
        checkpoint.set_rng_state(ckpt["rng"])
        last_saved = step
        print(f"Resuming from {path} at step {step}.")
    else:
        set_seed(config.seed)

    def save(finished: bool):
        nonlocal last_saved
        if path is None:
            return
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise _diverged(step, "non-finite", "weights", path, last_saved)
        checkpoint.save(path, dict(
            format=FORMAT, model=model.state_dict(), model_config=getattr(model, "config", None),
            optimizer=optimizer.state_dict(), scaler=scaler.state_dict(), step=step,
            epoch=step // task.batches_per_epoch, batch_in_epoch=step % task.batches_per_epoch,
            hidden=_to(hidden, "cpu"), rng=checkpoint.rng_state(), history=history.to_dict(),
            settings=settings, finished=finished, best=best,
            budget=dict(epochs=config.epochs, max_steps=config.max_steps, max_seconds=config.max_seconds)))
        last_saved = step

    # Losses stay on the device until a sync point, so the GPU is not stalled every step.
    pending, sync_every = [], 1 if device.type == "cpu" else 25

    def flush():
        if not pending:
            return
        values = torch.stack([torch.stack([loss, norm.float()]) for _, loss, norm, _, _, _ in pending]).tolist()
        for (s, _, _, secs, toks, lr), (loss, norm) in zip(pending, values):
            if not math.isfinite(loss):
                raise _diverged(s, loss, "loss", path, last_saved)
            if not use_amp and not math.isfinite(norm):  # under AMP the scaler skips such steps itself
                raise _diverged(s, norm, "gradient norm", path, last_saved)
            history.steps.append(s)
            history.train_loss.append(loss)
            history.grad_norm.append(norm)
            history.seconds.append(secs)
            history.tokens.append(toks)
            history.lr.append(lr)
        pending.clear()

    def validate():
        nonlocal best
        flush()
        metrics = evaluate(model, task, config.eval_batches)
        if config.keep_best and (best is None or metrics["val_loss"] < best["val_loss"]):
            best = dict(step=step, val_loss=metrics["val_loss"],
                        model={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
        history.val_steps.append(step)
        history.val_loss.append(metrics["val_loss"])
        for name in ("val_bpc", "val_acc"):
            if name in metrics:
                getattr(history, name).append(metrics[name])
        bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", val=f"{metrics['val_loss']:.3f}", refresh=False)
        if live is not None:
            live.update(history)

    seconds0 = history.seconds[-1] if history.seconds else 0.0
    tokens = history.tokens[-1] if history.tokens else 0
    start = time.perf_counter()
    clip = config.clip_grad_norm if config.clip_grad_norm is not None else math.inf
    bar = tqdm(total=total, initial=step, disable=not config.progress, unit="step", desc=type(model).__name__)
    live = None
    if config.live_plot:
        from helpers.plots import LivePlot  # matplotlib only when asked for

        live = LivePlot(type(model).__name__)
    consistent = True
    try:
        with _deferred_interrupt() as interrupt:
            model.train()
            while not _budget_reached(config, step, seconds0 + time.perf_counter() - start, total):
                epoch, k = divmod(step, task.batches_per_epoch)
                consistent = False
                if k == 0:
                    hidden = None  # a new epoch starts the streams from their beginnings
                batch = task.batch(epoch, k, config.seed, device)
                lr = _lr_at(config, _budget_used(config, step, seconds0 + time.perf_counter() - start, total))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                    loss, hidden, n_tokens = task.loss(model, batch, hidden)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                scaler.step(optimizer)
                scaler.update()
                tokens += n_tokens
                pending.append((step + 1, loss.detach(), norm.detach(), seconds0 + time.perf_counter() - start, tokens, lr))
                step += 1
                consistent = True
                if step % sync_every == 0:
                    flush()
                    bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", refresh=False)
                if config.eval_every and step % config.eval_every == 0:
                    validate()
                if step % config.checkpoint_every == 0:
                    flush()
                    save(finished=False)
                bar.update(1)
                if callback is not None:
                    callback(step)
                if interrupt["hit"]:
                    raise KeyboardInterrupt
            if not history.val_steps or history.val_steps[-1] != step:
                validate()
            flush()
            if best is not None:
                history.best_step = best["step"]
            save(finished=True)
            if best is not None:
                model.load_state_dict(best["model"])
    except KeyboardInterrupt:
        bar.close()
        if path is None:
            raise KeyboardInterrupt(
                f"Training stopped at step {step}. No checkpoint_path was set, so a rerun starts over; "
                "set TrainConfig(checkpoint_path=...) to make runs resumable.") from None
        if consistent:
            flush()
            save(finished=False)
            raise KeyboardInterrupt(f"Training stopped at step {step}; checkpoint saved to {path}. "
                                    "Rerun the cell to resume.") from None
        where = f"step {last_saved}" if last_saved is not None else "nothing yet"
        raise KeyboardInterrupt(f"Training stopped mid-step; {path} holds {where}. Rerun the cell to resume.") from None
    finally:
        bar.close()
    if config.progress:  # a stored notebook shows this line even where the progress widget cannot render
        print("Trained " + history.summary() + ".")
    model.eval()
    return history
