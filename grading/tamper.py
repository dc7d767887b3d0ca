"""Tamper-proof grades: what runs around a submission's test cells, and how grading tells it was tampered with.

nbgrader runs the hidden tests in the student's own kernel, so code in an answer cell can rewrite
later cells (IPython input or AST transformers), hide failures (event hooks, a custom exception
handler, a faked result), patch the helpers the tests call, shadow builtins, or hand the tests
objects whose comparisons lie. A sandbox does not help: the attacker sits in the same interpreter.
Grading therefore does four things (docs/grading.md, "Tamper-proof grades"):

* :func:`prepare` strips every tag and metadata field that changes execution (``skip-execution``,
  ``raises-exception``, nbval/papermill tags), restores nbgrader's metadata from the master, clears
  stored outputs, gives every cell a fresh random id, substitutes the course's own hidden-test seed,
  and inserts a *reset* cell before every graded test cell (it undoes transformers, hooks, custom
  exception handlers, patched builtins and assertion helpers) and one *canary* per test cell: the
  same test with one assertion mutated so that it contradicts the real one (a perturbed expected
  value, an inverted condition, another exception type). Canaries sit right before or right after
  their twin, in an order drawn from the course secret and the submission, and look like it.
* :func:`judge` reads the executed notebook: in an honest kernel a canary can never pass when its
  twin passed, and every reset cell prints its own nonce. A canary that passed beside a passing
  twin, a reset cell that did not print its nonce, or a test cell that did not run flags the
  submission and zeroes every autograded part (a hook can be installed anywhere before it acts,
  so no later part can be trusted). The inserted cells are removed again.
* :func:`verify` re-checks what the notebook cannot prove, outside the student's interpreter: a
  clean, sandboxed ``python -I`` loads the submitted checkpoints (``weights_only=True``) into the
  instructor's model code (``solutions/<lab>/checks.py``, never released) and recomputes the
  held-out loss, so forged histories and lying objects fail there.
* :func:`course_seed` gives each course its own hidden-test values: hidden tests draw their random
  inputs from ``_SEED`` (the lab's setup cell sets a public default), and every reset cell sets it to
  the course's value, so tests known from the public repository do not carry over.

The secret comes from ``COURSE_GRADING_SECRET`` or ``~/.config/rnn-course/grading-secret`` (made on
first use, mode 0600); the sandboxed kernels never see either. ``COURSE_TAMPER_OFF`` (a comma list of
strip, reset, canary, verify) switches defences off, for the tests that show each one is needed.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import hmac
import json
import os
import random
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

SECRET_ENV = "COURSE_GRADING_SECRET"
SECRET_FILE = Path("~/.config/rnn-course/grading-secret")
OFF_ENV = "COURSE_TAMPER_OFF"
DEFENCES = ("strip", "reset", "canary", "verify")
SEED_NAME = "_SEED"  # the hidden tests' seed: the lab's setup cell sets a default, each reset the course's own
FLAG_ENAME = "FlaggedForReview"
# Cell tags that change how a cell runs (nbclient, nbval, papermill); prepare() removes every tag anyway.
EXECUTION_TAGS = {"skip-execution", "raises-exception", "parameters", "injected-parameters", "nbval-skip",
                  "nbval-ignore-output", "nbval-raises-exception", "remove-cell", "skip"}


@dataclass
class Verdict:
    """What tamper checks found: flagged submissions get parts_zeroed (grade_ids) and a reason each."""

    flagged: bool = False
    reasons: list[str] = field(default_factory=list)
    parts_zeroed: list[str] = field(default_factory=list)

    def merge(self, other: "Verdict") -> "Verdict":
        return Verdict(self.flagged or other.flagged, self.reasons + other.reasons,
                       sorted(set(self.parts_zeroed) | set(other.parts_zeroed)))

    def to_dict(self) -> dict:
        return asdict(self)


def disabled(defence: str) -> bool:
    """True when COURSE_TAMPER_OFF switches this defence off (tests only; grading warns)."""
    off = {w.strip() for w in os.environ.get(OFF_ENV, "").split(",")}
    return defence in off or "all" in off


def load_secret() -> bytes:
    """The course secret: COURSE_GRADING_SECRET, else ~/.config/rnn-course/grading-secret (created, 0600)."""
    value = os.environ.get(SECRET_ENV, "").strip()
    if value:
        return value.encode()
    path = SECRET_FILE.expanduser()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return path.read_text().strip().encode()


def _mac(secret: bytes, *parts: str) -> bytes:
    return hmac.new(secret, "\x1f".join(parts).encode(), hashlib.sha256).digest()


def course_seed(secret: bytes) -> int:
    """The seed this course's hidden tests draw their random inputs from."""
    return 1 + int.from_bytes(_mac(secret, "hidden-test-seed")[:4], "big") % 2_000_000_000


# --- what a cell is -------------------------------------------------------------------------------

def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test(cell) -> bool:
    """An autograded test cell: graded, code, not a solution."""
    m = _meta(cell)
    return cell.get("cell_type") == "code" and bool(m.get("grade")) and not m.get("solution")


def passed(cell) -> bool:
    """nbgrader's rule: a test cell passes unless it shows an error or writes to stderr."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error" or (out.get("output_type") == "stream" and out.get("name") == "stderr"):
            return False
    return True


# --- canaries: mutations that contradict one assertion ---------------------------------------------

_BOOL_CALLS = {"allclose", "equal", "isclose"}


def _perturb(node: ast.AST, rng: random.Random) -> tuple[ast.AST, ast.AST] | None:
    """(a literal inside node, the same literal with another value), or None."""
    if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        v = node.value
        if isinstance(v, int):
            step = rng.choice([1, 2, 3])
            return node, ast.Constant(v + step * rng.choice([1, -1]) if v > 3 else v + step)
        if isinstance(v, float):
            return node, ast.Constant(round(v * rng.choice([1.25, 0.75, 1.5]) + rng.choice([0.125, 0.25]), 6))
        if isinstance(v, str) and v:
            i = rng.randrange(len(v))
            pool = [c for c in "etaoinshrdlu" if c != v[i]]
            return node, ast.Constant(v[:i] + rng.choice(pool) + v[i + 1:])
        return None
    children = []
    if isinstance(node, (ast.List, ast.Tuple)):
        children = list(node.elts)
    elif isinstance(node, ast.Dict):
        children = [v for v in node.values if v is not None]
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return None  # -n: leave it
    rng.shuffle(children)
    for child in children:
        found = _perturb(child, rng)
        if found is not None:
            return found
    return None


_INVERT = {ast.Lt: ast.GtE, ast.LtE: ast.Gt, ast.Gt: ast.LtE, ast.GtE: ast.Lt, ast.Eq: ast.NotEq,
           ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}


def _contradictions(test: ast.AST, rng: random.Random) -> list[tuple[ast.AST, ast.AST]]:
    """(node, replacement) pairs: if ``test`` is true, it is false with the replacement in place."""
    out = []
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        for value in test.values:  # And is true only if each part is: contradict one part
            out += _contradictions(value, rng)
    elif isinstance(test, ast.Compare) and len(test.ops) == 1:
        op = type(test.ops[0])
        if op in (ast.Eq,):
            for side in (test.comparators[0], test.left):
                found = _perturb(side, rng)
                if found is not None:
                    out.append(found)
                    break
        if not out and op in _INVERT:
            out.append((test, ast.Compare(left=test.left, ops=[_INVERT[op]()], comparators=test.comparators)))
    elif isinstance(test, ast.Call) and isinstance(test.func, (ast.Attribute, ast.Name)):
        name = test.func.attr if isinstance(test.func, ast.Attribute) else test.func.id
        if name in _BOOL_CALLS and len(test.args) >= 2:
            # allclose/isclose tolerances are <= 1e-3 in these tests; a shift of 0.25 leaves them far behind
            shift = 1 if name == "equal" else 0.25
            second = test.args[1]
            out.append((second, ast.BinOp(left=second, op=ast.Add(), right=ast.Constant(shift))))
        elif name in ("all", "any", "isinstance", "is_file", "torch.equal"):
            out.append((test, ast.UnaryOp(ast.Not(), test)))
    return out


def _always_run(body: list[ast.stmt]):
    """Statements that run whenever the cell gets that far: top level, ``with`` blocks, and ``for`` loops
    over a non-empty literal list or tuple. A mutation elsewhere (an ``if``, a loop that may not turn)
    might never run, and the canary would pass beside its real test."""
    for node in body:
        yield node
        if isinstance(node, ast.With):
            yield from _always_run(node.body)
        elif isinstance(node, ast.For) and isinstance(node.iter, (ast.List, ast.Tuple)) and node.iter.elts \
                and not node.orelse:
            yield from _always_run(node.body)


def _sites(tree: ast.AST, rng: random.Random) -> list[tuple[ast.AST, ast.AST]]:
    sites = []
    for node in _always_run(tree.body):
        if isinstance(node, ast.Assert):
            sites += _contradictions(node.test, rng)
        elif isinstance(node, ast.Try) and node.orelse and isinstance(node.orelse[0], ast.Raise):
            # another exception type: the one the body raises is no longer caught, and no exception
            # at all still reaches the raise in ``else``
            for handler in node.handlers:
                if isinstance(handler.type, ast.Name) and handler.type.id.endswith("Error"):
                    other = "TypeError" if handler.type.id != "TypeError" else "KeyError"
                    sites.append((handler.type, ast.Name(other, ast.Load())))
    return sites


def _offsets(source: str) -> list[int]:
    starts, pos = [], 0
    for line in source.splitlines(keepends=True):
        starts.append(pos)
        pos += len(line)
    starts.append(pos)
    return starts


def mutate(source: str, rng: random.Random) -> str | None:
    """The test with one assertion contradicted, edited in place (comments and layout kept), or None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    sites = [(n, r) for n, r in _sites(tree, rng) if hasattr(n, "end_lineno")]
    if not sites:
        return None
    node, replacement = rng.choice(sites)
    text = ast.unparse(replacement)
    if isinstance(replacement, ast.Constant) and isinstance(replacement.value, str):
        quote = (ast.get_source_segment(source, node) or '"')[0]
        text = quote + json.dumps(replacement.value)[1:-1].replace(quote, "\\" + quote) + quote if quote in "\"'" else text
    elif isinstance(node, (ast.BoolOp, ast.Compare)) and isinstance(replacement, ast.UnaryOp):
        text = f"not ({ast.get_source_segment(source, node)})"
    elif isinstance(replacement, ast.UnaryOp) and isinstance(replacement.op, ast.Not):
        text = "not " + ast.get_source_segment(source, node)
    elif isinstance(replacement, ast.BinOp):
        text = f"{ast.get_source_segment(source, node)} + {replacement.right.value}"
    elif isinstance(replacement, ast.Compare) and isinstance(node, ast.Compare):
        seg = ast.get_source_segment(source, node)
        left = ast.get_source_segment(source, node.left)
        right = ast.get_source_segment(source, node.comparators[0])
        sym = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
               ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}[type(replacement.ops[0])]
        text = f"{left} {sym} {right}" if seg else text
    starts = _offsets(source)
    # ast offsets are in UTF-8 bytes; work on the encoded line
    line_start, line_end = node.lineno - 1, node.end_lineno - 1
    lines = source.splitlines(keepends=True)
    head = lines[line_start].encode()[: node.col_offset].decode()
    tail = lines[line_end].encode()[node.end_col_offset:].decode()
    return source[: starts[line_start]] + head + text + tail + source[starts[line_end + 1]:]


# --- reset cells ---------------------------------------------------------------------------------

# Runs once, before any student code: what the resets restore later. {torch} is "torch" or "" (a lab without it).
SNAPSHOT = r"""
def _grading_snapshot(with_torch):
    import builtins, math, sys, types
    from IPython import get_ipython
    ip = get_ipython()
    missing = object()
    names = ["run_cell", "run_cell_async", "run_ast_nodes", "run_code", "showtraceback", "_showtraceback",
             "showsyntaxerror", "transform_cell", "transform_ast", "should_run_async", "set_custom_exc"]
    classes = [(klass, names) for klass in type(ip).__mro__]
    functions = [(math, ["isclose", "log", "sqrt"])]
    modules = {"math": math}
    if with_torch:
        import torch, torch.nn.functional, torch.testing
        modules.update(torch=torch, nn=torch.nn, F=torch.nn.functional)
        functions += [(torch, ["allclose", "equal", "isclose", "tensor", "randn", "randint", "manual_seed",
                               "bincount", "cat", "stack", "load"]),
                      (torch.testing, ["assert_close"]), (torch.nn.functional, ["cross_entropy"])]
        classes += [(torch.nn.Module, ["__call__", "__getattr__", "__setattr__", "parameters", "modules",
                                       "named_parameters", "named_modules", "state_dict", "eval", "train", "zero_grad"]),
                    (torch.Tensor, ["__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
                                    "__float__", "__len__", "item", "tolist", "allclose", "equal", "abs", "max",
                                    "sum", "backward", "std", "all", "any", "__getattribute__"])]
    state = dict(
        builtins=dict(builtins.__dict__),
        classes=[(k, n, k.__dict__.get(n, missing)) for k, ns in classes for n in ns],
        functions=[(m, n, getattr(m, n)) for m, ns in functions for n in ns if hasattr(m, n)],
        missing=missing, modules=modules, shell_names=names,
        shell_own={n: vars(ip)[n] for n in names if n in vars(ip)},  # ipykernel leaves _showtraceback here
        hooks=(sys.excepthook, sys.displayhook, ip.displayhook),
        transforms=[list(ip.input_transformer_manager.cleanup_transforms),
                    list(ip.input_transformer_manager.line_transforms)],
        sys_modules={k: sys.modules[k] for k in ["builtins", "sys", "IPython", *(m.__name__ for m in modules.values())]},
    )
    holder = types.ModuleType("_grading_state")
    holder.state = state
    sys.modules["_grading_state"] = holder

_grading_snapshot("{torch}" == "torch")
del _grading_snapshot
"""

RESET = r"""
def _grading_reset():
    import sys
    state = sys.modules["_grading_state"].state
    found = []  # what an honest notebook never leaves behind (printed for the grader's judge)
    changed = [k for k, m in state["sys_modules"].items() if sys.modules.get(k) is not m]
    if changed:
        found.append("replaced modules " + ",".join(changed))
    sys.modules.update(state["sys_modules"])
    import builtins, threading, types
    current = builtins.__dict__
    per_request = ("input", "raw_input", "getpass")  # ipykernel rebinds these for every execution
    replaced = [n for n, v in state["builtins"].items() if current.get(n, v) is not v and n not in per_request]
    if replaced:
        found.append("patched builtins " + ",".join(sorted(replaced)))
    for name in [n for n in current if n not in state["builtins"]]:
        del current[name]
    current.update({k: v for k, v in state["builtins"].items() if k not in per_request})
    for owner, name, value in state["classes"]:
        if owner.__dict__.get(name, state["missing"]) is not value:
            found.append(f"patched {owner.__name__}.{name}")
            if value is state["missing"]:
                type.__delattr__(owner, name)
            else:
                type.__setattr__(owner, name, value)
    for owner, name, value in state["functions"]:
        if getattr(owner, name, None) is not value:
            found.append(f"patched {owner.__name__}.{name}")
            setattr(owner, name, value)
    from IPython import get_ipython
    from IPython.core.inputtransformer2 import TransformerManager
    ip = get_ipython()
    for name in state["shell_names"]:
        own = state["shell_own"].get(name, state["missing"])
        if vars(ip).get(name, state["missing"]) is not own:
            found.append(f"replaced shell.{name}")
            if own is state["missing"]:
                delattr(ip, name)
            else:
                setattr(ip, name, own)
    manager = ip.input_transformer_manager
    if [list(manager.cleanup_transforms), list(manager.line_transforms)] != state["transforms"] \
            or ip.input_transformers_post or ip.ast_transformers:
        found.append("input or AST transformers")
    ip.input_transformer_manager = TransformerManager()
    ip.input_transformers_post = []
    ip.ast_transformers = []
    for event, callbacks in ip.events.callbacks.items():
        keep = [cb for cb in callbacks if getattr(cb, "__module__", "").startswith(("matplotlib_inline.", "ipykernel."))
                and getattr(sys.modules.get(cb.__module__), getattr(cb, "__name__", ""), None) is cb]
        if any(not getattr(cb, "__module__", "").startswith(("IPython.", "matplotlib_inline.", "ipykernel."))
               for cb in callbacks if cb not in keep):
            found.append(f"{event} hooks")
        callbacks[:] = keep
    if ip.custom_exceptions:
        found.append("custom exception handler")
    ip.set_custom_exc((), None)
    ip.custom_exceptions, ip.CustomTB = (), None
    if (sys.excepthook, sys.displayhook, ip.displayhook) != state["hooks"] or sys.gettrace() or sys.getprofile():
        found.append("replaced exception/display hooks or a tracer")
    sys.excepthook, sys.displayhook, ip.displayhook = state["hooks"]
    sys.settrace(None)
    sys.setprofile(None)
    threading.settrace(None)
    threading.setprofile(None)
    user = ip.user_ns
    for name, value in state["builtins"].items():  # a global that shadows a builtin the tests call
        if name in user and user[name] is not value and isinstance(value, (type, types.BuiltinFunctionType)):
            if name in {"isinstance", "abs", "all", "any", "len", "float", "print", "AssertionError", "ValueError",
                        "getattr", "callable", "issubclass", "type"}:
                found.append(f"shadowed builtin {name}")
            del user[name]
    for name, module in state["modules"].items():  # the setup cell's imports, as the tests expect them
        if name in user:
            user[name] = module
    user["{seed_name}"] = {seed}  # this course's hidden-test seed
    print("{nonce}")
    if found:
        print("found: " + "; ".join(dict.fromkeys(found)))

_grading_reset()
del _grading_reset
"""


def _new_id() -> str:
    return uuid.uuid4().hex[:8]


def _code(source: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.id = _new_id()
    return cell


# --- prepare / judge -----------------------------------------------------------------------------

def prepare(nb, master, secret: bytes, *, student: str = "") -> tuple[nbformat.NotebookNode, dict]:
    """The notebook to execute (stripped, seeded, reset and canary cells inserted) and the private plan."""
    nb = copy.deepcopy(nb)
    seed = course_seed(secret)
    masters = {m["grade_id"]: m for c in master.cells if (m := _meta(c)).get("grade_id")}
    plan = {"original_ids": [], "inserted": {}, "tests": {}, "found": []}
    for cell in nb.cells:
        m = _meta(cell)
        tags = set(cell.get("metadata", {}).get("tags", []))
        other = set(cell.get("metadata", {})) & {"papermill", "nbval", "skip", "raises"}
        if not disabled("strip") and (m.get("grade") or m.get("locked")) and (tags & EXECUTION_TAGS or other):
            plan["found"].append(f"{m.get('grade_id', '?')}: metadata that changes execution "
                                 f"({', '.join(sorted(tags & EXECUTION_TAGS | other))})")
    # 1. strip: only nbgrader's own metadata survives (from the master where the cell is known)
    if not disabled("strip"):
        nb.metadata = nbformat.from_dict({k: copy.deepcopy(master.metadata[k]) for k in ("kernelspec", "language_info")
                                          if k in master.metadata})
        for cell in nb.cells:
            gid = _meta(cell).get("grade_id")
            cell.metadata = nbformat.from_dict({"nbgrader": copy.deepcopy(masters[gid])} if gid in masters else {})
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
    # fresh random ids: the kernel must not tell inserted cells from the others by their id
    for cell in nb.cells:
        plan["original_ids"].append(cell.get("id"))
        cell.id = _new_id()
    rng = random.Random(_mac(secret, "canaries", student, hashlib.sha256(
        json.dumps([c.source for c in nb.cells]).encode()).hexdigest()))
    out = []
    if not disabled("reset"):
        uses_torch = any("torch" in c.source for c in master.cells if c.cell_type == "code")
        out.append(_code(SNAPSHOT.replace("{torch}", "torch" if uses_torch else "")))
        plan["inserted"][out[-1].id] = {"kind": "snapshot"}
    for cell in nb.cells:
        if not is_test(cell):
            out.append(cell)
            continue
        gid = _meta(cell)["grade_id"]
        plan["tests"][cell.id] = gid
        group = [cell]
        mutant = None if disabled("canary") else mutate(cell.source, rng)
        if mutant is not None:
            canary = _code(mutant)
            plan["inserted"][canary.id] = {"kind": "canary", "twin": gid}
            group.insert(rng.randrange(2), canary)
        for member in group:
            if not disabled("reset"):
                nonce = _mac(secret, "reset", member.id, str(rng.random())).hex()[:24]
                reset = _code(RESET.replace("{nonce}", nonce).replace("{seed_name}", SEED_NAME)
                              .replace("{seed}", str(seed)))
                plan["inserted"][reset.id] = {"kind": "reset", "nonce": nonce, "before": member.id}
                out.append(reset)
            out.append(member)
    nb.cells = out
    return nb, plan


def judge(executed, plan: dict) -> tuple[nbformat.NotebookNode, Verdict]:
    """Check canaries, resets and test cells; return the notebook without the inserted cells, and the verdict."""
    nb = copy.deepcopy(executed)
    reasons = list(plan.get("found", []))
    by_id = {c.get("id"): c for c in nb.cells}
    test_passed = {gid: passed(by_id[cid]) for cid, gid in plan["tests"].items() if cid in by_id}
    autograded = sorted(set(plan["tests"].values()))
    for cid, gid in plan["tests"].items():
        cell = by_id.get(cid)
        if cell is None:
            reasons.append(f"{gid}: the test cell vanished during execution")
        elif cell.get("execution_count") is None and not cell.get("outputs") and not disabled("strip"):
            reasons.append(f"{gid}: the test cell was not executed")
    for cid, info in plan["inserted"].items():
        cell = by_id.get(cid)
        if info["kind"] == "canary":
            if cell is None or (passed(cell) and test_passed.get(info["twin"])):
                reasons.append(f"{info['twin']}: a control test that a correct answer must fail passed as well "
                               "(test results were suppressed or faked)")
        elif info["kind"] == "reset":
            outputs = (cell or {}).get("outputs", [])
            # stdout only: a thread the student left running may still print (to either stream) meanwhile
            lines = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream"
                            and o.get("name") == "stdout").splitlines()
            gid = plan["tests"].get(info["before"]) or plan["inserted"].get(info["before"], {}).get("twin", "?")
            failed = any(o.get("output_type") == "error" for o in outputs)
            if cell is None or cell.get("execution_count") is None or info["nonce"] not in lines or failed:
                reasons.append(f"{gid}: the grader's reset before the test did not run as written "
                               "(cells rewritten, or the kernel's run machinery replaced)")
            else:
                after = lines[lines.index(info["nonce"]) + 1:]
                if after and after[0].startswith("found: "):
                    reasons.append(f"before {gid}: the submission left " + after[0].removeprefix("found: ")[:300]
                                   + " in the kernel (undone before the test)")
        elif info["kind"] == "snapshot" and (cell is None or not passed(cell)):
            reasons.append("the grader's first cell did not run as written")
    nb.cells = [c for c in nb.cells if c.get("id") not in plan["inserted"]]
    if len(nb.cells) == len(plan["original_ids"]):  # nbgrader may have put back deleted test cells
        for cell, original in zip(nb.cells, plan["original_ids"]):
            if original:
                cell.id = original
    reasons = list(dict.fromkeys(reasons))
    verdict = Verdict(bool(reasons), reasons, autograded if reasons else [])
    return nb, verdict


def apply(nb, verdict: Verdict) -> nbformat.NotebookNode:
    """Mark the zeroed parts' test cells as failed (an error output naming the reason), so nbgrader scores them 0."""
    if not verdict.flagged:
        return nb
    reason = "; ".join(verdict.reasons)
    for cell in nb.cells:
        if is_test(cell) and _meta(cell).get("grade_id") in verdict.parts_zeroed:
            cell.outputs.append(nbformat.v4.new_output(
                "error", ename=FLAG_ENAME, evalue=f"no autograded marks: flagged for review: {reason}", traceback=[]))
    return nb


# --- verify: decisive results re-checked outside the student's interpreter -------------------------

CHECKS = "checks.py"  # beside the lab's source notebook; never released (CourseDirectory.ignore)
VERIFY_TIMEOUT = 120


def verify(submission_dir: Path, course, assignment: str) -> Verdict:
    """Run solutions/<assignment>/checks.py on the submission in a clean sandboxed ``python -I``.

    checks.py prints one JSON object {"flagged", "reasons", "parts_zeroed"}; a lab without one
    gets an empty Verdict. A check that cannot run says so without flagging the student.
    """
    import subprocess
    import sys
    import tempfile

    checks = Path(course.root) / "solutions" / assignment / CHECKS
    if disabled("verify") or not checks.is_file():
        return Verdict()
    submission_dir = Path(submission_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="rnn-verify-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)
        # only regular files: checkpoints are data, the instructor's checks a private copy
        (work / "checks.py").write_bytes(checks.read_bytes())
        for path in submission_dir.rglob("*.pt"):
            if path.is_file() and not path.is_symlink():
                target = work / "submission" / path.relative_to(submission_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        cmd = [sys.executable, "-I", str(work / "checks.py"), str(work / "submission")]
        try:
            from grading import sandbox, sandbox_kernel

            sandbox.check()
            ns = sandbox_kernel.parser().parse_args(
                sandbox.Limits.from_env().launcher_args() + [a for p in sandbox._ro_paths(None) for a in ("--ro", str(p))])
            env = sandbox_kernel.kernel_env(sys.executable, sandbox_kernel.kernel_threads(ns.threads))
            env["PYTHONPATH"] = str(sandbox.HELPERS_DIR.parent)  # -I ignores it; checks.py adds it itself
            if os.geteuid() == 0:
                sandbox_kernel._chown_tree(work, ns.uid, ns.gid)
            cmd = sandbox_kernel.build_command(ns, cmd, workdir=work, env=env)
        except Exception as err:  # noqa: BLE001 - no sandbox: the checks load data only (weights_only)
            print(f"verify: running {CHECKS} without the sandbox ({err})")
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=VERIFY_TIMEOUT, cwd=work)
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
            return Verdict(**json.loads(lines[-1]))
        except (subprocess.TimeoutExpired, OSError, ValueError, TypeError, IndexError) as err:
            detail = (done.stderr.strip().splitlines() or [""])[-1] if "done" in locals() else str(err)
            print(f"verify: {CHECKS} did not give a verdict ({detail}); grades stand as the notebook gave them")
            return Verdict()
