"""The posterior family a run's config names (``config.posterior``), on the model's side.

``posterior_heads`` / ``head_names``: the encoder's output layers for it; ``encode_posterior``:
q(z|x) from the encoder's features (a ``DiagonalGaussian``, or a flow, categorical or Dirichlet
posterior of ``vae.model.posteriors``); ``prior_for``: the prior that goes with a categorical or
Dirichlet posterior; ``cat_posteriors``: one posterior over several batches; ``posterior_label``:
its short name for cards and pickers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vae.model.distributions import DiagonalGaussian
from vae.model.posteriors import (FLOW_KINDS, CategoricalPosterior, DirichletPosterior, FlowPosterior,
                                  SymmetricDirichlet, UniformCategorical)

LOGVAR_CLAMP = (-30.0, 20.0)
ALPHA_MIN = 1e-3  # a Dirichlet concentration never goes below this (softplus + floor)


def posterior_heads(config, width: int) -> dict[str, nn.Module]:
    """The encoder's output layers for the config's posterior, from features of this width.
    Gaussian and flows keep ``fc_mu`` / ``fc_logvar`` (so a Gaussian run's weights are unchanged)."""
    kind, d = config.posterior, config.latent_dim
    if kind == "categorical":
        return {"fc_logits": nn.Linear(width, d * config.categories)}
    if kind == "dirichlet":
        return {"fc_alpha": nn.Linear(width, d)}
    heads: dict[str, nn.Module] = {"fc_mu": nn.Linear(width, d), "fc_logvar": nn.Linear(width, d)}
    if kind in FLOW_KINDS:
        from vae.model.flows import build_flow
        heads["flow"] = build_flow(kind, d, config.flow_steps, width)
    return heads


def head_names(config) -> tuple[str, ...]:
    """The names of ``posterior_heads``' modules, without building them."""
    kind = config.posterior
    if kind == "categorical":
        return ("fc_logits",)
    if kind == "dirichlet":
        return ("fc_alpha",)
    return ("fc_mu", "fc_logvar", "flow") if kind in FLOW_KINDS else ("fc_mu", "fc_logvar")


def encode_posterior(model, h: torch.Tensor):
    """q(z|x) from the encoder's features h: (B, width)."""
    c = model.config
    kind = c.posterior
    if kind == "categorical":
        logits = model.fc_logits(h).reshape(h.shape[0], c.latent_dim, c.categories)
        return CategoricalPosterior(logits, model.temperature, model.straight_through)
    if kind == "dirichlet":
        return DirichletPosterior(F.softplus(model.fc_alpha(h)) + ALPHA_MIN)
    # Clamping log σ² keeps exp() finite when a diverging run pushes it far out.
    mu, logvar = model.fc_mu(h), model.fc_logvar(h).clamp(*LOGVAR_CLAMP)
    if kind in FLOW_KINDS:
        return FlowPosterior(mu, logvar, model.flow.context(h), model.flow, kind)
    return DiagonalGaussian(mu, logvar)


def prior_for(config):
    """p(z) for a categorical or Dirichlet posterior (None: the Gaussian family's prior applies)."""
    if config.posterior == "categorical":
        return UniformCategorical(config.latent_dim, config.categories)
    if config.posterior == "dirichlet":
        return SymmetricDirichlet(config.latent_dim, config.prior_concentration)
    return None


def cat_posteriors(parts: list):
    """One posterior over the concatenated batches of ``parts`` (all of one kind)."""
    first = parts[0]
    if isinstance(first, DiagonalGaussian):
        return DiagonalGaussian(torch.cat([p.mu for p in parts]), torch.cat([p.logvar for p in parts]))
    return first.with_params(*(torch.cat(ts) for ts in zip(*(p.params() for p in parts))))


def posterior_label(config) -> str:
    """A short name of a run's posterior, for cards and pickers: 'Gaussian', 'IAF ×4', '8 × Cat(10)', …"""
    kind = getattr(config, "posterior", "gaussian")
    if kind == "planar":
        return f"planar flow ×{config.flow_steps}"
    if kind == "iaf":
        return f"IAF ×{config.flow_steps}"
    if kind == "categorical":
        return f"{config.latent_dim} × Cat({config.categories})"
    if kind == "dirichlet":
        return f"Dirichlet (K={config.latent_dim})"
    return "Gaussian"
