# One image for every gridtwin service; the container command picks the service:
#   python -m gateway | services.ingest | services.features | services.monitoring
#   | services.maintenance | services.energy | services.decision | services.history | services.web
#
# Serving only: the pins of requirements-serving.lock (generated from requirements.lock by
# docker/serving_requirements.py; no TensorFlow, PyTorch, ONNX converters, test or lint
# tools). Models are not trained here: the registry at /app/registry is empty, and every
# model answers UNAVAILABLE until one is added, either baked in with `make image-models`
# (a layer with the registry that `make train` wrote) or mounted at /app/registry.
#
# Stages:
#   build    venv at /opt/venv with the serving pins, the code, the gRPC stubs generated
#            from protos/, everything compiled to bytecode
#   runtime  BASE_IMAGE + the venv and /app from build, numeric non-root user 10001; writes
#            only to /tmp and /app/var (emptyDir volumes on Kubernetes, whose root
#            filesystem is read-only)
#
# Build: make image                     (BASE_IMAGE=python:3.11-slim, a public image)
#        make image BASE_IMAGE=...      (any Debian-like image with python3.11 + venv)
# No `# syntax=` line and no BuildKit-only features: the classic builder of Debian's
# docker.io builds it too, and nothing but BASE_IMAGE is pulled from a container registry.

ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
COPY requirements-serving.lock /tmp/requirements-serving.lock
# Wheels only: the image has no compiler, and a source build would be a silent surprise.
RUN pip install --no-cache-dir --only-binary=:all: -r /tmp/requirements-serving.lock
WORKDIR /app
COPY pyproject.toml ./
COPY protos/ protos/
COPY gridtwin/ gridtwin/
# The stubs are generated here (the checked-out *_pb2*.py are excluded by .dockerignore).
RUN python -m gridtwin.protogen
COPY services/ services/
COPY gateway/ gateway/
COPY gridsim/ gridsim/
# The exec health probe of the Kubernetes manifests (native gRPC probes cannot speak TLS).
COPY docker/grpc_probe.py grpc_probe.py
# The root filesystem is read-only at run time, so bytecode must be in the image;
# unchecked-hash .pyc files stay valid whatever the file timestamps become.
RUN python -m compileall -q --invalidation-mode unchecked-hash gridtwin services gateway gridsim grpc_probe.py \
 && mkdir -p /app/registry /app/var

# ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    GRIDTWIN_REGISTRY=/app/registry \
    HOME=/tmp \
    TMPDIR=/tmp \
    MPLCONFIGDIR=/tmp/matplotlib \
    XDG_CACHE_HOME=/tmp/.cache
# libgomp1: the OpenMP runtime the xgboost wheel links against (python:3.11-slim lacks it;
# the debootstrap base of `make image-test` has it already, so no network is needed there).
# The user is written directly: minimal bases have no useradd.
RUN if ! ldconfig -p | grep -q 'libgomp\.so\.1'; then \
        apt-get update && apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
 && echo 'gridtwin:x:10001:' >> /etc/group \
 && echo 'gridtwin:x:10001:10001:gridtwin:/tmp:/usr/sbin/nologin' >> /etc/passwd
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
# Numeric so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
# gRPC: gateway 50051, ingest 50052, features 50053, monitoring 50054, maintenance 50055,
# energy 50056, decision 50057, history 50058; web (HTTP) 8080; Prometheus /metrics on
# METRICS_PORT (9464 on Kubernetes).
EXPOSE 50051 50052 50053 50054 50055 50056 50057 50058 8080 9464
CMD ["python", "-m", "gateway"]
