"""The grader's question to a student's kernel, and the plain-data format of its answer.

This file has two readers. The sandboxed kernel that ran a submission executes its *source*
(grading sends it as text: the kernel cannot import ``grading``): :func:`answer` loads the inputs
the grader drew, runs the lab's ``ask`` function on the student's namespace, and writes what came
back as plain data. The grader's judge imports it to read that data back (:func:`decode`).

Plain data is a tree of ``None``, ``bool``, ``int``, ``float``, ``str``, lists, tuples and dicts,
with tensors as leaves. It is written as JSON, with tensors in a safetensors file: neither format
can carry code, so nothing the kernel writes can run in the grader. Anything else a student's
function returns (an object whose ``==`` always says yes, a class instance) becomes an
``Unsupported`` leaf that no check accepts; an exception becomes a ``Raised`` leaf, so one failing
call does not hide the answers to the others. Sizes are bounded on both sides.

Only the standard library, torch and safetensors are used: they are what the kernel has.
"""
from __future__ import annotations

import builtins
import json
import math

MAX_JSON_BYTES = 4 * 2**20
MAX_TENSOR_BYTES = 64 * 2**20
MAX_ITEMS = 200_000
MAX_DEPTH = 32
MAX_MESSAGE = 2_000  # characters kept of an exception's message (the judge may test it; feedback never shows it)
BUILTIN_ERRORS = frozenset(name for name, value in vars(builtins).items()
                           if isinstance(value, type) and issubclass(value, BaseException))


class TooLarge(ValueError):
    """An answer past the size limits."""


class Raised:
    """A call that raised: the exception's class name, whether it is a builtin one, and its message."""

    def __init__(self, name: str, builtin: bool, message: str):
        self.name, self.builtin, self.message = name, builtin, message

    def __repr__(self) -> str:
        return f"Raised({self.name!r})"


class Unsupported:
    """A value that is not plain data (its class name, whether the class is a builtin one)."""

    def __init__(self, name: str, builtin: bool):
        self.name, self.builtin = name, builtin

    def __repr__(self) -> str:
        return f"Unsupported({self.name!r})"


class Missing:
    """A name the notebook does not define."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Missing({self.name!r})"


def raised(err: BaseException) -> Raised:
    cls = type(err)
    builtin = cls.__module__ == "builtins" and cls.__name__ in BUILTIN_ERRORS
    try:
        message = str.__str__(str(err))[:MAX_MESSAGE]
    except BaseException:  # noqa: BLE001 - a __str__ that raises is the student's business
        message = ""
    return Raised(cls.__name__ if builtin else "", builtin, message)


# --- encoding (in the kernel) -----------------------------------------------------------------------

class _Encoder:
    """Turns a value into JSON-able plain data, collecting its tensors; TooLarge past the limits."""

    def __init__(self):
        import sys

        self.torch = sys.modules.get("torch")  # no tensor can be in the answer unless torch was imported
        self.tensors: dict = {}
        self.items = self.bytes = 0

    def plain(self, x, depth: int = 0):
        self.items += 1
        if self.items > MAX_ITEMS or depth > MAX_DEPTH:
            raise TooLarge(f"more than {MAX_ITEMS:,} items or deeper than {MAX_DEPTH}")
        if x is None or x is True or x is False:
            return x
        if isinstance(x, Raised):
            return {"$raised": x.name, "builtin": x.builtin, "message": x.message}
        if isinstance(x, Missing):
            return {"$missing": x.name}
        if self.torch is not None and isinstance(x, self.torch.Tensor):
            return {"$tensor": self.tensor(x)}
        module = getattr(type(x), "__module__", "")
        if module == "numpy" or module.startswith("numpy."):
            return self.numpy_value(x, depth)
        return self.builtin(x, depth, module)

    def builtin(self, x, depth: int, module: str):
        # int/float/str/list/dict subclasses lose their overrides: the base class's own slots read the value
        if isinstance(x, int):
            return int.__index__(x)
        if isinstance(x, float):
            f = float.__float__(x)
            return f if math.isfinite(f) else {"$float": repr(f)}
        if isinstance(x, str):
            s = str.__str__(x)
            self.bytes += len(s)
            if self.bytes > MAX_JSON_BYTES:
                raise TooLarge("more than 4 MB of text")
            return s
        if isinstance(x, list):
            return [self.plain(v, depth + 1) for v in list.__iter__(x)]
        if isinstance(x, tuple):
            return {"$tuple": [self.plain(v, depth + 1) for v in tuple.__iter__(x)]}
        if isinstance(x, dict):
            return {"$dict": [[self.plain(k, depth + 1), self.plain(dict.__getitem__(x, k), depth + 1)]
                              for k in list(dict.__iter__(x))]}
        return {"$unsupported": type(x).__name__ if module == "builtins" else "", "builtin": module == "builtins"}

    def numpy_value(self, x, depth: int):
        import numpy as np

        if isinstance(x, np.ndarray):
            if x.dtype == object:
                return {"$unsupported": "ndarray", "builtin": True}
            import torch

            return {"$tensor": self.tensor(torch.from_numpy(np.array(x, copy=True)))}
        if isinstance(x, np.generic):
            return self.plain(x.item(), depth)
        return {"$unsupported": "", "builtin": False}

    def tensor(self, t) -> str:
        import torch

        plain = torch.Tensor._make_subclass(torch.Tensor, t.detach()).to("cpu", copy=True).contiguous()
        if plain.is_sparse or plain.is_quantized or plain.is_complex():
            raise TooLarge("a sparse, quantized or complex tensor")  # not plain data here
        self.bytes += plain.numel() * plain.element_size()
        if self.bytes > MAX_TENSOR_BYTES:
            raise TooLarge(f"more than {MAX_TENSOR_BYTES // 2**20} MB of tensors")
        key = f"t{len(self.tensors)}"
        self.tensors[key] = plain
        return key


def encode(value) -> tuple[bytes, bytes]:
    """(JSON bytes, safetensors bytes) for a tree of plain data; TooLarge past the limits."""
    encoder = _Encoder()
    text = json.dumps(encoder.plain(value), allow_nan=False).encode("utf-8")
    if len(text) > MAX_JSON_BYTES:
        raise TooLarge("more than 4 MB of JSON")
    if not encoder.tensors:
        return text, b""
    from safetensors.torch import save

    return text, save(encoder.tensors)


# --- decoding (in the judge, or in the kernel for the inputs) ---------------------------------------

def decode(text: bytes, tensor_bytes: bytes = b""):
    """The tree :func:`encode` wrote; ValueError for anything malformed or too large."""
    if len(text) > MAX_JSON_BYTES or len(tensor_bytes) > MAX_TENSOR_BYTES + 2**20:
        raise TooLarge("the answer is larger than the limits")
    tensors = {}
    if tensor_bytes:
        from safetensors.torch import load

        tensors = load(tensor_bytes)
    count = [0]

    def build(x, depth):
        count[0] += 1
        if count[0] > MAX_ITEMS or depth > MAX_DEPTH:
            raise TooLarge("too many items")
        if isinstance(x, list):
            return [build(v, depth + 1) for v in x]
        if not isinstance(x, dict):
            return x
        if "$tensor" in x:
            return tensors[x["$tensor"]]
        if "$tuple" in x:
            return tuple(build(v, depth + 1) for v in x["$tuple"])
        if "$dict" in x:
            out = {}
            for k, v in x["$dict"]:
                key = build(k, depth + 1)
                out[key if not isinstance(key, list) else tuple(key)] = build(v, depth + 1)
            return out
        if "$float" in x:
            return float(x["$float"])
        if "$raised" in x:
            return Raised(str(x["$raised"]), bool(x.get("builtin")), str(x.get("message", ""))[:MAX_MESSAGE])
        if "$missing" in x:
            return Missing(str(x["$missing"]))
        if "$unsupported" in x:
            return Unsupported(str(x["$unsupported"]), bool(x.get("builtin")))
        raise ValueError("not an answer file")

    try:
        return build(json.loads(text.decode("utf-8")), 0)
    except (KeyError, TypeError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise ValueError(f"not an answer file ({type(err).__name__})") from None


# --- the question (in the kernel) --------------------------------------------------------------------

SNAPSHOTS = "__grading_snapshots__"  # sys.modules entry: what each test cell saw (see remember())


class Notebook:
    """The student's names as attributes: ``nb.make_batches``; a name the notebook lacks is a ``Missing``.

    Names the question is known to use are read as they stood right after its test cell ran (the
    cell's snapshot), as nbgrader's own tests would have seen them. While such a question runs, the
    namespace itself is the one its test cell saw (see answer()), so the student's functions read their
    globals as they stood then too. A question of no test cell reads names as they stand now.
    """

    def __init__(self, namespace: dict, snapshot: tuple | None = None):
        object.__setattr__(self, "_ns", namespace)
        object.__setattr__(self, "_snapshot", snapshot)

    def __getattr__(self, name):
        snapshot = object.__getattribute__(self, "_snapshot")
        if snapshot is not None and name in snapshot[1]:
            values = snapshot[0]
            return dict.__getitem__(values, name) if dict.__contains__(values, name) else Missing(name)
        ns = object.__getattribute__(self, "_ns")
        return dict.__getitem__(ns, name) if dict.__contains__(ns, name) else Missing(name)


def remember(cell: str, names: list) -> None:
    """Right after a test cell ran: keep the objects its questions will call, and the whole namespace their
    code reads its globals from (a shallow copy: references, no objects copied). The kernel runs this."""
    import sys
    import types

    ns = sys.modules["IPython"].get_ipython().user_ns
    store = sys.modules.setdefault(SNAPSHOTS, types.ModuleType(SNAPSHOTS))
    store.__dict__[cell] = ({n: dict.__getitem__(ns, n) for n in names if dict.__contains__(ns, n)}, tuple(names),
                            dict.copy(ns))


def attempt(fn, *args, **kwargs):
    """fn(*args, **kwargs), or a Raised leaf: one failing call never hides the answers to the others."""
    if isinstance(fn, Missing):
        return fn
    try:
        return fn(*args, **kwargs)
    except BaseException as err:  # noqa: BLE001 - KeyboardInterrupt too: the grader's timeout is the limit
        return raised(err)


def answer(folder: str, ask_source: str, cell: str = "") -> None:
    """Run the grader's question on the student's namespace and write the answer in ``folder``.

    The kernel runs this with the inputs in ``folder/in.json`` and ``in.safetensors``; it writes
    ``out.json`` and ``out.safetensors`` (or ``out.error`` naming why there is no answer).
    """
    import os
    import sys

    def read(name):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            return b""
        with open(path, "rb") as fh:
            return fh.read()

    def write(name, data):
        fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)

    shell = sys.modules["IPython"].get_ipython()
    inputs = decode(read("in.json"), read("in.safetensors"))
    scope = {"attempt": attempt, "Missing": Missing, "Raised": Raised, "__name__": "__grader_question__"}
    ns = shell.user_ns
    live = dict.copy(ns)
    try:
        exec(compile(ask_source, "<grader's question>", "exec"), scope)
        snapshot = getattr(sys.modules.get(SNAPSHOTS), cell, None) if cell else None
        if snapshot is not None and len(snapshot) > 2:
            # the student's functions read their globals from ns: give them the namespace their test cell saw,
            # so that a later cell (from torch import *, a helper redefined for another part) changes nothing
            dict.clear(ns)
            dict.update(ns, snapshot[2])
        value = scope["ask"](Notebook(ns, snapshot), inputs)
    except BaseException as err:  # noqa: BLE001 - reported as the answer: the check decides
        value = raised(err)
    finally:
        dict.clear(ns)
        dict.update(ns, live)
    try:
        text, tensors = encode(value)
    except TooLarge as err:
        write("out.error", f"the answer is too large ({err})".encode())
        return
    except Exception as err:  # noqa: BLE001 - e.g. a tensor subclass that will not copy
        write("out.error", f"the answer could not be read as plain data ({type(err).__name__})".encode())
        return
    write("out.safetensors", tensors)
    write("out.json", text)
