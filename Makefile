# rnn-course: `make lab` opens the course, `make test` checks all of it.
# Both set up .venv first; that step is skipped when nothing changed.

PYTHON     ?= python3
VENV       ?= .venv
# The torch requirement, installed before the course. On Linux PyPI's torch
# wheels carry CUDA; CI and CPU-only machines can ask for a CPU build, e.g.
#   make test TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
LAB_ARGS   ?=
PYTEST_ARGS ?=
# Test processes side by side; each test file or notebook stays in one (0: no parallelism).
TEST_WORKERS ?= 2
# Threads per test process (and its kernels): 2 workers x 2 torch threads on 2 cores made OpenMP threads
# spin against each other (lecture 05's fast training ran into its time caps). An OMP_NUM_THREADS you set wins.
TEST_THREADS ?= 1
# instructors-only
# Instructor commands (see the README): the lab (`all`: every lab, each in turn; collect takes one lab, or all
# with GRADE_ARGS=--exchange) and extra grading flags.
ASSIGNMENT ?= all
GRADE_ARGS ?=
# /instructors-only

PY    := $(VENV)/bin/python
# Jupyter refuses to run as root (containers, CI boxes) unless told it is deliberate.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
STAMP := $(VENV)/.course-installed
DEV_STAMP := $(VENV)/.course-installed-dev
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.d/rnn-course.json

.PHONY: setup setup-dev system-deps sandbox-deps lab test html clean-cache FORCE
# instructors-only
.PHONY: test-scale hub-deps release collect autograde feedback export grade student-edition
# /instructors-only

# Students: the course and what the lectures and the lab need.
setup: $(STAMP) $(LAB_OVERRIDES)
# Instructors and tests: also the grading and test extras (pyproject.toml).
setup-dev: $(DEV_STAMP) $(LAB_OVERRIDES)

# Re-install when the dependency list, this file or the torch requirement changes.
$(VENV)/.torch-spec: FORCE
	@test -x $(PY) || { echo "Creating the course's virtual environment in $(VENV)/"; $(PYTHON) -m venv $(VENV); }
	@echo '$(TORCH_SPEC)' | cmp -s - $@ || echo '$(TORCH_SPEC)' > $@

# setuptools ends every editable install with an "Editable installation ... be careful with folders of
# the same name" box. It is information only (this layout has no such folder), so it is filtered out.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation:UserWarning"

$(STAMP): pyproject.toml Makefile $(VENV)/.torch-spec
	@$(PY) -m pip install --quiet --upgrade pip
	@echo "Installing $(TORCH_SPEC) (the first time this downloads up to a few GB and takes minutes;"
	@echo "  on a laptop without an NVIDIA GPU the CPU build is far smaller:"
	@echo "  make lab TORCH_SPEC=\"torch --index-url https://download.pytorch.org/whl/cpu\")"
	@$(PY) -m pip install --quiet --progress-bar on $(TORCH_SPEC)
	@echo "Installing the course and its libraries (Jupyter, nbgrader, matplotlib, statsmodels, ...)"
	@$(QUIET_EDITABLE) $(PY) -m pip install --quiet --editable .
	@touch $@

# The course's JupyterLab defaults (no news pop-up, no update check): JupyterLab merges every file in
# <env>/share/jupyter/lab/settings/overrides.d/. pip's editable install skips data files, so the file is
# copied here; a plain `pip install .` (a JupyterHub image, say) installs it through pyproject.toml.
$(LAB_OVERRIDES): jupyter-config/overrides.d/rnn-course.json $(STAMP)
	@mkdir -p $(@D) && cp $< $@

$(DEV_STAMP): $(STAMP)
	@echo "Installing the grading and test extras (dask, psycopg, pytest, nbval, playwright)"
	@$(QUIET_EDITABLE) $(PY) -m pip install --quiet --editable '.[grading,test]'
	@touch $@

# System programs from Debian packages, installed where we can do so without asking (as root,
# or with password-less sudo): bubblewrap for sandboxed grading; for the tests also Chromium
# (the browser tests) and PostgreSQL (the server gradebook tests). Elsewhere: say what is missing.
# instructors-only
SYSTEM_PACKAGES ?= bubblewrap chromium postgresql
# /instructors-only
SYSTEM_PACKAGES ?=
system-deps:
	@missing=; for p in $(SYSTEM_PACKAGES); do \
	  case $$p in bubblewrap) c=bwrap;; chromium) c=chromium;; postgresql) c=pg_ctlcluster;; *) c=$$p;; esac; \
	  command -v $$c >/dev/null 2>&1 || [ -x /usr/bin/$$c ] || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || [ "$$(uname -s)" != Linux ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then SUDO=; \
	  elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "Missing system packages:$$missing (install them, e.g. 'sudo apt-get install$$missing'); the tests that need them are skipped."; exit 0; fi; \
	  echo "Installing system packages:$$missing"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }; }

# Grading needs only bubblewrap.
sandbox-deps:
	@$(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES=bubblewrap

# .venv/bin on PATH: formgrader runs `alembic` from there (it failed with FileNotFoundError without it).
lab: $(STAMP) $(LAB_OVERRIDES)
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter lab --notebook-dir=. $(LAB_ROOT) $(LAB_ARGS)

# make test: every test and notebook in fast mode, but for the tests marked scale.
test: $(DEV_STAMP) $(LAB_OVERRIDES) system-deps
	COURSE_FAST=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$(TEST_THREADS)} $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope -m "not scale" $(PYTEST_ARGS)

# instructors-only
# The JupyterHub deployment's own environment, for its tests (tests/test_hub*.py): what deploy/hub's set-up
# builds in /opt/rnn-course/venv. Every hub user runs it, so it comes from a Python any user may run (pyenv's
# lives in root's private home) and holds the course itself, not a link to this checkout (not editable);
# it is re-installed when the course's code changes. The hub's proxy comes from npm, as JupyterHub's docs say.
HUB_PYTHON ?= /usr/bin/python3
HUB_VENV   ?= .venv-hub
HUB_STAMP  := $(HUB_VENV)/.course-installed
hub-deps: $(HUB_STAMP)
	@command -v configurable-http-proxy >/dev/null 2>&1 || { \
	  command -v npm >/dev/null 2>&1 || $(MAKE) --no-print-directory system-deps SYSTEM_PACKAGES=npm; \
	  echo "Installing configurable-http-proxy (npm install -g)"; npm install -g --silent configurable-http-proxy; }

$(HUB_STAMP): pyproject.toml Makefile $(shell find helpers grading -name '*.py' 2>/dev/null)
	@test -x $(HUB_VENV)/bin/python || { echo "Creating the hub's course environment in $(HUB_VENV)/ (from $(HUB_PYTHON))"; \
	  $(HUB_PYTHON) -m venv $(HUB_VENV); }
	$(HUB_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(HUB_VENV)/bin/python -m pip install --quiet $(TORCH_SPEC)
	$(HUB_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps .
	$(HUB_VENV)/bin/python -m pip install --quiet '.[grading,hub]'
	@rm -rf build
	@touch $@

# make test-scale: the whole-class grading suites and browser walk-throughs (tests marked scale).
# With a real JupyterHub (hub-deps). CI (.ci/run) runs both on the newest Python the README allows and make
# test on the oldest.
test-scale: $(DEV_STAMP) $(LAB_OVERRIDES) system-deps hub-deps
	COURSE_FAST=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$(TEST_THREADS)} $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope -m scale $(PYTEST_ARGS)

# --- instructors: release, collect, grade, give feedback, export --------------
release: $(DEV_STAMP)
	$(PY) -m grading release $(ASSIGNMENT) $(GRADE_ARGS)

collect: $(DEV_STAMP)
	$(PY) -m grading collect $(ASSIGNMENT) $(GRADE_ARGS)

autograde: $(DEV_STAMP) sandbox-deps
	$(PY) -m grading autograde $(ASSIGNMENT) $(GRADE_ARGS)

feedback: $(DEV_STAMP)
	$(PY) -m grading feedback $(ASSIGNMENT) $(GRADE_ARGS)

export: $(DEV_STAMP)
	$(PY) -m grading export $(ASSIGNMENT) $(GRADE_ARGS)

# autograde; then feedback and export, unless written parts still need grading by hand
# (then it says so and stops: students must not get grades with those points at 0).
grade: $(DEV_STAMP) sandbox-deps
	$(PY) -m grading grade $(ASSIGNMENT) $(GRADE_ARGS)

# The student edition (no solutions/, hidden tests or grading) for the repository students clone.
STUDENT_EDITION ?= ../rnn-course-students
student-edition: $(DEV_STAMP)
	$(PY) -m grading publish --to $(STUDENT_EDITION)
# /instructors-only

# Accessible HTML (WCAG 2.1 AA, offline, math as MathML) of the lectures and the released lab, one file per
# notebook, for an LMS or a website; it names every figure that still lacks a description (docs/accessibility.md).
HTML_SOURCES ?= lectures assignments
HTML_DIR ?= build/html
html: $(STAMP)
	$(PY) -m helpers.export $(HTML_SOURCES) --to $(HTML_DIR)

clean-cache:
	rm -rf data/sherlock data/shakespeare data/imdb
