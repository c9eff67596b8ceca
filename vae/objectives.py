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
    pytorch/examples). Gaussian: x_param are means, with one shared log σ².
    """
    if likelihood == "bernoulli":
        ll = -F.binary_cross_entropy_with_logits(x_param, x.expand_as(x_param), reduction="none")
    elif likelihood == "gaussian":
        lv = obs_logvar.clamp(-10.0, 4.0)
        ll = -0.5 * (LOG_2PI + lv + (x - x_param).pow(2) / lv.exp())
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
    """The importance-weighted bound of Burda et al. 2016 with K samples. x: (B, ...) -> (B,).

    log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x). K = 1 is an ELBO
    estimate; the bound is non-decreasing in K (in expectation).
    """
    mu, logvar = model.encode(x)
    parts = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z = model.reparameterize(mu, logvar, n=n)  # (n, B, D)
        log_px = log_likelihood(x, model.decode(z), model.config.likelihood, getattr(model, "obs_logvar", None))
        parts.append(log_px + log_standard_normal(z) - log_normal_diag(z, mu, logvar))
    log_w = torch.cat(parts, 0)  # (K, B)
    return torch.logsumexp(log_w, 0) - math.log(k)


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> tuple[torch.Tensor, int]:
    """A_d = Var_x(E_q[z_d]) (Burda et al. 2016). mu: (N, D) -> (A: (D,), count of A_d > threshold)."""
    a = mu.var(0, unbiased=True) if mu.shape[0] > 1 else torch.zeros(mu.shape[1])
    return a, int((a > threshold).sum())


@torch.no_grad()
def mutual_information(mu: torch.Tensor, logvar: torch.Tensor, n_mixture: int | None = None,
                       generator: torch.Generator | None = None, chunk: int = 256) -> tuple[float, torch.Tensor]:
    """I_q(x; z) under the empirical data distribution, as estimated by He et al. 2019
    (Lagging inference networks, `calc_mi`): E_x[-H(q(z|x))] − E_{q(z)}[log q(z)],
    with q(z) the mixture (1/M) Σ_j q(z|x_j).

    mu, logvar: (N, D). Returns (total MI, per-dimension MI (D,)); the per-dimension
    values use the marginals q(z_d|x), so they need not sum to the total.
    n_mixture caps the number of mixture components M (a seeded subsample).
    """
    n, d = mu.shape
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    # E_x E_q[log q(z|x)] = −H, in closed form: −½ Σ_d (log 2π + 1 + log σ²_d)
    neg_ent_dim = (-0.5 * (LOG_2PI + 1.0 + logvar)).mean(0)  # (D,)
    if n_mixture is not None and n_mixture < n:
        idx = torch.randperm(n, generator=generator)[:n_mixture]
        mix_mu, mix_lv = mu[idx], logvar[idx]
    else:
        mix_mu, mix_lv = mu, logvar
    m = mix_mu.shape[0]
    inv_var = (-mix_lv).exp()
    log_qz_total, log_qz_dim = [], []
    for s in range(0, n, chunk):
        zc = z[s:s + chunk, None, :]  # (c, 1, D)
        dens = -0.5 * (LOG_2PI + mix_lv + (zc - mix_mu).pow(2) * inv_var)  # (c, M, D)
        log_qz_total.append(torch.logsumexp(dens.sum(-1), 1) - math.log(m))
        log_qz_dim.append(torch.logsumexp(dens, 1) - math.log(m))
    lq_total = torch.cat(log_qz_total).mean()
    lq_dim = torch.cat(log_qz_dim).mean(0)
    return float(neg_ent_dim.sum() - lq_total), neg_ent_dim - lq_dim
