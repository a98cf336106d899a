# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STATUS_REPO ?= var/status.git
PORT        ?= 8080
SERVE_FOR   ?= 30

.PHONY: run test lint bench clean typecheck-links

$(VENV)/.installed: pyproject.toml
	PYTHON=$(PYTHON) scripts/system-deps.sh run
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[local]'
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	PYTHON=$(PYTHON) scripts/system-deps.sh test
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) scripts/install-helm.py
	touch $@

## run: set up, create the embedded status repository if missing, run the default matrix, show the grid, then
##      serve the dashboard on http://127.0.0.1:$(PORT)/ until Ctrl-C (without a terminal: for $(SERVE_FOR) s)
run: $(VENV)/.installed
	$(VENV)/bin/crosscloud init --repo $(STATUS_REPO) --exist-ok --update-config
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/crosscloud run --repo $(STATUS_REPO) --jobs 2; \
	  status=$$?; $(VENV)/bin/crosscloud status --repo $(STATUS_REPO); \
	  if [ -t 0 ]; then stop=""; else stop="--stop-after $(SERVE_FOR)"; fi; \
	  $(VENV)/bin/crosscloud serve --repo $(STATUS_REPO) --mirror-dir var/app --port $(PORT) $$stop; \
	  exit $$status

## test: set up what the tests need and run the whole suite (lint and type checks included)
test: $(VENV)/.installed-dev typecheck-links
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

typecheck-links:
	mkdir -p build/typecheck && ln -sfn ../../action build/typecheck/crosscloud_action && ln -sfn ../../app build/typecheck/crosscloud_app

## bench: the benchmarks under bench/, each prints JSON
bench: $(VENV)/.installed-dev
	$(PY) bench/bench_writers.py
	$(PY) bench/bench_fanin.py
	$(PY) bench/bench_reader.py
	$(PY) bench/bench_action_overhead.py
	$(PY) bench/bench_run_matrix.py
	$(PY) bench/bench_faults.py
	$(PY) bench/bench_app.py
	$(PY) bench/bench_insight.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
