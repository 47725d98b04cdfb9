# gridtwin: `make run` starts the whole mesh with a live feeder; `make test` runs the tests.
# Both create the virtual environment, install the pinned dependencies and generate the
# gRPC stubs first (each step runs only when its inputs changed).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/gridtwin/v1/*.proto)
STUBS  := gridtwin/v1/.generated

.PHONY: setup poppler protos run test test-fast bench train lint format lock clean

setup: $(STAMP) $(STUBS) poppler

# pdftoppm (poppler-utils) rasterises the report PDFs in the tests; installed only if absent.
poppler:
	@command -v pdftoppm >/dev/null 2>&1 || { echo "==> installing poppler-utils (pdftoppm)"; \
		$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo) apt-get install -y poppler-utils \
		|| echo "==> could not install poppler-utils: the PDF rasterising test will be skipped"; }

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

test: setup
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

# Re-resolve requirements.in into exact pins.
lock:
	rm -rf /tmp/gridtwin-lock && $(PYTHON) -m venv /tmp/gridtwin-lock
	/tmp/gridtwin-lock/bin/pip install --quiet -r requirements.in
	/tmp/gridtwin-lock/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) $(STUBS) gridtwin/v1/*_pb2*.py gridtwin/v1/*_pb2*.pyi
