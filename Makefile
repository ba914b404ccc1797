# The kit's commands. Every target sets up .venv first (only when requirements changed).
# No Docker, no root, no network beyond the package index.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
LAB_ARGS ?=
PYTEST_ARGS ?=
WITH_REDIS := $(PY) -m kit.serving.redis_service run --
# Jupyter refuses to run as root unless told (containers, CI machines).
LAB_ROOT := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test lint doctor demo bench bench-quick grade gradescope bench-grade starter lesson-stats setup setup-dev check-python clean help

help:
	@echo "make lab     JupyterLab on notebooks/, with a Redis found or started"
	@echo "make test    lint, then the whole test suite (project, notebooks, grader, browser)"
	@echo "make doctor  is this machine ready? OK/FAIL per requirement, each FAIL with the command that fixes it"
	@echo "make lint    ruff check and ruff format --check (settings in pyproject.toml)"
	@echo "make demo    instructor mode: live project, Redis, simulated devices; prints URLs and login"
	@echo "make bench   the kit (fast variant and step 3's design) vs both floors and the seed, also on three Redis shards: ratios, goals, docs/bench.md's table"
	@echo "make grade PROJECT=<dir> [OUT=<file>]   grade a project by the four steps: table + Gradescope results.json"
	@echo "make grade SUBMISSIONS=<dir>            grade a class (folders or zips): gradebook.csv + each results.json"
	@echo "make gradescope                         autograder.zip for Gradescope (setup.sh, run_autograder)"
	@echo "make starter DEST=<dir>                 the learner's copy: every solution region replaced by a TODO stub"
	@echo "make lesson-stats [LESSON_STATS_ARGS=--run]  each notebook's cells, words, hand calls, longest cell (and run time)"

check-python:
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.11 or newer is needed (python3.11, python3.12 or python3.13 on PATH)"; exit 1; fi

$(VENV)/.lab-installed: requirements.txt | check-python
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.lab-installed
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

setup: $(VENV)/.lab-installed
setup-dev: $(VENV)/.dev-installed

# PYTHONSTARTUP: a kernel restarted mid-notebook still writes project cells to their files (kit/lab/kernel_startup.py).
lab: setup
	PYTHONSTARTUP=$(CURDIR)/kit/lab/kernel_startup.py $(WITH_REDIS) $(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ROOT) $(LAB_ARGS)

# pytest-xdist: most tests wait on servers, sockets and timeouts, so more workers than cores pay off.
# A module's tests share a worker, the grader's self-test is spread (tests/conftest.py). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 4
test: setup-dev lint
	$(WITH_REDIS) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)
	@echo "The project's tests again, against the fast variant that make demo and compose serve (KIT_SERVED=fast):"
	$(WITH_REDIS) env KIT_SERVED=fast $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile tests/project $(PYTEST_ARGS)

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Runs before `make setup` too (then it says what to install), so it does not depend on setup.
doctor: check-python
	@if [ -x $(PY) ]; then $(PY) -m kit.doctor; else $(PYTHON) -m kit.doctor; fi

# kit/demo.py finds or starts its own Redis and stops everything it started on Ctrl-C.
DEMO_ARGS ?=
demo: setup
	$(PY) -m kit.demo $(DEMO_ARGS)

# The performance report (README: Bench). BENCH_ARGS e.g. --out FILE, --systems kit,floor.
BENCH_ARGS ?=
bench: setup-dev
	$(WITH_REDIS) $(PY) -m kit.bench --write-docs docs/bench.md --write-summary README.md $(BENCH_ARGS)

bench-quick: setup-dev
	$(WITH_REDIS) $(PY) -m kit.bench --quick $(BENCH_ARGS)

# Grading (docs/grading.md): a copy of each submission runs sandboxed (bubblewrap and/or an
# unprivileged user), its steps in parallel. Exit status 0 whenever grading finished.
#   make grade PROJECT=<dir> [OUT=results.json]       one project: a table and results.json
#   make grade SUBMISSIONS=<dir> [GRADES=<dir>]       a class: gradebook.csv and each results.json
OUT ?= results.json
GRADES ?=
grade: setup-dev
	@if [ -n "$(SUBMISSIONS)" ]; then \
	  $(PY) -m kit.grading.batch "$(SUBMISSIONS)" $(if $(GRADES),--grades "$(GRADES)"); \
	elif [ -n "$(PROJECT)" ]; then \
	  $(PY) -m kit.grading.grade "$(PROJECT)" --out "$(OUT)"; \
	else echo "usage: make grade PROJECT=<project dir> [OUT=results.json] | make grade SUBMISSIONS=<dir> [GRADES=<dir>]"; exit 2; fi

# Gradescope's autograder.zip: setup.sh and run_autograder around the kit (no reference solution).
gradescope: setup-dev
	$(PY) -m kit.grading.gradescope build --out autograder.zip

# Grading speed: the reference alone, then a class of 20 (printed figures, goals 12 s and 3 min).
BENCH_GRADE_ARGS ?=
bench-grade: setup-dev
	$(PY) -m kit.grading.speed_bench $(BENCH_GRADE_ARGS)

starter: setup
	@if [ -z "$(DEST)" ]; then echo "usage: make starter DEST=<new directory>"; exit 2; fi
	$(PY) -m kit.authoring.starter "$(DEST)"

# How heavy each notebook is, against the lesson's goals (kit/authoring/lesson_stats.py). --run also times them.
LESSON_STATS_ARGS ?=
lesson-stats: setup-dev
	$(PY) -m kit.authoring.lesson_stats $(LESSON_STATS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
