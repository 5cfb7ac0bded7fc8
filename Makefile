# Two commands: `make serve` to preview the site, `make test` to run everything CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Written last by the install: reinstall when requirements.txt changes.
INSTALLED := $(VENV)/.installed
PAGE ?=
# 0.6 s off each build; why in tests/harness/environment.py (FAST_BUILD), which sets it for the tests.
export NBCONVERT_DISABLE_CONFIG_EXPORTERS := 1

.PHONY: serve test check build bench outputs capstone lock upgrade vendor clean

# --dirty: after an edit, rebuild only the changed page (a full build takes ~4 s).
serve: $(INSTALLED)
	$(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000 --livereload --dirty

test: $(INSTALLED) node_modules/.installed
	$(BIN)/pytest

# One page's code blocks and shown outputs: `make check PAGE=module-5.2` (a substring of its path).
check: $(INSTALLED)
	$(BIN)/pytest tests/test_codeblocks.py -k "$(or $(PAGE),$(error set PAGE, e.g. make check PAGE=module-5.2))"

build: $(INSTALLED)
	$(BIN)/mkdocs build --strict --site-dir site

bench: $(INSTALLED) node_modules/.installed
	$(BIN)/python -m tests.bench

# Rewrite shown outputs and lab notebooks from a real run: `make outputs PAGE=module-5.2`.
# Only the tests that rewrite files run (marked writes_outputs), not the notebooks' execution.
outputs: $(INSTALLED)
	$(BIN)/pytest tests/test_codeblocks.py tests/test_labs.py -m writes_outputs --update-outputs $(if $(PAGE),-k "$(PAGE)")

# The whole loop of the course on this machine (docs/capstone.md), in a temporary folder: prints
# its timeline and PASS, or fails.
capstone: $(INSTALLED)
	cd "$$(mktemp -d)" && $(CURDIR)/$(BIN)/python $(CURDIR)/snippets/labs/capstone.py | tee capstone.out && grep -qx PASS capstone.out

# Re-pin requirements.txt and requirements-learner.txt from the .in files, in a throwaway venv
# (other pins kept when they still fit). Rules in .ci/pins.py.
lock:
	$(PYTHON) .ci/pins.py lock

# Move every pin to the newest release the index serves, relock, reinstall, `make outputs`, run the
# suite (UPGRADE_TESTS: pytest arguments, default all of it) and write a report for the pull
# request. Exits 1 when the suite fails; `git diff` shows everything it changed.
UPGRADE_REPORT ?= test-artifacts/upgrade-report.md
UPGRADE_TESTS ?=
upgrade: node_modules/.installed
	$(PYTHON) .ci/pins.py upgrade --report $(UPGRADE_REPORT) -- $(UPGRADE_TESTS)

$(INSTALLED): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The pins, and the running example as an editable package (`import cardfraud` in any process of the venv).
	$(BIN)/pip install --quiet -r requirements.txt -e .
	# Until 2026-12 the Makefile made cardfraud importable with this file; the package does it now.
	rm -f $(VENV)/lib/python*/site-packages/mlops-course-snippets.pth
	# Uninstall what the lock no longer lists, so the venv is the lock.
	$(BIN)/python .ci/pins.py sync requirements.txt
	touch $@

# axe-core and Lighthouse for the browser tests, mermaid and iframe-worker for `make vendor`.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Refresh the JavaScript the site serves from the versions pinned in package.json.
vendor: node_modules/.installed
	cp node_modules/mermaid/dist/mermaid.min.js node_modules/mermaid/LICENSE docs/assets/vendor/mermaid/
	cp node_modules/iframe-worker/shim/index.js docs/assets/vendor/iframe-worker/shim.js
	cp node_modules/iframe-worker/LICENSE docs/assets/vendor/iframe-worker/

clean:
	rm -rf site $(VENV) .pytest_cache test-artifacts node_modules
