# The kit's commands. Every target sets up .venv first (only when requirements changed).
# No Docker, no root, no network beyond the package index.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && echo $$p && break; done)
VENV := .venv
PY := $(VENV)/bin/python
LAB_ARGS ?=
PYTEST_ARGS ?=
WITH_REDIS := $(PY) -m kit.redis_service run --

.PHONY: lab test setup setup-dev check-python clean help

help:
	@echo "make lab     JupyterLab on notebooks/, with a Redis found or started"
	@echo "make test    the whole test suite (project, notebooks, grader, browser)"

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

lab: setup
	$(WITH_REDIS) $(VENV)/bin/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

test: setup-dev
	$(WITH_REDIS) $(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
