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
from helpers.data import load_imdb
from helpers.models import SentimentRNN, TextCNN, count_parameters
from helpers.padding import pad_batch, sorted_batches
from helpers.tasks import SentimentTask
from helpers.text import WordVocab, tokenize
from helpers.train import TrainConfig, train

MODELS = ("tfidf-uni", "tfidf-bi", "tfidf-bi-cut", "cnn", "lstm")


def load_split(n_train=None, n_val=None, n_test=None) -> dict:
    """Tokens and labels of lecture 05's train / validation / test parts."""
    df, test_df = load_imdb("train"), load_imdb("test")
    order = np.random.default_rng(0).permutation(len(df))
    parts = {"train": df.iloc[order[:20_000]].iloc[:n_train], "val": df.iloc[order[20_000:]].iloc[:n_val],
             "test": test_df if n_test is None else test_df.sample(n_test, random_state=0)}
    return {name: ([tokenize(t) for t in part.text], part.label.to_numpy()) for name, part in parts.items()}


def encode_split(data: dict, max_size: int, max_len: int) -> tuple[WordVocab, dict]:
    """The vocabulary of the training part (words seen twice, at most ``max_size``) and each part's reviews
    as ids, cut to their last ``max_len`` tokens (never empty), as lecture 05 encodes them."""
    vocab = WordVocab.build(data["train"][0], min_freq=2, max_size=max_size)
    return vocab, {name: [vocab.encode(t)[-max_len:] or [WordVocab.UNK] for t in tokens]
                   for name, (tokens, _) in data.items()}


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


@torch.no_grad()
def predict_proba(model, seqs, batch_size=256) -> np.ndarray:
    """P(positive) for id sequences, in batches sorted by length; results in the original order."""
    model.eval()
    device = next(model.parameters()).device
    probs = torch.empty(len(seqs))
    for idx in sorted_batches([len(s) for s in seqs], batch_size):
        x, lens = pad_batch([seqs[i] for i in idx])
        probs[torch.as_tensor(idx)] = torch.sigmoid(model(x.to(device), lens).float()).cpu()
    return probs.numpy()


def neural(kind: str, data: dict, args, seed: int) -> dict:
    """Train a TextCNN or lecture 05's biLSTM on the encoded split; keep the weights of the lowest validation loss."""
    vocab, seqs = encode_split(data, args.max_size, args.max_len)
    task = SentimentTask((seqs["train"], data["train"][1].tolist()), (seqs["val"], data["val"][1].tolist()),
                         batch_size=64, bucket=True)
    helpers.set_seed(seed)
    if kind == "cnn":
        model = TextCNN(len(vocab), embed_dim=args.embed_dim, num_filters=args.num_filters, dropout=0.5,
                        embed_dropout=args.cnn_embed_dropout)
        epochs, lr = args.cnn_epochs, args.cnn_lr
    else:
        model = SentimentRNN(len(vocab), embed_dim=args.embed_dim, hidden_size=args.hidden_size, cell=args.cell,
                             dropout=0.3, embed_dropout=args.embed_dropout, pack=args.pack, pool="max")
        epochs, lr = args.epochs, args.lr
    config = TrainConfig(lr=lr, weight_decay=0.01, epochs=epochs, keep_best=True, clip_grad_norm=1.0, seed=seed,
                         eval_every=max(task.batches_per_epoch // 2, 1), progress=args.progress, device=args.device)
    start = time.perf_counter()
    history = train(model, task, config)
    seconds = time.perf_counter() - start
    return {"params": count_parameters(model), "train_seconds": seconds, "best_step": history.best_step,
            "steps": history.steps[-1], "predict": lambda name: predict_proba(model, seqs[name])}


def accuracy(probs, labels) -> float:
    return float(np.mean((probs > 0.5) == (labels == 1)))


def spread(values) -> str:
    values = np.asarray(values)
    return f"{values.mean():.4f}" + (f" ± {values.std(ddof=1):.4f}" if len(values) > 1 else "")


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["tfidf-uni", "tfidf-bi", "cnn", "lstm"], choices=MODELS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--test", action="store_true", help="also score the official test split (final settings only)")
    parser.add_argument("--n-train", type=int, default=None, help="use only this many training reviews (smoke tests)")
    parser.add_argument("--n-val", type=int, default=None)
    parser.add_argument("--n-test", type=int, default=None)
    parser.add_argument("--max-len", type=int, default=400)
    parser.add_argument("--max-size", type=int, default=25_000)
    parser.add_argument("--C", type=float, default=1.0, help="inverse regularisation of the logistic regression")
    parser.add_argument("--embed-dim", type=int, default=128)
    parser.add_argument("--embed-dropout", type=float, default=0.5, help="the biLSTM's embedding dropout")
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--cell", default="lstm", choices=["lstm", "gru"])
    parser.add_argument("--epochs", type=float, default=7.0)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--num-filters", type=int, default=100)
    parser.add_argument("--cnn-epochs", type=float, default=4.0)
    parser.add_argument("--cnn-lr", type=float, default=3e-3)
    parser.add_argument("--cnn-embed-dropout", type=float, default=0.0)
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: helpers.get_device())")
    parser.add_argument("--pack", choices=["auto", "yes", "no"], default="auto",
                        help="packed sequences for the biLSTM; auto: packed on CUDA (cuDNN), padded elsewhere, "
                             "as lecture 05 does")
    parser.add_argument("--progress", action="store_true")
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
