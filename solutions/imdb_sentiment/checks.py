"""The IMDb lab's hidden checks (grading.spec): run by the grader's judge, never released.

Parts A-E ask the student's kernel to compute on inputs drawn per submission (other lengths, other
padding positions, garbage after each sequence's end, other reviews) and compare the answers here
with the instructor's own code. Part F reads the submitted checkpoint and vocabulary, rebuilds the
model with the instructor's class and measures it on validation and test reviews the judge draws.
"""
from __future__ import annotations

import json
import math

from grading.spec import (
    Check, Fail, Raised, checkpoint_folder, close, equal, expect, handed_in, load_checkpoint, tensor, value)

N_TRAIN_FAST = 2_000  # the notebook's fast-mode training part (its first 2,000 reviews)
EVAL_REVIEWS = 1_000  # validation and test reviews the judge measures the checkpoint on (each)
CLAIM_TOLERANCE = 0.15  # accuracy between the history's kept validation score and the re-measured one
SPLIT_GAP = 0.10  # validation against test accuracy: 5 standard errors at 1,000 reviews each
FAST_MARGIN = 0.10  # fast mode: beat the majority class by this much (the pipeline works)
LETTERS = "abcdefghijklmnopqrstuvwxyz"


# --- shared by the kernel's questions and the judge --------------------------------------------------------

def _instructor_model():
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class SentimentGRU(nn.Module):  # the instructor's Part E
        def __init__(self, vocab_size, embed_dim=64, hidden_size=64, num_layers=1, bidirectional=False, dropout=0.0,
                     pad_idx=0):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_idx)
            self.rnn = nn.GRU(embed_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional,
                              dropout=dropout if num_layers > 1 else 0.0)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), 1)

        def forward(self, x, lengths):
            packed = pack_padded_sequence(self.embed(x), lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.rnn(packed)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
            mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
            pooled = out.masked_fill(~mask[:, :, None], float("-inf")).max(dim=1).values
            return self.head(self.drop(pooled)).squeeze(-1)

    return SentimentGRU


def _padded(seqs):
    """Right-padded LongTensor and lengths, built here (never with the student's pad_batch)."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    return (pad_sequence([torch.as_tensor(s, dtype=torch.long) for s in seqs], batch_first=True),
            torch.tensor([len(s) for s in seqs], dtype=torch.long))


def _words(r, n):
    """n distinct made-up lowercase words."""
    out = set()
    while len(out) < n:
        out.add("".join(r.choice(LETTERS) for _ in range(r.randrange(2, 8))))
    return sorted(out)


# --- Part A: the vocabulary and the encoding ------------------------------------------------------------------

def draw_vocab(ctx):
    r = ctx.random
    pool = _words(r, r.randrange(60, 120))
    weights = [1 / (k + 1) for k in range(len(pool))]  # Zipf-like: many ties among the rare words
    lists = [r.choices(pool, weights, k=r.randrange(0, 30)) for _ in range(r.randrange(30, 60))]
    return {"lists": lists, "cases": [[2, None], [1, r.randrange(10, 40)], [3, None], [2, r.randrange(5, 15)]]}


def ask_vocab(nb, inputs):
    return [attempt(nb.build_vocab, inputs["lists"], min_freq=m, max_size=s) for m, s in inputs["cases"]]


def judge_vocab(inputs, answer, ctx):
    from helpers.text import WordVocab

    seen = {w for tokens in inputs["lists"] for w in tokens}
    n = len(inputs["lists"])
    for (min_freq, max_size), got in zip(inputs["cases"], value(answer, "build_vocab")):
        what = f"build_vocab on {n} token lists, min_freq={min_freq}, max_size={max_size}"
        got = value(got, what)
        expect(isinstance(got, list) and all(isinstance(w, str) for w in got), f"{what}: return a list of words")
        extra = len(set(got) - seen - {"<pad>", "<unk>"})
        expect(not extra, f"{what}: {extra} of its words occur in none of the token lists it was given: build the "
                          "vocabulary from the training lists only")
        want = WordVocab.build(inputs["lists"], min_freq=min_freq, max_size=max_size).itos
        expect(len(got) == len(want), f"{what}: {len(got)} entries, expected {len(want)}")
        equal(got, want, what)


def draw_encode(ctx):
    r = ctx.random
    known = _words(r, 40)
    vocab = ["<pad>", "<unk>"] + known[:30]
    reviews = [r.choices(known, k=r.randrange(1, 25)) for _ in range(6)] + [[]]
    return {"vocab": vocab, "reviews": reviews, "max_lens": [r.randrange(1, 30) for _ in reviews]}


def ask_encode(nb, inputs):
    stoi = {w: i for i, w in enumerate(inputs["vocab"])}
    return [attempt(nb.encode, t, stoi, m) for t, m in zip(inputs["reviews"], inputs["max_lens"])]


def judge_encode(inputs, answer, ctx):
    stoi = {w: i for i, w in enumerate(inputs["vocab"])}
    for tokens, max_len, got in zip(inputs["reviews"], inputs["max_lens"], value(answer, "encode")):
        what = f"encode of a review of {len(tokens)} tokens with max_len={max_len}"
        want = [stoi.get(t, 1) for t in tokens][-max_len:] or [1]
        got = value(got, what)
        if hasattr(got, "tolist"):
            got = got.tolist()
        equal(got, want, what)


# --- Part B: padding ----------------------------------------------------------------------------------------

def draw_padding(ctx):
    r = ctx.random

    def batch(size, longest):
        return [[r.randrange(1, 1000) for _ in range(r.randrange(1, longest + 1))] for _ in range(size)]

    cases = [{"seqs": batch(r.randrange(3, 10), 25), "pad_idx": 0},
             {"seqs": batch(r.randrange(2, 6), 12), "pad_idx": r.randrange(1, 50)},
             {"seqs": [[7]], "pad_idx": 0},
             {"seqs": [[1, 2]] + batch(4, 9) + [list(range(1, 16))], "pad_idx": 3}]
    return {"cases": cases, "as_tensors": r.random() < 0.5}


def ask_padding(nb, inputs):
    import torch

    out = []
    for k, case in enumerate(inputs["cases"]):
        seqs = case["seqs"]
        if inputs["as_tensors"] == (k % 2 == 0):
            seqs = [torch.tensor(s) for s in seqs]
        out.append(attempt(nb.pad_batch, seqs, pad_idx=case["pad_idx"]))
    return out


def judge_padding(inputs, answer, ctx):
    import torch

    for case, got in zip(inputs["cases"], value(answer, "pad_batch")):
        seqs, pad = case["seqs"], case["pad_idx"]
        what = f"pad_batch of {len(seqs)} sequences of lengths {[len(s) for s in seqs]} with pad_idx={pad}"
        got = value(got, what)
        expect(isinstance(got, (tuple, list)) and len(got) == 2, f"{what}: return (x, lengths)")
        longest = max(len(s) for s in seqs)
        x = torch.full((len(seqs), longest), pad, dtype=torch.long)
        for row, s in enumerate(seqs):
            x[row, : len(s)] = torch.tensor(s)
        equal(tensor(got[0], f"{what}: x", shape=x.shape, dtype=torch.long), x, f"{what}: x")
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
        equal(tensor(got[1], f"{what}: lengths", shape=lengths.shape, dtype=torch.long), lengths, f"{what}: lengths")


# --- Part C: packing and masked pooling -----------------------------------------------------------------------

def draw_pooling(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    batch, steps, feats = r.randrange(4, 9), r.randrange(6, 14), r.randrange(2, 6)
    lengths = [steps, 1] + [r.randrange(1, steps + 1) for _ in range(batch - 2)]
    r.shuffle(lengths)
    real = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
    negative = -(torch.rand(batch, steps, feats, generator=gen) * 5 + 0.1)  # every real output below zero
    big = torch.rand(batch, steps, feats, generator=gen) * 100 + 50  # what padding a pooling must ignore
    return {"outputs": torch.where(real[:, :, None], negative, big), "lengths": torch.tensor(lengths)}


def ask_max(nb, inputs):
    return attempt(nb.masked_max, inputs["outputs"].clone(), inputs["lengths"].clone())


def ask_mean(nb, inputs):
    return attempt(nb.masked_mean, inputs["outputs"].clone(), inputs["lengths"].clone())


def _pool_reference(inputs, how):
    import torch

    out, lengths = inputs["outputs"], inputs["lengths"]
    rows = [out[b, : int(n)] for b, n in enumerate(lengths)]
    return torch.stack([row.max(dim=0).values if how == "max" else row.mean(dim=0) for row in rows])


def judge_max(inputs, answer, ctx):
    b, t, f = inputs["outputs"].shape
    close(answer, _pool_reference(inputs, "max"),
          f"masked_max of [{b}, {t}, {f}] outputs, all negative, with large values after each length", atol=1e-5)


def judge_mean(inputs, answer, ctx):
    b, t, f = inputs["outputs"].shape
    close(answer, _pool_reference(inputs, "mean"),
          f"masked_mean of [{b}, {t}, {f}] outputs with large values after each length", atol=1e-5)


PACKED = [dict(layers=1, bidirectional=False), dict(layers=2, bidirectional=True)]


def draw_packed(ctx):
    import torch
    from torch import nn

    r, gen = ctx.random, ctx.generator()
    cases = []
    for shape in PACKED:
        size = {"input_size": r.randrange(3, 7), "hidden_size": r.randrange(3, 9), "num_layers": shape["layers"],
                "bidirectional": shape["bidirectional"]}
        torch.manual_seed(r.randrange(2**31))
        gru = nn.GRU(batch_first=True, **size)
        batch, steps = r.randrange(3, 7), r.randrange(5, 12)
        lengths = [r.randrange(1, steps) for _ in range(batch)]  # the longest is shorter than the tensor
        lengths[r.randrange(batch)] = 1
        x = torch.randn(batch, steps, size["input_size"], generator=gen)
        garbage = torch.randn(batch, steps, size["input_size"], generator=gen) * 50
        real = torch.arange(steps)[None, :] < torch.tensor(lengths)[:, None]
        cases.append({"size": size, "state": {k: v.detach().clone() for k, v in gru.state_dict().items()},
                      "embedded": torch.where(real[:, :, None], x, garbage), "lengths": torch.tensor(lengths)})
    return {"cases": cases}


def ask_packed(nb, inputs):
    from torch import nn

    out = []
    for case in inputs["cases"]:
        gru = nn.GRU(batch_first=True, **case["size"])
        gru.load_state_dict(case["state"])
        got = attempt(nb.run_packed, gru, case["embedded"].clone(), case["lengths"].clone())
        out.append(attempt(lambda: [t.detach() for t in got]) if isinstance(got, (tuple, list)) else got)
    return out


def judge_packed(inputs, answer, ctx):
    import torch
    from torch import nn

    for case, got in zip(inputs["cases"], value(answer, "run_packed")):
        size, lengths = case["size"], case["lengths"]
        what = (f"run_packed with a {size['num_layers']}-layer {'bidirectional ' if size['bidirectional'] else ''}GRU "
                f"on lengths {lengths.tolist()} in a tensor of {case['embedded'].shape[1]} steps, garbage after each end")
        got = value(got, what)
        expect(isinstance(got, list) and len(got) == 2, f"{what}: return (outputs, last)")
        gru = nn.GRU(batch_first=True, **size)
        gru.load_state_dict(case["state"])
        dirs, steps = 2 if size["bidirectional"] else 1, case["embedded"].shape[1]
        outputs = torch.zeros(len(lengths), steps, dirs * size["hidden_size"])
        last = []
        with torch.no_grad():
            for b, n in enumerate(lengths.tolist()):
                out, h = gru(case["embedded"][b: b + 1, :n])  # each sequence alone: no padding at all
                outputs[b, :n] = out[0]
                last.append(torch.cat([h[-2, 0], h[-1, 0]]) if dirs == 2 else h[-1, 0])
        close(got[0], outputs, f"{what}: outputs", atol=1e-5)
        close(got[1], torch.stack(last), f"{what}: last", atol=1e-5)


# --- Part D: the tf-idf baseline ----------------------------------------------------------------------------

N_FIT, N_SCORE, TFIDF_SLACK = 600, 300, 0.07


def draw_tfidf(ctx):
    from helpers.data import load_imdb
    from helpers.text import tokenize

    r = ctx.random
    frame = load_imdb("train")
    rows = r.sample(range(len(frame)), N_FIT + N_SCORE)
    docs = [" ".join(tokenize(frame.text.iloc[i])[-200:]) for i in rows]
    labels = [int(frame.label.iloc[i]) for i in rows]
    order = list(range(N_SCORE))
    r.shuffle(order)
    return {"train_docs": docs[:N_FIT], "train_labels": labels[:N_FIT], "docs": docs[N_FIT:], "labels": labels[N_FIT:],
            "subset": r.randrange(20, 60), "order": order}


def ask_tfidf(nb, inputs):
    predict = attempt(nb.fit_tfidf, inputs["train_docs"], inputs["train_labels"])
    if isinstance(predict, (Missing, Raised)):
        return {"fit": predict}
    docs, k = inputs["docs"], inputs["subset"]
    return {"fit": True, "all": attempt(predict, docs), "few": attempt(predict, docs[:k]),
            "shuffled": attempt(predict, [docs[i] for i in inputs["order"]])}


def _reference_tfidf(train_docs, train_labels, docs):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    vectorizer = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, min_df=2, sublinear_tf=True)
    clf = LogisticRegression(max_iter=2000).fit(vectorizer.fit_transform(train_docs), train_labels)
    return clf.predict_proba(vectorizer.transform(docs))[:, 1]


def judge_tfidf(inputs, answer, ctx):
    import torch

    what = f"fit_tfidf on {N_FIT} IMDb reviews, scoring {N_SCORE} others"
    value(answer["fit"], what)
    probs = tensor(answer["all"], f"{what}: predict", shape=(N_SCORE,)).double()
    expect(bool(torch.isfinite(probs).all()) and bool(((probs >= 0) & (probs <= 1)).all()),
           f"{what}: predict should give probabilities in [0, 1]")
    k = inputs["subset"]
    few = tensor(answer["few"], f"{what}: predict on {k} of them", shape=(k,)).double()
    expect(bool(torch.allclose(few, probs[:k], atol=1e-6)),
           f"{what}: the scores of {k} reviews change when they are scored alone: predict must only transform the "
           "documents it scores (is the vectorizer fitted on them?)")
    shuffled = tensor(answer["shuffled"], f"{what}: predict on them in another order", shape=(N_SCORE,)).double()
    expect(bool(torch.allclose(shuffled, probs[inputs["order"]], atol=1e-6)),
           f"{what}: the scores change when the same reviews come in another order")
    labels = torch.tensor(inputs["labels"])
    got = float(((probs > 0.5).long() == labels).double().mean())
    want = float(((torch.from_numpy(_reference_tfidf(inputs["train_docs"], inputs["train_labels"], inputs["docs"]))
                   > 0.5).long() == labels).double().mean())
    expect(got >= want - TFIDF_SLACK,
           f"{what}: accuracy {got:.3f}, while tf-idf with logistic regression reaches {want:.3f} on them")


# --- Part E: the classifier ----------------------------------------------------------------------------------

def draw_model(ctx):
    import torch

    r = ctx.random
    SentimentGRU = _instructor_model()
    configs = [{"vocab_size": r.randrange(40, 90), "embed_dim": r.randrange(4, 10), "hidden_size": r.randrange(3, 9)},
               {"vocab_size": r.randrange(40, 90), "embed_dim": r.randrange(4, 10), "hidden_size": r.randrange(3, 9),
                "num_layers": 2, "bidirectional": True, "dropout": 0.3}]
    cases = []
    for config in configs:
        torch.manual_seed(r.randrange(2**31))
        state = {k: v.detach().clone() for k, v in SentimentGRU(**config).state_dict().items()}
        reviews = [[r.randrange(2, config["vocab_size"]) for _ in range(r.randrange(1, 20))] for _ in range(5)]
        reviews[r.randrange(5)] = [r.randrange(2, config["vocab_size"])]
        longer = [r.randrange(2, config["vocab_size"]) for _ in range(r.randrange(30, 45))]
        cases.append({"config": config, "state": state, "reviews": reviews, "longer": longer})
    return {"cases": cases}


def _reference_parts():
    """Part C's run_packed and masked_max as lecture 05 and helpers.models teach them. Part E's question puts
    them in place of the student's while it runs, so that a mistake in Part C never costs Part E."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    def run_packed(rnn, embedded, lengths):
        lengths = torch.as_tensor(lengths).cpu()
        out, hidden = rnn(pack_padded_sequence(embedded, lengths, batch_first=True, enforce_sorted=False))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=embedded.shape[1])
        return out, (torch.cat([hidden[-2], hidden[-1]], dim=1) if rnn.bidirectional else hidden[-1])

    def masked_max(outputs, lengths):
        mask = torch.arange(outputs.shape[1])[None, :] < torch.as_tensor(lengths).cpu()[:, None]
        return outputs.masked_fill(~mask[:, :, None].to(outputs.device), float("-inf")).max(dim=1).values

    return {"run_packed": run_packed, "masked_max": masked_max}


def ask_model(nb, inputs):
    out = []
    for case in inputs["cases"]:
        def run():
            model = nb.SentimentGRU(**case["config"])
            model.load_state_dict(case["state"])
            model.eval()
            scope = getattr(type(model).forward, "__globals__", {})
            kept = {name: scope[name] for name in ("run_packed", "masked_max") if name in scope}
            scope.update({name: fn for name, fn in _reference_parts().items() if name in kept})
            try:
                x, lengths = _padded(case["reviews"])
                wide_x, wide_lengths = _padded(case["reviews"] + [case["longer"]])
                return [model(x, lengths).detach(), model(wide_x, wide_lengths).detach()]
            finally:
                scope.update(kept)

        out.append(attempt(run))
    return out


def judge_model(inputs, answer, ctx):
    import torch

    SentimentGRU = _instructor_model()
    for case, got in zip(inputs["cases"], value(answer, "SentimentGRU")):
        c = case["config"]
        what = (f"SentimentGRU({c['vocab_size']} words, {c.get('num_layers', 1)} layer(s), "
                f"{'bidirectional' if c.get('bidirectional') else 'one direction'}) with the grader's weights")
        got = value(got, what)
        mine = SentimentGRU(**c)
        mine.load_state_dict(case["state"])
        mine.eval()
        with torch.no_grad():
            want = mine(*_padded(case["reviews"]))
        n = len(case["reviews"])
        close(got[0], want, f"{what}: logits of {n} reviews of lengths {[len(s) for s in case['reviews']]}", atol=1e-5)
        wide = tensor(got[1], f"{what}: the same reviews beside a longer one", shape=(n + 1,))
        close(wide[:n], want, f"{what}: logits of the same reviews padded to {len(case['longer'])} steps", atol=1e-5)


# --- Part F: the submitted checkpoint, re-measured here -----------------------------------------------------

def _submitted(ctx):
    """(vocabulary, max_len, weights, history, kept step) from the hand-in; Fail saying what is wrong."""
    folder = checkpoint_folder(ctx)
    data, words = handed_in(ctx, "classifier.pt", "vocab.json", limit_mb=40)
    try:
        saved = json.loads(words.decode("utf-8"))
        itos, max_len = saved["itos"], saved["max_len"]
        assert isinstance(itos, list) and all(isinstance(w, str) for w in itos) and len(set(itos)) == len(itos)
        assert itos[:2] == ["<pad>", "<unk>"] and type(max_len) is int and 1 <= max_len <= 5_000
    except Exception:  # noqa: BLE001 - anything but the notebook's own save_vocab
        raise Fail(f"{folder}/vocab.json is not the vocabulary save_vocab writes") from None
    ckpt = load_checkpoint(ctx, "classifier.pt", data)
    try:
        state, history = ckpt["model"], ckpt["history"]
        kept = None
        if ckpt.get("finished") and ckpt.get("best"):
            state, kept = ckpt["best"]["model"], ckpt["best"]["step"]
    except Exception:  # noqa: BLE001
        raise Fail(f"{folder}/classifier.pt could not be loaded as a training checkpoint of this course") from None
    return itos, max_len, state, history, kept


def _rebuild(state, vocab_size):
    SentimentGRU = _instructor_model()
    try:
        rows, embed_dim = state["embed.weight"].shape
        hidden = state["rnn.weight_hh_l0"].shape[1]
        layers = sum(k.startswith("rnn.weight_ih_l") and not k.endswith("_reverse") for k in state)
        model = SentimentGRU(rows, embed_dim, hidden, layers, bidirectional="rnn.weight_ih_l0_reverse" in state)
        model.load_state_dict(state)
    except Exception:  # noqa: BLE001
        raise Fail("the checkpoint does not hold a SentimentGRU (Part E's architecture)") from None
    expect(rows == vocab_size, f"the checkpoint's embedding has {rows} rows, vocab.json {vocab_size} words")
    return model.eval()


def _split(ctx):
    """The lab's parts of IMDb: training reviews (as the notebook has them), and the judge's draws of
    validation and test reviews (per submission, from all 5,000 validation and 25,000 test reviews)."""
    import numpy as np

    from helpers.data import load_imdb

    train = load_imdb("train")
    order = np.random.default_rng(0).permutation(len(train))
    train_rows = order[:20_000][: N_TRAIN_FAST if ctx.fast else None]
    val_rows = ctx.random.sample(sorted(order[20_000:].tolist()), EVAL_REVIEWS)
    test = load_imdb("test")
    test_rows = ctx.random.sample(range(len(test)), EVAL_REVIEWS)
    return train.iloc[train_rows], train.iloc[val_rows], test.iloc[test_rows]


def _accuracy(model, stoi, max_len, tokens, labels):
    import numpy as np
    import torch

    seqs = [[stoi.get(t, 1) for t in toks][-max_len:] or [1] for toks in tokens]
    order = np.argsort([len(s) for s in seqs])
    right = 0
    with torch.no_grad():
        for start in range(0, len(seqs), 128):
            idx = order[start: start + 128]
            logits = model(*_padded([seqs[i] for i in idx]))
            right += int(((logits > 0).long().numpy() == labels[idx]).sum())
    return right / len(seqs)


def _claimed(history, kept):
    """The validation accuracy the history records for the weights handed in."""
    accs, steps = history.get("val_acc") or [], history.get("val_steps") or []
    if kept is not None and kept in steps and len(steps) == len(accs):
        return float(accs[steps.index(kept)])
    return float(accs[-1])


def judge_training(inputs, answer, ctx):
    import numpy as np

    from helpers.text import tokenize

    itos, max_len, state, history, kept = _submitted(ctx)
    model = _rebuild(state, len(itos))
    steps = history.get("steps") or []
    expect(steps and steps[-1] >= 20, "the checkpoint: train for at least 20 steps")
    expect(history.get("val_acc"), "the checkpoint: evaluate on the validation reviews during training (eval_every)")
    train, val, test = _split(ctx)
    train_tokens = [tokenize(t) for t in train.text]
    seen = {w for tokens in train_tokens for w in tokens}
    leaked = len(set(itos[2:]) - seen)
    expect(not leaked, f"{leaked} words of vocab.json occur in no training review: build the vocabulary from the "
                       "training reviews only")
    stoi = {w: i for i, w in enumerate(itos)}
    val_labels, test_labels = val.label.to_numpy(), test.label.to_numpy()
    val_tokens = [tokenize(t) for t in val.text]
    val_acc = _accuracy(model, stoi, max_len, val_tokens, val_labels)
    test_acc = _accuracy(model, stoi, max_len, [tokenize(t) for t in test.text], test_labels)
    claimed = _claimed(history, kept)
    if claimed - val_acc > CLAIM_TOLERANCE:  # a history its own weights contradict: no honest run writes one
        ctx.flag(f"the checkpoint's history claims {claimed:.3f} validation accuracy, its weights give {val_acc:.3f}")
    if abs(val_acc - test_acc) > SPLIT_GAP:  # trained or tuned on one of the two splits
        ctx.flag(f"validation accuracy {val_acc:.3f} and test accuracy {test_acc:.3f} on {EVAL_REVIEWS:,} reviews "
                 "each are too far apart for reviews no training saw")
    expect(math.isfinite(val_acc), "the checkpoint's predictions are not finite")
    if ctx.fast:
        majority = max(val_labels.mean(), 1 - val_labels.mean())
        expect(val_acc > majority + FAST_MARGIN,
               f"fast mode: validation accuracy {val_acc:.3f} on {EVAL_REVIEWS:,} reviews the grader drew, not "
               f"{FAST_MARGIN:.2f} above the majority class ({majority:.3f})")
        return
    docs = [" ".join(t[-max_len:]) for t in train_tokens]
    base = _reference_tfidf(docs, train.label.to_numpy(), [" ".join(t[-max_len:]) for t in val_tokens])
    base_acc = float(np.mean((base > 0.5) == (val_labels == 1)))
    expect(val_acc > base_acc, f"validation accuracy {val_acc:.3f} on {EVAL_REVIEWS:,} reviews the grader drew; a tf-idf "
                               f"baseline fitted on the same training reviews (last {max_len} tokens) reaches {base_acc:.3f}")


CHECKS = [
    Check("vocab_tests", "build_vocab on made-up token lists", 10, judge_vocab, draw_vocab, ask_vocab),
    Check("vocab_tests", "encode with unknown words, cuts and an empty review", 5, judge_encode, draw_encode, ask_encode),
    Check("padding_tests", "pad_batch on sequences of drawn lengths and pad ids", 10, judge_padding, draw_padding,
          ask_padding),
    Check("packing_tests", "run_packed with garbage after each sequence's end", 5, judge_packed, draw_packed,
          ask_packed),
    Check("packing_tests", "masked_max with large values in the padding", 5, judge_max, draw_pooling, ask_max),
    Check("packing_tests", "masked_mean with large values in the padding", 5, judge_mean, draw_pooling, ask_mean),
    Check("tfidf_tests", "fit_tfidf on IMDb reviews the grader drew", 10, judge_tfidf, draw_tfidf, ask_tfidf),
    Check("model_tests", "SentimentGRU with the grader's weights, padded two ways", 15, judge_model, draw_model,
          ask_model, ship=(_padded, _reference_parts)),
    Check("train_tests", "the submitted checkpoint, re-measured on validation and test reviews the grader drew", 20,
          judge_training),
]
