"""nbgrader configuration for rnn-course: sources in solutions/, releases in assignments/.

Instructors drive it through ``python -m grading`` (or the Makefile targets
release/collect/autograde/feedback/export); plain ``nbgrader`` commands read the
same settings. Option names checked against nbgrader 0.9.6.
"""
from pathlib import Path

c = get_config()  # noqa: F821 - injected by nbgrader

_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "rnn-course"
c.CourseDirectory.root = str(_ROOT)
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"

# Never copied from a folder into the release or into a student's graded folder.
# (checkpoints/ is handled below: students submit theirs, instructors' must not leak.)
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".pytest_cache", ".DS_Store",
    "grading.toml",  # the lab's facts for the grading tool (solutions/<assignment>/grading.toml)
    "checks.py",  # the lab's hidden checks (grading.spec), run by the grader's judge: instructors only
]
# Files larger than this (kB) are left out of collect/autograde with a warning. The lab's
# notebook tells students to keep each checkpoint under 20 MB; this leaves headroom.
c.CourseDirectory.max_file_size = 50_000

# Autograding: nbgrader's Execute step is replaced by the course's grader (grading.preprocessors).
# The notebook runs in a sandboxed kernel, the lab's hidden checks (solutions/<lab>/checks.py) run in
# a sandboxed judge that never runs student code, and each test cell scores what the judge decided.
# Every way into autograding goes through it: `make grade`, plain `nbgrader autograde` and
# Formgrader's Autograde button. Without a working sandbox it refuses and names the command to use.
def _grader_steps() -> list:
    """nbgrader's autograde steps with the course's grader; none in the student edition (no grading package)."""
    from importlib.util import find_spec

    if find_spec("grading") is None:
        return []
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import AssignLatePenalties, CheckCellMetadata, IgnorePattern, LimitOutput, SaveAutoGrades

    from grading.preprocessors import FlagForReview, GradeInSandbox, MakeInert

    return [GradeInSandbox, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, MakeInert, SaveAutoGrades,
            FlagForReview, AssignLatePenalties, CheckCellMetadata]


if _grader_steps():
    c.Autograde.autograde_preprocessors = _grader_steps()
# Every notebook runs on the plain python3 kernel of the course environment (sandboxed while grading).
c.ExecutePreprocessor.kernel_name = "python3"
# Per-cell time limit while autograding. A cell that runs longer is interrupted, and the rest of the
# notebook still runs; the whole notebook, hidden checks included, has GradeInSandbox.deadline seconds.
c.GradeInSandbox.timeout = 60

# A student who deleted a test cell gets it back (and graded) instead of silently losing points.
c.OverwriteCells.add_missing_cells = True

# Autograded notebooks drop editor metadata (widget state, collapsed flags) but keep what
# nbgrader itself needs to score and to render feedback.
c.ClearMetadataPreprocessor.enabled = True
c.ClearMetadataPreprocessor.preserve_cell_metadata_mask = {"nbgrader", "deletable", "editable"}
c.ClearMetadataPreprocessor.preserve_nb_metadata_mask = {"kernelspec", "language_info", "rnn_course_grading"}

# What the instructor opens is inert: formgrader and feedback render Markdown and HTML outputs
# sanitised (grading.inert also strips scripts, widgets and SVG from graded notebooks).
c.HTMLExporter.sanitize_html = True

# Checkpoints: students submit checkpoints/*.pt next to the notebook and grading loads them.
# Files an instructor's own run left under solutions/<assignment>/checkpoints/ must neither
# reach the release nor overwrite a student's checkpoints while autograding (nbgrader copies
# every non-notebook source file over the submission unless it is listed here).
_source = _ROOT / "solutions"
if _source.is_dir():
    c.Autograde.exclude_overwriting = {
        assignment.name: sorted(
            str(p.relative_to(assignment)) for p in (assignment / "checkpoints").rglob("*") if p.is_file()
        )
        for assignment in _source.iterdir()
        if (assignment / "checkpoints").is_dir()
    }


def _drop_instructor_files(assignment, **_):
    """After generate_assignment: remove checkpoints an instructor's run left in the release."""
    import shutil

    release = Path.cwd() / "assignments"  # nbgrader runs converters from the course root
    for folder in release.glob(f"{assignment}/checkpoints") if assignment else []:
        shutil.rmtree(folder)


c.GenerateAssignment.post_convert_hook = _drop_instructor_files


# --- Exchange: where release_assignment, fetch, submit and the Assignment List meet ---------------
# A JupyterHub shares one exchange between users: nbgrader's default folder (/usr/local/share/nbgrader/
# exchange since nbgrader 0.9, /srv/nbgrader/exchange before), or the c.Exchange.root of a system-wide
# nbgrader_config.py. Where there is none, the course keeps its own in exchange/ (git-ignored) and
# releases to it what assignments/ holds: the Assignment List lists courses only from what was released
# to the exchange, so an empty one read "No courses found." Now it shows this course and its labs.
_HUB_EXCHANGES = ("/usr/local/share/nbgrader/exchange", "/srv/nbgrader/exchange")
_RELEASE_SKIP = {"checkpoints", ".ipynb_checkpoints", "__pycache__"}  # a student's own files stay out


def _hub_has_exchange() -> bool:
    import re

    from jupyter_core.paths import jupyter_config_path

    if any(Path(folder).is_dir() for folder in _HUB_EXCHANGES):
        return True
    configs = [Path(folder) / "nbgrader_config.py" for folder in jupyter_config_path()]
    return any(p.is_file() and p.resolve() != Path(__file__).resolve()
               and re.search(r"^\s*c\.Exchange\.root\s*=", p.read_text(errors="replace"), re.M) for p in configs)


def _release_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not _RELEASE_SKIP & set(p.relative_to(folder).parts) and p.suffix != ".pt"}


def _release_to_local_exchange(exchange: Path, course_id: str) -> None:
    """What nbgrader release_assignment does, for each lab in assignments/ whose release changed."""
    import shutil

    course = exchange / course_id
    for lab in sorted(p.parent for p in (_ROOT / "assignments").glob("*/*.ipynb")):
        files, dest = _release_files(lab), course / "outbound" / lab.name
        if dest.is_dir() and _release_files(dest) == files:
            continue
        (course / "inbound").mkdir(mode=0o755, parents=True, exist_ok=True)  # where Submit puts a copy
        shutil.rmtree(dest, ignore_errors=True)
        for name, data in files.items():
            (dest / name).parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            (dest / name).write_bytes(data)


if not _hub_has_exchange():
    c.Exchange.root = str(_ROOT / "exchange")
    try:
        (_ROOT / "exchange").mkdir(mode=0o755, exist_ok=True)  # yours only: one person plays both roles here
        _release_to_local_exchange(_ROOT / "exchange", c.CourseDirectory.course_id)
    except OSError:
        pass  # a read-only checkout: nbgrader then says the exchange is missing, which is true


# --- What students and graders read: feedback and Formgrader pages that pass WCAG 2.1 AA offline ----------
# The course's templates (grading/templates: feedback, formgrade) shadow nbgrader's own by name; math becomes
# MathML when the page is built (no MathJax from a CDN); code is highlighted with CSS colours the templates set
# at AA contrast. See docs/accessibility.md. Skipped where the course's packages are not importable.
def _course_templates() -> list[str]:
    from importlib.util import find_spec

    grading, nbgrader = find_spec("grading"), find_spec("nbgrader")
    if grading is None or grading.origin is None or find_spec("helpers") is None:
        return []
    folders = [Path(grading.origin).parent / "templates"]
    if nbgrader is not None and nbgrader.origin is not None:  # nbgrader's own, for anything ours does not shadow
        folders.append(Path(nbgrader.origin).parent / "server_extensions" / "formgrader" / "templates")
    return [str(f) for f in folders if f.is_dir()]


if _course_templates():
    from jupyterlab_pygments import JupyterStyle

    c.HTMLExporter.extra_template_basedirs = _course_templates()
    c.HTMLExporter.filters = {"markdown2html": "helpers.mathml.markdown2html"}
    c.CSSHTMLHeaderPreprocessor.style = JupyterStyle
