"""What the instructor opens is inert: student notebooks lose every output that can run code.

Formgrader renders autograded notebooks inside the instructor's Jupyter session, where a
script in a cell output could call the Jupyter API with the instructor's rights (write files,
change grades, start kernels). Feedback HTML is opened by students and instructors alike.
So graded notebooks keep only passive outputs (plain text and raster images, with their alt text); HTML,
JavaScript, SVG, widget views, Markdown and LaTeX outputs are replaced by a one-line note,
and raw HTML in Markdown cells (a student's written answers) is escaped the way nbconvert's
own sanitiser does it (formgrader's template does not sanitise Markdown itself).
"""
from __future__ import annotations

import re

import nbformat

HTML_TAG = re.compile(r"<\s*[a-zA-Z!/?]")  # Markdown without tags is left exactly as written
SAFE_MIME = {"text/plain", "image/png", "image/jpeg", "image/gif"}
# Terminal control sequences (colours, cursor moves, title changes, OSC 8 links...).
ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def strip_control(text: str) -> str:
    """Text without terminal escape sequences or control characters (newlines and tabs kept)."""
    return ANSI.sub("", text)


def _image_descriptions(output: dict) -> dict:
    """Of an output's metadata only each kept image's ``alt`` text (nbgrader's templates escape it)."""
    metadata = output.get("metadata") or {}
    return {mime: {"alt": str(metadata[mime]["alt"])} for mime in SAFE_MIME & set(output.get("data", {}))
            if mime.startswith("image/") and isinstance(metadata.get(mime), dict) and metadata[mime].get("alt")}


def _inert_output(output: dict) -> dict:
    if output.get("output_type") in ("display_data", "execute_result"):
        data = output.get("data", {})
        dropped = sorted(set(data) - SAFE_MIME)
        if dropped:
            kept = {k: v for k, v in data.items() if k in SAFE_MIME}
            note = f"[grading: {', '.join(dropped)} output not shown]"
            kept["text/plain"] = (kept.get("text/plain", "") + "\n" + note).strip() if kept.get("text/plain") else note
            output["data"] = kept
        output["metadata"] = _image_descriptions(output)
    elif output.get("output_type") == "stream":
        text = output.get("text", "")
        output["text"] = strip_control("".join(text) if isinstance(text, list) else text)
    elif output.get("output_type") == "error":
        output["traceback"] = [strip_control(line) for line in output.get("traceback", [])]
    return output


def make_inert(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Strip active outputs, attachments and raw cells' HTML from a notebook, in place; return it."""
    from nbconvert.filters.strings import clean_html  # bleach with nbconvert's list of harmless tags

    for cell in nb.cells:
        cell.pop("attachments", None)  # an SVG attachment can carry script
        if cell.cell_type == "markdown" and HTML_TAG.search(cell.source):
            cell.source = clean_html(cell.source)
        if cell.cell_type == "raw":
            cell.metadata.pop("format", None)
            cell.metadata.pop("raw_mimetype", None)  # a raw text/html cell is pasted into the page as is
        for output in cell.get("outputs", []):
            _inert_output(output)
    nb.metadata.pop("widgets", None)
    return nb


def make_file_inert(path) -> None:
    """make_inert on a notebook file, replaced atomically with its mode kept (nbgrader makes it read-only)."""
    import os
    import tempfile

    path = os.fspath(path)
    nb = nbformat.read(path, as_version=4)
    mode = os.stat(path).st_mode & 0o777
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".ipynb.tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            nbformat.write(make_inert(nb), fh)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
