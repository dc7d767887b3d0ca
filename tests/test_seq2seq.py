"""helpers.seq2seq: the date task, padded batches and masks, attention, the models, greedy and beam decoding."""
from datetime import date

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from helpers.seq2seq import (BOS, EOS, PAD, STYLES, AdditiveAttention, Encoder, Seq2Seq, Seq2SeqTask, Seq2SeqVocab,
                             beam_search, char_error_rate, collate, dot_attention, edit_distance, exact_match,
                             greedy_decode, make_date_data, masked_cross_entropy, pad_batch, reverse_padded,
                             translate, write_date)
from helpers.train import TrainConfig, train


@pytest.fixture(scope="module")
def data():
    return make_date_data(n_train=400, n_val=40, n_test=60, max_dates=3, seed=1)


def test_styles_write_the_same_day():
    d = date(1987, 3, 3)
    written = {style: write_date(d, style) for style in STYLES}
    assert written["d Month yyyy"] == "3 March 1987"
    assert written["the dth of Month, yyyy"] == "the 3rd of March, 1987"
    assert written["dd.mm.yyyy"] == "03.03.1987" and written["yyyy/mm/dd"] == "1987/03/03"
    assert written["Weekday, d Month yyyy"] == "Tuesday, 3 March 1987"
    assert write_date(date(2011, 1, 12), "the dth of Month, yyyy", "upper") == "THE 12TH OF JANUARY, 2011"
    with pytest.raises(ValueError, match="style must be one of"):
        write_date(d, "mm/dd/yyyy")


def test_held_out_days_never_appear_in_training(data):
    days = data["days"]
    assert not days["train"] & days["test"] and not days["train"] & days["val"] and not days["val"] & days["test"]
    train_dates = {iso for _, t in data["train"] for iso in t.split()}
    test_dates = {iso for _, t in data["test"] for iso in t.split()}
    assert train_dates and test_dates and not train_dates & test_dates
    assert not {s for s, _ in data["train"]} & {s for s, _ in data["test"]}
    for src, tgt in data["test"]:
        assert len(src.split("; ")) == len(tgt.split()) <= 3
        for iso in tgt.split():
            assert date.fromisoformat(iso) in days["test"]


def test_vocab_round_trip_and_unknown_characters(data):
    vocab = data["vocab"]
    assert vocab.itos[:3] == ["<pad>", "<s>", "</s>"] and (PAD, BOS, EOS) == (0, 1, 2)
    src = data["train"][0][0]
    assert vocab.decode(vocab.encode(src)) == src
    assert vocab.decode(vocab.encode("1987") + [EOS] + vocab.encode("99")) == "1987"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        vocab.encode("3 März 1987")


def test_collate_shifts_targets_and_masks_padding(data):
    vocab = data["vocab"]
    pairs = [("1 May 2001", "2001-05-01"), ("1 May 2001; 2 May 2001", "2001-05-01 2001-05-02")]
    b = collate(pairs, vocab)
    assert b["src"].shape == (2, 22) and b["src_len"].tolist() == [10, 22]
    assert b["tgt_in"][0, 0] == BOS and b["tgt_out"][0, 10] == EOS
    assert torch.equal(b["tgt_in"][:, 1:11], b["tgt_out"][:, :10])  # the input is the output moved right by one
    assert b["tgt_mask"].sum(1).tolist() == [11, 22] and (b["tgt_out"][~b["tgt_mask"]] == PAD).all()


def test_padded_positions_do_not_change_the_loss():
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 5, 7), torch.randint(3, 7, (2, 5))
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    loss = masked_cross_entropy(logits, targets, mask)
    changed = logits.clone()
    changed[0, 3:] = torch.randn(2, 7) * 10  # garbage where there is only padding
    assert torch.allclose(masked_cross_entropy(changed, targets, mask), loss)
    by_hand = torch.cat([F.cross_entropy(logits[0, :3], targets[0, :3], reduction="none"),
                         F.cross_entropy(logits[1], targets[1], reduction="none")]).mean()
    assert torch.allclose(loss, by_hand)
    assert not torch.allclose(F.cross_entropy(changed.reshape(-1, 7), targets.reshape(-1)),
                              F.cross_entropy(logits.reshape(-1, 7), targets.reshape(-1)))  # unmasked: it would


@pytest.mark.parametrize("attention", [None, "additive", "dot"])
def test_extra_source_padding_changes_nothing(data, attention):
    torch.manual_seed(0)
    vocab = data["vocab"]
    model = Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, attention=attention).eval()
    b = collate(data["train"][:4], vocab)
    wider = torch.cat([b["src"], torch.full((4, 9), PAD)], dim=1)
    logits, weights = model(b["src"], b["src_len"], b["tgt_in"])
    logits2, weights2 = model(wider, b["src_len"], b["tgt_in"])
    assert torch.allclose(logits, logits2, atol=1e-5)
    assert torch.allclose(masked_cross_entropy(logits, b["tgt_out"], b["tgt_mask"]),
                          masked_cross_entropy(logits2, b["tgt_out"], b["tgt_mask"]), atol=1e-6)
    if attention is not None:
        assert weights2[..., b["src"].shape[1]:].abs().max() == 0  # no weight on the extra padding
        real = torch.arange(wider.shape[1])[None, :] < b["src_len"][:, None]
        assert weights2.masked_fill(real[:, None, :], 0).abs().max() == 0
        assert torch.allclose(weights2.sum(-1), torch.ones(weights2.shape[:2]))


def test_dot_attention_equals_pytorch():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 4, 8), torch.randn(3, 6, 8), torch.randn(3, 6, 5)
    mask = torch.arange(6)[None, :] < torch.tensor([6, 2, 4])[:, None]
    ours, weights = dot_attention(q, k, v, mask)
    theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :])
    assert (ours - theirs).abs().max() < 1e-5
    assert weights[1, :, 2:].abs().max() == 0
    unmasked, _ = dot_attention(q, k, v)  # the planted bug of the lecture's exercise: attention over padding
    assert not torch.allclose(unmasked[1], theirs[1], atol=1e-3)


def test_additive_attention_by_hand():
    torch.manual_seed(0)
    att = AdditiveAttention(4, 6, 5)
    q, k = torch.randn(1, 1, 4), torch.randn(1, 3, 6)
    scores = torch.stack([att.v.weight[0] @ torch.tanh(att.W_q.weight @ q[0, 0] + att.W_k.weight @ k[0, s])
                          for s in range(3)])
    context, weights = att(q, k, k)
    assert torch.allclose(weights[0, 0], scores.softmax(0), atol=1e-6)
    assert torch.allclose(context[0, 0], weights[0, 0] @ k[0], atol=1e-6)


def test_reversed_encoder_equals_packed_bidirectional_gru():
    torch.manual_seed(0)
    enc = Encoder(vocab_size=12, embed_dim=5, hidden_size=7, bidirectional=True)
    src, src_len = pad_batch([[4, 5, 6, 7, 8], [3, 9], [10, 11, 3]])
    gru = torch.nn.GRU(5, 7, batch_first=True, bidirectional=True)
    for name, p in enc.rnn.named_parameters():
        getattr(gru, name).data.copy_(p)
        getattr(gru, name + "_reverse").data.copy_(getattr(enc.rnn_reverse, name))
    packed = pack_padded_sequence(enc.embed(src), src_len, batch_first=True, enforce_sorted=False)
    out_packed, h = gru(packed)
    out_packed, _ = pad_packed_sequence(out_packed, batch_first=True)
    out, final = enc(src, src_len)
    real = (torch.arange(5)[None, :] < src_len[:, None])[..., None]
    assert torch.allclose(out * real, out_packed, atol=1e-6)
    assert torch.allclose(final, torch.cat([h[0], h[1]], dim=-1), atol=1e-6)
    x = torch.arange(10.0).view(2, 5)
    assert reverse_padded(x, torch.tensor([3, 5])).tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]


@pytest.mark.parametrize("attention", [None, "dot"])
def test_teacher_forcing_equals_step_by_step(data, attention):
    torch.manual_seed(0)
    vocab = data["vocab"]
    model = Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, attention=attention).eval()
    b = collate(data["train"][:3], vocab)
    logits, _ = model(b["src"], b["src_len"], b["tgt_in"])
    enc_out, hidden, mask = model.encode(b["src"], b["src_len"])
    steps = []
    for t in range(b["tgt_in"].shape[1]):
        step_logits, hidden, _ = model.decoder(b["tgt_in"][:, t: t + 1], hidden, enc_out, mask)
        steps.append(step_logits)
    assert torch.allclose(logits, torch.cat(steps, dim=1), atol=1e-5)


@pytest.mark.parametrize("attention", [None, "additive", "dot"])
def test_beam_width_one_equals_greedy(data, attention):
    vocab = data["vocab"]
    for seed in range(3):
        torch.manual_seed(seed)
        model = Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, attention=attention).eval()
        sources = [s for s, _ in data["test"][:6]]
        src, src_len = pad_batch([vocab.encode(s) for s in sources])
        greedy, _ = greedy_decode(model, src, src_len, max_len=15)
        for i, s in enumerate(sources):
            assert beam_search(model, vocab.encode(s), beam_width=1, max_len=15) == greedy[i]


def test_metrics():
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3
    assert exact_match(["a", "b"], ["a", "c"]) == 0.5
    assert char_error_rate(["2001-05-01"], ["2001-05-02"]) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="as many predictions"):
        exact_match(["a"], ["a", "b"])


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="attention must be"):
        Seq2Seq(10, attention="luong")
    with pytest.raises(ValueError, match="hidden_size"):
        Seq2Seq(10, hidden_size=0)
    with pytest.raises(ValueError, match="non-empty"):
        Seq2SeqTask([], [("a", "b")], Seq2SeqVocab("ab"))
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(Seq2Seq(10), [5, 6], beam_width=0)


def test_task_trains_with_helpers_train(data):
    vocab = data["vocab"]
    task = Seq2SeqTask(data["train"], data["val"], vocab, batch_size=32)
    b1, b2 = task.batch(1, 2, 0, "cpu"), task.batch(1, 2, 0, "cpu")
    assert all(torch.equal(b1[k], b2[k]) for k in b1)  # a batch is a function of (seed, epoch, k)
    model = Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, attention="dot")
    history = train(model, task, TrainConfig(lr=1e-2, max_steps=30, eval_every=None, progress=False, device="cpu"))
    assert history.kind == "seq2seq" and history.train_loss[-1] < history.train_loss[0]
    assert 0.0 <= history.val_acc[-1] <= 1.0 and len(history.val_loss) == 1
    outputs = translate(model, [s for s, _ in data["test"][:5]], vocab)
    assert len(outputs) == 5 and all(isinstance(o, str) for o in outputs)


def test_lecture_08_checkers_pass_the_solutions_and_fail_wrong_answers(data, capsys):
    """The notebook's own checker and solution cells, run on a small untrained model instead of the trained one."""
    import math
    from pathlib import Path

    import nbformat

    from helpers.exercises import check

    notebook = Path(__file__).resolve().parents[1] / "lectures" / "08_seq2seq_attention.ipynb"
    cells = ["".join(c.source) for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"]
    checkers = [c for c in cells if "def check_exercise_1" in c]
    solutions = cells[cells.index(next(c for c in cells if "answer_1 = sum(" in c)):]
    assert len(checkers) == 1 and len(solutions) == 4
    torch.manual_seed(0)
    model = Seq2Seq(len(data["vocab"]), embed_dim=8, hidden_size=16, attention="dot").eval()
    test_src = [s for s, _ in data["test"]]
    ns = dict(math=math, torch=torch, check=check, models={"dot": model}, vocab=data["vocab"],
              device=torch.device("cpu"), test_src=test_src, n_dates=[len(t.split()) for _, t in data["test"]],
              translate=translate,
              beam_search=beam_search, greedy_decode=greedy_decode, dot_attention=dot_attention)
    exec(checkers[0].replace("from helpers.exercises import check", ""), ns)
    for name in ("check_exercise_1", "check_exercise_2", "check_exercise_3", "check_exercise_4"):
        assert not ns[name](None)  # unanswered
    exec(next(c for c in cells if "def attention_buggy" in c), ns)  # the exercise with the planted bug
    for cell in solutions:  # each solution cell asserts its answer passes and a wrong one fails
        exec(cell, ns)
    out = capsys.readouterr().out
    assert out.count("correct") >= 4 and out.count("not yet") == 4
