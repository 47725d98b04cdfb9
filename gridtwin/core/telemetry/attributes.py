"""The attribute names every span and metric of the mesh uses (one list, so dashboards and
trace queries never have to guess between `model` and `model.name`).

OpenTelemetry semantic conventions where one exists (rpc.*, db.*), `gridtwin.`-free short
names for the project's own concepts. docs/observability.md lists them with their meaning.
"""

from __future__ import annotations

# RPCs (OpenTelemetry semantic conventions for gRPC).
RPC_SYSTEM = "rpc.system"  # always "grpc"
RPC_SERVICE = "rpc.service"  # "gridtwin.v1.Ingest"
RPC_METHOD = "rpc.method"  # "Ingest"
RPC_STATUS_CODE = "rpc.grpc.status_code"  # status name on metrics ("OK"), number on spans

# Redis round trips (db.* conventions).
DB_SYSTEM = "db.system"  # always "redis"
DB_OPERATION = "db.operation"  # what the round trip does: "dedup claim", "rolling window update"

# Batches.
BATCH_SIZE = "batch.size"  # items in the batch handled by the span
BATCH_ACCEPTED = "batch.accepted"  # items that passed ingest

# Models.
MODEL_NAME = "model.name"  # Assessment field, e.g. "voltage_anomaly"
MODEL_VERSION = "model.version"  # registry content-hash version
MODEL_ALGORITHM = "model.algorithm"
MODEL_DURATION_MS = "model.duration_ms"  # prepare+predict time of the batch, ms
MODEL_STATUS = "model.status"  # ModelStatus name: OK, DEGRADED, UNAVAILABLE, FAILED
MODEL_SEVERITY = "model.severity"  # Severity name

# Features.
FEATURE_NAME = "feature.name"

# Security (set on the SERVER span of the gateway when auth is on).
ENDUSER_ID = "enduser.id"  # the token's subject
ENDUSER_ROLE = "enduser.role"  # viewer, analyst, operator, admin
