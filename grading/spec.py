"""What a lab's hidden checks are made of: ``solutions/<lab>/checks.py`` builds them from this module.

A :class:`Check` belongs to one autograded test cell (its ``grade_id``) and is worth some of that
cell's points; the checks of a cell share out all of its points. A check has up to three parts:

* ``draw(ctx) -> inputs``: plain data (numbers, strings, lists, dicts, tensors) drawn with
  ``ctx.generator()`` or ``ctx.random``, seeded per submission from the course secret. Runs in
  the judge, never in the student's kernel.
* ``ask(nb, inputs) -> answer``: runs in the student's sandboxed kernel after the notebook ran.
  It calls the student's code through ``nb`` (``nb.make_batches``; a name the notebook lacks is a
  ``Missing``), wraps each call in ``attempt(...)`` so one exception does not hide the other
  answers, and returns plain data: an object comes back as its state (characters, a state dict).
  Its source is sent to the kernel, so it uses no global of checks.py (import inside it; list
  classes it needs in ``ship``), and it must never compute or compare the expected answer.
* ``judge(inputs, answer, ctx)``: runs in the judge. It rebuilds what it needs with the
  instructor's own classes, compares, and raises :class:`Fail` with a message that names what was
  asked and what differed ("make_batches on 997 ids, batch 3, seq_len 10: 32 batches, expected 33").
  A message never quotes the check's code, and never a string the student's code produced: use
  :func:`value`, :func:`tensor`, :func:`close` and :func:`equal`, which only ever show numbers,
  shapes and the names of builtin exceptions. ``ctx.flag(reason)`` marks evidence that honest code
  cannot produce (it zeroes only this check and asks a person to look).

A check without ``ask`` judges the submitted files: ``ctx.files`` (checkpoints: read them with
:func:`handed_in` and :func:`load_checkpoint`), ``ctx.code`` (the submitted notebook's code cells,
for rules such as "no nn.GRUCell inside Part C").
See docs/grading.md, "Writing hidden checks for a lab".
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import importlib.util
import inspect
import io
import json
import random
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from grading.probe import BUILTIN_ERRORS, Missing, Raised, Unsupported

__all__ = ["Check", "Context", "Fail", "value", "tensor", "close", "equal", "expect", "load_checks",
           "checkpoint_folder", "handed_in", "load_checkpoint",
           "notebook_code", "names_reachable", "dotted_names_reachable", "Raised", "Missing", "Unsupported"]


class Fail(Exception):
    """The submission's answer is wrong; the message is what the student and the instructor read."""


@dataclass(frozen=True)
class Check:
    """One hidden check of a test cell (see the module docstring)."""

    cell: str
    name: str
    points: float
    judge: Callable
    draw: Callable | None = None
    ask: Callable | None = None
    ship: tuple = ()  # classes and functions of checks.py whose source the ask needs in the kernel
    timeout: float = 60.0  # seconds the ask may run in the kernel

    def asked_names(self) -> list[str]:
        """The notebook names the ask reads (``nb.<name>``): kept as they stood right after the test cell."""
        tree = ast.parse(textwrap.dedent(inspect.getsource(self.ask)))
        return sorted({n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)
                       and isinstance(n.value, ast.Name) and n.value.id == "nb"})

    def ask_source(self) -> str:
        """The code sent to the kernel: the shipped definitions, then the ask, bound to the name ``ask``."""
        parts = [textwrap.dedent(inspect.getsource(obj)) for obj in (*self.ship, self.ask)]
        return "\n\n".join(parts) + f"\n\nask = {self.ask.__name__}\n"


@dataclass
class Context:
    """What draw and judge see besides the inputs and the answer."""

    seed: int  # this check's own seed, from the course secret, the student and the submission
    fast: bool  # grading in fast mode (tests and tries): the lab's small data and checkpoints
    files: dict[str, bytes] = field(default_factory=dict)  # the submitted files (judge only)
    flags: list[str] = field(default_factory=list)

    @property
    def random(self) -> random.Random:
        return random.Random(self.seed)

    def generator(self):
        """A torch.Generator seeded for this check (a new one each call, always the same stream)."""
        import torch

        return torch.Generator().manual_seed(self.seed)

    @property
    def code(self) -> list[str]:
        """The submitted notebook's code cells, in order (an empty list if it is not a notebook)."""
        return notebook_code(self.files)

    def flag(self, reason: str) -> None:
        """Evidence honest code cannot produce: this check earns nothing and the submission is flagged."""
        self.flags.append(reason)


def check_seed(submission_seed: int, check: Check) -> int:
    digest = hashlib.sha256(f"{submission_seed}\x1f{check.cell}\x1f{check.name}".encode()).digest()
    return int.from_bytes(digest[:6], "big")


# --- reading a student's answer without echoing it ------------------------------------------------------

def _refused(x, what: str) -> str | None:
    if isinstance(x, Missing):
        return f"{what}: not defined in the notebook (after it ran top to bottom)"
    if isinstance(x, Raised):
        name = x.name if x.builtin and x.name in BUILTIN_ERRORS else "an exception of a class of its own"
        return f"{what} raised {name}"
    if isinstance(x, Unsupported):
        kind = x.name if x.builtin and hasattr(builtins, x.name) else "an object of a class of its own"
        return f"{what} returned {kind}, not plain data"
    return None


def value(x, what: str):
    """x itself, unless the student's code raised, returned an object, or lacks the name: then Fail."""
    problem = _refused(x, what)
    if problem:
        raise Fail(problem)
    return x


def expect(condition, message: str) -> None:
    """Fail with message unless condition holds."""
    if not condition:
        raise Fail(message)


# --- the files a student handed in ------------------------------------------------------------------------------

MB = 1e6


def checkpoint_folder(ctx: Context) -> str:
    """Where the notebooks save: checkpoints/fast in fast mode, checkpoints otherwise."""
    return "checkpoints/fast" if ctx.fast else "checkpoints"


def handed_in(ctx: Context, *names: str, limit_mb: float = 20) -> list[bytes]:
    """The bytes of each checkpoint file named (in the folder of this grading mode), or a Fail that says
    what to hand in: a fast-mode hand-in graded in full mode is told so, not that nothing came."""
    folder = checkpoint_folder(ctx)
    missing = [f"{folder}/{n}" for n in names if f"{folder}/{n}" not in ctx.files]
    fast_only = [f"checkpoints/fast/{n}" for n in names if f"checkpoints/fast/{n}" in ctx.files]
    if missing and fast_only and not ctx.fast:
        raise Fail(f"only fast-mode checkpoints were handed in ({', '.join(fast_only)}): train without COURSE_FAST "
                   f"and hand in {' and '.join(missing)}")
    if missing:
        raise Fail(f"no {' and '.join(missing)} {'was' if len(missing) == 1 else 'were'} handed in: run the training "
                   "and hand in the checkpoints/ folder")
    data = [ctx.files[f"{folder}/{n}"] for n in names]
    for name, raw in zip(names, data):
        expect(len(raw) < limit_mb * MB, f"{folder}/{name} is {len(raw) / MB:.0f} MB; keep it under {limit_mb:g} MB")
    return data


def load_checkpoint(ctx: Context, name: str, raw: bytes) -> dict:
    """A handed-in checkpoint read as data only (``weights_only``: no code of the student's runs here)."""
    import torch

    try:
        ckpt = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - anything that is not one of the course's checkpoints
        ckpt = None
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise Fail(f"{checkpoint_folder(ctx)}/{name} could not be loaded as a training checkpoint of this course")
    return ckpt


def _kind(x) -> str:
    """A safe description of a student's value: its type (builtin types only), length or shape."""
    import torch

    if isinstance(x, torch.Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    if isinstance(x, (list, tuple, dict)):
        return f"a {type(x).__name__} of {len(x)} items"
    if isinstance(x, (bool, int, float, type(None))):
        return type(x).__name__
    if isinstance(x, str):
        return f"a string of {len(x)} characters"
    return "something else"


def tensor(x, what: str, shape: tuple | None = None, dtype=None):
    """x as a tensor of the given shape and dtype, or Fail saying what came back instead."""
    import torch

    x = value(x, what)
    expect(isinstance(x, torch.Tensor), f"{what} should be a tensor, got {_kind(x)}")
    if shape is not None:
        expect(tuple(x.shape) == tuple(shape), f"{what} has shape {tuple(x.shape)}, expected {tuple(shape)}")
    if dtype is not None:
        expect(x.dtype == dtype, f"{what} has dtype {x.dtype}, expected {dtype}")
    return x


def close(got, want, what: str, atol: float = 1e-6, rtol: float = 0.0) -> None:
    """got is a tensor like want (shape) and within atol + rtol*|want| everywhere; else Fail."""
    import torch

    got = tensor(got, what, shape=tuple(want.shape))
    got, want = got.double(), want.detach().double()
    bad = ~torch.isclose(got, want, atol=atol, rtol=rtol)
    if bad.any():
        diff = (got - want).abs().nan_to_num(float("inf")).max().item()
        raise Fail(f"{what} differs from the reference by up to {diff:.1e} (tolerance {atol:g}) "
                   f"at {int(bad.sum())} of {want.numel()} entries")


def equal(got, want, what: str) -> None:
    """Exact equality for tensors (same shape and dtype kind), numbers and lists of them; else Fail."""
    import torch

    got = value(got, what)
    if isinstance(want, torch.Tensor):
        got = tensor(got, what, shape=tuple(want.shape))
        expect(got.dtype == want.dtype, f"{what} has dtype {got.dtype}, expected {want.dtype}")
        bad = int((got != want).sum())
        expect(bad == 0, f"{what}: {bad} of {want.numel()} entries differ from the reference")
    elif isinstance(want, (list, tuple)):
        expect(isinstance(got, (list, tuple)), f"{what} should be a list, got {_kind(got)}")
        expect(len(got) == len(want), f"{what} has {len(got)} items, expected {len(want)}")
        for i, (g, w) in enumerate(zip(got, want)):
            equal(g, w, f"{what}[{i}]")
    elif isinstance(want, str):
        expect(isinstance(got, str) and got == want, f"{what} differs from the reference")
    else:
        expect(type(got) in (int, float, bool) and got == want,
               f"{what} is {got if type(got) in (int, float, bool) else _kind(got)}, expected {want}")


# --- loading a lab's checks ------------------------------------------------------------------------------

def load_checks(path: Path) -> list[Check]:
    """The CHECKS of a lab's checks.py, validated: ValueError naming what is wrong."""
    spec = importlib.util.spec_from_file_location("lab_checks", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    checks = getattr(module, "CHECKS", None)
    if not isinstance(checks, (list, tuple)) or not all(isinstance(c, Check) for c in checks):
        raise ValueError(f"{path}: CHECKS must be a list of grading.spec.Check")
    seen = set()
    for c in checks:
        if (c.cell, c.name) in seen:
            raise ValueError(f"{path}: two checks of {c.cell} are named {c.name!r}")
        seen.add((c.cell, c.name))
        if not c.points > 0:
            raise ValueError(f"{path}: {c.cell} / {c.name}: points must be positive")
        if c.ask is not None:
            c.ask_source()  # raises if the source cannot be found
    return list(checks)


def points_by_cell(checks: list[Check]) -> dict[str, float]:
    out: dict[str, float] = {}
    for c in checks:
        out[c.cell] = out.get(c.cell, 0.0) + c.points
    return out


# --- the submitted source, read as data --------------------------------------------------------------------

def notebook_code(files: dict[str, bytes]) -> list[str]:
    """Code cells of the one top-level notebook among files."""
    notebooks = [name for name in files if name.endswith(".ipynb") and "/" not in name]
    if len(notebooks) != 1:
        return []
    try:
        nb = json.loads(files[notebooks[0]].decode("utf-8"))
        cells = [c for c in nb.get("cells", []) if isinstance(c, dict) and c.get("cell_type") == "code"]
        sources = ["".join(c.get("source", "")) if isinstance(c.get("source"), list) else str(c.get("source", ""))
                   for c in cells]
    except (ValueError, AttributeError, TypeError):
        return []
    return sources


def _python(source: str) -> str:
    """A cell's source with IPython's magics and shell lines blanked, so that the rest parses as Python."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def _definitions(sources: list[str]) -> dict[str, list[ast.AST]]:
    """What each top-level name of the notebook is bound to: functions, classes, assignments, imports."""
    found: dict[str, list[ast.AST]] = {}
    for source in sources:
        try:
            tree = ast.parse(_python(source))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found[node.name] = [node]  # a redefinition replaces the earlier one
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    found.setdefault((alias.asname or alias.name).split(".")[0], []).append(node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            found.setdefault(leaf.id, []).append(node)  # G = nn.GRUCell: G stands for it
    return found


def _follow(sources: list[str], name: str, visit) -> bool:
    """Walk the notebook's top-level definitions from ``name``: ``visit(tops, current)`` reads the statements that
    define ``current`` and returns the names to follow from them. False when the notebook does not define ``name``
    as a function or class (nothing is visited)."""
    defs = _definitions(sources)
    if not any(isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) for n in defs.get(name, [])):
        return False
    todo, seen = [name], set()
    while todo:
        current = todo.pop()
        if current in seen or current not in defs:
            continue
        seen.add(current)
        todo += [n for n in visit(defs[current], current) if n in defs]
    return True


def names_reachable(sources: list[str], name: str) -> set[str] | None:
    """Names, attributes and strings used by the notebook's definition of ``name`` and by the notebook's
    own functions and classes it refers to (transitively); None when the notebook does not define it."""
    used: set[str] = set()

    def visit(tops, _current):
        for node in (sub for top in tops for sub in ast.walk(top)):
            if isinstance(node, ast.Name):
                used.add(node.id)
            elif isinstance(node, ast.Attribute):
                used.add(node.attr)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                used.add(node.value)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                used.update(a.name.split(".")[-1] for a in node.names)
                used.update(a.asname for a in node.names if a.asname)
        return list(used)

    return used if _follow(sources, name, visit) else None


def _dotted(node: ast.Attribute) -> str:
    """``torch.autograd.grad`` for that attribute chain; a base that is not a name is ``?`` (``?.backward``)."""
    parts = [node.attr]
    base = node.value
    while isinstance(base, ast.Attribute):
        parts.append(base.attr)
        base = base.value
    parts.append(base.id if isinstance(base, ast.Name) else "?")
    return ".".join(reversed(parts))


def _bound(top: ast.AST) -> set[str]:
    """Names a function or class binds itself (arguments, assignments, loop variables, inner definitions)."""
    bound: set[str] = set()
    for node in ast.walk(top):
        if isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not top:
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound


def dotted_names_reachable(sources: list[str], name: str) -> set[str] | None:
    """The attribute chains (``torch.autograd.grad``, ``loss.backward``, ``?.backward``) and imported names
    (``torch.func.grad`` for ``from torch.func import grad``) used by the notebook's definition of ``name``
    and by the notebook's own top-level names it refers to (transitively); None when it does not define it.

    Unlike :func:`names_reachable`, a name a function binds itself (an argument, a local variable)
    is not followed to a top-level name of the same spelling, and a rule can tell a module or a method
    (``loss.backward()``) from a student's own helper called ``backward``.
    """
    found: set[str] = set()

    def visit(tops, current):
        follow = []
        for top in tops:
            if isinstance(top, (ast.Import, ast.ImportFrom)):
                found.update(_imported(top, current))  # only what binds this name: import torch.autograd binds torch
                continue
            local = _bound(top) if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else set()
            for node in ast.walk(top):
                if isinstance(node, ast.Name) and node.id not in local:
                    follow.append(node.id)
                elif isinstance(node, ast.Attribute):
                    found.add(_dotted(node))
                elif isinstance(node, (ast.Import, ast.ImportFrom)):
                    found.update(_imported(node))
        return follow

    return found if _follow(sources, name, visit) else None


def _imported(node: ast.Import | ast.ImportFrom, name: str | None = None) -> set[str]:
    """What an import binds, as dotted names (``torch.func.grad``), or only the binding of ``name``."""
    out = set()
    for a in node.names:
        bound = a.asname or a.name.split(".")[0]
        if name is not None and bound != name:
            continue
        if isinstance(node, ast.ImportFrom):
            out.add(f"{node.module}.{a.name}" if node.module else a.name)
        else:
            # at the top level, import torch.autograd stands for torch when torch is followed; inside a function
            # (name None), the import itself says what the function uses
            out.add(a.name if a.asname or name is None else bound)
    return out
