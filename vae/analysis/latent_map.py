"""The Latent map's small tensor steps, so that its page and ``ui/latent_map/`` stay free of torch:
the terms of the points a map shows, the posterior mean μ(x) of one image placed into the map, a
seeded latent drawn from N(0, I), and the decodings E[x|z] of latents given as numpy rows.
Everything runs without gradients; numbers in are numpy, images out are tensors in [0, 1].
"""
from __future__ import annotations

import numpy as np
import torch

from vae.analysis.projection.points import PointTerms, point_terms
from vae.model.networks import VAE

PRIOR_SEED = 1000  # the k-th latent drawn onto a map is seeded by PRIOR_SEED + k (a rerun draws the same)


def cpu_threads() -> int:
    """The threads torch may use here: what the non-linear projections are given."""
    return int(torch.get_num_threads())


def terms_at(model: VAE, x: torch.Tensor, rows: np.ndarray) -> PointTerms:
    """Each shown point's reconstruction term and KL (``point_terms``) for the images at ``rows``."""
    return point_terms(model, x[torch.from_numpy(np.asarray(rows, np.int64))])


@torch.no_grad()
def encode_mean(model: VAE, x: torch.Tensor) -> np.ndarray:
    """μ(x) of one image x (C, H, W): where that image lands in latent space, (D,)."""
    return model.encode(x[None]).mean[0].numpy()


def prior_latent(latent_dim: int, k: int) -> np.ndarray:
    """The k-th latent drawn from the standard normal N(0, I), (D,), seeded by PRIOR_SEED + k."""
    return torch.randn(latent_dim, generator=torch.Generator().manual_seed(PRIOR_SEED + k)).numpy()


@torch.no_grad()
def decode_rows(model: VAE, zs: np.ndarray) -> torch.Tensor:
    """E[x|z] for each row z of ``zs`` (n, D): (n, C, H, W) in [0, 1]."""
    return model.mean_image(torch.from_numpy(np.asarray(zs, np.float32)))
