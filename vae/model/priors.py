"""Priors p(z) as objects: N(0, I), a learnable mixture of Gaussians, and the VampPrior.

A prior has ``log_prob(z)`` ((..., D) -> (...)), ``sample(n, generator)`` ((n, D)), ``dim``,
``kind`` and, for the per-dimension statistics, ``log_prob_marginals(z)`` ((..., D) -> (..., D):
log p(z_d) under each one-dimensional marginal).

- ``standard``: N(0, I) (``vae.model.distributions.StandardNormal``); the KL to a Gaussian
  posterior is in closed form.
- ``mog``: p(z) = Σ_k w_k N(z; m_k, diag s_k²) with learnable means, log-variances and
  mixture logits (K components).
- ``vamp``: the VampPrior of Tomczak & Welling (2018), p(z) = (1/K) Σ_k q(z | u_k), the
  encoder's posterior at K learnable pseudo-inputs u_k (images, kept in [0, 1] by a hard
  clamp, as their hardtanh does).

Neither mixture has a closed-form KL to a Gaussian posterior: ``posterior.kl_to(prior)``
estimates it by Monte Carlo (on the reconstruction term's own samples in training) and says
so (``KL.exact`` is False, with its standard error when several samples are used).

The learnable parameters live in the model as the submodule ``prior_params`` (so they are
trained by the model's optimizer and saved in ``model.safetensors`` beside the networks);
``model.prior`` builds the prior object from them on each call. A standard-prior model has no
such submodule, so runs saved before priors existed load unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from vae.config import PRIORS
from vae.model.distributions import LOG_2PI, StandardNormal

_CHUNK_ELEMENTS = 1 << 22  # rows × K × D per block of the mixture density (≈16 MB of float32)


class MixturePrior:
    """p(z) = Σ_k w_k N(z; μ_k, diag σ_k²). mu, logvar: (K, D); log_weights: (K,), normalized here."""

    kind = "mog"
    closed_form_kl = False

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, log_weights: torch.Tensor | None = None):
        if mu.shape != logvar.shape or mu.dim() != 2:
            raise ValueError(f"mixture means {tuple(mu.shape)} and log-variances {tuple(logvar.shape)} must be (K, D)")
        self.mu, self.logvar = mu, logvar
        k = mu.shape[0]
        lw = torch.zeros(k, dtype=mu.dtype, device=mu.device) if log_weights is None else log_weights
        self.log_weights = lw - torch.logsumexp(lw, 0)

    @property
    def components(self) -> int:
        return int(self.mu.shape[0])

    @property
    def dim(self) -> int:
        return int(self.mu.shape[1])

    @property
    def weights(self) -> torch.Tensor:
        return self.log_weights.exp()

    def _log_components(self, z: torch.Tensor) -> torch.Tensor:
        """log w_k + log N(z_d; μ_kd, σ_kd²) per dimension. z: (M, D) -> (M, K, D)."""
        mu, lv = self.mu.to(z.dtype), self.logvar.to(z.dtype)
        u = (z[:, None, :] - mu) * (-0.5 * lv).exp()
        return -0.5 * (LOG_2PI + lv + u.pow(2))

    def _blocks(self, z: torch.Tensor):
        flat = z.reshape(-1, z.shape[-1])
        rows = max(1, _CHUNK_ELEMENTS // max(1, self.components * self.dim))
        for s in range(0, flat.shape[0], rows):
            yield flat[s:s + rows]

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) = logsumexp_k [log w_k + log N(z; μ_k, σ_k²)]. z: (..., D) -> (...)."""
        lw = self.log_weights.to(z.dtype)
        out = [torch.logsumexp(self._log_components(b).sum(-1) + lw, -1) for b in self._blocks(z)]
        return torch.cat(out).reshape(z.shape[:-1]) if out else z.new_zeros(z.shape[:-1])

    def log_prob_marginals(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z_d) under each dimension's marginal Σ_k w_k N(z_d; μ_kd, σ_kd²). z: (..., D) -> (..., D)."""
        lw = self.log_weights.to(z.dtype)[:, None]
        out = [torch.logsumexp(self._log_components(b) + lw, -2) for b in self._blocks(z)]
        return torch.cat(out).reshape(z.shape) if out else torch.zeros_like(z)

    def sample(self, n: int, generator: torch.Generator | None = None, dtype: torch.dtype | None = None,
               device: torch.device | str | None = None) -> torch.Tensor:
        """(n, D): a component k ~ w, then z ~ N(μ_k, σ_k²)."""
        w = self.weights.detach().float().cpu()
        rows = torch.multinomial(w, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        mu, std = self.mu.detach().cpu()[rows], (0.5 * self.logvar.detach().cpu()[rows]).exp()
        z = mu + std * eps.to(mu.dtype)
        return z.to(dtype=dtype or z.dtype, device=device or self.mu.device)

    def detach(self) -> "MixturePrior":
        return type(self)(self.mu.detach(), self.logvar.detach(), self.log_weights.detach())

    def describe(self) -> str:
        return f"a learned mixture of {self.components} Gaussians"


class VampPrior(MixturePrior):
    """p(z) = (1/K) Σ_k q(z | u_k) (Tomczak & Welling 2018): a uniform mixture of the encoder's
    posteriors at the pseudo-inputs u: (K, C, H, W) in [0, 1]."""

    kind = "vamp"

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, pseudo_inputs: torch.Tensor):
        super().__init__(mu, logvar, None)
        self.pseudo_inputs = pseudo_inputs

    def detach(self) -> "VampPrior":
        return VampPrior(self.mu.detach(), self.logvar.detach(), self.pseudo_inputs.detach())

    def describe(self) -> str:
        return f"a VampPrior with {self.components} learned pseudo-inputs"


# ---------------------------------------------------------------- the learnable parameters

class MixtureParams(nn.Module):
    """The mixture prior's parameters: means (K, D) ~ N(0, 1), log-variances (K, D) = 0, logits (K,) = 0."""

    def __init__(self, k: int, d: int):
        super().__init__()
        self.means = nn.Parameter(torch.randn(k, d))
        self.logvars = nn.Parameter(torch.zeros(k, d))
        self.logits = nn.Parameter(torch.zeros(k))


class VampParams(nn.Module):
    """The VampPrior's K pseudo-inputs, (K, C, H, W), initialized uniformly in [0, 1]."""

    def __init__(self, k: int, shape: tuple[int, int, int]):
        super().__init__()
        self.pseudo_inputs = nn.Parameter(torch.rand(k, *shape))

    def images(self) -> torch.Tensor:
        """The pseudo-inputs in [0, 1] (a hard clamp: Tomczak & Welling's hardtanh)."""
        return self.pseudo_inputs.clamp(0.0, 1.0)


def build_prior_params(kind: str, components: int, latent_dim: int,
                       image_shape: tuple[int, int, int]) -> nn.Module | None:
    """The learnable parameters of a prior (None for the standard normal, which has none)."""
    if kind == "standard":
        return None
    if kind == "mog":
        return MixtureParams(components, latent_dim)
    if kind == "vamp":
        return VampParams(components, image_shape)
    raise ValueError(f"unknown prior {kind!r}; expected one of {', '.join(PRIORS)}")


def prior_of(model) -> StandardNormal | MixturePrior:
    """The prior object of a model (``model.prior`` calls this): built from its ``prior_params``,
    differentiable in them (a VampPrior encodes its pseudo-inputs with the model's encoder)."""
    params = getattr(model, "prior_params", None)
    if params is None:
        return StandardNormal(model.latent_dim)
    if isinstance(params, MixtureParams):
        return MixturePrior(params.means, params.logvars.clamp(-30.0, 20.0), params.logits)
    u = params.images()
    q = model.encode(u)
    mu, logvar = q.params()
    return VampPrior(mu, logvar, u)


def describe_prior(prior) -> str:
    """A few words naming a prior, for reports."""
    return prior.describe() if hasattr(prior, "describe") else "the standard normal N(0, I)"


# ---------------------------------------------------------------- per-dimension statistics

def kl_per_dim(q, prior, n: int = 16, generator: torch.Generator | None = None) -> torch.Tensor:
    """KL(q(z_d|x) ‖ p(z_d)) per dimension, (B, D): closed form against N(0, I); otherwise a
    Monte-Carlo estimate with n draws against the prior's one-dimensional marginals. For a
    mixture prior these do not add up to the full KL (the prior does not factorize), but each says
    how far the posterior's d-th marginal moves from the prior's, as N(0, 1) does for the standard one."""
    if isinstance(prior, StandardNormal):
        return q.kl_per_dim(prior)
    z = q.rsample(n, generator=generator)  # (n, B, D)
    return (q.log_prob_per_dim(z) - prior.log_prob_marginals(z)).mean(0)


def prior_components(model, limit: int = 64) -> dict:
    """What the Latent map shows of a run's prior: for a mixture, each component's mean decoded
    (E[x | z = m_k]) with its weight; for a VampPrior also the pseudo-inputs themselves.
    Components sorted by weight, at most ``limit``. Tensors on the CPU; {} for N(0, I)."""
    with torch.no_grad():
        p = model.prior
        if isinstance(p, StandardNormal):
            return {}
        order = torch.argsort(p.weights, descending=True)[:limit]
        out = {"kind": p.kind, "components": p.components, "shown": len(order),
               "weights": p.weights[order].cpu().tolist(), "index": order.cpu().tolist(),
               "decoded": model.mean_image(p.mu[order]).cpu(), "mu": p.mu[order].cpu(),
               "sigma": (0.5 * p.logvar[order]).exp().cpu()}
        if isinstance(p, VampPrior):
            out["pseudo_inputs"] = p.pseudo_inputs[order].cpu()
        return out

