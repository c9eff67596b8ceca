"""Gradient estimators beyond the Gaussian, on toys whose exact gradient is known: the Gumbel-softmax
relaxation for categorical variables here, implicit reparameterization for Gamma and Dirichlet variables in
``vae.analysis.estimators.implicit`` (which shares this module's seeding and statistics).

Categorical toy (Jang et al. 2017; Maddison et al. 2017). z ~ Cat(π), π = softmax(θ) over K classes,
f(z) = ‖z − t‖² with a fixed target t. On one-hot z the objective is a finite sum, so its gradient is
exact by enumeration: E[f] = Σ_k π_k f(e_k) and ∂E/∂θ_j = π_j (f(e_j) − E[f]). Estimators of ∇_θ E[f]:

- ``relaxed``: ∇_θ f(y), y = softmax((θ + g)/τ), g ~ Gumbel (the Concrete sample of
  ``RelaxedOneHotCategorical``). Unbiased for the *relaxed* objective E[f(y)], hence biased for the
  discrete one; the bias vanishes as τ → 0 while the variance grows (∂y/∂θ scales as 1/τ).
- ``straight_through``: the forward pass uses the one-hot argmax of y, the backward pass y's gradient
  (Jang et al. 2017, §2.2): ∇f(one_hot(argmax y))ᵀ ∂y/∂θ. Biased at every τ, most at large τ.
- ``score``: f(z) ∇_θ log π_z with z ~ ``OneHotCategorical`` (REINFORCE); unbiased.
- ``score_baseline``: (f(z) − b) ∇_θ log π_z with b = f(π) (f at the mean of z, ``posterior_mean``)
  or the mean f of the other L − 1 samples (``leave_one_out``); unbiased.

Every statistic carries its Monte-Carlo standard error. Draws come from torch.distributions' own
samplers under a seeded, forked global generator (``seeded``), so each result is reproducible.
Requests are budgeted before any work (``vae.limits.check_toy_estimators``).
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch.distributions import OneHotCategorical, RelaxedOneHotCategorical

from vae.limits import check_toy_estimators

CATEGORICAL_ESTIMATORS = ("relaxed", "straight_through", "score", "score_baseline")
RELAXED = ("relaxed", "straight_through")  # the estimators that depend on τ
TOY_BASELINES = ("posterior_mean", "leave_one_out")
TAUS = (0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0)  # temperatures of the bias/variance sweep
SAMPLE_TAUS = (0.1, 0.5, 1.0, 5.0)  # temperatures whose samples are shown
DTYPE = torch.float64
_RNG_LOCK = threading.Lock()


@contextmanager
def seeded(seed: int):
    """Draw from torch's global generator at a fixed seed without disturbing anyone else's state
    (the pattern of ``vae.training.estimators``); the lock keeps two of these from interleaving."""
    with _RNG_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed) % (2 ** 63))
        yield


def sub_seed(seed: int, *parts: int) -> int:
    """A distinct seed per (estimator, setting) from the one user seed."""
    s = int(seed) * 1_000_003
    for p in parts:
        s = s * 7919 + int(p) + 1
    return s % (2 ** 62)


# ================================================================ statistics with their errors

@dataclass
class VectorStats:
    """n independent estimates ĝ_i of a gradient g: (n, P), against the exact g: (P,)."""
    n: int
    mean: torch.Tensor  # (P,) ḡ
    se: torch.Tensor  # (P,) standard error of each coordinate of ḡ
    variance: float  # tr Cov[ĝ], the variance of one estimate
    variance_se: float  # its standard error: std_i ‖ĝ_i − ḡ‖² / √n
    bias2: float  # ‖E ĝ − g‖², estimated without bias: ‖ḡ − g‖² − tr Cov / n
    bias2_se: float  # its standard error: √(4 dᵀΣd/n + 2 tr Σ²/n²), d = ḡ − g

    def bias_interval(self) -> tuple[float, float, float]:
        """‖E ĝ − g‖ and its ±2-standard-error interval: (value, low, high), square roots of
        max(0, bias² + {0, −2, +2}·se) (a monotone map of the interval on bias²)."""
        return tuple(math.sqrt(max(0.0, self.bias2 + k * self.bias2_se)) for k in (0, -2, 2))

    @property
    def bias_z(self) -> float:
        """bias² in standard errors: about 0 ± 1 for an unbiased estimator, large for a biased one."""
        return self.bias2 / self.bias2_se if self.bias2_se > 0 else 0.0


def vector_stats(grads: torch.Tensor, exact: torch.Tensor) -> VectorStats:
    """grads: (n, P) independent estimates (n ≥ 2), exact: (P,) -> mean, variance and bias with errors."""
    g = grads.detach().to(DTYPE)
    if g.dim() == 1:
        g = g[:, None]
    n = g.shape[0]
    if n < 2:
        raise ValueError("at least 2 estimates are needed to estimate a variance")
    mean = g.mean(0)
    dev = g - mean
    cov = dev.T @ dev / (n - 1)  # (P, P)
    tr = float(cov.trace())
    d = mean - exact.to(DTYPE).reshape(-1)
    sq = dev.pow(2).sum(1)  # ‖ĝ_i − ḡ‖²
    bias2 = float(d.pow(2).sum()) - tr / n
    var_b = 4 * float(d @ cov @ d) / n + 2 * float((cov @ cov).trace()) / n ** 2
    return VectorStats(n, mean, (cov.diagonal() / n).sqrt(), tr, float(sq.std() / math.sqrt(n)),
                       bias2, math.sqrt(max(var_b, 0.0)))


# ================================================================ the categorical toy

@dataclass(frozen=True)
class CategoricalToy:
    """z ~ Cat(softmax(θ)) over K classes, f(z) = ‖z − t‖² (defined on the whole simplex, so the
    relaxed samples can be scored too)."""
    logits: tuple[float, ...]  # θ: (K,)
    target: tuple[float, ...]  # t: (K,)

    def __post_init__(self):
        if len(self.logits) < 2 or len(self.logits) != len(self.target):
            raise ValueError("a categorical toy needs K ≥ 2 logits and a target of the same length")
        if not all(math.isfinite(v) for v in (*self.logits, *self.target)):
            raise ValueError("the toy's logits and target must be finite")

    @property
    def k(self) -> int:
        return len(self.logits)

    def theta(self) -> torch.Tensor:
        return torch.tensor(self.logits, dtype=DTYPE)

    def t(self) -> torch.Tensor:
        return torch.tensor(self.target, dtype=DTYPE)

    def probs(self) -> torch.Tensor:
        return torch.softmax(self.theta(), -1)

    def f(self, z: torch.Tensor) -> torch.Tensor:
        """z: (..., K) one-hot or on the simplex -> (...,)."""
        return (z - self.t()).pow(2).sum(-1)

    def objective(self, theta: torch.Tensor) -> torch.Tensor:
        """E_{Cat(softmax θ)}[f(z)] by enumeration over the K one-hot vectors (differentiable in θ)."""
        return (torch.softmax(theta, -1) * self.f(torch.eye(self.k, dtype=theta.dtype))).sum(-1)

    def exact_gradient(self) -> torch.Tensor:
        """∇_θ E[f(z)]: (K,), by autograd through the enumeration (= π_j (f(e_j) − E f))."""
        th = self.theta().requires_grad_(True)
        return torch.autograd.grad(self.objective(th), th)[0].detach()


def default_toy(k: int = 4) -> CategoricalToy:
    """π_k ∝ k (k = 1..K) and a target rising quadratically from 0 to 0.8 across the classes: every
    coordinate of the exact gradient is nonzero and the classes differ in probability."""
    if not 2 <= k <= 12:  # up to 12 classes every coordinate of the gradient is at least 10⁻³
        raise ValueError(f"K must be between 2 and 12, not {k}")
    logits = tuple(math.log(j / (k * (k + 1) / 2)) for j in range(1, k + 1))
    target = tuple(0.8 * (j / (k - 1)) ** 2 for j in range(k))
    return CategoricalToy(logits, target)


def categorical_estimates(toy: CategoricalToy, estimator: str, n: int, mc_samples: int = 1, tau: float = 1.0,
                          baseline: str = "posterior_mean", seed: int = 0) -> torch.Tensor:
    """n independent estimates of ∇_θ E[f(z)], each from L = mc_samples draws: (n, K)."""
    if estimator not in CATEGORICAL_ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {CATEGORICAL_ESTIMATORS}")
    check_baseline(estimator, baseline, mc_samples)
    if not tau > 0:
        raise ValueError(f"the temperature τ must be positive, not {tau}")
    if n < 1:
        raise ValueError(f"need n ≥ 1 estimates, not {n}")
    theta = toy.theta().expand(n, toy.k).clone().requires_grad_(True)  # one copy per estimate
    with seeded(seed):
        if estimator in RELAXED:
            y = RelaxedOneHotCategorical(torch.tensor(tau, dtype=DTYPE), logits=theta).rsample((mc_samples,))
            if estimator == "straight_through":
                hard = torch.nn.functional.one_hot(y.argmax(-1), toy.k).to(DTYPE)
                y = hard + y - y.detach()  # forward: one-hot; backward: the relaxed sample's gradient
            surrogate = toy.f(y).mean(0)  # (n,)
        else:
            q = OneHotCategorical(logits=theta)
            z = q.sample((mc_samples,))  # (L, n, K)
            fz = toy.f(z)
            if estimator == "score_baseline":
                if baseline == "posterior_mean":
                    fz = fz - toy.f(toy.probs())
                else:
                    fz = fz - (fz.sum(0, keepdim=True) - fz) / (mc_samples - 1)
            surrogate = (fz.detach() * q.log_prob(z)).mean(0)
    return torch.autograd.grad(surrogate.sum(), theta)[0].detach()


def check_baseline(estimator: str, baseline: str, mc_samples: int) -> None:
    if baseline not in TOY_BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; expected one of {TOY_BASELINES}")
    if mc_samples < 1:
        raise ValueError(f"need L ≥ 1 samples per estimate, not {mc_samples}")
    if estimator == "score_baseline" and baseline == "leave_one_out" and mc_samples < 2:
        raise ValueError("the leave-one-out baseline needs L ≥ 2 samples per estimate")


def argmax_frequencies(toy: CategoricalToy, tau: float, n: int, seed: int = 0) -> dict:
    """The Gumbel-max property: argmax of a Gumbel-softmax sample is distributed as Cat(π) at every τ.
    Counts of n argmaxes against n·π, with Pearson's χ² (K − 1 degrees of freedom) and its p-value."""
    with seeded(seed):
        y = RelaxedOneHotCategorical(torch.tensor(tau, dtype=DTYPE), logits=toy.theta()).sample((n,))
    counts = torch.bincount(y.argmax(-1), minlength=toy.k).to(DTYPE)
    expected = n * toy.probs()
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    dof = toy.k - 1
    p = float(torch.special.gammaincc(torch.tensor(dof / 2, dtype=DTYPE), torch.tensor(chi2 / 2, dtype=DTYPE)))
    return {"tau": tau, "n": n, "counts": counts.tolist(), "expected": expected.tolist(),
            "frequencies": (counts / n).tolist(), "probs": toy.probs().tolist(), "chi2": chi2, "dof": dof,
            "p_value": p}


def relaxed_samples(toy: CategoricalToy, taus: tuple[float, ...] = SAMPLE_TAUS, n: int = 2000, show: int = 16,
                    seed: int = 0) -> tuple[dict[float, list[list[float]]], list[dict]]:
    """Gumbel-softmax samples at several temperatures: the first ``show`` samples per τ ((show, K) lists),
    and per τ the mean of max_k y_k over n samples ± its standard error (→ 1 as τ → 0: one-hot)."""
    shown, rows = {}, []
    for i, tau in enumerate(taus):
        with seeded(sub_seed(seed, 99, i)):
            y = RelaxedOneHotCategorical(torch.tensor(tau, dtype=DTYPE), logits=toy.theta()).sample((n,))
        top = y.max(-1).values
        shown[tau] = y[:show].tolist()
        rows.append({"tau": tau, "mean_max": float(top.mean()), "mean_max_se": float(top.std() / math.sqrt(n)),
                     "one_hot_within_0.01": float((top > 0.99).to(DTYPE).mean())})
    return shown, rows


@dataclass
class GumbelStudy:
    """Bias and variance of every categorical estimator; the relaxed ones at each temperature."""
    toy: CategoricalToy
    exact: list[float]  # ∇_θ E[f], (K,)
    probs: list[float]  # π = softmax(θ), (K,)
    mc_samples: int
    n: int
    baseline: str
    stats: dict[tuple[str, float | None], VectorStats] = field(default_factory=dict)  # τ None: τ-free
    samples: dict[float, list[list[float]]] = field(default_factory=dict)
    one_hot_rows: list[dict] = field(default_factory=list)
    argmax: dict = field(default_factory=dict)
    seconds: float = 0.0

    def rows(self) -> list[dict]:
        """One row per (estimator, τ): bias ‖E ĝ − g‖ with its 2-se interval, bias² ± se, variance ± se."""
        out = []
        for (est, tau), s in self.stats.items():
            b, lo, hi = s.bias_interval()
            out.append({"estimator": est, "tau": tau, "bias": b, "bias_lo": lo, "bias_hi": hi, "bias2": s.bias2,
                        "bias2_se": s.bias2_se, "bias_z": s.bias_z, "variance": s.variance,
                        "variance_se": s.variance_se, "n": s.n})
        return out

    def coordinate_rows(self, tau: float) -> list[dict]:
        """Per coordinate θ_j: the exact gradient and each estimator's mean ± se (relaxed ones at τ)."""
        out = []
        for (est, t), s in self.stats.items():
            if t is None or t == tau:
                for j, g in enumerate(self.exact):
                    m, se = float(s.mean[j]), float(s.se[j])
                    out.append({"estimator": est, "coordinate": f"θ{j + 1}", "exact": g, "mean": m, "se": se,
                                "z": (m - g) / se if se > 0 else 0.0})
        return out


def gumbel_draws(k: int, n: int, mc_samples: int, n_taus: int) -> float:
    """The Gumbel-softmax study's cost, in draw-coordinates: n·L draws of K coordinates for each of the
    two τ-dependent estimators at each τ and the two score-function estimators."""
    return float(n) * mc_samples * k * (len(RELAXED) * n_taus + 2)


def gumbel_study(k: int = 4, taus: tuple[float, ...] = TAUS, n: int = 4000, mc_samples: int = 1,
                 baseline: str = "posterior_mean", seed: int = 0,
                 on_progress: Callable[[float, str], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> GumbelStudy:
    """The Gumbel-softmax panel's whole computation on ``default_toy(k)``: n estimates per (estimator, τ)
    from L = mc_samples draws each, samples at ``SAMPLE_TAUS``, and the argmax goodness of fit at τ = 1.
    Budgeted before any work; on_progress(fraction, what) before each step; when should_stop() turns
    true the study returns at once with what it has."""
    if not taus or any(not t > 0 for t in taus):
        raise ValueError("choose at least one positive temperature")
    if n < 2:
        raise ValueError("at least 2 estimates are needed to estimate a variance")
    for est in CATEGORICAL_ESTIMATORS:
        check_baseline(est, baseline, mc_samples)
    toy = default_toy(k)
    check_toy_estimators(gumbel_draws(k, n, mc_samples, len(taus)), "The Gumbel-softmax study")
    t0 = time.perf_counter()
    exact = toy.exact_gradient()
    study = GumbelStudy(toy, exact.tolist(), toy.probs().tolist(), mc_samples, n, baseline)
    jobs = [(est, None) for est in ("score", "score_baseline")] + [(est, t) for t in taus for est in RELAXED]
    for i, (est, tau) in enumerate(jobs):
        if should_stop and should_stop():
            return study
        if on_progress:
            on_progress(i / (len(jobs) + 1), f"{est} estimator" + (f", τ = {tau:g}" if tau else ""))
        # relaxed and straight-through at one τ share their Gumbel noise: they differ only in the forward pass
        ti = taus.index(tau) if tau is not None else 0
        s = sub_seed(seed, 1 if est in RELAXED else 2 + CATEGORICAL_ESTIMATORS.index(est), ti)
        g = categorical_estimates(toy, est, n, mc_samples, tau or 1.0, baseline, s)
        study.stats[est, tau] = vector_stats(g, exact)
    if on_progress:
        on_progress(len(jobs) / (len(jobs) + 1), "samples at several temperatures")
    study.samples, study.one_hot_rows = relaxed_samples(toy, SAMPLE_TAUS, n=min(n, 4000), seed=seed)
    study.argmax = argmax_frequencies(toy, 1.0, n=max(n, 1000), seed=sub_seed(seed, 77))
    study.seconds = time.perf_counter() - t0
    if on_progress:
        on_progress(1.0, "done")
    return study
