# gridtwin: `make run` starts the whole mesh with a live feeder; `make test` runs the tests.
# Both create the virtual environment, install the pinned dependencies and generate the
# gRPC stubs first (each step runs only when its inputs changed).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/gridtwin/v1/*.proto)
STUBS  := gridtwin/v1/.generated

.PHONY: setup protos run test test-fast bench train lint format lock clean chromium vendor openapi screenshots

setup: $(STAMP) $(STUBS)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required"'
	@echo "==> creating $(VENV) and installing pinned dependencies (about a minute)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --disable-pip-version-check --progress-bar on -r requirements.lock
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

# Stubs: grpcio-tools compiles protos/ into gridtwin/v1 (google/rpc protos come from
# googleapis-common-protos in the venv).
$(STUBS): $(PROTOS) $(STAMP)
	@echo "==> generating gRPC stubs from protos/"
	@$(PY) -m gridtwin.protogen
	@touch $@

protos: $(STUBS)

run: setup
	@$(PY) -m gridtwin.launcher

test: setup chromium
	@$(PY) -m pytest -q

test-fast: setup
	@$(PY) -m pytest -q -m "not mesh and not slow"

bench: setup
	@$(PY) -m bench.run

train: setup
	@$(PY) -m gridtwin.cli train --profile $(or $(PROFILE),quick)

lint: setup
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .

format: setup
	@$(PY) -m ruff format .
	@$(PY) -m ruff check --fix .

# Debian's chromium for the dashboard's browser test (Playwright drives it; no browser download).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x $(CHROMIUM) || { echo "==> installing Debian's chromium (browser test)"; \
	  $(SUDO) apt-get install -y chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }; }

# The dashboard's charting library, vendored from the npm registry (committed with its licence).
UPLOT_VERSION ?= 1.6.32
VENDOR := services/web/static/vendor
vendor:
	rm -rf /tmp/gridtwin-vendor && mkdir -p /tmp/gridtwin-vendor
	cd /tmp/gridtwin-vendor && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null && tar xzf uplot-$(UPLOT_VERSION).tgz
	mkdir -p $(VENDOR)/uplot
	cp /tmp/gridtwin-vendor/package/dist/uPlot.iife.min.js /tmp/gridtwin-vendor/package/dist/uPlot.min.css \
	  /tmp/gridtwin-vendor/package/LICENSE $(VENDOR)/uplot/
	echo "uplot $(UPLOT_VERSION) (npm), fetched by make vendor" > $(VENDOR)/uplot/VERSION

# The web service's OpenAPI document, committed at docs/openapi.json (a test compares it).
openapi: setup
	@$(PY) -m services.web.openapi

# Dashboard screenshots in docs/ from the live mesh (uses the models in registry/).
screenshots: setup chromium
	@$(PY) -m gridtwin.web.screenshots

# Re-resolve requirements.in into exact pins.
lock:
	rm -rf /tmp/gridtwin-lock && $(PYTHON) -m venv /tmp/gridtwin-lock
	/tmp/gridtwin-lock/bin/pip install --quiet -r requirements.in
	/tmp/gridtwin-lock/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) $(STUBS) gridtwin/v1/*_pb2*.py gridtwin/v1/*_pb2*.pyi
