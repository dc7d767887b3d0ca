"""Command-line flags made from the settings they set, so ``--lr`` means ``TrainConfig.lr`` in every benchmark.

``add_flags(parser, TrainConfig, lr=2e-3, epochs=7.0)`` adds one flag per keyword, parsed with the type of
the dataclass field (or constructor or function parameter) of that name and defaulting to the benchmark's
value; ``Flag`` gives one another spelling, a help text or the values allowed. ``settings`` hands the
parsed values back as keyword arguments, and ``train_config`` builds the run's ``TrainConfig`` from them.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass

from helpers.train import TrainConfig


@dataclass(frozen=True)
class Flag:
    """A flag's default, with what the field cannot say about it."""

    default: object = None
    name: str | None = None  # another spelling, e.g. "seconds" for max_seconds (the one benchmarks/README.md uses)
    help: str | None = None
    choices: tuple | None = None


DEVICE = Flag(None, help="cpu, cuda or mps (default: helpers.get_device())")


def _hints(target) -> dict:
    """Setting name -> type: a dataclass's fields, else the parameters of a class's constructor or a function."""
    if isinstance(target, type) and not dataclasses.is_dataclass(target):
        target = target.__init__
    return {k: v for k, v in typing.get_type_hints(target).items() if k != "return"}


def _parses_as(hint) -> type:
    """The one type a flag reads: bool for a switch, else int, float or str (``float | None`` reads floats)."""
    options = [t for t in typing.get_args(hint) if t is not type(None)] or [hint]
    return next((t for t in (bool, int, float) if t in options), str)


def add_flags(parser, target, prefix: str = "", **defaults) -> None:
    """Add ``--name`` (``--prefix-name``) for each keyword ``name=default`` (or ``name=Flag(...)``) of ``target``.

    A bool setting becomes a switch: ``--name`` turns on one that defaults to False, ``--no-name`` turns
    off one that defaults to True. The parsed value is ``args.name`` (``args.prefix_name``).
    """
    hints = _hints(target)
    for name, flag in defaults.items():
        if name not in hints:
            raise TypeError(f"{target.__name__} has no setting {name!r} to make a flag of")
        flag = flag if isinstance(flag, Flag) else Flag(flag)
        dest = f"{prefix}_{name}" if prefix else name
        option = (f"{prefix}-" if prefix else "") + (flag.name or name).replace("_", "-")
        kind, what = _parses_as(hints[name]), f"{target.__name__}'s {name}"
        if kind is bool:  # a switch that flips the default
            on = bool(flag.default)
            parser.add_argument(f"--no-{option}" if on else f"--{option}", dest=dest, default=on,
                                action="store_false" if on else "store_true", help=flag.help or what)
        else:
            parser.add_argument(f"--{option}", dest=dest, type=kind, default=flag.default, choices=flag.choices,
                                help=flag.help or f"{what} (default: %(default)s)")


def settings(args, target, prefix: str = "") -> dict:
    """The parsed flags that set ``target``'s fields or parameters, as keyword arguments.

    With a ``prefix``, ``args.prefix_name`` wins over ``args.name``: ``--cnn-lr`` sets the CNN's rate while
    ``--device`` still serves both models.
    """
    out = {}
    for name in _hints(target):
        for dest in ([f"{prefix}_{name}"] if prefix else []) + [name]:
            if hasattr(args, dest):
                out[name] = getattr(args, dest)
                break
    return out


def train_config(args, prefix: str = "", **fixed) -> TrainConfig:
    """The ``TrainConfig`` of the parsed flags, with the settings in ``fixed`` on top."""
    return TrainConfig(**{**settings(args, TrainConfig, prefix), **fixed})
