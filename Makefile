# The two set-up commands are `make run` and `make test`; see README.md.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test lint bench chaos suitecrm-package os-deps services python-deps browser-deps php-test clean

$(STAMP): pyproject.toml
	@python3 -m venv --help >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq python3-venv)
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	@touch $@

python-deps: $(STAMP)

os-deps:
	@scripts/ensure-os-packages.sh

# playwright-core for the registration pages' browser test (it drives Debian's Chromium, never a downloaded one).
BROWSER_TEST := tests/registration/browser
$(BROWSER_TEST)/node_modules/.package-lock.json: $(BROWSER_TEST)/package-lock.json
	npm ci --prefix $(BROWSER_TEST) --no-audit --no-fund --loglevel=error

browser-deps: os-deps $(BROWSER_TEST)/node_modules/.package-lock.json

services:
	@scripts/ensure-services.sh

## make run: receiver + worker (+ SuiteCRM sandbox when SUITECRM_URL is unset) on embedded defaults.
run: python-deps
	$(VENV)/bin/crmsync run

## make test: installs what it needs, then runs every Python and PHP test.
test: python-deps os-deps browser-deps services
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory php-test

php-test: os-deps
	phpunit --configuration tests/php/phpunit.xml

lint: python-deps os-deps
	$(VENV)/bin/ruff check .
	@find moodle_plugin suitecrm_package -name '*.php' -print0 | xargs -0 -r -n1 php -l >/dev/null && echo "php -l: no syntax errors"

bench: python-deps services
	$(PY) -m bench

chaos: python-deps services
	$(PY) -m pytest tests/chaos --chaos-full -s -q -p no:cacheprovider

suitecrm-package: python-deps
	$(VENV)/bin/crmsync suitecrm-package --output dist/

clean:
	rm -rf $(VENV) var dist .pytest_cache
