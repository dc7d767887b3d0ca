"""helpers.seq2seq: the date task, padded batches and masks, attention, the models, greedy and beam decoding."""
from datetime import date

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from helpers.seq2seq import (BOS, EOS, PAD, STYLES, AdditiveAttention, Encoder, ScheduledSamplingTask, Seq2Seq,
                             Seq2SeqTask, Seq2SeqVocab, accuracy_by_position, beam_search, char_error_rate, collate,
                             dot_attention, edit_distance, exact_match, greedy_decode, make_date_data,
                             masked_cross_entropy, pad_batch, reverse_padded, sequence_log_prob, translate, write_date)
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


def test_ignore_index_equals_the_mask(data):
    b = collate(data["train"][:5], data["vocab"])
    logits = torch.randn(*b["tgt_out"].shape, len(data["vocab"]))
    ours = masked_cross_entropy(logits, b["tgt_out"], b["tgt_mask"])
    theirs = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b["tgt_out"].reshape(-1), ignore_index=PAD)
    assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("attention", [None, "dot"])
def test_sequence_log_prob_is_the_sum_beam_search_ranks_by(data, attention):
    torch.manual_seed(0)
    vocab = data["vocab"]
    model = Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, attention=attention).eval()
    sources = [s for s, _ in data["test"][:4]]
    outputs = [t for _, t in data["test"][:4]]
    scores = sequence_log_prob(model, sources, outputs, vocab, batch_size=3)
    for src, out, score in zip(sources, outputs, scores):  # step by step, one pair at a time
        enc_out, hidden, mask = model.encode(torch.tensor([vocab.encode(src)]), torch.tensor([len(src)]))
        total, prev = 0.0, BOS
        for token in vocab.encode(out) + [EOS]:
            logits, hidden, _ = model.decoder(torch.tensor([[prev]]), hidden, enc_out, mask)
            total += logits[0, -1].log_softmax(-1)[token].item()
            prev = token
        assert score == pytest.approx(total, abs=1e-4)
    greedy = translate(model, sources, vocab, max_len=40)  # greedy's own output is at least as likely as a
    beam = [vocab.decode(beam_search(model, vocab.encode(s), beam_width=4, max_len=40, length_penalty=0.0))
            for s in sources]  # ... and beam search (no length penalty) finds one at least as likely as greedy's
    finished = [g for g in greedy if len(g) < 40]
    for b, g, s in zip(beam, greedy, sources):
        if g in finished:
            assert sequence_log_prob(model, [s], [b], vocab)[0] >= sequence_log_prob(model, [s], [g], vocab)[0] - 1e-4


def test_accuracy_by_position_teacher_forced_and_free_running(data):
    torch.manual_seed(0)
    vocab = data["vocab"]
    model = Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, attention="dot").eval()
    pairs = data["test"][:12]
    forced, free = accuracy_by_position(model, pairs, vocab)
    longest = max(len(t) for _, t in pairs) + 1
    assert len(forced) == len(free) == longest
    assert forced[0] == pytest.approx(free[0])  # both read <s> at the first step: the same prediction
    assert all(0.0 <= a <= 1.0 for a in forced + free)
    b = collate(pairs, vocab)  # by hand: the teacher-forced argmax against the target, over the pairs that reach t
    hits = (model(b["src"], b["src_len"], b["tgt_in"])[0].argmax(-1) == b["tgt_out"]) & b["tgt_mask"]
    assert forced == pytest.approx((hits.sum(0) / b["tgt_mask"].sum(0)).tolist())
    own = translate(model, [s for s, _ in pairs], vocab, max_len=longest)
    first_ok = [o[:1] == t[:1] for o, (_, t) in zip(own, pairs)]
    assert free[0] == pytest.approx(sum(first_ok) / len(pairs))


def test_scheduled_sampling_mixes_in_the_models_own_predictions(data):
    vocab = data["vocab"]
    torch.manual_seed(0)
    model = Seq2Seq(len(vocab), embed_dim=8, hidden_size=16, attention=None)
    plain = Seq2SeqTask(data["train"], data["val"], vocab, batch_size=16)
    never = ScheduledSamplingTask(data["train"], data["val"], vocab, batch_size=16, sampling_prob=0.0)
    always = ScheduledSamplingTask(data["train"], data["val"], vocab, batch_size=16, sampling_prob=1.0)
    batch = plain.batch(0, 0, 0, "cpu")
    assert torch.equal(never.loss(model, batch)[0], plain.loss(model, batch)[0])
    seen = []
    model.register_forward_hook(lambda mod, args, out: seen.append(args[2].clone()))
    always.loss(model, batch)
    first, second = seen  # the predictions pass, then the training pass on the mix
    assert torch.equal(first, batch["tgt_in"])
    with torch.no_grad():
        own = model(batch["src"], batch["src_len"], batch["tgt_in"])[0].argmax(-1)[:, :-1]
    real = batch["tgt_mask"][:, 1:]
    assert torch.equal(second[:, 1:][real], own[real]) and torch.equal(second[:, 0], batch["tgt_in"][:, 0])
    assert torch.equal(second[:, 1:][~real], batch["tgt_in"][:, 1:][~real])  # padding stays padding
    assert never.signature() != always.signature() and "sampling_prob=1.0" in repr(always)
    with pytest.raises(ValueError, match="sampling_prob"):
        ScheduledSamplingTask(data["train"], data["val"], vocab, sampling_prob=1.5)
    history = train(model, always, TrainConfig(lr=1e-2, max_steps=5, eval_every=None, progress=False, device="cpu"))
    assert len(history.train_loss) == 5
