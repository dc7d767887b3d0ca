"""The Sherlock lab's hidden checks (grading.spec): run by the grader's judge, never released.

Each check draws its inputs per submission, asks the student's kernel to compute on them (the
``ask_*`` functions run there, after the notebook ran, and return plain data), and judges the
answer here against the instructor's own code. Part E reads the submitted checkpoints: no kernel
involved. Parts A-F keep the points and meaning of the lab's table.
"""
from __future__ import annotations

import math

from grading.spec import (
    Check, Fail, Raised, checkpoint_folder, close, equal, expect, handed_in, load_checkpoint, names_reachable,
    tensor, value)

UNKNOWN = "☃жΩ€✓"  # characters the canon does not use: encode must refuse them


# --- shared by the kernel's questions and the judge --------------------------------------------------------

def _tiny_lm():
    import torch
    from torch import nn

    class TinyLM(nn.Module):
        """A small language model with CharModel's interface, so that Part F is graded on its own."""

        def __init__(self, vocab_size, cell="gru", embed_dim=4, hidden_size=8, num_layers=1, dropout=0.0):
            super().__init__()
            self.embed = nn.Embedding(vocab_size, embed_dim)
            self.rnn = (nn.GRU if cell == "gru" else nn.RNN)(embed_dim, hidden_size, num_layers, batch_first=True,
                                                            dropout=dropout if num_layers > 1 else 0.0)
            self.drop = nn.Dropout(dropout)
            self.head = nn.Linear(hidden_size, vocab_size)

        def forward(self, x, hidden=None):
            out, hidden = self.rnn(self.embed(x), hidden)
            return self.head(self.drop(out)), hidden

    return TinyLM


def _random_state(model_class, config: dict, gen):
    import torch

    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    return {k: v.clone() for k, v in model_class(**config).state_dict().items()}


# --- Part A: Vocab ---------------------------------------------------------------------------------------------

def draw_vocab(ctx):
    from helpers.data import load_text

    text = load_text("sherlock_adventures")
    start = ctx.random.randrange(0, len(text) - 20_000)
    sample = text[start: start + 20_000]
    return {"sample": sample, "unknown": ctx.random.choice(UNKNOWN),
            "ids": [ctx.random.randrange(0, len(set(sample))) for _ in range(50)]}


def ask_vocab(nb, inputs):
    import torch

    v = attempt(nb.Vocab, inputs["sample"])
    if isinstance(v, (Missing, Raised)):
        return {"built": v}
    encoded = attempt(v.encode, inputs["sample"])
    return {"built": True, "chars": attempt(list, attempt(getattr, v, "chars")),
            # itos by index and stoi by character: a dict {id: char} serves as well as the list the text asks for
            "itos": attempt(lambda: [v.itos[i] for i in range(len(v.chars))]),
            "stoi": attempt(lambda: {c: v.stoi[c] for c in set(inputs["sample"])}),
            "len": attempt(len, v), "encoded": encoded,
            "round_trip": attempt(v.decode, encoded) if isinstance(encoded, torch.Tensor) else encoded,
            "decode_list": attempt(v.decode, inputs["ids"]),
            "decode_empty": attempt(v.decode, torch.tensor([], dtype=torch.long)),
            "encode_empty": attempt(v.encode, ""), "unknown": attempt(v.encode, inputs["unknown"])}


def judge_vocab(inputs, answer, ctx):
    import torch

    from helpers.text import CharVocab

    sample = inputs["sample"]
    ref = CharVocab.from_text(sample)
    what = f"Vocab on {len(sample):,} characters of the canon"
    value(answer["built"], what)
    equal(value(answer["chars"], f"{what}: chars"), ref.chars, f"{what}: chars")
    equal(value(answer["itos"], f"{what}: itos"), ref.chars, f"{what}: itos")
    stoi = value(answer["stoi"], f"{what}: stoi")
    expect(isinstance(stoi, dict) and stoi == ref.stoi, f"{what}: stoi does not map each character to its id")
    equal(answer["len"], len(ref), f"{what}: len(vocab)")
    encoded = tensor(answer["encoded"], f"{what}: encode(text)", shape=(len(sample),), dtype=torch.long)
    equal(encoded, ref.encode(sample), f"{what}: encode(text)")
    expect(value(answer["round_trip"], f"{what}: decode(encode(text))") == sample,
           f"{what}: decode(encode(text)) does not give the text back")
    expect(value(answer["decode_list"], f"{what}: decode(a list of ids)") == "".join(ref.chars[i] for i in inputs["ids"]),
           f"{what}: decode(a list of {len(inputs['ids'])} ids) gives other characters")
    expect(value(answer["decode_empty"], f"{what}: decode(empty tensor)") == "",
           f"{what}: decode of an empty tensor should be the empty string")
    tensor(answer["encode_empty"], f"{what}: encode('')", shape=(0,), dtype=torch.long)
    unknown = answer["unknown"]
    expect(isinstance(unknown, Raised) and unknown.name == "ValueError",
           f"{what}: encode of a character the text does not have should raise ValueError")
    expect(inputs["unknown"] in unknown.message, f"{what}: the ValueError should name the unknown character")


# --- Part B: make_batches --------------------------------------------------------------------------------------

def draw_batches(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    shapes = [(r.randrange(900, 1100), 4, 16), (r.randrange(900, 1000), 3, 10), (65, 8, 8), (200, 1, 199),
              (r.randrange(300, 400), r.randrange(2, 6), r.randrange(5, 12))]
    return {"cases": [{"ids": torch.randint(0, 90, (n,), generator=gen), "batch_size": b, "seq_len": t}
                      for n, b, t in shapes],
            "short": [{"ids": torch.arange(n), "batch_size": b, "seq_len": t} for n, b, t in [(10, 4, 4), (1, 1, 1)]]}


def ask_batches(nb, inputs):
    return {"cases": [attempt(nb.make_batches, c["ids"], c["batch_size"], c["seq_len"]) for c in inputs["cases"]],
            "short": [attempt(nb.make_batches, c["ids"], c["batch_size"], c["seq_len"]) for c in inputs["short"]]}


def _reference_batches(ids, batch_size, seq_len):
    import torch

    length = (len(ids) - 1) // batch_size // seq_len * seq_len
    xs = torch.stack([ids[b * length: (b + 1) * length] for b in range(batch_size)])
    ys = torch.stack([ids[b * length + 1: (b + 1) * length + 1] for b in range(batch_size)])
    return [(xs[:, k: k + seq_len], ys[:, k: k + seq_len]) for k in range(0, length, seq_len)]


def judge_batches(inputs, answer, ctx):
    import torch

    for case, got in zip(inputs["cases"], answer["cases"]):
        n, b, t = len(case["ids"]), case["batch_size"], case["seq_len"]
        what = f"make_batches on {n} ids, batch {b}, seq_len {t}"
        got = value(got, what)
        want = _reference_batches(case["ids"], b, t)
        expect(isinstance(got, (list, tuple)), f"{what}: should return a list of (inputs, targets) pairs")
        expect(len(got) == len(want), f"{what}: {len(got)} batches, expected {len(want)}")
        for k, (pair, (x, y)) in enumerate(zip(got, want)):
            expect(isinstance(pair, (list, tuple)) and len(pair) == 2, f"{what}, batch {k}: not an (inputs, targets) pair")
            equal(tensor(pair[0], f"{what}, batch {k} inputs", shape=x.shape, dtype=torch.long), x,
                  f"{what}, batch {k} inputs")
            equal(tensor(pair[1], f"{what}, batch {k} targets", shape=y.shape, dtype=torch.long), y,
                  f"{what}, batch {k} targets")
    for case, got in zip(inputs["short"], answer["short"]):
        n, b, t = len(case["ids"]), case["batch_size"], case["seq_len"]
        expect(isinstance(got, Raised) and got.name == "ValueError",
               f"make_batches on {n} ids, batch {b}, seq_len {t}: too few ids for one batch, should raise ValueError")


# --- Part C: GRUCellScratch ----------------------------------------------------------------------------------

LIBRARY = {"gru_cell", "GRUCell", "GRU", "_VF", "RNNCell", "rnn_tanh_cell", "_thnn_fused_gru_cell"}
GRU_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def _own_gates(ctx) -> None:
    """The 'write the gates yourself' rule, read from the submitted source (as data)."""
    used = names_reachable(ctx.code, "GRUCellScratch")
    if used is None:
        raise Fail("GRUCellScratch: no class of that name in the notebook")
    found = sorted(used & LIBRARY)
    expect(not found, f"GRUCellScratch uses {', '.join(found)}: write the gates yourself (Part C)")


def draw_gru_shape(ctx):
    return {"seed": ctx.random.randrange(2**31)}


def ask_gru_shape(nb, inputs):
    import torch

    torch.manual_seed(inputs["seed"])
    small = attempt(nb.GRUCellScratch, 5, 7)
    big = attempt(nb.GRUCellScratch, 10, 400)
    if isinstance(small, (Missing, Raised)) or isinstance(big, (Missing, Raised)):
        return {"small": small, "big": big}
    return {"small": {n: p.detach() for n, p in small.named_parameters()},
            "big": {n: p.detach() for n, p in big.named_parameters()},
            "modules": [type(m).__name__ for m in small.modules()]}


def judge_gru_shape(inputs, answer, ctx):
    _own_gates(ctx)
    small = value(answer["small"], "GRUCellScratch(5, 7)")
    expect(isinstance(small, dict), "GRUCellScratch(5, 7): its parameters could not be read")
    shapes = {k: tuple(v.shape) for k, v in small.items() if hasattr(v, "shape")}
    expect(shapes == {"weight_ih": (21, 5), "weight_hh": (21, 7), "bias_ih": (21,), "bias_hh": (21,)},
           f"GRUCellScratch(5, 7): parameters {sorted(shapes)} with shapes {sorted(shapes.values())}; expected "
           "weight_ih (21, 5), weight_hh (21, 7), bias_ih (21,), bias_hh (21,)")
    expect(not set(answer["modules"]) & {"GRUCell", "GRU"}, "GRUCellScratch holds an nn.GRUCell: write the gates yourself")
    bound = 1 / math.sqrt(400)
    for name, p in value(answer["big"], "GRUCellScratch(10, 400)").items():
        p = tensor(p, f"GRUCellScratch(10, 400).{name}")
        biggest, spread = p.abs().max().item(), p.float().std().item()
        expect(0.95 * bound < biggest <= bound + 1e-6 and abs(spread - bound / math.sqrt(3)) < 0.1 * bound,
               f"GRUCellScratch(10, 400).{name}: not uniform in +-1/sqrt(hidden_size) (largest |value| "
               f"{biggest:.4f}, bound {bound:.4f})")


def draw_gru_match(ctx):
    import torch
    from torch import nn

    gen = ctx.generator()
    torch.manual_seed(ctx.random.randrange(2**31))
    gru = nn.GRU(4, 6, batch_first=True)
    big = nn.GRUCell(3, 32)
    scale = 1.0 + ctx.random.random()
    return {"weights": {n: getattr(gru, n + "_l0").detach().clone() for n in GRU_NAMES},
            "big": {n: getattr(big, n).detach().clone() for n in GRU_NAMES},
            "xs": torch.randn(2, 9, 4, generator=gen), "h0": torch.randn(2, 6, generator=gen),
            "x1": torch.randn(1, 3, generator=gen), "h1": torch.randn(1, 32, generator=gen), "scale": scale}


def ask_gru_match(nb, inputs):
    import torch

    def load(cell, weights):
        with torch.no_grad():
            for name, w in weights.items():
                getattr(cell, name).copy_(w)
        return cell

    def run():
        cell = load(nb.GRUCellScratch(4, 6), inputs["weights"])
        xs, steps, h = inputs["xs"], [], None
        for t in range(xs.shape[1]):
            h = cell(xs[:, t], h)
            steps.append(h.detach())
        h0 = inputs["h0"].clone().requires_grad_()
        cell.zero_grad()
        cell(xs[:, 0], h0).pow(2).sum().backward()
        grads = {n: (p.grad.detach() if p.grad is not None else None) for n, p in cell.named_parameters()}
        with torch.no_grad():
            for name in ("weight_hh", "bias_ih"):
                getattr(cell, name).mul_(inputs["scale"]).add_(0.1)
            changed = cell(xs[:, 1], inputs["h0"])
        big = load(nb.GRUCellScratch(3, 32), inputs["big"])
        return {"steps": steps, "grads": grads, "h0_grad": h0.grad.detach() if h0.grad is not None else None,
                "changed": changed.detach(), "single": big(inputs["x1"], inputs["h1"]).detach()}

    return attempt(run)


def judge_gru_match(inputs, answer, ctx):
    import torch
    from torch import nn

    _own_gates(ctx)
    answer = value(answer, "GRUCellScratch(4, 6) with nn.GRU's weights")
    gru, ref = nn.GRU(4, 6, batch_first=True), nn.GRUCell(4, 6)
    with torch.no_grad():
        for name, w in inputs["weights"].items():
            getattr(gru, name + "_l0").copy_(w)
            getattr(ref, name).copy_(w)
    xs = inputs["xs"]
    out, _ = gru(xs)
    steps = value(answer["steps"], "the steps")
    expect(len(steps) == xs.shape[1], f"{len(steps)} steps came back, expected {xs.shape[1]}")
    for t, h in enumerate(steps):
        close(h, out[:, t], f"step {t} of a 9-step sequence, against nn.GRU", atol=1e-5)
    h0 = inputs["h0"].clone().requires_grad_()
    ref(xs[:, 0], h0).pow(2).sum().backward()
    for name in GRU_NAMES:
        grad = answer["grads"].get(name) if isinstance(answer["grads"], dict) else None
        expect(grad is not None, f"no gradient reached {name}: compute with the cell's own parameters")
        close(grad, getattr(ref, name).grad, f"the gradient of {name}", atol=1e-5)
    expect(answer["h0_grad"] is not None, "no gradient reached the previous hidden state (no detach inside the cell)")
    close(answer["h0_grad"], h0.grad, "the gradient of the previous hidden state", atol=1e-5)
    with torch.no_grad():
        for name in ("weight_hh", "bias_ih"):
            getattr(ref, name).mul_(inputs["scale"]).add_(0.1)
        close(answer["changed"], ref(xs[:, 1], inputs["h0"]), "the output after changing the cell's parameters", atol=1e-5)
        big = nn.GRUCell(3, 32)
        for name, w in inputs["big"].items():
            getattr(big, name).copy_(w)
        close(answer["single"], big(inputs["x1"], inputs["h1"]), "GRUCellScratch(3, 32) on one example", atol=1e-6)


# --- Part D: CharModel ------------------------------------------------------------------------------------------

def _instructor_char_model():
    from torch import nn

    class CharModel(nn.Module):  # the instructor's Part D
        def __init__(self, vocab_size, cell="gru", embed_dim=64, hidden_size=256, num_layers=1, dropout=0.0):
            super().__init__()
            self.cell = cell
            self.embed = nn.Embedding(vocab_size, embed_dim)
            self.rnn = {"rnn": nn.RNN, "gru": nn.GRU}[cell](embed_dim, hidden_size, num_layers, batch_first=True,
                                                           dropout=dropout if num_layers > 1 else 0.0)
            self.head = nn.Linear(hidden_size, vocab_size)

        def forward(self, x, hidden=None):
            out, hidden = self.rnn(self.embed(x), hidden)
            return self.head(out), hidden

    return CharModel


def draw_model(ctx):
    import torch

    r = ctx.random
    sizes = {"vocab_size": r.randrange(30, 60), "embed_dim": r.randrange(6, 16), "hidden_size": r.randrange(12, 24),
             "num_layers": 2}
    return {"sizes": sizes, "seed": r.randrange(2**31),
            "x": torch.randint(0, sizes["vocab_size"], (3, 10), generator=ctx.generator()), "split": r.randrange(2, 8)}


def ask_model(nb, inputs):
    import torch

    out = {}
    for kind in ("rnn", "gru"):
        torch.manual_seed(inputs["seed"])
        m = attempt(nb.CharModel, cell=kind, **inputs["sizes"])
        if isinstance(m, (Missing, Raised)):
            out[kind] = m
            continue
        x, k = inputs["x"], inputs["split"]
        full = attempt(m, x)
        first = attempt(m, x[:, :k])
        second = attempt(lambda: m(x[:, k:], first[1])) if isinstance(first, tuple) else first
        out[kind] = {"state": attempt(lambda: {n: t.detach() for n, t in m.state_dict().items()}),
                     "cell": attempt(getattr, m, "cell"), "layer": attempt(lambda: type(m.rnn).__name__),
                     "full": full, "first": first, "second": second}
    d = attempt(nb.CharModel, 10, cell="gru", embed_dim=4, hidden_size=5, num_layers=3, dropout=0.25)
    r = attempt(nb.CharModel, 10, cell="rnn", embed_dim=4, hidden_size=5)
    out["dropout"] = attempt(lambda: [d.rnn.num_layers, float(d.rnn.dropout)])
    out["tanh"] = attempt(lambda: r.rnn.nonlinearity)
    out["lstm"] = attempt(nb.CharModel, 30, cell="lstm")
    return out


def judge_model(inputs, answer, ctx):
    import torch

    CharModel = _instructor_char_model()
    sizes, x, k = inputs["sizes"], inputs["x"], inputs["split"]
    for kind, layer in (("rnn", "RNN"), ("gru", "GRU")):
        what = f"CharModel(cell={kind!r}, {sizes['vocab_size']} characters, 2 layers)"
        got = value(answer[kind], what)
        expect(value(got["layer"], f"{what}: type of .rnn") == layer, f"{what}: .rnn should be an nn.{layer}")
        expect(value(got["cell"], f"{what}: .cell") == kind, f"{what}: .cell should be {kind!r}")
        mine = CharModel(cell=kind, **sizes)
        state = value(got["state"], f"{what}: state_dict")
        try:
            mine.load_state_dict(state)
        except Exception:  # noqa: BLE001 - a different architecture: say so without quoting it
            raise Fail(f"{what}: its parameters are not an Embedding, an nn.{layer} and a Linear head of these sizes") from None
        with torch.no_grad():
            logits, hidden = mine(x)
            first, h = mine(x[:, :k])
            second, _ = mine(x[:, k:], h)
        full = value(got["full"], f"{what} on a batch")
        expect(isinstance(full, tuple) and len(full) == 2, f"{what}: forward should return (logits, hidden)")
        close(full[0], logits, f"{what}: logits", atol=1e-5)
        close(full[1], hidden, f"{what}: hidden state", atol=1e-5)
        second_got = value(got["second"], f"{what}: forward with the hidden state carried over")
        close(second_got[0], second, f"{what}: logits after carrying the hidden state over", atol=1e-5)
    expect(value(answer["dropout"], "CharModel with 3 layers and dropout=0.25") == [3, 0.25],
           "CharModel(num_layers=3, dropout=0.25): its recurrent layer should have 3 layers and dropout 0.25 between them")
    expect(value(answer["tanh"], "CharModel(cell='rnn')") == "tanh", "CharModel(cell='rnn'): the vanilla RNN should use tanh")
    lstm = answer["lstm"]
    expect(isinstance(lstm, Raised) and lstm.name == "ValueError", "CharModel(cell='lstm') should raise ValueError")


# --- Part E: the submitted checkpoints, re-measured here -----------------------------------------------------

EVAL_CHARS = 20_000  # held-out characters measured (the notebook's training evaluates about as many)
TOLERANCE = 0.3  # nats/char between the stored history's last held-out loss and the re-measured one


def _checkpoint(ctx, cell: str):
    folder = checkpoint_folder(ctx)
    ckpt = load_checkpoint(ctx, f"{cell}.pt", *handed_in(ctx, f"{cell}.pt"))
    try:
        state, history = ckpt["model"], ckpt["history"]
        if ckpt.get("finished") and ckpt.get("best"):
            state = ckpt["best"]["model"]
        return state, history
    except Exception:  # noqa: BLE001 - anything that is not one of the course's checkpoints
        raise Fail(f"{folder}/{cell}.pt could not be loaded as a training checkpoint of this course") from None


def _held_out(ctx):
    import torch

    from helpers.data import load_text

    text = load_text("sherlock_adventures" if ctx.fast else "sherlock")
    n_val = len(text) // 10
    train_text, val_text = text[:-n_val], text[-n_val:][:EVAL_CHARS]
    chars = sorted(set(text))
    counts = torch.tensor([train_text.count(c) for c in chars], dtype=torch.float64)
    p = counts[counts > 0] / counts.sum()
    return chars, [chars, list(dict.fromkeys(text))], val_text, float(-(p * p.log()).sum())


def judge_training(inputs, answer, ctx):
    import torch
    import torch.nn.functional as F

    CharModel = _instructor_char_model()
    chars, orders, val_text, unigram = _held_out(ctx)
    hidden_sizes = {}
    for cell in ("rnn", "gru"):
        state, history = _checkpoint(ctx, cell)
        what = f"the {cell} checkpoint"
        try:
            vocab_size, embed_dim = state["embed.weight"].shape
            hidden = state["rnn.weight_hh_l0"].shape[1]
            layers = sum(k.startswith("rnn.weight_ih_l") for k in state)
            model = CharModel(vocab_size, cell, embed_dim, hidden, layers)
            model.load_state_dict(state)
        except Exception:  # noqa: BLE001
            raise Fail(f"{what} does not hold a CharModel with a {cell} layer (Part D's architecture)") from None
        hidden_sizes[cell] = hidden
        expect(vocab_size == len(chars), f"{what} has {vocab_size} characters, the text has {len(chars)}")
        steps, train_loss = history.get("steps") or [], history.get("train_loss") or []
        expect(steps and steps[-1] >= 50, f"{what}: train for at least 50 steps")
        expect(len(train_loss) > 1 and train_loss[-1] < train_loss[0], f"{what}: the training loss did not go down")
        expect(history.get("val_loss"), f"{what}: evaluate on the held-out text during training (eval_every)")
        model.eval()
        losses = []
        with torch.no_grad():
            for order in orders:
                stoi = {c: i for i, c in enumerate(order)}
                ids = torch.tensor([stoi[c] for c in val_text])
                logits, _ = model(ids[:-1][None])
                losses.append(F.cross_entropy(logits[0].float(), ids[1:]).item())
        measured, claimed = min(losses), float(history["val_loss"][-1])
        if not abs(claimed - measured) <= TOLERANCE:  # a history its own weights contradict: no honest run writes one
            ctx.flag(f"{what}'s history claims {claimed:.3f} nats/char held out, its weights give {measured:.3f}")
        expect(math.isfinite(measured) and measured < unigram,
               f"{what}: its weights give {measured:.3f} nats/char on held-out text, no better than character "
               f"frequencies ({unigram:.3f})")
    expect(hidden_sizes["rnn"] == hidden_sizes["gru"], "compare both cells at the same hidden size")


# --- Part F: nats_per_char ---------------------------------------------------------------------------------------

def draw_eval(ctx):
    import torch

    TinyLM, gen = _tiny_lm(), ctx.generator()
    models = {
        "plain": {"vocab_size": 20, "cell": "gru", "embed_dim": 5, "hidden_size": 9, "num_layers": 2},
        "dropout": {"vocab_size": 30, "cell": "gru", "embed_dim": 6, "hidden_size": 16, "num_layers": 2, "dropout": 0.5},
        "rnn": {"vocab_size": 12, "cell": "rnn"},
    }
    return {"models": models, "states": {k: _random_state(TinyLM, c, gen) for k, c in models.items()},
            "seqs": {"plain": torch.randint(0, 20, (ctx.random.randrange(250, 350),), generator=gen),
                     "dropout": torch.randint(0, 30, (400,), generator=gen),
                     "rnn": torch.randint(0, 12, (50,), generator=gen)},
            "seq_lens": [1, 13, 100, 300, 1000]}


def ask_eval(nb, inputs):
    TinyLM = _tiny_lm()

    def build(key):
        m = TinyLM(**inputs["models"][key])
        m.load_state_dict(inputs["states"][key])
        return m

    plain, seq = build("plain"), inputs["seqs"]["plain"]
    dropout = build("dropout")
    dropout.train()  # left in training mode on purpose: nats_per_char must switch dropout off
    return {"by_len": [attempt(nb.nats_per_char, plain, seq, seq_len=t) for t in inputs["seq_lens"]],
            "two": attempt(nb.nats_per_char, plain, seq[:2]),
            "dropout": attempt(nb.nats_per_char, dropout, inputs["seqs"]["dropout"], seq_len=64),
            "rnn": attempt(nb.nats_per_char, build("rnn"), inputs["seqs"]["rnn"], seq_len=7)}


def judge_eval(inputs, answer, ctx):
    import torch
    import torch.nn.functional as F

    TinyLM = _tiny_lm()

    def reference(key, seq):
        m = TinyLM(**inputs["models"][key])
        m.load_state_dict(inputs["states"][key])
        m.eval()
        with torch.no_grad():
            logits, _ = m(seq[:-1][None])
        return F.cross_entropy(logits[0], seq[1:]).item()

    seq = inputs["seqs"]["plain"]
    want = reference("plain", seq)
    for t, got in zip(inputs["seq_lens"], value(answer["by_len"], "nats_per_char")):
        what = f"nats_per_char on {len(seq)} ids with seq_len={t}"
        got = value(got, what)
        expect(type(got) is float, f"{what}: return a Python float")
        expect(abs(got - want) < 1e-4, f"{what} is {got:.5f}, expected {want:.5f} (the result must not depend on seq_len)")
    two = value(answer["two"], "nats_per_char on 2 ids")
    expect(type(two) is float and abs(two - reference("plain", seq[:2])) < 1e-4, "nats_per_char on 2 ids is wrong")
    dropout = value(answer["dropout"], "nats_per_char on a model with dropout")
    expect(type(dropout) is float and abs(dropout - reference("dropout", inputs["seqs"]["dropout"])) < 1e-4,
           "nats_per_char on a model with dropout 0.5: call model.eval() inside, dropout must be off while measuring")
    rnn = value(answer["rnn"], "nats_per_char on a vanilla RNN")
    expect(type(rnn) is float and abs(rnn - reference("rnn", inputs["seqs"]["rnn"])) < 1e-4,
           "nats_per_char on a small vanilla RNN, seq_len=7, is wrong")


CHECKS = [
    Check("vocab_tests", "Vocab on a slice of the canon", 10, judge_vocab, draw_vocab, ask_vocab),
    Check("batches_tests", "make_batches on random ids", 10, judge_batches, draw_batches, ask_batches),
    Check("gru_shape_tests", "GRUCellScratch's parameters and initialisation", 5, judge_gru_shape, draw_gru_shape,
          ask_gru_shape),
    Check("gru_match_tests", "GRUCellScratch against nn.GRU and nn.GRUCell", 15, judge_gru_match, draw_gru_match,
          ask_gru_match),
    Check("model_tests", "CharModel rebuilt from its state and compared", 15, judge_model, draw_model, ask_model),
    Check("train_tests", "the submitted checkpoints, re-measured on held-out text", 15, judge_training),
    Check("eval_tests", "nats_per_char on small models with known weights", 10, judge_eval, draw_eval, ask_eval,
          ship=(_tiny_lm,)),
]
