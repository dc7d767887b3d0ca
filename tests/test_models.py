"""helpers.models: shapes, parameter counts against closed forms, bad arguments."""
import pytest
import torch
import torch.nn as nn

from helpers.models import CharRNN, SentimentRNN, count_parameters, detach_state, rnn_param_count


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
def test_char_rnn_shapes_and_hidden(cell, num_layers):
    torch.manual_seed(0)
    model = CharRNN(vocab_size=11, embed_dim=5, hidden_size=7, num_layers=num_layers, cell=cell)
    x = torch.randint(0, 11, (3, 4))
    logits, hidden = model(x)
    assert logits.shape == (3, 4, 11)
    h = hidden[0] if cell == "lstm" else hidden
    assert h.shape == (num_layers, 3, 7)
    # carrying the state: two halves with the state passed on equal one whole pass
    a, ha = model(x[:, :2])
    b, _ = model(x[:, 2:], ha)
    torch.testing.assert_close(torch.cat([a, b], 1), logits)
    zero = model.init_hidden(3)
    torch.testing.assert_close(model(x, zero)[0], logits)
    assert isinstance(model.rnn, {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell]) and model.rnn.batch_first


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_param_count_closed_form(cell, num_layers, bidirectional):
    module = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[cell](6, 9, num_layers, bidirectional=bidirectional)
    assert count_parameters(module) == rnn_param_count(cell, 6, 9, num_layers, bidirectional)


def test_param_count_by_hand():
    # one-layer vanilla RNN: W_ih (H x D) + W_hh (H x H) + two bias vectors
    assert rnn_param_count("rnn", 10, 20) == 20 * 10 + 20 * 20 + 2 * 20
    assert rnn_param_count("lstm", 10, 20) == 4 * (20 * 10 + 20 * 20 + 2 * 20)
    model = CharRNN(vocab_size=30, embed_dim=8, hidden_size=16, cell="gru")
    assert count_parameters(model) == 30 * 8 + rnn_param_count("gru", 8, 16) + 16 * 30 + 30


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_sentiment_rnn_packed(cell, bidirectional):
    torch.manual_seed(0)
    model = SentimentRNN(vocab_size=20, embed_dim=6, hidden_size=5, num_layers=2, cell=cell,
                         bidirectional=bidirectional).eval()
    x = torch.randint(2, 20, (3, 6))
    lengths = torch.tensor([6, 2, 4])
    x[1, 2:] = 0
    x[2, 4:] = 0
    logits = model(x, lengths)
    assert logits.shape == (3,)
    # padding must not change a sequence's logit: compare each sequence alone, unpadded
    for i, n in enumerate(lengths.tolist()):
        alone = model(x[i:i + 1, :n], torch.tensor([n]))
        torch.testing.assert_close(alone, logits[i:i + 1])


@pytest.mark.parametrize("make", [
    lambda: CharRNN(10, cell="transformer"),
    lambda: CharRNN(10, cell="gru", nonlinearity="relu"),
    lambda: CharRNN(10, cell="rnn", nonlinearity="sigmoid"),
    lambda: CharRNN(0),
    lambda: CharRNN(10, hidden_size=0),
    lambda: CharRNN(10, num_layers=1.5),
    lambda: CharRNN(10, dropout=1.0),
    lambda: SentimentRNN(10, cell="cnn"),
    lambda: SentimentRNN(10, pad_idx=10),
    lambda: rnn_param_count("elman", 3, 4),
    lambda: rnn_param_count("rnn", 3, 0),
])
def test_bad_arguments(make):
    with pytest.raises(ValueError):
        make()


def test_bad_inputs():
    model = CharRNN(10, embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="batch, time"):
        model(torch.randint(0, 10, (5,)))
    with pytest.raises(ValueError, match="batch, time"):
        model(torch.rand(2, 3))
    senti = SentimentRNN(10, embed_dim=4, hidden_size=4)
    with pytest.raises(ValueError, match="lengths"):
        senti(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 0]))
    with pytest.raises(ValueError, match="lengths"):
        senti(torch.ones(2, 3, dtype=torch.long), torch.tensor([4, 1]))


def test_relu_rnn_and_dropout():
    model = CharRNN(10, embed_dim=4, hidden_size=4, num_layers=2, cell="rnn", nonlinearity="relu", dropout=0.5)
    assert model.rnn.nonlinearity == "relu" and model.rnn.dropout == 0.5
    assert CharRNN(10, num_layers=1, dropout=0.5).rnn.dropout == 0.0  # between-layer dropout needs two layers


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sentiment_rnn_without_packing_reads_the_last_real_token(cell):
    torch.manual_seed(0)
    packed = SentimentRNN(30, embed_dim=6, hidden_size=5, num_layers=2, cell=cell, bidirectional=False)
    padded = SentimentRNN(30, embed_dim=6, hidden_size=5, num_layers=2, cell=cell, bidirectional=False, pack=False)
    padded.load_state_dict(packed.state_dict())
    x = torch.randint(1, 30, (4, 9))
    lengths = torch.tensor([9, 3, 7, 1])
    x[torch.arange(9) >= lengths[:, None]] = 0  # padding after each sequence
    torch.testing.assert_close(padded(x, lengths), packed(x, lengths))  # one direction: exact


def test_bidirectional_sentiment_rnn_without_packing_matches_when_nothing_is_padded():
    torch.manual_seed(0)
    packed = SentimentRNN(30, embed_dim=6, hidden_size=5)
    padded = SentimentRNN(30, embed_dim=6, hidden_size=5, pack=False)
    padded.load_state_dict(packed.state_dict())
    x, lengths = torch.randint(1, 30, (3, 8)), torch.full((3,), 8)
    torch.testing.assert_close(padded(x, lengths), packed(x, lengths))


@pytest.mark.parametrize("pack", [True, False])
def test_max_pooling_matches_a_hand_computed_max_over_the_real_steps(pack):
    torch.manual_seed(0)
    model = SentimentRNN(30, embed_dim=6, hidden_size=5, bidirectional=False, pool="max", pack=pack)
    x = torch.randint(1, 30, (3, 7))
    lengths = torch.tensor([7, 2, 4])
    x[torch.arange(7) >= lengths[:, None]] = 0
    expected = []
    for row, n in zip(x, lengths):  # one review at a time, no padding at all
        out, _ = model.rnn(model.embed(row[None, :n]))
        expected.append(model.head(out[0].amax(dim=0)))
    torch.testing.assert_close(model(x, lengths), torch.cat(expected))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_max_pooling_ignores_padding_and_agrees_packed_or_padded(cell):
    torch.manual_seed(0)
    packed = SentimentRNN(30, embed_dim=6, hidden_size=5, cell=cell, bidirectional=False, pool="max")
    padded = SentimentRNN(30, embed_dim=6, hidden_size=5, cell=cell, bidirectional=False, pool="max", pack=False)
    padded.load_state_dict(packed.state_dict())
    x = torch.randint(1, 30, (4, 9))
    lengths = torch.tensor([9, 3, 7, 1])
    x[torch.arange(9) >= lengths[:, None]] = 0
    wider = torch.cat([x, torch.zeros(4, 5, dtype=torch.long)], dim=1)  # five more padding columns
    torch.testing.assert_close(padded(x, lengths), packed(x, lengths))
    torch.testing.assert_close(padded(wider, lengths), padded(x, lengths))
    # a bidirectional model pools both directions: twice the features into the head
    assert SentimentRNN(30, embed_dim=6, hidden_size=5, pool="max").head.in_features == 10


def test_unknown_pool_is_a_clear_error():
    with pytest.raises(ValueError, match="pool must be 'last'.*or 'max'"):
        SentimentRNN(10, pool="mean")


@pytest.mark.parametrize("pack", [True, False])
def test_embedding_dropout_acts_in_training_only(pack):
    torch.manual_seed(0)
    model = SentimentRNN(30, embed_dim=16, hidden_size=5, pool="max", pack=pack, embed_dropout=0.5)
    x, lengths = torch.randint(1, 30, (3, 6)), torch.tensor([6, 4, 2])
    model.train()
    assert not torch.allclose(model(x, lengths), model(x, lengths))  # a fresh mask each call
    model.eval()
    plain = SentimentRNN(30, embed_dim=16, hidden_size=5, pool="max", pack=pack)
    plain.load_state_dict(model.state_dict())  # no extra weights: eval mode is the plain model
    torch.testing.assert_close(model(x, lengths), plain.eval()(x, lengths))
    with pytest.raises(ValueError, match="dropout"):
        SentimentRNN(30, embed_dropout=1.0)


def test_detach_state_cuts_the_graph_and_moves_h_or_an_lstm_pair():
    h = torch.ones(1, 2, 3, requires_grad=True) * 2
    c = torch.zeros(1, 2, 3, requires_grad=True) + 1
    pair = detach_state((h, c), "cpu", torch.float16)
    assert isinstance(pair, tuple) and all(not t.requires_grad and t.dtype == torch.float16 for t in pair)
    assert torch.equal(pair[0].float(), h.detach())
    assert not detach_state(h).requires_grad and detach_state(h).dtype == torch.float32
    assert detach_state(None) is None
