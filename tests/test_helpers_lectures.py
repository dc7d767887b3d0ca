"""Every public helper says which lecture uses it (as d2l's library names the section defining each
function), and the claim matches what the notebooks import.

The line is the docstring's last: ``Used in lectures 05 and 08, and the lab attention.`` for what notebooks
import (exactly the notebooks that import it, checked here), ``Used by ...`` naming a lecture or a lab for what
only other helpers or the benchmarks call.
"""
import ast
import importlib
import inspect
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# plots.py and widgets.py belong to the accessibility work; helpers/exercises/ to the lecture owners.
SKIP = {"__init__", "plots", "widgets"}
MODULES = sorted(p.stem for p in (REPO / "helpers").glob("*.py") if p.stem not in SKIP)


def _public(module):
    for name, obj in vars(module).items():
        if not name.startswith("_") and (inspect.isfunction(obj) or inspect.isclass(obj)) \
                and obj.__module__ == module.__name__:
            yield name, obj


def _imports(source: str):
    """(module, name) for each name taken from a helpers module: imports and ``helpers.x`` attributes."""
    tree = ast.parse(source)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "helpers":
            yield from ((node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            aliases.update({a.asname or a.name: a.name for a in node.names if a.name.split(".")[0] == "helpers"})
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
            yield aliases[node.value.id], node.attr


def _code(notebook: Path) -> str:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    lines = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code").splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))  # IPython magics


def notebook_users() -> dict:
    """id(object) -> the lectures ("05") and labs ("lab:attention") whose notebooks (or checkers) import it."""
    sources = [(nb.name[:2], _code(nb)) for nb in sorted((REPO / "lectures").glob("*.ipynb"))]
    sources += [(f"lab:{nb.parent.name}", _code(nb)) for nb in sorted(REPO.glob("assignments/*/*.ipynb"))]
    sources += [(f"lab:{nb.parent.name}", _code(nb)) for nb in sorted(REPO.glob("solutions/*/*.ipynb"))]
    sources += [(m.group(1), p.read_text()) for p in sorted((REPO / "helpers" / "exercises").glob("*.py"))
                if (m := re.fullmatch(r"lecture(\d\d)\w*\.py", p.name))]
    found = defaultdict(set)
    for who, source in sources:
        for module, name in _imports(source):
            obj = getattr(importlib.import_module(module), name, None)
            if obj is not None and not isinstance(obj, type(importlib)):
                found[id(obj)].add(who)
    return found


@pytest.fixture(scope="module")
def users() -> dict:
    return notebook_users()


def _listed(things: list) -> str:
    return things[0] if len(things) == 1 else f"{', '.join(things[:-1])} and {things[-1]}"


def line_for(used: set) -> str:
    """The docstring line for a helper that these notebooks import, e.g. "Used in lectures 05 and 08, and the lab
    attention."."""
    nums = sorted(u for u in used if not u.startswith("lab:"))
    labs = sorted(u.removeprefix("lab:") for u in used if u.startswith("lab:"))
    parts = [f"the lab{'s' if len(labs) > 1 else ''} {_listed(labs)}"] if labs else []
    if nums:
        parts.insert(0, f"lecture{'s' if len(nums) > 1 else ''} {_listed(nums)}")
    return "Used in " + ", and ".join(parts) + "."


@pytest.mark.parametrize("module_name", MODULES)
def test_each_public_helper_names_its_lectures(module_name, users):
    module = importlib.import_module(f"helpers.{module_name}")
    problems = []
    for name, obj in _public(module):
        doc, where = inspect.getdoc(obj) or "", f"helpers.{module_name}.{name}"
        last = " ".join(doc.strip().split("\n\n")[-1].split())  # the last paragraph, which may wrap
        used = users.get(id(obj))
        if used and last != line_for(used):
            problems.append(f"{where}: the notebooks that import it want the last docstring line {line_for(used)!r}")
        elif not used and not re.fullmatch(r"(Used|Raised) by .*\b(lectures? \d\d|the labs?)\b.*", last):
            problems.append(f"{where}: no notebook imports it; end its docstring with a line "
                            "'Used by <what calls it> (lecture NN)'")
    assert not problems, "\n".join(problems)


def test_the_lecture_line_reads_as_meant():
    assert line_for({"05", "06", "08", "lab:attention"}) == "Used in lectures 05, 06 and 08, and the lab attention."
    assert line_for({"07"}) == "Used in lecture 07."
    assert line_for({"lab:b", "lab:a"}) == "Used in the labs a and b."
