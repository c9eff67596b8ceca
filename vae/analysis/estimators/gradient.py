"""Gradient estimators of the ELBO with respect to the encoder parameters φ.

The quantity every estimator targets, for a batch x_1..x_B, is

    g = ∇_φ (1/B) Σ_b ( E_{q_φ(z|x_b)}[log p_θ(x_b|z)] − KL(q_φ(z|x_b) ‖ p(z)) ),

the gradient of the batch-mean ELBO. The KL term is analytic and its gradient is
added identically to every estimator, so the estimators differ only in how they
estimate ∇_φ E_q[f(z)] with f(z) = log p_θ(x|z) from L samples z_l ~ q_φ(z|x):

- ``reparam``: (1/L) Σ_l ∇_φ f(μ_φ + σ_φ ε_l), ε_l ~ N(0, I) (Kingma & Welling 2014).
- ``score``: (1/L) Σ_l f(z_l) ∇_φ log q_φ(z_l|x), the score-function or REINFORCE
  estimator (Williams 1992), unbiased because E_q[∇_φ log q_φ] = 0.
- ``score_baseline``: (1/L) Σ_l (f(z_l) − b) ∇_φ log q_φ(z_l|x), with a control
  variate b that does not depend on z_l, so it stays unbiased: either
  b = f(μ_φ(x)) (``posterior_mean``) or the mean of the other L − 1 samples'
  f (``leave_one_out``, Kool et al. 2019; needs L ≥ 2).

All three are surrogates whose autograd gradient is the estimator (``surrogate``);
training with them (``TrainConfig.estimator``, ``vae.training.estimators``) uses the same surrogates.

Many independent estimates are drawn cheaply: φ enters only through the encoder
outputs (μ, log σ²), which are the same for every estimate of one batch, so each
estimate's upstream gradient ∂/∂(μ, log σ²) is computed for K copies at once and
pulled back through the encoder with one batched vector–Jacobian product.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch

from vae.limits import check_estimators
from vae.model.networks import VAE
from vae.model.distributions import DiagonalGaussian
from vae.model.objectives import ESTIMATORS, check_estimator as _check_args, surrogate

Estimator = Literal["reparam", "score", "score_baseline"]
Baseline = Literal["posterior_mean", "leave_one_out"]
_PIXEL_BUDGET = 1 << 22  # decoded pixels per chunk: bounds memory for large L·K·B

def _encoder_copy(model: VAE) -> tuple[VAE, list[str], list[torch.nn.Parameter]]:
    """A private copy (the app's model is shared and must never be touched), with only φ requiring grad."""
    m = copy.deepcopy(model).eval()
    phi = m.encoder_parameters()
    ids = {id(p) for p in phi}
    names = {id(p): n for n, p in m.named_parameters()}
    for p in m.parameters():
        p.requires_grad_(id(p) in ids)
    return m, [names[id(p)] for p in phi], phi


def encoder_gradient_estimates(model: VAE, x: torch.Tensor, estimator: str, mc_samples: int = 1,
                               n_estimates: int = 100, baseline: str = "posterior_mean",
                               generator: torch.Generator | None = None,
                               _prepared: tuple | None = None) -> torch.Tensor:
    """K = n_estimates independent single-batch estimates of g = ∇_φ mean_b ELBO(x_b).

    x: (B, C, H, W) -> (K, P), P = the number of encoder parameters (``encoder_parameters()`` order,
    each tensor flattened). The model is deep-copied; it is never modified.
    """
    _check_args(estimator, mc_samples, baseline)
    if n_estimates < 1:
        raise ValueError(f"n_estimates must be ≥ 1, not {n_estimates}")
    post = getattr(model.config, "posterior", "gaussian")
    if post != "gaussian":
        raise ValueError(f"this lab compares gradient estimators for a Gaussian posterior; the run's posterior is "
                         f"{post} (its relaxed and implicit estimators have their own panels)")
    m, _, phi = _prepared or _encoder_copy(model)
    q = m.encode(x)  # (B, D), graph to φ
    mu, logvar = q.mu, q.logvar
    per_estimate = mc_samples * x.shape[0] * x[0].numel()
    chunk = max(1, min(n_estimates, _PIXEL_BUDGET // max(1, per_estimate)))
    g_mu, g_lv = [], []
    for start in range(0, n_estimates, chunk):
        k = min(chunk, n_estimates - start)
        mu_k = mu.detach().expand(k, *mu.shape).clone().requires_grad_(True)
        lv_k = logvar.detach().expand(k, *logvar.shape).clone().requires_grad_(True)
        s = surrogate(m, x, DiagonalGaussian(mu_k, lv_k), estimator, mc_samples, baseline, generator).mean(-1)  # (k,)
        a, b = torch.autograd.grad(s.sum(), (mu_k, lv_k))
        g_mu.append(a)
        g_lv.append(b)
    g_mu, g_lv = torch.cat(g_mu), torch.cat(g_lv)  # (K, B, D)
    out = []
    for start in range(0, n_estimates, 128):  # one batched vector–Jacobian product per 128 estimates
        sl = slice(start, start + 128)
        grads = torch.autograd.grad((mu, logvar), phi, grad_outputs=(g_mu[sl], g_lv[sl]),
                                    is_grads_batched=True, retain_graph=True)
        out.append(torch.cat([gr.reshape(gr.shape[0], -1) for gr in grads], 1))
    return torch.cat(out).detach()


@dataclass
class EstimatorStats:
    """Summary of K estimates of one estimator at one L."""
    estimator: str
    mc_samples: int
    n_estimates: int
    mean: torch.Tensor  # (P,) the mean estimate ĝ
    var: torch.Tensor  # (P,) per-coordinate unbiased variance of one estimate
    trace_var: float  # tr Cov(ĝ_single) = Σ_p var_p
    trace_var_per_tensor: dict[str, float]
    snr: float  # ‖g‖ / sqrt(tr Cov), with ‖g‖² estimated without bias as ‖ĝ‖² − tr Cov / K
    snr_per_tensor: dict[str, float]
    seconds: float  # time to draw the K estimates


def _snr(mean: torch.Tensor, var: torch.Tensor, k: int) -> float:
    tr = float(var.sum())
    signal = max(float(mean.pow(2).sum()) - tr / k, 0.0)
    return math.sqrt(signal / tr) if tr > 0 else float("inf")


def summarize(grads: torch.Tensor, estimator: str, mc_samples: int, names: list[str], sizes: list[int],
              seconds: float = 0.0) -> EstimatorStats:
    """grads: (K, P) with K ≥ 2 -> mean, variance (trace, per tensor) and signal-to-noise ratio."""
    k = grads.shape[0]
    if k < 2:
        raise ValueError("at least 2 estimates are needed to estimate a variance")
    g = grads.double()
    mean, var = g.mean(0), g.var(0, unbiased=True)
    tr_t, snr_t = {}, {}
    for name, part_m, part_v in zip(names, mean.split(sizes), var.split(sizes)):
        tr_t[name] = float(part_v.sum())
        snr_t[name] = _snr(part_m, part_v, k)
    return EstimatorStats(estimator, mc_samples, k, mean, var, float(var.sum()), tr_t, _snr(mean, var, k),
                          snr_t, seconds)


@dataclass
class Agreement:
    """Do two estimators' means agree? Standard errors are bootstrap standard deviations over the
    K estimates. Noise alone makes the cosine of two finite-K means < 1 and their relative difference > 0,
    so each comes with the value expected if both estimators had the same mean g."""
    a: str
    b: str
    mc_samples: int
    cosine: float  # cos(ĝ_a, ĝ_b)
    cosine_se: float
    cosine_if_equal: float  # ≈ the cosine that sampling noise alone gives if both means are g
    rel_diff: float  # ‖ĝ_b − ĝ_a‖ / ‖ĝ_a‖
    rel_diff_se: float
    rel_diff_if_equal: float  # ≈ sqrt((tr Σ_a + tr Σ_b)/K) / ‖g‖: noise alone
    noise_ratio: float  # ‖ĝ_a − ĝ_b‖² / E‖noise‖², E‖noise‖² = (tr Σ_a + tr Σ_b)/K; ≈ 1 when the means agree
    z2: float  # mean over coordinates of ((ĝ_a − ĝ_b)_p / se_p)²; ≈ 1 when the means agree


def _boot_means(g: torch.Tensor, n_boot: int, gen: torch.Generator) -> torch.Tensor:
    k = g.shape[0]
    idx = torch.randint(0, k, (n_boot, k), generator=gen)
    w = torch.zeros(n_boot, k, dtype=g.dtype).scatter_add_(1, idx, torch.ones(n_boot, k, dtype=g.dtype)) / k
    return w @ g  # (n_boot, P)


def agreement(grads_a: torch.Tensor, grads_b: torch.Tensor, sa: EstimatorStats, sb: EstimatorStats,
              n_boot: int = 200, seed: int = 0) -> Agreement:
    """Compare the means of two sets of estimates. grads_a: (K_a, P), grads_b: (K_b, P)."""
    gen = torch.Generator().manual_seed(seed)
    ma, mb = sa.mean, sb.mean
    ka, kb = grads_a.shape[0], grads_b.shape[0]
    ba, bb = _boot_means(grads_a.double(), n_boot, gen), _boot_means(grads_b.double(), n_boot, gen)
    cos_boot = torch.nn.functional.cosine_similarity(ba, bb, dim=1)
    rel_boot = (bb - ba).norm(dim=1) / ba.norm(dim=1)
    noise_a, noise_b = sa.trace_var / ka, sb.trace_var / kb
    diff = mb - ma
    se2 = sa.var / ka + sb.var / kb
    ok = se2 > 0
    # ‖g‖² estimated without bias from the lower-noise side, then the cosine noise alone would give.
    signal = max(float(ma.pow(2).sum()) - noise_a, 0.0) if noise_a <= noise_b else \
        max(float(mb.pow(2).sum()) - noise_b, 0.0)
    cos_eq = signal / math.sqrt((signal + noise_a) * (signal + noise_b)) if signal > 0 else 0.0
    rel_eq = math.sqrt((noise_a + noise_b) / signal) if signal > 0 else float("inf")
    return Agreement(sa.estimator, sb.estimator, sa.mc_samples,
                     float(torch.nn.functional.cosine_similarity(ma, mb, dim=0)), float(cos_boot.std()), cos_eq,
                     float(diff.norm() / ma.norm()), float(rel_boot.std()), rel_eq,
                     float(diff.pow(2).sum()) / (noise_a + noise_b),
                     float((diff[ok].pow(2) / se2[ok]).mean()))


@dataclass
class GradientStudy:
    """Every estimator at every L on one batch, and how each score-function mean compares to the
    reparameterized one."""
    names: list[str]  # encoder parameter tensors
    sizes: list[int]  # their numbers of elements
    batch_size: int
    baseline: str
    stats: list[EstimatorStats] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)

    def get(self, estimator: str, mc_samples: int) -> EstimatorStats:
        return next(s for s in self.stats if s.estimator == estimator and s.mc_samples == mc_samples)

    def variance_rows(self) -> list[dict]:
        """One row per (estimator, L): variance, SNR, the variance relative to reparam, and the time."""
        rows = []
        for s in self.stats:
            ref = next((r for r in self.stats if r.estimator == "reparam" and r.mc_samples == s.mc_samples), None)
            rows.append({"estimator": s.estimator, "L": s.mc_samples, "trace_var": s.trace_var,
                         "snr": s.snr, "var_ratio": s.trace_var / ref.trace_var if ref and ref.trace_var else None,
                         "seconds": s.seconds})
        return rows

    def tensor_rows(self, mc_samples: int) -> list[dict]:
        """Variance (trace) and SNR per encoder parameter tensor at one L."""
        rows = []
        for s in self.stats:
            if s.mc_samples == mc_samples:
                for name, size in zip(self.names, self.sizes):
                    rows.append({"tensor": name, "size": size, "estimator": s.estimator,
                                 "trace_var": s.trace_var_per_tensor[name], "snr": s.snr_per_tensor[name]})
        return rows

    def agreement_rows(self) -> list[dict]:
        return [{"pair": f"{a.b} vs {a.a}", "L": a.mc_samples, "cosine": a.cosine,
                 "cosine_se": a.cosine_se, "cosine_if_equal": a.cosine_if_equal, "rel_diff": a.rel_diff,
                 "rel_diff_se": a.rel_diff_se, "rel_diff_if_equal": a.rel_diff_if_equal,
                 "noise_ratio": a.noise_ratio, "z2": a.z2} for a in self.agreements]


def pick_batch(x: torch.Tensor, batch_size: int, seed: int = 0) -> torch.Tensor:
    """A seeded batch of distinct images. x: (N, C, H, W) -> (min(B, N), C, H, W)."""
    g = torch.Generator().manual_seed(seed)
    return x[torch.randperm(len(x), generator=g)[:batch_size]]


def gradient_study(model: VAE, x: torch.Tensor, mc_list: tuple[int, ...] = (1, 4, 16), n_estimates: int = 100,
                   estimators: tuple[str, ...] = ESTIMATORS, baseline: str = "posterior_mean", seed: int = 0,
                   on_progress: Callable[[float, str], None] | None = None) -> GradientStudy:
    """Draw n_estimates independent estimates per (estimator, L) on the batch x: (B, C, H, W),
    summarize them, and compare each score-function mean with the reparameterized mean.

    Each (estimator, L) uses its own seeded noise, so the estimators' errors are independent.
    The request is budgeted before any work (``vae.limits.check_estimators``): model parameters ×
    K × B × Σ_L (L + 1) × estimators ≤ VAE_MAX_ESTIMATOR_WORK and the estimates held ≤
    VAE_MAX_ESTIMATOR_FLOATS, else BudgetError naming the limit. on_progress(fraction, what)
    is called before each (estimator, L), naming it.
    """
    if n_estimates < 2:
        raise ValueError("at least 2 estimates per estimator are needed to measure a variance")
    if not mc_list:
        raise ValueError("choose at least one number of Monte-Carlo samples L")
    for est in estimators:
        for L in mc_list:
            _check_args(est, L, baseline)
    check_estimators(sum(p.numel() for p in model.parameters()),
                     sum(p.numel() for p in model.encoder_parameters()), x.shape[0], n_estimates,
                     tuple(mc_list), len(estimators))
    prepared = _encoder_copy(model)
    names = prepared[1]
    sizes = [p.numel() for p in prepared[2]]
    study = GradientStudy(names, sizes, x.shape[0], baseline)
    grads: dict[tuple[str, int], torch.Tensor] = {}
    jobs = [(L, est) for L in mc_list for est in estimators]
    for i, (L, est) in enumerate(jobs):
        if on_progress:
            on_progress(i / len(jobs), f"{est} estimator, L = {L}")
        gen = torch.Generator().manual_seed(seed * 1_000_003 + 7919 * ESTIMATORS.index(est) + L)
        t0 = time.perf_counter()
        g = encoder_gradient_estimates(model, x, est, L, n_estimates, baseline, gen, _prepared=prepared)
        grads[est, L] = g
        study.stats.append(summarize(g, est, L, names, sizes, time.perf_counter() - t0))
    if "reparam" in estimators:
        for L in mc_list:
            for est in estimators:
                if est != "reparam":
                    study.agreements.append(agreement(grads["reparam", L], grads[est, L],
                                                      study.get("reparam", L), study.get(est, L), seed=seed))
    if on_progress:
        on_progress(1.0, "done")
    return study
