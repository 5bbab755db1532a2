# Two entry points: `make demo` and `make test`, each from a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint system-packages bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	$(PY) -m pip install -q -e '.[test,postgres,dev]'
	touch $(STAMP)

system-packages:
	./scripts/system-packages.sh

test: $(STAMP) system-packages
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# The demo needs the runtime and its local mail server only (no test or dev tools).
$(DEMO_STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	$(PY) -m pip install -q -e '.[demo]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(PY) -m example_host_app.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(STAMP) system-packages
	$(PY) -m bench all

clean:
	rm -rf $(VENV) build *.egg-info demo-data
