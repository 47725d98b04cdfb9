"""The models the monitoring module serves: Assessment field → serving class.

Each class reads its registered artifacts (gridtwin.registry) and answers whole batches
through the shared ServedModel interface (gridtwin.serving.model).
"""

from gridtwin.models import frequency_stability, harmonic_analysis, phase_imbalance, voltage_anomaly
from gridtwin.serving.module import ModelFactory

FACTORIES: dict[str, ModelFactory] = {
    voltage_anomaly.Model.name: voltage_anomaly.Model,
    harmonic_analysis.Model.name: harmonic_analysis.Model,
    frequency_stability.Model.name: frequency_stability.Model,
    phase_imbalance.Model.name: phase_imbalance.Model,
}
