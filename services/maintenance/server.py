"""Maintenance module: serves equipment_failure, overload_risk, power_quality_index, voltage_sag.

Everything generic (registry loading, UNAVAILABLE for unregistered models, hot swap,
tracing per model) lives in gridtwin.serving; this file only says which models this module
serves and with what code.
"""

from gridtwin.core.server import ServiceSpec
from gridtwin.serving.app import module_spec
from gridtwin.v1 import services_pb2_grpc
from services.maintenance.models import FACTORIES


def spec() -> ServiceSpec:
    return module_spec(
        "maintenance",
        services_pb2_grpc.add_MaintenanceServicer_to_server,
        "gridtwin.v1.Maintenance",
        FACTORIES,
    )
