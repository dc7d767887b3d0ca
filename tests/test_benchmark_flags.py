"""Benchmark flags come from the settings they set (``benchmarks.flags``)."""
import argparse

import pytest

from benchmarks.flags import Flag, add_flags, settings, train_config
from helpers.models import CharRNN, SentimentRNN, TextCNN
from helpers.train import TrainConfig


def parse(argv, *adds):
    parser = argparse.ArgumentParser()
    for target, prefix, defaults in adds:
        add_flags(parser, target, prefix, **defaults)
    return parser, parser.parse_args(argv)


def test_a_flag_takes_the_type_of_its_field_and_the_benchmarks_default():
    _, args = parse(["--lr", "0.01", "--max-steps", "7", "--hidden-size", "12"],
                    (TrainConfig, "", dict(lr=2e-3, max_steps=None, epochs=3, device=None)),
                    (CharRNN, "", dict(hidden_size=64)))
    assert (args.lr, args.max_steps, args.epochs, args.device, args.hidden_size) == (0.01, 7, 3, None, 12)
    _, args = parse(["--device", "cpu", "--epochs", "0.5"], (TrainConfig, "", dict(epochs=3, device=None)))
    assert (args.device, args.epochs) == ("cpu", 0.5)


def test_switches_spellings_and_choices():
    parser, args = parse([], (TrainConfig, "", dict(amp=True, keep_best=False, max_seconds=Flag(5.0, "seconds"))),
                         (CharRNN, "", dict(cell=Flag("gru", choices=("gru", "lstm")))))
    assert (args.amp, args.keep_best, args.max_seconds, args.cell) == (True, False, 5.0, "gru")
    args = parser.parse_args(["--no-amp", "--keep-best", "--seconds", "2", "--cell", "lstm"])
    assert (args.amp, args.keep_best, args.max_seconds, args.cell) == (False, True, 2.0, "lstm")
    with pytest.raises(SystemExit):
        parser.parse_args(["--cell", "rnn"])
    with pytest.raises(TypeError, match="TrainConfig has no setting 'hidden_size'"):
        add_flags(parser, TrainConfig, hidden_size=3)


def test_settings_and_train_config_read_the_parsed_flags_back():
    _, args = parse(["--cnn-lr", "0.1", "--embed-dropout", "0.4"],
                    (TrainConfig, "", dict(lr=2e-3, epochs=7.0, device=None)), (TrainConfig, "cnn", dict(lr=3e-3)),
                    (SentimentRNN, "", dict(embed_dim=8, embed_dropout=0.5)), (TextCNN, "cnn", dict(embed_dropout=0.0)))
    assert settings(args, SentimentRNN) == dict(embed_dim=8, embed_dropout=0.4)
    assert settings(args, TextCNN, "cnn") == dict(embed_dim=8, embed_dropout=0.0)  # --cnn-... wins, the rest is shared
    config = train_config(args, "cnn", seed=3)
    assert (config.lr, config.epochs, config.seed, config.device) == (0.1, 7.0, 3, None)
    assert train_config(args, epochs=1).lr == 2e-3
    with pytest.raises(ValueError, match="lr"):
        train_config(args, lr=-1.0)  # TrainConfig's own checks still apply
