# Memory Machines: `make book` builds the book, `make test` runs the test suite.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JB_FLAGS := -W -n --keep-going

.PHONY: help venv book test test-fast browser-test clean student grade

help:
	@echo "make book   build the book at full budget into _build/html (FORCE=1 re-executes every notebook)"
	@echo "make test   unit tests, notebooks under nbval (smoke budget), strict book build, hygiene"
	@echo "make test-fast  the unit tests without the slow ones (about a minute), for the edit-run loop"
	@echo "make browser-test  open every page of the built book in headless Chromium (network blocked)"
	@echo "make clean  remove _build (keeps .venv)"
	@echo "make student  nbgrader's student edition into _build/student (notebooks, html), then the leak check"
	@echo "make grade SUBMISSIONS=dir  grade dir/<student>/<notebook>.ipynb into _build/grades (TIMEOUT=60 MEMORY=4G)"

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0] + "; run make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (rnnbook)" >/dev/null
	@touch $@

venv: $(STAMP)

# The full-budget build keeps its own execution cache in _build/.jupyter_cache; the smoke build
# in `make test` writes under _build/smoke so that the two never share cached outputs.
book: $(STAMP)
ifeq ($(FORCE),1)
	rm -rf _build/.jupyter_cache _build/html _build/jupyter_execute
endif
	RNNBOOK_SMOKE=0 RNNBOOK_PROGRESS=0 $(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "The book is in $(CURDIR)/_build/html: open file://$(CURDIR)/_build/html/index.html"

# Two pytest runs under one RNNBOOK_TEST_RUN token, each spread over JOBS xdist workers (one torch
# thread each): every notebook under nbval first, then the unit tests and (tests/test_book.py) a
# strict book build. The notebooks come first because the book build and the student-edition test
# reuse nbval's runs (see conftest.py), so each chapter is executed once; progress bars are off as
# in the book build, whose strict mode would reject their stderr. Each run prints its slowest tests.
JOBS ?= auto
# loadfile: a module's tests run in one worker, so its module-scoped fixtures (a book build, the
# student edition, a graded class) are made once, and a notebook's cells run in order in one kernel
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider -n $(JOBS) --dist loadfile
TEST_ENV := RNNBOOK_SMOKE=1 RNNBOOK_PROGRESS=0 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
test: $(STAMP)
	@export $(TEST_ENV) RNNBOOK_TEST_RUN=$$(date +%s%N)-$$$$; status=0; \
	echo "== notebooks under nbval"; \
	$(PYTEST) --nbval-lax --nbval-current-env --durations=5 notebooks || status=$$?; \
	echo "== tests"; \
	$(PYTEST) --durations=10 --ignore=tests/browser tests || status=$$?; \
	exit $$status

# The edit-run loop: the unit tests without the slow ones (marked slow: notebook execution, book
# builds, training runs, the no-shortcut sweep over every exercise); under a minute on two cores.
test-fast: $(STAMP)
	$(TEST_ENV) $(PYTEST) -m "not slow" --durations=5 --ignore=tests/browser tests

# Checks the full-budget book in Debian's Chromium; screenshots land in _build/screenshots.
browser-test: book
	@command -v chromium >/dev/null || { echo "installing Debian's chromium (needs root)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	$(BIN)/python -m pytest -p no:cacheprovider tests/browser

clean:
	rm -rf _build

# The student edition, made by nbgrader: notebooks with the answers removed, the student book built
# from them (SMOKE=1 for the smoke budget), and a check that no line of an answer is left anywhere.
student: $(STAMP)
	RNNBOOK_SMOKE=$(if $(SMOKE),$(SMOKE),0) RNNBOOK_PROGRESS=0 $(BIN)/python -m rnnbook.grading student --out _build/student

# Grades SUBMISSIONS/<student>/<notebook>.ipynb with nbgrader's autograder and the clean-room check;
# writes _build/grades/{grades,totals,flags}.csv and feedback/<student>/. Runs student code: see
# book/instructors.md (a container or VM).
TIMEOUT ?= 60
MEMORY ?= 4G
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir (dir/<student>/<notebook>.ipynb)"; exit 2; }
	RNNBOOK_SMOKE=1 $(BIN)/python -m rnnbook.grading grade "$(SUBMISSIONS)" --out _build/grades \
		--timeout $(TIMEOUT) --memory $(MEMORY)
