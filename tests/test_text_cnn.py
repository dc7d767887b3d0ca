"""helpers.models.TextCNN, lecture 05's 1D-CNN baseline: shapes, parameters, padding, a hand computation, training."""
import pytest
import torch

from helpers.models import TextCNN, count_parameters
from helpers.tasks import SentimentTask
from helpers.train import TrainConfig, evaluate, train


def small(**kw):
    torch.manual_seed(0)
    return TextCNN(40, **{"embed_dim": 6, "num_filters": 5, "kernel_sizes": (2, 3), "dropout": 0.0, **kw}).eval()


def test_output_shape_and_parameter_count():
    model = TextCNN(1000, embed_dim=16, num_filters=7, kernel_sizes=(3, 4, 5))
    assert model(torch.randint(1, 1000, (4, 12)), torch.tensor([12, 9, 5, 1])).shape == (4,)
    convs = sum(7 * 16 * k + 7 for k in (3, 4, 5))  # weights and one bias per filter
    assert count_parameters(model) == 1000 * 16 + convs + 7 * 3 + 1


def test_padding_changes_nothing():
    model = small()
    alone = model(torch.tensor([[5, 9, 2, 7]]), torch.tensor([4]))
    batch = model(torch.tensor([[5, 9, 2, 7, 0, 0, 0], [3, 4, 5, 6, 7, 8, 9]]), torch.tensor([4, 7]))
    assert torch.allclose(alone, batch[:1], atol=1e-6)


def test_padding_changes_nothing_even_with_nonzero_pad_ids():
    """The mask, not zero padding vectors, keeps padding out: windows past a review's end never win the max."""
    model = small()
    with torch.no_grad():
        model.embed.weight[0] = 5.0  # a padding vector that would win every max if it were read
    alone = model(torch.tensor([[5, 9, 2, 7]]), torch.tensor([4]))
    batch = model(torch.tensor([[5, 9, 2, 7, 0, 0, 0], [3, 4, 5, 6, 7, 8, 9]]), torch.tensor([4, 7]))
    assert torch.allclose(alone, batch[:1], atol=1e-6)


def test_matches_a_computation_by_hand():
    model = small()
    ids = torch.tensor([5, 9, 2, 7, 11])
    e = model.embed.weight[ids]  # [T, E]
    features = []
    for k, conv in zip(model.kernel_sizes, model.convs):
        windows = torch.stack([e[t: t + k].T.reshape(-1) for t in range(len(ids) - k + 1)])  # [windows, E * k]
        scores = torch.relu(windows @ conv.weight.reshape(conv.out_channels, -1).T + conv.bias)
        features.append(scores.max(dim=0).values)
    by_hand = model.head(torch.cat(features)).squeeze()
    assert torch.allclose(model(ids[None], torch.tensor([5]))[0], by_hand, atol=1e-5)


def test_reviews_shorter_than_the_widest_filter():
    model = small(kernel_sizes=(2, 5))
    out = model(torch.tensor([[4, 0, 0], [4, 8, 0]]), torch.tensor([1, 2]))
    assert out.shape == (2,) and torch.isfinite(out).all()
    alone = model(torch.tensor([[4]]), torch.tensor([1]))
    assert torch.allclose(alone, out[:1], atol=1e-6)


def test_convolution_is_equivariant_and_max_pooling_invariant_to_position():
    """Shifting a phrase inside padding-free context shifts the filter scores; the max over time does not move."""
    model = small(kernel_sizes=(3,))
    phrase = torch.tensor([5, 9, 2])
    early = torch.cat([phrase, torch.full((4,), 1)])  # the phrase, then 4 <unk>
    late = torch.cat([torch.full((4,), 1), phrase])
    conv = model.convs[0]
    s_early = conv(model.embed(early[None]).transpose(1, 2))[0, :, 0]
    s_late = conv(model.embed(late[None]).transpose(1, 2))[0, :, 4]
    assert torch.allclose(s_early, s_late, atol=1e-6)  # the same window scores the same wherever it sits


@pytest.mark.parametrize("bad, message", [
    (dict(kernel_sizes=()), "kernel_sizes"),
    (dict(kernel_sizes=(3, 0)), "kernel size"),
    (dict(num_filters=0), "num_filters"),
    (dict(dropout=1.5), "dropout"),
    (dict(pad_idx=40), "pad_idx"),
])
def test_bad_settings_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        TextCNN(40, **bad)


def test_bad_inputs_are_refused():
    model = small()
    with pytest.raises(ValueError, match="LongTensor"):
        model(torch.rand(2, 5), torch.tensor([5, 5]))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.tensor([[1, 2, 3]]), torch.tensor([4]))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.tensor([[1, 2, 3]]), torch.tensor([0]))


def test_learns_a_keyword_task_with_helpers_train():
    """Positive reviews contain the bigram (7, 8) somewhere; negatives hold 7 and 8 only apart."""
    g = torch.Generator().manual_seed(0)
    seqs, labels = [], []
    for i in range(400):
        s = torch.randint(10, 40, (int(torch.randint(6, 20, (1,), generator=g)),), generator=g).tolist()
        at = int(torch.randint(0, len(s) - 3, (1,), generator=g))
        if i % 2:
            s[at: at + 2] = [7, 8]
        else:
            s[at], s[at + 2] = 7, 8
        seqs.append(s)
        labels.append(i % 2)
    task = SentimentTask((seqs[:320], labels[:320]), (seqs[320:], labels[320:]), batch_size=32)
    torch.manual_seed(0)
    model = TextCNN(40, embed_dim=8, num_filters=8, kernel_sizes=(2,), dropout=0.0)
    before = evaluate(model, task)["val_acc"]
    train(model, task, TrainConfig(lr=1e-2, epochs=15, progress=False, seed=0))
    after = evaluate(model, task)["val_acc"]
    assert before < 0.7 and after > 0.95, (before, after)
