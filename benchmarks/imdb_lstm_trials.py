"""Validation-only trials of lecture 05's biLSTM: weight averaging, longer inputs, distillation, word vectors.

Lecture 05's split and pipeline (``helpers.imdb.load_split``: 20,000 training and 5,000
validation reviews; the test split is never scored) and its full-mode CPU biLSTM, trained once with
``helpers.train`` (``keep_best`` on validation loss, evaluations every half epoch). Alongside the
trained weights it tracks, at no extra training cost:

- exponential moving averages of the weights (``--ema``: one decay per average; Polyak averaging),
- a uniform average of the weights from epoch ``--swa-from`` on (stochastic weight averaging),

both from ``torch.optim.swa_utils``, and scores each on the validation split at the end of every epoch
from the second on. ``--teachers`` trains a *student* instead of the usual 0/1 labels: its targets are
``alpha * label + (1 - alpha) * p``, where ``p`` is the teachers' mean probability (knowledge
distillation; the teachers are finished ``helpers.train`` checkpoints of the same model, e.g. lecture 05's).
``--word-vectors N`` starts the embedding from word2vec trained N epochs on the training reviews
(``helpers.word_vectors``), rescaled with ``--vector-std`` and optionally frozen (``--freeze-embedding``).

Run: ``python -m benchmarks.imdb_lstm_trials [--max-len 400] [--ema 0.998 0.9995] [--swa-from 3]
[--teachers lectures/checkpoints/05_imdb_bilstm_cpu_seed0.pt ... --alpha 0.5] [--word-vectors 5 --vector-std 1]``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import helpers
from benchmarks.flags import Flag, add_flags, settings, train_config
from helpers.imdb import accuracy, encode_split, load_split, predict_proba
from helpers.models import SentimentRNN
from helpers.tasks import SentimentTask
from helpers.train import TrainConfig, load_checkpoint, train
from helpers.word_vectors import load_word_vectors, train_word_vectors


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_flags(parser, TrainConfig, seed=0, lr=2e-3, epochs=7.0,
              checkpoint_path=Flag(None, "checkpoint", "where helpers.train writes this run's checkpoint"))
    add_flags(parser, load_split, n_train=Flag(None, help="use only this many training reviews (smoke tests)"),
              n_val=None)
    add_flags(parser, encode_split, max_len=400, max_size=25_000)
    add_flags(parser, SentimentRNN, embed_dim=128, hidden_size=128, embed_dropout=0.5)
    parser.add_argument("--ema", type=float, nargs="*", default=[0.998, 0.9995], help="decays of the moving averages")
    parser.add_argument("--swa-from", type=float, default=3.0, help="the uniform average starts at this epoch")
    parser.add_argument("--teachers", nargs="*", default=[], help="finished checkpoints of the same model")
    parser.add_argument("--alpha", type=float, default=0.5, help="weight of the true label in a student's target")
    parser.add_argument("--word-vectors", type=int, default=0, metavar="EPOCHS",
                        help="start the embedding from word2vec trained this many epochs on the training reviews (0: off)")
    parser.add_argument("--vector-std", type=float, default=0.0,
                        help="rescale the word vectors to this standard deviation per element (0: as word2vec made them)")
    parser.add_argument("--freeze-embedding", action="store_true", help="keep the word vectors fixed while training")
    args = parser.parse_args(argv)

    data = load_split(args.n_train, args.n_val, n_test=0)  # no test reviews: trials are chosen on validation
    vocab, seqs = encode_split(data, args.max_size, args.max_len)
    y_train, y_val = data["train"][1], data["val"][1]

    def make():
        return SentimentRNN(len(vocab), **settings(args, SentimentRNN), bidirectional=True, dropout=0.3, pack=False,
                            pool="max")

    targets, report = y_train.astype(np.float32), {"args": vars(args)}
    if args.teachers:
        teacher_probs = []
        for path in args.teachers:
            teacher = make()
            load_checkpoint(path, teacher)
            teacher_probs.append(predict_proba(teacher, seqs["train"]))
            report.setdefault("teachers_val_acc", []).append(accuracy(predict_proba(teacher, seqs["val"]), y_val))
        p = np.mean(teacher_probs, axis=0)
        targets = (args.alpha * y_train + (1 - args.alpha) * p).astype(np.float32)
        report["teachers_train_acc"] = accuracy(p, y_train)
        print(f"teachers: validation accuracy {report['teachers_val_acc']}, their average on the training reviews "
              f"{report['teachers_train_acc']:.4f}", flush=True)

    task = SentimentTask((seqs["train"], targets.tolist()), (seqs["val"], y_val.tolist()), batch_size=64, bucket=True)
    helpers.set_seed(args.seed)
    model = make()
    if args.word_vectors:
        start = time.perf_counter()
        vectors = train_word_vectors(data["train"][0], vocab, dim=args.embed_dim, epochs=args.word_vectors, seed=args.seed)
        report["word_vectors"] = {"share_of_vocab": load_word_vectors(model.embed, vectors, args.vector_std or None),
                                  "seconds": round(time.perf_counter() - start, 1)}
        print(f"word vectors: {report['word_vectors']}", flush=True)
    if args.freeze_embedding:
        model.embed.weight.requires_grad_(False)
    averages = {f"ema {d}": AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(d)) for d in args.ema}
    swa = AveragedModel(model)
    epoch_steps = task.batches_per_epoch
    report["by_epoch"] = []

    def after_step(step):
        if not averages and args.swa_from >= args.epochs:
            return
        for averaged in averages.values():
            averaged.update_parameters(model)
        if step > args.swa_from * epoch_steps:
            swa.update_parameters(model)
        if step % epoch_steps == 0 and step >= 2 * epoch_steps:
            row = {"epoch": step // epoch_steps, "weights": accuracy(predict_proba(model, seqs["val"]), y_val)}
            row.update({name: accuracy(predict_proba(m.module, seqs["val"]), y_val) for name, m in averages.items()})
            if step > args.swa_from * epoch_steps:
                row["swa"] = accuracy(predict_proba(swa.module, seqs["val"]), y_val)
            model.train()  # predict_proba left it in eval mode
            report["by_epoch"].append(row)
            print(json.dumps(row), flush=True)

    start = time.perf_counter()
    config = train_config(args, weight_decay=0.01, keep_best=True, clip_grad_norm=1.0,
                          eval_every=max(epoch_steps // 2, 1), progress=False, device="cpu")
    history = train(model, task, config, callback=after_step)
    report.update(seconds=round(time.perf_counter() - start, 1), kept_step=history.best_step,
                  kept_val_acc=history.val_acc[history.val_steps.index(history.best_step)],
                  val_acc=[round(v, 4) for v in history.val_acc], torch_threads=torch.get_num_threads())
    print(json.dumps(report), flush=True)
    return report


if __name__ == "__main__":
    main()
