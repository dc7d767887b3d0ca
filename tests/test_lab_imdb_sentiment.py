"""The IMDb lab (imdb_sentiment), graded with the real commands: one course, a handful of submissions.

The reference solution runs once in fast mode (about a minute of CPU); its notebook and checkpoint are
the base of every submission below, graded together in one autograde run (module fixture):

    reference        the solution with its checkpoint                                    85
    left_pad         pad_batch pads on the left                                          75 (Part B)
    unmasked_max     masked_max ignores the lengths (the padding wins)                   80 (Part C, one check)
    tfidf_refit      predict refits the vectorizer on the reviews it scores (a leak)     75 (Part D)
    vocab_leak       build_vocab also counts the notebook's validation reviews (a leak)  75 (Part A, one check)
    no_checkpoint    the solution without checkpoints/                                   65 (Part F)
    honest_extras    the solution with magics, plots anywhere and star imports           85
    forged           untrained weights saved with the reference's history                65 and FLAGGED
    blank            the release as it is                                                 0
    attacks_*        the release with test_tamper's attack families, in three groups      0

Part E (SentimentGRU) is graded with Part C's functions put in place by the question, so the
planted Part C mistakes cost Part C only. Feedback holds no line of checks.py.
"""
from __future__ import annotations

import json
import re
import shutil

import nbformat
import pytest

import grading_support as support
from grading_support import REPO, cell
from test_tamper import ATTACK_GROUPS, PLOT, attack_group

pytestmark = [pytest.mark.scale, pytest.mark.timeout(3600)]

LAB = "imdb_sentiment"
NOTEBOOK = f"{LAB}.ipynb"
SOURCE = REPO / "solutions" / LAB
POINTS = {"vocab_tests": 15, "padding_tests": 10, "packing_tests": 15, "tfidf_tests": 10, "model_tests": 15,
          "train_tests": 20}
MANUAL = ("written",)

PLANTED = {
    "left_pad": ("padding_answer", "        x[row, : len(s)] = s", "        x[row, x.shape[1] - len(s):] = s"),
    "unmasked_max": ("packing_answer", '    return outputs.masked_fill(~mask[:, :, None], float("-inf")).max(dim=1).values',
                     "    return outputs.max(dim=1).values"),
    "tfidf_refit": ("tfidf_answer", "        return clf.predict_proba(vectorizer.transform(docs))[:, 1]",
                    "        refit = TfidfVectorizer(tokenizer=str.split, token_pattern=None, lowercase=False, "
                    "vocabulary=vectorizer.vocabulary_, sublinear_tf=True)\n"
                    "        return clf.predict_proba(refit.fit_transform(docs))[:, 1]"),
    "vocab_leak": ("vocab_answer", "        counts.update(tokens)",
                   "        counts.update(tokens)\n    for tokens in globals().get('val_tokens', []):\n"
                   "        counts.update(tokens)"),
}
LOST = {"reference": {}, "left_pad": {"padding_tests": 10}, "unmasked_max": {"packing_tests": 5},
        "tfidf_refit": {"tfidf_tests": 10}, "vocab_leak": {"vocab_tests": 10}, "no_checkpoint": {"train_tests": 20},
        "honest_extras": {}, "forged": {"train_tests": 20}}


def _planted(nb, grade_id: str, old: str, new: str):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    target = cell(nb, grade_id)
    assert old in target.source, (grade_id, old)
    target.source = target.source.replace(old, new, 1)
    return nb


def _honest_extras(nb):
    """Ordinary honest code: magics, plots in answer cells and after them, star imports."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    cell(nb, "vocab_answer").source = "%matplotlib inline\n%load_ext autoreload\n" + cell(nb, "vocab_answer").source
    cell(nb, "padding_answer").source = cell(nb, "padding_answer").source + "\n" + PLOT
    cell(nb, "tfidf_answer").source = PLOT + cell(nb, "tfidf_answer").source
    # `from torch import *` is left out: it rebinds int, float and max for every function of the notebook, and the
    # grader calls them after the last cell (a limit of grading.probe reported to the lead)
    nb.cells.append(nbformat.v4.new_code_cell("from torch.nn import *\nfrom numpy import *\n" + PLOT +
                                              "print(encode(['a'], {'a': 2}, 3))"))
    return nb


def _forge(reference, target) -> None:
    """Untrained weights of the right shapes, saved with the reference's (good) history."""
    import torch

    ckpt = torch.load(reference / "checkpoints/fast/classifier.pt", map_location="cpu", weights_only=True)
    torch.manual_seed(123)
    ckpt["model"] = {k: (torch.rand_like(v) - 0.5) * 0.2 if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    ckpt["best"] = None
    (target / "checkpoints" / "fast").mkdir(parents=True)
    torch.save(ckpt, target / "checkpoints/fast/classifier.pt")
    shutil.copy(reference / "checkpoints/fast/vocab.json", target / "checkpoints/fast/vocab.json")


@pytest.fixture(scope="module")
def graded():
    shared_tmp = support.shared_folder("imdb-lab-")  # a folder of this module's own, removed at its end
    try:
        yield _grade_class(shared_tmp)
    finally:
        shutil.rmtree(shared_tmp, ignore_errors=True)


def _grade_class(shared_tmp):
    course = shared_tmp / "imdb-lab"
    course.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", course)
    shutil.copytree(SOURCE, course / "solutions" / LAB,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints", "__pycache__"))
    done = support.run_cli(course, "release", LAB)
    assert done.returncode == 0, done.stdout + done.stderr
    reference = support.run_reference(shared_tmp / "imdb-reference", support.env(), source=SOURCE / NOTEBOOK,
                                      checkpoints=("classifier.pt", "vocab.json"))
    solved = nbformat.read(reference / NOTEBOOK, as_version=4)
    release = support.released(course, LAB)
    for student in LOST:
        nb = (_planted(solved, *PLANTED[student]) if student in PLANTED
              else _honest_extras(solved) if student == "honest_extras" else solved)
        folder = support.submit(course, student, LAB, nb,
                                checkpoints=None if student in ("no_checkpoint", "forged") else reference)
        if student == "forged":
            _forge(reference, folder)
    support.submit(course, "blank", LAB, release)
    for group in ATTACK_GROUPS:
        support.submit(course, group, LAB, attack_group(release, group))
    done = support.autograde(course, LAB, "--timeout=120", "--workers=2")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return course, done.stdout + done.stderr


def _auto(course, student):
    """The student's autograded cells; none for a submission the grader could not record (it earns nothing)."""
    return {k: v for k, v in support.scores(course, LAB).get(student, {}).items() if k not in MANUAL}


@pytest.mark.parametrize("student", list(LOST))
def test_each_submission_is_graded_exactly(graded, student):
    course, out = graded
    want = {k: float(v - LOST[student].get(k, 0)) for k, v in POINTS.items()}
    assert _auto(course, student) == want, support.summary_block(out, student)


@pytest.mark.parametrize("student", [s for s in LOST if s != "forged"])
def test_honest_submissions_are_never_flagged(graded, student):
    _, out = graded
    support.assert_unflagged(out, student)


def test_forged_training_is_flagged_by_the_judge(graded):
    _, out = graded
    support.assert_flagged(out, "forged", "history claims")


@pytest.mark.parametrize("student", ["blank", *ATTACK_GROUPS])
def test_the_blank_release_and_attacks_on_it_earn_nothing(graded, student):
    course, out = graded
    assert sum(v or 0 for v in _auto(course, student).values()) == 0, support.summary_block(out, student)


def test_the_planted_leaks_are_named_in_feedback_and_nothing_hidden_is_shown(graded):
    course, _ = graded
    hidden = support.hidden_lines(SOURCE / "checks.py", course / "assignments" / LAB / NOTEBOOK)
    assert len(hidden) > 100
    support.feedback_pages(course, LAB, hidden)
    leak = next((course / "feedback" / "vocab_leak" / LAB).glob("*.html")).read_text()
    assert re.search(r"occur in none of the token lists it was given", leak)
    refit = next((course / "feedback" / "tfidf_refit" / LAB).glob("*.html")).read_text()
    assert "change when they are scored alone" in refit


def test_the_committed_release_is_the_one_release_makes(graded):
    from test_release import _essence

    course, _ = graded
    committed = nbformat.read(REPO / "assignments" / LAB / NOTEBOOK, as_version=4)
    assert _essence(committed) == _essence(support.released(course, LAB)), (
        "assignments/imdb_sentiment is out of date with solutions/: run `make release ASSIGNMENT=imdb_sentiment`")
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in committed.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    assert points == {**POINTS, "written": 15} and sum(points.values()) == 100


def test_a_data_set_of_several_files_is_made_readable_for_the_kernels(tmp_path, monkeypatch):
    """grading.execute fetches a lab's data before grading; imdb is a folder (train and test): its files too."""
    import stat

    import helpers.data
    from grading import execute

    folder = tmp_path / "data" / "imdb" / "plain_text"
    folder.mkdir(parents=True)
    for name in ("train.parquet", "test.parquet"):
        (folder / name).write_bytes(b"x")
        (folder / name).chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))  # the walk up the parents stops at the home folder
    monkeypatch.setattr(helpers.data, "fetch", lambda name, part=None: folder)
    execute._prepare_data(("imdb",))
    assert all((folder / n).stat().st_mode & stat.S_IROTH for n in ("train.parquet", "test.parquet"))
    assert folder.stat().st_mode & stat.S_IXOTH
