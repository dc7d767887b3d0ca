"""Sequence to sequence with attention (lecture 08): a date-list task, padded batches, models, decoding, metrics.

The task: a list of 1..``max_dates`` dates written by people in many formats ("3 March 1987; 12.04.2001")
becomes the ISO dates ("1987-03-03 2001-04-12"). The output grows with the input, which is what a
fixed-size context vector cannot keep up with. Calendar days are split into train/val/test pools,
so no held-out date appears in any training example, in any format.
"""
from __future__ import annotations

import hashlib
import math
import random
from datetime import date, timedelta

import torch
import torch.nn as nn
import torch.nn.functional as F

from helpers.checks import check_int
from helpers.padding import bucket_by_length, pad_batch  # pad_batch: lecture 08 imports it from here
from helpers.tasks import epoch_plan

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ("<pad>", "<s>", "</s>")
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


# Each style writes one date; numeric styles are day-first or year-first only, never the ambiguous m/d/y.
STYLES = {
    "d Month yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "Month d, yyyy": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "d Mon yyyy": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "Mon d yyyy": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    "Weekday, d Month yyyy": lambda d: f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}",
    "Wkd d Mon yyyy": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "the dth of Month, yyyy": lambda d: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",
    "dd.mm.yyyy": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "yyyy/mm/dd": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "d-Mon-yy": lambda d: f"{d.day}-{MONTHS[d.month - 1][:3]}-{d.year % 100:02d}",  # yy < 50 means 20yy
}
FIRST_DAY, LAST_DAY = date(1950, 1, 1), date(2049, 12, 31)


def write_date(d: date, style: str, case: str = "as is") -> str:
    """``d`` written in one of ``STYLES``, then ``case``: "as is", "lower" or "upper".

    Used by ``make_date_data`` (lecture 08).

    Used in the lab attention.
    """
    if style not in STYLES:
        raise ValueError(f"style must be one of {list(STYLES)}, got {style!r}")
    text = STYLES[style](d)
    return {"as is": text, "lower": text.lower(), "upper": text.upper()}[case]


def random_example(days: list[date], n_dates: int, rng: random.Random) -> tuple[str, str]:
    """One (source, target) pair: ``n_dates`` days from ``days``, each in a random style and case.

    Used by ``make_date_data`` (lecture 08).
    """
    picked = [rng.choice(days) for _ in range(n_dates)]
    styles = list(STYLES)
    src = "; ".join(write_date(d, rng.choice(styles), rng.choices(["as is", "lower", "upper"], [6, 2, 1])[0])
                    for d in picked)
    return src, " ".join(d.isoformat() for d in picked)


def make_date_data(n_train: int = 20000, n_val: int = 500, n_test: int = 1000, max_dates: int = 5,
                   seed: int = 0) -> dict:
    """Train/val/test lists of (source, target) pairs, each split drawing from its own pool of calendar days.

    Days 1950-2049 are shuffled and cut 80/10/10; the number of dates per example is uniform in
    ``1..max_dates``. The returned dict also holds the ``vocab`` and each split's ``days``.

    Used in lecture 08, and the lab attention.
    """
    for name, value in [("n_train", n_train), ("n_val", n_val), ("n_test", n_test), ("max_dates", max_dates)]:
        check_int(name, value)
    rng = random.Random(seed)
    days = [FIRST_DAY + timedelta(i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
    rng.shuffle(days)
    cut1, cut2 = int(0.8 * len(days)), int(0.9 * len(days))
    pools = {"train": days[:cut1], "val": days[cut1:cut2], "test": days[cut2:]}
    out = {"days": {k: set(v) for k, v in pools.items()}}
    for split, n in [("train", n_train), ("val", n_val), ("test", n_test)]:
        out[split] = [random_example(pools[split], rng.randint(1, max_dates), rng) for _ in range(n)]
    chars = sorted({c for split in ("train", "val", "test") for pair in out[split] for c in pair[0] + pair[1]})
    out["vocab"] = Seq2SeqVocab(chars)
    return out


class Seq2SeqVocab:
    """Characters with three special ids first: 0 padding, 1 start ``<s>``, 2 end ``</s>``.

    Used by ``make_date_data``, which returns one (lecture 08).

    Used in the lab attention.
    """

    def __init__(self, chars):
        chars = sorted(set(chars))
        self.itos = list(SPECIALS) + chars
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        """Ids of ``text``'s characters (no start or end id); unknown characters raise ValueError."""
        missing = sorted({c for c in text if c not in self.stoi or c in SPECIALS})
        if missing:
            raise ValueError(f"Characters {''.join(missing)!r} are not in the vocabulary; the model never saw them.")
        return [self.stoi[c] for c in text]

    def decode(self, ids) -> str:
        """Text of ``ids``, stopping at the first end id and skipping padding and start ids."""
        out = []
        for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids):
            if i == EOS:
                break
            if i > EOS:
                out.append(self.itos[i])
        return "".join(out)


def collate(pairs, vocab: Seq2SeqVocab) -> dict:
    """Padded tensors for (source, target) string pairs: ``src``, ``src_len``, ``tgt_in``, ``tgt_out``, ``tgt_mask``.

    ``tgt_in`` is ``<s> y`` (teacher forcing: the decoder reads the true previous character) and
    ``tgt_out`` is ``y </s>``; ``tgt_mask`` is True at real target positions, False at padding.

    Used in lecture 08.
    """
    src, src_len = pad_batch([vocab.encode(s) for s, _ in pairs])
    tgt = [vocab.encode(t) for _, t in pairs]
    tgt_in, _ = pad_batch([[BOS] + t for t in tgt])
    tgt_out, tgt_len = pad_batch([t + [EOS] for t in tgt])
    mask = torch.arange(tgt_out.shape[1])[None, :] < tgt_len[:, None]
    return dict(src=src, src_len=src_len, tgt_in=tgt_in, tgt_out=tgt_out, tgt_mask=mask)


def masked_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the real (mask True) target positions only; padding adds nothing.

    Used in lecture 08.
    """
    per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
    mask = mask.reshape(-1).float()
    return (per_token * mask).sum() / mask.sum()


def dot_attention(query, keys, values, mask=None):
    """Scaled dot-product attention from scratch: (context ``[B, Tq, dv]``, weights ``[B, Tq, S]``).

    ``query [B, Tq, d]``, ``keys [B, S, d]``, ``values [B, S, dv]``, ``mask [B, S]`` True at real source steps.

    Used in lecture 08.
    """
    scores = query @ keys.transpose(1, 2) / math.sqrt(query.shape[-1])  # [B, Tq, S]
    if mask is not None:
        scores = scores.masked_fill(~mask[:, None, :], float("-inf"))  # padding gets weight exactly 0
    weights = scores.softmax(dim=-1)
    return weights @ values, weights


class AdditiveAttention(nn.Module):
    """Bahdanau's score ``v^T tanh(W_q q + W_k k)``: a one-hidden-layer network judges each (query, key) pair.

    Used in lecture 08.
    """

    def __init__(self, query_size: int, key_size: int, attn_size: int):
        super().__init__()
        self.W_q = nn.Linear(query_size, attn_size, bias=False)
        self.W_k = nn.Linear(key_size, attn_size, bias=False)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def forward(self, query, keys, values, mask=None):
        # broadcast [B, Tq, 1, A] + [B, 1, S, A]: every query step against every source step
        scores = self.v(torch.tanh(self.W_q(query)[:, :, None] + self.W_k(keys)[:, None])).squeeze(-1)
        if mask is not None:
            scores = scores.masked_fill(~mask[:, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)
        return weights @ values, weights


class DotAttention(nn.Module):
    """Luong's "general" score ``q^T W k``, scaled by sqrt(d): one projection, then ``dot_attention``.

    Used by ``Seq2Seq(attention="dot")`` (lecture 08).
    """

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.W_q = nn.Linear(query_size, key_size, bias=False)  # brings the query into the keys' space

    def forward(self, query, keys, values, mask=None):
        return dot_attention(self.W_q(query), keys, values, mask)


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x [B, T, ...]`` within its own length; the padding stays at the end.

    Used by ``Encoder`` (lecture 08).
    """
    t = torch.arange(x.shape[1], device=x.device)[None]
    n = lengths.to(x.device)[:, None]
    index = torch.where(t < n, n - 1 - t, t)  # [B, T]; applying it twice gives the identity
    return x.gather(1, index.view(*index.shape, *[1] * (x.dim() - 2)).expand_as(x))


class Encoder(nn.Module):
    """Embedding -> GRU, or two GRUs reading opposite ways: outputs ``[B, S, D*H]`` and final state ``[B, D*H]``.

    The backward GRU reads each source reversed within its length, so padding comes after the real
    characters in both directions and never enters the states at real positions: the same result as
    ``nn.GRU(bidirectional=True)`` on a packed batch, and faster on a CPU.

    Used in lecture 08.
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, bidirectional: bool = True):
        super().__init__()
        self.bidirectional = bidirectional
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.rnn = nn.GRU(embed_dim, hidden_size, batch_first=True)
        self.rnn_reverse = nn.GRU(embed_dim, hidden_size, batch_first=True) if bidirectional else None

    def forward(self, src, src_len):
        x = self.embed(src)
        last = (src_len.to(src.device) - 1)[:, None, None]  # each source's last real step
        out = self.rnn(x)[0]
        final = out.gather(1, last.expand(-1, 1, out.shape[-1]))[:, 0]
        if self.bidirectional:
            out_rev = self.rnn_reverse(reverse_padded(x, src_len))[0]
            final = torch.cat([final, out_rev.gather(1, last.expand(-1, 1, out_rev.shape[-1]))[:, 0]], dim=-1)
            out = torch.cat([out, reverse_padded(out_rev, src_len)], dim=-1)  # step t: left context and right context
        return out, final


class Decoder(nn.Module):
    """GRU over the target so far; with attention, each output step also reads a weighted sum of encoder outputs.

    Luong's layout: attention sits on top of the GRU's output, so teacher-forced training runs all
    target steps in one GRU call. ``attention=None`` is the plain encoder-decoder (Cho et al., 2014): the
    memory is one context vector ``[B, 1, D*H]``, given to the GRU as its first state and with every input.

    Used by ``Seq2Seq`` (lecture 08).
    """

    def __init__(self, vocab_size: int, embed_dim: int, hidden_size: int, enc_size: int, attention: str | None,
                 attn_size: int = 32):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        inputs = embed_dim + (enc_size if attention is None else 0)
        self.rnn = nn.GRU(inputs, hidden_size, batch_first=True)  # one direction: the future is not written yet
        self.attention = {None: None, "additive": lambda: AdditiveAttention(hidden_size, enc_size, attn_size),
                          "dot": lambda: DotAttention(hidden_size, enc_size)}[attention]
        if self.attention is not None:
            self.attention = self.attention()
            self.combine = nn.Linear(hidden_size + enc_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, y_in, hidden, enc_out, src_mask):
        """``y_in [B, T]`` -> (logits ``[B, T, V]``, new hidden, attention weights ``[B, T, S]`` or None)."""
        x = self.embed(y_in)
        if self.attention is None:  # the same context vector at every step
            x = torch.cat([x, enc_out.expand(-1, x.shape[1], -1)], dim=-1)
        out, hidden = self.rnn(x, hidden)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(out, enc_out, enc_out, src_mask)
            out = torch.tanh(self.combine(torch.cat([out, context], dim=-1)))
        return self.head(out), hidden, weights


ATTENTIONS = (None, "additive", "dot")


class Seq2Seq(nn.Module):
    """Encoder -> (bridge to the decoder's first state) -> decoder, with ``attention`` None, "additive" or "dot".

    Used in lecture 08, and the lab attention.
    """

    def __init__(self, vocab_size: int, embed_dim: int = 32, hidden_size: int = 64, attention: str | None = "additive",
                 bidirectional: bool = True, attn_size: int = 32):
        super().__init__()
        for name, value in [("vocab_size", vocab_size), ("embed_dim", embed_dim), ("hidden_size", hidden_size),
                            ("attn_size", attn_size)]:
            check_int(name, value)
        if attention not in ATTENTIONS:
            raise ValueError(f"attention must be None, 'additive' or 'dot', got {attention!r}")
        self.config = dict(vocab_size=vocab_size, embed_dim=embed_dim, hidden_size=hidden_size, attention=attention,
                           bidirectional=bool(bidirectional), attn_size=attn_size)
        enc_size = hidden_size * (2 if bidirectional else 1)
        self.encoder = Encoder(vocab_size, embed_dim, hidden_size, bool(bidirectional))
        self.bridge = nn.Linear(enc_size, hidden_size)  # the fixed-size context vector becomes the first state
        self.decoder = Decoder(vocab_size, embed_dim, hidden_size, enc_size, attention, attn_size)

    def encode(self, src, src_len):
        """(memory the decoder reads ``[B, S, D*H]``, its first state ``[1, B, H]``, memory mask ``[B, S]``).

        Without attention the memory is only the context vector, ``[B, 1, D*H]``: that is the bottleneck.
        """
        enc_out, final = self.encoder(src, src_len)
        hidden = torch.tanh(self.bridge(final))[None]
        if self.decoder.attention is None:
            return final[:, None], hidden, torch.ones(src.shape[0], 1, dtype=torch.bool, device=src.device)
        mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_len.to(src.device)[:, None]
        return enc_out, hidden, mask

    def forward(self, src, src_len, tgt_in):
        """Teacher-forced logits ``[B, T, V]`` and attention weights (or None)."""
        if src.dim() != 2 or src.dtype != torch.long:
            raise ValueError(f"src must be a padded LongTensor [batch, time], got {src.dtype} {tuple(src.shape)}")
        enc_out, hidden, mask = self.encode(src, src_len)
        logits, _, weights = self.decoder(tgt_in, hidden, enc_out, mask)
        return logits, weights


@torch.no_grad()
def greedy_decode(model: Seq2Seq, src, src_len, max_len: int = 80):
    """Feed back the most likely character each step: (id lists without ``</s>``, weights ``[B, T, S]`` or None).

    Used in lecture 08, and the lab attention.
    """
    enc_out, hidden, mask = model.encode(src, src_len)
    token = torch.full((src.shape[0], 1), BOS, dtype=torch.long, device=src.device)
    steps, weights, done = [], [], torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        logits, hidden, w = model.decoder(token, hidden, enc_out, mask)
        token = logits[:, -1].argmax(dim=-1, keepdim=True)  # the model's own output becomes the next input
        steps.append(token)
        weights.append(w)
        done |= token[:, 0] == EOS
        if done.all():
            break
    ids = torch.cat(steps, dim=1).tolist()
    out = [row[: row.index(EOS)] if EOS in row else row for row in ids]
    return out, (torch.cat(weights, dim=1) if weights[0] is not None else None)


@torch.no_grad()
def beam_search(model: Seq2Seq, src_ids, beam_width: int = 5, max_len: int = 80, length_penalty: float = 1.0):
    """Best output ids for one source (list of ids), keeping ``beam_width`` hypotheses per step.

    A finished hypothesis is scored by its log-probability divided by ``length ** length_penalty``
    (length counts ``</s>``); 0 ranks by raw log-probability, which favours short outputs.
    The search stops once ``beam_width`` hypotheses have finished. Width 1 is greedy decoding.

    Used in lecture 08.
    """
    check_int("beam_width", beam_width)
    device = next(model.parameters()).device
    src = torch.as_tensor(src_ids, dtype=torch.long, device=device)[None]
    enc_out, hidden, mask = model.encode(src, torch.tensor([src.shape[1]]))
    seqs, scores = [[]], torch.zeros(1, device=device)  # alive hypotheses and their summed log-probabilities
    finished = []  # (normalised score, ids)
    for _ in range(max_len):
        k = len(seqs)
        last = torch.tensor([[s[-1] if s else BOS] for s in seqs], device=device)
        logits, hidden, _ = model.decoder(last, hidden, enc_out.expand(k, -1, -1), mask.expand(k, -1))
        total = (scores[:, None] + logits[:, -1].float().log_softmax(dim=-1)).flatten()
        top = total.topk(min(2 * beam_width, total.numel()))  # enough that beam_width can stay alive
        rows, new_seqs, new_scores = [], [], []
        for score, flat in zip(top.values.tolist(), top.indices.tolist()):
            row, token = divmod(flat, logits.shape[-1])
            if token == EOS:
                finished.append((score / (len(seqs[row]) + 1) ** length_penalty, seqs[row]))
                if len(finished) >= beam_width:
                    break
            else:
                rows.append(row)
                new_seqs.append(seqs[row] + [token])
                new_scores.append(score)
                if len(new_seqs) == beam_width:
                    break
        if len(finished) >= beam_width or not new_seqs:
            break
        seqs, scores = new_seqs, torch.tensor(new_scores, device=device)
        hidden = hidden[:, torch.tensor(rows, device=device)]
    if not finished:  # nothing ended within max_len: return the best unfinished one
        return seqs[0]
    return max(finished, key=lambda f: f[0])[1]


def exact_match(predictions, references) -> float:
    """Fraction of outputs equal to the reference string.

    Used in lecture 08, and the lab attention.
    """
    if len(predictions) != len(references) or not references:
        raise ValueError(f"need as many predictions as references (got {len(predictions)} and {len(references)})")
    return sum(p == r for p, r in zip(predictions, references)) / len(references)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions turning ``a`` into ``b``.

    Used by ``char_error_rate`` (lecture 08).
    """
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def char_error_rate(predictions, references) -> float:
    """Total edit distance over total reference characters (the usual CER).

    Used in lecture 08.
    """
    if len(predictions) != len(references) or not references:
        raise ValueError(f"need as many predictions as references (got {len(predictions)} and {len(references)})")
    return sum(edit_distance(p, r) for p, r in zip(predictions, references)) / sum(len(r) for r in references)


@torch.no_grad()
def translate(model: Seq2Seq, sources, vocab: Seq2SeqVocab, batch_size: int = 256, max_len: int = 80) -> list[str]:
    """Greedy outputs for a list of source strings, in order.

    Used in lecture 08, and the lab attention.
    """
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(sources), batch_size):
        src, src_len = pad_batch([vocab.encode(s) for s in sources[start: start + batch_size]])
        ids, _ = greedy_decode(model, src.to(device), src_len, max_len)
        out += [vocab.decode(i) for i in ids]
    return out


class Seq2SeqTask:
    """(source, target) string pairs for ``helpers.train``: bucketed padded batches, masked loss, exact match.

    ``evaluate`` reports ``val_loss`` (masked cross-entropy per target character, teacher-forced) and
    ``val_acc``: the exact match of greedy decoding, i.e. what the model gets right on its own.

    Used in lecture 08, and the lab attention.
    """

    kind = "seq2seq"
    carries_state = False

    def __init__(self, train_pairs, val_pairs, vocab: Seq2SeqVocab, batch_size: int = 64):
        check_int("batch_size", batch_size)
        if not train_pairs or not val_pairs:
            raise ValueError("train_pairs and val_pairs must be non-empty lists of (source, target) strings")
        self.train_pairs, self.val_pairs = list(train_pairs), list(val_pairs)
        self.vocab, self.batch_size = vocab, batch_size
        self.src_len = torch.tensor([len(s) for s, _ in self.train_pairs])
        self.batches_per_epoch = math.ceil(len(self.train_pairs) / batch_size)
        self.max_id = len(vocab) - 1
        self.max_len = max(len(t) for _, t in self.train_pairs + self.val_pairs) + 5

    def __repr__(self) -> str:
        return (f"Seq2SeqTask({len(self.train_pairs):,} train / {len(self.val_pairs):,} val pairs, "
                f"batch_size={self.batch_size}, {self.batches_per_epoch} batches/epoch)")

    def signature(self) -> dict:
        """What a checkpoint must agree on to be resumed with this task."""
        # the same data, not just the same sizes
        digest = hashlib.sha1(repr((self.train_pairs, self.val_pairs)).encode()).hexdigest()[:12]
        return dict(kind=self.kind, batch_size=self.batch_size, train_len=len(self.train_pairs),
                    val_len=len(self.val_pairs), vocab=len(self.vocab), data=digest)

    def batch(self, epoch: int, k: int, seed: int, device):
        """Batch ``k`` of ``epoch``: similar source lengths together (little padding), set by (seed, epoch, k)."""
        plan = epoch_plan(self, epoch, seed, lambda g: bucket_by_length(self.src_len, self.batch_size, g))
        b = collate([self.train_pairs[i] for i in plan[k]], self.vocab)
        return {name: (t if name == "src_len" else t.to(device)) for name, t in b.items()}

    def loss(self, model, batch, hidden=None):
        """(masked mean cross-entropy per target character, None, target characters in the batch)."""
        logits, _ = model(batch["src"], batch["src_len"], batch["tgt_in"])
        return masked_cross_entropy(logits, batch["tgt_out"], batch["tgt_mask"]), None, int(batch["tgt_mask"].sum())

    @torch.no_grad()
    def evaluate(self, model, max_batches: int | None = None) -> dict:
        """``val_loss`` (teacher-forced, masked) and ``val_acc`` (greedy exact match) on the validation pairs."""
        device = next(model.parameters()).device
        pairs = self.val_pairs[: max_batches * self.batch_size] if max_batches else self.val_pairs
        total, count, hits = 0.0, 0, 0
        for start in range(0, len(pairs), 256):
            chunk = pairs[start: start + 256]
            b = collate(chunk, self.vocab)
            logits, _ = model(b["src"].to(device), b["src_len"], b["tgt_in"].to(device))
            n = int(b["tgt_mask"].sum())
            total += masked_cross_entropy(logits, b["tgt_out"].to(device), b["tgt_mask"].to(device)).item() * n
            count += n
            ids, _ = greedy_decode(model, b["src"].to(device), b["src_len"], self.max_len)
            hits += sum(self.vocab.decode(i) == t for i, (_, t) in zip(ids, chunk))
        return {"val_loss": total / count, "val_acc": hits / len(pairs)}


# --- lecture 08: scoring whole outputs, exposure bias and scheduled sampling -------------------

@torch.no_grad()
def sequence_log_prob(model: Seq2Seq, sources, outputs, vocab: Seq2SeqVocab, batch_size: int = 256) -> list[float]:
    """log p(output + ``</s>`` | source) under ``model`` for each (source, output) string pair: what beam search
    maximises.

    Used in lecture 08.
    """
    device = next(model.parameters()).device
    scores = []
    for start in range(0, len(sources), batch_size):
        b = collate(list(zip(sources[start: start + batch_size], outputs[start: start + batch_size])), vocab)
        logits, _ = model(b["src"].to(device), b["src_len"], b["tgt_in"].to(device))
        logp = logits.float().log_softmax(-1).gather(-1, b["tgt_out"].to(device)[..., None])[..., 0]
        scores += (logp * b["tgt_mask"].to(device)).sum(1).tolist()
    return scores


@torch.no_grad()
def accuracy_by_position(model: Seq2Seq, pairs, vocab: Seq2SeqVocab) -> tuple[list[float], list[float]]:
    """Character accuracy at each output position, reading the true prefix (teacher forcing) and its own (greedy).

    The gap between the two is exposure bias: at inference the model reads its own earlier mistakes, which
    training with teacher forcing never showed it.

    Used in lecture 08.
    """
    device = next(model.parameters()).device
    b = collate(pairs, vocab)
    logits, _ = model(b["src"].to(device), b["src_len"], b["tgt_in"].to(device))
    forced = (logits.argmax(-1).cpu() == b["tgt_out"]) & b["tgt_mask"]
    T = b["tgt_out"].shape[1]
    own_ids = torch.full((len(pairs), T), -1, dtype=torch.long)
    for i, ids in enumerate(greedy_decode(model, b["src"].to(device), b["src_len"], max_len=T)[0]):
        ids = (ids + [EOS])[:T]  # its own output and its own end mark, as the target has
        own_ids[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    free = (own_ids == b["tgt_out"]) & b["tgt_mask"]
    count = b["tgt_mask"].sum(0).clamp(min=1)
    return (forced.sum(0) / count).tolist(), (free.sum(0) / count).tolist()


class ScheduledSamplingTask(Seq2SeqTask):
    """``Seq2SeqTask`` whose decoder reads its own prediction instead of the true previous character with
    probability ``sampling_prob`` (scheduled sampling, Bengio et al. 2015, in its parallel form: Duckworth et al.
    2019). A first teacher-forced pass without gradients gives the predictions; a second pass trains on the mix.

    Used in lecture 08.
    """

    def __init__(self, train_pairs, val_pairs, vocab: Seq2SeqVocab, batch_size: int = 64, sampling_prob: float = 0.25):
        super().__init__(train_pairs, val_pairs, vocab, batch_size)
        if not 0.0 <= sampling_prob <= 1.0:
            raise ValueError(f"sampling_prob must be between 0 and 1, got {sampling_prob!r}")
        self.sampling_prob = sampling_prob

    def __repr__(self) -> str:
        return f"ScheduledSamplingTask({super().__repr__().split('(', 1)[1][:-1]}, sampling_prob={self.sampling_prob})"

    def signature(self) -> dict:
        return dict(super().signature(), sampling_prob=self.sampling_prob)

    def loss(self, model, batch, hidden=None):
        with torch.no_grad():
            logits, _ = model(batch["src"], batch["src_len"], batch["tgt_in"])
        own = logits.argmax(-1)[:, :-1]  # the prediction at step t becomes the input of step t + 1
        swap = (torch.rand(own.shape, device=own.device) < self.sampling_prob) & batch["tgt_mask"][:, 1:]
        tgt_in = batch["tgt_in"].clone()
        tgt_in[:, 1:] = torch.where(swap, own, tgt_in[:, 1:])
        return super().loss(model, dict(batch, tgt_in=tgt_in))
