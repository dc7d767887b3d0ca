"""The benchmark scripts still run (tiny sizes); their figures live in benchmarks/README.md, not here."""
import json

import pytest

from benchmarks import char_lm, quality

TINY = ["--device", "cpu", "--hidden-size", "16", "--batch-size", "64", "--seq-len", "32"]


def test_char_lm_reports_both_throughputs():
    result = char_lm.main(TINY + ["--steps", "1", "--warmup", "1", "--json"])
    assert result["helpers_train_chars_per_s"] > 0 and result["per_step_loop_chars_per_s"] > 0
    # the ratio is computed before rounding the two throughputs
    assert result["ratio"] == pytest.approx(
        result["helpers_train_chars_per_s"] / result["per_step_loop_chars_per_s"], rel=0.05)


def test_char_lm_rejects_zero_steps():
    with pytest.raises(SystemExit):
        char_lm.main(TINY + ["--steps", "0"])


def test_quality_reports_each_cell():
    results = quality.main(TINY + ["--seconds", "0.5", "--num-layers", "1", "--corpora", "tinyshakespeare",
                                   "--eval-every", "1000", "--max-eval-batches", "2"])
    assert [r["cell"] for r in results] == ["rnn", "gru"]
    assert all(r["val_nats_per_char"] > 0 for r in results)


def test_quality_with_a_step_budget():
    results = quality.main(TINY + ["--steps", "2", "--num-layers", "1", "--corpora", "sherlock", "--cells", "gru",
                                   "--max-eval-batches", "1"])
    assert results[0]["steps"] == 2


def test_sentiment_pooling_reports_each_readout():
    from benchmarks import sentiment_pooling
    results = sentiment_pooling.main(["--device", "cpu", "--n-train", "128", "--n-val", "64", "--max-len", "30",
                                      "--embed-dim", "8", "--hidden-size", "8", "--epochs", "1"])
    assert [r["pool"] for r in results] == ["last", "max"]
    assert all(0 <= r["final_val_acc"] <= 1 and r["val_steps"][-1] == 2 for r in results)
    # the last weights were kept, so their mistakes are exactly the last evaluation's
    assert all(r["val_false_negatives"] + r["val_false_positives"] == round((1 - r["final_val_acc"]) * 64) for r in results)


def test_imdb_baselines_runs_each_model_on_a_tiny_split():
    from benchmarks import imdb_baselines
    rows = imdb_baselines.main(["--device", "cpu", "--models", "tfidf-uni", "cnn", "lstm", "--seeds", "0", "--test",
                                "--n-train", "200", "--n-val", "60", "--n-test", "60", "--max-len", "40",
                                "--epochs", "1", "--cnn-epochs", "1", "--embed-dim", "8", "--hidden-size", "8",
                                "--num-filters", "4"])
    assert [r["model"] for r in rows] == ["tfidf-uni", "cnn", "lstm"]
    for row in rows:
        run = row["runs"][0]
        assert 0 <= run["val_acc"] <= 1 and 0 <= run["test_acc"] <= 1 and run["params"] > 0


def test_imdb_lstm_trials_track_weight_averages_and_train_a_student(tmp_path):
    from benchmarks import imdb_lstm_trials
    tiny = ["--n-train", "192", "--n-val", "40", "--max-len", "30", "--embed-dim", "8", "--hidden-size", "8",
            "--epochs", "3", "--ema", "0.9", "--swa-from", "1"]
    teacher = imdb_lstm_trials.main(tiny + ["--checkpoint", str(tmp_path / "teacher.pt")])
    assert [row["epoch"] for row in teacher["by_epoch"]] == [2, 3]
    assert set(teacher["by_epoch"][-1]) == {"epoch", "weights", "ema 0.9", "swa"}
    assert "test_acc" not in json.dumps(teacher)
    student = imdb_lstm_trials.main(tiny + ["--teachers", str(tmp_path / "teacher.pt"), "--alpha", "0.5"])
    assert len(student["teachers_val_acc"]) == 1 and 0 <= student["teachers_train_acc"] <= 1
    assert 0 <= student["kept_val_acc"] <= 1
    started = imdb_lstm_trials.main(tiny + ["--word-vectors", "1", "--vector-std", "1", "--freeze-embedding"])
    assert started["word_vectors"]["share_of_vocab"] > 0.9
    assert 0 <= started["kept_val_acc"] <= 1


def test_transformer_vs_lstm_reports_both_models():
    from benchmarks import transformer_vs_lstm
    result = transformer_vs_lstm.main(["--device", "cpu", "--seconds", "0", "--steps", "2", "--batch-size", "64",
                                       "--seq-len", "32", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--val-chars", "4000",
                                       "--json"])
    assert result["budget_seconds"] is None and result["budget_steps"] == 2
    assert all(r["steps"] == 2 and r["report_same_context"] > 0 and r["report_own_way"] > 0 and r["parameters"] > 0
               and len(r["trials"]) == 2 for r in result["models"].values())  # each model tries the same two lrs


def test_the_grading_benchmark_names_the_labs_when_asked_for_one_that_is_not_there(capsys):
    from benchmarks import grading

    with pytest.raises(SystemExit):
        grading.main(["--assignment", "no_such_lab"])
    said = capsys.readouterr().err
    assert "no lab 'no_such_lab'" in said and "imdb_sentiment" in said and "rnn_by_hand" in said
