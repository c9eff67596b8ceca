"""What the pages show for flow, categorical and Dirichlet posteriors (``vae.model.posteriors``).

Every number here has a definition that holds for the posterior at hand, or is reported as not
defined (None): active units and the Gaussian mutual-information estimate are statements about
Gaussian means and variances, so they are None for these families rather than a Gaussian formula
applied to the wrong object.

- ``map_points``: where each image lands (a flow's mean estimated from samples; a categorical's
  class-probability vectors; a Dirichlet's mean on the simplex), with per-variable argmax classes.
- ``sample_cloud``: draws of q(z|x) for one image on its two most informative dimensions, and the
  moment-matched Gaussian's 2σ ellipse beside them (a flow's cloud need not be elliptical).
- ``kl_report``: the KL per dimension with Monte-Carlo standard errors (IAF), the total with its
  standard error (planar: its steps mix the dimensions, so there is no per-dimension split), per
  variable in closed form (categorical, each ≤ log K), or in closed form with per-component
  concentration statistics (Dirichlet).
- ``categorical_latent`` / ``dirichlet_latent``: the decoder input of a Traversals control.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from vae.model.posteriors import FLOW_KINDS, MEAN_SAMPLES
from vae.model.evaluation import encode_all

CLOUD_SAMPLES = 400
KL_SAMPLES = 64  # draws per image behind a flow's Monte-Carlo KL


def kind_of(model) -> str:
    return getattr(model.config, "posterior", "gaussian")


@dataclass
class MapPoints:
    points: np.ndarray  # (N, D_dec) the point each image is placed at
    what: str  # how the point is defined, for the page's caption
    classes: np.ndarray | None = None  # (N, n_variables) argmax class per categorical variable
    alpha: np.ndarray | None = None  # (N, K) Dirichlet concentrations


@torch.no_grad()
def map_points(model, x: torch.Tensor) -> MapPoints:
    """x: (N, C, H, W) -> the points a map projects, per posterior kind."""
    q = encode_all(model, x)
    kind = kind_of(model)
    if kind in FLOW_KINDS:
        return MapPoints(q.mean.numpy(), f"the posterior mean E_q[z], estimated from {MEAN_SAMPLES} samples of "
                         f"q(z|x) through the {q.steps} {kind} flow steps (not the base Gaussian's μ)")
    if kind == "categorical":
        return MapPoints(q.mean.numpy(), f"the concatenated class-probability vectors of the {q.variables} "
                         f"categorical variables ({q.categories} classes each)",
                         classes=q.probs.argmax(-1).numpy())
    if kind == "dirichlet":
        return MapPoints(q.mean.numpy(), "the Dirichlet posterior's mean α/Σα, a point on the simplex",
                         alpha=q.alpha.numpy())
    return MapPoints(q.mean.numpy(), "the posterior mean μ(x)")


@dataclass
class Cloud:
    samples: np.ndarray  # (S, 2) draws of q(z|x) on the two dimensions
    dims: tuple[int, int]
    mean: np.ndarray  # (2,)
    ellipse: np.ndarray  # (64, 2) the 2σ contour of the Gaussian with the samples' mean and covariance
    note: str


def informative_dims(model, x: torch.Tensor, n_images: int = 256) -> tuple[int, int]:
    """The two dimensions whose posterior means vary most over (up to n_images of) the data."""
    pts = map_points(model, x[:n_images]).points
    order = np.argsort(-pts.var(0)) if len(pts) > 1 else np.arange(pts.shape[1])
    order = list(order) + [0, 0]
    return int(order[0]), int(order[1] if pts.shape[1] > 1 else order[0])


@torch.no_grad()
def sample_cloud(model, x_one: torch.Tensor, dims: tuple[int, int], n: int = CLOUD_SAMPLES, seed: int = 0) -> Cloud:
    """n draws of q(z|x) for one image x_one (1, C, H, W), on two latent dimensions."""
    q = model.encode(x_one)
    gen = torch.Generator().manual_seed(seed)
    z, _ = q.sample_with_log_prob(n, gen)  # (n, 1, D)
    s = z[:, 0][:, list(dims)].double().numpy()
    m = s.mean(0)
    cov = np.cov(s.T) if n > 2 else np.eye(2)
    vals, vecs = np.linalg.eigh(np.atleast_2d(cov) + 1e-12 * np.eye(2))
    t = np.linspace(0, 2 * math.pi, 64)
    circle = np.stack([np.cos(t), np.sin(t)], 1)
    ellipse = m + 2 * (circle * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    kind = kind_of(model)
    note = {"planar": "Samples of the planar-flow posterior; the dashed line is the 2σ ellipse of a Gaussian "
                      "with the same mean and covariance: where the cloud departs from it, the flow has bent q.",
            "iaf": "Samples of the IAF posterior; the dashed line is the 2σ ellipse of a Gaussian with the same "
                   "mean and covariance: where the cloud departs from it, the flow has bent q.",
            "dirichlet": "Samples of the Dirichlet posterior on two of its components (they lie on the simplex).",
            "categorical": "Hard samples of two one-hot coordinates (each is 0 or 1).",
            }.get(kind, "Samples of the Gaussian posterior with its 2σ ellipse.")
    return Cloud(s.astype(np.float32), dims, m, ellipse.astype(np.float32), note)


@dataclass
class KLReport:
    kind: str
    total: float  # mean over images of KL(q(z|x) ‖ p(z)), nats
    total_se: float | None  # its Monte-Carlo standard error (None: closed form)
    exact: bool
    per_dim: list[float] | None = None  # mean KL per dimension / variable
    per_dim_se: list[float] | None = None
    bound: float | None = None  # per-variable upper bound (log K), categorical
    rows: list[dict] = field(default_factory=list)  # a table to show
    note: str = ""
    active_units: int | None = None  # None: not defined for this posterior
    mutual_information: float | None = None  # None: not defined here


@torch.no_grad()
def kl_report(model, x: torch.Tensor, n_samples: int = KL_SAMPLES, seed: int = 0) -> KLReport:
    """The KL to the prior over a split x, per dimension / variable where it splits."""
    kind = kind_of(model)
    q = encode_all(model, x)
    prior = model.prior
    if kind in FLOW_KINDS:
        gen = torch.Generator().manual_seed(seed)
        if kind == "iaf":
            per, se, se_total = q.kl_per_dim_mc(prior, n_samples, gen)  # (N, D), (N, D), (N,)
            n = per.shape[0]
            mean_d = per.mean(0)
            se_d = se.pow(2).sum(0).sqrt() / n  # s.e. of a mean over images of independent estimates
            total = float(mean_d.sum())
            total_se = float(se_total.pow(2).sum().sqrt() / n)
            rows = [{"dimension": f"z{d}", "KL (nats)": float(mean_d[d]), "± s.e.": float(se_d[d])}
                    for d in range(len(mean_d))]
            return KLReport(kind, total, total_se, False, mean_d.tolist(), se_d.tolist(), rows=rows,
                            note=f"Monte Carlo, {n_samples} draws per image. An IAF step's log-determinant is a sum "
                                 "over dimensions, so the estimate log q(z|x) − log p(z) splits into per-dimension "
                                 "terms log N(z₀,d; μ_d, σ_d²) − Σ_k log σ_k,d − log N(z_K,d; 0, 1) that add up to the "
                                 "KL (a split of the estimator, not the KL of each marginal).")
        kl = q.kl_to(prior, n=n_samples, generator=gen)
        n = kl.value.shape[0]
        total_se = float(kl.stderr.pow(2).sum().sqrt() / n) if kl.stderr is not None else None
        return KLReport(kind, float(kl.value.mean()), total_se, False,
                        note=f"Monte Carlo, {n_samples} draws per image. Planar steps mix every dimension, so the "
                             "KL has no per-dimension split: only the total is defined.")
    if kind == "categorical":
        per = q.kl_per_dim(prior).double()  # (N, n_vars)
        mean_v = per.mean(0)
        bound = math.log(q.categories)
        rows = [{"variable": f"c{v}", "KL (nats)": float(mean_v[v]), "share of log K": float(mean_v[v] / bound),
                 "classes used": int((torch.bincount(q.probs[:, v].argmax(-1), minlength=q.categories) > 0).sum())}
                for v in range(len(mean_v))]
        return KLReport(kind, float(mean_v.sum()), None, True, mean_v.tolist(), None, bound=bound, rows=rows,
                        note=f"Closed form Σ_k q_k log(K q_k) per variable: each is at most log K = {bound:.3f} nats "
                             "(a variable that always picks one class with certainty).")
    if kind == "dirichlet":
        kl = q.kl_to(prior)
        a = q.alpha.double()
        m = q.mean.double()
        rows = [{"component": f"z{k}", "mean α_k": float(a[:, k].mean()), "median α_k": float(a[:, k].median()),
                 "mean E_q[z_k]": float(m[:, k].mean()), "Var_x E_q[z_k]": float(m[:, k].var()) if len(m) > 1 else 0.0}
                for k in range(a.shape[1])]
        return KLReport(kind, float(kl.value.double().mean()), None, True, rows=rows,
                        note="Closed form KL(Dir(α(x)) ‖ Dir(α₀)). The Dirichlet does not factorize over components, "
                             "so the KL has no per-component split; the table gives each component's concentration "
                             f"statistics (prior α₀ = {prior.concentration:g}; a large total Σα means a confident q).")
    raise ValueError(f"kl_report is for flow, categorical and Dirichlet posteriors, not {kind!r}")


def categorical_latent(logits: torch.Tensor, chosen: list[int], temperature: float) -> torch.Tensor:
    """The decoder input of a categorical traversal: for each variable n, softmax(s_n / τ), where s_n is
    the image's log π_n with the chosen class and the posterior's own argmax swapped (so the chosen class
    leads). τ = 0 gives the hard one-hot of the chosen classes (the limit τ → 0); τ = 1 the posterior's probabilities
    (re-ordered); a large τ flattens towards uniform. logits: (N_vars, K) -> (N_vars · K,)."""
    s = logits - torch.logsumexp(logits, -1, keepdim=True)
    s = s.clone()
    for v, c in enumerate(chosen):
        top = int(s[v].argmax())
        if c != top:
            s[v, [c, top]] = s[v, [top, c]]
    if float(temperature) <= 0:  # the τ → 0 limit: the chosen classes' one-hot vectors
        return torch.nn.functional.one_hot(torch.tensor(chosen), s.shape[-1]).to(s.dtype).flatten()
    return torch.softmax(s / float(temperature), -1).flatten()


def as_latent(values: list[float]) -> torch.Tensor:
    """Slider values as a decoder input (D,)."""
    return torch.tensor(values, dtype=torch.float32)


def dirichlet_latent(weights: list[float]) -> torch.Tensor:
    """A point on the simplex from non-negative weights (normalized; all zero gives the centre)."""
    w = torch.tensor(weights, dtype=torch.float32).clamp(min=0)
    return w / w.sum() if float(w.sum()) > 0 else torch.full_like(w, 1.0 / len(w))


@torch.no_grad()
def reconstruction(model, x_one: torch.Tensor) -> torch.Tensor:
    """E[x|z] decoded at the image's map point (``map_points``): (1, C, H, W) -> (C, H, W)."""
    z = torch.as_tensor(map_points(model, x_one).points)
    return model.mean_image(z)[0]


@torch.no_grad()
def categorical_start(model, x_one: torch.Tensor) -> tuple[torch.Tensor, list[int]]:
    """A categorical posterior's logits for one image, (N_vars, K), and each variable's most likely class."""
    q = model.encode(x_one)
    return q.logits[0], q.logits[0].argmax(-1).tolist()


@torch.no_grad()
def dirichlet_start(model, x_one: torch.Tensor) -> list[float]:
    """A Dirichlet posterior's mean for one image: K floats summing to 1."""
    return model.encode(x_one).mean[0].tolist()


@torch.no_grad()
def decode_latent(model, z: torch.Tensor) -> torch.Tensor:
    """E[x|z] for one decoder input z: (D_dec,) -> (C, H, W)."""
    return model.mean_image(z[None].float())[0]


def ternary_xy(p: np.ndarray) -> np.ndarray:
    """Points on the 2-simplex (N, 3) -> 2-D coordinates in an equilateral triangle with corners
    (0, 0), (1, 0) and (½, √3/2) for components 0, 1, 2."""
    p = np.asarray(p, dtype=np.float64)
    return np.stack([p[:, 1] + 0.5 * p[:, 2], (math.sqrt(3) / 2) * p[:, 2]], 1)
