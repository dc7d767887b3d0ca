"""Run a submission's notebook in one sandboxed kernel, then put the grader's questions to it.

The cells run top to bottom as a student's Run All would, with a time limit per cell; errors are
kept as outputs and the run goes on. A cell that kills the kernel (a hard exit, memory) or hangs
it past an interrupt costs only that cell: a fresh kernel replays the cells before it, the cell
is skipped, and the run goes on (at most ``max_restarts`` times). After the last cell, each
question (:mod:`grading.probe`) runs in the same kernel with a time limit of its own, and writes
its answer as plain data into a folder the grader made for it. A question that times out or kills
the kernel gets no answer (the kernel is replaced for the next one); nothing the kernel prints
during the questions is kept.
"""
from __future__ import annotations

import copy
import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbclient.util import run_sync

PROBE_SOURCE = (Path(__file__).resolve().parent / "probe.py").read_text(encoding="utf-8")
# No name of the student's namespace but __builtins__ is looked up: a star import that shadows
# exec or compile (from torch import *) cannot break the question. Everything else runs in a fresh
# namespace with the real builtins.
BOOTSTRAP = "__builtins__.exec({source!r}, {{'__name__': '__grading_probe__'}})"
MAX_OUTPUT_CHARS = 2_000_000  # per cell: a print loop until the time limit must not fill the grader's memory
RESPONSIVE_SECONDS = 10  # after an interrupt, a kernel that does not answer within this is replaced


@dataclass
class Question:
    id: int
    source: str  # the ask (grading.spec.Check.ask_source)
    timeout: float
    cell: str = ""  # the test cell it belongs to: the names it reads are kept as they stood right after it
    names: list = field(default_factory=list)
    folder: Path | None = None  # made by ask(): in.* from the judge, out.* from the kernel


@dataclass
class RunReport:
    """What happened while running, for the summary and the notebook's grading record."""

    skipped: dict[int, str] = field(default_factory=dict)  # cell index -> why it was skipped on replay
    timeouts: list[int] = field(default_factory=list)  # cells stopped at the per-cell limit
    restarts: int = 0
    deadline_hit: bool = False
    deadline_cut: int | None = None  # the cell the deadline stopped, if it stopped one


class _Client(NotebookClient):
    """nbclient with a cap on how much output one cell may keep."""

    def output(self, outs, msg, display_id, cell_index):
        kept = sum(len(str(o.get("text", ""))) + len(str(o.get("data", ""))) for o in outs)
        if kept > MAX_OUTPUT_CHARS:
            if not outs or outs[-1].get("name") != "grading-note":
                note = nbformat.v4.new_output("stream", name="stdout",
                                              text=f"\n[grading: output past {MAX_OUTPUT_CHARS:,} characters not kept]\n")
                note["name"] = "stdout"
                outs.append(note)
            return None
        return super().output(outs, msg, display_id, cell_index)


class NotebookRun:
    """One notebook in one sandboxed kernel (replaced when it dies), then the grader's questions."""

    def __init__(self, nb, workdir: Path, kernel: dict, *, cell_timeout: int, deadline: float, env: dict,
                 max_restarts: int = 3, start_timeout: int = 120):
        self.nb, self.workdir, self.kernel, self.env = nb, Path(workdir), kernel, env
        self.cell_timeout, self.max_restarts = cell_timeout, max_restarts
        self.stop_at = time.monotonic() + deadline
        self.report = RunReport()
        self.start_timeout = start_timeout
        self.client: _Client | None = None
        self.remember: dict[int, tuple[str, list]] = {}  # test cell index -> (grade_id, names its questions read)

    # --- the kernel -----------------------------------------------------------------------------------

    async def _start(self) -> None:
        km = AsyncKernelManager(kernel_name=self.kernel["kernel_name"], transport=self.kernel.get("transport", "tcp"),
                                ip=self.kernel.get("ip", "127.0.0.1"))
        self.client = _Client(self.nb, km=km, timeout=self.cell_timeout, allow_errors=True,
                              on_cell_executed=self._executed,
                              interrupt_on_timeout=True, startup_timeout=self.start_timeout,
                              error_on_timeout={"ename": "CellTimeoutError", "evalue": "",
                                                "traceback": [f"CellTimeoutError: stopped after the "
                                                              f"{self.cell_timeout} s limit per cell"]},
                              resources={"metadata": {"path": str(self.workdir)}},
                              extra_arguments=["--HistoryManager.hist_file=:memory:"])
        # The kernel's own stdout and stderr are the student's (os.write(2, ...) reaches them, escape codes and
        # all): they go nowhere, never to the grader's terminal. What a cell prints still comes back as its output.
        await self.client.async_start_new_kernel(cwd=str(self.workdir), env=self.env,
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await self.client.async_start_new_kernel_client()

    async def _stop(self) -> None:
        if self.client is not None and self.client.km is not None:
            try:
                await self.client._async_cleanup_kernel()
            except Exception:  # noqa: BLE001 - a kernel that is already gone
                pass

    async def _restart(self, upto: int) -> bool:
        """A fresh kernel with cells [0, upto) replayed (skipping the ones that killed a kernel); False if out of tries."""
        while self.report.restarts < self.max_restarts and not self._late():
            self.report.restarts += 1
            await self._stop()
            await self._start()
            if await self._replay(upto):
                return True
        return False

    async def _replay(self, upto: int) -> bool:
        for i, cell in enumerate(self.nb.cells[:upto]):
            if cell.cell_type != "code" or i in self.report.skipped:
                continue
            ok, why = await self._execute(copy.deepcopy(cell), i)
            if not ok:
                self.report.skipped[i] = why
                return False  # this kernel is gone too: _restart starts another one without the cell
            await self._remember(i)
        return True

    async def _remember(self, index: int) -> None:
        """After a test cell: keep what its questions will read, as it stands now (grading.probe.remember)."""
        if index not in self.remember or self.client is None or self.client.kc is None:
            return
        cell, names = self.remember[index]
        code = BOOTSTRAP.format(source=PROBE_SOURCE + f"\nremember({cell!r}, {names!r})\n")
        msg_id = self.client.kc.execute(code, silent=True, store_history=False, allow_stdin=False)
        await self._reply(msg_id, RESPONSIVE_SECONDS)

    def _late(self) -> bool:
        self.report.deadline_hit = self.report.deadline_hit or time.monotonic() > self.stop_at
        return self.report.deadline_hit

    async def _responsive(self) -> bool:
        """Whether the kernel runs code again after an interrupt (kernel_info may be answered by another thread)."""
        msg_id = self.client.kc.execute("None", silent=True, store_history=False, allow_stdin=False)
        return isinstance(await self._reply(msg_id, RESPONSIVE_SECONDS), dict)

    def _executed(self, cell, cell_index, execute_reply) -> None:
        """nbclient's hook: a reply made up at the time limit becomes the cell's error output (nbclient adds none)."""
        content = (execute_reply or {}).get("content", {})
        if content.get("ename") == "CellTimeoutError":
            cell.outputs.append(nbformat.v4.new_output("error", ename=content["ename"], evalue=content.get("evalue", ""),
                                                       traceback=content.get("traceback", [])))

    async def _execute(self, cell, index: int) -> tuple[bool, str]:
        """Run one cell; (False, why) when the kernel died or hung and must be replaced."""
        left = self.stop_at - time.monotonic()
        # Rounded down: the cell stops before the deadline's watchdog would kill the kernel (the deadline is then
        # marked as hit below, since it is what cut the cell short).
        self.client.timeout = max(1, int(min(self.cell_timeout, left)))
        try:
            await self.client.async_execute_cell(cell, index)
        except DeadKernelError:
            return False, "the kernel died while running this cell (a hard exit, or out of memory)"
        stopped = [o for o in cell.get("outputs", []) if o.get("ename") == "CellTimeoutError"]
        if stopped:
            if left < self.cell_timeout:  # the notebook's deadline, not the per-cell limit, stopped it
                self.report.deadline_hit, self.report.deadline_cut = True, index
                for o in stopped:
                    o["traceback"] = ["CellTimeoutError: stopped at the grading deadline for this notebook"]
            elif index not in self.report.timeouts:
                self.report.timeouts.append(index)
            if not await self._responsive():
                return False, f"the cell ran past the {self.cell_timeout} s limit and ignored the interrupt"
        return True, ""

    # --- the notebook -----------------------------------------------------------------------------------

    async def _cells(self) -> None:
        for i, cell in enumerate(self.nb.cells):
            if cell.cell_type != "code":
                continue
            if self._late():
                cell.outputs = [_note_error("NotRun", "not run: the grading deadline for this submission passed")]
                continue
            ok, why = await self._execute(cell, i)
            if ok:
                await self._remember(i)
            else:
                self.report.skipped[i] = why
                cell.outputs.append(_note_error("KernelReplaced", why + "; grading went on in a fresh kernel "
                                                "without this cell"))
                if not await self._restart(i):
                    self._give_up(i + 1)
                    return

    def _give_up(self, start: int) -> None:
        for cell in self.nb.cells[start:]:
            if cell.cell_type == "code":
                cell.outputs = [_note_error("NotRun", "not run: the kernel kept dying or the deadline passed")]

    # --- the questions --------------------------------------------------------------------------------------

    async def _reply(self, msg_id: str, timeout: float) -> dict | str:
        """The shell reply to msg_id, or "timeout" / "dead"."""
        stop = time.monotonic() + max(0.0, timeout)
        kc = self.client.kc
        while True:
            left = stop - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                msg = await kc.shell_channel.get_msg(timeout=min(1.0, left))
            except Empty:
                if not await kc.is_alive():
                    return "dead"
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg

    async def _ask(self, q: Question) -> str | None:
        """Put one question to the kernel; None when it answered (its files say what), else why not."""
        if self._late():
            return "not asked: the grading deadline for this submission passed"
        if self.client is None or self.client.kc is None:
            return "not asked: the notebook's kernel could not be started again"
        source = PROBE_SOURCE + f"\nanswer({str(q.folder)!r}, {q.source!r}, {q.cell!r})\n"
        msg_id = self.client.kc.execute(BOOTSTRAP.format(source=source), silent=True, store_history=False,
                                        allow_stdin=False, stop_on_error=False)
        reply = await self._reply(msg_id, min(q.timeout, self.stop_at - time.monotonic()))
        if isinstance(reply, dict):
            return None
        if reply == "timeout":
            await self.client.km.interrupt_kernel()
            if isinstance(await self._reply(msg_id, RESPONSIVE_SECONDS), dict):
                return f"no answer within {q.timeout:g} s (the notebook's code was interrupted)"
            why = f"no answer within {q.timeout:g} s, and the kernel ignored the interrupt"
        else:
            why = "the kernel died while answering (a hard exit, or out of memory)"
        if not await self._restart(len(self.nb.cells)):  # the next question needs a kernel with the notebook run
            await self._stop()
            self.client = None
        return why

    # --- the whole run ----------------------------------------------------------------------------------------

    async def _run(self, questions: list[Question], make_folder) -> dict[int, str | None]:
        answers: dict[int, str | None] = {}
        where = {c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(self.nb.cells)}
        for q in questions:
            if q.cell in where and q.names:
                _, names = self.remember.get(where[q.cell], (q.cell, []))
                self.remember[where[q.cell]] = (q.cell, sorted(set(names) | set(q.names)))
        try:
            await self._start()
            await self._cells()
            for q in questions:
                q.folder = make_folder(q)
                answers[q.id] = await self._ask(q)
        finally:
            await self._stop()
        return answers

    def run(self, questions: list[Question], make_folder) -> dict[int, str | None]:
        """Run the cells, then every question; {question id: None if answered, else why not}."""
        return run_sync(self._run)(questions, make_folder)


def _note_error(ename: str, text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=text, traceback=[f"{ename}: {text}"])


def question_folder(workdir: Path, kernel_uid: int | None) -> tuple[Path, int]:
    """A fresh folder in the kernel's workdir for one question, and an fd of it (never a link the kernel planted).

    Its name is random, so the kernel cannot plant anything there beforehand; the grader writes
    through the fd, so the kernel cannot redirect the writes by swapping the folder.
    """
    path = Path(workdir) / f".question-{secrets.token_hex(8)}"
    os.mkdir(path, 0o700)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    if kernel_uid is not None:
        os.fchown(fd, kernel_uid, kernel_uid)
    return path, fd
