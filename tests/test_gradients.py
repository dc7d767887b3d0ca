"""Fast unit tests of helpers.gradients (CPU, float64, tiny sizes)."""
import math

import pytest
import torch
from torch import nn

from helpers.gates import gate_weights, gru_gates, lstm_gates
from helpers.gradients import bptt_cost, input_grad_norms, jacobian_norms, set_spectral_radius, spectral_radius
from helpers.plots import plot_gates
from helpers.widgets import gate_explorer


def _direct_jacobian(module, x, T):
    """∂h_T/∂h_0 by differentiating one call of the whole module (no stepping)."""
    H = module.hidden_size

    def final_h(h0):
        h0 = h0.view(1, 1, H)
        state = (h0, torch.zeros_like(h0)) if isinstance(module, nn.LSTM) else h0
        _, hn = module(x[:T].unsqueeze(0), state)
        return (hn[0] if isinstance(module, nn.LSTM) else hn).view(H)

    return torch.autograd.functional.jacobian(final_h, torch.zeros(H, dtype=torch.float64))


@pytest.mark.parametrize("kind", [nn.RNN, nn.GRU, nn.LSTM])
def test_jacobian_norms_match_direct_autograd(kind):
    torch.manual_seed(0)
    module = kind(3, 5, batch_first=True).double()
    x = torch.randn(6, 3, dtype=torch.float64)
    norms = jacobian_norms(module, x)
    assert norms.shape == (6,)
    for T in (1, 4, 6):
        direct = torch.linalg.matrix_norm(_direct_jacobian(module, x, T), ord=2)
        assert torch.allclose(norms[T - 1], direct, rtol=1e-10, atol=1e-14)


def test_jacobian_norms_cells_and_step_functions_agree_with_layers():
    torch.manual_seed(1)
    layer = nn.LSTM(2, 4).double()
    cell = nn.LSTMCell(2, 4).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).copy_(getattr(layer, name + "_l0"))
    x = torch.randn(5, 2, dtype=torch.float64)
    for wrt in ("h", "c", "state"):
        assert torch.allclose(jacobian_norms(layer, x, wrt=wrt), jacobian_norms(cell, x, wrt=wrt))
    step = lambda x_t, s: cell(x_t, s)  # noqa: E731
    zeros = (torch.zeros(4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))
    assert torch.allclose(jacobian_norms(step, x, state=zeros), jacobian_norms(layer, x))


def test_linear_regime_gives_powers_of_the_radius():
    rnn = nn.RNN(1, 8).double()
    with torch.no_grad():
        nn.init.orthogonal_(rnn.weight_hh_l0)
        rnn.bias_ih_l0.zero_()
        rnn.bias_hh_l0.zero_()
    set_spectral_radius(rnn, 0.9)
    assert spectral_radius(rnn.weight_hh_l0) == pytest.approx(0.9)
    norms = jacobian_norms(rnn, torch.zeros(10, 1, dtype=torch.float64))
    assert torch.allclose(norms, 0.9 ** torch.arange(1, 11, dtype=torch.float64))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="num_layers=1"):
        jacobian_norms(nn.RNN(2, 3, num_layers=2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="seq_len, input_size"):
        jacobian_norms(nn.RNN(2, 3), torch.zeros(1, 4, 2))
    with pytest.raises(ValueError, match="LSTM only"):
        jacobian_norms(nn.GRU(2, 3), torch.zeros(4, 2), wrt="c")
    with pytest.raises(ValueError, match="positive int"):
        input_grad_norms(nn.RNN(2, 3), torch.zeros(4, 2), k=0)
    with pytest.raises(TypeError, match="nn.RNN"):
        set_spectral_radius(nn.LSTM(2, 3), 1.0)
    with pytest.raises(ValueError, match="initial `state`"):
        jacobian_norms(lambda x_t, s: s, torch.zeros(4, 2))
    with pytest.raises(ValueError, match="_reverse"):
        gate_weights(nn.LSTM(2, 3), "_l1")


@pytest.mark.parametrize("k, nonzero", [(None, 12), (4, 4), (5, 2), (12, 12)])
def test_truncation_zeroes_gradients_before_the_last_chunk(k, nonzero):
    torch.manual_seed(2)
    rnn = nn.GRU(2, 6).double()
    grads = input_grad_norms(rnn, torch.randn(12, 2, dtype=torch.float64), k=k)
    assert grads.shape == (12,)
    assert (grads[: 12 - nonzero] == 0).all()
    assert (grads[12 - nonzero:] > 0).all()


def test_bptt_cost_memory_grows_with_length_only_without_truncation():
    rnn = nn.RNN(3, 8)
    short, long = torch.randn(20, 3), torch.randn(80, 3)
    full_short, full_long = bptt_cost(rnn, short), bptt_cost(rnn, long)
    trunc_short, trunc_long = bptt_cost(rnn, short, k=10), bptt_cost(rnn, long, k=10)
    assert full_long["saved_MB"] > 3 * full_short["saved_MB"]
    assert full_long["graph_nodes"] > 3 * full_short["graph_nodes"]
    assert trunc_long["saved_MB"] == pytest.approx(trunc_short["saved_MB"])
    assert trunc_long["graph_nodes"] == trunc_short["graph_nodes"]
    assert trunc_long["seconds"] > 0 and rnn.weight_hh_l0.grad is None


def test_gate_weights_rebuild_the_stacked_layout():
    gru = nn.GRU(3, 4, bidirectional=True)
    p = gate_weights(gru, "_l0_reverse")
    assert torch.equal(torch.cat([p["W_ir"], p["W_iz"], p["W_in"]]), gru.weight_ih_l0_reverse)
    assert torch.equal(torch.cat([p["b_hr"], p["b_hz"], p["b_hn"]]), gru.bias_hh_l0_reverse)


def test_scalar_gates_match_one_unit_torch_layers():
    torch.manual_seed(3)
    x, h0, c0 = 0.7, -0.3, 0.4
    lstm = nn.LSTM(1, 1).double()
    p = {k: v.item() for k, v in gate_weights(lstm).items()}
    w_x = {g: p[f"W_i{g}"] for g in "ifgo"}
    w_h = {g: p[f"W_h{g}"] for g in "ifgo"}
    b = {g: p[f"b_i{g}"] + p[f"b_h{g}"] for g in "ifgo"}
    mine = lstm_gates(x, h0, c0, w_x, w_h, b)
    state = (torch.tensor([[[h0]]], dtype=torch.float64), torch.tensor([[[c0]]], dtype=torch.float64))
    _, (h, c) = lstm(torch.tensor([[[x]]], dtype=torch.float64), state)
    assert mine["h"] == pytest.approx(h.item()) and mine["c"] == pytest.approx(c.item())

    gru = nn.GRU(1, 1).double()
    p = {k: v.item() for k, v in gate_weights(gru).items()}
    w_x = {g: p[f"W_i{g}"] for g in "rzn"}
    w_h = {g: p[f"W_h{g}"] for g in "rzn"}
    b = {"r": p["b_ir"] + p["b_hr"], "z": p["b_iz"] + p["b_hz"], "n": p["b_in"]}  # b_hn sits inside r * (...)
    mine = gru_gates(x, h0, w_x, w_h, b, b_hn=p["b_hn"])
    _, h = gru(torch.tensor([[[x]]], dtype=torch.float64), torch.tensor([[[h0]]], dtype=torch.float64))
    assert mine["h"] == pytest.approx(h.item())


def test_gate_plot_and_explorer_build():
    import matplotlib

    matplotlib.use("Agg")
    values = lstm_gates(1.0, 0.5, 1.0, *({g: 1.0 for g in "ifgo"} for _ in range(2)), {g: 0.0 for g in "ifgo"})
    ax = plot_gates(values, {"c": 1.0, "h": 0.5})
    assert ax.get_title() and len(ax.patches) == 8
    assert math.isclose(values["c"], values["f"] * 1.0 + values["i"] * values["g"])
    for cell in ("lstm", "gru"):
        assert gate_explorer(cell) is not None
    with pytest.raises(ValueError, match="lstm"):
        gate_explorer("rnn")
