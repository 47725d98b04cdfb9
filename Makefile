# gridtwin: `make run` starts the whole mesh with a live feeder; `make test` runs the tests.
# Both create the virtual environment, install the pinned dependencies and generate the
# gRPC stubs first (each step runs only when its inputs changed).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard protos/gridtwin/v1/*.proto)
STUBS  := gridtwin/v1/.generated

.PHONY: setup poppler protos run test test-fast bench fuzz train certs lint format lock clean chromium vendor openapi screenshots

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

test: setup chromium
	@$(PY) -m pytest -q

test-fast: setup
	@$(PY) -m pytest -q -m "not mesh and not slow"

bench: setup
	@$(PY) -m bench.run
	@$(PY) -m bench.redis_memory
	@$(PY) -m bench.soak --duration-s $(or $(SOAK_S),600)

# Raw request bytes into a real server with the production guard and validation (hypothesis).
fuzz: setup
	@FUZZ_EXAMPLES=$(or $(FUZZ_EXAMPLES),20000) $(PY) -m pytest -q -p no:cacheprovider tests/fuzz

train: setup
	@$(PY) -m gridtwin.cli train --profile $(or $(PROFILE),quick)

# A development CA and one certificate per service under var/certs/ (docs/security.md).
certs: setup
	@$(PY) -m gridtwin.cli certs create --out var/certs

lint: setup
	@$(PY) -m ruff check .
	@$(PY) -m ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache  # the serving import contract (pyproject.toml)

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
	@$(PY) -m cli.screenshots

# Re-resolve requirements.in into exact pins.
lock:
	rm -rf /tmp/gridtwin-lock && $(PYTHON) -m venv /tmp/gridtwin-lock
	/tmp/gridtwin-lock/bin/pip install --quiet -r requirements.in
	/tmp/gridtwin-lock/bin/pip freeze --exclude-editable > requirements.lock

clean:
	rm -rf $(VENV) $(STUBS) gridtwin/v1/*_pb2*.py gridtwin/v1/*_pb2*.pyi

# ---- infra: the container image and the Kubernetes manifests (docs/deploy.md) ------------
# make image        build gridtwin:$(IMAGE_TAG) on BASE_IMAGE (a public Python 3.11 slim image)
# make image-models layer the registry `make train` wrote (MODELS_REGISTRY) onto it
#                   as gridtwin:$(IMAGE_TAG)-models
# make image-test   dockerd + a debootstrap base (no container registry needed), build the
#                   image on it, run every service from it with host networking and check
#                   health and one Assess (docker/image_test.sh)
# make k8s-validate render k8s/ with kustomize and validate every object (strict schemas of
#                   Kubernetes $(K8S_VERSION)) plus the security checks of the manifests
.PHONY: image image-models image-test k8s-validate serving-requirements

BASE_IMAGE  ?= python:3.11-slim
IMAGE       ?= gridtwin
IMAGE_TAG   ?= 0.1.0
K8S_VERSION ?= 1.33
MODELS_REGISTRY ?= registry
# Debian's docker.io has the classic builder only (no buildx): the Dockerfile needs nothing more.
DOCKER_BUILD := DOCKER_BUILDKIT=0 docker build

image: requirements-serving.lock
	$(DOCKER_BUILD) --build-arg BASE_IMAGE=$(BASE_IMAGE) -t $(IMAGE):$(IMAGE_TAG) .

image-models:
	@bash docker/build-models.sh $(IMAGE):$(IMAGE_TAG) $(IMAGE):$(IMAGE_TAG)-models $(MODELS_REGISTRY)

image-test: setup
	@bash docker/image_test.sh

k8s-validate: setup
	@K8S_VERSION=$(K8S_VERSION) $(PY) -m pytest -q -p no:cacheprovider tests/unit/test_k8s_manifests.py

# Regenerate requirements-serving.lock after `make lock` (a test fails while it is stale).
serving-requirements: setup
	@$(PY) docker/serving_requirements.py
