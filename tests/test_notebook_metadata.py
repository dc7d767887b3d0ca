"""Every notebook carries the kernelspec JupyterLab writes itself, so opening one leaves no unsaved change or git diff."""
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for folder in ("lectures", "solutions", "assignments") for p in (ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def test_notebooks_are_found():
    assert any(p.parent.name == "lectures" for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_standard_kernelspec_and_language_info(path):
    meta = nbformat.read(path, as_version=4).metadata
    assert meta.get("kernelspec") == KERNELSPEC, (
        f"{path.name}: kernelspec {meta.get('kernelspec')} makes JupyterLab rewrite it on open; set it to {KERNELSPEC}")
    info = meta.get("language_info", {})
    assert info.get("name") == "python" and info.get("file_extension") == ".py", (
        f"{path.name}: language_info {info} does not match the python3 kernel; re-run the notebook to store it")
