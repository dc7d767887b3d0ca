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
# Instructor commands (see the README): the assignment and extra grading flags.
ASSIGNMENT ?= sherlock_rnn_vs_gru
GRADE_ARGS ?=

PY    := $(VENV)/bin/python
# Jupyter refuses to run as root (containers, CI boxes) unless told it is deliberate.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
STAMP := $(VENV)/.course-installed

.PHONY: setup lab test release collect autograde feedback export grade clean-cache FORCE

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

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(LAB_ROOT) $(LAB_ARGS)

test: $(STAMP)
	COURSE_FAST=1 $(PY) -m pytest $(PYTEST_ARGS)

# --- instructors: release, collect, grade, give feedback, export --------------
release: $(STAMP)
	$(PY) -m helpers.grade release $(ASSIGNMENT) $(GRADE_ARGS)

collect: $(STAMP)
	$(PY) -m helpers.grade collect $(ASSIGNMENT) $(GRADE_ARGS)

autograde: $(STAMP)
	$(PY) -m helpers.grade autograde $(ASSIGNMENT) $(GRADE_ARGS)

feedback: $(STAMP)
	$(PY) -m helpers.grade feedback $(ASSIGNMENT) $(GRADE_ARGS)

export: $(STAMP)
	$(PY) -m helpers.grade export $(ASSIGNMENT) $(GRADE_ARGS)

# Feedback and grades are produced even when a submission could not be graded;
# the exit status still reports that failure.
grade: $(STAMP)
	@status=0; $(PY) -m helpers.grade autograde $(ASSIGNMENT) $(GRADE_ARGS) || status=$$?; \
	$(PY) -m helpers.grade feedback $(ASSIGNMENT) $(GRADE_ARGS) && \
	$(PY) -m helpers.grade export $(ASSIGNMENT) $(GRADE_ARGS) && exit $$status

clean-cache:
	rm -rf data/sherlock data/shakespeare data/imdb
