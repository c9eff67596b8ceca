"""Implicit reparameterization gradients (Figurnov et al. 2018), on a Gamma and a Dirichlet whose exact
gradients are known.

For z ~ Gamma(α, β) there is no invertible standardization z = h(ε, α), yet ∇_α z = −(∂F/∂α)/(∂F/∂z) with F the CDF: ``Gamma.rsample`` and
``Dirichlet.rsample`` in torch differentiate this way, so ∇_α f(z) by autograd is the implicit
estimator. It is set against the score function f(z) ∇_α log p(z; α), computed on the very same
samples, and against the exact gradient: for Gamma(α, β), d/dα E[z] = 1/β, d/dα E[z²] = (2α + 1)/β²
and d/dα E[log z] = ψ'(α); for Dirichlet(α), ∂E[z_1]/∂α_j = (δ_1j Σα − α_1)/(Σα)².

Every statistic carries its Monte-Carlo standard error (``vector_stats``); draws are seeded as in
``vae.analysis.estimators.relaxed``. Requests are budgeted before any work
(``vae.limits.check_toy_estimators``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.distributions import Dirichlet, Gamma

from vae.limits import check_toy_estimators
from vae.analysis.estimators.relaxed import DTYPE, VectorStats, check_baseline, seeded, sub_seed, vector_stats

IMPLICIT_ESTIMATORS = ("implicit", "score", "score_baseline")
MC_LIST = (1, 4, 16, 64, 256)  # samples per estimate of the implicit panel's variance sweep
GAMMA_FUNCTIONS = ("z", "z2", "log_z")  # f(z) for the Gamma: z, z², log z


def gamma_f(name: str, z: torch.Tensor) -> torch.Tensor:
    """f(z) for the Gamma panel: 'z', 'z2' (z²) or 'log_z'."""
    if name == "z":
        return z
    if name == "z2":
        return z * z
    if name == "log_z":
        return z.log()
    raise ValueError(f"unknown f {name!r}; expected one of {GAMMA_FUNCTIONS}")


def gamma_exact_gradient(alpha: float, beta: float, f: str) -> float:
    """d/dα E_{Gamma(α, β)}[f(z)] in closed form (β is the rate): E z = α/β, E z² = α(α + 1)/β²,
    E log z = ψ(α) − log β."""
    _check_gamma(alpha, beta)
    if f == "z":
        return 1.0 / beta
    if f == "z2":
        return (2 * alpha + 1) / beta ** 2
    if f == "log_z":
        return float(torch.special.polygamma(1, torch.tensor(alpha, dtype=DTYPE)))
    raise ValueError(f"unknown f {f!r}; expected one of {GAMMA_FUNCTIONS}")


def _check_gamma(alpha: float, beta: float) -> None:
    if not (math.isfinite(alpha) and math.isfinite(beta) and alpha > 0 and beta > 0):
        raise ValueError(f"the Gamma's shape α and rate β must be positive and finite, not ({alpha}, {beta})")


def gamma_estimates(alpha: float, beta: float, f: str, n: int, mc_samples: int = 1,
                    baseline: str = "posterior_mean", seed: int = 0) -> dict[str, torch.Tensor]:
    """n estimates of d/dα E[f(z)], z ~ Gamma(α, β), each from L = mc_samples draws, per estimator:
    {estimator: (n,)}. All three use the *same* draws (``Gamma.rsample``, implicit gradient).
    The baseline is f(E z) = f(α/β) (``posterior_mean``) or the other L − 1 draws' mean f (``leave_one_out``;
    that estimator is left out when L = 1)."""
    _check_gamma(alpha, beta)
    check_baseline("score", baseline, mc_samples)
    a = torch.full((n,), float(alpha), dtype=DTYPE, requires_grad=True)
    b = torch.tensor(float(beta), dtype=DTYPE)
    with seeded(seed):
        z = Gamma(a, b).rsample((mc_samples,))  # (L, n), differentiable in α by the implicit rule
    return _three_estimates(lambda zz: gamma_f(f, zz), z, a, lambda aa, zz: Gamma(aa, b).log_prob(zz),
                            gamma_f(f, torch.tensor(alpha / beta, dtype=DTYPE)), baseline, mc_samples)


def _three_estimates(fn, z: torch.Tensor, param: torch.Tensor, log_prob, f_at_mean: torch.Tensor, baseline: str,
                     mc_samples: int) -> dict[str, torch.Tensor]:
    """Implicit, score and score + baseline estimates from the same draws z: (L, n, ...), param: (n, ...)."""
    out = {"implicit": torch.autograd.grad(fn(z).mean(0).sum(), param, retain_graph=True)[0].detach()}
    zd = z.detach()
    fz = fn(zd)
    p = param.detach().clone().requires_grad_(True)
    lp = log_prob(p, zd)  # (L, n)
    out["score"] = torch.autograd.grad((fz * lp).mean(0).sum(), p, retain_graph=True)[0]
    if baseline == "posterior_mean":
        b = f_at_mean
    elif mc_samples >= 2:
        b = (fz.sum(0, keepdim=True) - fz) / (mc_samples - 1)
    else:
        return out
    out["score_baseline"] = torch.autograd.grad(((fz - b) * lp).mean(0).sum(), p)[0]
    return out


def dirichlet_exact_gradient(alpha: tuple[float, ...]) -> torch.Tensor:
    """∇_α E_{Dir(α)}[z_1] = (δ_1j Σα − α_1)/(Σα)²: (K,)."""
    a = torch.tensor(alpha, dtype=DTYPE)
    a0 = a.sum()
    g = -a[0] / a0 ** 2 * torch.ones_like(a)
    g[0] += 1 / a0
    return g


def dirichlet_estimates(alpha: tuple[float, ...], n: int, mc_samples: int = 1, baseline: str = "posterior_mean",
                        seed: int = 0) -> dict[str, torch.Tensor]:
    """n estimates of ∇_α E[z_1], z ~ Dirichlet(α), from L draws each (``Dirichlet.rsample``, implicit),
    per estimator: {estimator: (n, K)}, all on the same draws. The baseline is f(E z) = α_1/Σα."""
    if len(alpha) < 2 or not all(math.isfinite(v) and v > 0 for v in alpha):
        raise ValueError("a Dirichlet needs K ≥ 2 positive, finite concentrations")
    check_baseline("score", baseline, mc_samples)
    a = torch.tensor(alpha, dtype=DTYPE).expand(n, len(alpha)).clone().requires_grad_(True)
    with seeded(seed):
        z = Dirichlet(a).rsample((mc_samples,))  # (L, n, K)
    return _three_estimates(lambda zz: zz[..., 0], z, a, lambda aa, zz: Dirichlet(aa).log_prob(zz),
                            torch.tensor(alpha[0] / sum(alpha), dtype=DTYPE), baseline, mc_samples)


@dataclass
class ImplicitStudy:
    """Each estimator's mean, bias and variance at each number of samples per estimate L, for the Gamma
    (a scalar gradient) and the Dirichlet (a K-vector), against the exact gradients."""
    alpha: float
    beta: float
    f: str
    dirichlet_alpha: tuple[float, ...]
    n: int
    baseline: str
    gamma_exact: float
    dirichlet_exact: list[float]
    gamma: dict[tuple[str, int], VectorStats] = field(default_factory=dict)
    dirichlet: dict[tuple[str, int], VectorStats] = field(default_factory=dict)
    seconds: float = 0.0

    def rows(self, which: str = "gamma") -> list[dict]:
        """One row per (estimator, L): mean (Gamma) or bias² (both) with standard errors, variance ± se."""
        stats = self.gamma if which == "gamma" else self.dirichlet
        out = []
        for (est, L), s in stats.items():
            r = {"estimator": est, "L": L, "variance": s.variance, "variance_se": s.variance_se, "bias2": s.bias2,
                 "bias2_se": s.bias2_se, "bias_z": s.bias_z, "n": s.n}
            if which == "gamma":
                m, se = float(s.mean[0]), float(s.se[0])
                r.update(exact=self.gamma_exact, mean=m, se=se, z=(m - self.gamma_exact) / se if se > 0 else 0.0)
            out.append(r)
        return out

    def ratio_rows(self, which: str = "gamma") -> list[dict]:
        """Per L and score-function estimator: its variance over the implicit one's on the same draws,
        with a delta-method standard error (the two variances' errors treated as independent)."""
        stats = self.gamma if which == "gamma" else self.dirichlet
        out = []
        for (est, L), s in stats.items():
            imp = stats.get(("implicit", L))
            if est == "implicit" or imp is None or imp.variance <= 0 or s.variance <= 0:
                continue
            r = s.variance / imp.variance
            se = r * math.hypot(s.variance_se / s.variance, imp.variance_se / imp.variance)
            out.append({"estimator": est, "L": L, "ratio": r, "ratio_se": se})
        return out

    def dirichlet_coordinate_rows(self, mc_samples: int) -> list[dict]:
        out = []
        for (est, L), s in self.dirichlet.items():
            if L == mc_samples:
                for j, g in enumerate(self.dirichlet_exact):
                    m, se = float(s.mean[j]), float(s.se[j])
                    out.append({"estimator": est, "coordinate": f"α{j + 1}", "exact": g, "mean": m, "se": se,
                                "z": (m - g) / se if se > 0 else 0.0})
        return out


def implicit_draws(n: int, mc_list: tuple[int, ...], dirichlet_k: int) -> float:
    """The implicit study's cost, in draw-coordinates: n·L Gamma draws and n·L Dirichlet draws of K
    coordinates at each L (the three estimators share them)."""
    return float(n) * sum(mc_list) * (1 + dirichlet_k)


def implicit_study(alpha: float = 2.0, beta: float = 1.0, f: str = "z",
                   dirichlet_alpha: tuple[float, ...] = (0.5, 1.0, 2.0), mc_list: tuple[int, ...] = MC_LIST,
                   n: int = 2000, baseline: str = "posterior_mean", seed: int = 0,
                   on_progress: Callable[[float, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> ImplicitStudy:
    """The implicit-reparameterization panel's whole computation: n estimates per estimator and L for the
    Gamma(α, β) and the Dirichlet(α⃗). Budgeted before any work; on_progress(fraction, what) before each L;
    when should_stop() turns true the study returns at once with the L's done so far."""
    _check_gamma(alpha, beta)
    if f not in GAMMA_FUNCTIONS:
        raise ValueError(f"unknown f {f!r}; expected one of {GAMMA_FUNCTIONS}")
    if not mc_list or any(L < 1 for L in mc_list):
        raise ValueError("choose at least one number of samples L ≥ 1")
    if n < 2:
        raise ValueError("at least 2 estimates are needed to estimate a variance")
    check_toy_estimators(implicit_draws(n, tuple(mc_list), len(dirichlet_alpha)), "The implicit-reparameterization study")
    t0 = time.perf_counter()
    study = ImplicitStudy(alpha, beta, f, tuple(dirichlet_alpha), n, baseline,
                          gamma_exact_gradient(alpha, beta, f), dirichlet_exact_gradient(tuple(dirichlet_alpha)).tolist())
    gex, dex = torch.tensor([study.gamma_exact], dtype=DTYPE), torch.tensor(study.dirichlet_exact, dtype=DTYPE)
    for i, L in enumerate(mc_list):
        if should_stop and should_stop():
            return study
        if on_progress:
            on_progress(i / len(mc_list), f"L = {L} samples per estimate")
        for est, g in gamma_estimates(alpha, beta, f, n, L, baseline, sub_seed(seed, 1, L)).items():
            study.gamma[est, L] = vector_stats(g, gex)
        for est, g in dirichlet_estimates(tuple(dirichlet_alpha), n, L, baseline, sub_seed(seed, 2, L)).items():
            study.dirichlet[est, L] = vector_stats(g, dex)
    study.seconds = time.perf_counter() - t0
    if on_progress:
        on_progress(1.0, "done")
    return study
