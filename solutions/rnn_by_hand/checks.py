"""The rnn_by_hand lab's hidden checks (grading.spec): run by the grader's judge, never released.

Every check draws its own sizes, weights and inputs per submission, asks the student's kernel to
run the student's function on them (the ``ask_*`` functions run there and return plain data), and
judges the answer here against PyTorch: ``nn.RNN`` for the forward pass, autograd and central
finite differences for BPTT, ``clip_grad_norm_`` for clipping, and the gradient's measured reach
for truncated BPTT. Nothing is trained; the whole lab grades in a few CPU seconds.
"""
from __future__ import annotations

from grading.spec import Check, Fail, close, dotted_names_reachable, expect, tensor, value

# --- source rules, read from the submitted notebook (as data) -------------------------------------------------

RNN_LIBRARY = {"RNN", "RNNCell", "RNNBase", "GRU", "LSTM", "rnn_tanh", "rnn_relu", "rnn_tanh_cell", "rnn_relu_cell", "_VF"}
AUTOGRAD_MODULES = {"autograd", "func", "functorch"}  # torch.autograd.grad, torch.func.grad, ...
AUTOGRAD_ATTRIBUTES = {"backward", "grad", "grad_fn", "requires_grad", "requires_grad_", "inference_mode",
                       "set_grad_enabled", "enable_grad", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "jacobian"}
CLIP_LIBRARY = {"clip_grad_norm_", "clip_grad_norm", "clip_grads_with_norm_", "get_total_norm", "clip_grad_value_"}


def _used(ctx, name: str, part: str) -> set[str]:
    """What ``name`` and the notebook's own functions it calls use (grading.spec.dotted_names_reachable: a local
    variable of the student's, say ``_``, is never confused with a top-level name of the same spelling)."""
    used = dotted_names_reachable(ctx.code, name)
    if used is None:
        raise Fail(f"{name}: no function of that name in the notebook ({part})")
    return used


def _library(ctx, name: str, part: str, library: set[str]) -> list[str]:
    """The members of library that ``name`` reaches, by attribute (nn.RNN) or import (from torch.nn import RNN)."""
    return sorted({chain.split(".")[-1] for chain in _used(ctx, name, part)
                   if "." in chain and chain.split(".")[-1] in library})


def _own_recurrence(ctx) -> None:
    """Part A's rule: the loop over time is the student's, not nn.RNN's."""
    found = _library(ctx, "rnn_forward", "Part A", RNN_LIBRARY)
    expect(not found, f"rnn_forward uses {', '.join(found)}: write the recurrence yourself (Part A)")


def _no_autograd(ctx, name: str, part: str) -> None:
    """Parts B and C's rule: gradients by hand. Attribute chains and imports only, so a helper of the student's
    own called ``backward`` or a local variable ``grad`` is fine."""
    bad = set()
    for chain in _used(ctx, name, part):
        parts = chain.split(".")
        if len(parts) > 1 and (parts[-1] in AUTOGRAD_ATTRIBUTES or set(parts[:-1]) & AUTOGRAD_MODULES):
            bad.add(parts[-1] if parts[-1] in AUTOGRAD_ATTRIBUTES else next(p for p in parts if p in AUTOGRAD_MODULES))
    expect(not bad, f"{name} uses {', '.join(sorted(bad))}: compute the gradients by hand, without autograd ({part})")


# --- Part A: rnn_forward -------------------------------------------------------------------------------------

def _rnn_case(r, gen, layers: int, nonlinearity: str, bias: bool, with_h0: bool, dtype: str = "float32"):
    import torch
    from torch import nn

    size = dict(batch=r.randint(1, 5), seq_len=r.randint(1, 9), input_size=r.randint(1, 6), hidden_size=r.randint(2, 9))
    torch.manual_seed(r.randrange(2**31))
    rnn = nn.RNN(size["input_size"], size["hidden_size"], layers, nonlinearity=nonlinearity, bias=bias, batch_first=True)
    kind = getattr(torch, dtype)
    x = torch.randn(size["batch"], size["seq_len"], size["input_size"], generator=gen, dtype=kind)
    h0 = torch.randn(layers, size["batch"], size["hidden_size"], generator=gen, dtype=kind) if with_h0 else None
    return {"state": {k: v.detach().to(kind) for k, v in rnn.state_dict().items()}, "x": x, "h0": h0,
            "nonlinearity": nonlinearity, "layers": layers, "bias": bias, "hidden_size": size["hidden_size"]}


def draw_forward_one(ctx):
    r, gen = ctx.random, ctx.generator()
    return {"cases": [_rnn_case(r, gen, 1, "tanh", True, False), _rnn_case(r, gen, 1, "tanh", True, True),
                      _rnn_case(r, gen, 1, "tanh", True, True, "float64")]}


def draw_forward_stacked(ctx):
    r, gen = ctx.random, ctx.generator()
    return {"cases": [_rnn_case(r, gen, 2, "tanh", True, True), _rnn_case(r, gen, 3, "tanh", True, False)]}


def draw_forward_variants(ctx):
    r, gen = ctx.random, ctx.generator()
    return {"cases": [_rnn_case(r, gen, 1, "relu", True, True), _rnn_case(r, gen, 1, "tanh", False, True),
                      _rnn_case(r, gen, 2, "relu", False, False)]}


def ask_forward(nb, inputs):
    out = []
    for case in inputs["cases"]:
        state = {k: v.clone() for k, v in case["state"].items()}
        h0 = case["h0"].clone() if case["h0"] is not None else None
        out.append(attempt(nb.rnn_forward, case["x"].clone(), state, h0, case["nonlinearity"]))
    return out


def _judge_forward(inputs, answer, ctx, what: str):
    import torch
    from torch import nn

    _own_recurrence(ctx)
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "rnn_forward"))):
        x, h0 = case["x"], case["h0"]
        B, T, I = x.shape
        H, L = case["hidden_size"], case["layers"]
        desc = (f"rnn_forward, {what} (case {n + 1}: {L} layer{'s' if L > 1 else ''}, {case['nonlinearity']}, "
                f"{'with' if case['bias'] else 'without'} biases, h0 {'given' if h0 is not None else 'None'}, "
                f"batch {B}, seq_len {T}, input_size {I}, hidden_size {H}, {x.dtype})")
        got = value(got, desc)
        expect(isinstance(got, tuple) and len(got) == 2, f"{desc}: should return (output, h_n)")
        rnn = nn.RNN(I, H, L, nonlinearity=case["nonlinearity"], bias=case["bias"], batch_first=True).to(x.dtype)
        rnn.load_state_dict(case["state"])
        with torch.no_grad():
            out, h_n = rnn(x, h0)
        atol = 1e-5 if x.dtype == torch.float32 else 1e-10
        close(got[0], out, f"{desc}: output", atol=atol)
        close(got[1], h_n, f"{desc}: h_n", atol=atol)


def judge_forward_one(inputs, answer, ctx):
    _judge_forward(inputs, answer, ctx, "one layer, against nn.RNN")


def judge_forward_stacked(inputs, answer, ctx):
    _judge_forward(inputs, answer, ctx, "stacked layers, against nn.RNN")


def judge_forward_variants(inputs, answer, ctx):
    _judge_forward(inputs, answer, ctx, "ReLU and no biases, against nn.RNN")


# --- Parts B and C: numerical_gradient and bptt --------------------------------------------------------------------

NAMES = ("W_xh", "W_hh", "b_h", "W_ho", "b_o")


def _bptt_case(r, gen, batch, seq_len, with_h0, scale=1.0):
    import torch

    I, H, O = r.randint(1, 5), r.randint(2, 7), r.randint(1, 4)
    shapes = {"W_xh": (H, I), "W_hh": (H, H), "b_h": (H,), "W_ho": (O, H), "b_o": (O,)}
    params = {k: scale * torch.randn(*s, generator=gen, dtype=torch.float64) / (H ** 0.5) for k, s in shapes.items()}
    return {"x": torch.randn(batch, seq_len, I, generator=gen, dtype=torch.float64),
            "y": torch.randn(batch, seq_len, O, generator=gen, dtype=torch.float64), "params": params,
            "h0": torch.randn(batch, H, generator=gen, dtype=torch.float64) if with_h0 else None}


def draw_bptt(ctx):
    r, gen = ctx.random, ctx.generator()
    return {"cases": [_bptt_case(r, gen, r.randint(2, 4), r.randint(5, 9), False),
                      _bptt_case(r, gen, r.randint(2, 4), r.randint(12, 20), False, scale=2.0)]}


def draw_bptt_edges(ctx):
    r, gen = ctx.random, ctx.generator()
    return {"cases": [_bptt_case(r, gen, r.randint(2, 4), r.randint(4, 8), True), _bptt_case(r, gen, 3, 1, True),
                      _bptt_case(r, gen, 1, r.randint(3, 6), True)]}


def ask_bptt(nb, inputs):
    import torch

    out = []
    for case in inputs["cases"]:
        params = {k: v.clone() for k, v in case["params"].items()}
        h0 = case["h0"].clone() if case["h0"] is not None else None
        with torch.inference_mode():  # the lab's rule, as its visible tests say: no autograd inside bptt
            got = attempt(nb.bptt, case["x"].clone(), case["y"].clone(), params, h0)
        if isinstance(got, tuple) and len(got) == 2 and isinstance(got[1], dict):
            loss = got[0]
            loss = attempt(lambda: float(loss)) if not isinstance(loss, (int, float)) else float(loss)
            got = (loss, {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in got[1].items()})
        out.append(got)
    return out


def _reference_loss(case, params, h0=None):
    import torch

    x, y = case["x"], case["y"]
    h = torch.zeros(x.shape[0], params["W_hh"].shape[0], dtype=x.dtype) if h0 is None else h0
    loss = 0.0
    for t in range(x.shape[1]):
        h = torch.tanh(x[:, t] @ params["W_xh"].T + h @ params["W_hh"].T + params["b_h"])
        loss = loss + 0.5 * ((h @ params["W_ho"].T + params["b_o"] - y[:, t]) ** 2).sum()
    return loss


def _autograd(case):
    import torch

    params = {k: v.clone().requires_grad_() for k, v in case["params"].items()}
    h0 = (case["h0"] if case["h0"] is not None else torch.zeros(case["x"].shape[0], params["W_hh"].shape[0],
                                                               dtype=torch.float64)).clone().requires_grad_()
    loss = _reference_loss(case, params, h0)
    loss.backward()
    return loss.item(), {**{k: p.grad for k, p in params.items()}, "h0": h0.grad}


def _finite_difference(case, name: str, index: tuple, eps: float = 1e-6) -> float:
    import torch

    def loss_with(delta):
        params = {k: v.clone() for k, v in case["params"].items()}
        h0 = case["h0"].clone() if case["h0"] is not None else torch.zeros(case["x"].shape[0], params["W_hh"].shape[0],
                                                                            dtype=torch.float64)
        (h0 if name == "h0" else params[name])[index] += delta
        return _reference_loss(case, params, h0).item()

    return (loss_with(eps) - loss_with(-eps)) / (2 * eps)


def _judge_bptt_case(case, got, desc: str, ctx, names) -> None:
    import torch

    got = value(got, desc)
    expect(isinstance(got, tuple) and len(got) == 2, f"{desc}: should return (loss, grads)")
    loss, grads = value(got[0], f"{desc}: the loss"), value(got[1], f"{desc}: the gradients")
    want_loss, want = _autograd(case)
    expect(isinstance(loss, float) and abs(loss - want_loss) <= 1e-9 * max(1.0, abs(want_loss)),
           f"{desc}: the loss is not the sum over batch and steps of 0.5 * ||o_t - y_t||^2")
    expect(isinstance(grads, dict), f"{desc}: grads should be a dict keyed by parameter name")
    probe = ctx.random
    for name in names:
        expect(name in grads, f"{desc}: grads has no entry {name!r}")
        scale = max(1.0, want[name].abs().max().item())
        close(grads[name], want[name], f"{desc}: dL/d{name} against autograd", atol=1e-8 * scale)
        for _ in range(3):  # the definition of the derivative, an independent referee, on a few entries
            index = tuple(probe.randrange(n) for n in want[name].shape)
            numeric = _finite_difference(case, name, index)
            entry = tensor(grads[name], f"{desc}: dL/d{name}", dtype=torch.float64)[index].item()
            expect(abs(entry - numeric) <= 1e-5 * max(1.0, abs(numeric)),
                   f"{desc}: dL/d{name}{list(index)} is {entry:.6g}, central differences give {numeric:.6g}")


def judge_bptt(inputs, answer, ctx):
    _no_autograd(ctx, "bptt", "Part C")
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "bptt"))):
        B, T, I = case["x"].shape
        desc = f"bptt (case {n + 1}: batch {B}, seq_len {T}, input_size {I}, hidden_size {case['params']['W_hh'].shape[0]})"
        _judge_bptt_case(case, got, desc, ctx, NAMES)


def judge_bptt_edges(inputs, answer, ctx):
    _no_autograd(ctx, "bptt", "Part C")
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "bptt"))):
        B, T, _ = case["x"].shape
        desc = f"bptt with a given h0 (case {n + 1}: batch {B}, seq_len {T})"
        _judge_bptt_case(case, got, desc, ctx, (*NAMES, "h0"))


def _toy_loss(p):
    """A smooth function of a dict of float64 tensors whose gradient autograd knows (the judge's referee)."""
    import torch

    return (torch.sin(p["A"]) * p["B"] ** 2).sum() + torch.tanh(p["C"] @ p["D"]).sum() + (p["c"] ** 3).sum() / 3


def draw_numeric(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    m, n, k = r.randint(2, 4), r.randint(2, 4), r.randint(1, 3)
    shapes = {"A": (m, n), "B": (m, n), "C": (k, m), "D": (m, k), "c": (r.randint(1, 5),)}
    cases = [{k_: torch.randn(*s, generator=gen, dtype=torch.float64) for k_, s in shapes.items()} for _ in range(2)]
    return {"cases": cases, "eps": [None, 10 ** -r.uniform(3, 4)]}


def ask_numeric(nb, inputs):
    import torch

    out = []
    for params, eps in zip(inputs["cases"], inputs["eps"]):
        mine = {k: v.clone() for k, v in params.items()}
        with torch.inference_mode():
            got = attempt(nb.numerical_gradient, _toy_loss, mine) if eps is None else \
                attempt(nb.numerical_gradient, _toy_loss, mine, eps)
        out.append({"grads": got, "params_after": mine})
    return out


def judge_numeric(inputs, answer, ctx):
    _no_autograd(ctx, "numerical_gradient", "Part B")
    for n, (params, eps, got) in enumerate(zip(inputs["cases"], inputs["eps"], value(answer, "numerical_gradient"))):
        desc = f"numerical_gradient of a smooth test function of {len(params)} tensors (case {n + 1}, eps " \
               f"{'default' if eps is None else f'{eps:.2g}'})"
        grads = value(got["grads"], desc)
        expect(isinstance(grads, dict), f"{desc}: should return a dict keyed like params")
        want = {k: v.clone().requires_grad_() for k, v in params.items()}
        _toy_loss(want).backward()
        for name, p in want.items():
            expect(name in grads, f"{desc}: no entry {name!r}")
            close(grads[name], p.grad, f"{desc}: d/d{name}", atol=1e-6 if eps is None else 1e-4)
            close(value(got["params_after"], desc)[name], params[name], f"{desc}: params[{name!r}] after the call "
                  "(put every entry back as it was)", atol=1e-9)


# --- Part D: clip_gradients ----------------------------------------------------------------------------------

def _grad_list(r, gen, scale, dtype="float32"):
    import torch

    shapes = [tuple(r.randint(1, 6) for _ in range(r.randint(1, 3))) for _ in range(r.randint(2, 5))]
    return [scale * torch.randn(*s, generator=gen, dtype=getattr(torch, dtype)) for s in shapes]


def draw_clip_large(ctx):
    import torch

    r, gen = ctx.random, ctx.generator()
    cases = [{"grads": _grad_list(r, gen, r.uniform(5, 50)), "max_norm": r.uniform(0.5, 3)},
             {"grads": _grad_list(r, gen, r.uniform(2, 10), "float64"), "max_norm": r.uniform(0.5, 1.5)},
             {"grads": [torch.randn(r.randint(3, 9), generator=gen) * 100, torch.zeros(2, 2)], "max_norm": 1.0}]
    return {"cases": cases}


def draw_clip_small(ctx):
    r, gen = ctx.random, ctx.generator()
    cases = [{"grads": _grad_list(r, gen, 0.01), "max_norm": r.uniform(5, 10)},
             {"grads": _grad_list(r, gen, 0.1, "float64"), "max_norm": r.uniform(20, 30)}]
    return {"cases": cases}


def ask_clip(nb, inputs):
    out = []
    for case in inputs["cases"]:
        grads = [g.clone() for g in case["grads"]]
        norm = attempt(nb.clip_gradients, grads, case["max_norm"])
        out.append({"norm": norm, "after": grads})
    return out


def _judge_clip(inputs, answer, ctx, what: str):
    import torch

    found = _library(ctx, "clip_gradients", "Part D", CLIP_LIBRARY)
    expect(not found, f"clip_gradients uses {', '.join(found)}: compute the norm and scale yourself (Part D)")
    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "clip_gradients"))):
        grads = case["grads"]
        desc = (f"clip_gradients on {len(grads)} tensors ({sum(g.numel() for g in grads)} numbers, {grads[0].dtype}), "
                f"max_norm {case['max_norm']:.3g}, {what} (case {n + 1})")
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        want_norm = float(torch.nn.utils.clip_grad_norm_(params, case["max_norm"]))
        norm = value(got["norm"], desc)
        expect(isinstance(norm, float), f"{desc}: return the total norm as a Python float")
        expect(abs(norm - want_norm) <= 1e-5 * want_norm + 1e-7,
               f"{desc}: returned {norm:.6g}, the total norm before clipping is {want_norm:.6g}")
        after = value(got["after"], desc)
        for i, (g, p) in enumerate(zip(after, params)):
            close(g, p.grad, f"{desc}: tensor {i} after the call (clip in place)", atol=1e-5 * max(1.0, case["max_norm"]),
                  rtol=1e-5)


def judge_clip_large(inputs, answer, ctx):
    _judge_clip(inputs, answer, ctx, "a norm above max_norm")


def judge_clip_small(inputs, answer, ctx):
    _judge_clip(inputs, answer, ctx, "a norm below max_norm")


# --- Part E: run_truncated -----------------------------------------------------------------------------------

def _truncated_case(r, gen, kind: str, with_h0: bool):
    import torch
    from torch import nn

    I, H, B = r.randint(1, 4), r.randint(2, 8), r.randint(1, 3)
    T = r.randint(14, 26)
    torch.manual_seed(r.randrange(2**31))
    rnn = (nn.RNN if kind == "rnn" else nn.GRU)(I, H, batch_first=True).double()
    k = r.choice([1, r.randint(2, 5), r.randint(6, 9), T + r.randint(0, 3)])
    probes = sorted({T - 1, r.randrange(T), r.randrange(T), min(T - 1, k)})
    return {"kind": kind, "state": {n: v.detach() for n, v in rnn.state_dict().items()}, "sizes": [I, H],
            "x": torch.randn(B, T, I, generator=gen, dtype=torch.float64), "k": k, "probes": probes,
            "h0": torch.randn(1, B, H, generator=gen, dtype=torch.float64) if with_h0 else None}


def draw_truncated(ctx):
    r, gen = ctx.random, ctx.generator()
    cases = [_truncated_case(r, gen, "rnn", False), _truncated_case(r, gen, "gru", True),
             _truncated_case(r, gen, "rnn", True)]
    cases[0]["k"] = r.randint(3, 6)  # one case always cuts mid-sequence, with a shorter last chunk
    cases[0]["probes"] = sorted({cases[0]["x"].shape[1] - 1, cases[0]["k"] - 1, cases[0]["k"], r.randrange(cases[0]["x"].shape[1])})
    return {"cases": cases}


def ask_truncated_forward(nb, inputs):
    import torch
    from torch import nn

    out = []
    for case in inputs["cases"]:
        rnn = (nn.RNN if case["kind"] == "rnn" else nn.GRU)(*case["sizes"], batch_first=True).double()
        rnn.load_state_dict(case["state"])
        h0 = case["h0"].clone() if case["h0"] is not None else None
        with torch.no_grad():
            out.append(attempt(nb.run_truncated, rnn, case["x"].clone(), case["k"], h0))
    return out


def ask_truncated_reach(nb, inputs):
    import torch
    from torch import nn

    out = []
    for case in inputs["cases"]:
        rnn = (nn.RNN if case["kind"] == "rnn" else nn.GRU)(*case["sizes"], batch_first=True).double()
        rnn.load_state_dict(case["state"])
        reach = []
        for t in case["probes"]:
            def one(t=t):
                x = case["x"].clone().requires_grad_()
                h0 = case["h0"].clone().requires_grad_() if case["h0"] is not None else None
                output, _ = nb.run_truncated(rnn, x, case["k"], h0)
                output[:, t].sum().backward()
                return {"x": x.grad.abs().sum(dim=(0, 2)) if x.grad is not None else None,
                        "h0": (h0.grad.abs().sum().item() if h0.grad is not None else 0.0) if h0 is not None else None}
            reach.append(attempt(one))
        out.append(reach)
    return out


def judge_truncated_forward(inputs, answer, ctx):
    import torch
    from torch import nn

    for n, (case, got) in enumerate(zip(inputs["cases"], value(answer, "run_truncated"))):
        B, T, _ = case["x"].shape
        desc = (f"run_truncated on an nn.{'RNN' if case['kind'] == 'rnn' else 'GRU'}, batch {B}, seq_len {T}, "
                f"k={case['k']}, h0 {'given' if case['h0'] is not None else 'None'} (case {n + 1})")
        got = value(got, desc)
        expect(isinstance(got, tuple) and len(got) == 2, f"{desc}: should return (output, h_n)")
        rnn = (nn.RNN if case["kind"] == "rnn" else nn.GRU)(*case["sizes"], batch_first=True).double()
        rnn.load_state_dict(case["state"])
        with torch.no_grad():
            out, h_n = rnn(case["x"], case["h0"])
        close(got[0], out, f"{desc}: output (the forward pass must equal one call on the whole sequence)", atol=1e-9)
        close(got[1], h_n, f"{desc}: h_n", atol=1e-9)


def judge_truncated_reach(inputs, answer, ctx):
    for n, (case, reach) in enumerate(zip(inputs["cases"], value(answer, "run_truncated"))):
        B, T, _ = case["x"].shape
        k = case["k"]
        for t, got in zip(case["probes"], value(reach, "run_truncated")):
            desc = (f"run_truncated on an nn.{'RNN' if case['kind'] == 'rnn' else 'GRU'}, seq_len {T}, k={k}: "
                    f"the gradient of the output at step {t}")
            got = value(got, desc)
            norms = tensor(got["x"], f"{desc} with respect to the inputs", shape=(T,))
            reached = [s for s in range(T) if norms[s].item() > 0]
            start = t // k * k  # the first step of t's chunk: the detach stops the gradient there
            expect(reached == list(range(start, t + 1)),
                   f"{desc} reaches inputs {_span(reached)}; with a detach every {k} steps it should reach "
                   f"exactly steps {start} to {t}")
            if case["h0"] is not None:
                expect((got["h0"] > 0) == (t < k), f"{desc}: " + ("should reach h0 (step t is in the first chunk)"
                       if t < k else "should not reach h0 (a detach lies between them)"))


def _span(steps) -> str:
    if not steps:
        return "none"
    runs, start = [], steps[0]
    for a, b in zip(steps, steps[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start} to {a}")
            start = b
    return ", ".join(runs)


CHECKS = [
    Check("forward_tests", "rnn_forward, one layer, against nn.RNN", 8, judge_forward_one, draw_forward_one,
          ask_forward),
    Check("forward_tests", "rnn_forward, stacked layers, against nn.RNN", 7, judge_forward_stacked,
          draw_forward_stacked, ask_forward),
    Check("forward_tests", "rnn_forward, ReLU and no biases, against nn.RNN", 5, judge_forward_variants,
          draw_forward_variants, ask_forward),
    Check("bptt_tests", "bptt's loss and parameter gradients against autograd and finite differences", 15,
          judge_bptt, draw_bptt, ask_bptt),
    Check("bptt_tests", "bptt with a given h0, one step, a batch of one", 5, judge_bptt_edges, draw_bptt_edges,
          ask_bptt),
    Check("numeric_tests", "numerical_gradient of a smooth function", 10, judge_numeric, draw_numeric, ask_numeric,
          ship=(_toy_loss,)),
    Check("clip_tests", "clip_gradients on gradients larger than max_norm", 10, judge_clip_large, draw_clip_large,
          ask_clip),
    Check("clip_tests", "clip_gradients on gradients smaller than max_norm", 5, judge_clip_small, draw_clip_small,
          ask_clip),
    Check("truncated_tests", "run_truncated's forward pass against one call on the whole sequence", 8,
          judge_truncated_forward, draw_truncated, ask_truncated_forward),
    Check("truncated_tests", "run_truncated: how far back the gradient reaches", 12, judge_truncated_reach,
          draw_truncated, ask_truncated_reach),
]
