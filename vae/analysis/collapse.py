"""Posterior-collapse diagnostics, per latent dimension, over a whole split.

Four statistics per dimension d, each able to flag a collapsed dimension:

- KL_d = E_x KL(q(z_d|x) ‖ N(0, 1)), nats (``DiagonalGaussian.kl_per_dim``);
- A_d = Var_x(E_q[z_d]), the active-unit statistic of Burda et al. 2016;
- I_q(x; z_d), the mutual information estimated as in He et al. 2019
  (``vae.analysis.aggregate``), averaged over independent replicates (fresh draws
  of z, and fresh subsamples of the points when there are more than the mixture's
  M) and reported with its Monte-Carlo standard error, so a dimension is called
  collapsed by MI only when it is below the threshold by more than two standard errors;
- decoder sensitivity: the mean |ΔE[x|z]| per pixel when z_d alone moves by ±δ
  from z = μ(x). It tells "the encoder ignores x" (A_d ≈ 0, decoder still
  reacts) apart from "the decoder ignores z_d" (A_d > 0, images do not change).

Also the decomposition E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z))
(Hoffman & Johnson 2016, "ELBO surgery"). I_q and KL(q(z) ‖ p(z)) share their draws
of z and their estimate of log q(z), so the identity's residual is the Monte-Carlo
error of E log p(z) alone (the mixture's log M bias cancels between the two), histograms of μ_d and σ_d,
and per-run profiles for comparing runs. The KL per dimension over a run's epochs is
``vae.analysis.kl_history``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from vae.analysis.aggregate import mixture_points, surgery_replicates
from vae.model.distributions import DiagonalGaussian, StandardNormal
from vae.model.objectives import AU_THRESHOLD, KL_COLLAPSED, active_units
from vae.model.evaluation import EVAL_SEED, image_terms

KL_THRESHOLD = KL_COLLAPSED  # nats: a dimension with less mean KL carries (almost) nothing
MI_THRESHOLD = 0.05  # nats: a dimension whose I_q(x; z_d) is clearly below this carries (almost) nothing
MI_SE_MULTIPLE = 2.0  # MI says collapsed (used) only when below (above) the threshold by more than this many s.e.
# Replicates of the MI / marginal-KL estimate: enough that replicates × points ≥ MI_SAMPLES, so the
# per-dimension MI's standard error, about 1/√(2·that) for an unused dimension and ≲ 1/√that for the
# used ones of the committed runs, stays below 0.01 nats; at least MI_MIN_REPLICATES to estimate it.
MI_SAMPLES = 16_000
MI_MIN_REPLICATES = 8
MI_MAX_REPLICATES = 1000
MI_CEILING_MARGIN = 0.1  # nats: a total MI this close to log M is at the estimator's ceiling
# The decoder ignores z_d when its sensitivity (mean |ΔE[x|z]| per pixel, images in [0, 1]) is below
# SENS_REL of the most sensitive dimension's, and never counts as used below SENS_FLOOR. Relative,
# because images that are mostly background (shapes) dilute the per-pixel mean.
SENS_REL = 0.15
SENS_FLOOR = 0.005
N_MIXTURE = 2000  # points (a fresh subsample per replicate beyond this) whose posteriors form q(z) for MI, marginal KL
DELTA = 2.0  # how far z_d moves (in prior standard deviations) for the decoder sensitivity
N_ANCHORS = 256  # data points at which the decoder sensitivity is measured

VERDICTS = ("active", "encoder ignores x", "decoder ignores z_d", "collapsed")
MI_STATES = ("used", "collapsed", "undetermined")


@dataclass
class CollapseReport:
    """Per-dimension statistics of one model over one split; arrays are (D,)."""
    n_points: int  # N, points the statistics average over
    kl: np.ndarray  # E_x KL(q(z_d|x) ‖ N(0, 1)), nats
    activity: np.ndarray  # A_d = Var_x(E_q[z_d])
    mi: np.ndarray  # I_q(x; z_d), nats (marginals, so they need not sum to mi_total)
    mi_total: float  # I_q(x; z), nats
    marginal_kl: np.ndarray  # KL(q(z_d) ‖ N(0, 1)), nats, q(z_d) the aggregate posterior's marginal
    marginal_kl_total: float  # KL(q(z) ‖ p(z)), nats
    sensitivity: np.ndarray | None  # mean |ΔE[x|z]| per pixel for z_d ± delta; None without a decoder
    n_mixture: int  # M, points (and so mixture components) used for the MI and the marginal KL
    delta: float  # the move used for the sensitivity
    rec: float | None = None  # E_x E_q[log p(x|z)], nats per image (1 sample of z)
    elbo: float | None = None  # E_x ELBO = rec − KL, nats per image
    mu_mean: np.ndarray | None = None  # E_x[μ_d]
    sigma_mean: np.ndarray | None = None  # E_x[σ_d]
    # Standard errors (None where not estimated). MI and marginal KL: Monte-Carlo s.e. of the mean
    # over `replicates` independent replicates. Sensitivity: s.e. over the n_anchors images.
    # rec and ELBO: s.e. over the N test images of the one-sample per-image values.
    mi_se: np.ndarray | None = None
    mi_total_se: float | None = None
    marginal_kl_se: np.ndarray | None = None
    marginal_kl_total_se: float | None = None
    replicates: int = 1
    sensitivity_se: np.ndarray | None = None
    n_anchors: int | None = None
    rec_se: float | None = None
    elbo_se: float | None = None

    @property
    def latent_dim(self) -> int:
        return len(self.kl)

    @property
    def kl_total(self) -> float:
        """E_x KL(q(z|x) ‖ p(z)), nats: the sum of the per-dimension KLs."""
        return float(self.kl.sum())

    @property
    def identity_residual(self) -> float:
        """E_x KL − (I_q(x; z) + KL(q(z) ‖ p(z))): zero up to Monte-Carlo and mixture-subsampling error."""
        return self.kl_total - (self.mi_total + self.marginal_kl_total)

    def stat(self, name: str) -> np.ndarray:
        """One statistic by name: 'kl', 'activity', 'mi', 'sensitivity' or 'marginal_kl'."""
        v = getattr(self, name)
        if v is None:
            raise ValueError(f"this report has no {name!r} (no decoder was given)")
        return np.asarray(v)

    def stat_se(self, name: str) -> np.ndarray | None:
        """The standard error of a statistic, (D,), or None: 'kl' and 'activity' are exact
        functions of the encoded test set (no Monte Carlo), and old reports have none."""
        v = getattr(self, f"{name}_se", None)
        return None if v is None else np.asarray(v)

    @property
    def mi_ceiling(self) -> float:
        """log M: the He et al. minibatch estimator on M points cannot exceed it (up to its noise)."""
        return math.log(self.n_mixture)

    def mi_at_ceiling(self, margin: float = MI_CEILING_MARGIN) -> bool:
        """True when the total MI is within ``margin`` nats of log M: more points are needed."""
        return self.mi_total > self.mi_ceiling - margin


def _as_tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).float()


@dataclass
class MixtureEstimates:
    """I_q(x; z) and KL(q(z) ‖ p(z)), total and per dimension, each the mean of
    ``replicates`` independent replicates with its Monte-Carlo standard error
    (the replicates' standard deviation / √replicates)."""
    mi_total: float
    mi_total_se: float
    mi: np.ndarray  # (D,)
    mi_se: np.ndarray  # (D,)
    marginal_kl_total: float
    marginal_kl_total_se: float
    marginal_kl: np.ndarray  # (D,)
    marginal_kl_se: np.ndarray  # (D,)
    n_mixture: int  # M, points per replicate (their posteriors are the mixture q(z))
    replicates: int


def mi_replicates(m: int, samples: int = MI_SAMPLES) -> int:
    """Replicates for M points each: replicates × M ≥ samples, within [MI_MIN_REPLICATES, MI_MAX_REPLICATES]."""
    return int(min(MI_MAX_REPLICATES, max(MI_MIN_REPLICATES, math.ceil(samples / max(1, m)))))


@torch.no_grad()
def mixture_estimates(mu, logvar, n_mixture: int | None = N_MIXTURE, replicates: int | None = None,
                      seed: int = 0, progress=None) -> MixtureEstimates:
    """I_q(x; z) (He et al. 2019) and KL(q(z) ‖ p(z)) with Monte-Carlo standard errors.

    Each replicate takes M = min(N, n_mixture) points (a fresh seeded subsample when
    N > n_mixture), draws one z_n ~ q(z|x_n) per point and evaluates log q(z_n) under
    their mixture q(z) = (1/M) Σ_j q(z|x_j), total and per dimension (marginals). Then
    I_q = E_x[−H(q(z|x))] (closed form) − mean log q(z_n), and KL(q(z) ‖ p(z)) = mean
    log q(z_n) − mean log p(z_n), p = N(0, I) (``vae.analysis.aggregate.surgery_replicates``).
    The reported values are means over the replicates (default ``mi_replicates(M)``), with
    standard error sd/√replicates. mu, logvar: (N, D).
    ``progress(fraction)`` is called before each replicate.
    """
    posterior = DiagonalGaussian(_as_tensor(mu), _as_tensor(logvar))
    n, d = posterior.shape
    m = mixture_points(n, n_mixture)
    reps = int(replicates) if replicates else mi_replicates(m)
    g = torch.Generator().manual_seed(seed)
    a = surgery_replicates(posterior, StandardNormal(d), m, reps, g, progress=progress)  # (R, 2 + 2D)
    mean = a.mean(0)
    se = a.std(0, ddof=1) / math.sqrt(reps) if reps > 1 else np.full(a.shape[1], np.nan)
    if progress is not None:
        progress(1.0)
    return MixtureEstimates(
        mi_total=float(mean[0]), mi_total_se=float(se[0]), mi=mean[1:1 + d], mi_se=se[1:1 + d],
        marginal_kl_total=float(mean[1 + d]), marginal_kl_total_se=float(se[1 + d]),
        marginal_kl=mean[2 + d:], marginal_kl_se=se[2 + d:], n_mixture=m, replicates=reps)


@torch.no_grad()
def sensitivity_with_se(model, mu, delta: float = DELTA, n_anchors: int = N_ANCHORS, seed: int = 0,
                        batch: int = 4096) -> tuple[np.ndarray, np.ndarray, int]:
    """Decoder sensitivity per dimension with its standard error over the anchor images,
    and the number of anchors: ((D,), (D,), A). Anchors are a seeded subsample of the points."""
    mu = _as_tensor(mu)
    per_anchor = _sensitivity_per_anchor(model, mu, delta, n_anchors, torch.Generator().manual_seed(seed), batch)
    a = per_anchor.double().numpy()
    se = a.std(0, ddof=1) / math.sqrt(len(a)) if len(a) > 1 else np.full(a.shape[1], np.nan)
    return a.mean(0), se, len(a)


def _sensitivity_per_anchor(model, mu: torch.Tensor, delta: float, n_anchors: int,
                            generator: torch.Generator | None, batch: int) -> torch.Tensor:
    """(A, D): per anchor, the mean over ±δ of the mean |ΔE[x|z]| per pixel."""
    n, d = mu.shape
    idx = torch.randperm(n, generator=generator)[:n_anchors] if n > n_anchors else torch.arange(n)
    z0 = mu[idx]  # (A, D)
    steps = torch.cat([torch.zeros(1, d), delta * torch.eye(d), -delta * torch.eye(d)])  # (2D+1, D)
    z = (z0[:, None, :] + steps[None]).reshape(-1, d)  # (A·(2D+1), D)
    imgs = torch.cat([model.mean_image(z[s:s + batch]) for s in range(0, len(z), batch)])
    imgs = imgs.reshape(len(z0), 2 * d + 1, -1)  # (A, 2D+1, pixels)
    change = (imgs[:, 1:] - imgs[:, :1]).abs().mean(-1)  # (A, 2D)
    return change.reshape(len(z0), 2, d).mean(1)


@torch.no_grad()
def elbo_stats(model, x: torch.Tensor, batch_size: int = 1024, seed: int = EVAL_SEED) -> tuple[float, float, float, float]:
    """Mean reconstruction E_q[log p(x|z)] and ELBO per image (nats) over x: (N, C, H, W),
    each with its standard error over the N images: (rec, rec s.e., ELBO, ELBO s.e.).

    The one split evaluation (``vae.model.evaluation.image_terms``, one sample of z per image, the
    trainer's own evaluation seed by default: the same ELBO as the run's history and Home),
    so the s.e. covers both the spread of the images and that sample's noise.
    """
    t = image_terms(model, x, seed=seed, batch_size=batch_size)
    n = len(t.rec)

    def se(v: torch.Tensor) -> float:
        return float(v.std() / math.sqrt(n)) if n > 1 else float("nan")

    return float(t.rec.mean()), se(t.rec), float(t.elbo.mean()), se(t.elbo)


@dataclass
class PosteriorSummary:
    """The per-dimension statistics that are exact functions of the encoded points (no Monte Carlo)."""
    n_points: int
    kl: np.ndarray  # (D,) E_x KL(q(z_d|x) ‖ N(0, 1))
    activity: np.ndarray  # (D,) A_d
    mu_mean: np.ndarray  # (D,)
    sigma_mean: np.ndarray  # (D,)


def posterior_summary(mu, logvar) -> PosteriorSummary:
    """KL per dimension, A_d and the mean μ_d, σ_d of posteriors mu, logvar: (N, D), N ≥ 2."""
    mu, logvar = _checked(mu, logvar)
    q = DiagonalGaussian(mu, logvar)
    kl = q.kl_per_dim().double().mean(0)
    a, _ = active_units(mu)
    return PosteriorSummary(len(mu), kl.numpy(), a.numpy(), mu.mean(0).numpy(), q.std.mean(0).numpy())


def _checked(mu, logvar) -> tuple[torch.Tensor, torch.Tensor]:
    mu, logvar = _as_tensor(mu), _as_tensor(logvar)
    if mu.ndim != 2 or mu.shape != logvar.shape or len(mu) < 2:
        raise ValueError(f"mu and logvar must both be (N, D) with N ≥ 2, got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")
    return mu, logvar


def assemble_report(post: PosteriorSummary, mix: MixtureEstimates, delta: float = DELTA,
                    sensitivity: tuple[np.ndarray, np.ndarray, int] | None = None,
                    elbo_values: tuple[float, float, float, float] | None = None) -> CollapseReport:
    """One report from the separately computed parts (what ``diagnose`` does in one call)."""
    sens, sens_se, n_anchors = sensitivity if sensitivity is not None else (None, None, None)
    rec, rec_se, elb, elb_se = elbo_values if elbo_values is not None else (None,) * 4
    return CollapseReport(
        n_points=post.n_points, kl=post.kl, activity=post.activity, mi=mix.mi, mi_total=mix.mi_total,
        marginal_kl=mix.marginal_kl, marginal_kl_total=mix.marginal_kl_total, sensitivity=sens,
        n_mixture=mix.n_mixture, delta=delta, rec=rec, elbo=elb, mu_mean=post.mu_mean, sigma_mean=post.sigma_mean,
        mi_se=mix.mi_se, mi_total_se=mix.mi_total_se, marginal_kl_se=mix.marginal_kl_se,
        marginal_kl_total_se=mix.marginal_kl_total_se, replicates=mix.replicates, sensitivity_se=sens_se,
        n_anchors=n_anchors, rec_se=rec_se, elbo_se=elb_se)


def diagnose(mu, logvar, model=None, x: torch.Tensor | None = None, *, n_mixture: int = N_MIXTURE,
             replicates: int | None = None, delta: float = DELTA, n_anchors: int = N_ANCHORS,
             seed: int = 0) -> CollapseReport:
    """All per-dimension statistics for posteriors mu, logvar: (N, D) (numpy or torch).

    With ``model`` the decoder sensitivity is measured; with ``model`` and the
    images ``x`` (N, C, H, W) the ELBO is split into reconstruction and KL.
    The MI and marginal KL average ``replicates`` replicates (default: enough for a
    per-dimension s.e. below 0.01 nats, ``mi_replicates``) over M = min(N, n_mixture)
    points each. Seeded: the same inputs give the same report.
    """
    mu, logvar = _checked(mu, logvar)
    post = posterior_summary(mu, logvar)
    mix = mixture_estimates(mu, logvar, n_mixture, replicates, seed=seed)
    sens = sensitivity_with_se(model, mu, delta, n_anchors, seed=seed + 1) if model is not None else None
    el = elbo_stats(model, x, seed=seed) if model is not None and x is not None else None
    return assemble_report(post, mix, delta, sens, el)


# ---------------------------------------------------------------- flags and verdicts


def sensitivity_threshold(report: CollapseReport, rel: float = SENS_REL, floor: float = SENS_FLOOR) -> float:
    """max(floor, rel × the largest decoder sensitivity): below it the decoder ignores z_d."""
    top = float(report.sensitivity.max()) if report.sensitivity is not None and len(report.sensitivity) else 0.0
    return max(floor, rel * top)


def mi_status(report: CollapseReport, threshold: float = MI_THRESHOLD,
              k: float = MI_SE_MULTIPLE) -> np.ndarray:
    """Per dimension, what the MI says (one of ``MI_STATES``): 'collapsed' only when I_q(x; z_d)
    is below the threshold by more than k standard errors, 'used' when above it by more than k,
    'undetermined' otherwise (the threshold lies within the estimator's noise). A report without
    standard errors is taken at face value."""
    mi = np.asarray(report.mi, dtype=np.float64)
    se = report.stat_se("mi")
    margin = k * (np.nan_to_num(se, nan=np.inf) if se is not None else np.zeros_like(mi))
    out = np.full(mi.shape, MI_STATES[2], dtype=object)
    out[mi + margin < threshold] = MI_STATES[1]
    out[mi - margin > threshold] = MI_STATES[0]
    return out


def collapse_flags(report: CollapseReport, au_threshold: float = AU_THRESHOLD,
                   kl_threshold: float = KL_THRESHOLD, mi_threshold: float = MI_THRESHOLD,
                   sens_threshold: float | None = None) -> dict[str, np.ndarray]:
    """Per statistic, a (D,) bool array: True where that statistic says the dimension collapsed
    (for MI: below its threshold by more than two standard errors, see ``mi_status``).
    sens_threshold None: ``sensitivity_threshold(report)``."""
    flags = {"kl": report.kl < kl_threshold, "activity": report.activity <= au_threshold,
             "mi": mi_status(report, mi_threshold) == MI_STATES[1]}
    if report.sensitivity is not None:
        thr = sensitivity_threshold(report) if sens_threshold is None else sens_threshold
        flags["sensitivity"] = report.sensitivity < thr
    return flags


def verdicts(report: CollapseReport, au_threshold: float = AU_THRESHOLD,
             sens_threshold: float | None = None) -> list[str]:
    """One of ``VERDICTS`` per dimension, from A_d (does the encoder use x?) and the
    decoder sensitivity (does the decoder use z_d?)."""
    enc = report.activity > au_threshold
    dec = (collapse_flags(report, au_threshold, sens_threshold=sens_threshold)["sensitivity"] == 0
           if report.sensitivity is not None else np.ones_like(enc))
    return [VERDICTS[0] if e and d else VERDICTS[2] if e else VERDICTS[1] if d else VERDICTS[3]
            for e, d in zip(enc, dec)]


def sort_order(report: CollapseReport, by: str = "kl") -> np.ndarray:
    """Dimension indices sorted by one statistic, largest first ('index' keeps 0..D−1)."""
    if by == "index":
        return np.arange(report.latent_dim)
    return np.argsort(-report.stat(by), kind="stable")


# ---------------------------------------------------------------- histograms


@dataclass
class PosteriorHistograms:
    mu_edges: np.ndarray  # (B+1,) bin edges shared by every dimension
    mu_density: np.ndarray  # (D, B) fraction of points per bin; each row sums to 1
    sigma_edges: np.ndarray  # (B+1,)
    sigma_density: np.ndarray  # (D, B)


def posterior_histograms(mu, logvar, bins: int = 40) -> PosteriorHistograms:
    """Histograms of μ_d(x) and σ_d(x) over the points, one row per dimension.
    mu, logvar: (N, D). Values beyond the range land in the end bins."""
    mu = np.asarray(mu, dtype=np.float64)
    sigma = np.exp(0.5 * np.asarray(logvar, dtype=np.float64))
    lo, hi = np.quantile(mu, [0.001, 0.999]) if mu.size else (-1.0, 1.0)
    lim = max(3.0, abs(lo), abs(hi))
    mu_edges = np.linspace(-lim, lim, bins + 1)
    sigma_edges = np.linspace(0.0, max(1.2, float(np.quantile(sigma, 0.999)) * 1.05), bins + 1)

    def dens(v: np.ndarray, edges: np.ndarray) -> np.ndarray:
        v = np.clip(v, edges[0], edges[-1])
        rows = [np.histogram(v[:, d], edges)[0] for d in range(v.shape[1])]
        c = np.asarray(rows, dtype=np.float64)
        return c / np.maximum(c.sum(1, keepdims=True), 1)

    return PosteriorHistograms(mu_edges, dens(mu, mu_edges), sigma_edges, dens(sigma, sigma_edges))


# ---------------------------------------------------------------- comparing runs


def profile(report: CollapseReport, stat: str = "kl") -> tuple[np.ndarray, np.ndarray]:
    """A run's per-dimension profile: (dims, values) sorted by value, largest first,
    so runs with different latent sizes or orderings line up by rank."""
    v = report.stat(stat)
    order = np.argsort(-v, kind="stable")
    return order, v[order]


def summary(report: CollapseReport, au_threshold: float = AU_THRESHOLD) -> dict:
    """The headline numbers of a report, in nats where they have units."""
    return {"latent dims": report.latent_dim,
            "active units": int((report.activity > au_threshold).sum()),
            "E_x KL": report.kl_total, "I_q(x; z)": report.mi_total,
            "KL(q(z) ‖ p(z))": report.marginal_kl_total,
            "reconstruction": report.rec, "ELBO": report.elbo}
