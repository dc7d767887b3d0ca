"""Submissions that failed to grade, remembered so that a rerun does not spend their deadline again.

A record under ``autograded/.logs/failed/<assignment>/<student>.json`` holds the submission's
fingerprint (grading.intake) and the reason. A rerun reports an unchanged failed submission with
its earlier reason instead of running it; a new hand-in, or ``--retry-failed``, runs it again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from grading.course import Course


def record_path(course: Course, assignment: str, student: str) -> Path:
    # with the logs; not autograded/<name>/<assignment>/, where every step looks for graded students
    return course.root / "autograded" / ".logs" / "failed" / assignment / f"{student}.json"


def earlier(course: Course, assignment: str, student: str, limits) -> dict | None:
    """The record of this very submission failing before, or None (none, unreadable, or handed in again since).

    The submission is read (to compare its fingerprint) only when a record exists: most students have none.
    """
    from grading.intake import fingerprint, read_submission

    try:
        record = json.loads(record_path(course, assignment, student).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    now = fingerprint(read_submission(course.submitted() / student / assignment, limits).files)
    return record if record.get("fingerprint") == now else None


def remember(course: Course, assignment: str, student: str, fingerprint: str, reason: str) -> None:
    path = record_path(course, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"fingerprint": fingerprint, "reason": reason,
                                "when": time.strftime("%Y-%m-%d %H:%M:%S")}), encoding="utf-8")
