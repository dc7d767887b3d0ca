"""Lecture 04's exercise checkers (helpers.exercises.lecture04): right answers pass, each plausible wrong one fails."""
import torch

from helpers.exercises import lecture04 as ex
from exercise_support import checker_tests

H = 256


def forget_bias(lstm, value, rows=lambda H: slice(H, 2 * H)):
    H = lstm.hidden_size
    with torch.no_grad():
        lstm.bias_ih_l0[rows(H)] = value
        lstm.bias_hh_l0[rows(H)] = 0.0


def every_gate(lstm, value):
    with torch.no_grad():
        lstm.bias_ih_l0[:] = value
        lstm.bias_hh_l0[:] = 0.0


RIGHT = {1: 2 * 4 * (H * (100 + H) + 2 * H) + 2 * 4 * (H * (2 * H + H) + 2 * H), 2: 1.0, 3: 0.9 ** 10,
         4: {"forward": 7, "backward": 7}, 5: forget_bias, 6: {"forget_bias": 5.0, "seq_len": 100}}

WRONG = {
    1: {"forgot the second layer": 2 * 4 * (H * (100 + H) + 2 * H),
        "second layer reads one direction": 2 * 4 * (H * (100 + H) + 2 * H) + 2 * 4 * (H * (H + H) + 2 * H)},
    2: {"zero": 0.0, "z = 1 read as 'everything forgotten'": 0.5},
    3: {"one step": 0.9, "the forget gate's bias": 2.1972},
    4: {"as if each layer kept its direction": {"forward": 4, "backward": 4},
        "the backward half only": {"forward": 4, "backward": 7}},
    5: {"the planted bug (input gate)": lambda lstm, v: forget_bias(lstm, v, rows=lambda H: slice(0, H)),
        "every gate": every_gate, "only one of the two bias vectors": lambda lstm, v: lstm.bias_ih_l0.data[
            lstm.hidden_size:2 * lstm.hidden_size].fill_(v), "raises": lambda lstm, v: lstm.no_such_thing},
    6: {"PyTorch's initialisation": {"forget_bias": 0.0, "seq_len": 100},
        "too short to show anything": {"forget_bias": 5.0, "seq_len": 20},
        "the forget gate closed": {"forget_bias": -3.0, "seq_len": 100},
        "not a dict": [5.0, 100]},
}


test_unanswered_and_right, test_wrong_answer_fails = checker_tests(ex, RIGHT, WRONG)
