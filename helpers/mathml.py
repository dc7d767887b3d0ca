"""Math for readers of exported pages: LaTeX turned into MathML when the page is built, not in the browser.

Screen readers read MathML directly, browsers draw it without scripts or fonts from the network, and an LMS
that strips scripts keeps it. Used by the course's HTML export (helpers.export) and by the feedback and
Formgrader templates (grading/templates, selected in nbgrader_config.py).
"""
from __future__ import annotations

import html
import re
import warnings

from jinja2 import pass_context

# MathML elements and attributes that may appear in a page; anything else latex2mathml might emit is dropped
# (its \text{...} passes '<' and '&' through unescaped, and \href makes a link).
_TAGS = {"math", "mrow", "mi", "mn", "mo", "mtext", "mspace", "ms", "msub", "msup", "msubsup", "mfrac", "msqrt",
         "mroot", "mstyle", "merror", "mpadded", "mphantom", "mfenced", "menclose", "munder", "mover",
         "munderover", "mtable", "mtr", "mtd", "semantics", "annotation"}
_ATTRIBUTES = {"display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "form", "largeop",
               "movablelimits", "accent", "accentunder", "width", "height", "depth", "linethickness",
               "columnalign", "columnspacing", "rowspacing", "rowalign", "displaystyle", "scriptlevel", "notation",
               "minsize", "maxsize", "symmetric", "encoding", "linebreak", "open", "close", "separators"}
# environments latex2mathml does not know, and the one it draws the same way
_ENVIRONMENTS = {"aligned": "align*", "gathered": "gather*", "alignedat": "alignat*"}


def _clean(node) -> str:
    """Serialise a parsed MathML tree keeping only allowed tags and attributes; all text escaped."""
    from bs4 import NavigableString

    if isinstance(node, NavigableString):
        return html.escape(str(node), quote=False)
    inner = "".join(_clean(child) for child in node.children)
    if node.name not in _TAGS:
        return inner
    attrs = "".join(f' {k}="{html.escape(" ".join(v) if isinstance(v, list) else str(v))}"'
                    for k, v in node.attrs.items() if k in _ATTRIBUTES)
    return f"<{node.name}{attrs}>{inner}</{node.name}>"


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """MathML for ``tex`` (without its $ signs); on a formula it cannot convert, the TeX itself in <code>.

    Used by render_markdown (every lecture, the labs).
    """
    from bs4 import BeautifulSoup
    from latex2mathml.converter import convert

    source = re.sub(r"\\(begin|end)\{(\w+)\}",
                    lambda m: f"\\{m[1]}{{{_ENVIRONMENTS.get(m[2], m[2])}}}", tex.strip())
    try:
        raw = convert(source, display="block" if display else "inline")
    except Exception as error:  # noqa: BLE001 - any parser failure: show the source, never lose it
        warnings.warn(f"Could not turn {tex[:60]!r} into MathML ({type(error).__name__}: {error}); shown as TeX.",
                      stacklevel=2)
        return f'<code class="tex">{html.escape(tex)}</code>'
    math = BeautifulSoup(raw, "html.parser").find("math")
    body = "".join(_clean(child) for child in math.children)
    mode = "block" if display else "inline"
    return (f'<math xmlns="http://www.w3.org/1998/Math/MathML" display="{mode}">'
            f'<semantics><mrow>{body}</mrow><annotation encoding="application/x-tex">{html.escape(tex.strip())}'
            f"</annotation></semantics></math>")


def renderer_class():
    """nbconvert's Markdown renderer with math drawn as MathML (imported late: nbconvert is heavy).

    Used by render_markdown (every lecture, the labs).
    """
    from nbconvert.filters.markdown_mistune import IPythonRenderer

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return tex_to_mathml(body, display=True)

        def inline_math(self, body: str) -> str:
            return tex_to_mathml(body)

        def latex_environment(self, name: str, body: str) -> str:
            return tex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    return MathMLRenderer


def render_markdown(source: str, *, attachments=None, path: str = "", embed_images: bool = False,
                    anchor_link_text: str = "¶") -> str:
    """Markdown (a notebook cell's) to HTML, as nbconvert renders it but with MathML for the math.

    Used by helpers.export (every lecture, the labs).
    """
    from nbconvert.filters.markdown_mistune import MarkdownWithMath

    renderer = renderer_class()(escape=False, attachments=attachments or {}, embed_images=embed_images, path=path,
                                anchor_link_text=anchor_link_text)
    return MarkdownWithMath(renderer=renderer).render(source)


@pass_context
def markdown2html(context, source: str) -> str:
    """nbconvert's ``markdown2html`` filter with MathML; select it with
    ``c.HTMLExporter.filters = {"markdown2html": "helpers.mathml.markdown2html"}``.

    Used by helpers.export and nbgrader's feedback (nbgrader_config.py): every lecture, the labs.
    """
    cell = context.get("cell", {})
    path = context.get("resources", {}).get("metadata", {}).get("path", "")
    return render_markdown(source, attachments=cell.get("attachments", {}), path=path)


def latex2mathml(source: str) -> str:
    """A ``text/latex`` output ('$x^2$', '$$...$$' or a bare environment) as MathML.

    Used by helpers.export's exporter (every lecture, the labs).
    """
    text = source.strip()
    display = text.startswith("$$") or text.startswith("\\[") or text.startswith("\\begin")
    text = re.sub(r"^(\$\$|\$|\\\[|\\\()|(\$\$|\$|\\\]|\\\))$", "", text)
    return tex_to_mathml(text, display=display)
