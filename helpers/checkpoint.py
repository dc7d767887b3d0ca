"""Checkpoints of a training run: what one holds, when a rerun resumes, atomic writes, safe loads.

Taught in lecture 06 (Shakespeare char-RNN), where rerunning the training cell resumes the run.

Contract (``TrainConfig.checkpoint_path``):

- Written atomically every ``checkpoint_every`` steps, at the end, and on Ctrl-C (at a step boundary),
  readable by other users (mode 0644 less the umask). It holds the model, optimizer, GradScaler,
  step, carried hidden state, all RNG states, the history, the budget, and the settings that shape
  the run (task, lr, schedule, optimizer, clipping, seed).
- Rerunning ``train`` with a checkpoint present compares the step and time it reached with the
  budget now asked for. Budget already reached ("finished") => the weights and history are loaded
  and nothing trains (one line says so). Budget larger => training resumes and continues to it.
  Budgets are totals, so ``max_steps=2000`` after a 1000-step run trains 1000 more steps.
- A resumed run equals the uninterrupted one exactly (on the same device): batch k of epoch e is
  a pure function of (seed, e, k), and the carried state and RNG states come from the checkpoint.
- Resuming an unfinished checkpoint with different settings raises ValueError (delete the file or
  use another path); a finished one still loads, with a note naming what differs.
- ``keep_best=True`` also stores the weights with the lowest validation loss; a finished run (and
  ``load_checkpoint``) hands those back, and ``History.best_step`` says which step they come from.
"""
from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.history import History
from helpers.models import detach_state
from helpers.runtime import set_seed

FORMAT = 1  # bump when the payload changes in a way this code cannot read
SETTINGS = ("lr", "optimizer", "weight_decay", "clip_grad_norm", "seed", "lr_schedule", "min_lr_fraction")


@dataclass
class Run:
    """What the training loop carries from step to step, and where its checkpoint goes.

    Used by ``train`` (lectures 04-08 and the lab).
    """

    history: History
    settings: dict  # what a resumed run must agree on
    budget: dict
    batches_per_epoch: int
    path: Path | None = None
    step: int = 0
    hidden: object = None  # the state carried between batches (stream mode), else None
    best: dict | None = None  # keep_best: {"step", "val_loss", "model"} with the weights on the CPU
    last_saved: int | None = None  # the step the file on disk holds
    finished: bool = False  # loaded a run that had already reached the budget asked for


def start_run(path, model, task, config, optimizer, scaler, budget_reached) -> Run:
    """A fresh run seeded with ``config.seed``, or the one stored at ``path`` (see the contract above).

    ``budget_reached(step, seconds)`` says whether the stored run already did what ``config`` asks.

    Used by ``train`` (lectures 04-08 and the lab).
    """
    settings = dict(model=type(model).__name__, task=task.signature(), **{k: getattr(config, k) for k in SETTINGS})
    budget = dict(epochs=config.epochs, max_steps=config.max_steps, max_seconds=config.max_seconds)
    run = Run(History(kind=task.kind), settings, budget, task.batches_per_epoch, Path(path) if path else None)
    if run.path is None or not run.path.exists():
        set_seed(config.seed)
        return run
    ckpt = _load_run(run.path, model)
    run.history, run.step = History.from_dict(ckpt["history"]), ckpt["step"]
    changed = _differences(ckpt["settings"], settings)
    if budget_reached(run.step, run.history.seconds[-1] if run.history.seconds else 0.0):
        shown = ", ".join(f"{k} {v:.4g}" for k, v in run.history.final().items() if k.startswith("val_"))
        print(f"Loaded the finished run from {path} (step {run.step}{', ' + shown if shown else ''}); "
              "delete the file to train again.")
        if changed:
            print("Note: it was trained with other settings: " + "; ".join(changed))
        _load_best(model, ckpt)
        run.finished = True
        return run
    if changed:
        raise ValueError(f"The checkpoint {path} was made with other settings (" + "; ".join(changed) +
                         "). Delete it or choose another checkpoint_path to train with the new ones.")
    optimizer.load_state_dict(ckpt["optimizer"])
    if ckpt["scaler"]:  # empty when the run so far had no AMP (e.g. started on a CPU)
        scaler.load_state_dict(ckpt["scaler"])
    # float32, so an AMP run's fp16 state also resumes without autocast
    run.hidden = detach_state(ckpt["hidden"], next(model.parameters()).device, torch.float32)
    run.best, run.last_saved, run.history.stopped = ckpt["best"], run.step, None
    set_rng_state(ckpt["rng"])
    print(f"Resuming from {path} at step {run.step}.")
    return run


def save_run(run: Run, model, optimizer, scaler, finished: bool) -> None:
    """Write everything an exact resume needs to ``run.path`` (nothing when it is None).

    Used by ``train`` (lectures 04-08 and the lab).
    """
    if run.path is None:
        return
    epoch, batch_in_epoch = divmod(run.step, run.batches_per_epoch)
    save(run.path, dict(
        format=FORMAT, model=model.state_dict(), model_config=getattr(model, "config", None),
        optimizer=optimizer.state_dict(), scaler=scaler.state_dict(), step=run.step, epoch=epoch,
        batch_in_epoch=batch_in_epoch, hidden=detach_state(run.hidden, "cpu", torch.float32), rng=rng_state(),
        history=run.history.to_dict(), settings=run.settings, finished=finished, best=run.best, budget=run.budget))
    run.last_saved = run.step


def load_checkpoint(path, model) -> History:
    """Load a checkpoint's weights into ``model`` (the best ones for a finished keep_best run); return its history.

    Used in the labs attention, forecasting, imdb_sentiment and sherlock_rnn_vs_gru.
    """
    ckpt = _load_run(Path(path), model)
    _load_best(model, ckpt)
    return History.from_dict(ckpt["history"])


def _load_run(path: Path, model) -> dict:
    """A checkpoint ``save_run`` wrote, with its weights loaded into ``model``."""
    ckpt = load(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a training checkpoint of this course (format "
                         f"{ckpt.get('format') if isinstance(ckpt, dict) else None!r}, expected {FORMAT}). "
                         "Delete it to train afresh.")
    saved, now = ckpt["model_config"], getattr(model, "config", None)
    if saved is not None and now is not None and saved != now:
        changed = "; ".join(f"{k}: {saved.get(k)!r} in the checkpoint, {v!r} now" for k, v in now.items()
                            if saved.get(k) != v)
        raise ValueError(f"The checkpoint {path} holds a different model ({changed}). Build the model with the "
                         "checkpoint's settings, or delete the file to train afresh.")
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as e:
        raise ValueError(f"The checkpoint {path} holds a different model{f' ({saved})' if saved else ''}. "
                         f"Build the model with those settings, or delete the file to train afresh.\n{e}") from None
    return ckpt


def _load_best(model, ckpt: dict) -> None:
    """A finished keep_best run ends with its best weights, not its last ones."""
    if ckpt["finished"] and ckpt["best"]:
        model.load_state_dict(ckpt["best"]["model"])


def _differences(old: dict, new: dict) -> list[str]:
    out = []
    for key in new:
        if isinstance(new[key], dict) and isinstance(old.get(key), dict):
            out += [f"{key}.{d}" for d in _differences(old[key], new[key])]
        elif old.get(key) != new[key]:
            out.append(f"{key}: {old.get(key)!r} in the checkpoint, {new[key]!r} now")
    return out


def rng_state() -> dict:
    """Python, NumPy, torch CPU and CUDA generator states, as plain types that ``weights_only`` loads.

    Used by ``train`` (lectures 04-08 and the lab).
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` captured (CUDA states only where the same GPUs are present).

    Used by ``train`` (lectures 04-08 and the lab).
    """
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    cuda = state.get("cuda")
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def save(path, payload: dict) -> None:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, then ``os.replace``.

    A crash or Ctrl-C mid-write leaves the previous checkpoint intact, never a truncated file.

    Used by ``train``'s checkpoints (lectures 04-08 and the lab).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; give it the mode open() would, so a grader's or a teammate's uid can read it
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def load(path) -> dict:
    """Read a checkpoint onto the CPU (callers move tensors where they need them).

    Used by ``train``'s checkpoints (lectures 04-08 and the lab).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No checkpoint at {path}: run the training cell first (or check the path).")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a foreign or damaged file: say which, and what to do
        raise ValueError(f"{path} is not a readable helpers checkpoint ({type(e).__name__}: {e}). "
                         "Delete it to train afresh.") from e
