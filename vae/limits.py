"""Every limit of the server and its environment variable: request budgets, the items a request
may load, the uploaded-runs quota, training epochs and upload size. Every request that computes
has a cap tied to its cost, and a request past its cap is refused with the limit named
(docs/architecture.md, "Trust boundaries").

A limit is a named number an operator can change through an environment variable, read at
call time (never at import). ``Limit`` reads a positive number (``2_000``, ``1e9``; anything
else keeps the default); ``Count`` reads a whole number the way ``int`` does, floored at its
``least`` (0 where zero means "none", e.g. no uploads), a value that is not a whole number
keeping the default. ``check_budget(cost, limit, what)`` is the one refusal: it raises
``BudgetError`` whose message says what was asked, what it costs, the limit and how to raise it.
The cost models of the expensive analyses live here too, so a page can size its widgets
from the same numbers the library enforces.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass


class BudgetError(ValueError):
    """A request exceeds one of the server's budgets; the message names the limit."""


@dataclass(frozen=True)
class Limit:
    """A server budget: ``value()`` reads ``env`` (a positive number) at call time, else ``default``."""

    name: str  # what is limited, for messages: "t-SNE points"
    env: str | None  # the environment variable that overrides it; None: fixed
    default: float
    unit: str = ""  # appended to numbers in messages: " points", " floats"

    def value(self) -> float:
        if self.env is None:
            return self.default
        raw = os.environ.get(self.env)
        if raw is None or not raw.strip():
            return self.default
        try:
            v = float(raw.replace("_", ""))
        except ValueError:
            return self.default
        return v if v > 0 else self.default

    def describe(self) -> str:
        """'at most 10,000 points (VAE_MAX_TSNE_POINTS)'."""
        where = f" ({self.env})" if self.env else ""
        return f"at most {_fmt(self.value())}{self.unit}{where}"


@dataclass(frozen=True)
class Count(Limit):
    """A whole-number limit: ``value()`` is ``int($env)`` (Python's reading: spaces and ``1_000``
    allowed), at least ``least``; unset or not a whole number: ``default``."""

    least: int = 1

    def value(self) -> float:
        raw = os.environ.get(self.env) if self.env is not None else None
        if raw is None:
            return self.default
        try:
            return max(self.least, int(raw))
        except ValueError:
            return self.default


def _fmt(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e12:
        return f"{int(x):,}"
    return f"{x:.3g}"


def check_budget(cost: float, limit: Limit | float, what: str) -> None:
    """Refuse ``what`` when its ``cost`` exceeds ``limit`` (a Limit, or a plain number).

    Raises BudgetError: "<what> costs <cost>, over this server's limit of <limit> (<ENV>)".
    """
    lim = limit.value() if isinstance(limit, Limit) else float(limit)
    if cost > lim:
        unit = limit.unit if isinstance(limit, Limit) else ""
        env = f" ({limit.env}; an operator can raise it)" if isinstance(limit, Limit) and limit.env else ""
        name = f" on {limit.name}" if isinstance(limit, Limit) else ""
        raise BudgetError(f"{what} costs {_fmt(cost)}{unit}, over this server's limit{name} of "
                          f"{_fmt(lim)}{unit}{env}")


# ---------------------------------------------------------------- the limits

TSNE_POINTS = Limit("t-SNE points", "VAE_MAX_TSNE_POINTS", 10_000, " points")
PROJECTION_POINTS = Limit("points in one projection (PCA, openTSNE, UMAP)", "VAE_MAX_PROJECTION_POINTS", 70_000,
                          " points")
TSNE_PERPLEXITY = Limit("t-SNE perplexity", None, 100)  # O(N · 3·perplexity) neighbours per point
ESTIMATOR_WORK = Limit("gradient-estimator work", "VAE_MAX_ESTIMATOR_WORK", 2.5e10, " parameter-samples")
ESTIMATOR_MEMORY = Limit("gradient estimates held", "VAE_MAX_ESTIMATOR_FLOATS", 5e7, " floats")
TOY_ESTIMATOR_SAMPLES = Limit("toy gradient-estimator draws", "VAE_MAX_TOY_ESTIMATOR_DRAWS", 2e7, " draw-coordinates")
COLLAPSE_WORK = Limit("collapse-diagnostics work", "VAE_MAX_COLLAPSE_WORK", 1e11, " parameter-passes")
BACKGROUND_JOBS = Limit("background jobs running at once", "VAE_MAX_BACKGROUND_JOBS", 1, " jobs")
QUEUE_LENGTH = Limit("background jobs waiting", "VAE_MAX_QUEUED_JOBS", 8, " jobs")
# What a request may load or keep; read as whole numbers (``Count``).
MAX_ITEMS = Count("images per split", "VAE_MAX_ITEMS", 70_000, " images")  # a run's dataset, a CLI's --max-items
UPLOADED_RUNS = Count("uploaded runs kept", "VAE_MAX_UPLOADED_RUNS", 50, " runs", least=0)
UPLOADED_MB = Count("megabytes of uploaded runs kept", "VAE_MAX_UPLOADED_MB", 1000, " MB", least=0)
MAX_EPOCHS = Count("epochs of a training started in the app", "VAE_MAX_EPOCHS", 500, " epochs")
# One upload, in MB: never more than Streamlit's own server.maxUploadSize, which is the default
# (``ui.state.limits`` takes the smaller of the two).
UPLOAD_MB = Count("one upload", "VAE_MAX_UPLOAD_MB", math.inf, " MB")


def limit_int(limit: Limit) -> int:
    """A limit as a whole number, at least 1."""
    return max(1, int(limit.value()))


# ---------------------------------------------------------------- t-SNE

def max_perplexity(n_points: int) -> float:
    """The largest perplexity allowed for N points: ≤ TSNE_PERPLEXITY and < N/3 (each point keeps
    ≈ 3·perplexity neighbours, so a larger one makes every point a neighbour of every other)."""
    return min(TSNE_PERPLEXITY.value(), (n_points - 1) / 3)


def check_tsne(n_points: int, perplexity: float) -> None:
    """Refuse a t-SNE of ``n_points`` at ``perplexity`` past the budgets (BudgetError)."""
    check_budget(n_points, TSNE_POINTS, f"A t-SNE of {n_points:,} points")
    check_budget(perplexity, TSNE_PERPLEXITY, f"A t-SNE perplexity of {perplexity:g}")
    if not perplexity < n_points / 3:
        raise BudgetError(f"A t-SNE perplexity of {perplexity:g} needs more than {3 * perplexity:g} points "
                          f"(perplexity must be below a third of the {n_points:,} points)")


# ---------------------------------------------------------------- gradient estimators

def estimator_work(n_params: int, batch_size: int, n_estimates: int, mc_list: tuple[int, ...] | list[int],
                   n_estimators: int = 3) -> float:
    """Cost model of a gradient study, in parameter-samples: every estimate decodes B·L samples and
    pulls B gradients back through the encoder, each touching about every parameter of the model once,
    so work ≈ params × K × B × Σ_L (L + 1) × estimators."""
    return float(n_params) * n_estimates * batch_size * sum(L + 1 for L in mc_list) * n_estimators


def estimator_memory(n_encoder_params: int, n_estimates: int, n_mc: int, n_estimators: int = 3) -> float:
    """Floats held by a gradient study: K estimates of every encoder parameter per estimator and L."""
    return float(n_encoder_params) * n_estimates * n_mc * n_estimators


def check_estimators(n_params: int, n_encoder_params: int, batch_size: int, n_estimates: int,
                     mc_list: tuple[int, ...] | list[int], n_estimators: int = 3) -> None:
    """Refuse a gradient study past ESTIMATOR_WORK or ESTIMATOR_MEMORY (BudgetError)."""
    ask = f"K = {n_estimates} estimates × B = {batch_size} images × L ∈ {{{', '.join(map(str, mc_list))}}}"
    check_budget(estimator_work(n_params, batch_size, n_estimates, mc_list, n_estimators), ESTIMATOR_WORK,
                 f"{ask} on a model of {n_params:,} parameters")
    check_budget(estimator_memory(n_encoder_params, n_estimates, len(mc_list), n_estimators), ESTIMATOR_MEMORY,
                 f"Holding {ask.split(' × B')[0]} of {n_encoder_params:,} encoder parameters for "
                 f"{len(mc_list)} values of L")


def check_toy_estimators(draws: float, what: str) -> None:
    """Refuse a toy estimator study (Gumbel-softmax, implicit reparameterization) whose random draws,
    counted coordinate by coordinate (estimates × samples per estimate × dimension × settings), exceed
    TOY_ESTIMATOR_SAMPLES (BudgetError)."""
    check_budget(draws, TOY_ESTIMATOR_SAMPLES, f"{what} ({draws:,.0f} draw-coordinates)")


# ---------------------------------------------------------------- collapse diagnostics

def collapse_work(n_params: int, n_points: int, latent_dim: int, anchors: int, mixture_points: int,
                  replicates: int) -> float:
    """Cost model of a run's collapse diagnostics: encoding and evaluating every test image (each a
    pass through about every parameter), the decoder sensitivity (every dimension moved both ways at
    each anchor), and the O(replicates · M² · D) mixture densities of the MI and marginal KL."""
    return float(n_params) * (2 * n_points + 2 * latent_dim * anchors) \
        + float(replicates) * mixture_points ** 2 * latent_dim


def check_collapse(n_params: int, n_points: int, latent_dim: int, anchors: int, mixture_points: int,
                   replicates: int) -> None:
    """Refuse collapse diagnostics past COLLAPSE_WORK (BudgetError), before anything is encoded."""
    check_budget(collapse_work(n_params, n_points, latent_dim, anchors, mixture_points, replicates), COLLAPSE_WORK,
                 f"Collapse diagnostics of a {n_params:,}-parameter model with D = {latent_dim} on "
                 f"{n_points:,} test images")
