"""2.3 Power quality index — EN 50160 index, THD estimated by a feed-forward NN when absent.

The index formula is in `gridtwin.models._maintenance.pqi`. Voltage, VUF and frequency
criteria come exactly from the reading; THD is exact when the reading carries a waveform or
harmonic magnitudes (`thd_available` = 1), otherwise the registered network (scikit-learn's MLP
exported to ONNX, run by ONNX Runtime) estimates it from RMS features and the output says `is_estimate = true`.
"""

from __future__ import annotations

import numpy as np

from gridtwin.models._maintenance.common import impute
from gridtwin.models._maintenance.pqi import CRITERIA, pq_class, pqi_from_ratios, ratios
from gridtwin.registry import RegistryEntry
from gridtwin.serving.model import ModelConfig, ModuleBatch, ServedModel
from gridtwin.serving.runtime import OnnxModel
from gridtwin.v1 import assessment_pb2 as pb

LOG_THD_MIN, LOG_THD_MAX = np.log(0.01), np.log(100.0)
SEVERITY = {"excellent": pb.NORMAL, "good": pb.NORMAL, "fair": pb.ADVISORY, "poor": pb.WARNING}


class Model(ServedModel):
    name = "power_quality_index"

    def __init__(self, entry: RegistryEntry, config: ModelConfig | None = None) -> None:
        super().__init__(entry, config)
        with np.load(entry.artifact("scaling"), allow_pickle=False) as a:
            self.fill, self.mu, self.sd = a["fill"], a["mu"], a["sd"]
            self.y_mu = float(a["y_mu"][0])
        self.net = OnnxModel(entry.artifact("mlp"))  # standardised inputs -> log THD - y_mu
        self.columns = list(self.feature_list)

    def predict(self, batch: ModuleBatch) -> list[pb.PowerQualityIndex]:
        n = len(batch)
        thd = batch.column("thd_voltage_max_pct").copy()
        exact = np.isfinite(thd) & (batch.column("thd_available") > 0)
        if (~exact).any():
            x = (impute(batch.columns(self.columns)[~exact], self.fill) - self.mu) / self.sd
            log_thd = self.net.run_one(x)[:, 0] + self.y_mu
            # out-of-range inputs (e.g. an all-zero warm-up row) must not overflow: THD is
            # physically within 0.01–100 % and the index saturates long before 100 %
            thd[~exact] = np.exp(np.clip(log_thd, LOG_THD_MIN, LOG_THD_MAX))
        r = ratios(
            batch.column("voltage_min_pu"),
            batch.column("voltage_max_pu"),
            thd,
            batch.column("vuf_pct"),
            batch.column("frequency_deviation_pct"),
        )
        ok = np.isfinite(r).all(1)
        pqi = np.clip(pqi_from_ratios(np.where(np.isfinite(r), r, 0.0)), 0.0, 100.0)
        cls = pq_class(pqi)
        viol = r > 1.0
        out = []
        for i in range(n):
            if not ok[i]:
                info = self.degraded("voltage, VUF or frequency missing: index not computed")
                out.append(pb.PowerQualityIndex(info=info, is_estimate=True))
                continue
            names = [CRITERIA[k] if k != 1 or exact[i] else "thd_estimated" for k in np.flatnonzero(viol[i])]
            detail = (
                "exact: THD from waveform/harmonics"
                if exact[i]
                else f"estimate: THD {thd[i]:.2f} % estimated from RMS features (no waveform)"
            )
            out.append(
                pb.PowerQualityIndex(
                    info=self.info(SEVERITY[str(cls[i])], detail),
                    pqi=float(pqi[i]),
                    pq_class=str(cls[i]),
                    is_estimate=not bool(exact[i]),
                    violations=names,
                )
            )
        return out
