"""The VAE objectives as pure functions, in nats.

Reductions are explicit: per-sample quantities are summed over pixels and
latent dimensions and returned with shape (B,); a training loss is their mean
over the batch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, σ²) ‖ N(0, 1)) per latent dimension. mu, logvar: (B, D) -> (B, D).

    Closed form from Kingma & Welling 2014, Appendix B:
    -KL = ½ Σ (1 + log σ² − μ² − σ²).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def log_normal_diag(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dim. Broadcasts; (..., D) -> (...)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I), summed over the last dim. (..., D) -> (...)."""
    return -0.5 * (LOG_2PI + z.pow(2)).sum(-1)


def log_likelihood(x: torch.Tensor, x_param: torch.Tensor, likelihood: str,
                   obs_logvar: torch.Tensor | None = None) -> torch.Tensor:
    """log p(x|z), summed over pixels. x: (B, C, H, W); x_param: (..., B, C, H, W) -> (..., B).

    Bernoulli: x_param are logits (data in [0, 1] are used as soft targets, as in
    pytorch/examples). Gaussian: x_param are means, with one shared log σ² used as
    given: the value is the density of that σ, whatever it is (a learned σ is kept
    above its floor by the model's parameterization, ``vae.models.OBS_STD_MIN``).
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
    kl: torch.Tensor  # (B,) KL(q(z|x) ‖ p(z)), analytic
    kl_per_dim: torch.Tensor  # (B, D)
    mu: torch.Tensor  # (B, D) posterior means, for statistics that need them
    logvar: torch.Tensor  # (B, D)


def elbo(model, x: torch.Tensor, mc_samples: int = 1, beta: float = 1.0,
         free_bits: float = 0.0) -> ElboTerms:
    """ELBO terms for a batch. x: (B, C, H, W).

    The reconstruction term uses L = mc_samples reparameterized samples; the KL
    is analytic. Free bits (Kingma et al. 2016, eq. 15) replaces each
    dimension's batch-mean KL by max(λ, KL_d) in the loss only.
    """
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar, n=mc_samples)  # (L, B, D)
    x_param = model.decode(z)  # (L, B, C, H, W)
    rec = log_likelihood(x, x_param, model.config.likelihood, getattr(model, "obs_logvar", None)).mean(0)
    kld = kl_per_dim(mu, logvar)
    kl = kld.sum(-1)
    if free_bits > 0:
        kl_term = kld.mean(0).clamp(min=free_bits).sum()
    else:
        kl_term = kl.mean()
    loss = -rec.mean() + beta * kl_term
    return ElboTerms(loss=loss, elbo=rec - kl, rec=rec, kl=kl, kl_per_dim=kld, mu=mu, logvar=logvar)


@torch.no_grad()
def iwae_bound(model, x: torch.Tensor, k: int, chunk: int = 64) -> torch.Tensor:
    """The importance-weighted bound of Burda et al. 2016 with K samples. x: (B, ...) -> (B,), float64.

    log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x). K = 1 is an ELBO
    estimate; the bound is non-decreasing in K (in expectation).

    log q(z_k|x) is computed from the standardized draw ε_k = (z_k − μ)/σ itself,
    −½ Σ (log 2π + log σ² + ε²), not from z_k − μ rounded in float32 (which loses
    most digits when σ is far below the spacing of floats near μ, e.g. σ = 1e-4 at
    μ ≈ 20), and the log-weights and their log-sum-exp are in float64.
    """
    mu, logvar = model.encode(x)
    std = torch.exp(0.5 * logvar)
    lv64 = logvar.double()
    parts = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n, *mu.shape), dtype=mu.dtype, device=mu.device)  # as reparameterize draws it
        z = mu + std * eps  # (n, B, D)
        log_px = log_likelihood(x, model.decode(z), model.config.likelihood, getattr(model, "obs_logvar", None))
        log_qz = -0.5 * (LOG_2PI + lv64 + eps.double().pow(2)).sum(-1)
        parts.append(log_px.double() + log_standard_normal(z.double()) - log_qz)
    log_w = torch.cat(parts, 0)  # (K, B), float64
    return torch.logsumexp(log_w, 0) - math.log(k)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[torch.Tensor, int]:
    """A_d = Var_x(E_q[z_d]) (Burda et al. 2016). mu: (N, D) -> (A: (D,), count of A_d > threshold)."""
    a = mu.var(0, unbiased=True) if mu.shape[0] > 1 else torch.zeros(mu.shape[1])
    return a, int((a > threshold).sum())


@torch.no_grad()
def mixture_log_density(z: torch.Tensor, mix_mu: torch.Tensor, mix_lv: torch.Tensor,
                        chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """log q(z) for the mixture q(z) = (1/M) Σ_j N(z; μ_j, diag σ²_j), and per dimension
    log q(z_d) for its marginals. z: (S, D); mix_mu, mix_lv: (M, D) -> ((S,), (S, D)), float64.

    The component densities are laid out (c, D, M) so every log-sum-exp runs over a
    contiguous axis, and are built in place: this is the O(S·M·D) core of the MI and
    marginal-KL estimates.
    """
    m = mix_mu.shape[0]
    log_m = math.log(m)
    mu_t = mix_mu.t().contiguous()  # (D, M)
    half_prec = (-mix_lv).exp().t().mul(-0.5).contiguous()  # −1/(2σ²): (D, M)
    const = (mix_lv.t() + LOG_2PI).mul(-0.5).contiguous()  # −½ (log 2π + log σ²): (D, M)
    tot, per = [], []
    for s in range(0, z.shape[0], chunk):
        dens = z[s:s + chunk, :, None] - mu_t  # (c, D, M)
        dens.square_().mul_(half_prec).add_(const)  # log N(z_d; μ_jd, σ²_jd)
        joint = dens.sum(1)  # (c, M): log N(z; μ_j, diag σ²_j)
        tot.append(torch.logsumexp(joint, 1).double() - log_m)
        top = dens.amax(2, keepdim=True)
        per.append((dens.sub_(top).exp_().sum(2).log_() + top[..., 0]).double() - log_m)
    if not tot:
        return torch.empty(0, dtype=torch.float64), torch.empty(0, z.shape[1], dtype=torch.float64)
    return torch.cat(tot), torch.cat(per)


@torch.no_grad()
def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, n_mixture: int | None = None,
                       generator: torch.Generator | None = None, chunk: int = 256) -> tuple[float, torch.Tensor]:
    """I_q(x; z) under the empirical data distribution, as estimated by He et al. 2019
    (Lagging inference networks, `calc_mi`): E_x[-H(q(z|x))] − E_{q(z)}[log q(z)],
    with q(z) the mixture (1/M) Σ_j q(z|x_j). One draw z_n ~ q(z|x_n) per point: a
    single replicate, whose Monte-Carlo standard deviation is about 1/√(2N) nats per
    dimension; ``vae.analysis.collapse.mixture_estimates`` averages replicates and reports their
    standard error. The estimate is bounded by log M (up to that noise).

    mu, logvar: (N, D). Returns (total MI, per-dimension MI (D,)); the per-dimension
    values use the marginals q(z_d|x), so they need not sum to the total.
    n_mixture caps the number of mixture components M (a seeded subsample).
    """
    n, d = mu.shape
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    # E_x E_q[log q(z|x)] = −H, in closed form: −½ Σ_d (log 2π + 1 + log σ²_d)
    neg_ent_dim = (-0.5 * (LOG_2PI + 1.0 + logvar.double())).mean(0)  # (D,)
    if n_mixture is not None and n_mixture < n:
        idx = torch.randperm(n, generator=generator)[:n_mixture]
        mix_mu, mix_lv = mu[idx], logvar[idx]
    else:
        mix_mu, mix_lv = mu, logvar
    lq_total, lq_dim = mixture_log_density(z, mix_mu, mix_lv, chunk)
    return float(neg_ent_dim.sum() - lq_total.mean()), (neg_ent_dim - lq_dim.mean(0)).to(mu.dtype)
