# The two commands of the README: `make run` builds the pipeline, `make test` runs the tests.
# Both create .venv and install requirements.txt the first time.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export PYTHONUNBUFFERED := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install check run test gate bench dag serve browser-deps

$(VENV)/.installed: requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

install: $(VENV)/.installed

# DVC hashes download.folder.path before any stage runs and names no param when it fails:
# this check names the param (a missing folder, a dangling link inside it) first.
check: install
	python -m stages.download --check

run: check
	dvc repro

test: install
	python -m pytest -q tests

# the web app on http://127.0.0.1:8000 (after `make run`); HOST=0.0.0.0 PORT=... to change
HOST ?= 127.0.0.1
PORT ?= 8000
serve: install
	python -m skinlab.app --host $(HOST) --port $(PORT)

# headless Chromium and its driver for tests/app/test_browser.py (Debian packages; root or sudo)
browser-deps:
	.ci/browser-deps

# a fresh dvc repro of HEAD reproduces the committed metrics and does not regress (.ci/gate)
gate: install
	.ci/gate

bench: install
	for name in $(basename $(notdir $(wildcard bench/bench_*.py))); do echo "== $$name"; python -m bench.$$name || exit 1; done

dag: install
	dvc dag
