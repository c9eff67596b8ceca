"""The one split evaluation: q(z|x) for every image of a split, the ELBO terms of each image, and a
split's mean ELBO with its standard error. Used by the trainer, the precompute, Collapse and every
CLI, so every page and command shows the same numbers."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vae.model.distributions import DiagonalGaussian
from vae.model.networks import VAE
from vae.model.objectives import AU_THRESHOLD, active_units, elbo, iwae_bound
from vae.model.family import cat_posteriors
from vae.model.priors import kl_per_dim


EVAL_SEED = 1234  # evaluation noise is fixed so test curves are not jittered by sampling


KL_EVAL_SAMPLES = 16  # draws per image for a Monte-Carlo KL in evaluation (no closed form: mixture priors)


@torch.no_grad()
def encode_all(model: VAE, x: torch.Tensor, batch_size: int = 2048) -> DiagonalGaussian:
    """q(z|x) for every image of a split, on the CPU. x: (N, C, H, W) -> posterior over (N, D)
    (of the run's kind: a flow's parameters stay with the model's flow module)."""
    dev = next(model.parameters()).device
    parts = []
    for s in range(0, len(x), batch_size):
        q = model.encode(x[s:s + batch_size].to(dev))
        parts.append(q.with_params(*(p.cpu() for p in q.params())))
    if not parts:
        return model.encode(x[:0].to(dev))
    return cat_posteriors(parts)


@dataclass
class ImageTerms:
    """ELBO terms of every image of a split, in nats (float64, on the CPU)."""
    elbo: torch.Tensor  # (N,) rec − kl
    rec: torch.Tensor  # (N,) E_q[log p(x|z)], Monte Carlo over mc_samples draws
    kl: torch.Tensor  # (N,) KL(q(z|x) ‖ p(z)): closed form, or Monte Carlo (then kl_se)
    kl_per_dim: torch.Tensor | None  # (N, D); against a mixture prior, to its marginals (vae.model.priors.kl_per_dim);
    # categorical: per variable; None when the KL does not split (flows, Dirichlet)
    mu: torch.Tensor  # (N, D) posterior means (float32; a flow's estimated from samples)
    kl_se: torch.Tensor | None = None  # (N,) Monte-Carlo standard error of kl; None when in closed form
    relaxed: torch.Tensor | None = None  # (N,) categorical: the relaxed objective


@torch.no_grad()
def image_terms(model: VAE, x: torch.Tensor, mc_samples: int = 1, seed: int = EVAL_SEED,
                batch_size: int = 1024) -> ImageTerms:
    """The one evaluation of ``objectives.elbo`` (β = 1) over a split, image by image.

    The noise comes from a private generator seeded with ``seed`` (on the CPU: the same
    stream as the global one seeded alike), so a rerun, a page and the trainer's own
    epoch records agree, and the RNG other sessions of a server use is never touched.
    """
    was_training = model.training
    model.eval()
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    parts, ses = [], []
    prior = model.prior
    for s in range(0, len(x), batch_size):
        t = elbo(model, x[s:s + batch_size].to(dev), mc_samples=mc_samples, generator=gen)
        kl, kl_dim = t.kl, t.kl_per_dim
        if not t.kl_exact:  # no closed form: a KL of KL_EVAL_SAMPLES draws, with its standard error
            k = t.posterior.kl_to(prior, n=KL_EVAL_SAMPLES, generator=gen)
            kl = k.value
            if isinstance(t.posterior, DiagonalGaussian):
                kl_dim = kl_per_dim(t.posterior, prior, KL_EVAL_SAMPLES, gen)
            ses.append(k.stderr.double().cpu())
        none = torch.empty(0)
        parts.append((t.rec.double().cpu(), kl.double().cpu(), none if kl_dim is None else kl_dim.double().cpu(),
                      t.mu.cpu(), none if t.relaxed is None else t.relaxed.double().cpu()))
    model.train(was_training)
    rec, kl, kl_dim, mu, relaxed = (torch.cat(p) for p in zip(*parts))
    return ImageTerms(elbo=rec - kl, rec=rec, kl=kl, kl_per_dim=kl_dim if kl_dim.numel() else None, mu=mu,
                      kl_se=torch.cat(ses) if ses else None, relaxed=relaxed if relaxed.numel() else None)


@torch.no_grad()
def evaluate_split(model: VAE, x: torch.Tensor, batch_size: int = 1024, mc_samples: int = 1,
                   iwae_k: int = 0, au_threshold: float = AU_THRESHOLD) -> dict:
    """Mean per-image ELBO, reconstruction and KL over a split (nats), KL per
    dimension (per variable for categoricals; None when the KL does not split), active units
    (None, "not defined", for non-Gaussian posteriors), and optionally the IWAE bound with K samples
    (``image_terms`` averaged; noise from fixed seeds)."""
    t = image_terms(model, x, mc_samples=mc_samples, batch_size=batch_size)
    out = {"elbo": float(t.elbo.mean()), "rec": float(t.rec.mean()), "kl": float(t.kl.mean()),
           "kl_per_dim": None if t.kl_per_dim is None else t.kl_per_dim.mean(0).tolist(),
           "active_units": None, "au_per_dim": None,
           "kl_method": "closed form" if t.kl_se is None else "Monte Carlo"}
    if getattr(model.config, "posterior", "gaussian") == "gaussian":  # AU (Burda et al.) is defined on Gaussian means
        a, n_active = active_units(t.mu, au_threshold)
        out.update(active_units=n_active, au_per_dim=a.tolist())
    if t.relaxed is not None:
        out["relaxed"] = float(t.relaxed.mean())
    if t.kl_se is not None:  # the Monte-Carlo error of the mean KL over the split
        out["kl_se"] = float(t.kl_se.pow(2).sum().sqrt() / len(t.kl_se))
    if iwae_k:
        dev = next(model.parameters()).device
        gen = torch.Generator(device=dev).manual_seed(EVAL_SEED + 1)
        out["iwae"] = float(sum(float(iwae_bound(model, x[s:s + batch_size].to(dev), iwae_k, generator=gen).sum())
                                for s in range(0, len(x), batch_size)) / len(x))
    return out
