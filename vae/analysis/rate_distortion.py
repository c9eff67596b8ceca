"""Where a run sits on the rate–distortion plane (Alemi et al. 2018, "Fixing a broken ELBO"),
and the ELBO-surgery split of its rate (Hoffman & Johnson 2016).

On the test split, in nats per image:

    rate        R = E_x KL(q(z|x) ‖ p(z))          (the evaluated KL)
    distortion  D = −E_x E_q[log p(x|z)]            (minus the evaluated reconstruction)
    −ELBO = R + D, so lines of equal ELBO are the lines R + D = const.

Both come from the one evaluation every run reports (``vae.model.evaluation.image_terms``: the same
fixed seed, batches and Monte-Carlo draw as the trainer's test records), so a run's point
is exactly its evaluated KL and reconstruction.

ELBO surgery: with the data distribution the empirical one over the N test images and
q(z) = (1/N) Σ_n q(z|x_n) the aggregate posterior,

    R = I_q(x; z) + KL(q(z) ‖ p(z)),

the information the code carries about x (bounded by log N) plus how far the aggregate
posterior strays from the prior. Both terms are Monte-Carlo estimates with standard errors
(``rate_split``); when q(z) is a subsample of the test posteriors
(more than 2,000 test images) the two need not add up to R exactly.

Functions of a model and tensors only; a run's point kept in its folder
(``cache/rate-distortion-<weights hash>.json``) is ``vae.cache.rate_distortion``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

N_MIXTURE = 2000  # posteriors forming q(z) per replicate (the Collapse page's default, ``collapse.N_MIXTURE``)
SURGERY_REPLICATES = 8  # replicates of the surgery estimates: their spread gives the standard errors
VERSION = 1  # bump when the numbers' definition changes: older cache files are then ignored


@dataclass
class RatePoint:
    """One run on the plane, in nats per test image."""
    rate: float  # E_x KL(q(z|x) ‖ p(z))
    distortion: float  # −E_x E_q[log p(x|z)]
    elbo: float  # −(rate + distortion)
    rate_se: float  # standard errors over images (of the mean)
    distortion_se: float
    n: int  # test images
    # ELBO surgery (None when the posterior is not a diagonal Gaussian)
    mi: float | None = None  # I_q(x; z)
    mi_se: float | None = None
    marginal_kl: float | None = None  # KL(q(z) ‖ p(z))
    marginal_kl_se: float | None = None
    mi_ceiling: float | None = None  # log M, the most I_q can be with M mixture points
    mixture_points: int | None = None
    surgery_note: str = ""  # why the split is missing, when it is
    digest: str = ""  # the weights' hash the numbers belong to
    version: int = VERSION

    @property
    def residual(self) -> float | None:
        """R − (I_q + KL(q(z) ‖ p(z))): zero up to Monte-Carlo error when q(z) uses every test image."""
        if self.mi is None or self.marginal_kl is None:
            return None
        return self.rate - self.mi - self.marginal_kl

    @property
    def mi_at_ceiling(self) -> bool:
        """I_q within MI_CEILING_MARGIN of log M: the estimate cannot rise above log M, so the true
        I_q may be larger (and KL(q(z) ‖ p(z)) smaller) than the split says."""
        from vae.analysis.collapse import MI_CEILING_MARGIN
        return self.mi is not None and self.mi_ceiling is not None and self.mi >= self.mi_ceiling - MI_CEILING_MARGIN

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RatePoint":
        floats = ("rate", "distortion", "elbo", "rate_se", "distortion_se")
        if not isinstance(d, dict) or d.get("version") != VERSION or not all(
                isinstance(d.get(k), (int, float)) and math.isfinite(d[k]) for k in floats):
            raise ValueError("not a rate-distortion record of this version")
        for k in ("mi", "mi_se", "marginal_kl", "marginal_kl_se", "mi_ceiling"):
            if d.get(k) is not None and not isinstance(d[k], (int, float)):
                raise ValueError(f"bad {k}")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@torch.no_grad()
def rate_distortion(model, x: torch.Tensor, surgery: bool = True, seed: int = 0,
                    progress: Callable[[float, str], None] | None = None) -> RatePoint:
    """Rate, distortion and (``rate_split``) the split of the rate for a model on images x: (N, C, H, W)."""
    from vae.model.distributions import DiagonalGaussian
    from vae.model.evaluation import image_terms

    def say(f: float, m: str) -> None:
        if progress is not None:
            progress(f, m)

    if len(x) < 2:
        raise ValueError("the rate–distortion point needs at least two test images")
    say(0.0, "evaluating the test split")
    t = image_terms(model, x)  # the trainer's own evaluation: same seed, batches and draws
    n = len(x)
    rate, dist = float(t.kl.mean()), float(-t.rec.mean())
    point = RatePoint(rate=rate, distortion=dist, elbo=float(t.elbo.mean()),
                      rate_se=float(t.kl.std() / math.sqrt(n)), distortion_se=float(t.rec.std() / math.sqrt(n)), n=n)
    if not surgery:
        return point
    say(0.4, "splitting the rate (ELBO surgery)")
    q = model.encode(x[:1])
    if not isinstance(q, DiagonalGaussian):
        point.surgery_note = f"the split needs a diagonal Gaussian posterior, not {type(q).__name__}"
        return point
    from vae.model.evaluation import encode_all
    s = rate_split(encode_all(model, x), model.prior, seed=seed,
                progress=lambda f: say(0.4 + 0.6 * f, "splitting the rate (ELBO surgery)"))
    point.mi, point.mi_se, point.marginal_kl, point.marginal_kl_se, point.mixture_points = s
    point.mi_ceiling = math.log(point.mixture_points)
    say(1.0, "done")
    return point


@torch.no_grad()
def rate_split(q, prior, n_mixture: int = N_MIXTURE, replicates: int = SURGERY_REPLICATES, seed: int = 0,
            progress: Callable[[float], None] | None = None) -> tuple[float, float, float, float, int]:
    """I_q(x; z) and KL(q(z) ‖ p(z)) from the posteriors q of N points, (N, D), with standard errors.

    Each replicate takes M = min(N, n_mixture) posteriors (a fresh seeded subsample when N is
    larger), draws one z_n ~ q(z|x_n) from each (together, draws from their mixture q(z)) and
    scores it under that mixture and the prior, with the posterior's own methods:
    I_q = −E_n H[q(z|x_n)] − E log q(z) and KL(q(z) ‖ p(z)) = E log q(z) − E log p(z): He et al.
    2019's estimator, totals only, against any prior (``vae.analysis.aggregate.surgery_replicates``,
    which ``vae.analysis.collapse.mixture_estimates`` uses too). Returns (I, s.e., KL, s.e., M):
    means over replicates, s.e. = sd / √replicates.
    """
    from vae.analysis.aggregate import mixture_points, surgery_replicates
    m = mixture_points(q.shape[0], n_mixture)
    a = surgery_replicates(q, prior, m, replicates, torch.Generator().manual_seed(seed), per_dim=False,
                           progress=progress)  # (R, 2)
    se = a.std(0, ddof=1) / math.sqrt(len(a)) if len(a) > 1 else np.full(2, np.nan)
    return float(a[:, 0].mean()), float(se[0]), float(a[:, 1].mean()), float(se[1]), m

