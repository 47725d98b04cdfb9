"""RBF-kernel SVC decision in plain numpy (libsvm one-vs-one layout).

sklearn's `SVC.predict` validates its input on every call (≈ 0.2 ms); the served model
only needs the kernel expansion, so the fitted support vectors, dual coefficients and
intercepts are exported once and evaluated here. Reference: Chang & Lin, "LIBSVM: a library
for support vector machines" (2011), §7 (multi-class one-vs-one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RbfSvc:
    """The exported parameters of a fitted `sklearn.svm.SVC(kernel="rbf")`."""

    support_vectors: np.ndarray  # (n_sv, d)
    dual_coef: np.ndarray  # (n_classes - 1, n_sv)
    intercept: np.ndarray  # (n_pairs,)
    n_support: np.ndarray  # (n_classes,)
    gamma: float

    @classmethod
    def from_sklearn(cls, svc: object) -> RbfSvc:
        return cls(
            support_vectors=np.asarray(svc.support_vectors_, float),
            # the private arrays keep libsvm's sign convention (positive = first class of the
            # pair); sklearn flips the public ones for binary problems
            dual_coef=np.asarray(svc._dual_coef_, float),
            intercept=np.asarray(svc._intercept_, float),
            n_support=np.asarray(svc.n_support_, np.int64),
            gamma=float(svc._gamma),
        )

    def to_arrays(self, prefix: str = "svc_") -> dict[str, np.ndarray]:
        return {
            f"{prefix}sv": self.support_vectors,
            f"{prefix}dual": self.dual_coef,
            f"{prefix}b": self.intercept,
            f"{prefix}nsv": self.n_support,
            f"{prefix}gamma": np.array([self.gamma]),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "svc_") -> RbfSvc:
        return cls(
            support_vectors=np.asarray(arrays[f"{prefix}sv"], float),
            dual_coef=np.asarray(arrays[f"{prefix}dual"], float),
            intercept=np.asarray(arrays[f"{prefix}b"], float),
            n_support=np.asarray(arrays[f"{prefix}nsv"], np.int64),
            gamma=float(np.asarray(arrays[f"{prefix}gamma"]).ravel()[0]),
        )

    def decision_ovo(self, x: np.ndarray) -> np.ndarray:
        """One-vs-one decision values (n, n_pairs), pairs ordered (0,1), (0,2) … like sklearn."""
        sv = self.support_vectors
        d2 = (x * x).sum(1)[:, None] - 2.0 * x @ sv.T + (sv * sv).sum(1)[None, :]
        k = np.exp(-self.gamma * np.maximum(d2, 0.0))
        starts = np.concatenate([[0], np.cumsum(self.n_support)])
        n_cls = len(self.n_support)
        out = np.empty((len(x), n_cls * (n_cls - 1) // 2))
        p = 0
        for i in range(n_cls):
            si = slice(starts[i], starts[i + 1])
            for j in range(i + 1, n_cls):
                sj = slice(starts[j], starts[j + 1])
                # libsvm: coef of class i's SVs in row j-1, class j's SVs in row i
                out[:, p] = (
                    k[:, si] @ self.dual_coef[j - 1, si]
                    + k[:, sj] @ self.dual_coef[i, sj]
                    + self.intercept[p]
                )
                p += 1
        return out

    def predict_index(self, x: np.ndarray) -> np.ndarray:
        """Class index by one-vs-one voting (ties to the lower index, as libsvm)."""
        dec = self.decision_ovo(x)
        n_cls = len(self.n_support)
        votes = np.zeros((len(x), n_cls))
        p = 0
        for i in range(n_cls):
            for j in range(i + 1, n_cls):
                win_i = dec[:, p] > 0
                votes[:, i] += win_i
                votes[:, j] += ~win_i
                p += 1
        return votes.argmax(1)
