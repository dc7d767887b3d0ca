"""The judge: a clean, sandboxed process that draws a lab's hidden inputs and decides each check.

No student code ever runs here. The grader starts it (``python -I judge.py CHECKS.py``) inside
the same bubblewrap sandbox as the kernels, with the lab's ``checks.py``, the ``grading`` and
``helpers`` packages and the data cache read-only, and talks to it in JSON lines:

``{"op": "draw", "seed": S, "fast": F, "folder": D}``
    draws every check's inputs; writes the inputs of each check that asks the kernel into
    ``D/<n>/in.json`` and ``in.safetensors``; replies with the questions (cell, name, the ask's
    source, its time limit).
``{"op": "judge", "answers": {n: folder | {"error": why}}, "files": D}``
    reads each answer (plain data only), the submitted files under ``D``, and runs every judge;
    replies with one result per check: points earned, a message, flags.

Anything a check prints goes to stderr; stdout carries only the replies. :class:`JudgeProcess`
is the grader's end of the pipe.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path


def _submitted_files(folder: Path, limit: int = 512 * 2**20) -> dict[str, bytes]:
    """The submitted files the grader copied for the judge (regular files only, bounded)."""
    files, total = {}, 0
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
            if total > limit:
                break
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


class Judge:
    def __init__(self, checks_path: Path):
        from grading.spec import load_checks

        self.checks = load_checks(checks_path)
        self.inputs: dict[int, object] = {}
        self.contexts: dict[int, object] = {}

    def draw(self, seed: int, fast: bool, folder: Path, cells: list[str] | None = None) -> dict:
        """Draw the inputs of every check of these cells (all when None); write the questions' inputs."""
        from grading.probe import encode
        from grading.spec import Context, check_seed

        questions, self.inputs, self.contexts = [], {}, {}
        for n, check in enumerate(self.checks):
            if cells is not None and check.cell not in cells:
                continue
            ctx = Context(seed=check_seed(seed, check), fast=fast)
            self.contexts[n] = ctx
            self.inputs[n] = check.draw(ctx) if check.draw else None
            if check.ask is None:
                continue
            text, tensors = encode(self.inputs[n])
            (folder / str(n)).mkdir(parents=True, exist_ok=True)
            (folder / str(n) / "in.json").write_bytes(text)
            (folder / str(n) / "in.safetensors").write_bytes(tensors)
            questions.append({"id": n, "cell": check.cell, "name": check.name, "source": check.ask_source(),
                              "names": check.asked_names(), "timeout": check.timeout})
        return {"questions": questions,
                "checks": [{"id": n, "cell": self.checks[n].cell, "name": self.checks[n].name,
                            "points": self.checks[n].points} for n in self.contexts]}

    def judge(self, answers: dict, files_folder: Path) -> dict:
        files = _submitted_files(files_folder)
        return {"results": [self._one(n, self.checks[n], answers.get(str(n)), files) for n in self.contexts]}

    @staticmethod
    def _answer(check, where):
        """The kernel's answer to this check's question, decoded; Fail when there is none."""
        from grading.probe import decode
        from grading.spec import Fail

        if check.ask is None:
            return None
        if not isinstance(where, str):
            reason = where.get("error") if isinstance(where, dict) else None
            raise Fail(reason or "no answer came back from the notebook")
        folder = Path(where)
        tensors = folder / "out.safetensors"
        try:
            return decode((folder / "out.json").read_bytes(), tensors.read_bytes() if tensors.is_file() else b"")
        except Exception as err:  # noqa: BLE001 - malformed data from the kernel is the submission's failure
            raise Fail(f"the answer could not be read as plain data ({type(err).__name__})") from None

    def _one(self, n: int, check, where, files: dict) -> dict:
        from grading.spec import Fail

        ctx = self.contexts[n]
        ctx.files, ctx.flags = files, []
        result = {"id": n, "cell": check.cell, "name": check.name, "points": check.points, "earned": 0.0,
                  "message": "", "flags": [], "internal": False}
        try:
            check.judge(self.inputs[n], self._answer(check, where), ctx)
        except Fail as err:
            result["message"] = str(err)
        except Exception:  # noqa: BLE001 - a bug in the lab's checks: fail closed, tell the instructor
            result["internal"] = True
            result["message"] = ("the answer did not have the form this check reads, or the check itself failed "
                                 "(the instructor sees the details)")
            print(f"judge: {check.cell} / {check.name} raised:\n{traceback.format_exc()}", file=sys.stderr)
        else:
            result["earned"] = 0.0 if ctx.flags else float(check.points)
            result["message"] = "; ".join(ctx.flags)
        result["flags"] = list(ctx.flags)
        return result


class JudgeError(RuntimeError):
    """The judge could not be started, broke, or did not answer in time: every check fails closed."""


class JudgeProcess:
    """The grader's end: a judge for one submission, sandboxed unless config is None (--no-sandbox)."""

    def __init__(self, checks: Path, config=None):
        from grading import sandbox

        self.folder = Path(tempfile.mkdtemp(prefix="rnn-judge-", dir="/tmp"))
        os.chmod(self.folder, 0o755)
        shutil.copyfile(checks, self.folder / "checks.py")  # readable by the judge's uid, wherever the course is
        (self.folder / "files").mkdir()
        (self.folder / "answers").mkdir()
        (self.folder / "questions").mkdir()
        here = Path(__file__).resolve()
        if config is None:
            cmd = [sys.executable, "-I", str(here), str(self.folder / "checks.py"), str(here.parent.parent)]
        else:
            cmd = sandbox.judge_command(config, self.folder / "checks.py", self.folder)
        self.errors = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors,
                                         cwd=self.folder)
        except OSError as err:
            self.close()
            raise JudgeError(f"the judge could not start ({err})") from None

    def request(self, payload: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write((json.dumps(payload) + "\n").encode())
            self.proc.stdin.flush()
        except OSError:
            raise JudgeError(f"the judge stopped ({self.stderr()})") from None
        stop, line = time.monotonic() + timeout, b""
        while not line.endswith(b"\n"):
            left = stop - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise JudgeError(f"the judge gave no answer within {timeout:.0f} s")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
            if not chunk:
                raise JudgeError(f"the judge stopped ({self.stderr()})")
            line += chunk
        return json.loads(line)

    def stderr(self) -> str:
        """What the judge printed (tracebacks of a broken checks.py): for the instructor's log only."""
        self.errors.seek(0)
        return self.errors.read()[-4000:].decode("utf-8", "replace").strip() or "no message"

    def close(self) -> None:
        """Let the judge end on its own (so its CPU time is counted where it ran), killing it if it does not."""
        proc = getattr(self, "proc", None)
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()  # serve() ends at the end of its input
                proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


def serve(checks_path: Path, replies) -> int:
    judge = Judge(checks_path)
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "draw":
            reply = judge.draw(int(request["seed"]), bool(request["fast"]), Path(request["folder"]), request.get("cells"))
        elif request["op"] == "judge":
            reply = judge.judge(request["answers"], Path(request["files"]))
        else:
            break
        replies.write(json.dumps(reply) + "\n")
        replies.flush()
    return 0


def main(argv: list[str]) -> int:
    """python -I judge.py CHECKS_PY [SYS_PATH ...]: the sandbox has no site for the course's packages."""
    for entry in reversed(argv[2:]):
        sys.path.insert(0, entry)
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout = sys.stderr  # prints of a check never reach the protocol
    try:
        return serve(Path(argv[1]), replies)
    except Exception:  # noqa: BLE001 - the grader reports every check of this submission as ungraded
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
