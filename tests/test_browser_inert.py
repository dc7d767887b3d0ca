"""What the instructor opens is inert: a real Chromium on a real formgrader, against a hostile submission.

A student's answer cell displays HTML with a script and an <img onerror>, and JavaScript, each of
which tries to write a file into the course through the Jupyter API with the instructor's session
(cookie and XSRF token); a Markdown answer carries another <img onerror>. The submission is graded
with the real commands (release, collect, autograde), then the instructor opens it in Formgrader.
Nothing may be written. The control: the same notebook before grading.inert ran, put in place of
the graded one, does write a file in the same browser (so the test can see the attack when the
defence is off). HTML and JavaScript outputs are also stopped by formgrader's own
sanitising (nbgrader_config.py sets HTMLExporter.sanitize_html); Markdown is not, which is what
grading.inert adds.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
import pytest

import grading_support as support
from mini_assignment import CHECKS, fill_answers, source_notebook
from grading_support import CHROMIUM
from test_browser import ARTIFACTS

REPO = support.REPO
ASSIGNMENT = "mini"

pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="no system Chromium (/usr/bin/chromium)"),
              pytest.mark.skipif(sys.platform != "linux", reason="the browser tests use Debian's Chromium")]


def _put(name: str) -> str:
    """JavaScript that writes course/<name> through the Jupyter contents API as the logged-in user."""
    return ("fetch('/api/contents/%s', {method: 'PUT', credentials: 'include', headers: {'Content-Type': "
            "'application/json', 'X-XSRFToken': (document.cookie.match(/_xsrf=([^;]+)/) || [])[1] || ''}, "
            "body: JSON.stringify({type: 'file', format: 'text', content: 'pwned'})})" % name)


HOSTILE_ANSWER = f'''from IPython.display import HTML, Javascript, display
display(HTML("<b>hello</b><script>{_put("PWNED_script.txt")}</script>"
             "<img src='nope' onerror=\\"{_put("PWNED_img.txt").replace('"', "&quot;")}\\">"))
display(Javascript({json.dumps(_put("PWNED_js.txt"))}))

def add(a, b):
    return a + b'''
HOSTILE_MARKDOWN = f'''My notes. <img src="nope" onerror="{_put("PWNED_md.txt").replace('"', "&quot;")}">'''


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("inert")
    course = support.new_course(root / "course", ASSIGNMENT, source_notebook("Mini"), CHECKS)
    released = nbformat.read(course / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    nb = fill_answers(released, HOSTILE_ANSWER, "def mul(a, b):\n    return a * b")
    nb.cells.append(nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    inbox = root / "inbox" / "mallory"
    inbox.mkdir(parents=True)
    nbformat.write(nb, inbox / f"{ASSIGNMENT}.ipynb")
    done = support.run_cli(course, "collect", ASSIGNMENT, f"--from={inbox.parent}")
    assert done.returncode == 0, done.stdout + done.stderr
    done = support.autograde(course, ASSIGNMENT, "--workers=1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3/3 autograded" in support.summary_block(done.stdout, "mallory"), done.stdout
    return course, nb


@pytest.fixture(scope="module")
def formgrader(graded_course, tmp_path_factory):
    course, _ = graded_course
    with support.jupyter_server(course, tmp_path_factory.mktemp("home")) as server:
        yield server["url"], server["token"]


def _open_submission(browser, url: str, token: str, course: Path, shot: str) -> None:
    """Log in, then open mallory's graded notebook in Formgrader (the instructor's grading view)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "rnn-course") as gb:
        submission_id = gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, "mallory").id
    # the session's one browser (conftest): a second sync Playwright in the same worker is refused
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{url}/lab?token={token}")  # sets the session cookie, as an instructor's login does
        page.locator(".lm-MenuBar").wait_for(timeout=60_000)
        page.goto(f"{url}/formgrader/submissions/{submission_id}/?index=0")
        page.get_by_text("My notes").first.wait_for(timeout=60_000)
        time.sleep(3)  # give any script time to run and its request time to land
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=ARTIFACTS / f"{shot}.png", full_page=True)
    finally:
        context.close()


@pytest.mark.timeout(600)
def test_a_graded_submission_runs_no_script_in_formgrader(graded_course, formgrader, browser):
    course, _ = graded_course
    url, token = formgrader
    graded = nbformat.read(course / "autograded" / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    mimes = {k for c in graded.cells for o in c.get("outputs", []) for k in o.get("data", {})}
    assert mimes <= {"text/plain", "image/png", "image/jpeg", "image/gif"}, mimes
    _open_submission(browser, url, token, course, "formgrader-hostile-submission")
    assert not sorted(p.name for p in course.glob("PWNED*")), "a student's script ran in Formgrader"

    # Control: without grading.inert (the student's Markdown answer as written), the attack gets through.
    raw = nbformat.read(course / "autograded" / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    raw.cells[-1].source = HOSTILE_MARKDOWN
    nbformat.write(raw, course / "autograded" / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    _open_submission(browser, url, token, course, "formgrader-hostile-control")
    assert sorted(p.name for p in course.glob("PWNED*")) == ["PWNED_md.txt"], "the control attack did not run"
