"""helpers.transformer: attention written out equals PyTorch's, causality, and training through helpers.train."""
import pytest
import torch
import torch.nn.functional as F

from helpers.models import CharRNN, count_parameters
from helpers.tasks import CharLMTask
from helpers.train import TrainConfig, train
from helpers.transformer import CharTransformer, causal_attention, sliding_window_loss, sliding_window_losses


def test_causal_attention_equals_pytorch():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 9, 4) for _ in range(3))
    ours = causal_attention(q, k, v)
    assert (ours - F.scaled_dot_product_attention(q, k, v, is_causal=True)).abs().max() < 1e-5
    assert torch.allclose(ours[..., 0, :], v[..., 0, :], atol=1e-6)  # the first step can only see itself


def test_from_scratch_model_equals_fused_model():
    torch.manual_seed(0)
    model = CharTransformer(vocab_size=11, block_size=16, n_layer=2, n_head=2, n_embd=8).eval()
    x = torch.randint(0, 11, (3, 16))
    fused, hidden = model(x)
    scratch, _ = model.set_from_scratch(True)(x)
    assert hidden is None and fused.shape == (3, 16, 11)
    assert torch.allclose(fused, scratch, atol=1e-5)


def test_the_future_does_not_leak_into_the_past():
    torch.manual_seed(0)
    model = CharTransformer(vocab_size=11, block_size=12, n_layer=2, n_head=2, n_embd=8).eval()
    x = torch.randint(0, 11, (1, 12))
    changed = x.clone()
    changed[0, 7] = (x[0, 7] + 1) % 11
    a, b = model(x)[0], model(changed)[0]
    assert torch.allclose(a[0, :7], b[0, :7], atol=1e-6) and not torch.allclose(a[0, 7:], b[0, 7:])


def test_bad_settings_and_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="divisible by n_head"):
        CharTransformer(10, n_embd=10, n_head=4)
    with pytest.raises(ValueError, match="block_size"):
        CharTransformer(10, block_size=0)
    model = CharTransformer(10, block_size=8, n_layer=1, n_head=1, n_embd=8)
    with pytest.raises(ValueError, match="Use seq_len <= 8"):
        model(torch.zeros(1, 9, dtype=torch.long))
    with pytest.raises(ValueError, match="LongTensor"):
        model(torch.zeros(1, 4))


def test_trains_on_a_char_lm_task_and_generates():
    text = torch.tensor([0, 1, 2, 3, 4] * 400)  # a cycle: the next id is fully predictable
    task = CharLMTask(text[:1800], text[1800:], batch_size=8, seq_len=16)
    model = CharTransformer(vocab_size=5, block_size=16, n_layer=1, n_head=2, n_embd=16)
    history = train(model, task, TrainConfig(lr=1e-2, max_steps=60, eval_every=None, progress=False, device="cpu"))
    assert history.val_loss[-1] < 0.2  # ln 5 = 1.61 for a uniform guess
    out = model.generate(torch.tensor([0, 1, 2]), length=20, temperature=0.5, seed=0)
    assert out.shape == (23,) and out[:3].tolist() == [0, 1, 2]


def test_tied_head_shares_the_embedding_and_survives_a_round_trip():
    tied = CharTransformer(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8, tie_weights=True)
    untied = CharTransformer(vocab_size=11, block_size=8, n_layer=1, n_head=2, n_embd=8)
    assert tied.head.weight is tied.embed.weight and untied.head.weight is not untied.embed.weight
    assert count_parameters(untied) - count_parameters(tied) == 11 * 8
    copy = CharTransformer(**tied.config)
    copy.load_state_dict(tied.state_dict())
    assert copy.head.weight is copy.embed.weight and torch.equal(copy.head.weight, tied.embed.weight)


@pytest.mark.parametrize("make", [lambda: CharTransformer(7, block_size=10, n_layer=1, n_head=1, n_embd=8),
                                  lambda: CharRNN(7, embed_dim=4, hidden_size=8)])
def test_sliding_window_scores_each_character_from_the_same_context(make):
    torch.manual_seed(0)
    model = make().eval()
    ids = torch.randint(0, 7, (57,))
    context, stride = 10, 4
    total, count = 0.0, 0
    for start in range(0, len(ids) - context, stride):  # one window at a time, from a zero state
        window = ids[start: start + context + 1]
        logits, _ = model(window[None, :-1], None)
        total += F.cross_entropy(logits[0, -stride:], window[-stride:], reduction="sum").item()
        count += stride
    assert sliding_window_loss(model, ids, context, stride, batch_size=3) == pytest.approx(total / count, rel=1e-5)
    per_char = sliding_window_losses(model, ids, context, stride, batch_size=3)
    assert per_char.shape == (len(range(0, len(ids) - context, stride)), stride)
    assert per_char.sum().item() == pytest.approx(total, rel=1e-5)
    assert model.training is False
    with pytest.raises(ValueError, match="stride <= context"):
        sliding_window_loss(model, ids, context=4, stride=5)


def test_benchmark_gives_both_models_the_same_trials_and_scores():
    from benchmarks import transformer_vs_lstm

    result = transformer_vs_lstm.main(["--device", "cpu", "--seconds", "0", "--steps", "2", "--lrs", "1e-3", "3e-3",
                                       "--seq-len", "16", "--batch-size", "8", "--n-layer", "1", "--n-head", "1",
                                       "--n-embd", "8", "--eval-batches", "1", "--lengths", "16", "--json"])
    for r in result["models"].values():
        assert set(r["trials"]) == {"0.001", "0.003"} and r["steps"] == 2
        assert f"{r['lr']:g}" == min(r["trials"], key=r["trials"].get) and 0 < r["report_same_context"] < 10
        assert 0 < r["report_own_way"] < 10 and r["step_seconds_by_length"][16] > 0
