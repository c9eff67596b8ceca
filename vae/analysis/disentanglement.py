"""The mutual information gap (MIG) between latent dimensions and ground-truth factors.

Chen et al. 2018 ("Isolating sources of disentanglement"), estimated as in
disentanglement_lib (Locatello et al. 2019): posterior means and factors are
discretised into equal-width bins, the discrete mutual information I(z_d; v_k)
is computed for every pair, and for each factor the gap between its best and
second-best latent, divided by the factor's entropy H(v_k), is averaged:

    MIG = (1/K) Σ_k (I(z_{j_k}; v_k) − max_{j ≠ j_k} I(z_j; v_k)) / H(v_k).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import mutual_info_score

N_BINS = 20  # disentanglement_lib's default for discretising latent means


@dataclass
class MIGResult:
    mig: float  # mean normalised gap over factors with non-zero entropy, in [0, 1]
    gaps: np.ndarray  # (K,) normalised gap per factor (NaN for a constant factor)
    mi: np.ndarray  # (D, K) I(z_d; v_k), nats
    entropy: np.ndarray  # (K,) H(v_k), nats
    factor_names: list[str]

    @property
    def normalized(self) -> np.ndarray:
        """(D, K) I(z_d; v_k) / H(v_k): the share of factor k's entropy that z_d captures."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.entropy > 0, self.mi / self.entropy, 0.0)

    def best_factor(self) -> tuple[np.ndarray, np.ndarray]:
        """Per dimension, the index of the factor it captures best (by normalised MI) and that share."""
        nm = self.normalized
        return nm.argmax(1), nm.max(1)


def discretize(v: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    """(N, K) values -> (N, K) integer codes. A column with at most n_bins distinct values
    (a categorical factor) keeps one code per value; others get n_bins equal-width bins."""
    v = np.asarray(v, dtype=np.float64)
    out = np.empty(v.shape, dtype=np.int64)
    for k in range(v.shape[1]):
        col = v[:, k]
        values, codes = np.unique(col, return_inverse=True)
        if len(values) <= n_bins:
            out[:, k] = codes
        else:
            out[:, k] = np.digitize(col, np.histogram(col, n_bins)[1][:-1])
    return out


def mig(mu, factors, factor_names: list[str] | None = None, n_bins: int = N_BINS) -> MIGResult:
    """MIG of posterior means mu: (N, D) against ground-truth factors: (N, K)."""
    mu, factors = np.asarray(mu), np.asarray(factors)
    if mu.ndim != 2 or factors.ndim != 2 or len(mu) != len(factors):
        raise ValueError(f"mu (N, D) and factors (N, K) must have the same N, got {mu.shape} and {factors.shape}")
    if mu.shape[1] < 2:
        raise ValueError("MIG needs at least two latent dimensions (it is a gap between the best two)")
    zc, vc = discretize(mu, n_bins), discretize(factors, n_bins)
    d, k = zc.shape[1], vc.shape[1]
    mi = np.array([[mutual_info_score(vc[:, j], zc[:, i]) for j in range(k)] for i in range(d)])
    entropy = np.array([mutual_info_score(vc[:, j], vc[:, j]) for j in range(k)])
    top2 = -np.sort(-mi, axis=0)[:2]  # (2, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = np.where(entropy > 0, (top2[0] - top2[1]) / entropy, np.nan)
    valid = ~np.isnan(gaps)
    names = list(factor_names) if factor_names is not None else [f"factor {j}" for j in range(k)]
    return MIGResult(float(gaps[valid].mean()) if valid.any() else float("nan"), gaps, mi, entropy, names)
