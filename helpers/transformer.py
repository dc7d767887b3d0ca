"""A small causal Transformer language model, nanoGPT-style, that plugs into ``helpers.train`` (lecture 08).

``CharTransformer(x, hidden)`` returns ``(logits, None)`` like ``CharRNN``, so ``CharLMTask`` trains and
evaluates it unchanged; it keeps no state, so it sees at most ``block_size`` characters of context.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.checks import check_int



def causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention written out: step t mixes the values of steps <= t. Shapes ``[..., T, d]``.

    Used in lecture 08.
    """
    T = q.shape[-2]
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # [..., T, T]: how well query t matches key s
    future = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)  # no peeking at s > t
    return weights @ v


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with a causal mask; ``from_scratch=True`` uses ``causal_attention``.

    Used by ``CharTransformer`` (lecture 08).
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)  # queries, keys and values of all heads in one matmul
        self.proj = nn.Linear(n_embd, n_embd)
        self.resid_drop = nn.Dropout(dropout)
        self.from_scratch = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        # [B, T, 3C] -> three [B, n_head, T, C / n_head]: each head attends on its own slice
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.qkv(x).split(C, dim=2))
        if self.from_scratch:
            y = causal_attention(q, k, v)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                               dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_drop(self.proj(y))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + MLP(norm(x)).

    Used by ``CharTransformer`` (lecture 08).
    """

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd),
                                 nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))  # tokens exchange information
        return x + self.mlp(self.ln2(x))  # each token thinks on its own


class CharTransformer(nn.Module):
    """Token + position embeddings -> ``n_layer`` blocks -> layer norm -> linear head over the vocabulary.

    ``tie_weights=True`` makes the head share the token embedding's matrix, as nanoGPT (and GPT-2) do.

    Used in lectures 08 and 09.
    """

    def __init__(self, vocab_size: int, block_size: int = 128, n_layer: int = 4, n_head: int = 4,
                 n_embd: int = 128, dropout: float = 0.0, tie_weights: bool = False):
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("block_size", block_size), ("n_layer", n_layer),
                            ("n_head", n_head), ("n_embd", n_embd)]:
            check_int(name, value)
        if n_embd % n_head:
            raise ValueError(f"n_embd={n_embd} must be divisible by n_head={n_head} (each head gets n_embd // n_head)")
        if not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        self.config = dict(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=n_head,
                           n_embd=n_embd, dropout=dropout, tie_weights=bool(tie_weights))
        self.block_size = block_size
        self.embed = nn.Embedding(vocab_size, n_embd)  # named like CharRNN's, so train() checks the ids fit
        self.pos = nn.Embedding(block_size, n_embd)  # attention alone ignores order: positions must be given
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.apply(self._init)
        if tie_weights:  # one matrix reads tokens in and scores them out
            self.head.weight = self.embed.weight

    @staticmethod
    def _init(module):
        # GPT-2's small normal init keeps the residual stream from growing with depth
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def set_from_scratch(self, on: bool = True) -> CharTransformer:
        """Use the written-out ``causal_attention`` in every block instead of PyTorch's fused kernel."""
        for block in self.blocks:
            block.attn.from_scratch = on
        return self

    def forward(self, x: torch.Tensor, hidden=None):
        """``x``: LongTensor ``[B, T]`` with ``T <= block_size`` -> (logits ``[B, T, vocab_size]``, None)."""
        if x.dim() != 2 or x.dtype != torch.long:
            raise ValueError(f"CharTransformer expects a LongTensor [batch, time], got {x.dtype} {tuple(x.shape)}")
        T = x.shape[1]
        if T > self.block_size:
            raise ValueError(f"The input has {T} steps but block_size is {self.block_size}: the model has no position "
                             f"embedding beyond it. Use seq_len <= {self.block_size}, or a larger block_size.")
        h = self.drop(self.embed(x) + self.pos(torch.arange(T, device=x.device)))
        for block in self.blocks:
            h = block(h)
        return self.head(self.ln_f(h)), None  # None: no state to carry, unlike an RNN

    @torch.no_grad()
    def generate(self, ids: torch.Tensor, length: int, temperature: float = 1.0, seed: int | None = None):
        """Extend the 1-D ``ids`` by ``length`` sampled ids, each step reading the last ``block_size`` ids."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        device = self.head.weight.device
        out = ids.to(device).view(1, -1)
        for _ in range(length):
            logits, _ = self(out[:, -self.block_size:])  # the whole window again: no state to reuse
            probs = (logits[0, -1].float().cpu() / temperature).softmax(-1)
            out = torch.cat([out, torch.multinomial(probs, 1, generator=gen).to(device)[None]], dim=1)
        return out[0].cpu()


@torch.no_grad()
def sliding_window_losses(model, ids: torch.Tensor, context: int = 128, stride: int = 64,
                          batch_size: int = 64) -> torch.Tensor:
    """Cross-entropy of every scored character, ``[windows, stride]``: the window-by-window losses behind
    ``sliding_window_loss``, so two models scored on the same windows can be compared pairwise (lecture 08).

    Used in lecture 08.
    """
    check_int("context", context)
    check_int("stride", stride)
    if stride > context or len(ids) < context + 1:
        raise ValueError(f"need stride <= context and more than context={context} ids, got stride={stride} and "
                         f"{len(ids)} ids")
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    starts = torch.arange(0, len(ids) - context, stride)
    losses = []
    try:
        for chunk in starts.split(batch_size):
            rows = ids[chunk[:, None] + torch.arange(context + 1)].to(device)  # [B, context + 1]
            logits, _ = model(rows[:, :-1], None)
            losses.append(F.cross_entropy(logits[:, -stride:].reshape(-1, logits.shape[-1]).float(),
                                          rows[:, -stride:].reshape(-1), reduction="none").view(len(chunk), stride))
    finally:
        model.train(was_training)
    return torch.cat(losses).cpu()


def sliding_window_loss(model, ids: torch.Tensor, context: int = 128, stride: int = 64, batch_size: int = 64) -> float:
    """Mean cross-entropy (nats/char) where every scored character sees ``context - stride + 1`` to ``context``
    characters before it, the same characters for any model (lecture 08).

    Windows of ``context`` ids start every ``stride`` ids; each scores only its last ``stride`` predictions, and a
    recurrent model starts each window from a zero state. So an LSTM and a Transformer get exactly the same context.

    Used in lecture 08.
    """
    return sliding_window_losses(model, ids, context, stride, batch_size).double().mean().item()
