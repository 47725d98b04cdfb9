"""The models the decision module serves: Assessment field → serving class.

Each class reads its registered artifacts (gridtwin.registry) and answers whole batches
through the shared ServedModel interface (gridtwin.serving.model).
"""

from gridtwin.models import grid_stability, load_balancing, optimal_dispatch, reactive_power
from gridtwin.serving.module import ModelFactory

FACTORIES: dict[str, ModelFactory] = {
    reactive_power.Model.name: reactive_power.Model,
    load_balancing.Model.name: load_balancing.Model,
    grid_stability.Model.name: grid_stability.Model,
    optimal_dispatch.Model.name: optimal_dispatch.Model,
}
