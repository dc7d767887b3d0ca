"""The training loop of every task in the course: budgets, learning rate, clipping, AMP, progress, checkpoints.

Taught in lectures 05 (IMDb sentiment) and 06 (Shakespeare char-RNN); lectures 04, 07 and 08 and the
lab train with it too. ``train`` reads top to bottom: learning rate, forward and backward, clip, step,
log, evaluate and checkpoint. What a checkpoint holds and when a rerun resumes is in
``helpers.checkpoint``; what a run records in ``helpers.history``.

The task: anything that follows ``helpers.tasks.Task``. ``train`` asks it for batch ``k`` of epoch ``e``
(``task.batch(e, k, seed, device)``, a pure function of those, so a resumed run sees the same batches),
for the loss of a batch (``task.loss(model, batch, hidden)`` -> loss, state to carry, tokens), for
validation metrics (``task.evaluate(model, max_batches)``, at least ``val_loss``), and for its
``kind``, ``batches_per_epoch`` and ``signature()`` (what a checkpoint must agree on). The course has
five: ``CharLMTask`` and ``SentimentTask`` (``helpers.tasks``), ``AddingTask`` (``helpers.long_range``),
``ForecastTask`` (``helpers.forecasting``) and ``Seq2SeqTask`` (``helpers.seq2seq``).

Learning rate: ``lr_schedule="cosine"`` lowers it from ``lr`` to ``lr * min_lr_fraction`` along half
a cosine of the budget used so far: the larger of steps/total steps and seconds/``max_seconds``.
Over a step or epoch budget that is exact on resume; over a time budget it follows the clock, and
enlarging a budget on resume raises the rate again from where the curve now is.

A NaN/Inf loss raises ``TrainingDivergedError``; the checkpoint on disk stays the last good one.
A fresh run seeds Python, NumPy and PyTorch with ``config.seed`` (dropout and random chunks follow it).
"""
from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from tqdm.notebook import tqdm_notebook

from helpers import checkpoint
from helpers.checkpoint import load_checkpoint  # the lab imports it from here, beside train
from helpers.checks import check_int, check_number
from helpers.history import History
from helpers.runtime import get_device
from helpers.tasks import Task, missing_members

__all__ = ["TrainConfig", "TrainingDivergedError", "train", "evaluate", "load_checkpoint"]

SCHEDULES = ("constant", "cosine")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite.

    Raised by ``train`` (lectures 04-08 and the lab).
    """


@dataclass
class TrainConfig:
    """Everything about a run except the model and the data. Give at least one budget.

    Used in lectures 05, 06, 07, 08 and 09, and the labs attention, forecasting, imdb_sentiment and sherlock_rnn_vs_gru.
    """

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
        check_number("lr", self.lr, above=0)
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}")
        check_number("min_lr_fraction", self.min_lr_fraction, at_least=0, at_most=1)
        if self.optimizer not in ("adamw", "adam"):
            raise ValueError(f"optimizer must be 'adamw' or 'adam', got {self.optimizer!r}")
        check_number("weight_decay", self.weight_decay, at_least=0)
        check_number("clip_grad_norm", self.clip_grad_norm, above=0, optional=True)
        if self.epochs is None and self.max_steps is None and self.max_seconds is None:
            raise ValueError("No budget: set epochs, max_steps or max_seconds, e.g. TrainConfig(max_steps=500)")
        check_number("epochs", self.epochs, above=0, optional=True)
        check_int("max_steps", self.max_steps, optional=True)
        check_number("max_seconds", self.max_seconds, above=0, optional=True)
        check_int("eval_every", self.eval_every, optional=True)
        check_int("eval_batches", self.eval_batches, optional=True)
        check_int("checkpoint_every", self.checkpoint_every)
        check_int("seed", self.seed, minimum=0)
        if self.device is not None:
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError):
                raise ValueError(f"device={self.device!r} is not a device name: use 'cpu', 'cuda' or 'mps'") from None


def train(model, task: Task, config: TrainConfig | None = None, callback=None) -> History:
    """Train ``model`` on ``task`` within ``config``'s budget; returns the History (model left in eval mode).

    ``callback(step)``, if given, runs after every step (e.g. to record something, or to stop by
    raising KeyboardInterrupt, which saves a checkpoint like Ctrl-C does).

    Used in lectures 05, 06, 07, 08 and 09, and the labs attention, forecasting, imdb_sentiment and sherlock_rnn_vs_gru.
    """
    device = _check_arguments(model, task, config)
    model.to(device)
    _check_ids_fit(model, task)
    use_amp = config.amp and device.type == "cuda"
    optimizer = _make_optimizer(model, config, device)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    total = _total_steps(config, task.batches_per_epoch)
    run = checkpoint.start_run(config.checkpoint_path, model, task, config, optimizer, scaler,
                               lambda step, seconds: _stop_reason(config, step, seconds, total) is not None)
    if run.finished:
        model.eval()
        return run.history
    history, check_norms = run.history, not use_amp  # under AMP the scaler skips inf-gradient steps itself
    clip = config.clip_grad_norm if config.clip_grad_norm is not None else math.inf
    sync_every = 1 if device.type == "cpu" else 25  # losses stay on the GPU until then: no stall every step
    tokens = history.tokens[-1] if history.tokens else 0
    start = time.perf_counter() - (history.seconds[-1] if history.seconds else 0.0)  # a resumed clock goes on
    progress = _Progress(config, total, run.step, type(model).__name__)
    in_step = False
    model.train()
    try:
        with _deferred_interrupt() as interrupt:
            while (stop := _stop_reason(config, run.step, time.perf_counter() - start, total)) is None:
                in_step = True
                epoch, k = divmod(run.step, task.batches_per_epoch)
                # learning rate
                lr = _lr_at(config, _budget_used(config, run.step, time.perf_counter() - start, total))
                for group in optimizer.param_groups:
                    group["lr"] = lr
                # forward and backward; a new epoch starts the streams, and so the carried state, afresh
                batch = task.batch(epoch, k, config.seed, device)
                with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                    loss, run.hidden, n_tokens = task.loss(model, batch, None if k == 0 else run.hidden)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                # clip the true gradients, not the scaled ones
                scaler.unscale_(optimizer)
                norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
                # step
                scaler.step(optimizer)
                scaler.update()
                run.step += 1
                # log
                tokens += n_tokens
                history.log(run.step, loss.detach(), norm.detach(), time.perf_counter() - start, tokens, lr)
                in_step = False
                if run.step % sync_every == 0:
                    _flush(run, check_norms)
                # evaluate and checkpoint
                if config.eval_every and run.step % config.eval_every == 0:
                    _validate(run, model, task, config, progress, check_norms)
                if run.step % config.checkpoint_every == 0:
                    _save(run, model, optimizer, scaler, check_norms)
                progress.update(history)
                if callback is not None:
                    callback(run.step)
                if interrupt["hit"]:
                    raise KeyboardInterrupt
            if not history.val_steps or history.val_steps[-1] != run.step:
                _validate(run, model, task, config, progress, check_norms)
            history.best_step, history.stopped = run.best["step"] if run.best else None, stop
            _save(run, model, optimizer, scaler, check_norms, finished=True)
            if run.best is not None:
                model.load_state_dict(run.best["model"])
            progress.close(history, full=True)
    except KeyboardInterrupt:
        raise _interrupted(run, model, optimizer, scaler, check_norms, between_steps=not in_step) from None
    finally:
        progress.close(history)
    model.eval()
    return history


@torch.no_grad()
def evaluate(model, task: Task, max_batches: int | None = None) -> dict:
    """The task's validation metrics (``val_loss`` and its own, e.g. ``val_bpc`` or ``val_acc``), in eval mode.

    Used in lectures 06, 08 and 09.
    """
    check_int("max_batches", max_batches, optional=True)
    was_training = model.training
    model.eval()
    try:
        return task.evaluate(model, max_batches)
    finally:
        model.train(was_training)


# --- budgets and learning rate ----------------------------------------------------------------

def _total_steps(config: TrainConfig, batches_per_epoch: int) -> int | None:
    limits = [config.max_steps] if config.max_steps is not None else []
    if config.epochs is not None:
        limits.append(math.ceil(config.epochs * batches_per_epoch))
    return min(limits) if limits else None


def _stop_reason(config, step, seconds, total) -> str | None:
    """Why training stops now (the first budget reached), or None while every budget has some left."""
    if total is not None and step >= total:
        if config.max_steps == total:
            return f"the step budget was reached: max_steps={total}"
        return f"all epochs done: epochs={config.epochs:g}"
    if config.max_seconds is not None and seconds >= config.max_seconds:
        return f"the time budget ran out: max_seconds={config.max_seconds:g}" + (f", {total} steps asked" if total else "")
    return None


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


# --- set-up -----------------------------------------------------------------------------------

def _check_arguments(model, task, config) -> torch.device:
    """The device to train on, after checking that the three arguments are what ``train`` needs."""
    if not isinstance(config, TrainConfig):
        raise ValueError("train needs a TrainConfig with a budget, e.g. train(model, task, TrainConfig(max_steps=500))")
    config.validate()
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module (e.g. a CharRNN), got {type(model).__name__}")
    missing = missing_members(task)
    if missing:
        raise ValueError(f"task must be a training task (helpers.tasks.Task) such as a CharLMTask or "
                         f"SentimentTask; a {type(task).__name__} has no {', '.join(missing)}")
    return torch.device(config.device) if config.device is not None else get_device()


def _check_ids_fit(model, task) -> None:
    embed = getattr(model, "embed", None)
    if isinstance(embed, torch.nn.Embedding) and task.max_id >= embed.num_embeddings:
        raise ValueError(f"The data holds id {task.max_id}, but the model's embedding has {embed.num_embeddings} rows. "
                         "Build the model with vocab_size=len(vocab) of the vocabulary that encoded this data.")


def _make_optimizer(model, config, device):
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    # fused on CUDA: one kernel, and GradScaler can skip inf steps without a GPU->CPU sync every step
    return cls(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=device.type == "cuda")


# --- what the loop does at its sync points ----------------------------------------------------

def _flush(run, check_norms: bool) -> None:
    """Move the queued losses into the history; a NaN/Inf among them ends the run."""
    bad = run.history.flush(check_grad_norm=check_norms)
    if bad is not None:
        raise _diverged(run, *bad)


def _validate(run, model, task, config, progress, check_norms: bool) -> None:
    """Evaluate, record, and (keep_best) copy the weights if they are the best so far."""
    _flush(run, check_norms)
    metrics = evaluate(model, task, config.eval_batches)
    if config.keep_best and (run.best is None or metrics["val_loss"] < run.best["val_loss"]):
        run.best = dict(step=run.step, val_loss=metrics["val_loss"],
                        model={k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
    run.history.add_validation(run.step, metrics)
    progress.validated(run.history)


def _save(run, model, optimizer, scaler, check_norms: bool, finished: bool = False) -> None:
    _flush(run, check_norms)
    if run.path is not None and not all(torch.isfinite(p).all() for p in model.parameters()):
        raise _diverged(run, run.step, "weights", "non-finite")
    checkpoint.save_run(run, model, optimizer, scaler, finished)


def _diverged(run, step, what, value) -> TrainingDivergedError:
    run.history.stopped = f"diverged: the {what} became {value} at step {step}"
    kept = (f"The checkpoint {run.path} still holds step {run.last_saved}, the last good one; delete it before "
            "retraining with new settings." if run.path and run.last_saved is not None else "No checkpoint was written.")
    return TrainingDivergedError(
        f"The {what} became {value} at step {step}: training diverged. Lower the learning rate, "
        f"shorten seq_len, or clip harder (a smaller clip_grad_norm). {kept}")


def _interrupted(run, model, optimizer, scaler, check_norms: bool, between_steps: bool) -> KeyboardInterrupt:
    """Save what a rerun resumes from (when the stop fell between two steps) and say how to go on."""
    run.history.stopped = f"interrupted at step {run.step}"
    if run.path is None:
        return KeyboardInterrupt(f"Training stopped at step {run.step}. No checkpoint_path was set, so a rerun "
                                 "starts over; set TrainConfig(checkpoint_path=...) to make runs resumable.")
    if not between_steps:
        where = f"step {run.last_saved}" if run.last_saved is not None else "nothing yet"
        return KeyboardInterrupt(f"Training stopped mid-step; {run.path} holds {where}. Rerun the cell to resume.")
    _save(run, model, optimizer, scaler, check_norms)
    return KeyboardInterrupt(f"Training stopped at step {run.step}; checkpoint saved to {run.path}. "
                             "Rerun the cell to resume.")


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


# --- what the student sees --------------------------------------------------------------------

class _Progress:
    """The progress bar, the live loss curve, and the plain text a stored notebook keeps of them.

    In Jupyter the bar is a widget, and a saved notebook keeps only the text it showed when it was
    first displayed (``0%| 0/2191``). So the bar is shown through a display handle and re-shown when
    training ends, which stores its final text; one summary line follows, saying why training stopped.
    """

    def __init__(self, config: TrainConfig, total: int | None, step: int, name: str):
        self.show, self.closed, self.handle = config.progress, False, None
        widget = issubclass(tqdm, tqdm_notebook)  # tqdm.auto chose the Jupyter widget
        self.bar = tqdm(total=total, initial=step, disable=not self.show, unit="step", desc=name,
                        **({"display": False} if widget else {}))
        if widget and self.show:
            from IPython.display import display

            self.handle = display(self.bar.container, display_id=True)
        self.live = None
        if config.live_plot:
            from helpers.plots import LivePlot  # matplotlib only when asked for

            self.live = LivePlot(name)

    def update(self, history: History) -> None:
        if history.train_loss:
            val = {"val": f"{history.val_loss[-1]:.3f}"} if history.val_loss else {}
            self.bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", **val, refresh=False)
        self.bar.update(1)

    def validated(self, history: History) -> None:
        if self.live is not None:
            self.live.update(history)

    def close(self, history: History, full: bool = False) -> None:
        """End the bar (full and green when a budget ended the run) and print the summary line."""
        if self.closed:
            return
        self.closed = True
        if full:  # a budget that stops before the step count (time, say) is a finish, not a failure
            self.bar.total = self.bar.n
            for widget in getattr(getattr(self.bar, "container", None), "children", ()):
                if hasattr(widget, "max"):  # Jupyter's bar keeps its own maximum: else it stays 3% filled
                    widget.max = max(self.bar.n, 1)
        self.bar.close()
        if self.handle is not None:
            self.handle.update(self.bar.container)  # stores the final bar's text, not the first one's
        if self.show:
            print(f"Trained {history.summary()}.")
