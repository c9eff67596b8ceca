"""The Gaussian formulas by their textbook names, computed by the library's posterior and prior
objects (vae.model.distributions): tests read as the formulas they check. Also references the
library itself has no use for: the per-dimension KL through torch.distributions' own registry, and
one replicate of the He et al. (2019) estimates of I_q(x; z) and KL(q(z) ‖ p(z))
(vae.analysis.aggregate)."""
import torch
from torch.distributions import Normal, kl_divergence

from vae.analysis.aggregate import surgery_replicates
from vae.model.distributions import DiagonalGaussian, StandardNormal


def kl_per_dim(mu, lv):
    return DiagonalGaussian(mu, lv).kl_per_dim()


def log_normal_diag(z, mu, lv):
    return DiagonalGaussian(mu, lv).log_prob(z)


def log_standard_normal(z):
    return StandardNormal(z.shape[-1]).log_prob(z)


def torch_kl_per_dim(q: DiagonalGaussian) -> torch.Tensor:
    """KL(N(μ_d, σ_d²) ‖ N(0, 1)) per dimension through ``torch.distributions``' registry: (B, D)."""
    return kl_divergence(Normal(q.mu, q.std), Normal(torch.zeros_like(q.mu), torch.ones_like(q.mu)))


def _one_replicate(q: DiagonalGaussian, generator: torch.Generator | None):
    """One replicate of the library's He et al. estimator over all N posteriors of q, one draw
    z_n ~ q(z|x_n) per point, against N(0, I): (D, row [I, I_d (D), KL, KL_d (D)])."""
    n, d = q.shape
    return d, surgery_replicates(q, StandardNormal(d), n, 1, generator)[0]


def mutual_information(q: DiagonalGaussian, generator: torch.Generator | None = None):
    """I_q(x; z) = E_x[−H(q(z|x))] − E_{q(z)}[log q(z)] with q(z) the mixture of all N posteriors:
    q (N, D) -> (total, per dimension (D,), the marginals q(z_d|x))."""
    d, row = _one_replicate(q, generator)
    return float(row[0]), torch.from_numpy(row[1:1 + d]).to(q.mu.dtype)


def marginal_kl(mu, lv, generator: torch.Generator | None = None):
    """KL(q(z) ‖ N(0, I)) = E_{q(z)}[log q(z) − log p(z)], q(z) the mixture of the N posteriors
    N(mu, diag exp lv): (total, per dimension (D,), the marginals q(z_d))."""
    q = DiagonalGaussian(mu, lv)
    d, row = _one_replicate(q, generator)
    return float(row[1 + d]), torch.from_numpy(row[2 + d:]).to(q.mu.dtype)
