"""The VAE objectives as pure functions, in nats.

Reductions are explicit: per-sample quantities are summed over pixels and
latent dimensions and returned with shape (B,); a training loss is their mean
over the batch. Posteriors and priors are objects (``vae.model.distributions``): no
density or reparameterization is written out here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vae.config import BASELINES, ESTIMATORS
from vae.model.distributions import LOG_2PI, DiagonalGaussian

__all__ = ["LOG_2PI", "ESTIMATORS", "BASELINES", "log_likelihood", "ElboTerms", "elbo", "check_estimator", "AU_THRESHOLD", "KL_COLLAPSED",
           "reconstruction_surrogate", "surrogate", "iwae_bound", "active_units"]


def log_likelihood(x: torch.Tensor, x_param: torch.Tensor, likelihood: str,
                   obs_logvar: torch.Tensor | None = None) -> torch.Tensor:
    """log p(x|z), summed over pixels. x: (B, C, H, W); x_param: (..., B, C, H, W) -> (..., B).

    Bernoulli: x_param are logits (data in [0, 1] are used as soft targets, as in
    pytorch/examples). Gaussian: x_param are means, with one shared log σ² used as
    given: the value is the density of that σ, whatever it is (a learned σ is kept
    above its floor by the model's parameterization, ``vae.model.networks.OBS_STD_MIN``).
    The residual is standardized, (x − mean)/σ, so tiny σ do not overflow.
    """
    if likelihood == "bernoulli":
        ll = -F.binary_cross_entropy_with_logits(x_param, x.expand_as(x_param), reduction="none")
    elif likelihood == "gaussian":
        if obs_logvar is None:
            raise ValueError("a Gaussian likelihood needs the observation log-variance obs_logvar")
        lv = torch.as_tensor(obs_logvar, dtype=x_param.dtype, device=x_param.device)
        ll = -0.5 * (LOG_2PI + lv + ((x - x_param) * torch.exp(-0.5 * lv)).pow(2))
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    return ll.flatten(-3).sum(-1)


@dataclass
class ElboTerms:
    loss: torch.Tensor  # scalar: the training objective, mean over the batch (β, free bits applied)
    elbo: torch.Tensor  # (B,) the true ELBO per image: rec − KL (β = 1, no free bits)
    rec: torch.Tensor  # (B,) E_q[log p(x|z)], averaged over the L samples
    kl: torch.Tensor  # (B,) KL(q(z|x) ‖ p(z)), closed form where one exists
    kl_per_dim: torch.Tensor | None  # (B, D) when q and p factorize over dimensions
    posterior: DiagonalGaussian  # q(z|x) of the batch (or a vae.model.posteriors object)
    relaxed: torch.Tensor | None = None  # (B,) categorical: the relaxed (Gumbel-softmax) objective trained on, not the ELBO
    kl_exact: bool = True  # False: the KL is a Monte-Carlo estimate on the reconstruction's samples (flows)

    @property
    def mu(self) -> torch.Tensor:
        """(B, D) posterior means, for statistics that need them."""
        return self.posterior.mean


def check_estimator(estimator: str, mc_samples: int, baseline: str) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; expected one of {ESTIMATORS}")
    if baseline not in BASELINES:
        raise ValueError(f"unknown baseline {baseline!r}; expected one of {BASELINES}")
    if not isinstance(mc_samples, int) or mc_samples < 1:
        raise ValueError(f"the number of Monte-Carlo samples L must be a positive integer, not {mc_samples!r}")
    if estimator == "score_baseline" and baseline == "leave_one_out" and mc_samples < 2:
        raise ValueError("the leave-one-out baseline needs L ≥ 2 samples; use the posterior-mean baseline for L = 1")


def reconstruction_surrogate(model, x: torch.Tensor, q: DiagonalGaussian, estimator: str = "reparam",
                             mc_samples: int = 1, baseline: str = "posterior_mean",
                             generator: torch.Generator | None = None, z: torch.Tensor | None = None) -> torch.Tensor:
    """E_q[log p(x|z)] from L samples, as a surrogate whose gradient wrt q's parameters (hence
    φ) is the chosen estimator's. x: (B, C, H, W); q over (..., B, D) (leading dims index
    independent estimates) -> (..., B).

    Its value is the L-sample estimate for every estimator. ``reparam``: z = μ + σ·ε carries
    the pathwise gradient. ``score``: z is a sample, not a function of φ; φ enters through
    log q only: ∇ = mean_l f(z_l) ∇ log q(z_l|x) (Williams 1992). ``score_baseline`` subtracts a
    control variate b from f: log p(x | z = μ) or the leave-one-out mean of the other L − 1
    samples. The decoder θ always receives the pathwise gradient ∇_θ log p(x|z).
    """
    check_estimator(estimator, mc_samples, baseline)
    if estimator == "reparam":  # z: (L, ..., B, D) reparameterized draws already taken from q, if given
        return model.log_px(x, q.rsample(mc_samples, generator=generator) if z is None else z).mean(0)
    z = q.rsample(mc_samples, generator=generator).detach()
    f = model.log_px(x, z)  # (L, ..., B), θ-gradient only
    weight = f.detach()
    if estimator == "score_baseline":
        if baseline == "posterior_mean":
            with torch.no_grad():
                b = model.log_px(x, q.mean.detach())  # (..., B)
        else:
            b = (weight.sum(0, keepdim=True) - weight) / (mc_samples - 1)
        weight = weight - b
    # f.mean(0) carries θ's gradient and the value; (weight · log q) − its detached self is 0 in value.
    score_term = weight * q.log_prob(z)
    return f.mean(0) + (score_term - score_term.detach()).mean(0)


def surrogate(model, x: torch.Tensor, q: DiagonalGaussian, estimator: str, mc_samples: int = 1,
              baseline: str = "posterior_mean", generator: torch.Generator | None = None) -> torch.Tensor:
    """An ELBO estimate per image whose gradient wrt φ is the chosen estimator's: the
    reconstruction surrogate minus the closed-form KL (identical for every estimator). (..., B)."""
    return reconstruction_surrogate(model, x, q, estimator, mc_samples, baseline, generator) \
        - q.kl_to(model.prior).value


def elbo(model, x: torch.Tensor, mc_samples: int = 1, beta: float = 1.0, free_bits: float = 0.0,
         generator: torch.Generator | None = None, estimator: str = "reparam",
         baseline: str = "posterior_mean") -> ElboTerms:
    """ELBO terms for a batch. x: (B, C, H, W).

    The reconstruction term uses L = mc_samples samples (its gradient is the chosen
    estimator's, the reparameterization by default); the KL is q's ``kl_to`` the prior
    (closed form for a Gaussian against N(0, I); otherwise Monte Carlo on the same draws). Free bits (Kingma et al. 2016, eq. 15) replaces each
    dimension's batch-mean KL by max(λ, KL_d) in the loss only; β weighs the KL in the
    loss only. The reported ``elbo`` is always rec − KL.
    """
    q = model.encode(x)
    if not isinstance(q, DiagonalGaussian):
        return _elbo_other(model, x, q, mc_samples, beta, free_bits, generator, estimator)
    prior = model.prior
    # Without a closed form the KL is Monte Carlo on the reconstruction term's own draws.
    z = q.rsample(mc_samples, generator=generator) if estimator == "reparam" else None
    rec = reconstruction_surrogate(model, x, q, estimator, mc_samples, baseline, generator, z=z)
    kl = q.kl_to(prior, z=z)
    if free_bits > 0:
        if kl.per_dim is None:
            raise ValueError("free bits need a per-dimension KL, which this posterior and prior do not have")
        kl_term = kl.per_dim.mean(0).clamp(min=free_bits).sum()
    else:
        kl_term = kl.value.mean()
    loss = -rec.mean() + beta * kl_term
    rec = rec.detach() if estimator != "reparam" else rec  # a score surrogate's value is the estimate itself
    return ElboTerms(loss=loss, elbo=rec - kl.value, rec=rec, kl=kl.value, kl_per_dim=kl.per_dim, posterior=q,
                     kl_exact=kl.exact)


def _elbo_other(model, x: torch.Tensor, q, mc_samples: int, beta: float, free_bits: float,
                generator: torch.Generator | None, estimator: str) -> ElboTerms:
    """``elbo`` for the posteriors of ``vae.model.posteriors``, with the reparameterization gradient only.

    Flows: z = f(z₀) with its exact log q(z|x); the KL is the Monte-Carlo mean of log q(z|x) − log p(z)
    on the L samples the reconstruction uses. Dirichlet: implicit-reparameterization samples, KL in
    closed form. Categorical: the loss is the relaxed objective (Gumbel-softmax samples at the model's
    τ, straight-through if set, closed-form KL); the reported ``elbo`` is the discrete model's, with
    hard samples from the same Gumbel noise, and the relaxed value is returned as ``relaxed``."""
    if estimator != "reparam":
        raise ValueError(f"the {estimator} estimator is for Gaussian posteriors, not a {q.kind} one")
    prior = model.prior
    relaxed = None
    if q.kind == "categorical":
        y, hard = q.relaxed_and_hard(mc_samples, generator)
        rec_relaxed = model.log_px(x, y).mean(0)
        if q.straight_through:  # the forward value is the hard sample's already
            rec = rec_relaxed
        else:
            with torch.no_grad():
                rec = model.log_px(x, hard).mean(0)
        kl = q.kl_to(prior)
        train_rec = rec_relaxed
    else:
        z, log_q = q.rsample_with_log_prob(mc_samples, generator)
        rec = train_rec = model.log_px(x, z).mean(0)
        kl = q.kl_to(prior, z=z, log_q=log_q)
    if free_bits > 0:
        if kl.per_dim is None:
            raise ValueError(f"free bits need a per-dimension KL, which a {q.kind} posterior does not have")
        kl_term = kl.per_dim.mean(0).clamp(min=free_bits).sum()
    else:
        kl_term = kl.value.mean()
    loss = -train_rec.mean() + beta * kl_term
    if q.kind == "categorical":
        relaxed = (train_rec - kl.value).detach()
    return ElboTerms(loss=loss, elbo=rec - kl.value, rec=rec, kl=kl.value, kl_per_dim=kl.per_dim, posterior=q,
                     relaxed=relaxed, kl_exact=kl.exact)


@torch.no_grad()
def iwae_bound(model, x: torch.Tensor, k: int, chunk: int = 64,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """The importance-weighted bound of Burda et al. 2016 with K samples. x: (B, ...) -> (B,), float64.

    log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x). K = 1 is an ELBO
    estimate; the bound is non-decreasing in K (in expectation). log q(z_k|x) comes
    with the draw (``rsample_with_log_prob``: from the standardized noise, in float64),
    and the log-weights and their log-sum-exp are in float64. Any posterior: ``sample_with_log_prob``
    draws the model's own q (a flow's exact density; hard categorical samples).
    """
    q = model.encode(x)
    prior = model.prior  # built once: a VampPrior encodes its pseudo-inputs
    parts = []
    for start in range(0, k, chunk):
        z, log_q = q.sample_with_log_prob(min(chunk, k - start), generator=generator)  # (n, B, D), (n, B)
        parts.append(model.log_px(x, z).double() + prior.log_prob(z.double()) - log_q)
    log_w = torch.cat(parts, 0)  # (K, B), float64
    return torch.logsumexp(log_w, 0) - math.log(k)


# One definition of "carries information", shared by training records, Collapse and Traversals.
AU_THRESHOLD = 0.01  # Var_x E_q[z_d] above this: an active unit (Burda et al. 2016)
KL_COLLAPSED = 0.01  # nats: a dimension whose mean KL(q(z_d|x) ‖ p(z_d)) is below this carries (almost) nothing


def active_units(mu: torch.Tensor, threshold: float = AU_THRESHOLD) -> tuple[torch.Tensor, int]:
    """A_d = Var_x(E_q[z_d]) (Burda et al. 2016). mu: (N, D) -> (A: (D,), count of A_d > threshold)."""
    a = mu.var(0, unbiased=True) if mu.shape[0] > 1 else torch.zeros(mu.shape[1])
    return a, int((a > threshold).sum())
