# Two entry points: `make demo` and `make test`, each from a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo test lint system-packages bench clean i18n-extract i18n-update i18n-compile

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip wheel
	$(PY) -m pip install -q -e '.[test,postgres,dev]'
	touch $(STAMP)

system-packages:
	./scripts/system-packages.sh

# Three test processes: most tests wait on real servers, so three keep two cores busy.
test: $(STAMP) system-packages
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -n 3

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

# Translations (docs/i18n.md): extract the marked strings into the two templates, merge
# them into every language's catalog, compile the .mo files that ship in the package.
PYBABEL := $(VENV)/bin/pybabel
I18N := ucmail_ext/translations
LANGUAGES ?= es pt

i18n-extract: $(STAMP)
	$(PYBABEL) -q extract -F babel.cfg -k lazy_gettext -k lazy_ngettext:1,2 -k N_ \
		--project=ucmail_ext --sort-by-file -o $(I18N)/ucmail.pot .
	$(PYBABEL) -q extract -F babel-js.cfg -k gettext -k ngettext:1,2 \
		--project=ucmail_ext --sort-by-file -o $(I18N)/ucmail_js.pot .

i18n-update: i18n-extract
	for lang in $(LANGUAGES); do for domain in ucmail ucmail_js; do \
		if [ -f $(I18N)/$$lang/LC_MESSAGES/$$domain.po ]; then \
			$(PYBABEL) -q update -D $$domain -i $(I18N)/$$domain.pot -d $(I18N) -l $$lang \
				--no-fuzzy-matching --ignore-obsolete; \
		else \
			$(PYBABEL) -q init -D $$domain -i $(I18N)/$$domain.pot -d $(I18N) -l $$lang; \
		fi; done; done

i18n-compile: $(STAMP)
	$(PYBABEL) -q compile -D ucmail -d $(I18N)
	$(PYBABEL) -q compile -D ucmail_js -d $(I18N)
