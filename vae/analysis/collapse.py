"""Posterior-collapse diagnostics, per latent dimension, over a whole split.

Four statistics per dimension d, each able to flag a collapsed dimension:

- KL_d = E_x KL(q(z_d|x) ‖ N(0, 1)), nats (``vae.objectives.kl_per_dim``);
- A_d = Var_x(E_q[z_d]), the active-unit statistic of Burda et al. 2016;
- I_q(x; z_d), the mutual information estimated as in He et al. 2019
  (``vae.objectives.mutual_information``, the mixture subsampled for speed);
- decoder sensitivity: the mean |ΔE[x|z]| per pixel when z_d alone moves by ±δ
  from z = μ(x). It tells "the encoder ignores x" (A_d ≈ 0, decoder still
  reacts) apart from "the decoder ignores z_d" (A_d > 0, images do not change).

Also the decomposition E_x KL(q(z|x) ‖ p(z)) = I_q(x; z) + KL(q(z) ‖ p(z))
(Hoffman & Johnson 2016, "ELBO surgery"), with the second term estimated on its
own so the identity is a check, histograms of μ_d and σ_d, the KL-per-dimension
history of a run, and per-run profiles for comparing runs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..objectives import (active_units, elbo, kl_per_dim, log_normal_diag, log_standard_normal,
                         mutual_information)

AU_THRESHOLD = 0.01  # A_d above this is an active unit (Burda et al. 2016)
KL_THRESHOLD = 0.01  # nats: a dimension with less mean KL carries (almost) nothing
MI_THRESHOLD = 0.05  # nats: above the Monte-Carlo noise of the MI estimate on a few hundred points
# The decoder ignores z_d when its sensitivity (mean |ΔE[x|z]| per pixel, images in [0, 1]) is below
# SENS_REL of the most sensitive dimension's, and never counts as used below SENS_FLOOR. Relative,
# because images that are mostly background (shapes) dilute the per-pixel mean.
SENS_REL = 0.15
SENS_FLOOR = 0.005
N_MIXTURE = 2000  # points (subsampled beyond this) whose posteriors form q(z) in the MI and marginal-KL estimates
DELTA = 2.0  # how far z_d moves (in prior standard deviations) for the decoder sensitivity
N_ANCHORS = 256  # data points at which the decoder sensitivity is measured

VERDICTS = ("active", "encoder ignores x", "decoder ignores z_d", "collapsed")


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


def _as_tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a).float()


@torch.no_grad()
def marginal_kl(mu: torch.Tensor, logvar: torch.Tensor, n_samples: int = N_MIXTURE,
                n_mixture: int | None = N_MIXTURE, generator: torch.Generator | None = None,
                chunk: int = 256) -> tuple[float, torch.Tensor]:
    """KL(q(z) ‖ p(z)) with q(z) = (1/N) Σ_j q(z|x_j), the aggregate posterior.

    Monte Carlo: E_{z~q(z)}[log q(z) − log p(z)], z drawn by picking a point and
    sampling its posterior; log q(z) is the log-mean-exp over (up to) n_mixture
    components. mu, logvar: (N, D). Returns (total, per dimension (D,)); the
    per-dimension values use the marginals q(z_d).
    """
    n, d = mu.shape
    g = generator
    rows = torch.randint(n, (n_samples,), generator=g)
    z = mu[rows] + (0.5 * logvar[rows]).exp() * torch.randn(len(rows), d, generator=g, dtype=mu.dtype)
    if n_mixture is not None and n_mixture < n:
        idx = torch.randperm(n, generator=g)[:n_mixture]
        mix_mu, mix_lv = mu[idx], logvar[idx]
    else:
        mix_mu, mix_lv = mu, logvar
    log_m = math.log(len(mix_mu))
    tot, per = [], []
    for s in range(0, len(z), chunk):
        zc = z[s:s + chunk, None, :, None]  # (c, 1, D, 1): a trailing 1-dim so the density is per dimension
        dens = log_normal_diag(zc, mix_mu[None, :, :, None], mix_lv[None, :, :, None])  # (c, M, D)
        tot.append(torch.logsumexp(dens.sum(-1), 1) - log_m)
        per.append(torch.logsumexp(dens, 1) - log_m)
    log_p_dim = log_standard_normal(z[..., None])  # (S, D)
    kl_tot = torch.cat(tot).mean() - log_p_dim.sum(-1).mean()
    kl_dim = torch.cat(per).mean(0) - log_p_dim.mean(0)
    return float(kl_tot), kl_dim


@torch.no_grad()
def decoder_sensitivity(model, mu: torch.Tensor, delta: float = DELTA, n_anchors: int = N_ANCHORS,
                        generator: torch.Generator | None = None, batch: int = 4096) -> torch.Tensor:
    """Mean |E[x|z ± δ e_d] − E[x|z]| per pixel, at z = μ(x) for n_anchors points. mu: (N, D) -> (D,).

    The model is only read (no_grad, mode untouched), so a shared cached model is safe.
    """
    n, d = mu.shape
    idx = torch.randperm(n, generator=generator)[:n_anchors] if n > n_anchors else torch.arange(n)
    z0 = mu[idx]  # (A, D)
    steps = torch.cat([torch.zeros(1, d), delta * torch.eye(d), -delta * torch.eye(d)])  # (2D+1, D)
    z = (z0[:, None, :] + steps[None]).reshape(-1, d)  # (A·(2D+1), D)
    imgs = torch.cat([model.mean_image(z[s:s + batch]) for s in range(0, len(z), batch)])
    imgs = imgs.reshape(len(z0), 2 * d + 1, -1)  # (A, 2D+1, pixels)
    change = (imgs[:, 1:] - imgs[:, :1]).abs().mean(-1)  # (A, 2D)
    return change.reshape(len(z0), 2, d).mean((0, 1))


@torch.no_grad()
def elbo_split(model, x: torch.Tensor, batch_size: int = 1024, seed: int = 0) -> tuple[float, float]:
    """Mean reconstruction E_q[log p(x|z)] and ELBO per image (nats) over x: (N, C, H, W).

    Uses ``vae.objectives.elbo`` with one sample of z; the noise comes from a
    fixed seed without disturbing the caller's RNG, and the model is only read.
    """
    rec = tot = 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for s in range(0, len(x), batch_size):
            t = elbo(model, x[s:s + batch_size])
            rec += float(t.rec.sum())
            tot += float(t.elbo.sum())
    return rec / len(x), tot / len(x)


def diagnose(mu, logvar, model=None, x: torch.Tensor | None = None, *, n_mixture: int = N_MIXTURE,
             delta: float = DELTA, n_anchors: int = N_ANCHORS, seed: int = 0) -> CollapseReport:
    """All per-dimension statistics for posteriors mu, logvar: (N, D) (numpy or torch).

    With ``model`` the decoder sensitivity is measured; with ``model`` and the
    images ``x`` (N, C, H, W) the ELBO is split into reconstruction and KL.
    Seeded: the same inputs give the same report.
    """
    mu, logvar = _as_tensor(mu), _as_tensor(logvar)
    if mu.ndim != 2 or mu.shape != logvar.shape or len(mu) < 2:
        raise ValueError(f"mu and logvar must both be (N, D) with N ≥ 2, got {tuple(mu.shape)} "
                         f"and {tuple(logvar.shape)}")
    g = torch.Generator().manual_seed(seed)
    kl = kl_per_dim(mu, logvar).double().mean(0)
    a, _ = active_units(mu)
    # The MI and marginal-KL estimates cost O(M² D): on more than n_mixture points they use a
    # seeded subsample of M points, whose posteriors are both the samples and the mixture q(z).
    if n_mixture and n_mixture < len(mu):
        idx = torch.randperm(len(mu), generator=g)[:max(2, n_mixture)]
        mu_s, lv_s = mu[idx], logvar[idx]
    else:
        mu_s, lv_s = mu, logvar
    m = len(mu_s)
    mi_tot, mi_dim = mutual_information(mu_s, lv_s, generator=g)
    mk_tot, mk_dim = marginal_kl(mu_s, lv_s, n_samples=m, n_mixture=None, generator=g)
    sens = None
    rec = elb = None
    if model is not None:
        sens = decoder_sensitivity(model, mu, delta, n_anchors, generator=g).numpy()
        if x is not None:
            rec, elb = elbo_split(model, x, seed=seed)
    return CollapseReport(
        n_points=len(mu), kl=kl.numpy(), activity=a.numpy(), mi=mi_dim.numpy(), mi_total=mi_tot,
        marginal_kl=mk_dim.numpy(), marginal_kl_total=mk_tot, sensitivity=sens, n_mixture=m, delta=delta,
        rec=rec, elbo=elb, mu_mean=mu.mean(0).numpy(), sigma_mean=(0.5 * logvar).exp().mean(0).numpy())


# ---------------------------------------------------------------- flags and verdicts


def sensitivity_threshold(report: CollapseReport, rel: float = SENS_REL, floor: float = SENS_FLOOR) -> float:
    """max(floor, rel × the largest decoder sensitivity): below it the decoder ignores z_d."""
    top = float(report.sensitivity.max()) if report.sensitivity is not None and len(report.sensitivity) else 0.0
    return max(floor, rel * top)


def collapse_flags(report: CollapseReport, au_threshold: float = AU_THRESHOLD,
                   kl_threshold: float = KL_THRESHOLD, mi_threshold: float = MI_THRESHOLD,
                   sens_threshold: float | None = None) -> dict[str, np.ndarray]:
    """Per statistic, a (D,) bool array: True where that statistic says the dimension collapsed.
    sens_threshold None: ``sensitivity_threshold(report)``."""
    flags = {"kl": report.kl < kl_threshold, "activity": report.activity <= au_threshold,
             "mi": report.mi < mi_threshold}
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


# ---------------------------------------------------------------- history


@dataclass
class KLHistory:
    epochs: np.ndarray  # (E,) epoch numbers
    kl: np.ndarray  # (E, D) test KL per dimension after each epoch, nats


def kl_history(history: list[dict], latent_dim: int | None = None) -> KLHistory | None:
    """The KL-per-dimension-per-epoch matrix from a run's history records; records
    without a usable 'kl_per_dim' of the right length are skipped. None if none is usable."""
    rows, epochs = [], []
    for i, rec in enumerate(history):
        v = rec.get("kl_per_dim") if isinstance(rec, dict) else None
        if not isinstance(v, list) or not v or (latent_dim is not None and len(v) != latent_dim):
            continue
        try:
            arr = np.asarray(v, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if rows and len(arr) != len(rows[0]):
            continue
        rows.append(arr)
        ep = rec.get("epoch", i + 1)
        epochs.append(int(ep) if isinstance(ep, (int, float)) else i + 1)
    if not rows:
        return None
    return KLHistory(np.asarray(epochs), np.vstack(rows))


def wake_and_death(h: KLHistory, threshold: float = KL_THRESHOLD) -> list[dict]:
    """Per dimension: the epoch from which its KL stayed ≥ threshold to the end ('woke'),
    or, if it was once above but ends below, the epoch from which it stayed below ('died')."""
    out = []
    for d in range(h.kl.shape[1]):
        above = h.kl[:, d] >= threshold
        # The last epoch whose state differs from the final state; the run of the final state starts after it.
        flips = np.nonzero(above != above[-1])[0]
        start = int(h.epochs[flips[-1] + 1]) if len(flips) else int(h.epochs[0])
        if above[-1]:
            out.append({"dim": d, "state": "active", "epoch": start})
        elif above.any():
            out.append({"dim": d, "state": "died", "epoch": start})
        else:
            out.append({"dim": d, "state": "never active", "epoch": None})
    return out


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
