"""The training loop and split evaluation. Knows nothing of any UI: it reports
each epoch through a callback and polls a stop callable between batches."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .config import TrainConfig
from .distributions import DiagonalGaussian
from .models import VAE
from .objectives import AU_THRESHOLD, active_units, elbo, iwae_bound

EVAL_SEED = 1234  # evaluation noise is fixed so test curves are not jittered by sampling
# A run has diverged when its loss exceeds this multiple of the untrained model's loss
# (floored at one nat per pixel): no healthy run ends up 100× worse than where it began.
DIVERGE_FACTOR = 100.0


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)


@torch.no_grad()
def encode_all(model: VAE, x: torch.Tensor, batch_size: int = 2048) -> DiagonalGaussian:
    """q(z|x) for every image of a split, on the CPU. x: (N, C, H, W) -> posterior over (N, D)."""
    dev = next(model.parameters()).device
    mus, lvs = [], []
    for s in range(0, len(x), batch_size):
        q = model.encode(x[s:s + batch_size].to(dev))
        mus.append(q.mu.cpu())
        lvs.append(q.logvar.cpu())
    return DiagonalGaussian(torch.cat(mus), torch.cat(lvs))


@dataclass
class ImageTerms:
    """ELBO terms of every image of a split, in nats (float64, on the CPU)."""
    elbo: torch.Tensor  # (N,) rec − kl
    rec: torch.Tensor  # (N,) E_q[log p(x|z)], Monte Carlo over mc_samples draws
    kl: torch.Tensor  # (N,) KL(q(z|x) ‖ p(z)), closed form
    kl_per_dim: torch.Tensor  # (N, D)
    mu: torch.Tensor  # (N, D) posterior means (float32)


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
    parts = []
    for s in range(0, len(x), batch_size):
        t = elbo(model, x[s:s + batch_size].to(dev), mc_samples=mc_samples, generator=gen)
        parts.append((t.rec.double().cpu(), t.kl.double().cpu(), t.kl_per_dim.double().cpu(), t.mu.cpu()))
    model.train(was_training)
    rec, kl, kl_dim, mu = (torch.cat(p) for p in zip(*parts))
    return ImageTerms(elbo=rec - kl, rec=rec, kl=kl, kl_per_dim=kl_dim, mu=mu)


@torch.no_grad()
def evaluate_split(model: VAE, x: torch.Tensor, batch_size: int = 1024, mc_samples: int = 1,
                   iwae_k: int = 0, au_threshold: float = AU_THRESHOLD) -> dict:
    """Mean per-image ELBO, reconstruction and KL over a split (nats), KL per
    dimension, active units, and optionally the IWAE bound with K samples
    (``image_terms`` averaged; noise from fixed seeds)."""
    t = image_terms(model, x, mc_samples=mc_samples, batch_size=batch_size)
    a, n_active = active_units(t.mu, au_threshold)
    out = {"elbo": float(t.elbo.mean()), "rec": float(t.rec.mean()), "kl": float(t.kl.mean()),
           "kl_per_dim": t.kl_per_dim.mean(0).tolist(), "active_units": n_active, "au_per_dim": a.tolist()}
    if iwae_k:
        dev = next(model.parameters()).device
        gen = torch.Generator(device=dev).manual_seed(EVAL_SEED + 1)
        out["iwae"] = float(sum(float(iwae_bound(model, x[s:s + batch_size].to(dev), iwae_k, generator=gen).sum())
                                for s in range(0, len(x), batch_size)) / len(x))
    return out


@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    state: str = "finished"  # finished | stopped | diverged
    message: str = ""


def fit(model: VAE, x_train: torch.Tensor, x_test: torch.Tensor, cfg: TrainConfig,
        on_epoch: Callable[[list[dict], VAE], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        history: list[dict] | None = None) -> FitResult:
    """Train with Adam on in-memory tensors, batching by slicing a seeded permutation.

    x_train, x_test: (N, C, H, W) in [0, 1]. After each epoch the test split is
    evaluated, a record appended to the history, and ``on_epoch(record, model)``
    called with the whole history (the CLI saves the run there). On a non-finite loss the weights of the
    last completed epoch are restored and training stops with state 'diverged'.
    """
    dev = next(model.parameters()).device
    x_train = x_train.to(dev)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    n = len(x_train)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    warmup_steps = cfg.kl_warmup * steps_per_epoch
    result = FitResult(history=list(history or []))
    good_state = copy.deepcopy(model.state_dict())
    step = 0
    ref_loss: float | None = None
    for epoch in range(len(result.history) + 1, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=gen).to(dev)
        sums = torch.zeros(3, dtype=torch.float64, device=dev)
        beta = cfg.beta
        for s in range(0, n, cfg.batch_size):
            if should_stop is not None and should_stop():
                result.state, result.message = "stopped", f"stopped by request during epoch {epoch}"
                model.load_state_dict(good_state)
                return result
            xb = x_train[perm[s:s + cfg.batch_size]]
            beta = cfg.beta * min(1.0, step / warmup_steps) if warmup_steps > 0 else cfg.beta
            t = elbo(model, xb, mc_samples=cfg.mc_samples, beta=beta, free_bits=cfg.free_bits,
                     estimator=cfg.estimator, baseline=cfg.baseline)
            loss = t.loss.item()
            if ref_loss is None:
                ref_loss = max(abs(loss), float(xb[0].numel()))
            if not math.isfinite(loss) or loss > DIVERGE_FACTOR * ref_loss:
                model.load_state_dict(good_state)
                done = len(result.history)
                what = f"became {loss:.4g}" if not math.isfinite(loss) else \
                    f"reached {loss:.4g}, over {DIVERGE_FACTOR:.0f}× the untrained model's {ref_loss:.4g},"
                result.state = "diverged"
                result.message = (f"training diverged: the loss {what} in epoch {epoch} (learning rate {cfg.lr} "
                                  "may be too high); " + (f"kept the weights of epoch {done}" if done else
                                                          "no epoch completed, so nothing was saved"))
                return result
            opt.zero_grad(set_to_none=True)
            t.loss.backward()
            opt.step()
            step += 1
            with torch.no_grad():
                sums += torch.stack([t.elbo.sum(), t.rec.sum(), t.kl.sum()]).double()
        train = (sums / n).tolist()
        test = evaluate_split(model, x_test)
        if not math.isfinite(test["elbo"]):
            model.load_state_dict(good_state)
            result.state = "diverged"
            result.message = f"the test ELBO became {test['elbo']} after epoch {epoch}; kept epoch {epoch - 1}"
            return result
        rec = {"epoch": epoch, "train_elbo": train[0], "train_rec": train[1], "train_kl": train[2],
               "test_elbo": test["elbo"], "test_rec": test["rec"], "test_kl": test["kl"],
               "kl_per_dim": test["kl_per_dim"], "active_units": test["active_units"],
               "beta": beta, "seconds": time.perf_counter() - t0}
        result.history.append(rec)
        good_state = copy.deepcopy(model.state_dict())
        if on_epoch is not None:
            on_epoch(result.history, model)
    return result
