"""The set-up files agree with each other: pyproject.toml, environment.yml, nbgrader_config.py, .ci/run, README, docs/."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (the test extra installs tomli there)
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parent.parent


def pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def environment_yml() -> dict:
    text = (REPO_ROOT / "environment.yml").read_text(encoding="utf-8")
    try:
        import yaml
    except ImportError:  # PyYAML comes with Jupyter; this fallback reads the simple layout we use
        return _parse_simple_yaml(text)
    return yaml.safe_load(text)


def _parse_simple_yaml(text: str) -> dict:
    """name/channels/dependencies with one nested `pip:` list, as environment.yml has."""
    result: dict = {"dependencies": []}
    key, pip = None, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" ") and ":" in line:
            key, _, value = line.partition(":")
            if value.strip():
                result[key] = value.strip()
            else:
                result[key] = []
            continue
        item = line.strip().removeprefix("- ").strip()
        if item == "pip:":
            pip = []
            result[key].append({"pip": pip})
        elif pip is not None and len(line) - len(line.lstrip()) > 4:
            pip.append(item)
        else:
            result[key].append(item)
    return result


def test_the_fallback_yaml_reader_agrees_with_pyyaml():
    yaml = pytest.importorskip("yaml")
    text = (REPO_ROOT / "environment.yml").read_text(encoding="utf-8")
    assert _parse_simple_yaml(text) == yaml.safe_load(text)


def requirements(lines) -> dict[str, SpecifierSet]:
    reqs = [Requirement(line) for line in lines]
    names = [canonicalize_name(r.name) for r in reqs]
    assert len(names) == len(set(names)), f"a package is listed twice: {sorted(names)}"
    return {canonicalize_name(r.name): r.specifier for r in reqs}


def test_environment_yml_and_pyproject_list_the_same_packages():
    env = environment_yml()
    pip_lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pip_lists) == 1, "environment.yml should have exactly one pip: list"
    pip_lines = [line for line in pip_lists[0] if not line.startswith("-")]  # --editable . etc.
    from_env = requirements(pip_lines)
    from_pyproject = requirements(pyproject()["project"]["dependencies"])

    only_env = sorted(set(from_env) - set(from_pyproject))
    only_pyproject = sorted(set(from_pyproject) - set(from_env))
    assert not only_env and not only_pyproject, (
        f"only in environment.yml: {only_env}; only in pyproject.toml: {only_pyproject}"
    )
    differ = {n: (str(from_env[n]), str(from_pyproject[n])) for n in from_env if from_env[n] != from_pyproject[n]}
    assert not differ, f"version specifiers differ (environment.yml, pyproject.toml): {differ}"
    assert "--editable ." in pip_lists[0], "environment.yml must install the course itself (--editable .)"


def test_environment_yml_python_satisfies_requires_python():
    env = environment_yml()
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and re.match(r"python\b", d)]
    assert len(pythons) == 1
    version = re.sub(r"^python\s*=*\s*", "", pythons[0])
    requires = SpecifierSet(pyproject()["project"]["requires-python"])
    assert Version(version) in requires, f"environment.yml's {pythons[0]} is outside requires-python {requires}"
    assert requires == SpecifierSet(">=3.11")  # nbgrader 0.9.6 requires 3.11; the README says 3.11 to 3.13
    assert env["name"] == "rnn-course"


def test_the_distribution_is_rnn_course_with_package_helpers():
    project = pyproject()["project"]
    assert project["name"] == "rnn-course"
    import helpers

    # The editable install points at this checkout, not at another copy.
    assert Path(helpers.__file__).resolve().parent == REPO_ROOT / "helpers"


def nbgrader_config():
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(REPO_ROOT)).load_config()


def test_nbgrader_config_directories_and_kernel():
    config = nbgrader_config()
    assert config.CourseDirectory.source_directory == "solutions"
    assert config.CourseDirectory.release_directory == "assignments"
    assert config.ExecutePreprocessor.kernel_name == "python3"
    assert Path(config.CourseDirectory.root) == REPO_ROOT


def _course_config(folder: Path, monkeypatch, hub_config: str | None = None):
    """nbgrader_config.py as nbgrader loads it in a course copied to folder (with, optionally, a hub's own)."""
    from traitlets.config.loader import PyFileConfigLoader

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text((REPO_ROOT / "nbgrader_config.py").read_text())
    system = folder.parent / "etc-jupyter"
    system.mkdir(exist_ok=True)
    if hub_config is not None:
        (system / "nbgrader_config.py").write_text(hub_config)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(system))  # searched like /etc/jupyter
    return PyFileConfigLoader("nbgrader_config.py", path=str(folder)).load_config()


def test_a_course_keeps_its_own_exchange_when_no_hub_provides_one(tmp_path, monkeypatch):
    if any(Path(p).is_dir() for p in ("/usr/local/share/nbgrader/exchange", "/srv/nbgrader/exchange")):
        pytest.skip("this machine has nbgrader's shared exchange, which the course then uses")
    course = tmp_path / "course"
    (course / "assignments" / "lab" / "checkpoints").mkdir(parents=True)
    (course / "assignments" / "lab" / "lab.ipynb").write_text("{}")
    (course / "assignments" / "lab" / "checkpoints" / "gru.pt").write_bytes(b"a student's")
    config = _course_config(course, monkeypatch)
    assert config.Exchange.root == str(course / "exchange")
    # Released to it, as nbgrader release_assignment would: the Assignment List then shows the course.
    outbound = course / "exchange" / "rnn-course" / "outbound" / "lab"
    assert sorted(p.name for p in outbound.rglob("*")) == ["lab.ipynb"]  # no checkpoints
    assert (course / "exchange" / "rnn-course" / "inbound").is_dir()
    (course / "assignments" / "lab" / "lab.ipynb").write_text('{"new": 1}')  # a new release replaces the old
    _course_config(course, monkeypatch)
    assert (outbound / "lab.ipynb").read_text() == '{"new": 1}'
    mode = (course / "exchange").stat().st_mode & 0o777
    assert mode & 0o700 == 0o700 and not mode & 0o022, oct(mode)  # the owner's; nobody else writes there
    assert "exchange/" in (REPO_ROOT / ".gitignore").read_text().splitlines()


def test_a_hubs_exchange_is_left_alone(tmp_path, monkeypatch):
    config = _course_config(tmp_path / "course", monkeypatch, "c.Exchange.root = '/srv/shared/exchange'\n")
    assert "root" not in config.Exchange  # the hub's own config file sets it
    assert not (tmp_path / "course" / "exchange").exists()


def test_the_python3_kernel_runs_this_environment():
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    executable = spec.argv[0]
    if executable in ("python", "python3"):  # ipykernel's built-in spec means "this interpreter"
        executable = sys.executable
    assert Path(executable).resolve() == Path(sys.executable).resolve()


def test_ci_runs_make_test_with_the_mirror():
    script = REPO_ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    code = [line.strip() for line in script.read_text().splitlines() if line.strip() and not line.strip().startswith("#")]
    assert any(re.match(r"^(exec\s+)?make\s+test\b", line) for line in code), ".ci/run must call `make test`"
    assert any("../shared/data" in line for line in code) and any("COURSE_DATA_MIRROR" in line for line in code)


def test_make_test_sets_fast_mode_and_runs_pytest():
    result = subprocess.run(["make", "-n", "test"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^COURSE_FAST=1 OMP_NUM_THREADS=\S+ \S*python -m pytest", result.stdout, re.M), result.stdout
    # one thread per test process unless the caller says otherwise (2 workers x 2 threads thrash 2 cores)
    assert "OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}" in result.stdout, result.stdout


# --- README and docs/ ----------------------------------------------------------------------------


README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
def docs_text() -> str:
    """The README and every page under docs/, as one text: what a reader can find."""
    return "\n".join(p.read_text(encoding="utf-8") for p in [README, *sorted(DOCS.glob("*.md"))])


def readme_section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def test_readme_quick_start_is_exactly_make_lab_and_make_test():
    section = readme_section("Quick start")
    first_block = re.search(r"^```[^\n]*\n(.*?)^```", section, re.M | re.S)
    assert first_block, "the Quick start has no code block"
    commands = [line.strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["make lab", "make test"]
    assert "make lab LAB_ARGS=--no-browser" in section
    assert "conda env create -f environment.yml" in README.read_text(encoding="utf-8")


def test_readme_stays_short_and_points_to_each_docs_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 120, "keep the README short: move detail into docs/"
    for page in ("students", "instructors", "helpers", "sandbox", "data"):
        assert f"(docs/{page}.md" in text, f"the README does not link docs/{page}.md"
    instructors = readme_section("Instructors")
    assert re.findall(r"^### (.+)$", instructors, re.M) == ["Laptop", "One big box", "Cluster"]


def test_readme_lists_every_lecture():
    table = readme_section("The lectures")
    for notebook in sorted((REPO_ROOT / "lectures").glob("[0-9][0-9]_*.ipynb")):
        assert f"`{notebook.stem}`" in table and f"(lectures/{notebook.name})" in table, notebook.name


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_links_between_readme_and_docs_resolve():
    for page in [README, *sorted(DOCS.glob("*.md"))]:
        text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # a web address
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            assert linked.exists(), f"{page.name} links to {target}, which does not exist"
            if anchor and linked.suffix == ".md":
                headings = re.findall(r"^#+ (.+)$", linked.read_text(encoding="utf-8"), re.M)
                assert anchor in {_anchor(h) for h in headings}, f"{page.name} links to {target}: no such heading"


def test_docs_name_only_settings_the_code_reads():
    text = docs_text()
    sources = [*(REPO_ROOT / "helpers").glob("*.py"), *(REPO_ROOT / "grading").glob("*.py")]
    code = "\n".join(p.read_text(encoding="utf-8") for p in sources)
    code += (REPO_ROOT / "Makefile").read_text() + (REPO_ROOT / ".ci" / "run").read_text()
    for notebook in (REPO_ROOT / "lectures").glob("*.ipynb"):  # a lecture may read its own settings
        code += "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code")
    from grading.sandbox import SandboxConfig  # COURSE_SANDBOX_<NAME> sets the field <name> of SandboxConfig
    code += "\n".join(f"COURSE_SANDBOX_{f.upper()}" for f in SandboxConfig.__dataclass_fields__)
    for variable in sorted(set(re.findall(r"\bCOURSE_[A-Z_]+[A-Z]\b", text))):
        assert variable in code, f"README or docs/ mention {variable}, which nothing reads"
    for variable in ("COURSE_DATA_MIRROR", "COURSE_DATA_DIR", "COURSE_FAST", "COURSE_DEVICE", "TORCH_SPEC"):
        assert variable in text, f"neither the README nor docs/ explain {variable}"
    for variable in sorted(set(re.findall(r"\bmake \w+ ([A-Z_]+)=", text))):
        assert re.search(rf"^{variable}\s*\?=", (REPO_ROOT / "Makefile").read_text(), re.M), variable


def test_docs_list_each_data_set_with_its_canonical_url():
    import helpers.data as data

    text = (DOCS / "data.md").read_text(encoding="utf-8")
    for dataset in data.REGISTRY.values():
        assert f"`{dataset.name}`" in text
        for part in dataset.files.values():
            assert part.urls[0].replace("/test-", "/train-") in text, part.urls[0]  # the page gives test- as a variant
    assert "Maas" in text and "P11-1015" in text
