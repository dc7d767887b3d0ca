"""helpers.linear_rnn, helpers.ssm, helpers.inference and helpers.timing (lecture 09): every form against the loop."""
import pytest
import torch

from helpers.inference import KVCache, cached_step, prefill, state_nbytes, time_per_token
from helpers.linear_rnn import (MinGRU, MinLSTM, MinRNNLM, blelloch_scan, combine, cumprod_scan, hillis_steele_scan,
                                linear_attention_parallel, linear_attention_recurrent, linear_attention_step, log_scan,
                                scan_loop)
from helpers.models import CharRNN
from helpers.ssm import S4D, SelectiveCopyTask, SelectiveSSM, SSMBlock, SSMModel, zoh
from helpers.tasks import CharLMTask
from helpers.timing import best_of, train_step_rates
from helpers.train import TrainConfig, train
from helpers.transformer import CharTransformer

SCANS = [hillis_steele_scan, blelloch_scan]
# lengths 1, 2, powers of two and the numbers between them; trailing shapes from none to two dimensions
CASES = [(3, 1, ()), (2, 2, (4,)), (1, 3, (5,)), (4, 7, (2, 3)), (2, 8, (6,)), (3, 33, ()), (2, 100, (3, 2)),
         (1, 257, (4,))]


def _inputs(batch, T, rest, dtype, seed=0):
    """minGRU-like coefficients: a = 1 - z in (0, 1), b = z * candidate, so the states stay of order 1."""
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(batch, T, *rest, generator=g, dtype=dtype)
    return 1 - z, z * torch.randn(batch, T, *rest, generator=g, dtype=dtype), torch.randn(batch, *rest, generator=g,
                                                                                         dtype=dtype)


@pytest.mark.parametrize("scan", SCANS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("batch,T,rest", CASES)
def test_scans_match_the_loop(scan, batch, T, rest):
    a, b, h0 = _inputs(batch, T, rest, torch.float32)
    for start in (None, h0):
        assert (scan(a, b, start) - scan_loop(a, b, start)).abs().max() <= 1e-6
    a, b, h0 = _inputs(batch, T, rest, torch.float64)
    assert (scan(a, b, h0) - scan_loop(a, b, h0)).abs().max() <= 1e-13


@pytest.mark.parametrize("scan", SCANS, ids=lambda f: f.__name__)
def test_scans_are_bit_exact_when_the_arithmetic_is(scan):
    # gates exactly 0 or 1 and integer inputs: every product and sum is exact, so the order cannot matter
    g = torch.Generator().manual_seed(1)
    a = torch.randint(0, 2, (2, 1000, 3), generator=g).float()
    b = torch.randint(-8, 9, (2, 1000, 3), generator=g).float()
    assert torch.equal(scan(a, b), scan_loop(a, b))


def test_scans_run_on_complex_numbers():
    g = torch.Generator().manual_seed(2)
    a = 0.9 * torch.exp(1j * torch.rand(2, 19, 3, generator=g, dtype=torch.float64))
    b = torch.randn(2, 19, 3, generator=g, dtype=torch.cdouble)
    for scan in SCANS:
        assert (scan(a, b) - scan_loop(a, b)).abs().max() <= 1e-12


def test_combine_is_associative_and_the_identity_is_one_zero():
    x, y, z = (tuple(torch.randn(2, 3, dtype=torch.float64) for _ in range(2)) for _ in range(3))
    left, right = combine(combine(x, y), z), combine(x, combine(y, z))
    assert all(torch.allclose(p, q) for p, q in zip(left, right))
    one = (torch.ones(2, 3, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64))
    assert all(torch.equal(p, q) for p, q in zip(combine(one, x), x))


@pytest.mark.parametrize("scan", SCANS + [scan_loop], ids=lambda f: f.__name__)
def test_scans_pass_gradcheck(scan):
    a, b, h0 = (t.requires_grad_() for t in _inputs(2, 6, (3,), torch.float64, seed=3))
    assert torch.autograd.gradcheck(scan, (a, b, h0))


def test_log_scan_matches_the_loop_and_passes_gradcheck():
    a, b, h0 = _inputs(3, 50, (4,), torch.float64, seed=4)
    b, h0 = b.abs() + 1e-3, h0.abs() + 1e-3  # log space: positive values only
    assert (log_scan(a.log(), b.log(), h0.log()) - scan_loop(a, b, h0)).abs().max() <= 1e-12
    args = tuple(t[:, :7].log().requires_grad_() if t.dim() == 3 else t.log().requires_grad_() for t in (a, b, h0))
    assert torch.autograd.gradcheck(log_scan, args)


def test_the_closed_form_breaks_where_the_log_space_one_does_not():
    T = 3000
    a = torch.full((1, T, 1), 0.95)  # a_1 ... a_t underflows in float32 after about 1,800 steps
    b = torch.ones(1, T, 1)
    naive, safe, loop = cumprod_scan(a, b), log_scan(a.log(), b.log()), scan_loop(a, b)
    assert torch.allclose(naive[:, :200], loop[:, :200], rtol=1e-4)
    assert not torch.isfinite(naive[:, -1]).all()
    assert torch.allclose(safe, loop, rtol=1e-4)


@pytest.mark.parametrize("bad,match", [
    (lambda a, b: (a[0, :, 0], b[0, :, 0]), "seq_len"),
    (lambda a, b: (a, b[:, :-1]), "same shape"),
    (lambda a, b: (a, b.double()), "convert"),
    (lambda a, b: (a[:, :0], b[:, :0]), "at least one step"),
    (lambda a, b: (a.tolist(), b), "must be a tensor"),
])
def test_scans_reject_wrong_shapes_with_a_clear_error(bad, match):
    a, b, _ = _inputs(2, 5, (3,), torch.float32)
    for scan in SCANS + [scan_loop]:
        with pytest.raises(ValueError, match=match):
            scan(*bad(a, b))
    with pytest.raises(ValueError, match=r"state before step 1.*\(2, 3\)"):
        blelloch_scan(a, b, torch.zeros(3))
    with pytest.raises(ValueError, match="real floating-point"):
        log_scan(a.to(torch.cfloat), b.to(torch.cfloat))


@pytest.mark.parametrize("cell", [MinGRU, MinLSTM])
def test_min_rnns_agree_in_all_three_modes_and_step_by_step(cell):
    torch.manual_seed(0)
    rnn = cell(5, 7).double()
    x, h0 = torch.randn(3, 41, 5, dtype=torch.float64), torch.rand(3, 7, dtype=torch.float64) + 0.1
    ref = rnn(x, h0, mode="sequential")
    for mode in ("log", "scan"):
        assert (rnn(x, h0, mode=mode) - ref).abs().max() <= 1e-12
        assert (rnn(x, None, mode=mode) - rnn(x, None, mode="sequential")).abs().max() <= 1e-12
    # a chunk at a time, carrying the state, as CharLMTask does
    first = rnn(x[:, :20], h0)
    assert (torch.cat([first, rnn(x[:, 20:], first[:, -1])], dim=1) - ref).abs().max() <= 1e-12


def test_min_gru_is_the_papers_equations():
    torch.manual_seed(1)
    rnn = MinGRU(4, 3)
    x, h = torch.randn(2, 4), torch.rand(2, 3)
    z = torch.sigmoid(x @ rnn.linear_z.weight.T + rnn.linear_z.bias)
    pre = x @ rnn.linear_h.weight.T + rnn.linear_h.bias
    h_tilde = torch.where(pre >= 0, pre + 0.5, torch.sigmoid(pre))
    assert torch.allclose(rnn.step(x, h), (1 - z) * h + z * h_tilde)
    assert sum(p.numel() for p in rnn.parameters()) == 2 * 3 * (4 + 1)


def test_min_rnn_gradients_pass_gradcheck_in_log_mode():
    torch.manual_seed(2)
    rnn = MinLSTM(3, 2).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: rnn(x, mode="log"), (x,))


def test_min_rnns_reject_bad_input():
    rnn = MinGRU(4, 3)
    with pytest.raises(ValueError, match="input_size=4"):
        rnn(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="h0 must be"):
        rnn(torch.randn(2, 5, 4), torch.zeros(3))
    with pytest.raises(ValueError, match="mode must be"):
        rnn(torch.randn(2, 5, 4), mode="fast")
    with pytest.raises(ValueError, match="cell must be"):
        MinRNNLM(10, cell="gru")


def test_min_rnn_lm_trains_with_char_lm_task_and_carries_its_state():
    torch.manual_seed(3)
    ids = torch.randint(0, 12, (3000,))
    task = CharLMTask(ids[:2700], ids[2700:], batch_size=4, seq_len=16)
    model = MinRNNLM(12, n_embd=16, num_layers=2, cell="minlstm")
    history = train(model, task, TrainConfig(max_steps=3, eval_every=None, progress=False, device="cpu"))
    assert history.final()["steps"] == 3 and history.val_loss[-1] > 0
    x = ids[None, :40]
    full, hidden = model(x)
    first, h = model(x[:, :25])
    rest, h2 = model(x[:, 25:], h, mode="sequential")
    assert torch.allclose(torch.cat([first, rest], dim=1), full, atol=1e-5)
    assert hidden.shape == (2, 1, 16) and torch.allclose(h2, hidden, atol=1e-5)
    with pytest.raises(ValueError, match="LongTensor"):
        model(x.float())
    with pytest.raises(ValueError, match="hidden must be"):
        model(x, torch.zeros(1, 1, 16))


def test_linear_attention_parallel_recurrent_and_scan_forms_agree():
    torch.manual_seed(4)
    q, k, v = (torch.randn(2, 3, 37, 8, dtype=torch.float64) for _ in range(3))
    par = linear_attention_parallel(q, k, v)
    assert (par - linear_attention_recurrent(q, k, v)).abs().max() <= 1e-12
    # the state S_t = S_{t-1} + phi(k_t) v_t^T is a scan with a = 1
    phi = torch.nn.functional.elu
    outer = ((phi(k) + 1).unsqueeze(-1) * v.unsqueeze(-2)).flatten(0, 1)  # [6, 37, 8, 8]
    S = blelloch_scan(torch.ones_like(outer), outer)
    assert torch.allclose(S[:, -1], linear_attention_step(q[..., -1, :], k[..., -1, :], v[..., -1, :])[1][0].flatten(
        0, 1) + S[:, -2])
    with pytest.raises(ValueError, match="alike"):
        linear_attention_parallel(q, k[..., :4], v)


def test_zoh_is_exact_for_an_input_held_constant():
    A, B, dt, u = torch.tensor(-0.7 + 2.0j, dtype=torch.cdouble), torch.tensor(1.3 + 0j, dtype=torch.cdouble), 0.2, 0.9
    A_bar, B_bar = zoh(A, B, torch.tensor(dt, dtype=torch.float64))
    x, n = torch.tensor(0.4 + 0.1j, dtype=torch.cdouble), 20000
    expected = x
    for _ in range(n):  # integrate x' = A x + B u with many tiny steps
        expected = expected + dt / n * (A * expected + B * u)
    assert abs(A_bar * x + B_bar * u - expected) < 1e-4


def test_s4d_recurrence_scan_and_fft_convolution_agree():
    torch.manual_seed(5)
    layer = S4D(6, d_state=8).double()
    u = torch.randn(3, 37, 6, dtype=torch.float64)
    conv, none = layer(u, mode="conv")
    rec, state = layer(u, mode="recurrent")
    scan, state2 = layer(u, mode="scan")
    assert none is None and (conv - rec).abs().max() <= 1e-10 and (scan - rec).abs().max() <= 1e-12
    assert (state - state2).abs().max() <= 1e-12
    K = layer.kernel(37)  # the impulse response: y for u = (1, 0, 0, ...) with D = 0
    impulse = torch.zeros(1, 37, 6, dtype=torch.float64)
    impulse[0, 0] = 1
    assert torch.allclose(layer(impulse, mode="recurrent")[0][0] - layer.D * impulse[0], K.T)
    layer32 = S4D(4, d_state=16)
    u32 = torch.randn(2, 1000, 4)
    assert (layer32(u32, mode="conv")[0] - layer32(u32, mode="recurrent")[0]).abs().max() <= 1e-4


def test_selective_ssm_scan_matches_its_recurrence_and_carries_state():
    torch.manual_seed(6)
    ssm = SelectiveSSM(8, d_state=4).double()
    x = torch.randn(2, 29, 8, dtype=torch.float64)
    y_scan, h_scan = ssm(x, mode="scan")
    y_rec, h_rec = ssm(x, mode="recurrent")
    assert (y_scan - y_rec).abs().max() <= 1e-12 and (h_scan - h_rec).abs().max() <= 1e-12
    y1, h1 = ssm(x[:, :11])
    y2, _ = ssm(x[:, 11:], state=h1)
    assert (torch.cat([y1, y2], dim=1) - y_scan).abs().max() <= 1e-12
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: ssm(x[:, :5])[0], (x,))


def test_ssm_layers_reject_bad_input():
    with pytest.raises(ValueError, match="channels=6"):
        S4D(6)(torch.randn(2, 5, 4))
    with pytest.raises(ValueError, match="zero state"):
        S4D(6, 4)(torch.randn(2, 5, 6), mode="conv", state=torch.zeros(2, 6, 4, dtype=torch.cfloat))
    with pytest.raises(ValueError, match=r"state must be .*\(2, 6, 4\)"):
        SelectiveSSM(6, 4)(torch.randn(2, 5, 6), state=torch.zeros(6, 4))
    with pytest.raises(ValueError, match="mode must be"):
        SelectiveSSM(6, 4)(torch.randn(2, 5, 6), mode="conv")
    with pytest.raises(ValueError, match="mixer must be"):
        SSMModel(10, mixer="mamba")


@pytest.mark.parametrize("gated, d_conv", [(True, 0), (False, 0), (True, 4), (False, 1)])
@pytest.mark.parametrize("mixer", ["s4d", "selective"])
def test_ssm_model_modes_agree_and_step_by_step_generation_matches(mixer, gated, d_conv):
    torch.manual_seed(7)
    model = SSMModel(11, d_model=8, n_layer=2, mixer=mixer, d_state=4, gated=gated, d_conv=d_conv).double()
    x = torch.randint(0, 11, (2, 15))
    full, _ = model(x)
    _, states = model(x[:, :9], mode="scan")
    for t in range(9, 15):
        logits, states = model(x[:, t:t + 1], states)
        assert (logits[:, 0] - full[:, t]).abs().max() <= 1e-10


def test_ungated_block_has_no_gate_and_the_config_says_so():
    gated, plain = SSMModel(11, d_model=8, n_layer=1), SSMModel(11, d_model=8, n_layer=1, gated=False)
    assert gated.config["gated"] and not plain.config["gated"]
    # the gated block's in_proj makes u and the gate (2 x inner); the plain one only u
    assert gated.blocks[0].in_proj.out_features == 2 * plain.blocks[0].in_proj.out_features == 32
    x = torch.randint(0, 11, (2, 6))
    with torch.no_grad():  # a zeroed out_proj leaves only the residual path: the block is then the identity
        plain.blocks[0].out_proj.weight.zero_()
        plain.blocks[0].out_proj.bias.zero_()
        h = plain.embed(x)
        assert torch.equal(plain.blocks[0](h, "scan")[0], h)


def test_the_short_convolution_is_causal_and_sees_exactly_d_conv_positions():
    torch.manual_seed(3)
    block = SSMBlock(4, mixer="selective", d_state=2, d_conv=3).double()
    x = torch.randn(1, 10, 4, dtype=torch.float64)
    u = block.in_proj(block.norm(x)).chunk(2, dim=-1)[0]
    conv, _ = block._convolve(u, None)
    later = u.clone()
    later[:, 6:] += 1.0  # change the inputs from position 6 on
    conv_later, _ = block._convolve(later, None)
    assert torch.equal(conv[:, :6], conv_later[:, :6])  # nothing before 6 may see them
    earlier = u.clone()
    earlier[:, 2] += 1.0  # position 2 reaches positions 2, 3, 4 only
    changed = (block._convolve(earlier, None)[0] - conv).abs().sum(-1)[0] > 0
    assert changed.tolist() == [False, False, True, True, True] + [False] * 5
    with pytest.raises(ValueError, match="d_conv"):
        SSMBlock(4, d_conv=-1)


def test_selective_copy_task_batches_and_scores():
    task = SelectiveCopyTask(seq_len=20, n_memorize=3, n_symbols=5, batch_size=8, n_val=40)
    x, y = task.batch(0, 0, 0, "cpu")
    assert x.shape == y.shape == (8, 23)
    assert torch.equal(task.batch(0, 0, 0, "cpu")[0], x) and not torch.equal(task.batch(0, 1, 0, "cpu")[0], x)
    assert ((x[:, :20] > 0).sum(1) == 3).all() and (x[:, 20:] == 6).all()
    assert torch.equal(y[:, 20:], x[:, :20][x[:, :20] > 0].view(8, 3))  # the symbols, in order
    assert (y[:, :20] == -100).all()

    class Oracle(torch.nn.Module):  # reads the answer off the input: accuracy 1
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            answer = x[:, :20][x[:, :20] > 0].view(len(x), 3)
            logits = torch.zeros(*x.shape, 7)
            logits[:, 20:].scatter_(2, answer.unsqueeze(-1), 10.0)
            return logits + self.w, None

    assert task.evaluate(Oracle())["val_acc"] == 1.0
    with pytest.raises(ValueError, match="do not fit"):
        SelectiveCopyTask(seq_len=3, n_memorize=4)


def test_selective_copy_trains_with_helpers_train():
    task = SelectiveCopyTask(seq_len=16, n_memorize=2, n_symbols=4, batch_size=8, n_val=16)
    model = SSMModel(task.vocab_size, d_model=8, n_layer=1, mixer="selective", d_state=4)
    history = train(model, task, TrainConfig(max_steps=2, eval_every=None, progress=False, device="cpu"))
    assert history.kind == "selective_copy" and 0 <= history.val_acc[-1] <= 1


def test_kv_cached_generation_matches_the_full_forward_pass():
    torch.manual_seed(8)
    model = CharTransformer(20, block_size=32, n_layer=2, n_head=2, n_embd=16).eval()
    ids = torch.randint(0, 20, (2, 30))
    full, _ = model(ids)
    last, cache = prefill(model, ids[:, :12])
    assert torch.allclose(last, full[:, 11], atol=1e-5)
    for t in range(12, 30):
        assert torch.allclose(cached_step(model, ids[:, t], cache), full[:, t], atol=1e-5)
    # keys and values: 2 x layers x tokens x n_embd floats of 4 bytes, for each sequence
    assert cache.length == 30 and state_nbytes(cache) == 2 * 2 * 30 * 16 * 4 * 2
    with pytest.raises(ValueError, match="block_size"):
        prefill(model, torch.randint(0, 20, (1, 40)))


def test_state_bytes_and_time_per_token():
    gru = CharRNN(10, embed_dim=4, hidden_size=8, cell="gru")
    assert state_nbytes(gru.init_hidden(1)) == 8 * 4 and state_nbytes((torch.zeros(2), [torch.zeros(3)])) == 20
    seconds = time_per_token(lambda tok, h: gru(tok[None], h), None, n_tokens=3, vocab_size=10)
    assert 0 < seconds < 1
    model = CharTransformer(10, block_size=16, n_layer=1, n_head=1, n_embd=8).eval()
    _, cache = prefill(model, torch.randint(0, 10, (1, 5)))
    time_per_token(lambda tok, c: (cached_step(model, tok, c), c), cache, n_tokens=3, vocab_size=10)
    assert cache.length == 5  # rewound
    with pytest.raises(ValueError, match="KVCache"):
        state_nbytes("state")
    assert isinstance(KVCache(model, 1, 4).nbytes(), int)


def test_timing_helpers():
    assert best_of(lambda: sum(range(100)), repeats=2) >= 0
    ids = torch.randint(0, 12, (2000,))
    task = CharLMTask(ids[:1800], ids[1800:], batch_size=2, seq_len=8)
    models = {"GRU": CharRNN(12, embed_dim=4, hidden_size=8, cell="gru"),
              "minGRU": MinRNNLM(12, n_embd=8, num_layers=1)}
    before = {k: v.clone() for k, v in models["GRU"].state_dict().items()}
    rates = train_step_rates(models, task, lr={"GRU": 1e-3, "minGRU": 2e-3}, rounds=1, steps=2, device="cpu")
    assert set(rates) == {"GRU", "minGRU"} and all(r > 0 for r in rates.values())
    assert all(torch.equal(v, models["GRU"].state_dict()[k]) for k, v in before.items())  # copies were trained
    with pytest.raises(ValueError, match="dict of models"):
        train_step_rates([], task)


def test_the_benchmark_parts_run_at_tiny_sizes():
    from benchmarks import linear_rnn as bench
    scan = bench.main(["scan", "--device", "cpu", "--lengths", "1", "5", "--sizes", "1x2", "--size-length", "3"])
    assert [row["T"] for row in scan["by_length"]] == [1, 5] and scan["by_size"][0]["ratio"] > 0
    copy = bench.main(["copy", "--device", "cpu", "--steps", "1", "--copy-len", "8", "--n-memorize", "2",
                       "--d-model", "4", "--d-state", "2", "--json"])
    assert [r["mixer"] for r in copy["runs"]] == ["s4d", "selective"] and copy["chance"] == 1 / 8
    plain = bench.main(["copy", "--device", "cpu", "--steps", "1", "--copy-len", "8", "--n-memorize", "2",
                        "--d-model", "4", "--d-state", "2", "--d-conv", "0", "--no-gate", "--json"])
    assert all(p["parameters"] < g["parameters"] for p, g in zip(plain["runs"], copy["runs"]))
    inference = bench.main(["inference", "--contexts", "4", "9", "--tokens", "2"])
    assert inference["rows"][1]["Transformer"]["bytes"] > inference["rows"][0]["Transformer"]["bytes"]
    assert inference["rows"][1]["GRU"]["bytes"] == inference["rows"][0]["GRU"]["bytes"]
    lm = bench.main(["lm", "--device", "cpu", "--models", "GRU", "minGRU", "--base-steps", "2", "--seq-len", "8",
                     "--batch-size", "2", "--eval-batches", "2", "--rate-rounds", "1", "--seeds", "0", "1"])
    assert {(r["seed"], r["model"]) for r in lm["runs"]} == {(0, "GRU"), (0, "minGRU"), (1, "GRU"), (1, "minGRU")}
    assert "minus_gru" in lm["summary"]["minGRU"]
    runs = [{"seed": s, "model": m, "val_nats_per_char": v} for s, m, v in
            [(0, "GRU", 1.5), (0, "minGRU", 1.6), (1, "GRU", 1.4), (1, "minGRU", 1.45)]]
    summary = bench.summarise_lm(runs)
    assert summary["minGRU"]["minus_gru"]["mean"] == pytest.approx(0.075)
    with pytest.raises(SystemExit):
        bench.main(["lm", "--base-steps", "0"])
