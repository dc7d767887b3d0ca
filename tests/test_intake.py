"""Submissions are data, never links: `python -m grading collect` reads a hostile folder safely.

Each case runs the real collect command on a temporary course and checks both what reached
submitted/ and that nothing outside the student's folder was read, followed or changed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from grading.intake import IntakeLimits, clean_in_place, read_submission
from grading_support import LAB as ASSIGNMENT
from grading_support import LAB_NOTEBOOK as NOTEBOOK
from grading_support import REPO, run_cli


def collect(course: Path, inbox: Path) -> subprocess.CompletedProcess:
    return run_cli(course, "collect", ASSIGNMENT, f"--from={inbox}", timeout=120)


@pytest.fixture
def course(tmp_path) -> Path:
    root = tmp_path / "course"
    (root / "solutions" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copy(REPO / "solutions" / ASSIGNMENT / "grading.toml", root / "solutions" / ASSIGNMENT)
    return root


def student(inbox: Path, name: str) -> Path:
    folder = inbox / name
    (folder / "checkpoints").mkdir(parents=True)
    (folder / NOTEBOOK).write_text('{"cells": []}')
    (folder / "checkpoints" / "gru.pt").write_bytes(b"weights")
    return folder


def test_links_devices_fifos_and_vcs_folders_are_left_out_and_reported(course, tmp_path):
    secret = tmp_path / "instructor" / "solution.ipynb"
    secret.parent.mkdir()
    secret.write_text("SECRET")
    before = secret.stat()
    inbox = tmp_path / "inbox"
    s = student(inbox, "mallory")
    (s / "checkpoints" / "stolen.pt").symlink_to(secret)  # absolute link to the instructor's files
    (s / "relative.ipynb").symlink_to("../../instructor/solution.ipynb")
    (s / "loop").symlink_to("loop")  # a link loop
    (s / "zero.pt").symlink_to("/dev/zero")  # an endless read if followed
    (s / "dir_link").symlink_to(secret.parent, target_is_directory=True)
    os.mkfifo(s / "pipe")  # a read that blocks forever if opened plainly
    (s / ".git" / "objects").mkdir(parents=True)
    (s / ".git" / "HEAD").write_text("ref: refs/heads/main")
    student(inbox, "alice")

    done = collect(course, inbox)
    assert done.returncode == 0, done.stderr
    got = course / "submitted" / "mallory" / ASSIGNMENT
    files = sorted(str(p.relative_to(got)) for p in got.rglob("*") if not p.is_dir())
    assert files == ["checkpoints/gru.pt", NOTEBOOK, "timestamp.txt"]  # the hand-in time collect records
    assert not any(p.is_symlink() for p in got.rglob("*"))
    for name in ("checkpoints/stolen.pt: a symbolic link", "relative.ipynb: a symbolic link", "loop: a symbolic link",
                 "zero.pt: a symbolic link -> /dev/zero", "dir_link: a symbolic link", "pipe: a FIFO",
                 ".git/: version-control folder left out"):
        assert f"mallory: {name}" in done.stdout, done.stdout
    assert (course / "submitted" / "alice" / ASSIGNMENT / NOTEBOOK).is_file()
    assert secret.read_text() == "SECRET" and secret.stat().st_mode == before.st_mode


def test_oversized_and_sparse_files_are_left_out_without_being_read(course, tmp_path):
    inbox = tmp_path / "inbox"
    s = student(inbox, "bob")
    with open(s / "checkpoints" / "huge.pt", "wb") as fh:  # 1.5 GB apparent size, no real disk
        fh.truncate(1_500_000_000)
    done = collect(course, inbox)
    assert done.returncode == 0, done.stderr
    assert "bob: checkpoints/huge.pt: 1500.0 MB, over the 50 MB limit; left out" in done.stdout
    assert not (course / "submitted" / "bob" / ASSIGNMENT / "checkpoints" / "huge.pt").exists()


def test_the_total_size_and_file_count_are_bounded(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    for i in range(5):
        (folder / f"f{i}.bin").write_bytes(b"x" * 400_000)
    taken = read_submission(folder, IntakeLimits(max_file_mb=1, max_total_mb=1, max_files=10))
    assert len(taken.files) == 2 and taken.total_bytes == 800_000
    assert sum("total" in n for n in taken.notes) == 3
    taken = read_submission(folder, IntakeLimits(max_files=3))
    assert len(taken.files) == 3 and sum("more than 3 files" in n for n in taken.notes) == 2


def test_a_submitted_folder_is_cleaned_in_place_without_touching_link_targets(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    os.chmod(outside, 0o600)
    folder = tmp_path / "submitted" / "eve" / ASSIGNMENT
    (folder / "sub").mkdir(parents=True)
    (folder / NOTEBOOK).write_text("{}")
    (folder / "sub" / "link").symlink_to(outside)
    (folder / "empty_dir_link").symlink_to(tmp_path, target_is_directory=True)
    notes = clean_in_place(folder)
    assert sorted(p.name for p in folder.rglob("*")) == [NOTEBOOK]
    assert outside.read_text() == "keep" and (outside.stat().st_mode & 0o777) == 0o600
    assert len(notes) == 2


def test_a_student_folder_that_is_itself_a_link_is_skipped(course, tmp_path):
    inbox = tmp_path / "inbox"
    real = student(tmp_path / "elsewhere", "carol")
    inbox.mkdir()
    (inbox / "carol").symlink_to(real, target_is_directory=True)
    done = collect(course, inbox)
    assert "'carol': a symbolic link, not a folder; skipped" in done.stdout
    assert not (course / "submitted" / "carol").exists()


def test_the_summary_says_what_was_handed_in(tmp_path):
    """Issue 18's fast/full trap: a student who handed in only fast-mode checkpoints is told so."""
    from grading.course import LabFacts
    from grading.summary import handed_in

    lab = LabFacts.read(REPO / "solutions" / ASSIGNMENT / "grading.toml")
    folder = tmp_path / "s"
    (folder / "checkpoints" / "fast").mkdir(parents=True)
    assert handed_in(folder, lab).startswith("handed in: the notebook only (no checkpoints/*.pt)")
    (folder / "checkpoints" / "fast" / "gru.pt").write_bytes(b"x")
    assert handed_in(folder, lab).startswith("handed in: only fast-mode checkpoints (checkpoints/fast/gru.pt)")
    assert handed_in(folder, lab, fast=True) == "handed in: the notebook and checkpoints/fast/gru.pt"
    (folder / "checkpoints" / "gru.pt").write_bytes(b"x")
    (folder / "checkpoints" / "rnn.pt").write_bytes(b"x")
    assert handed_in(folder, lab) == "handed in: the notebook and checkpoints/gru.pt, checkpoints/rnn.pt"
    assert handed_in(folder, LabFacts()) == "handed in: the notebook"  # a lab that takes no checkpoints


def test_collect_tells_fast_mode_checkpoints_from_none(course, tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "fast" / "checkpoints" / "fast").mkdir(parents=True)
    (inbox / "fast" / NOTEBOOK).write_text('{"cells": []}')
    (inbox / "fast" / "checkpoints" / "fast" / "gru.pt").write_bytes(b"w")
    (inbox / "none").mkdir()
    (inbox / "none" / NOTEBOOK).write_text('{"cells": []}')
    done = collect(course, inbox)
    assert "fast: handed in: only fast-mode checkpoints (checkpoints/fast/gru.pt)" in done.stdout
    assert "none: handed in: the notebook only (no checkpoints/*.pt)" in done.stdout
