"""grading.judge: the clean process that draws each submission's inputs and decides its checks."""
import textwrap

import pytest

from grading import sandbox
from grading.judge import JudgeError, JudgeProcess
from grading.probe import decode, encode
from grading_support import sandbox_flags

CHECKS = textwrap.dedent('''
    import time
    from grading.spec import Check, equal, expect, value

    def draw(ctx):
        return {"n": ctx.random.randrange(1000), "fast": ctx.fast}

    def ask(nb, inputs):
        return attempt(nb.square, inputs["n"])

    def judge(inputs, answer, ctx):
        equal(answer, inputs["n"] ** 2, f"square({inputs['n']})")

    def judge_files(inputs, answer, ctx):
        expect("notes.txt" in ctx.files, "no notes.txt was handed in")
        if ctx.files["notes.txt"] == b"forged":
            ctx.flag("the notes contradict themselves")

    def broken(inputs, answer, ctx):
        return {}["missing"]

    def slow(inputs, answer, ctx):
        time.sleep(60)

    CHECKS = [
        Check("test_sq", "square on a random number", 2, judge, draw, ask),
        Check("test_files", "the notes handed in", 1, judge_files),
        Check("test_broken", "a check with a bug", 1, broken),
    ]
    if __import__("os").environ.get("SLOW_CHECK"):
        CHECKS.append(Check("test_slow", "a slow check", 1, slow))
    ''')

MODES = ["unsandboxed"] + (["sandboxed"] if not sandbox_flags() else [])


@pytest.fixture(params=MODES)
def judge(request, tmp_path):
    path = tmp_path / "checks.py"
    path.write_text(CHECKS)
    process = JudgeProcess(path, sandbox.SandboxConfig.from_env() if request.param == "sandboxed" else None)
    yield process
    process.close()


def draw(judge, seed=7, cells=None):
    return judge.request({"op": "draw", "seed": seed, "fast": True, "cells": cells,
                          "folder": str(judge.folder / "questions")}, timeout=120)


def answer(judge, value, n=0):
    folder = judge.folder / "answers" / str(n)
    folder.mkdir(parents=True)
    text, tensors = encode(value)
    (folder / "out.json").write_bytes(text)
    (folder / "out.safetensors").write_bytes(tensors)
    return str(folder)


def decide(judge, answers, files=None):
    for name, data in (files or {}).items():
        (judge.folder / "files" / name).write_bytes(data)
    return {r["cell"]: r for r in judge.request({"op": "judge", "answers": answers,
                                                 "files": str(judge.folder / "files")}, timeout=120)["results"]}


def test_inputs_depend_on_the_seed_and_only_asking_checks_are_questions(judge):
    drawn = draw(judge)
    assert [q["cell"] for q in drawn["questions"]] == ["test_sq"]
    assert "def ask(nb, inputs)" in drawn["questions"][0]["source"]
    inputs = decode((judge.folder / "questions" / "0" / "in.json").read_bytes())
    assert inputs["fast"] is True and 0 <= inputs["n"] < 1000
    assert [c["cell"] for c in draw(judge, cells=["test_files"])["checks"]] == ["test_files"]


def test_right_answers_pass_wrong_ones_fail_and_bugs_fail_closed(judge):
    draw(judge)
    n = decode((judge.folder / "questions" / "0" / "in.json").read_bytes())["n"]
    results = decide(judge, {"0": answer(judge, n * n)}, {"notes.txt": b"honest"})
    assert results["test_sq"]["earned"] == 2 and results["test_files"]["earned"] == 1
    assert results["test_broken"]["earned"] == 0 and results["test_broken"]["internal"]
    assert "checks.py" not in results["test_broken"]["message"] and "missing" not in results["test_broken"]["message"]
    assert "KeyError" in judge.stderr()  # the instructor's log has the traceback


def test_missing_or_malformed_answers_and_forged_files(judge):
    draw(judge)
    folder = judge.folder / "answers" / "0"
    folder.mkdir(parents=True)
    (folder / "out.json").write_bytes(b"{not json")
    results = decide(judge, {"0": str(folder)}, {"notes.txt": b"forged"})
    assert results["test_sq"]["earned"] == 0 and "plain data" in results["test_sq"]["message"]
    assert results["test_files"]["earned"] == 0 and results["test_files"]["flags"] == ["the notes contradict themselves"]
    (judge.folder / "files" / "notes.txt").unlink()
    results = decide(judge, {"0": {"error": "no answer within 60 s"}})
    assert results["test_sq"]["message"] == "no answer within 60 s"
    assert results["test_files"]["message"] == "no notes.txt was handed in"


def test_a_judge_that_does_not_answer_in_time_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SLOW_CHECK", "1")
    path = tmp_path / "checks.py"
    path.write_text(CHECKS)
    judge = JudgeProcess(path, None)
    try:
        judge.request({"op": "draw", "seed": 1, "fast": True, "cells": None, "folder": str(judge.folder / "q")}, 120)
        with pytest.raises(JudgeError, match="no answer within 2 s"):
            judge.request({"op": "judge", "answers": {}, "files": str(judge.folder / "files")}, timeout=2)
    finally:
        judge.close()


def test_a_checks_file_that_does_not_load_is_an_error(tmp_path):
    path = tmp_path / "checks.py"
    path.write_text("raise RuntimeError('broken checks')\n")
    judge = JudgeProcess(path, None)
    try:
        with pytest.raises(JudgeError, match="the judge stopped"):
            judge.request({"op": "draw", "seed": 1, "fast": True, "cells": None, "folder": str(tmp_path)}, 120)
    finally:
        judge.close()
