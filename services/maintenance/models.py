"""The models the maintenance module serves: Assessment field → serving class.

Each class reads its registered artifacts (gridtwin.registry) and answers whole batches
through the shared ServedModel interface (gridtwin.serving.model).
"""

from gridtwin.models import equipment_failure, overload_risk, power_quality_index, voltage_sag
from gridtwin.serving.module import ModelFactory

FACTORIES: dict[str, ModelFactory] = {
    equipment_failure.Model.name: equipment_failure.Model,
    overload_risk.Model.name: overload_risk.Model,
    power_quality_index.Model.name: power_quality_index.Model,
    voltage_sag.Model.name: voltage_sag.Model,
}
