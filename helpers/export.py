"""export: notebooks and Markdown pages as accessible HTML files (WCAG 2.1 AA), for an LMS or a website.

    python -m helpers.export lectures/ --to build/html           # every lecture, one page each
    python -m helpers.export README.md docs/students.md lectures/ --to site/
    make html                                                   # the lectures, the lab and the student pages

Each page is one file that works offline and where an LMS strips scripts: figures inline with their
descriptions, math as MathML (helpers.mathml; no MathJax), code and text at AA contrast, long lines wrapped,
links to other exported pages rewritten to their .html. Widgets show their stored picture or settings.
The command names every figure without a description and then exits with status 1 (docs/accessibility.md).
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "templates"
PLACEHOLDER = "No description has been provided for this image"  # what nbconvert writes where alt is missing
PRIORITY = ["text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/svg+xml", "text/plain"]


def exporter():
    """nbconvert's HTMLExporter with the course's template (helpers/templates/course_html) and MathML.

    Used by export_notebook and the accessibility tests (every lecture, the labs).
    """
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    from helpers import mathml

    class AccessibleHTMLExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source):  # nbconvert's, with math turned into MathML
            cell = context.get("cell", {})
            path = context.get("resources", {}).get("metadata", {}).get("path", "")
            return mathml.render_markdown(source, attachments=cell.get("attachments", {}), path=path,
                                          embed_images=self.embed_images, anchor_link_text=self.anchor_link_text)

        def default_filters(self):
            yield from super().default_filters()
            yield ("latex2mathml", mathml.latex2mathml)

    # A live widget needs a widget manager from a CDN: the page shows the widget's stored fallback instead.
    config = Config({"HTMLExporter": {"template_name": "course_html", "extra_template_basedirs": [str(TEMPLATES)],
                                      "embed_images": True},
                     "NbConvertBase": {"display_data_priority": PRIORITY}})  # the exporter and its filters
    return AccessibleHTMLExporter(config=config)


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            match = re.search(r"^#\s+(.+)$", cell.source, re.M)
            if match:
                return re.sub(r"[*_`]|\$", "", match[1]).strip()
    return fallback


def _relink(page: str) -> str:
    """Relative links to notebooks and Markdown pages point at their exported .html."""
    return re.sub(r'(href=")(?![a-z][a-z0-9+.-]*:|/|#)([^"#]+?)\.(?:ipynb|md)((?:#[^"]*)?")', r"\1\2.html\3", page)


def export_notebook(nb, name: str, path: str = "") -> tuple[str, int]:
    """One notebook node as an HTML page; also the number of images with no description.

    Used by export_file (every lecture, the labs).
    """
    nb.metadata.setdefault("title", _title(nb, name))
    nb.metadata.pop("widgets", None)  # live widgets need a widget manager from a CDN; their stored views stand in
    page, _ = exporter().from_notebook_node(nb, resources={"metadata": {"name": name, "path": path}})
    return _relink(page), page.count(f'alt="{PLACEHOLDER}"')


def export_file(source: Path) -> tuple[str, int]:
    """A .ipynb or .md file as an HTML page (a Markdown page becomes a notebook of one Markdown cell).

    Used by helpers.export main (`make html`) and the accessibility tests (every lecture, the labs).
    """
    import nbformat

    if source.suffix == ".md":
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(source.read_text(encoding="utf-8"))])
    else:
        nb = nbformat.read(source, as_version=4)
    return export_notebook(nb, source.stem, str(source.parent))


def _sources(paths: list[Path]) -> list[tuple[Path, Path]]:
    """(file, path relative to where it came from) for each notebook or Markdown file named or found."""
    found = []
    for path in paths:
        if path.is_dir():
            found += [(p, p.relative_to(path.parent)) for p in sorted(path.rglob("*"))
                      if p.suffix in (".ipynb", ".md") and ".ipynb_checkpoints" not in p.parts]
        elif path.suffix in (".ipynb", ".md") and path.is_file():
            found.append((path, Path(path.name) if path.is_absolute() or ".." in path.parts else path))
        else:
            raise SystemExit(f"{path}: not a notebook, a Markdown file or a folder of them.")
    return found


def main(argv=None) -> int:
    """Export the notebooks and pages named on the command line to accessible HTML.

    Used by `python -m helpers.export`, `make html` (every lecture, the labs).
    """
    parser = argparse.ArgumentParser(prog="python -m helpers.export", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path, help="notebooks, Markdown files or folders of them")
    parser.add_argument("--to", type=Path, default=Path("build/html"), help="where the pages go (build/html)")
    args = parser.parse_args(argv)
    undescribed = []
    sources = _sources(args.paths)
    for source, relative in sources:
        page, missing = export_file(source)
        target = args.to / relative.with_suffix(".html")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(page, encoding="utf-8")
        if missing:
            undescribed.append(f"{source}: {missing} figure(s)")
    print(f"Wrote {len(sources)} page(s) to {args.to}/.")
    if undescribed:
        print("Figures without a description (a screen reader says only that an image is there; end each drawing "
              "cell with helpers.plots.show(fig, alt=...) and rerun the notebook):\n  " + "\n  ".join(undescribed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
