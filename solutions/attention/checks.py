"""The attention lab's hidden checks (grading.spec): run by the grader's judge, never released.

Parts A and B: the student's attention on query/key/value sizes, padding and causal masks drawn per
submission, against ``F.scaled_dot_product_attention`` and the instructor's additive score. Parts C and
D: greedy decoding and beam search on a toy model whose log-probabilities (a table by position and
previous id) the judge draws, against the instructor's search; draws whose answer hangs on a near tie
are redrawn. Part E: the submitted checkpoint, loaded with ``weights_only=True`` into helpers.seq2seq's
``Seq2Seq`` (the model the lab trains) and measured on 300 fresh dates drawn from the course secret, in
this process; no student code runs for it. Full mode asks for 0.95 exact match (greedy decoding); fast
mode, as Sherlock's fast checkpoints, asks only that the barely trained model beats the target
characters' own frequencies in nats per character. A history that claims an exact match its own
weights are far from is flagged.
"""
from __future__ import annotations

import math

from grading.spec import (
    Check, Fail, checkpoint_folder, close, dotted_names_reachable, expect, handed_in, load_checkpoint, tensor, value)


# --- source rules, read from the submitted notebook (as data) -------------------------------------------------

LIBRARY = {"scaled_dot_product_attention", "MultiheadAttention", "multi_head_attention_forward", "dot_attention",
           "causal_attention", "AdditiveAttention", "DotAttention", "_scaled_dot_product_attention_math"}


def _own_attention(ctx, name: str, part: str) -> None:
    """The attention is the student's: no library attention reached from ``name`` (attribute chains and imports)."""
    used = dotted_names_reachable(ctx.code, name)
    if used is None:
        raise Fail(f"{name}: not defined in the notebook ({part})")
    found = sorted({chain.split(".")[-1] for chain in used if "." in chain and chain.split(".")[-1] in LIBRARY})
    expect(not found, f"{name} uses {', '.join(found)}: compute the scores and the softmax yourself ({part})")


def _reference(scores, values, mask):
    """softmax over the last axis with masked scores at -inf, then the weighted sum of values."""
    import torch

    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    return weights @ values, weights


def _lengths_mask(gen, batch, steps, shape_prefix=()):
    """A padding mask [batch, *shape_prefix, 1, steps]: True at each sequence's first len (>= 1) steps."""
    import torch

    lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
    lengths[0] = steps  # one full-length sequence, as a padded batch has
    mask = torch.arange(steps)[None, :] < lengths[:, None]
    return mask.view(batch, *([1] * len(shape_prefix)), 1, steps)


# --- Part A: attention -----------------------------------------------------------------------------------------

def draw_attention_padding(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    cases = []
    for lead, masked in [((r.randint(2, 4),), False), ((r.randint(2, 5),), True), ((r.randint(2, 3), r.randint(2, 4)), True)]:
        tq, s, d, dv = r.randint(1, 7), r.randint(2, 9), r.choice([4, 8, 16, 32]), r.randint(2, 6)
        scale = r.uniform(0.5, 2.0)
        case = {"query": scale * torch.randn(*lead, tq, d, generator=gen), "keys": torch.randn(*lead, s, d, generator=gen),
                "values": torch.randn(*lead, s, dv, generator=gen), "mask": None}
        if masked:
            case["mask"] = _lengths_mask(gen, lead[0], s, lead[1:])
        cases.append(case)
    return {"cases": cases}


def draw_attention_causal(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    cases = []
    for combined in (False, True, True):
        b, t, d, dv = r.randint(1, 4), r.randint(2, 9), r.choice([4, 8, 16]), r.randint(2, 6)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        mask = causal
        if combined:  # causal and padding together: a query may see earlier real steps only
            mask = causal[None] & _lengths_mask(gen, b, t)  # step 0 is real in every sequence: no empty row
        cases.append({"query": torch.randn(b, t, d, generator=gen), "keys": torch.randn(b, t, d, generator=gen),
                      "values": torch.randn(b, t, dv, generator=gen), "mask": mask})
    return {"cases": cases}


def ask_attention(nb, inputs):
    out = []
    for case in inputs["cases"]:
        mask = case["mask"].clone() if case["mask"] is not None else None
        out.append(attempt(nb.attention, case["query"].clone(), case["keys"].clone(), case["values"].clone(), mask))
    return out


def _judge_attention(inputs, answer, ctx, what: str):
    import torch
    import torch.nn.functional as F

    _own_attention(ctx, "attention", "Part A")
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "attention"))):
        q, k, v, mask = case["query"], case["keys"], case["values"], case["mask"]
        desc = (f"attention, {what} (case {n + 1}: query {tuple(q.shape)}, keys {tuple(k.shape)}, values "
                f"{tuple(v.shape)}, mask {tuple(mask.shape) if mask is not None else None})")
        got = value(got, desc)
        expect(isinstance(got, (tuple, list)) and len(got) == 2, f"{desc}: should return (context, weights)")
        want = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        _, weights = _reference(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), v, mask)
        close(got[0], want, f"{desc}: context, against F.scaled_dot_product_attention", atol=1e-5)
        close(got[1], weights, f"{desc}: weights", atol=1e-5)
        if mask is not None:
            masked = tensor(got[1], f"{desc}: weights")[~mask.expand_as(weights)]
            expect(bool((masked == 0).all()), f"{desc}: masked positions must get weight exactly 0")


def judge_attention_padding(inputs, answer, ctx):
    _judge_attention(inputs, answer, ctx, "no mask and padding masks")


def judge_attention_causal(inputs, answer, ctx):
    _judge_attention(inputs, answer, ctx, "causal masks, alone and with padding")


# --- Part B: AdditiveAttention -------------------------------------------------------------------------------

def draw_additive(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    cases = []
    for masked in (False, True, True):
        b, tq, s = r.randint(1, 4), r.randint(1, 6), r.randint(2, 9)
        qs, ks, a, dv = r.randint(2, 12), r.randint(2, 12), r.randint(2, 10), r.randint(2, 6)
        state = {"W_q.weight": torch.randn(a, qs, generator=gen) / math.sqrt(qs),
                 "W_k.weight": torch.randn(a, ks, generator=gen) / math.sqrt(ks),
                 "v.weight": torch.randn(1, a, generator=gen)}
        cases.append({"sizes": [qs, ks, a], "state": state, "query": torch.randn(b, tq, qs, generator=gen),
                      "keys": torch.randn(b, s, ks, generator=gen), "values": torch.randn(b, s, dv, generator=gen),
                      "mask": _lengths_mask(gen, b, s) if masked else None})
    return {"cases": cases, "shape_sizes": [r.randint(3, 9), r.randint(3, 9), r.randint(2, 7)]}


def ask_additive_shapes(nb, inputs):
    qs, ks, a = inputs["shape_sizes"]
    att = attempt(nb.AdditiveAttention, qs, ks, a)
    if isinstance(att, (Missing, Raised)):
        return att
    return attempt(lambda: {name: list(t.shape) for name, t in att.state_dict().items()})


def ask_additive(nb, inputs):
    out = []
    for case in inputs["cases"]:
        def run(case=case):
            import torch

            att = nb.AdditiveAttention(*case["sizes"])
            att.load_state_dict({k: v.clone() for k, v in case["state"].items()})
            mask = case["mask"].clone() if case["mask"] is not None else None
            with torch.no_grad():
                return att(case["query"].clone(), case["keys"].clone(), case["values"].clone(), mask)
        out.append(attempt(run))
    return out


def judge_additive_shapes(inputs, answer, ctx):
    _own_attention(ctx, "AdditiveAttention", "Part B")
    qs, ks, a = inputs["shape_sizes"]
    what = f"AdditiveAttention({qs}, {ks}, {a})"
    shapes = value(answer, what)
    expect(isinstance(shapes, dict), f"{what}: its state_dict could not be read")
    want = {"W_q.weight": [a, qs], "W_k.weight": [a, ks], "v.weight": [1, a]}
    expect(shapes == want, f"{what}: parameters {sorted(shapes)} with shapes {[shapes[k] for k in sorted(shapes)]}; "
                           "expected W_q.weight [attn_size, query_size], W_k.weight [attn_size, key_size], "
                           "v.weight [1, attn_size] (three nn.Linear without bias)")


def judge_additive(inputs, answer, ctx):
    import torch

    _own_attention(ctx, "AdditiveAttention", "Part B")
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "AdditiveAttention"))):
        q, k, v, mask, st = case["query"], case["keys"], case["values"], case["mask"], case["state"]
        desc = (f"AdditiveAttention{tuple(case['sizes'])} with drawn weights (case {n + 1}: query {tuple(q.shape)}, "
                f"keys {tuple(k.shape)}, mask {tuple(mask.shape) if mask is not None else None})")
        got = value(got, desc)
        expect(isinstance(got, (tuple, list)) and len(got) == 2, f"{desc}: forward should return (context, weights)")
        scores = (torch.tanh((q @ st["W_q.weight"].T)[..., :, None, :] + (k @ st["W_k.weight"].T)[..., None, :, :])
                  @ st["v.weight"].T).squeeze(-1)
        context, weights = _reference(scores, v, mask)
        close(got[0], context, f"{desc}: context", atol=1e-5)
        close(got[1], weights, f"{desc}: weights", atol=1e-5)


# --- Parts C and D: greedy and beam search on a toy model -----------------------------------------------------

PAD, BOS, EOS = 0, 1, 2  # helpers.seq2seq's ids; a toy model never writes PAD or BOS


def _table_lm():
    """The notebook's TableLM, for the kernel's questions and the judge (a class is shipped inside a function)."""

    class TableLM:
        """A toy model: log-probabilities of the next id by position and previous id."""

        BOS = 1  # helpers.seq2seq's start id: the "previous id" of the first step

        def __init__(self, log_probs):
            self.log_probs = log_probs  # [positions, vocab_size (previous id), vocab_size (next id)]

        def __call__(self, prefix):
            t = len(prefix)
            previous = int(prefix[-1]) if t else self.BOS
            return self.log_probs[min(t, self.log_probs.shape[0] - 1), previous].clone()

    return TableLM


def _table(gen, vocab_size: int, positions: int, sharpness: float, eos_bias: float):
    import torch

    logits = sharpness * torch.randn(positions, vocab_size, vocab_size, generator=gen, dtype=torch.float64)
    logits[..., EOS] += eos_bias
    logits[..., PAD] = float("-inf")
    logits[..., BOS] = float("-inf")
    return logits.log_softmax(dim=-1)


def _greedy(table, max_len):
    model, tokens, score = _table_lm()(table), [], 0.0
    for _ in range(max_len):
        lp = model(tokens)
        best = int(lp.argmax())
        score += float(lp[best])
        if best == EOS:
            break
        tokens.append(best)
    return tokens, score


def _beam(table, beam_width, max_len, alpha):
    """The lab's beam search; also the smallest margin of any decision it took (for redrawing near ties)."""
    model, beam, finished, margin = _table_lm()(table), [([], 0.0)], [], math.inf
    for _ in range(max_len):
        candidates = [(tokens + [w], score + float(lp[w])) for tokens, score in beam
                      for lp in [model(tokens)] for w in range(lp.shape[0]) if math.isfinite(float(lp[w]))]
        candidates.sort(key=lambda c: -c[1])
        if len(candidates) > beam_width:
            margin = min(margin, candidates[beam_width - 1][1] - candidates[beam_width][1])
        beam = []
        for tokens, score in candidates[:beam_width]:
            if tokens[-1] == EOS:
                finished.append((tokens[:-1], score / len(tokens) ** alpha))
            else:
                beam.append((tokens, score))
        if not beam:
            break
    finished += [(tokens, score / len(tokens) ** alpha) for tokens, score in beam]  # cut off at max_len
    finished.sort(key=lambda f: -f[1])
    if len(finished) > 1:
        margin = min(margin, finished[0][1] - finished[1][1])
    return finished[0][0], finished[0][1], margin


def _draw_tables(ctx, count: int, widths, alphas, need_change: bool = False):
    """Toy models and settings whose beam-search answer has no decision within 1e-3 of a tie."""
    import torch

    r, gen = ctx.random, ctx.generator()
    cases, tries = [], 0
    while len(cases) < count:
        tries += 1
        vocab_size, max_len = r.randint(6, 9), r.randint(4, 8)
        width, alpha = r.choice(widths), r.choice(alphas)
        table = _table(gen, vocab_size, max_len + 1, r.uniform(0.8, 2.0), r.uniform(-1.5, 0.5))
        tokens, _, margin = _beam(table, width, max_len, alpha)
        if margin < 1e-3 and tries < 1000:
            continue
        if need_change and tries < 1000 and tokens == _beam(table, width, max_len, 0.0)[0]:
            continue  # keep the cases where length normalisation changes the answer
        cases.append({"table": table, "beam_width": width, "max_len": max_len, "alpha": alpha})
    return cases


def draw_greedy(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    cases = []
    for _ in range(5):
        vocab_size, max_len = r.randint(5, 9), r.randint(3, 10)
        cases.append({"table": _table(gen, vocab_size, max_len + 1, r.uniform(1.0, 3.0), r.uniform(-2.0, 0.5)),
                      "max_len": max_len})
    never = _table(gen, 6, 6, 2.0, 0.0)
    never[..., EOS] = -30.0  # EOS never wins: greedy must stop at max_len
    cases.append({"table": never.log_softmax(dim=-1), "max_len": 5})
    return {"cases": cases}


def ask_greedy(nb, inputs):
    TableLM = _table_lm()
    return [attempt(nb.greedy, TableLM(case["table"].clone()), case["max_len"]) for case in inputs["cases"]]


def _decoded(got, desc):
    got = value(got, desc)
    expect(isinstance(got, (tuple, list)) and len(got) == 2, f"{desc}: should return (tokens, score)")
    tokens, score = got
    if hasattr(tokens, "tolist"):  # a tensor of ids is as good as a list
        tokens = tokens.tolist()
    if isinstance(tokens, (list, tuple)):  # so are one-element tensors of ids (argmax() kept as it came)
        import torch

        tokens = [t.item() if isinstance(t, torch.Tensor) and not t.is_floating_point() and t.numel() == 1 else t
                  for t in tokens]
    expect(isinstance(tokens, list) and all(type(t) is int for t in tokens), f"{desc}: tokens should be a list of ints")
    if hasattr(score, "item") and getattr(score, "numel", lambda: 0)() == 1:
        score = score.item()
    expect(isinstance(score, float), f"{desc}: score should be a float")
    return tokens, score


def judge_greedy(inputs, answer, ctx):
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "greedy"))):
        table = case["table"]
        desc = f"greedy on a toy model with {table.shape[-1]} ids, max_len {case['max_len']} (case {n + 1})"
        tokens, score = _decoded(got, desc)
        want, want_score = _greedy(table, case["max_len"])
        expect(tokens == want, f"{desc}: {len(tokens)} tokens, {_first_difference(tokens, want)}")
        expect(abs(score - want_score) < 1e-5, f"{desc}: score {score:.5f}, expected {want_score:.5f} (the sum of "
                                               "the chosen ids' log-probabilities, </s> included when chosen)")


def _first_difference(got, want) -> str:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"first differs at position {i} (expected {len(want)} tokens)"
    return f"expected {len(want)} tokens" if len(got) != len(want) else "the same tokens"


def draw_beam_raw(ctx):
    cases = _draw_tables(ctx, 4, widths=[2, 3, 4], alphas=[0.0])
    cases.append(_draw_tables(ctx, 1, widths=[1], alphas=[0.0])[0])  # width 1 is greedy
    return {"cases": cases}


def draw_beam_normalised(ctx):
    return {"cases": _draw_tables(ctx, 3, widths=[2, 3, 4], alphas=[0.7, 1.0], need_change=True)
            + _draw_tables(ctx, 1, widths=[3], alphas=[1.0])}


def ask_beam(nb, inputs):
    TableLM = _table_lm()
    return [attempt(nb.beam_search, TableLM(c["table"].clone()), c["beam_width"], c["max_len"], c["alpha"])
            for c in inputs["cases"]]


def _judge_beam(inputs, answer, ctx, what: str):
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "beam_search"))):
        table = case["table"]
        desc = (f"beam_search on a toy model with {table.shape[-1]} ids, beam_width {case['beam_width']}, max_len "
                f"{case['max_len']}, alpha {case['alpha']:g} ({what}, case {n + 1})")
        tokens, score = _decoded(got, desc)
        want, want_score, _ = _beam(table, case["beam_width"], case["max_len"], case["alpha"])
        expect(tokens == want, f"{desc}: {len(tokens)} tokens, {_first_difference(tokens, want)}")
        expect(abs(score - want_score) < 1e-5, f"{desc}: score {score:.5f}, expected {want_score:.5f}")


def judge_beam_raw(inputs, answer, ctx):
    _judge_beam(inputs, answer, ctx, "no length normalisation")


def judge_beam_normalised(inputs, answer, ctx):
    _judge_beam(inputs, answer, ctx, "with length normalisation")


# --- Part E: the submitted checkpoint, re-measured on fresh dates ---------------------------------------------

FULL_TARGET = 0.95  # exact match on fresh dates, full mode (what the lab asks)
FLAG_GAP = 0.3  # claimed minus measured exact match that no honest checkpoint shows
FRESH = 300  # fresh (source, target) pairs drawn per submission
MAX_DATES = 2  # dates per source, as the lab trains
LIMITS = {"embed_dim": 256, "hidden_size": 512, "attn_size": 256}
CONFIG_KEYS = {"vocab_size", "embed_dim", "hidden_size", "attention", "bidirectional", "attn_size"}


def date_characters():
    """Every character a source or target of helpers.seq2seq's date task can hold (the notebook's setup cell)."""
    from datetime import date, timedelta

    from helpers.seq2seq import STYLES, write_date

    days = [date(2000, 1, 1) + timedelta(i) for i in range(366)]
    texts = [write_date(d, s, case) for d in days for s in STYLES for case in ("as is", "lower", "upper")]
    return sorted(set("".join(texts)) | set("0123456789-; "))


def draw_dates(ctx):
    from datetime import timedelta

    from helpers.seq2seq import FIRST_DAY, LAST_DAY, random_example

    r = ctx.random
    days = [FIRST_DAY + timedelta(i) for i in range((LAST_DAY - FIRST_DAY).days + 1)]
    return {"pairs": [list(random_example(days, r.randint(1, MAX_DATES), r)) for _ in range(FRESH)]}


def _date_checkpoint(ctx):
    folder = checkpoint_folder(ctx)
    ckpt = load_checkpoint(ctx, "dates.pt", *handed_in(ctx, "dates.pt"))
    try:
        config, state, history = dict(ckpt["model_config"]), ckpt["model"], dict(ckpt["history"])
        step = ckpt.get("step")
        if ckpt.get("finished") and ckpt.get("best"):
            state, step = ckpt["best"]["model"], ckpt["best"]["step"]
    except Exception:  # noqa: BLE001 - anything that is not one of the course's checkpoints
        raise Fail(f"{folder}/dates.pt could not be loaded as a training checkpoint of this course") from None
    return folder, config, state, _claimed_accuracy(history, step)


def _claimed_accuracy(history: dict, step) -> float | None:
    """The validation exact match the history records for the weights graded (the best step's, or the last)."""
    try:
        steps, accs = list(history.get("val_steps") or []), list(history.get("val_acc") or [])
        acc = accs[steps.index(step)] if step in steps else accs[-1]
        return float(acc) if 0.0 <= float(acc) <= 1.0 else None
    except (TypeError, ValueError, IndexError, AttributeError):
        return None


def _date_model(config, state, where: str):
    from helpers.seq2seq import Seq2Seq

    expect(set(config) == CONFIG_KEYS, f"{where} does not hold a helpers.seq2seq.Seq2Seq (its settings differ)")
    expect(config["attention"] in ("additive", "dot"), f"{where} holds a Seq2Seq without attention: train one "
                                                       "with attention='additive' or 'dot'")
    for key, limit in LIMITS.items():
        expect(isinstance(config[key], int) and 0 < config[key] <= limit,
               f"{where}: {key} must be a positive int up to {limit}")
    expect(config["vocab_size"] == len(date_characters()) + 3,
           f"{where} has {config['vocab_size']} ids; the lab's vocabulary has {len(date_characters()) + 3}")
    try:
        model = Seq2Seq(**config)
        model.load_state_dict(state)
    except Exception:  # noqa: BLE001 - another architecture: say so without quoting it
        raise Fail(f"{where}: its weights do not fit a Seq2Seq with its own settings") from None
    return model.eval()


def _frequency_baseline(tgt_out, tgt_mask) -> float:
    """Nats per target character of the target characters' own frequencies (a unigram model fitted to them)."""
    import torch

    ids = tgt_out[tgt_mask]
    p = torch.bincount(ids).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


def judge_dates(inputs, answer, ctx):
    import torch

    from helpers.seq2seq import Seq2SeqVocab, collate, exact_match, masked_cross_entropy, translate

    folder, config, state, claimed = _date_checkpoint(ctx)
    where = f"{folder}/dates.pt"
    model = _date_model(config, state, where)
    vocab = Seq2SeqVocab(date_characters())
    pairs = [tuple(p) for p in inputs["pairs"]]
    sources, targets = [s for s, _ in pairs], [t for _, t in pairs]
    batch = collate(pairs, vocab)
    with torch.no_grad():
        outputs = translate(model, sources, vocab, max_len=max(len(t) for t in targets) + 5)
        logits, _ = model(batch["src"], batch["src_len"], batch["tgt_in"])
        loss = masked_cross_entropy(logits.float(), batch["tgt_out"], batch["tgt_mask"]).item()
    accuracy = exact_match(outputs, targets)
    # the history's exact match for these very weights, on 100-500 validation dates of the same task: an
    # honest run is within sampling noise (a few hundredths) of the fresh dates' figure, never 0.3 above it
    if claimed is not None and claimed >= 0.5 and claimed - accuracy > FLAG_GAP:
        ctx.flag(f"{where}'s history claims {claimed:.3f} exact match on validation dates, its weights give "
                 f"{accuracy:.3f} on fresh ones")
    what = f"{where} on {len(sources)} fresh dates drawn for this submission"
    if ctx.fast:  # a few dozen steps: the model has learnt the targets' shape, not yet the dates
        baseline = _frequency_baseline(batch["tgt_out"], batch["tgt_mask"])
        expect(math.isfinite(loss) and loss < baseline,
               f"{what}: {loss:.3f} nats per target character, no better than the characters' frequencies "
               f"({baseline:.3f}); fast mode asks for less")
    else:
        expect(accuracy >= FULL_TARGET, f"{what}: exact match {accuracy:.3f}, the lab asks at least {FULL_TARGET} "
                                        f"(greedy decoding; {loss:.3f} nats per target character)")


CHECKS = [
    Check("attention_tests", "attention with no mask and padding masks, against F.scaled_dot_product_attention", 8,
          judge_attention_padding, draw_attention_padding, ask_attention),
    Check("attention_tests", "attention with causal masks, alone and with padding", 7, judge_attention_causal,
          draw_attention_causal, ask_attention),
    Check("additive_tests", "AdditiveAttention's parameters", 5, judge_additive_shapes, draw_additive,
          ask_additive_shapes),
    Check("additive_tests", "AdditiveAttention with drawn weights and padding masks", 10, judge_additive, draw_additive,
          ask_additive),
    Check("greedy_tests", "greedy on toy models", 10, judge_greedy, draw_greedy, ask_greedy, ship=(_table_lm,)),
    Check("beam_tests", "beam_search without length normalisation", 10, judge_beam_raw, draw_beam_raw, ask_beam,
          ship=(_table_lm,)),
    Check("beam_tests", "beam_search with length normalisation", 10, judge_beam_normalised, draw_beam_normalised,
          ask_beam, ship=(_table_lm,)),
    Check("dates_tests", "the submitted date model, re-measured on fresh dates", 20, judge_dates, draw_dates),
]
