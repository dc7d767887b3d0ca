"""Lecture 09's exercise checkers: the worked answers pass, and typical wrong answers fail."""
import torch
import torch.nn as nn

from helpers.exercises import lecture09 as ex
from helpers.linear_rnn import blelloch_scan, elu_feature_map, linear_attention_step
from helpers.ssm import SSMModel, SelectiveCopyTask
from helpers.transformer import CharTransformer


def test_exercise_1_reverse_scan(capsys):
    def right(a, b):
        return blelloch_scan(a.flip(1), b.flip(1)).flip(1)

    assert ex.check_exercise_1(right)
    assert not ex.check_exercise_1(lambda a, b: blelloch_scan(a, b.flip(1)).flip(1))  # a left unflipped
    assert not ex.check_exercise_1(lambda a, b: blelloch_scan(a.flip(1), b.flip(1)))  # states not flipped back
    assert not ex.check_exercise_1(lambda a, b: blelloch_scan(a, b))  # the forward scan
    assert not ex.check_exercise_1(lambda a, b: 1 / 0)
    assert "ZeroDivisionError" in capsys.readouterr().out
    assert not ex.check_exercise_1(None)


def test_exercise_2_where_the_closed_form_overflows():
    T = 20_000
    A = torch.cumprod(torch.full((T,), 0.99), 0)
    first_bad = int((~torch.isfinite(A * torch.cumsum(1 / A, 0))).nonzero()[0]) + 1
    assert ex.check_exercise_2(first_bad)
    underflow = int((A == 0).nonzero()[0]) + 1  # where A_t itself becomes 0: later
    assert not ex.check_exercise_2(underflow)
    assert not ex.check_exercise_2(int((~torch.isfinite(1 / A)).nonzero()[0]) + 1)  # where 1 / A_t alone overflows
    assert not ex.check_exercise_2(None)


def test_exercise_3_parameter_counts():
    assert ex.check_exercise_3({"minGRU": 2 * 128 * (128 + 1), "GRU": 3 * (2 * 128 * 128 + 2 * 128)})
    assert not ex.check_exercise_3({"minGRU": 2 * 128 * 128, "GRU": 3 * 2 * 128 * 128})  # biases forgotten
    assert not ex.check_exercise_3({"minGRU": 2 * 128 * 129, "GRU": 3 * (2 * 128 * 128 + 128)})  # one GRU bias only
    assert not ex.check_exercise_3(None)


def test_exercise_4_linear_attention_step():
    def buggy(q_t, k_t, v_t, state=None):
        phi_q, phi_k = elu_feature_map(q_t), elu_feature_map(k_t)
        S, z = state if state is not None else (torch.zeros(*phi_k.shape, v_t.shape[-1], dtype=v_t.dtype),
                                                torch.zeros_like(phi_k))
        y = (phi_q.unsqueeze(-2) @ S).squeeze(-2) / ((phi_q * z).sum(-1, keepdim=True) + 1e-6)  # before the update
        return y, (S + phi_k.unsqueeze(-1) * v_t.unsqueeze(-2), z + phi_k)

    assert ex.check_exercise_4(linear_attention_step)
    assert not ex.check_exercise_4(buggy)
    assert not ex.check_exercise_4(lambda q, k, v, s: linear_attention_step(q, k, v, s)[0])  # not a pair
    assert not ex.check_exercise_4(None)


def test_exercise_5_zoh():
    def right(A, B, dt):
        A_bar = torch.exp(dt * A)
        return A_bar, (A_bar - 1) / A * B

    assert ex.check_exercise_5(right)
    assert not ex.check_exercise_5(lambda A, B, dt: (torch.exp(dt * A), dt * B))  # Euler for B
    assert not ex.check_exercise_5(lambda A, B, dt: (1 + dt * A, dt * B))  # Euler for both
    assert not ex.check_exercise_5(lambda A, B, dt: right(A, B, dt)[0])
    assert not ex.check_exercise_5(None)


def test_exercise_6_delta_ratio():
    torch.manual_seed(0)
    task = SelectiveCopyTask(seq_len=16, n_memorize=2, n_symbols=4, batch_size=4, n_val=32)
    model = SSMModel(task.vocab_size, d_model=8, n_layer=1, mixer="selective", d_state=4)
    ratio = ex.delta_ratio(model, task)
    assert ratio > 0 and ex.check_exercise_6(ratio, model, task)
    assert not ex.check_exercise_6(1 / ratio, model, task)
    assert not ex.check_exercise_6(ratio * 1.01, model, task)
    assert not ex.check_exercise_6(None, model, task)


def test_exercise_7_kv_cache_bytes():
    model = CharTransformer(65, block_size=128, n_layer=3, n_head=4, n_embd=96)
    assert ex.check_exercise_7(2 * 3 * 4096 * 96 * 4, model)
    assert not ex.check_exercise_7(3 * 4096 * 96 * 4, model)  # keys only
    assert not ex.check_exercise_7(2 * 3 * 4096 * 24 * 4, model)  # one head only
    assert not ex.check_exercise_7(None, model)


def test_exercise_3_counts_match_the_modules():
    assert sum(p.numel() for p in nn.GRU(128, 128).parameters()) == 3 * (2 * 128 * 128 + 2 * 128)
