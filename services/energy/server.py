"""Energy module: serves load_forecast, energy_loss, power_flow_optimization, demand_response.

Everything generic (registry loading, UNAVAILABLE for unregistered models, hot swap,
tracing per model) lives in gridtwin.serving; this file only says which models this module
serves and with what code.
"""

from gridtwin.core.server import ServiceSpec
from gridtwin.serving.app import module_spec
from gridtwin.v1 import services_pb2_grpc
from services.energy.models import FACTORIES


def spec() -> ServiceSpec:
    return module_spec(
        "energy", services_pb2_grpc.add_EnergyServicer_to_server, "gridtwin.v1.Energy", FACTORIES
    )
