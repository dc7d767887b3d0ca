"""Lectures 01-06 as stored: real outputs, figures with descriptions, headings in order, run notes with both modes.

nbval runs the notebooks themselves (fast mode, in `make test`); these tests read what is stored.
"""
import re

import nbformat
import pytest

from helpers.plots import MIN_ALT
from helpers.runtime import REPO_ROOT

NOTEBOOKS = sorted((REPO_ROOT / "lectures").glob("0[1-6]_*.ipynb"))


def cells(path, kind):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == kind]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_come_from_one_error_free_run(path):
    code = cells(path, "code")
    assert code[0].source.splitlines()[0] == "import helpers; print(helpers.describe())"
    assert all(c.execution_count is not None for c in code), "execute the notebook to store its outputs"
    assert [c.execution_count for c in code] == sorted(c.execution_count for c in code), "one run, top to bottom"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_markers_are_cell_tags_not_comments(path):
    code = cells(path, "code")
    assert not [c.source for c in code if "NBVAL" in c.source]
    assert any("nbval-check-output" in c.metadata.get("tags", []) for c in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_carries_a_real_description(path):
    figures = [o for c in cells(path, "code") for o in c.outputs if "image/png" in o.get("data", {})]
    assert figures
    for output in figures:
        alt = output.get("metadata", {}).get("image/png", {}).get("alt", "")
        assert len(alt) >= MIN_ALT and not alt.lower().startswith("no description"), alt
        if "application/vnd.jupyter.widget-view+json" not in output["data"]:  # a widget's static picture: its own text
            assert output["data"].get("text/plain") == alt  # the same words for text-only front ends
        assert 'alt="' in output["data"].get("text/html", "")  # and for JupyterLab, which ignores the metadata


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_headings_do_not_skip_levels(path):
    levels = [len(m.group(1)) for c in cells(path, "markdown")
              for m in re.finditer(r"^(#{1,6}) ", c.source, flags=re.M)]
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:])), levels


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_run_note_gives_the_full_run_and_the_fast_mode_time(path):
    notes = [c.source for c in cells(path, "markdown")
             if c.source.startswith(("**Run note", "**About the stored outputs"))]
    assert len(notes) == 1, "one note on the stored run"
    assert re.search(r"full[ -]mode", notes[0]) and re.search(r"fast mode.{0,400}?\b\d+ s\b", notes[0], flags=re.I | re.S), notes[0]
