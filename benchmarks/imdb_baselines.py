"""IMDb: tf-idf + logistic regression, a 1D CNN and lecture 05's biLSTM on the same split and tokens.

Lecture 05's pipeline: the seeded 20,000 / 5,000 split of the official training set, the
``helpers.text`` tokenizer, a vocabulary of the training part (words seen twice, at most
``--max-size``), the last ``--max-len`` tokens for the neural models, bucketed batches of 64.
Each model is trained on the 20,000 reviews and reports its validation accuracy; with ``--test`` it
also scores the 25,000 official test reviews (do that only for settings chosen on validation, and
list every such run in benchmarks/README.md). Neural models run once per ``--seeds`` entry and
report mean and spread; tf-idf is deterministic.

Run: ``python -m benchmarks.imdb_baselines [--models tfidf-uni tfidf-bi cnn lstm] [--seeds 0 1 2] [--test]``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

import helpers
from benchmarks.flags import DEVICE, Flag, add_flags, settings, train_config
from helpers.imdb import accuracy, encode_split, load_split, predict_proba
from helpers.models import SentimentRNN, TextCNN, count_parameters
from helpers.tasks import SentimentTask
from helpers.train import TrainConfig, train

MODELS = ("tfidf-uni", "tfidf-bi", "tfidf-bi-cut", "cnn", "lstm")


def tfidf_logreg(data: dict, ngrams: int, max_len: int | None = None, C: float = 1.0) -> dict:
    """Sublinear tf-idf over words seen in at least 2 training reviews, then logistic regression."""
    def docs(name):  # the same tokens the networks read; max_len keeps only the last tokens, as they do
        return [" ".join(t[-max_len:] if max_len else t) for t in data[name][0]]

    start = time.perf_counter()
    vectorizer = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, ngram_range=(1, ngrams),
                                 min_df=2, sublinear_tf=True)
    x_train = vectorizer.fit_transform(docs("train"))
    clf = LogisticRegression(C=C, max_iter=2000).fit(x_train, data["train"][1])
    seconds = time.perf_counter() - start
    return {"params": int(clf.coef_.size + 1), "train_seconds": seconds,
            "predict": lambda name: clf.predict_proba(vectorizer.transform(docs(name)))[:, 1]}


def neural(kind: str, data: dict, args, seed: int) -> dict:
    """Train a TextCNN or lecture 05's biLSTM on the encoded split; keep the weights of the lowest validation loss."""
    vocab, seqs = encode_split(data, args.max_size, args.max_len)
    task = SentimentTask((seqs["train"], data["train"][1].tolist()), (seqs["val"], data["val"][1].tolist()),
                         batch_size=64, bucket=True)
    helpers.set_seed(seed)
    if kind == "cnn":  # the --cnn-... flags, and the shared ones (--embed-dim, --num-filters, --device)
        model = TextCNN(len(vocab), **settings(args, TextCNN, "cnn"), dropout=0.5)
    else:
        model = SentimentRNN(len(vocab), **settings(args, SentimentRNN), dropout=0.3, pool="max")
    config = train_config(args, "cnn" if kind == "cnn" else "", weight_decay=0.01, keep_best=True, clip_grad_norm=1.0,
                          seed=seed, eval_every=max(task.batches_per_epoch // 2, 1))
    start = time.perf_counter()
    history = train(model, task, config)
    seconds = time.perf_counter() - start
    return {"params": count_parameters(model), "train_seconds": seconds, "best_step": history.best_step,
            "steps": history.steps[-1], "predict": lambda name: predict_proba(model, seqs[name])}


def spread(values) -> str:
    values = np.asarray(values)
    return f"{values.mean():.4f}" + (f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else "")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["tfidf-uni", "tfidf-bi", "cnn", "lstm"], choices=MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--test", action="store_true", help="also score the official test split (final settings only)")
    add_flags(parser, load_split, n_train=Flag(None, help="use only this many training reviews (smoke tests)"),
              n_val=None, n_test=None)
    add_flags(parser, encode_split, max_len=400, max_size=25_000)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic regression")
    add_flags(parser, SentimentRNN, embed_dim=128, embed_dropout=Flag(0.5, help="the biLSTM's embedding dropout"),
              hidden_size=128, cell=Flag("lstm", choices=("lstm", "gru")))
    add_flags(parser, TrainConfig, epochs=7.0, lr=2e-3)
    add_flags(parser, TextCNN, num_filters=100)
    add_flags(parser, TrainConfig, "cnn", epochs=4.0, lr=3e-3)
    add_flags(parser, TextCNN, "cnn", embed_dropout=0.0)
    add_flags(parser, TrainConfig, device=DEVICE)
    parser.add_argument("--pack", choices=["auto", "yes", "no"], default="auto",
                        help="packed sequences for the biLSTM; auto: packed on CUDA (cuDNN), padded elsewhere, "
                             "as lecture 05 does")
    add_flags(parser, TrainConfig, progress=False)
    args = parser.parse_args(argv)
    args.device = helpers.get_device(args.device)
    args.pack = args.pack == "yes" or (args.pack == "auto" and args.device.type == "cuda")
    torch_threads = torch.get_num_threads()
    data = load_split(args.n_train, args.n_val, args.n_test)
    splits = ["val", "test"] if args.test else ["val"]
    where = (torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else args.device.type.upper())
    print(f"{where}, {torch_threads} torch threads, torch {torch.__version__}; train {len(data['train'][1]):,}, "
          f"validation {len(data['val'][1]):,}" + (f", test {len(data['test'][1]):,} (SCORED)" if args.test else "")
          + f"; {vars(args)}", flush=True)
    rows = []
    for name in args.models:
        runs = []
        for seed in (args.seeds if name in ("cnn", "lstm") else [None]):
            if name.startswith("tfidf"):
                fit = tfidf_logreg(data, ngrams=1 if name == "tfidf-uni" else 2,
                                   max_len=args.max_len if name == "tfidf-bi-cut" else None, C=args.C)
            else:
                fit = neural(name, data, args, seed)
            run = {"seed": seed, "params": fit["params"], "train_seconds": round(fit["train_seconds"], 1),
                   **{f"{s}_acc": accuracy(fit["predict"](s), data[s][1]) for s in splits},
                   **{k: fit[k] for k in ("best_step", "steps") if k in fit}}
            print(f"  {name} {json.dumps(run)}", flush=True)
            runs.append(run)
        rows.append({"model": name, "runs": runs})
    print("\n| model | parameters | training time (s) | " + " | ".join(f"{s} accuracy" for s in splits) + " |")
    print("|---|---|---|" + "---|" * len(splits))
    for row in rows:
        runs = row["runs"]
        print(f"| {row['model']} ({len(runs)} run{'s' if len(runs) > 1 else ''}) | {runs[0]['params']:,} | "
              f"{np.mean([r['train_seconds'] for r in runs]):.0f} | "
              + " | ".join(spread([r[f"{s}_acc"] for r in runs]) for s in splits) + " |")
    print(json.dumps(rows))
    return rows


if __name__ == "__main__":
    main()
