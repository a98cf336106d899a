# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STATUS_REPO ?= var/status.git
PORT        ?= 8080
SERVE_FOR   ?= 30
PYTEST_ARGS ?=
# setuptools tells on every editable install that folders named like a package may shadow it: here the one
# such folder (crosscloud/) is that package, so only that notice is silenced; any other warning shows.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation.:UserWarning" $(PY) -m pip install --quiet

.PHONY: run test tools lint bench clean typecheck-links

$(VENV)/.installed: pyproject.toml
	PYTHON=$(PYTHON) scripts/system-deps.sh run
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e '.[local]'
	touch $@

# The programs the tests run: Debian packages, terraform (HashiCorp's apt repository, key pinned by
# fingerprint), helm and kubectl (into $(VENV)/bin). Each step installs only what is missing.
define install-test-tools
	PYTHON=$(PYTHON) scripts/system-deps.sh test
	$(PYTHON) scripts/install-terraform.py
	$(PY) scripts/install-helm.py
endef

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[dev]'
	$(install-test-tools)
	touch $@

## tools: install what the tests run when it is missing, then check every tool (tests/helpers/required_tools.py):
##        one still missing fails, named with the way to get it
tools: $(VENV)/.installed-dev
	$(install-test-tools)
	$(PY) -m tests.helpers.required_tools

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
test: tools typecheck-links
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest $(PYTEST_ARGS)

typecheck-links:
	mkdir -p build/typecheck && ln -sfn ../../action build/typecheck/crosscloud_action && ln -sfn ../../app build/typecheck/crosscloud_app

## bench: the benchmarks under bench/, each prints JSON
bench: tools
	$(PY) bench/bench_writers.py
	$(PY) bench/bench_fanin.py
	$(PY) bench/bench_reader.py
	$(PY) bench/bench_action_overhead.py
	$(PY) bench/bench_run_matrix.py
	$(PY) bench/bench_faults.py
	$(PY) bench/bench_app.py
	$(PY) bench/bench_publish.py
	$(PY) bench/bench_insight.py
	$(PY) bench/bench_hostile.py
	$(PY) bench/bench_breadth.py

clean:
	rm -rf $(VENV) var build *.egg-info .pytest_cache .mypy_cache .ruff_cache
