# One command each: set-up is part of every target, so a fresh machine needs nothing by hand.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: quickstart test test-min test-all bench install install-dev transformers-tests

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[dev,review,experts]"
	touch $@

# the quickstart's annotation and speech-out WER use the embedded model experts (PocketSphinx, Silero VAD)
$(VENV)/.installed-experts: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[experts]"
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# transformers' common test mixins, from the installed version's sdist (tests/transformers_common_tests.py)
transformers-tests: install-dev
	$(BIN)/python tests/transformers_common_tests.py

quickstart: $(VENV)/.installed-experts
	$(BIN)/uas-audio quickstart

test: install-dev transformers-tests
	$(BIN)/python -m pytest -q -m "not slow and not gpu"

# The same suite on the lowest releases pyproject admits (ci/lowest-versions.txt), in a venv of its own.
MIN_VENV := .venv-min
$(MIN_VENV)/.installed: pyproject.toml ci/lowest-versions.txt
	$(PY) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install -q --upgrade pip
	$(MIN_VENV)/bin/pip install -q torch==2.13.0
	$(MIN_VENV)/bin/pip install -q -e ".[dev,review,experts]" -c ci/lowest-versions.txt
	touch $@

test-min: $(MIN_VENV)/.installed
	$(MIN_VENV)/bin/python tests/transformers_common_tests.py
	$(MIN_VENV)/bin/python -m pytest -q -m "not slow and not gpu"

test-all: install-dev transformers-tests
	$(BIN)/python -m pytest -q

bench: install-dev
	$(BIN)/python benchmarks/run_all.py
