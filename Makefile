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
# Instructor commands (see the README): the assignment and extra grading flags.
ASSIGNMENT ?= sherlock_rnn_vs_gru
GRADE_ARGS ?=

PY    := $(VENV)/bin/python
# Jupyter refuses to run as root (containers, CI boxes) unless told it is deliberate.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
STAMP := $(VENV)/.course-installed

.PHONY: setup sandbox-deps lab test release collect autograde feedback export grade clean-cache FORCE

setup: $(STAMP)

# Re-install when the dependency list, this file or the torch requirement changes.
$(VENV)/.torch-spec: FORCE
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo '$(TORCH_SPEC)' | cmp -s - $@ || echo '$(TORCH_SPEC)' > $@

$(STAMP): pyproject.toml Makefile $(VENV)/.torch-spec
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet --editable .
	@touch $@

# Grading runs students' code inside bubblewrap (see helpers/sandbox.py). Install it where we
# can do so without asking: as root, or with password-less sudo, through apt-get.
sandbox-deps:
	@command -v bwrap >/dev/null 2>&1 || [ "$$(uname -s)" != Linux ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then SUDO=; \
	  elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; \
	  else echo "bubblewrap (bwrap) is missing; grading and its tests need it. Install it, e.g. 'sudo apt-get install bubblewrap'."; exit 0; fi; \
	  echo "Installing bubblewrap for sandboxed grading"; \
	  $$SUDO apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq bubblewrap; }; }

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(LAB_ROOT) $(LAB_ARGS)

test: $(STAMP) sandbox-deps
	COURSE_FAST=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

# --- instructors: release, collect, grade, give feedback, export --------------
release: $(STAMP)
	$(PY) -m helpers.grade release $(ASSIGNMENT) $(GRADE_ARGS)

collect: $(STAMP)
	$(PY) -m helpers.grade collect $(ASSIGNMENT) $(GRADE_ARGS)

autograde: $(STAMP) sandbox-deps
	$(PY) -m helpers.grade autograde $(ASSIGNMENT) $(GRADE_ARGS)

feedback: $(STAMP)
	$(PY) -m helpers.grade feedback $(ASSIGNMENT) $(GRADE_ARGS)

export: $(STAMP)
	$(PY) -m helpers.grade export $(ASSIGNMENT) $(GRADE_ARGS)

# Feedback and grades are produced even when a submission could not be graded;
# the exit status still reports that failure.
grade: $(STAMP) sandbox-deps
	@status=0; $(PY) -m helpers.grade autograde $(ASSIGNMENT) $(GRADE_ARGS) || status=$$?; \
	$(PY) -m helpers.grade feedback $(ASSIGNMENT) $(GRADE_ARGS) && \
	$(PY) -m helpers.grade export $(ASSIGNMENT) $(GRADE_ARGS) && exit $$status

clean-cache:
	rm -rf data/sherlock data/shakespeare data/imdb
