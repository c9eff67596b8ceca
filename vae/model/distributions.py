"""Posteriors and priors as objects.

Every other module speaks of ``q(z|x)`` and ``p(z)`` through this interface and
never spells out a reparameterization or a density:

- ``rsample(n, generator)``: reparameterized samples, (n, B, D) (or (B, D) when n is None);
  an explicit ``torch.Generator`` makes any estimate reproducible without touching the
  global RNG.
- ``log_prob(z)``: log-density summed over the latent dimensions, (..., B, D) -> (..., B).
- ``mean``: (B, D).
- ``kl_to(prior)``: a ``KL`` holding the per-image value, the per-dimension split when the
  prior factorizes, and whether it is the closed form or a Monte-Carlo estimate (with its
  standard error).

Built on ``torch.distributions`` (``Normal``, ``Independent``; the categorical and Dirichlet
KLs come from ``kl_divergence``'s registry, in ``vae.model.posteriors``) where it fits; the
Gaussian's sampling is written here only because ``torch.distributions.Normal.rsample`` takes
no generator, and its closed-form KL is checked against the registry's by the tests.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Independent, Normal

LOG_2PI = math.log(2 * math.pi)


@dataclass
class KL:
    """KL(q(z|x) ‖ p(z)) for a batch."""
    value: torch.Tensor  # (B,) nats per image
    per_dim: torch.Tensor | None  # (B, D) when q and p both factorize over dimensions, else None
    exact: bool  # True: closed form; False: Monte-Carlo estimate log q(z|x) − log p(z)
    stderr: torch.Tensor | None = None  # (B,) Monte-Carlo standard error (None when exact or n = 1)

    @property
    def method(self) -> str:
        return "closed form" if self.exact else "Monte Carlo"


class StandardNormal:
    """p(z) = N(0, I) over D dimensions."""

    kind = "standard"

    def __init__(self, dim: int):
        self.dim = int(dim)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (...)."""
        return self.log_prob_per_dim(z).sum(-1)

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., D)."""
        return -0.5 * (LOG_2PI + z.pow(2))

    def sample(self, n: int, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
        """(n, D) draws from N(0, I)."""
        return torch.randn(n, self.dim, generator=generator, dtype=dtype, device=device)


class DiagonalGaussian:
    """q(z|x) = N(μ, diag σ²) for a batch. mu, logvar: (B, D)."""

    kind = "gaussian"

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        if mu.shape != logvar.shape:
            raise ValueError(f"mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} differ in shape")
        self.mu = mu
        self.logvar = logvar

    # ---- parameters
    @property
    def mean(self) -> torch.Tensor:
        return self.mu

    @property
    def std(self) -> torch.Tensor:
        return (0.5 * self.logvar).exp()

    @property
    def shape(self) -> torch.Size:
        return self.mu.shape

    def params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(μ, log σ²): what to cache or send; ``DiagonalGaussian(*params)`` rebuilds the posterior."""
        return self.mu, self.logvar

    def to_torch(self) -> Independent:
        """The same distribution as a ``torch.distributions`` object (event dim D)."""
        return Independent(Normal(self.mu, self.std), 1)

    def __getitem__(self, idx) -> "DiagonalGaussian":
        return DiagonalGaussian(self.mu[idx], self.logvar[idx])

    def detach(self) -> "DiagonalGaussian":
        return DiagonalGaussian(self.mu.detach(), self.logvar.detach())

    # ---- sampling and densities
    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = μ + σ·ε, ε ~ N(0, I) (the reparameterization trick): (B, D), or (n, B, D) if n is given."""
        shape = self.mu.shape if n is None else (n, *self.mu.shape)
        eps = torch.randn(shape, generator=generator, dtype=self.mu.dtype, device=self.mu.device)
        return self.mu + self.std * eps

    def rsample_with_log_prob(self, n: int, generator: torch.Generator | None = None
                              ) -> tuple[torch.Tensor, torch.Tensor]:
        """n draws and their log q(z|x): ((n, B, D), (n, B) in float64).

        log q is computed from the standardized draw ε itself, −½ Σ (log 2π + log σ² + ε²),
        not from z − μ rounded in float32 (which loses most digits when σ is far below
        the spacing of floats near μ, e.g. σ = 1e-4 at μ ≈ 20)."""
        eps = torch.randn((n, *self.mu.shape), generator=generator, dtype=self.mu.dtype, device=self.mu.device)
        z = self.mu + self.std * eps
        log_q = -0.5 * (LOG_2PI + self.logvar.double() + eps.double().pow(2)).sum(-1)
        return z, log_q

    sample_with_log_prob = rsample_with_log_prob  # the model's own draw, as every posterior names it

    def with_params(self, mu: torch.Tensor, logvar: torch.Tensor) -> "DiagonalGaussian":
        return DiagonalGaussian(mu, logvar)

    def subsample(self, m: int | None, generator: torch.Generator | None = None) -> "DiagonalGaussian":
        """At most m of the batch's posteriors (a seeded random subset), or all of them."""
        n = self.shape[0]
        return self if m is None or m >= n else self[torch.randperm(n, generator=generator)[:m]]

    def mixture(self) -> "GaussianMixture":
        """The equal-weight mixture of this batch's posteriors: the aggregate posterior
        q(z) = (1/N) Σ_n q(z|x_n) when the batch is a dataset (or a subsample of one)."""
        return GaussianMixture(self.mu, self.logvar)

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z_d; μ_d, σ_d²) per dimension. z: (..., B, D) -> (..., B, D).

        Written in the standardized form (z − μ)/σ, so σ far below 1e-3 keeps its accuracy."""
        u = (z - self.mu) * (-0.5 * self.logvar).exp()
        return -0.5 * (LOG_2PI + self.logvar + u.pow(2))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) summed over dimensions. z: (..., B, D) -> (..., B)."""
        return self.log_prob_per_dim(z).sum(-1)

    def entropy_per_dim(self) -> torch.Tensor:
        """H[q(z_d|x)] = ½ (log 2π + 1 + log σ_d²): (B, D)."""
        return 0.5 * (LOG_2PI + 1.0 + self.logvar)

    def kl_per_dim(self, prior: StandardNormal | None = None) -> torch.Tensor:
        """KL(N(μ_d, σ_d²) ‖ N(0, 1)) per dimension, closed form: (B, D).

        Kingma & Welling 2014, Appendix B: −KL = ½ Σ (1 + log σ² − μ² − σ²)."""
        if prior is not None and not isinstance(prior, StandardNormal):
            raise TypeError(f"no closed-form per-dimension KL to a {type(prior).__name__} prior")
        return 0.5 * (self.mu.pow(2) + self.logvar.exp() - 1.0 - self.logvar)

    def kl_to(self, prior, z: torch.Tensor | None = None, n: int = 1,
              generator: torch.Generator | None = None) -> KL:
        """KL(q ‖ prior): closed form against N(0, I); otherwise Monte Carlo on the samples ``z``
        ((L, B, D), e.g. the reconstruction term's own) or on ``n`` fresh ones."""
        if isinstance(prior, StandardNormal):
            per_dim = self.kl_per_dim(prior)
            return KL(per_dim.sum(-1), per_dim, exact=True)
        return monte_carlo_kl(self, prior, z=z, n=n, generator=generator)


class GaussianMixture:
    """q(z) = (1/M) Σ_j N(z; μ_j, diag σ_j²): mu, logvar (M, D). The aggregate posterior of
    M encoded points, as used by the mutual information, the marginal KL and the
    traversals' off-manifold check."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        self.mu, self.logvar = mu, logvar

    @property
    def components(self) -> int:
        return int(self.mu.shape[0])

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, D): pick a component uniformly, then draw from it."""
        rows = torch.randint(self.components, (n,), generator=generator)
        return DiagonalGaussian(self.mu[rows], self.logvar[rows]).rsample(generator=generator)

    @torch.no_grad()
    def log_prob_with_marginals(self, z: torch.Tensor, chunk: int = 64, marginals: bool = True
                                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """log q(z) and, per dimension, log q(z_d) under the marginals. z: (S, D) -> ((S,), (S, D)), float64.

        The component densities are laid out (c, D, M) so every log-sum-exp runs over a
        contiguous axis, and are built in place: this is the O(S·M·D) core of the MI and
        marginal-KL estimates."""
        m = self.components
        log_m = math.log(m)
        mu_t = self.mu.t().contiguous()  # (D, M)
        half_prec = (-self.logvar).exp().t().mul(-0.5).contiguous()  # −1/(2σ²): (D, M)
        const = (self.logvar.t() + LOG_2PI).mul(-0.5).contiguous()  # −½ (log 2π + log σ²): (D, M)
        tot, per = [], []
        for s in range(0, z.shape[0], chunk):
            dens = z[s:s + chunk, :, None] - mu_t  # (c, D, M)
            dens.square_().mul_(half_prec).add_(const)  # log N(z_d; μ_jd, σ²_jd)
            joint = dens.sum(1)  # (c, M): log N(z; μ_j, diag σ²_j)
            tot.append(torch.logsumexp(joint, 1).double() - log_m)
            if marginals:
                top = dens.amax(2, keepdim=True)
                per.append((dens.sub_(top).exp_().sum(2).log_() + top[..., 0]).double() - log_m)
        if not tot:
            return torch.empty(0, dtype=torch.float64), torch.empty(0, z.shape[1], dtype=torch.float64)
        return torch.cat(tot), (torch.cat(per) if marginals else None)

    def log_prob(self, z: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """log q(z): (S, D) -> (S,), float64."""
        return self.log_prob_with_marginals(z, chunk, marginals=False)[0]


def monte_carlo_kl(q, prior, z: torch.Tensor | None = None, n: int = 1,
                   generator: torch.Generator | None = None) -> KL:
    """E_q[log q(z) − log p(z)] from samples z: (L, B, D) (drawn when not given)."""
    if z is None:
        z = q.rsample(n, generator=generator)
    if z.dim() == 2:
        z = z.unsqueeze(0)
    terms = q.log_prob(z) - prior.log_prob(z)  # (L, B)
    stderr = terms.std(0) / math.sqrt(terms.shape[0]) if terms.shape[0] > 1 else None
    return KL(terms.mean(0), None, exact=False, stderr=stderr)
