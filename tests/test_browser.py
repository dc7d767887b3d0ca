"""The course as people meet it: a real headless Chromium driving a real `jupyter lab` on loopback.

The server starts the way `make lab` starts it (the course's `.venv/bin` first on PATH, a token,
`--allow-root` as root), in a fresh course folder: a copy of the lab's source and
`nbgrader_config.py` with no gradebook yet, the student release, lecture 06, and a notebook of stored
widget outputs. HOME and the Jupyter user folders are temporary, so nothing here touches the
checkout or a developer's settings. The browser is Playwright's Python API with the system Chromium
(`make test` installs it from Debian packages); Playwright never downloads a browser of its own.

Screenshots land in test-artifacts/browser/ (git-ignored); the path is printed.
"""
from __future__ import annotations

import re
import shutil
import sqlite3
import time
from pathlib import Path

import nbformat
import pytest

import grading_support as support

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
ASSIGNMENT = "sherlock_rnn_vs_gru"
LECTURE = "06_shakespeare_char_rnn.ipynb"  # the quickest lecture with a progress bar, a curve and the sampler
# Test-only JupyterLab settings: every cell in the DOM (no windowing). The news pop-up is the course's
# own business (jupyter-config/overrides.d/rnn-course.json): test_assignment_list_... checks it stays away.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

pytestmark = [support.needs_chromium]






def make_course(root: Path) -> Path:
    """A fresh course: the lab's source and nbgrader_config.py (no gradebook), the release, lecture 06."""
    course = root / "course"
    (course / "solutions").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "solutions" / ASSIGNMENT, course / "solutions" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints"))
    shutil.copy(REPO_ROOT / "nbgrader_config.py", course)
    shutil.copytree(REPO_ROOT / "assignments" / ASSIGNMENT, course / "assignments" / ASSIGNMENT,
                    ignore=shutil.ignore_patterns("checkpoints", ".ipynb_checkpoints"))
    (course / "lectures").mkdir()
    shutil.copy(REPO_ROOT / "lectures" / LECTURE, course / "lectures")
    nbformat.write(stored_widgets_notebook(), course / "stored_widgets.ipynb")
    return course


def stored_widgets_notebook():
    """A notebook whose outputs are what a kernel stores for the course's widgets, without their live state."""
    import ipywidgets
    import matplotlib
    import torch

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.models import CharRNN
    from helpers.text import CharVocab
    from helpers.widgets import gate_explorer, interactive_plot, sampler

    def line(slope=1.0):
        _, ax = plt.subplots(figsize=(4, 2))
        ax.plot([0, 1], [0, slope])

    vocab = CharVocab.from_text("To be, or not to be")
    panels = {
        "sampler(model, vocab)": sampler(CharRNN(len(vocab), embed_dim=4, hidden_size=8), vocab),
        'gate_explorer("lstm")': gate_explorer("lstm"),
        "interactive_plot(line, ...)": interactive_plot(
            line, "A line", alt=lambda slope: f"A straight line through the origin, slope {slope}.",
            slope=ipywidgets.FloatSlider(value=1.0)),
    }
    torch.manual_seed(0)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for count, (source, panel) in enumerate(panels.items(), 1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        data, metadata = panel._repr_mimebundle_()
        cell.outputs = [nbformat.v4.new_output("execute_result", data=data, metadata=metadata,
                                               execution_count=count)]
        nb.cells.append(cell)
    return nb


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`jupyter lab` in a fresh course folder, as `make lab` starts it; yields its URL parts."""
    root = tmp_path_factory.mktemp("browser")
    course = make_course(root)
    try:
        with support.jupyter_server(course, root / "home", settings=LAB_SETTINGS, args=("--notebook-dir=.",),
                                    COURSE_MAX_SECONDS="20") as server:  # lecture 06 trains for at most 20 s here
            yield {"course": course, **server}
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if (root / "home" / "lab.log").is_file():
            shutil.copy(root / "home" / "lab.log", ARTIFACTS / "lab.log")






@pytest.fixture
def page(browser, lab, request):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{request.node.name}-last.png")  # what the page showed at the end, pass or fail
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path)
    print(f"screenshot: {path}")


def open_notebook(page, lab, path: str) -> None:
    page.goto(f"{lab['url']}/lab/tree/{path}?reset&token={lab['token']}")
    page.locator(".jp-Notebook").first.wait_for()
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\| Idle")).first.wait_for(timeout=60_000)  # kernel up


def menu(page, top: str, item: str) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}")).first.click()


@pytest.mark.timeout(120)
def test_stored_widgets_show_a_note_and_a_picture_before_anything_runs(page, lab):
    open_notebook(page, lab, "stored_widgets.ipynb")  # never run here: untrusted, no widget state
    outputs = page.locator(".jp-OutputArea-output")
    outputs.first.wait_for()
    text = page.locator(".jp-Notebook").inner_text()
    shot(page, "stored-widgets")
    assert text.count("Run this cell for the interactive version.") == 3, text
    for caption in ("Text sampler", "LSTM gate explorer", "A line"):
        assert caption in text
    assert "children=" not in text, "a widget's Python repr is showing"
    images = page.locator(".jp-OutputArea-output img")
    assert images.count() == 2  # the gate explorer's and the line's first figure
    for i in range(2):
        assert images.nth(i).evaluate("img => img.naturalWidth") > 100, "the stored picture did not load"


# True once a cell failed, or once every cell ran and the kernel is idle. Prompts alone are not enough:
# a cell whose input is collapsed (the lectures' solutions) shows no prompt while it waits its turn.
SETTLED = """() => {
    const failed = document.querySelector(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']");
    if (failed && failed.innerText.includes('Traceback')) return true;
    const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')].map(p => p.innerText);
    const idle = [...document.querySelectorAll('.jp-StatusBar-Widget')].some(e => /\\| Idle/.test(e.innerText));
    return idle && prompts.some(p => /\\[\\d+\\]/.test(p)) && !prompts.some(p => p.includes('*'));
}"""


def run_all(page, timeout_ms: int) -> None:
    """Run → Run All Cells, then wait until every cell ran or one failed (the traceback is the failure)."""
    for _ in range(3):  # a click while the kernel is still connecting is ignored: try again
        menu(page, "Run", "Run All Cells")
        try:
            page.locator(".jp-InputPrompt", has_text="[*]").first.wait_for(timeout=10_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; retried below
            continue
    deadline = time.monotonic() + timeout_ms / 1000
    while True:  # settled twice, 2 s apart: the kernel is briefly idle between two queued cells
        page.wait_for_function(SETTLED, timeout=max(1, deadline - time.monotonic()) * 1000, polling=500)
        page.wait_for_timeout(2000)
        if page.evaluate(SETTLED):
            break
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                          has_text="Traceback")
    if errors.count():
        errors.first.scroll_into_view_if_needed()
        shot(page, "lecture06-error")
        pytest.fail(f"a cell failed when run from JupyterLab:\n{errors.first.inner_text()[-3000:]}")


@pytest.mark.timeout(900)  # generous: a shared, loaded box runs the lecture many times slower than an idle one
def test_lecture_06_runs_in_fast_mode_with_bar_curve_and_sampler(page, lab):
    open_notebook(page, lab, f"lectures/{LECTURE}")
    run_all(page, timeout_ms=840_000)

    training = page.locator(".jp-CodeCell", has_text="history = train(model, task, config)")
    training.scroll_into_view_if_needed()
    bar = training.locator(".widget-hprogress .progress-bar")  # tqdm's bar, an ipywidgets FloatProgress
    assert bar.count() >= 1, "no progress bar in the training cell"
    # A run that its time budget stopped still ends full and green, not as a red bar at 89%.
    assert bar.first.evaluate("el => el.style.width") == "100%"
    assert "progress-bar-success" in bar.first.get_attribute("class")
    assert training.locator(".jp-OutputArea-output img").count() >= 1, "no training curve"
    assert "Trained" in training.locator(".jp-OutputArea").inner_text()  # the summary line
    shot(page, "lecture06-training")

    sampler_cell = page.locator(".jp-CodeCell", has=page.locator("button", has_text="Generate"))
    sampler_cell.scroll_into_view_if_needed()
    length = sampler_cell.locator(".widget-slider", has_text="length").locator(".widget-readout")
    length.click()  # the readout is editable: a short text keeps the test quick on a busy machine
    page.keyboard.press("Control+A")
    page.keyboard.type("60")
    page.keyboard.press("Enter")
    sampler_cell.locator("button", has_text="Generate").click()
    generated = sampler_cell.locator(".widget-output")
    page.wait_for_function("el => el.innerText.includes('[temperature=')", arg=generated.element_handle(),
                           timeout=120_000)
    text = generated.inner_text()
    assert "length=60" in text and "JULIET:" in text and len(text.split("]", 1)[1].strip()) >= 60, text
    for name in ("temperature", "top-k (0: off)"):  # a label cut off is wider than its box (shown with "...")
        label = sampler_cell.locator(".widget-label", has_text=name).first
        assert label.evaluate("el => el.scrollWidth <= el.clientWidth"), f"the label {name!r} is cut off"
    shot(page, "lecture06-sampler")


@pytest.mark.timeout(120)
def test_formgrader_lists_the_assignment_on_a_fresh_course(page, lab):
    assert not (lab["course"] / "gradebook.db").exists()  # the first open creates it, which needs alembic
    page.goto(f"{lab['url']}/lab?reset&token={lab['token']}")
    page.locator(".lm-MenuBar").wait_for()
    menu(page, "Nbgrader", "Formgrader")
    frame = page.frame_locator("iframe").first
    frame.locator("text=" + ASSIGNMENT).first.wait_for(timeout=60_000)
    shot(page, "formgrader")
    assert "Loading, please wait" not in frame.locator("body").inner_text()
    with sqlite3.connect(lab["course"] / "gradebook.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "alembic_version" in tables
    assert "FileNotFoundError" not in lab["log"].read_text()


@pytest.mark.timeout(120)
def test_assignment_list_shows_the_course_and_its_lab(page, lab):
    """No hub exchange: the course's own exchange lists what assignments/ holds (it read "No courses found.")."""
    page.goto(f"{lab['url']}/lab?reset&token={lab['token']}")
    page.locator(".lm-MenuBar").wait_for()
    menu(page, "Nbgrader", "Assignment List")
    page.locator("#released_assignments_list .list_item").get_by_text(ASSIGNMENT).wait_for(timeout=60_000)
    shot(page, "assignment-list")
    assert page.locator("#course_list_default").inner_text().strip() == "rnn-course"
    text = page.locator("body").inner_text()
    for problem in ("No courses found", "Error fetching courses", "exchange directory does not exist",
                    "notified about official Jupyter news"):  # the course's settings turn that pop-up off
        assert problem not in text, text
    assert (lab["course"] / "exchange" / "rnn-course" / "outbound" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    # The round trip on one machine: Fetch copies the lab beside the course, Submit hands it to the exchange.
    page.locator("#released_assignments_list .list_item").get_by_role("button", name="Fetch").click()
    fetched = page.locator("#fetched_assignments_list .list_item").filter(has_text=ASSIGNMENT)
    fetched.get_by_role("button", name="Submit").click()
    page.locator("#submitted_assignments_list .list_item").first.wait_for(timeout=60_000)
    inbound = lab["course"] / "exchange" / "rnn-course" / "inbound"
    assert [p.name.split("+")[1] for p in inbound.iterdir()] == [ASSIGNMENT]
    shutil.rmtree(lab["course"] / ASSIGNMENT)  # the fetched copy: other tests see the course as it was


@pytest.mark.timeout(180)
def test_the_lab_validate_button_reports_on_the_untouched_release(page, lab):
    open_notebook(page, lab, f"assignments/{ASSIGNMENT}/{ASSIGNMENT}.ipynb")
    page.locator(".jp-NotebookPanel-toolbar").get_by_text("Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=150_000)
    dialog.locator(".jp-Dialog-body").wait_for()
    shot(page, "lab-validate")
    text = dialog.inner_text()
    # The release has no answers yet, so validation runs the notebook and names the failing cells.
    assert "Validat" in text and ("failed" in text.lower() or "error" in text.lower()), text
