"""grading.spec.dotted_names_reachable: the source rule of the attention and rnn_by_hand labs.

It must see the library however it is reached from the graded definition (an attribute chain, an
import, a notebook helper, an alias), and never blame a definition for a name it binds itself that a
top-level cell happens to bind too (``want = F.scaled_dot_product_attention(...)`` in a scratch cell
and a local ``want`` inside the student's function).
"""
from __future__ import annotations

from grading.spec import dotted_names_reachable, names_reachable

CELLS = [
    "%matplotlib inline\nimport torch\nimport torch.nn.functional as F\nfrom torch import nn",
    "def attention(q, k, v, mask=None):\n    want = q @ k.transpose(-2, -1)\n    return helper(want), want",
    "def helper(scores):\n    return scores.softmax(dim=-1)",
    "want = F.scaled_dot_product_attention(torch.ones(1, 2, 3), torch.ones(1, 2, 3), torch.ones(1, 2, 3))",
]


def test_a_local_name_is_not_followed_to_a_top_level_cell_of_the_same_name():
    used = dotted_names_reachable(CELLS, "attention")
    assert {"scores.softmax", "k.transpose"} <= used  # the helper is followed
    assert not any(chain.endswith("scaled_dot_product_attention") for chain in used)
    # names_reachable follows the local ``want`` to the scratch cell: the reason for this function
    assert "scaled_dot_product_attention" in names_reachable(CELLS, "attention")


def test_the_library_is_seen_through_chains_imports_helpers_and_aliases():
    chained = CELLS[:1] + ["def attention(q, k, v):\n    return torch.nn.functional.scaled_dot_product_attention(q, k, v)"]
    assert "torch.nn.functional.scaled_dot_product_attention" in dotted_names_reachable(chained, "attention")
    imported = ["from torch.nn.functional import scaled_dot_product_attention as sdpa",
                "def attention(q, k, v):\n    return sdpa(q, k, v)"]
    assert "torch.nn.functional.scaled_dot_product_attention" in dotted_names_reachable(imported, "attention")
    aliased = CELLS[:1] + ["library = F.scaled_dot_product_attention",
                           "def _go(q, k, v):\n    return library(q, k, v)",
                           "def attention(q, k, v):\n    return _go(q, k, v)"]
    assert "F.scaled_dot_product_attention" in dotted_names_reachable(aliased, "attention")
    inside = ["def attention(q, k, v):\n    from helpers.seq2seq import dot_attention\n    return dot_attention(q, k, v)"]
    assert "helpers.seq2seq.dot_attention" in dotted_names_reachable(inside, "attention")


def test_an_undefined_name_is_none_and_the_last_definition_counts():
    assert dotted_names_reachable(CELLS, "nope") is None
    redefined = CELLS[:1] + ["def attention(q, k, v):\n    return F.scaled_dot_product_attention(q, k, v)",
                             "def attention(q, k, v):\n    return q"]
    assert "F.scaled_dot_product_attention" not in dotted_names_reachable(redefined, "attention")
