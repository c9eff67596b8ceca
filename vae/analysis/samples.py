"""Figures for the home page: prior samples and reconstructions."""
from __future__ import annotations

import torch

from vae.model.networks import VAE


@torch.no_grad()
def home_figures(model: VAE, x_test: torch.Tensor, seed: int = 0, n_samples: int = 32,
                 n_recon: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Prior samples z ~ p(z) decoded to E[x|z] (n_samples, C, H, W), and a two-row grid of up to
    n_recon test images: the originals x, then their reconstructions E[x|z=μ(x)] ((2·n, C, H, W):
    a row is half of it); all in [0, 1], seeded, so a rerun shows the same."""
    g = torch.Generator().manual_seed(seed)
    z = model.prior.sample(n_samples, generator=g)
    idx = torch.randperm(len(x_test), generator=g)[:n_recon]
    originals = x_test[idx]
    return model.mean_image(z), torch.cat([originals, model.mean_image(model.encode(originals).mean)])
