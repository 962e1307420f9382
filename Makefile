# Two commands on a fresh machine: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench screenshot clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(STAMP)
	$(PY) main.py $(ARGS)

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) bench/queue.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/commands.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/startup.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/sync.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/sync.py --sqlite --writers sql
	QT_QPA_PLATFORM=offscreen $(PY) bench/catchup.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/routing.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/audit.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/mitigations.py
	QT_QPA_PLATFORM=offscreen $(PY) bench/telemetry.py

screenshot: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) main.py screenshot --out screenshot.png $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
