"""Generating one token at a time: a KV cache for lecture 08's Transformer, and what a step costs (lecture 09).

A recurrent model carries a state of fixed size from token to token, so a step costs the same however long the
context. A Transformer attends to every earlier token, so it keeps their keys and values (the **KV cache**), and
both the cache and the attention work grow with the context. ``cached_step`` runs ``helpers.transformer``'s
``CharTransformer`` with such a cache; ``time_per_token`` and ``state_nbytes`` measure the two costs.
"""
from __future__ import annotations

import math
import time

import torch

from helpers.checks import check_int


class KVCache:
    """Keys and values of every token so far, one pair of buffers per layer, preallocated up to ``max_len``.

    Used by prefill, cached_step and state_nbytes (lecture 09).
    """

    def __init__(self, model, batch_size: int, max_len: int, device=None, dtype=torch.float32):
        check_int("batch_size", batch_size)
        check_int("max_len", max_len)
        n_embd, n_head = model.config["n_embd"], model.config["n_head"]
        shape = (batch_size, n_head, max_len, n_embd // n_head)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in model.blocks]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in model.blocks]
        self.length, self.max_len = 0, max_len

    def nbytes(self) -> int:
        """Bytes of the keys and values held so far (the part of the buffers in use)."""
        per_token = sum(k[:, :, :1].numel() * k.element_size() for k in self.keys + self.values)
        return self.length * per_token


def _heads(t, n_head):
    B, T, C = t.shape
    return t.view(B, T, n_head, C // n_head).transpose(1, 2)  # [B, n_head, T, head_dim]


@torch.no_grad()
def prefill(model, ids: torch.Tensor, max_len: int | None = None):
    """Read the context ``ids`` [B, T] in one parallel pass; returns (logits of the last position [B, V], cache).

    Used in lecture 09.
    """
    if ids.dim() != 2 or ids.dtype != torch.long:
        raise ValueError(f"prefill expects a LongTensor [batch, time], got {ids.dtype} {tuple(ids.shape)}")
    max_len = max_len or model.block_size
    if ids.shape[1] > max_len or max_len > model.block_size:
        raise ValueError(f"context of {ids.shape[1]} tokens, max_len {max_len}: both must fit block_size "
                         f"{model.block_size}, the positions the model has embeddings for")
    cache = KVCache(model, ids.shape[0], max_len, ids.device, model.head.weight.dtype)
    captured = []
    # the model's own forward pass computes every layer's keys and values; a hook keeps them
    hooks = [block.attn.qkv.register_forward_hook(lambda m, inp, out: captured.append(out)) for block in model.blocks]
    try:
        logits, _ = model(ids)
    finally:
        for hook in hooks:
            hook.remove()
    n_embd, n_head, T = model.config["n_embd"], model.config["n_head"], ids.shape[1]
    for layer, qkv in enumerate(captured):
        _, k, v = qkv.split(n_embd, dim=2)
        cache.keys[layer][:, :, :T] = _heads(k, n_head)
        cache.values[layer][:, :, :T] = _heads(v, n_head)
    cache.length = T
    return logits[:, -1], cache


@torch.no_grad()
def cached_step(model, token: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """One new token [B] through ``model`` with ``cache``: its logits [B, V]; the cache grows by one.

    Used in lecture 09.
    """
    t = cache.length
    if t >= cache.max_len:
        raise ValueError(f"the cache is full ({cache.max_len} tokens); start a new one with a larger max_len")
    n_embd, n_head = model.config["n_embd"], model.config["n_head"]
    h = model.embed(token.view(-1, 1)) + model.pos.weight[t]
    for layer, block in enumerate(model.blocks):
        attn = block.attn
        q, k, v = (_heads(x, n_head) for x in attn.qkv(block.ln1(h)).split(n_embd, dim=2))
        cache.keys[layer][:, :, t:t + 1] = k
        cache.values[layer][:, :, t:t + 1] = v
        keys, values = cache.keys[layer][:, :, :t + 1], cache.values[layer][:, :, :t + 1]
        # the new query against all t + 1 keys: this is the work that grows with the context
        weights = (q @ keys.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(dim=-1)
        y = (weights @ values).transpose(1, 2).reshape(h.shape)
        h = h + attn.proj(y)
        h = h + block.mlp(block.ln2(h))
    cache.length = t + 1
    return model.head(model.ln_f(h))[:, 0]


def state_nbytes(state) -> int:
    """Bytes held by a recurrent state (a tensor, or nested tuples/lists of them) or by a ``KVCache``.

    Used in lecture 09.
    """
    if state is None:
        return 0
    if isinstance(state, KVCache):
        return state.nbytes()
    if isinstance(state, torch.Tensor):
        return state.numel() * state.element_size()
    if isinstance(state, (tuple, list)):
        return sum(state_nbytes(s) for s in state)
    raise ValueError(f"state_nbytes reads tensors, tuples or lists of them, or a KVCache; got {type(state).__name__}")


def time_per_token(step, state, n_tokens: int = 16, vocab_size: int = 2, device=None) -> float:
    """Median seconds of ``step(token, state) -> (logits, state)`` over ``n_tokens`` steps (after one warm-up).

    A ``KVCache`` grows by one token per step (its context goes from t to t + n_tokens) and is rewound to t after.

    Used in lecture 09.
    """
    check_int("n_tokens", n_tokens)
    length = state.length if isinstance(state, KVCache) else None
    token = torch.randint(0, vocab_size, (1,)).to(device)
    times = []
    with torch.no_grad():
        for i in range(n_tokens + 1):
            start = time.perf_counter()
            _, new_state = step(token, state)
            if token.device.type == "cuda":
                torch.cuda.synchronize(token.device)
            if i:
                times.append(time.perf_counter() - start)
            if length is None:
                state = new_state  # a recurrent state moves on; its size stays the same
    if length is not None:
        state.length = length  # rewind: the measurement leaves the context as it found it
    return sorted(times)[len(times) // 2]

