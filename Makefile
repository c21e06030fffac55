# Each target installs what it needs into .venv on first use (only Python 3.11 and make required).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
# The tests that need neither the local emulator nor Airflow's metadata DB (nor a browser, nor the compose stack).
FAST := not emulator and not airflow and not browser and not topology

.PHONY: install test test-fast check lint types docs demo airflow compose-env clean

install: $(INSTALLED)

# Three distributions from this repo: the rules (rules/), the emulator (local/) and the provider.
$(INSTALLED): pyproject.toml rules/pyproject.toml local/pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ./rules -e ./local -e '.[test,lint,docs]'
	touch $(INSTALLED)

# Four workers, a test file each at a time (module fixtures stay in one process): most tests wait on polls
# and processes, not the CPU, so four on two cores finish sooner than three; the slowest 15 are listed.
test: $(INSTALLED)
	$(PY) -m pytest -n 4 --dist loadfile --no-loadscope-reorder --durations=15

# Pure rules, state judgement, pricing, spec parsing, form schema: one process, no emulator, no DB.
test-fast: $(INSTALLED)
	$(PY) -m pytest -m "$(FAST)" -p no:xdist

check: lint types

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

types: $(INSTALLED)
	$(VENV)/bin/mypy

# Warnings are errors: a broken cross-reference or a docstring Sphinx cannot read fails the build.
docs: $(INSTALLED)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

demo: $(INSTALLED)
	$(PY) scripts/demo.py

airflow: $(INSTALLED)
	$(PY) scripts/airflow_local.py

compose-env:
	$(PYTHON) scripts/compose_env.py

clean:
	rm -rf $(VENV) .demo .airflow .pytest_cache .mypy_cache .ruff_cache docs/_build
