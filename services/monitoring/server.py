"""Monitoring module: serves voltage_anomaly, harmonic_analysis, frequency_stability, phase_imbalance.

Everything generic (registry loading, UNAVAILABLE for unregistered models, hot swap,
tracing per model) lives in gridtwin.serving; this file only says which models this module
serves and with what code.
"""

from gridtwin.core.server import ServiceSpec
from gridtwin.serving.app import module_spec
from gridtwin.v1 import services_pb2_grpc
from services.monitoring.models import FACTORIES


def spec() -> ServiceSpec:
    return module_spec(
        "monitoring", services_pb2_grpc.add_MonitoringServicer_to_server, "gridtwin.v1.Monitoring", FACTORIES
    )
