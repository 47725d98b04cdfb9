"""Decision module: serves reactive_power, load_balancing, grid_stability, optimal_dispatch.

Everything generic (registry loading, UNAVAILABLE for unregistered models, hot swap,
tracing per model) lives in gridtwin.serving; this file only says which models this module
serves and with what code.
"""

from gridtwin.core.server import ServiceSpec
from gridtwin.serving.app import module_spec
from gridtwin.v1 import services_pb2_grpc
from services.decision.models import FACTORIES


def spec() -> ServiceSpec:
    return module_spec(
        "decision", services_pb2_grpc.add_DecisionServicer_to_server, "gridtwin.v1.Decision", FACTORIES
    )
