# Each target installs what it needs into .venv on first use (only Python 3.11 and make required).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: install test demo airflow compose-env clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(INSTALLED)

# Three workers, a test file each at a time (module fixtures stay in one process).
test: $(INSTALLED)
	$(PY) -m pytest -n 3 --dist loadfile

demo: $(INSTALLED)
	$(PY) scripts/demo.py

airflow: $(INSTALLED)
	$(PY) scripts/airflow_local.py

compose-env:
	$(PYTHON) scripts/compose_env.py

clean:
	rm -rf $(VENV) .demo .airflow .pytest_cache
