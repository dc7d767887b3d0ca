"""Timing on a shared machine: the fastest of a few repeats, and training speed measured side by side (lecture 09).

A laptop or a shared server changes speed while it runs (other programs, turbo, heat). A single reading can be
off by a factor of several, so these helpers repeat a measurement and keep the fastest, and time several models
in turns, round after round, so that a change in load hits all of them alike.
"""
from __future__ import annotations

import copy
import math
import time

import torch

from helpers.checks import check_int


def _sync(device) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def best_of(fn, repeats: int = 3, warmup: int = 1, device=None) -> float:
    """Seconds of the fastest of ``repeats`` calls of ``fn()``, after ``warmup`` untimed calls.

    Used in lecture 09.
    """
    check_int("repeats", repeats)
    check_int("warmup", warmup, minimum=0)
    for _ in range(warmup):
        fn()
    _sync(device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def train_step_rates(models: dict, task, lr=1e-3, rounds: int = 3, steps: int = 5, device=None) -> dict:
    """Training steps per second of each model, measured side by side on copies (the models are not changed).

    ``rounds`` rounds (after one warm-up round) in which each model in turn runs ``steps`` AdamW steps on the
    same batch of ``task``: forward, loss, backward, clipping, update, as ``helpers.train`` does, without its
    evaluations. ``lr`` is one rate or a dict by model name.

    Used in lecture 09.
    """
    if not isinstance(models, dict) or not models:
        raise ValueError("train_step_rates takes a dict of models, e.g. {'GRU': gru, 'minGRU': mingru}")
    check_int("rounds", rounds)
    check_int("steps", steps)
    device = torch.device(device) if device is not None else next(iter(models.values())).head.weight.device
    batch = task.batch(0, 0, 0, device)
    copies = {name: copy.deepcopy(m).to(device).train() for name, m in models.items()}
    optimizers = {name: torch.optim.AdamW(m.parameters(), lr=lr[name] if isinstance(lr, dict) else lr)
                  for name, m in copies.items()}
    seconds = dict.fromkeys(copies, 0.0)
    for r in range(rounds + 1):  # round 0 warms up (allocations, kernel choices) and is not counted
        for name, model in copies.items():
            start = time.perf_counter()
            for _ in range(steps):
                loss, _, _ = task.loss(model, batch, None)
                optimizers[name].zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizers[name].step()
            _sync(device)
            if r:
                seconds[name] += time.perf_counter() - start
    return {name: rounds * steps / s for name, s in seconds.items()}
