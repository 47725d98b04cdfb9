# syntax=docker/dockerfile:1
#
# One image for every gridtwin service; the container command picks the service:
#   python -m gateway | services.ingest | services.features | services.monitoring
#   | services.maintenance | services.energy | services.decision
#
# Stages:
#   deps     pinned dependencies (requirements.lock) in a venv at /opt/venv
#   build    the code plus the gRPC stubs generated from protos/, compiled to bytecode
#   trainer  `gridtwin train --profile $TRAIN_PROFILE` -> /app/registry (models baked in)
#   runtime  slim image: venv + code + registry, numeric non-root user, nothing written
#            outside /tmp (mounted as an emptyDir on Kubernetes, read-only root filesystem)
#
# Build:  docker build -t gridtwin:0.1.0 .
#         docker build --build-arg TRAIN_PROFILE=full -t gridtwin:0.1.0-full .

ARG PYTHON_IMAGE=python:3.11-slim
ARG TRAIN_PROFILE=quick

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
RUN pip install --no-cache-dir -r /tmp/requirements.lock

# ---------------------------------------------------------------------------------------
FROM deps AS build
WORKDIR /app
COPY pyproject.toml ./
COPY protos/ protos/
COPY gridtwin/ gridtwin/
# The stubs are generated here (the checked-out *_pb2*.py are excluded by .dockerignore).
RUN python -m gridtwin.protogen
COPY services/ services/
COPY gateway/ gateway/
COPY gridsim/ gridsim/
COPY training/ training/
# The root filesystem is read-only at run time, so bytecode must be in the image;
# unchecked-hash .pyc files stay valid whatever the file timestamps become.
RUN python -m compileall -q --invalidation-mode unchecked-hash gridtwin services gateway gridsim training

# ---------------------------------------------------------------------------------------
FROM build AS trainer
ARG TRAIN_PROFILE
# Writes the registry plus the simulator dataset (data/), work files (var/) and reports
# (docs/models/) inside this stage only; the runtime stage copies the registry alone.
RUN mkdir -p /app/registry \
 && python -m gridtwin.cli train --profile "${TRAIN_PROFILE}" --registry /app/registry

# ---------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
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
RUN groupadd --system --gid 10001 gridtwin \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin gridtwin
WORKDIR /app
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /app /app
COPY --from=trainer /app/registry /app/registry
# Numeric so that Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 10001:10001
# gateway 50051, ingest 50052, features 50053, monitoring 50054, maintenance 50055,
# energy 50056, decision 50057 (gridtwin.core.config.DEFAULT_PORTS)
EXPOSE 50051 50052 50053 50054 50055 50056 50057
CMD ["python", "-m", "gateway"]
