"""grading.exchange's identity rules on a folder exchange, without a hub: who owns a submission is who made it.

Run as root (the course box and CI are), so that folders can be handed to other uids with chown;
tests/test_hub.py checks the same rules with real students on a real hub.
"""
from __future__ import annotations

import os
import shutil
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from grading.course import Course
from grading.exchange import collect_from_exchange

REPO = Path(__file__).resolve().parent.parent
LAB = "mini"
NOBODY = 65534

pytestmark = pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0,
                                reason="handing folders to other users (chown) needs root on Linux")


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@pytest.fixture
def course(tmp_path) -> Course:
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root)
    with (root / "nbgrader_config.py").open("a") as fh:
        fh.write(f"\nc.Exchange.root = {str(tmp_path / 'exchange')!r}\n")
    (tmp_path / "exchange" / "rnn-course" / "inbound").mkdir(parents=True)
    return Course(root, f"sqlite:///{root / 'gradebook.db'}")


def _submission(course: Course, name: str, text: str, owner: int = 0) -> Path:
    folder = course.root.parent / "exchange" / "rnn-course" / "inbound" / name
    folder.mkdir()
    (folder / f"{LAB}.ipynb").write_text(text)
    for path in (folder, folder / f"{LAB}.ipynb"):
        os.chown(path, owner, owner)
    return folder


def test_a_folder_counts_for_its_owner_and_a_borrowed_name_for_nobody(course, capsys):
    now = datetime.now(timezone.utc)
    _submission(course, f"root+{LAB}+{_stamp(now)}+a", "mine")
    _submission(course, f"alice+{LAB}+{_stamp(now + timedelta(seconds=1))}+b", "forged")  # made by root
    assert collect_from_exchange(course, LAB) == 0
    out = capsys.readouterr().out
    assert (course.submitted() / "root" / LAB / f"{LAB}.ipynb").read_text() == "mine"
    assert not (course.submitted() / "alice").exists()
    assert "claims to be alice's submission but was written by root: NOT collected" in out


def test_files_someone_else_put_in_a_submission_are_left_out(course, capsys):
    folder = _submission(course, f"root+{LAB}+{_stamp(datetime.now(timezone.utc))}+a", "mine")
    (folder / "extra.py").write_text("planted")
    os.chown(folder / "extra.py", NOBODY, NOBODY)
    collect_from_exchange(course, LAB)
    out = capsys.readouterr().out
    assert not (course.submitted() / "root" / LAB / "extra.py").exists()
    assert f"extra.py: written by uid {NOBODY}, not by the student who submitted" in out


def test_a_time_in_the_name_before_the_folder_existed_is_not_believed(course, capsys):
    claimed = datetime.now(timezone.utc) - timedelta(days=1)  # "handed in yesterday", made just now
    _submission(course, f"root+{LAB}+{_stamp(claimed)}+a", "late")
    collect_from_exchange(course, LAB)
    out = capsys.readouterr().out
    from nbgrader.utils import parse_utc

    recorded = parse_utc((course.submitted() / "root" / LAB / "timestamp.txt").read_text())
    assert abs(recorded - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(minutes=5)
    assert "the exchange's time is recorded" in out
