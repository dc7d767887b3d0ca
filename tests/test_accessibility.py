"""Accessibility (WCAG 2.1 AA): figure descriptions survive grading's inert copy and nbgrader's templates.

See docs/accessibility.md for what is checked where.
"""
from __future__ import annotations

import nbformat
import pytest
from bs4 import BeautifulSoup

from grading.inert import make_inert

ALT = 'Loss falls from 2.31 to 0.84 <b>"quoted"</b> & flattens after step 300.'


def _figure_output(alt=ALT, **extra_metadata):
    return nbformat.v4.new_output("display_data", data={
        "image/png": "iVBORw0KGgo=", "text/plain": alt, "text/html": f'<img alt="{alt}" src="data:,">',
    }, metadata={"image/png": {"alt": alt, **extra_metadata}, "text/html": {"isolated": True}})


def test_inert_keeps_each_images_alt_text_and_nothing_else():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("show(fig)", outputs=[_figure_output(width=100)])]
    out = make_inert(nb).cells[0].outputs[0]
    assert set(out.data) == {"image/png", "text/plain"}  # the HTML form is dropped, as every HTML output
    assert out.metadata == {"image/png": {"alt": ALT}}  # no width, no isolated, no other keys


@pytest.mark.parametrize("alt", [None, "", 7])
def test_inert_drops_missing_or_odd_alt_values(alt):
    nb = nbformat.v4.new_notebook()
    output = _figure_output()
    output.metadata = {"image/png": {"alt": alt}} if alt is not None else {"image/png": "not a dict"}
    nb.cells = [nbformat.v4.new_code_cell("show(fig)", outputs=[output])]
    metadata = make_inert(nb).cells[0].outputs[0].metadata
    assert metadata == ({"image/png": {"alt": "7"}} if alt == 7 else {})


def test_nbgrader_feedback_template_prints_the_inert_alt_escaped():
    """The classic template (nbgrader's feedback and formgrade extend it) reads the alt that inert kept."""
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("show(fig)", outputs=[_figure_output()])]
    page, _ = HTMLExporter(template_name="classic").from_notebook_node(make_inert(nb))
    body = BeautifulSoup(page, "html.parser").body
    assert [img["alt"] for img in body.find_all("img")] == [ALT] and body.find("b") is None  # escaped, not markup
