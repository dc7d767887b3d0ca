"""The course folder, its gradebook and the nbgrader commands every grading step runs."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI (the grading extra installs it)
    import tomli as tomllib

from helpers.runtime import REPO_ROOT

COURSE_ID = "rnn-course"
# The course this package ships with (a course kept elsewhere is named with --course-dir).
DEFAULT_COURSE_DIR = REPO_ROOT
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")
LAB_FACTS = "grading.toml"  # beside each lab's source notebook: what grading must know about it


def _venv_on_path() -> None:
    """nbgrader's Gradebook runs the `alembic` command; find it next to this Python even without an activated venv."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


class GradingError(RuntimeError):
    """A step cannot run: the message says why and what to do."""


@dataclass(frozen=True)
class LabFacts:
    """What one lab needs from grading, read from solutions/<assignment>/grading.toml."""

    data: tuple[str, ...] = ()  # helpers.data sets the kernels read (fetched before grading)
    checkpoints: str = ""  # what students hand in beside the notebook (e.g. checkpoints/*.pt), if anything
    fast_checkpoints: str = ""  # what a fast-mode (COURSE_FAST=1) run writes instead, if the lab keeps them apart

    @classmethod
    def read(cls, path: Path) -> "LabFacts":
        if not path.is_file():
            return cls()
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as err:
            raise GradingError(f"{path}: cannot read the lab's grading facts ({err}).") from None
        unknown = set(raw) - {"data", "checkpoints", "fast_checkpoints"}
        if unknown:
            raise GradingError(f"{path}: unknown keys {sorted(unknown)} (known: data, checkpoints, fast_checkpoints).")
        return cls(tuple(raw.get("data", ())), raw.get("checkpoints", cls.checkpoints),
                   raw.get("fast_checkpoints", cls.fast_checkpoints))

@dataclass
class Course:
    root: Path
    db: str

    @classmethod
    def from_args(cls, args) -> "Course":
        root = Path(args.course_dir).expanduser().resolve()
        if not (root / "nbgrader_config.py").is_file():
            raise GradingError(f"{root} has no nbgrader_config.py: pass --course-dir the course's root folder.")
        return cls(root, args.db or f"sqlite:///{root / 'gradebook.db'}")

    def source(self, assignment: str) -> Path:
        return self.root / "solutions" / assignment

    def release(self, assignment: str) -> Path:
        return self.root / "assignments" / assignment

    def submitted(self) -> Path:
        return self.root / "submitted"

    def config(self):
        """The course's nbgrader_config.py, read as nbgrader reads it."""
        from traitlets.config.loader import PyFileConfigLoader

        return PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()

    @property
    def course_id(self) -> str:
        return self.config().CourseDirectory.get("course_id") or COURSE_ID

    def lab(self, assignment: str) -> LabFacts:
        return LabFacts.read(self.source(assignment) / LAB_FACTS)

    def log_file(self, step: str, assignment: str) -> Path:
        path = self.root / "autograded" / ".logs" / f"{step}-{assignment}-{time.strftime('%Y%m%d-%H%M%S')}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @staticmethod
    def append_log(log: Path, text: str) -> None:
        """Add to a run's log; the folder is made again if something removed it (a lost log never stops grading)."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as fh:
            fh.write(text)

    def nbgrader(self, *args: str, log: Path | None = None, echo: bool = True) -> tuple[int, str]:
        """Run ``nbgrader <args>`` on this course; return its exit status and its whole log."""
        cmd = [sys.executable, "-m", "nbgrader", *args,  # not every app knows --course-dir/--db; these it does
               f"--CourseDirectory.root={self.root}", f"--CourseDirectory.db_url={self.db}"]
        _venv_on_path()
        proc = subprocess.Popen(cmd, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        lines, body = [], False
        for line in proc.stdout:
            lines.append(line)
            # nbgrader puts some warnings (e.g. collect's "cheating attempt?") on the indented lines after the header
            body = (body and line[:1].isspace()) or (_worth_echoing(line) and line.rstrip().endswith("]"))
            if echo and line.strip() and (body or _worth_echoing(line)):
                print("  " + line.rstrip(), flush=True)
        proc.wait()
        text = "".join(lines)
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log.write_text(" ".join(cmd) + "\n\n" + text)
        return proc.returncode, text

    def gradebook(self):
        from nbgrader.api import Gradebook

        _venv_on_path()
        return Gradebook(self.db, COURSE_ID)


# nbgrader warnings that are a step working as intended (release --force replaces the release it made before)
QUIET = ("Removing existing assignment",)


def _worth_echoing(line: str) -> bool:
    if any(q in line for q in QUIET):
        return False
    return any(k in line for k in ("| ERROR]", "| WARNING]", "Autograding ", "Generating feedback", "[ExportApp"))


def notebooks_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.ipynb") if p.is_file())
