# labelsite: `make run` starts the demo, `make test` runs every test. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?= -n 2

.PHONY: run test lint format bench clean

$(VENV)/.installed: requirements.lock
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

run: $(VENV)/.installed
	$(PY) scripts/run_demo.py

test: $(VENV)/.installed
	@scripts/ensure-chromium
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(VENV)/.installed
	$(PY) bench/sandbox.py
	$(PY) bench/sync.py
	$(PY) bench/labels_page.py --no-postgres
	$(PY) bench/segments.py
	$(PY) bench/living.py

clean:
	rm -rf $(VENV) var db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .ruff_cache
