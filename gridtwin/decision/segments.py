"""Naming K-Means clusters of load profiles by their centroids, and DR programmes.

Clusters are never named by index: each centroid (in standardised profile-feature units) is
scored for each segment by the property that defines the segment, and the names are assigned
by the Hungarian method (maximum total score, one name per cluster):

* ``critical``: highest dark-window tan φ (business G0/L0 loads, PF 0.90–0.93);
* ``base_load``: smoothest dark-window demand, largest always-on share;
* ``flexible``: highest night base draw relative to its tan φ (deferred EV charging at PF 0.99
  raises night demand and lowers tan φ);
* ``peak_shaver``: lowest night draw (the home battery covers the night and clips peaks).

Where the model uses the hour-median variants (``tan_phi_dark_med``, ``variability_dark_med``)
they stand in for the pooled ones; ``base_share_dark`` (always-on share) counts for
``base_load`` and against the segments whose night is appliance- or EV-driven.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

SEGMENTS = ("base_load", "peak_shaver", "flexible", "critical")
# Programme offered to each segment (utility DR catalogue; the choice follows the segment's
# flexible resource: none / a home battery / an EV / a business process that must not be cut).
PROGRAMS = {
    "base_load": "energy_efficiency",
    "peak_shaver": "battery_aggregation_vpp",
    "flexible": "managed_ev_charging_tou",
    "critical": "voluntary_curtailment",
}


def name_clusters(centroids_z: np.ndarray, feature_names: Sequence[str]) -> list[str]:
    """Segment name of each centroid (rows, standardised features named by `feature_names`)."""
    col = {n: i for i, n in enumerate(feature_names)}

    def z(name: str) -> np.ndarray:
        return centroids_z[:, col[name]] if name in col else np.zeros(len(centroids_z))

    def first(*names: str) -> np.ndarray:
        # the robust (hour-median) variant where the model uses it, else the pooled one
        return next((z(n) for n in names if n in col), np.zeros(len(centroids_z)))

    night = first("log_mean_dark_kw", "mean_dark_kw")
    tan_phi = first("tan_phi_dark_med", "tan_phi_dark")
    var = first("variability_dark_med", "variability_dark")
    base = z("base_share_dark")  # 0 when unused
    score = np.column_stack(
        [
            -var + base,  # base_load
            -night - base,  # peak_shaver
            night - tan_phi + var - base,  # flexible
            2.0 * tan_phi,  # critical
        ]
    )
    rows, cols = linear_sum_assignment(-score)
    names = [""] * len(centroids_z)
    for r, c in zip(rows, cols, strict=True):
        names[r] = SEGMENTS[c]
    return names
