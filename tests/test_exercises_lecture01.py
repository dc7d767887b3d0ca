"""Lecture 01's exercise checkers (helpers.exercises.lecture01): right answers pass, each plausible wrong one fails."""
import torch

from helpers.exercises import lecture01 as ex
from exercise_support import checker_tests


def fixed_split(y, test_fraction=0.2):
    n_test = int(len(y) * test_fraction)
    return y[:-n_test], y[-n_test:]


def random_split(y, test_fraction=0.2):  # the planted bug
    order = torch.randperm(len(y))
    n_test = int(len(y) * test_fraction)
    return y[order[n_test:]], y[order[:n_test]]


def two_back(n=4000, flip=0.1):
    g = torch.Generator().manual_seed(0)
    flips = (torch.rand(n, generator=g) < flip).tolist()
    seq = [0, 1]
    for t in range(2, n):
        seq.append(seq[t - 2] ^ flips[t])
    return seq


RIGHT = {1: (64, 25, 80), 2: (128, 80), 3: 80 * 128 + 128 * 128 + 2 * 128,
         4: {"spam filter": "many-to-one", "part-of-speech tag for each word": "synchronized many-to-many",
             "melody from a chosen genre": "one-to-many", "German to English": "delayed many-to-many"},
         5: "high", 6: fixed_split, 7: two_back()}

WRONG = {
    1: {"seq_len first": (25, 64, 80), "no batch": (25, 80)},
    2: {"the row-vector shape": (80, 128)},
    3: {"one bias vector": 80 * 128 + 128 * 128 + 128, "no biases": 80 * 128 + 128 * 128},
    4: {"tagging as delayed": dict(RIGHT[4], **{"part-of-speech tag for each word": "delayed many-to-many"})},
    5: {"as if whole years were shuffled away": "near zero"},
    6: {"the planted random split": random_split,
        "the first months as test": lambda y: (y[48:], y[:48]),
        "a gap, months lost": lambda y: (y[:150], y[-48:]),
        "test months reversed": lambda y: (y[:-48], y[-48:].flip(0)),
        "raises": lambda y: y.nonexistent},
    7: {"order that a neighbour sees": [0, 1] * 1000, "too short": two_back(500),
        "too many symbols": list(range(1000)), "no order at all": [int(b) for b in torch.randint(
            0, 2, (4000,), generator=torch.Generator().manual_seed(1))]},
}


test_unanswered_and_right, test_wrong_answer_fails = checker_tests(ex, RIGHT, WRONG)
