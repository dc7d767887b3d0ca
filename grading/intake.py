"""Submissions are data, never links: copy or check a student's folder without following anything.

A submitted folder can hold symlinks (to the instructor's solutions, to /dev/zero, in loops),
device files, FIFOs, sparse multi-GB files or a whole `.git`. Plain copying tools follow the
links as the grader, read endless devices, or fill the disk. Everything here works on
``lstat``/``O_NOFOLLOW`` and reads at most a bounded number of bytes, so each of those cases
becomes one line in the instructor's summary, against that student alone.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

# Editor and system clutter: left out without a note.
CLUTTER = {".ipynb_checkpoints", "__pycache__", ".DS_Store", "__MACOSX", "Thumbs.db"}
# Version-control folders: left out with a note (the sandbox refuses a folder holding .git).
VCS = {".git", ".hg", ".svn"}


@dataclass(frozen=True)
class IntakeLimits:
    """Bounds on one submission; the defaults fit the labs (checkpoints under 20 MB each)."""

    max_file_mb: float = 50.0  # a larger file is left out (nbgrader_config: max_file_size)
    max_total_mb: float = 200.0  # files past this total are left out
    max_files: int = 500
    max_depth: int = 8

    @classmethod
    def from_config(cls, max_file_size_kb: int | None) -> "IntakeLimits":
        return cls(max_file_mb=max_file_size_kb / 1000) if max_file_size_kb else cls()


@dataclass
class Intake:
    """What was taken from one submission, and what was left out and why."""

    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(len(b) for b in self.files.values())


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISLNK, "symbolic link"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
                       (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")):
        if test(mode):
            return name
    return "special file"


def _read_regular(path: Path, limit: int, owner: int | None = None) -> bytes | str:
    """The file's bytes, or a reason it was not read; never follows a link or blocks on a device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    try:
        st = os.fstat(fd)  # of what was opened: no race between the check and the read
        if not stat.S_ISREG(st.st_mode):
            return f"a {_kind(st.st_mode)}, not a file"
        if owner is not None and st.st_uid != owner:  # the exchange: only the submitter's own files count
            return f"written by uid {st.st_uid}, not by the student who submitted"
        if st.st_size > limit:
            return f"{st.st_size / 1e6:.1f} MB, over the {limit / 1e6:.0f} MB limit"
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > limit:  # it grew while we read
                return f"over the {limit / 1e6:.0f} MB limit"
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_submission(folder: Path, limits: IntakeLimits = IntakeLimits(), owner: int | None = None) -> Intake:
    """Read every regular file under folder (links, devices, FIFOs and clutter left out, with notes).

    With owner (a uid), files that another user wrote are left out too.
    """
    out = Intake()
    budget = int(limits.max_total_mb * 1e6)

    def walk(directory: Path, rel: str, depth: int) -> None:
        nonlocal budget
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as err:
            out.notes.append(f"{rel or '.'}/: unreadable folder ({err.strerror}); left out")
            return
        for entry in entries:
            name = rel + entry.name
            st = entry.stat(follow_symlinks=False)
            if entry.name in CLUTTER:
                continue
            if entry.name in VCS and stat.S_ISDIR(st.st_mode):
                out.notes.append(f"{name}/: version-control folder left out")
            elif stat.S_ISDIR(st.st_mode):
                if depth >= limits.max_depth:
                    out.notes.append(f"{name}/: nested deeper than {limits.max_depth} folders; left out")
                else:
                    walk(Path(entry.path), name + "/", depth + 1)
            elif not stat.S_ISREG(st.st_mode):
                target = f" -> {os.readlink(entry.path)}" if stat.S_ISLNK(st.st_mode) else ""
                out.notes.append(f"{name}: a {_kind(st.st_mode)}{target}, not a file; left out")
            elif len(out.files) >= limits.max_files:
                out.notes.append(f"{name}: more than {limits.max_files} files; left out")
            else:
                data = _read_regular(Path(entry.path), min(int(limits.max_file_mb * 1e6), max(budget, 0)), owner)
                if isinstance(data, str):
                    if budget < limits.max_file_mb * 1e6 and "limit" in data:
                        data = f"the submission's files pass the {limits.max_total_mb:.0f} MB total"
                    out.notes.append(f"{name}: {data}; left out")
                else:
                    out.files[name] = data
                    budget -= len(data)

    walk(Path(folder), "", 0)
    return out


def fingerprint(files: dict[str, bytes]) -> str:
    """One hash of a submission's names and contents: equal exactly when the same files were handed in."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8", "surrogateescape") + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def write_submission(intake: Intake, target: Path) -> None:
    """Write the files read by read_submission under target (a fresh folder), mode 0644."""
    target.mkdir(parents=True, exist_ok=True)
    for rel, data in intake.files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)


def clean_in_place(folder: Path, limits: IntakeLimits = IntakeLimits()) -> list[str]:
    """Make an existing submitted folder data-only: remove links, special files and oversized files.

    For folders placed in submitted/ by other means (by hand, by nbgrader's own collect). The
    links are removed, never followed; nothing outside folder is touched.
    """
    intake = read_submission(folder, limits)
    kept = set(intake.files)
    for dirpath, dirnames, filenames in os.walk(folder, topdown=False, followlinks=False):
        for name in filenames + dirnames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(folder))
            st = path.lstat()
            if stat.S_ISDIR(st.st_mode):
                if not any(k.startswith(rel + "/") for k in kept):
                    shutil.rmtree(path)  # never follows the links inside; unlinks them
            elif rel not in kept:
                path.unlink()
    return intake.notes

