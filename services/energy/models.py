"""The models the energy module serves: Assessment field → serving class.

Each class reads its registered artifacts (gridtwin.registry) and answers whole batches
through the shared ServedModel interface (gridtwin.serving.model).
"""

from gridtwin.models import demand_response, energy_loss, load_forecast, power_flow_optimization
from gridtwin.serving.module import ModelFactory

FACTORIES: dict[str, ModelFactory] = {
    load_forecast.Model.name: load_forecast.Model,
    energy_loss.Model.name: energy_loss.Model,
    power_flow_optimization.Model.name: power_flow_optimization.Model,
    demand_response.Model.name: demand_response.Model,
}
