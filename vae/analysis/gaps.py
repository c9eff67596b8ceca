"""Amortized against iterative inference: the inference gap of Cremer, Li & Duvenaud (2018).

For each of a few test points x:
- log p(x), estimated by the importance-weighted bound (Burda et al. 2016) with K samples
  (default 5,000) drawn from the best posterior found below;
- ELBO(q_φ): the encoder's posterior, as trained (amortized inference);
- ELBO(q*): q's parameters optimized for this x alone (Adam on the posterior's own
  parameters, starting from the encoder's output; iterative inference), estimated on the
  IWAE's own K draws.

Then  log p(x) − ELBO(q_φ)  =  [log p(x) − ELBO(q*)]  +  [ELBO(q*) − ELBO(q_φ)]
      (inference gap)          (approximation gap)       (amortization gap).

The approximation gap is what the posterior family itself cannot express; the
amortization gap is what one shared encoder loses against fitting each x. Every ELBO
and the IWAE are Monte-Carlo estimates and come with their standard errors.

Functions of a model and tensors only; a run's gaps kept in its folder are ``vae.cache.gaps``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np
import torch

from vae.limits import Limit, check_budget
from vae.model.distributions import DiagonalGaussian

GAP_POINTS = 100  # test points, chosen reproducibly
GAP_STEPS = 500  # Adam steps of the per-point optimization
GAP_LR = 5e-3  # its learning rate
# Reparameterized samples per point per step. Measured on mnist-default's 100 gap points (500 steps):
# ELBO(q*) −105.38 with 1 sample, −105.30 with 2, −105.24 with 8 at 5× the time of 2.
GAP_TRAIN_SAMPLES = 2
ELBO_SAMPLES = 500  # samples per point for ELBO(q_φ), with its standard error (ELBO(q*) uses the IWAE's K draws)
IWAE_K = 5000  # importance samples per point for log p(x)
IMAGES_PER_PASS = 256  # decoder batch: images per call (CPU caches favour small batches; bench/gaps.py)
# A request's work: model passes (≈ one pass through every parameter per sample per point).
GAP_WORK = Limit("inference-gap work", "VAE_MAX_GAP_WORK", 2e13, " parameter-passes")


def gap_work(n_params: int, points: int, steps: int, k: int = IWAE_K, samples: int = GAP_TRAIN_SAMPLES,
             elbo_samples: int = ELBO_SAMPLES) -> float:
    """Cost model of ``inference_gaps``: forward and backward through the model for each step's
    samples (counted 3×), ELBO(q_φ)'s samples and the K importance samples, per point."""
    return float(n_params) * points * (3 * steps * samples + elbo_samples + k)


def check_gaps(n_params: int, points: int, steps: int, k: int = IWAE_K) -> None:
    """Refuse a gap estimate past GAP_WORK (BudgetError), before anything runs."""
    check_budget(gap_work(n_params, points, steps, k), GAP_WORK,
                 f"The inference gaps of a {n_params:,}-parameter model on {points:,} points with {steps:,} steps")


@dataclass
class GapResult:
    """Per point (P,) arrays and their means, in nats per image."""
    points: list[int]  # indices into the split
    log_px: np.ndarray  # IWAE_K estimate of log p(x)
    elbo_amortized: np.ndarray  # ELBO(q_φ)
    elbo_optimized: np.ndarray  # ELBO(q*)
    elbo_amortized_se: np.ndarray  # Monte-Carlo standard errors of the two ELBOs
    elbo_optimized_se: np.ndarray
    curve: list[float]  # mean ELBO estimate over points at each optimization step (the training objective)
    steps: int
    k: int
    seconds: float
    mu_before: np.ndarray = field(repr=False, default=None)  # (P, D) encoder posterior means
    mu_after: np.ndarray = field(repr=False, default=None)  # (P, D) optimized posterior means
    sigma_before: np.ndarray = field(repr=False, default=None)
    sigma_after: np.ndarray = field(repr=False, default=None)

    @property
    def approximation_gap(self) -> np.ndarray:
        return self.log_px - self.elbo_optimized

    @property
    def amortization_gap(self) -> np.ndarray:
        return self.elbo_optimized - self.elbo_amortized

    def summary(self) -> dict:
        """Means over points with their standard errors over points (what the CLI prints as JSON)."""
        def mean_se(a: np.ndarray) -> tuple[float, float]:
            return float(a.mean()), float(a.std(ddof=1) / math.sqrt(len(a))) if len(a) > 1 else float("nan")
        out = {"points": len(self.points), "steps": self.steps, "k": self.k, "seconds": self.seconds}
        for name, a in (("log_px", self.log_px), ("elbo_amortized", self.elbo_amortized),
                        ("elbo_optimized", self.elbo_optimized), ("approximation_gap", self.approximation_gap),
                        ("amortization_gap", self.amortization_gap)):
            out[name], out[name + "_se"] = mean_se(a)
        return out

    def to_json(self) -> dict:
        d = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in asdict(self).items()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> "GapResult":
        arrays = {"log_px", "elbo_amortized", "elbo_optimized", "elbo_amortized_se", "elbo_optimized_se",
                  "mu_before", "mu_after", "sigma_before", "sigma_after"}
        return cls(**{k: (np.asarray(v, dtype=np.float64) if k in arrays and v is not None else v)
                      for k, v in d.items() if k in cls.__dataclass_fields__})


def gap_points(n: int, count: int = GAP_POINTS, seed: int = 0) -> list[int]:
    """``count`` indices of a split of n images, the same for every run and every call."""
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:min(count, n)].tolist())


def likelihood(model) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The model's log p(x|z) for heavy work with frozen weights: computed with its
    ``inference_decoder()`` (the same function, faster on CPU) where it has one."""
    if not hasattr(model, "inference_decoder"):
        return model.log_px
    decoder = model.inference_decoder()
    return lambda x, z: model.log_px(x, z, decoder)


def _chunk(points: int) -> int:
    """Samples per decoder call for ``points`` images: about IMAGES_PER_PASS images a call."""
    return max(1, IMAGES_PER_PASS // max(1, points))


@torch.no_grad()
def _draws(model, x: torch.Tensor, q: DiagonalGaussian, n: int, generator: torch.Generator | None,
           log_px) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """n draws z ~ q for each x (P, ...): log p(x|z) and log w = log p(x|z) + log p(z) − log q(z), both
    (n, P) float64, and q's KL to the prior where it has a closed form (P,), else None."""
    prior = model.prior  # built once (a VampPrior encodes its pseudo-inputs)
    log_px = likelihood(model) if log_px is None else log_px
    chunk = _chunk(len(x))
    recs, logws, kl = [], [], None
    for s in range(0, n, chunk):
        z, log_q = q.sample_with_log_prob(min(chunk, n - s), generator=generator)  # the model's q (hard one-hots)
        kl = q.kl_to(prior, z=z) if kl is None else kl  # closed form, or the first chunk's estimate (unused)
        rec = log_px(x, z).double()
        recs.append(rec)
        logws.append(rec + prior.log_prob(z.double()) - log_q.double())
    return torch.cat(recs), torch.cat(logws), (kl.value.double() if kl.exact else None)


def _elbo(rec: torch.Tensor, logw: torch.Tensor, kl: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The ELBO estimate of a set of draws and its standard error: mean log p(x|z) − KL with the KL in
    closed form, else the mean of log w (Monte Carlo for both terms; the error then covers both)."""
    f = logw if kl is None else rec
    return f.mean(0) - (0.0 if kl is None else kl), f.std(0) / math.sqrt(f.shape[0])


def elbo_mc(model, x: torch.Tensor, q: DiagonalGaussian, samples: int = ELBO_SAMPLES,
            generator: torch.Generator | None = None, log_px=None) -> tuple[torch.Tensor, torch.Tensor]:
    """ELBO of a given posterior q for x: (P, ...) -> (mean (P,), standard error (P,)), float64.
    log p(x|z) is averaged over ``samples`` draws; the KL to the prior is q's own: in closed form
    where there is one, else Monte Carlo on the same draws. ``log_px``: the model's ``likelihood``
    (built here if not given)."""
    return _elbo(*_draws(model, x, q, samples, generator, log_px))


def iwae_and_elbo(model, x: torch.Tensor, q: DiagonalGaussian, k: int = IWAE_K,
                  generator: torch.Generator | None = None,
                  log_px=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The IWAE bound with K draws from q and, from the same draws, q's ELBO and its standard error:
    three (P,) float64 tensors."""
    rec, logw, kl = _draws(model, x, q, k, generator, log_px)
    return (torch.logsumexp(logw, 0) - math.log(k), *_elbo(rec, logw, kl))


def _free_params(q0) -> tuple[list[torch.Tensor], Callable]:
    """A posterior's own per-point parameters as unconstrained tensors, and the map back to a posterior:
    a Gaussian's (μ, log σ²), a flow's base (μ, log σ²) and its per-image flow parameters, a categorical's
    logits, a Dirichlet's α > 0 as log α."""
    if getattr(q0, "kind", None) == "dirichlet":
        return [q0.alpha.detach().log()], lambda log_alpha: q0.with_params(log_alpha.exp())
    return [p.detach() for p in q0.params()], q0.with_params


@torch.no_grad()
def mean_and_std(q, draws: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """E_q[z] and the standard deviation of z under q, per dimension (B, D) in float64, for display: a
    Gaussian's μ and σ, a categorical's π and √(π(1 − π)) (its one-hot), a Dirichlet's closed forms, and
    a flow's estimated from ``draws`` seeded draws."""
    kind = getattr(q, "kind", None)
    if kind == "dirichlet":
        d = q.to_torch()
        mean, std = d.mean, d.variance.sqrt()
    elif kind == "categorical":
        mean = q.mean
        std = (mean * (1 - mean)).clamp(min=0).sqrt()
    elif hasattr(q, "std"):
        mean, std = q.mean, q.std
    else:
        z, _ = q.sample_with_log_prob(draws, generator=torch.Generator().manual_seed(seed))
        mean, std = z.double().mean(0), z.double().std(0)
    return mean.double().numpy(), std.double().numpy()


def refine_posterior(model, x: torch.Tensor, q0: DiagonalGaussian, steps: int = GAP_STEPS, lr: float = GAP_LR,
                     samples: int = GAP_TRAIN_SAMPLES, generator: torch.Generator | None = None,
                     on_step: Callable[[int, float], None] | None = None,
                     should_stop: Callable[[], bool] | None = None, log_px=None) -> tuple[DiagonalGaussian, list[float]]:
    """Iterative inference: maximize each point's ELBO over its own posterior parameters, starting
    from q0 (the encoder's), with Adam (step size decaying linearly from lr to lr/20). x: (P, ...). The model is only read. Returns (q*, mean-ELBO curve)."""
    free, build = _free_params(q0)
    params = [p.detach().clone().requires_grad_(True) for p in free]
    log_px = likelihood(model) if log_px is None else log_px
    opt = torch.optim.Adam(params, lr=lr)
    # The objective is noisy (a few samples per step): the step size decays linearly to 5% of lr,
    # so the iterate settles on the optimum instead of jittering around it.
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - 0.95 * t / max(1, steps))
    frozen = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    curve: list[float] = []
    with torch.no_grad():
        prior = model.prior  # fixed while q moves (a VampPrior's encoding of its pseudo-inputs, once)
    try:
        for step in range(steps):
            if should_stop is not None and should_stop():
                break
            q = build(*params)
            z = q.rsample(samples, generator=generator)
            # the KL in closed form where there is one, else Monte Carlo on the same draws
            objective = log_px(x, z).mean(0) - q.kl_to(prior, z=z).value  # (P,)
            loss = -objective.sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            curve.append(float(objective.detach().mean()))
            if on_step is not None:
                on_step(step + 1, curve[-1])
    finally:
        for p, f in zip(model.parameters(), frozen):
            p.requires_grad_(f)
    return build(*[p.detach() for p in params]), curve


def inference_gaps(model, x: torch.Tensor, points: list[int] | None = None, steps: int = GAP_STEPS,
                   k: int = IWAE_K, elbo_samples: int = ELBO_SAMPLES, lr: float = GAP_LR, seed: int = 0,
                   progress: Callable[[float, str], None] | None = None,
                   should_stop: Callable[[], bool] | None = None,
                   on_step: Callable[[int, float], None] | None = None, log_px=None) -> GapResult:
    """The gaps of ``model`` on images x[points] (default: ``gap_points``). x: (N, C, H, W).
    ``on_step(step, mean ELBO)`` follows the optimization step by step (a live curve). ``log_px``:
    the log-likelihood to compute with (default: ``likelihood(model)``, the fast decoder).

    All noise comes from one private generator seeded with ``seed``. log p(x) is the IWAE
    estimate under the better proposal, q* (it is tighter than q_φ's; both are lower bounds)."""
    t0 = time.perf_counter()
    points = gap_points(len(x)) if points is None else list(points)
    xb = x[points]
    gen = torch.Generator().manual_seed(seed)
    model.eval()
    with torch.no_grad():
        q_phi = model.encode(xb)

    def tick(step: int, value: float) -> None:
        if on_step is not None:
            on_step(step, value)
        if progress is not None and (step % 10 == 0 or step == steps):
            progress(0.8 * step / max(1, steps), f"optimizing each posterior: step {step} of {steps}, "
                                                  f"mean ELBO {value:.2f}")

    lik = likelihood(model) if log_px is None else log_px  # one copy of the frozen decoder, in its fast form, for all three
    q_star, curve = refine_posterior(model, xb, q_phi, steps=steps, lr=lr, generator=gen, on_step=tick,
                                     should_stop=should_stop, log_px=lik)
    if progress is not None:
        progress(0.8, f"estimating log p(x) with K = {k:,} importance samples")
    el_phi, se_phi = elbo_mc(model, xb, q_phi, elbo_samples, gen, lik)
    log_px, el_star, se_star = iwae_and_elbo(model, xb, q_star, k, gen, lik)  # ELBO(q*) on the IWAE's K draws
    if progress is not None:
        progress(1.0, "done")
    (mu_phi, sd_phi), (mu_star, sd_star) = mean_and_std(q_phi), mean_and_std(q_star)
    return GapResult(points=points, log_px=log_px.numpy(), elbo_amortized=el_phi.numpy(),
                     elbo_optimized=el_star.numpy(), elbo_amortized_se=se_phi.numpy(),
                     elbo_optimized_se=se_star.numpy(), curve=curve, steps=len(curve), k=k,
                     seconds=time.perf_counter() - t0, mu_before=mu_phi, mu_after=mu_star, sigma_before=sd_phi,
                     sigma_after=sd_star)


@dataclass
class RefinedPoint:
    """One image's posterior before (the encoder's q_φ) and after per-point refinement (q*)."""
    gaps: GapResult  # of this one point: log p(x), both ELBOs with their errors, the curve, μ and σ
    recon_before: torch.Tensor  # (C, H, W) E[x | z = μ_φ(x)] in [0, 1]
    recon_after: torch.Tensor  # (C, H, W) E[x | z = μ*] in [0, 1]

    @property
    def mu_before(self) -> np.ndarray:
        return self.gaps.mu_before[0]

    @property
    def mu_after(self) -> np.ndarray:
        return self.gaps.mu_after[0]

    @property
    def sigma_before(self) -> np.ndarray:
        return self.gaps.sigma_before[0]

    @property
    def sigma_after(self) -> np.ndarray:
        return self.gaps.sigma_after[0]

    def numbers(self) -> dict:
        """The point's figures in nats: ELBOs with their standard errors, log p(x) and both gaps."""
        g = self.gaps
        return {"elbo_amortized": float(g.elbo_amortized[0]), "elbo_amortized_se": float(g.elbo_amortized_se[0]),
                "elbo_optimized": float(g.elbo_optimized[0]), "elbo_optimized_se": float(g.elbo_optimized_se[0]),
                "log_px": float(g.log_px[0]), "approximation_gap": float(g.approximation_gap[0]),
                "amortization_gap": float(g.amortization_gap[0]), "steps": g.steps, "k": g.k}


def refine_point(model, x: torch.Tensor, index: int, steps: int = GAP_STEPS, k: int = IWAE_K, seed: int = 0,
                 progress: Callable[[float, str], None] | None = None,
                 should_stop: Callable[[], bool] | None = None,
                 on_step: Callable[[int, float], None] | None = None) -> RefinedPoint:
    """"Refine this posterior": the per-point optimization of image x[index] (x: (N, C, H, W)),
    its gaps, and the reconstructions at the posterior mean before and after."""
    g = inference_gaps(model, x, [index], steps=steps, k=k, seed=seed, progress=progress, should_stop=should_stop,
                       on_step=on_step)
    with torch.no_grad():
        mus = torch.from_numpy(np.stack([g.mu_before[0], g.mu_after[0]])).to(next(model.parameters()).dtype)
        before, after = model.mean_image(mus)
    return RefinedPoint(g, before, after)
