"""The course secret, and the per-submission seeds drawn from it.

Each submission's hidden inputs are drawn from a seed that depends on the course secret, the lab,
the student and the submitted notebooks: another course, another student or a changed hand-in
gets other inputs, and regrading the same hand-in gets the same ones. The secret comes from
``COURSE_GRADING_SECRET`` or ``~/.config/rnn-course/grading-secret`` (made on first use, mode
0600). Kernels never see it, nor the seed: only the inputs drawn from it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

SECRET_ENV = "COURSE_GRADING_SECRET"
SECRET_FILE = Path("~/.config/rnn-course/grading-secret")


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


def submission_seed(secret: bytes, course_id: str, assignment: str, student: str, notebooks: dict[str, bytes]) -> int:
    """The seed of one submission's hidden inputs (notebooks: name -> the bytes handed in)."""
    digest = hashlib.sha256()
    for name in sorted(notebooks):
        digest.update(name.encode() + b"\x00" + hashlib.sha256(notebooks[name]).digest())
    mac = hmac.new(secret, "\x1f".join(["inputs", course_id, assignment, student, digest.hexdigest()]).encode(),
                   hashlib.sha256).digest()
    return int.from_bytes(mac[:8], "big")
