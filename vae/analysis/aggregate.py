"""The aggregate posterior q(z) = (1/M) Σ_j q(z|x_j) and the two parts it splits the rate into.

ELBO surgery (Hoffman & Johnson 2016): E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z)),
with I_q the mutual information between the image and its code under the empirical data
distribution. Both parts are estimated as He et al. 2019 do (Lagging inference networks,
``calc_mi``), here the one implementation of it (the Collapse page's
``vae.analysis.collapse.mixture_estimates`` and the rate–distortion plane's
``vae.analysis.rate_distortion.rate_split`` both call ``surgery_replicates``):

- one replicate takes M posteriors q(z|x_n) (``mixture_points``: all N, or a fresh seeded
  subsample of n_mixture when there are more), draws one z_n ~ q(z|x_n) from each (together,
  M draws from their mixture q(z)) and scores each draw under that mixture and the prior;
- I_q = E_n[−H(q(z|x_n))] − E_n log q(z_n)   (the entropy in closed form);
- KL(q(z) ‖ p(z)) = E_n log q(z_n) − E_n log p(z_n).

The two share their draws and their log q(z), so their sum is E_n[−H] − E_n log p(z_n), an
estimate of E_x KL whose only error is that of E log p(z) (the mixture's log M bias cancels).
I_q cannot exceed log M (up to its noise). Per dimension the same formulas use the marginals
q(z_d|x) and q(z_d), so the per-dimension values need not add up to the totals. Independent
replicates give the Monte-Carlo standard error: sd / √replicates.

Pure: functions of posterior and prior objects (``vae.model.distributions``) and tensors.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch


def mixture_points(n: int, n_mixture: int | None) -> int:
    """M, the posteriors each replicate uses: all n, or n_mixture (at least 2) when there are more."""
    return n if not n_mixture or n_mixture >= n else max(2, int(n_mixture))


@torch.no_grad()
def surgery_replicates(posterior, prior, m: int, replicates: int, generator: torch.Generator,
                       per_dim: bool = True, progress: Callable[[float], None] | None = None) -> np.ndarray:
    """``replicates`` independent estimates of I_q(x; z) and KL(q(z) ‖ p(z)), float64.

    posterior: a ``DiagonalGaussian`` over N points, (N, D); each replicate uses M = m of them
    (``subsample``: a fresh draw from ``generator`` when m < N) and one draw of z from each.
    prior: any prior with ``log_prob`` (with ``per_dim`` it must also have ``log_prob_per_dim``,
    i.e. factorize over dimensions, as N(0, I) does).
    Returns (R, 2) rows [I_q, KL] or, with ``per_dim``, (R, 2 + 2D) rows
    [I_q, I_q per dimension (D), KL, KL per dimension (D)]. With per-dimension values the totals
    are the sums of the per-dimension means of −H and log p(z_d) (the same numbers, summed in
    that order). ``progress(fraction)`` is called before each replicate.
    """
    rows = []
    for r in range(replicates):
        if progress is not None:
            progress(r / replicates)
        q = posterior.subsample(m, generator)
        z = q.rsample(generator=generator)  # (M, D): one draw per posterior, together draws of q(z)
        lq_tot, lq_dim = q.mixture().log_prob_with_marginals(z, marginals=per_dim)  # float64
        lq_tot = lq_tot.mean()
        if per_dim:
            neg_ent = -q.entropy_per_dim().double().mean(0)  # (D,) E_n E_q log q(z_d|x_n)
            lp_dim = prior.log_prob_per_dim(z.double()).mean(0)  # (D,) mean log p(z_d)
            lq_dim = lq_dim.mean(0)
            rows.append(torch.cat([(neg_ent.sum() - lq_tot)[None], neg_ent - lq_dim,
                                   (lq_tot - lp_dim.sum())[None], lq_dim - lp_dim]))
        else:
            neg_ent = -q.entropy_per_dim().double().sum(-1).mean()
            log_pz = prior.log_prob(z.double()).mean()
            rows.append(torch.stack([neg_ent - lq_tot, lq_tot - log_pz]))
    return torch.stack(rows).numpy()
