"""Figures for the home page: prior samples and reconstructions."""
from __future__ import annotations

import torch

from vae.model.networks import VAE


@torch.no_grad()
def home_figures(model: VAE, x_test: torch.Tensor, seed: int = 0, n_samples: int = 32,
                 n_recon: int = 8) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prior samples (n_samples, C, H, W), and n_recon test images with their
    reconstructions E[x|z=μ(x)], all in [0, 1]; seeded, so a rerun shows the same."""
    g = torch.Generator().manual_seed(seed)
    z = model.prior.sample(n_samples, generator=g)
    idx = torch.randperm(len(x_test), generator=g)[:n_recon]
    originals = x_test[idx]
    return model.mean_image(z), originals, model.mean_image(model.encode(originals).mean)
