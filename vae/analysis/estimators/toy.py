"""The one-dimensional worked example: f(z) = (z − t)² under z ~ N(μ, σ²).

E[f] = (μ − t)² + σ², so the true gradient is known in closed form:
∂E[f]/∂μ = 2(μ − t) and ∂E[f]/∂σ = 2σ. Both estimators are computed by autograd on
the same surrogates as the VAE lab (``vae.analysis.estimators.gradient``), here with a scalar q.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vae.model.distributions import DiagonalGaussian
from vae.model.objectives import BASELINES, ESTIMATORS


def toy_true_gradient(mu: float, sigma: float, t: float) -> tuple[float, float]:
    """(∂/∂μ, ∂/∂σ) of E_{N(μ, σ²)}[(z − t)²] = (μ − t)² + σ²."""
    return 2.0 * (mu - t), 2.0 * sigma


@dataclass
class ToyResult:
    truth: tuple[float, float]  # closed-form (∂/∂μ, ∂/∂σ)
    estimates: dict[str, torch.Tensor]  # estimator -> (n, 2) estimates of (∂/∂μ, ∂/∂σ)
    mc_samples: int

    def rows(self) -> list[dict]:
        """Per estimator and parameter: mean ± standard error, variance, and the z-score against the truth."""
        out = []
        for est, g in self.estimates.items():
            n = g.shape[0]
            for j, param in enumerate(("μ", "σ")):
                m, v = float(g[:, j].mean()), float(g[:, j].var())
                se = math.sqrt(v / n)
                out.append({"estimator": est, "parameter": param, "true": self.truth[j], "mean": m,
                            "se": se, "variance": v, "z": (m - self.truth[j]) / se if se > 0 else 0.0})
        return out


def toy_estimates(mu: float, sigma: float, t: float, mc_samples: int = 1, n: int = 2000,
                  baseline: str = "posterior_mean", seed: int = 0) -> ToyResult:
    """n independent estimates of (∂/∂μ, ∂/∂σ) E[(z − t)²] per estimator, each from L = mc_samples draws.

    The baseline is f(μ) = (μ − t)² (``posterior_mean``), or the mean of the other L − 1 draws' f
    (``leave_one_out``; used with L ≥ 2 only, otherwise that estimator is left out).
    """
    if not sigma > 0:
        raise ValueError(f"σ must be positive, not {sigma}")
    if mc_samples < 1 or n < 2:
        raise ValueError("need L ≥ 1 samples per estimate and n ≥ 2 estimates")
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}")
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for est in ESTIMATORS:
        if est == "score_baseline" and baseline == "leave_one_out" and mc_samples < 2:
            continue
        m = torch.full((n,), float(mu), dtype=torch.float64, requires_grad=True)
        s = torch.full((n,), float(sigma), dtype=torch.float64, requires_grad=True)
        q = DiagonalGaussian(m[:, None], 2 * s.log()[:, None])  # n scalar posteriors N(μ, σ²)
        if est == "reparam":
            surrogate = ((q.rsample(mc_samples, generator=gen)[..., 0] - t) ** 2).mean(0)
        else:
            z = q.rsample(mc_samples, generator=gen).detach()  # (L, n, 1)
            f = (z[..., 0] - t) ** 2  # (L, n)
            if est == "score_baseline":
                b = (m.detach() - t) ** 2 if baseline == "posterior_mean" else \
                    (f.sum(0, keepdim=True) - f) / (mc_samples - 1)
                f = f - b
            surrogate = (f * q.log_prob(z)).mean(0)
        gm, gs = torch.autograd.grad(surrogate.sum(), (m, s))
        out[est] = torch.stack([gm, gs], 1)
    return ToyResult(toy_true_gradient(mu, sigma, t), out, mc_samples)
