"""A class on a real JupyterHub, end to end: students fetch and submit, the grader grades, feedback comes back.

The deployment is deploy/hub/ as docs/instructors.md describes it (tests/hub_support.py): real Unix
accounts for an instructor, a grader and three students, PAM logins, each server spawned as its
user from the shared course environment, nbgrader's exchange with nbgrader's permissions, the
grader's JupyterLab as a hub service. The hub and its proxy listen on loopback only. Playwright
drives the system Chromium through four scenes:

1. alice, bob and carol log in, fetch the lab in Assignment List, answer part A and the written
   part, validate and submit; bob submits twice, carol after the due date;
2. alice tries to read, change or hand in bob's work through the hub, the exchange and the file
   system, and to reach the grader's course folder: every attempt fails;
3. the grader collects (each submission under its owner's name), autogrades in the sandbox, the
   instructor opens the grader's JupyterLab (Formgrader in its Nbgrader menu) and grades the written
   answers in Formgrader, opened in a browser tab of its own, and the feedback goes out;
4. each student fetches feedback in Assignment List, follows "(view feedback)" and opens it in
   JupyterLab, and sees only their own.

Screenshots go to test-artifacts/hub/ (git-ignored).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from grading_support import CHROMIUM  # the session's browser (conftest) launches it
from hub_support import ARTIFACTS, ASSIGNMENT, COURSE_ID, HUB_VENV, Deployment, missing_requirements, \
    unreachable_for_others

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
VOCAB = '''class Vocab:
    """The sorted distinct characters of a text; id i is chars[i]."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        self.itos = self.chars

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        unknown = set(text) - set(self.stoi)
        if unknown:
            raise ValueError(f"not in the vocabulary: {sorted(unknown)}")
        return torch.tensor([self.stoi[ch] for ch in text], dtype=torch.long)

    def decode(self, ids):
        return "".join(self.itos[int(i)] for i in ids)
'''

pytestmark = [
    pytest.mark.scale,
    pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium: `make test` installs the Debian package"),
    pytest.mark.skipif(missing_requirements() is not None, reason=str(missing_requirements())),
]


@pytest.fixture(scope="module")
def hub():
    blocked = unreachable_for_others(HUB_VENV)
    if blocked is not None:
        pytest.fail(f"{blocked} is closed to other users, so the hub's accounts cannot run {HUB_VENV}: clone the "
                    "course where every user may enter, or `make hub-deps HUB_VENV=/some/shared/place`")
    deployment = Deployment(["alice", "bob", "carol"])
    try:
        deployment.set_up()
        release = deployment.grade("release", ASSIGNMENT, "--exchange")
        assert release.returncode == 0, release.stdout + release.stderr
        deployment.start_hub()
        yield deployment
    finally:
        deployment.tear_down()


@pytest.fixture
def people():
    """After the test: a screenshot of every page a failed scene left open (named FAILED-<user>)."""
    yield
    for person in list(OPEN):
        try:
            shot(person.page, f"FAILED-{person.user.rsplit('-', 1)[0]}")
        finally:
            person.close()


# `browser` is the session's one Chromium (conftest): a second sync Playwright in one worker is refused.


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png")
    print(f"screenshot: {ARTIFACTS / name}.png")


OPEN: list["Person"] = []  # pages still open when a scene fails: photographed by the `people` fixture


class Person:
    """One browser context logged in to the hub as one user."""

    def __init__(self, browser, hub: Deployment, user: str):
        self.hub, self.user = hub, user
        OPEN.append(self)
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(60_000)

    def log_in(self) -> None:
        page = self.page
        page.goto(f"{self.hub.url}/hub/login")
        page.fill("#username_input", self.user)
        page.fill("#password_input", self.hub.passwords[self.user])
        page.click("#login_submit")

    def open_lab(self) -> None:
        """Log in and wait for the user's own JupyterLab (the hub spawns it as the user)."""
        started = time.monotonic()
        self.log_in()
        self.page.wait_for_url(re.compile(rf"/user/{re.escape(self.user)}/lab"), timeout=180_000)
        self.page.locator(".lm-MenuBar").wait_for(timeout=120_000)
        self.hub.timings.setdefault("login_and_spawn_s", time.monotonic() - started)

    def menu(self, top: str, item: str) -> None:
        page = self.page
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(top)}$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}")).first.click()

    def assignment_list(self):
        self.menu("Nbgrader", "Assignment List")
        panel = self.page.locator("#nbgrader-assignment-list")
        panel.wait_for()
        return panel

    def close(self) -> None:
        OPEN.remove(self)
        self.context.close()


def submit_button(page):
    return page.locator("#fetched_assignments_list").get_by_role("button", name="Submit")


def answer(person: Person, written: str, vocab: bool = True) -> None:
    """Open the fetched notebook, answer part A and the written part I in the editor, save."""
    page = person.page
    page.goto(f"{person.hub.url}/user/{person.user}/lab/tree/{ASSIGNMENT}/{NOTEBOOK}")
    page.locator(".jp-Notebook").wait_for()
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).first.wait_for(timeout=120_000)
    cells = page.locator(".jp-Notebook .jp-Cell")
    if vocab:
        editor = cells.nth(3).locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(VOCAB)
    written_cell = cells.nth(35)
    written_cell.scroll_into_view_if_needed()
    written_cell.dblclick()
    written_cell.locator(".cm-content").click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text(written)
    page.keyboard.press("Shift+Enter")  # render the Markdown
    page.keyboard.press("Control+S")
    page.locator(".jp-mod-dirty").first.wait_for(state="detached", timeout=30_000)


def validate(person: Person, name: str) -> str:
    page = person.page
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator(".jp-Dialog-body").wait_for(timeout=240_000)
    shot(page, name)
    text = dialog.inner_text()
    dialog.get_by_role("button").last.click()
    return text


def fetch_and_submit(person: Person, name: str, written: str, *, twice: bool = False) -> None:
    page = person.page
    person.assignment_list()
    fetch = page.locator("#released_assignments_list").get_by_role("button", name="Fetch")
    fetch.wait_for()
    shot(page, f"{name}-assignment-list")
    started = time.monotonic()
    fetch.click()
    submit_button(page).wait_for()
    person.hub.timings.setdefault("fetch_in_ui_s", time.monotonic() - started)
    if twice:  # a first, empty hand-in, then the real one
        submit_button(page).click()
        page.locator("#submitted_assignments_list").get_by_text(ASSIGNMENT).first.wait_for()
    answer(person, written)
    text = validate(person, f"{name}-validate")
    assert "Validat" in text or "fail" in text.lower(), text  # part A passes; the untouched parts fail
    person.assignment_list()
    started = time.monotonic()
    submit_button(page).click()
    # Each hand-in is one time stamp (a nested row) under the lab's row in Submitted assignments.
    stamps = page.locator("#submitted_assignments_list .nested_list_item")
    page.wait_for_function("n => document.querySelectorAll('#submitted_assignments_list .nested_list_item')"
                           ".length >= n", arg=2 if twice else 1, timeout=60_000)
    submit_button(page).wait_for()  # the list came back: the button reads Submit again, not "submitting..."
    person.hub.timings.setdefault("submit_in_ui_s", time.monotonic() - started)
    shot(page, f"{name}-submitted")
    assert stamps.count() == (2 if twice else 1), stamps.all_inner_texts()


def inbound_names(hub: Deployment) -> list[str]:
    return sorted(p.name for p in (hub.exchange / "inbound").iterdir())


def set_due_date(hub: Deployment, when: datetime) -> None:
    stamp = when.strftime("%Y-%m-%d %H:%M:%S UTC")
    done = hub.as_user(hub.grader, f"nbgrader db assignment add {ASSIGNMENT} --duedate='{stamp}'")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.timeout(1500)
def test_a_class_round_trip_on_a_real_hub(hub, browser, people):
    alice, bob, carol = hub.students
    markers = {s: f"written-by-{s}-{secrets.token_hex(3)}" for s in hub.students}

    # --- 1. three students fetch, answer, validate and submit (bob twice, carol late) ---------------
    for student, twice in ((alice, False), (bob, True)):
        person = Person(browser, hub, student)
        person.open_lab()
        if student == alice:  # a student's Nbgrader menu: Assignment List, no Formgrader
            person.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
            items = person.page.locator(".lm-Menu-itemLabel").all_inner_texts()
            shot(person.page, "alice-nbgrader-menu")
            person.page.locator(".lm-Menu-itemLabel", has_text="Assignment List").first.click()
            assert "Assignment List" in items and not any("Formgrader" in i for i in items), items
        fetch_and_submit(person, student.rsplit("-", 1)[0], f"The GRU reads better. {markers[student]}", twice=twice)
        person.close()
    due = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=2)  # after bob's hand-in
    set_due_date(hub, due)
    time.sleep(max(0.0, (due - datetime.now(timezone.utc)).total_seconds()) + 1)
    person = Person(browser, hub, carol)
    person.open_lab()
    fetch_and_submit(person, "carol", f"The GRU reads better. {markers[carol]}")
    person.close()
    submissions = inbound_names(hub)
    assert sorted(n.split("+")[0] for n in submissions) == sorted([alice, bob, bob, carol]), submissions

    # --- 2. alice against bob: through the hub, the exchange and the file system --------------------
    person = Person(browser, hub, alice)
    person.log_in()
    person.page.wait_for_url(re.compile(rf"/user/{alice}/"))
    for path, name in ((f"/user/{bob}/lab", "bobs-server"), (f"/services/{COURSE_ID}/lab", "the-grader")):
        response = person.page.goto(f"{hub.url}{path}")
        assert response.status in (403, 404), f"alice reached {path}"
        shot(person.page, f"alice-refused-at-{name}")
    person.close()
    attempts = cross_student_attempts(hub, alice, bob)
    assert all(failed for failed in attempts.values()), {k: v for k, v in attempts.items() if not v}

    # --- 3. the grader collects, autogrades in the sandbox; the instructor grades in Formgrader -------
    collected = hub.grade("collect", ASSIGNMENT, "--exchange")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert f"Collected 3 new submission(s) of {ASSIGNMENT} from the exchange" in collected.stdout, collected.stdout
    assert f"claims to be {bob}'s submission but was written by {alice}" in collected.stdout, collected.stdout
    for student in hub.students:
        nb = (hub.course / "submitted" / student / ASSIGNMENT / NOTEBOOK).read_text()
        assert markers[student] in nb and all(markers[o] not in nb for o in hub.students if o != student)
        assert "forged" not in nb
    started = time.monotonic()
    graded = hub.grade("autograde", ASSIGNMENT, timeout=1200)
    hub.timings["autograde_3_s"] = time.monotonic() - started
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert "--no-sandbox" not in graded.stdout and "WITHOUT isolation" not in graded.stdout
    scores = autograded_scores(hub)
    assert scores == {alice: 10.0, bob: 10.0, carol: 10.0}, graded.stdout  # part A right, the rest untouched
    late = seconds_late(hub)
    assert late[carol] > 0 and late[alice] == 0 and late[bob] == 0, late

    instructor = Person(browser, hub, hub.instructor)
    instructor.log_in()
    instructor.page.wait_for_url(re.compile(r"/hub/(home|spawn|user)|/user/"), timeout=180_000)
    grade_written_answers(instructor, hub, {alice: 9, bob: 7, carol: 8}, markers)
    instructor.close()
    assert manual_scores(hub) == {alice: 9.0, bob: 7.0, carol: 8.0}

    released = hub.grade("feedback", ASSIGNMENT, "--exchange")
    assert released.returncode == 0, released.stdout + released.stderr
    assert "Released feedback on" in released.stdout and "for 3 student(s)" in released.stdout, released.stdout

    # --- 4. each student fetches their own feedback, and only that --------------------------------------
    for student in hub.students:
        person = Person(browser, hub, student)
        person.open_lab()
        html = fetch_feedback(person, student.rsplit("-", 1)[0])
        assert markers[student] in html and all(markers[o] not in html for o in hub.students if o != student)
        person.close()
    timings = {**{k: round(v, 1) for k, v in hub.timings.items()}, "load_average": os.getloadavg()[0]}
    (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=1))
    print("hub timings:", timings)


def cross_student_attempts(hub: Deployment, alice: str, bob: str) -> dict[str, bool]:
    """What alice tries against bob and the grader; True where the attempt failed for the right reason."""
    inbound = hub.exchange / "inbound"
    bobs = [n for n in inbound_names(hub) if n.startswith(bob + "+")]
    bob_home = Path("/home") / bob
    guess = bobs[-1].rsplit("+", 1)[0] + "+AAAAAAAAAAAA"  # bob's time seen over his shoulder, a guessed suffix
    secret = Path("/home") / hub.grader / ".config" / "rnn-course" / "grading-secret"
    denied = ("Permission denied", "Operation not permitted")
    attempts = {  # what she tries: (command, the target that must exist, the errors that count as refused)
        "list the exchange's inbound folder": (f"ls {inbound}", inbound, denied),
        "read bob's home folder": (f"ls {bob_home}", bob_home, denied),
        "read bob's notebook": (f"cat {bob_home / ASSIGNMENT / NOTEBOOK}", bob_home / ASSIGNMENT / NOTEBOOK, denied),
        "read bob's nbgrader cache": (f"ls {bob_home}/.local/share/jupyter/nbgrader_cache",
                                      bob_home / ".local/share/jupyter/nbgrader_cache", denied),
        # inbound lets her look a name up but not list it: without the random suffix there is nothing to find
        "open bob's submission by a guessed name": (f"ls '{inbound / guess}'", inbound / bobs[-1],
                                                    ("No such file",)),
        "write into bob's submission by a guessed name": (f"touch '{inbound / guess / NOTEBOOK}'",
                                                          inbound / bobs[-1], ("No such file",)),
        "rename the course's exchange folder": (f"mv {hub.exchange} {hub.exchange}-gone", hub.exchange, denied),
        "move the inbound folder away": (f"mv {inbound} {hub.exchange}/gone", inbound, denied),
        "list the released feedback": (f"ls {hub.exchange / 'feedback'}", hub.exchange / "feedback", denied),
        "read the grader's course folder": (f"ls {hub.course}", hub.course, denied),
        "read the gradebook": (f"cat {hub.course / 'gradebook.db'}", hub.course / "gradebook.db", denied),
        "read the solutions": (f"cat {hub.course / 'solutions' / ASSIGNMENT / NOTEBOOK}",
                               hub.course / "solutions" / ASSIGNMENT / NOTEBOOK, denied),
        "read the course secret": (f"cat {secret}", secret, denied),
        "overwrite the release": (f"touch {hub.exchange / 'outbound' / ASSIGNMENT / NOTEBOOK}",
                                  hub.exchange / "outbound" / ASSIGNMENT / NOTEBOOK, denied),
    }
    results, lines = {}, []
    for what, (command, target, reasons) in attempts.items():
        assert target.exists(), f"{target} is missing, so '{what}' would prove nothing"
        done = hub.as_student(alice, command)
        results[what] = done.returncode != 0 and any(r in done.stderr for r in reasons)
        lines.append(f"{'refused' if results[what] else 'NOT REFUSED'}: alice tries to {what}: $ {command}\n"
                     f"    {done.stderr.strip() or done.stdout.strip()}")
    # Hand in as bob: nbgrader lets her write the folder; collect must refuse it (checked after collect).
    forged = hub.as_student(alice, f"cd ~ && sed -i 's/written-by-{alice}/forged/' {ASSIGNMENT}/{NOTEBOOK} && "
                                   f"nbgrader submit {ASSIGNMENT} --student={bob}")
    assert forged.returncode == 0, forged.stdout + forged.stderr
    assert len(inbound_names(hub)) == len(bobs) + 3, inbound_names(hub)
    lines.append(f"written, to be refused by collect: alice hands in as bob: nbgrader submit {ASSIGNMENT} --student={bob}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "cross-student-attempts.txt").write_text("\n".join(lines) + "\n")
    return results


def gradebook(hub: Deployment):
    return sqlite3.connect(hub.course / "gradebook.db")


def _gradebook(hub: Deployment):
    from nbgrader.api import Gradebook

    from grading.course import _venv_on_path

    _venv_on_path()  # nbgrader's Gradebook runs `alembic`
    return Gradebook(f"sqlite:///{hub.course / 'gradebook.db'}", COURSE_ID)


def autograded_scores(hub: Deployment) -> dict[str, float]:
    with _gradebook(hub) as gb:
        return {s.student.id: sum(g.auto_score or 0 for nb in s.notebooks for g in nb.grades)
                for s in gb.find_assignment(ASSIGNMENT).submissions}


def manual_scores(hub: Deployment) -> dict[str, float]:
    with _gradebook(hub) as gb:
        return {s.student.id: gb.find_grade("comparison", ASSIGNMENT, ASSIGNMENT, s.student.id).manual_score
                for s in gb.find_assignment(ASSIGNMENT).submissions}


def seconds_late(hub: Deployment) -> dict[str, float]:
    with _gradebook(hub) as gb:
        return {s.student.id: s.total_seconds_late for s in gb.find_assignment(ASSIGNMENT).submissions}


def grade_written_answers(instructor: Person, hub: Deployment, points: dict[str, int],
                          markers: dict[str, str]) -> None:
    """The instructor opens the grader's JupyterLab, then Formgrader, and scores each written comparison.

    Formgrader's JupyterLab tab (Nbgrader > Formgrader) stays blank on a JupyterHub: single-user servers
    send `frame-ancestors 'none'` (JupyterHub >= 4.1), so it is opened in a browser tab of its own, as
    nbgrader's JupyterHub guide says. Submissions are anonymous there: the instructor reads each answer
    and gives its author's points (the test knows the author by the marker in the answer).
    """
    page = instructor.page
    base = f"{hub.url}/services/{COURSE_ID}"
    page.goto(f"{base}/lab")
    page.locator(".jp-DirListing-itemText").get_by_text("gradebook.db", exact=True).wait_for(timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile("^Nbgrader$")).click()
    items = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    shot(page, "instructor-grader-jupyterlab")
    page.keyboard.press("Escape")
    assert "Formgrader" in items, items  # the grader's servers switch Formgrader back on
    page.goto(f"{base}/formgrader")
    page.locator("#main-table").get_by_text(ASSIGNMENT).first.wait_for(timeout=60_000)
    shot(page, "instructor-formgrader")
    page.get_by_role("link", name="Manual Grading").click()
    page.locator(f"#main-table a[href$='/formgrader/gradebook/{ASSIGNMENT}']").first.click()
    page.locator(f"#main-table a[href$='/formgrader/gradebook/{ASSIGNMENT}/{ASSIGNMENT}']").first.click()
    page.get_by_role("link", name="Submission #1", exact=True).wait_for()
    submissions = page.url
    for number in range(1, len(points) + 1):
        page.get_by_role("link", name=f"Submission #{number}", exact=True).click()
        field = page.locator("input#comparison")  # formgrader names each score box after its cell
        field.wait_for()
        text = page.content()
        author = [s for s in points if markers[s] in text]
        assert len(author) == 1, f"submission #{number} holds the answers of {author}"
        field.scroll_into_view_if_needed()
        with page.expect_response(lambda r: "/formgrader/api/grade/" in r.url and r.request.method == "PUT"):
            field.fill(str(points[author[0]]))
            field.press("Tab")  # formgrader saves a score when the box loses focus
        if number == 1:
            shot(page, "instructor-grades-written-answer")
        page.goto(submissions)
    page.wait_for_load_state("networkidle")
    shot(page, "instructor-gradebook")


def fetch_feedback(person: Person, name: str) -> str:
    """Assignment List > Fetch Feedback > (view feedback), then the student opens the HTML in JupyterLab."""
    page = person.page
    person.assignment_list()
    page.get_by_role("button", name="Fetch Feedback").first.click()
    view = page.locator("#submitted_assignments_list").get_by_text("view feedback")
    view.first.wait_for(timeout=60_000)
    shot(page, f"{name}-feedback-fetched")
    folder = Path("/home") / person.user / ASSIGNMENT / "feedback"
    files = sorted(folder.glob("*/*.html"))
    assert files, f"no feedback fetched into {folder}"
    view.first.click()  # the file browser goes to the fetched feedback's folder
    listed = page.locator(".jp-DirListing-itemText").get_by_text(f"{ASSIGNMENT}.html", exact=True)
    listed.wait_for()
    listed.dblclick()
    shown = page.frame_locator(".jp-HTMLViewer iframe").locator("body")
    shown.get_by_role("heading", name=re.compile(r"^Feedback on ")).first.wait_for(timeout=60_000)
    shot(page, f"{name}-feedback")
    return "\n".join(f.read_text() for f in files) + shown.inner_text()
