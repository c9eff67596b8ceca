"""One training step, in the forms the trainer can run it: eager, mixed precision, compiled,
wrapped for DistributedDataParallel, or captured whole as a CUDA graph. Also where a split's
images live on a GPU. The loop itself (batches, checks, epochs) is ``vae.training.loop.fit``."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from vae.config import TrainConfig
from vae.model.networks import VAE
from vae.model.objectives import elbo

# A split is kept on the GPU when it takes at most this share of the free device memory;
# otherwise it stays in pinned host memory and each batch is copied over.
DEVICE_DATA_FRACTION = 0.5
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
GRAPH_WARMUP = 3  # eager steps on a side stream before the capture (as torch.cuda.graphs asks)


def place_data(x: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, str]:
    """x: (N, C, H, W) on the CPU -> (x where training reads it, a phrase saying where).

    CPU: unchanged. CUDA: moved to the device when it fits in DEVICE_DATA_FRACTION of the free
    memory, else pinned host memory (batches are then gathered on the host and copied
    asynchronously)."""
    if device.type != "cuda":
        return x, "in memory"
    mb = x.numel() * x.element_size() / 2**20
    if x.device.type == "cuda":
        return x, f"on the GPU ({mb:,.0f} MB)"
    free, _ = torch.cuda.mem_get_info(device)
    if x.numel() * x.element_size() <= DEVICE_DATA_FRACTION * free:
        return x.to(device), f"on the GPU ({mb:,.0f} MB)"
    return x.pin_memory(), (f"in pinned host memory ({mb:,.0f} MB: more than {DEVICE_DATA_FRACTION:.0%} of the "
                            f"GPU's {free / 2**20:,.0f} MB free), copied per batch")


@contextmanager
def low_precision(model: VAE, amp: str, device: torch.device, graph_safe: bool = False) -> Iterator[dict]:
    """While open, the model's encoder and decoder networks run under autocast (bf16 or fp16)
    and hand back float32, so the likelihood, the KL and the ELBO are computed in float32.
    Yields a switch: ``switch["on"] = False`` runs them in float32 (evaluation).
    ``graph_safe``: no autocast weight cache (a CUDA-graph capture needs that)."""
    switch = {"on": amp != "off"}
    if amp == "off":
        yield switch
        return
    dtype = AMP_DTYPES[amp]
    patched = []
    for name in ("encoder", "decoder"):
        mod = getattr(model, name, None)
        if not isinstance(mod, nn.Module):
            continue

        def forward(*args, _inner=mod.forward, **kw):
            if not switch["on"]:
                return _inner(*args, **kw)
            with torch.autocast(device.type, dtype=dtype, cache_enabled=not graph_safe):
                return _inner(*args, **kw).float()
        mod.forward = forward  # an instance attribute: the state dict and the class are untouched
        patched.append(mod)
    try:
        yield switch
    finally:
        for mod in patched:
            del mod.forward


class Objective(nn.Module):
    """The forward half of a step as one module (what DDP wraps and torch.compile compiles):
    (x: (B, C, H, W), β, scale) -> (scale × loss, loss (detached), the batch's [ELBO, rec, KL]
    sums and the relaxed objective's (categorical; else the ELBO again) in float32: (4,)). ``scale`` makes a rank's share weigh as its images do in the batch."""

    def __init__(self, model: VAE, cfg: TrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, xb: torch.Tensor, beta, scale=1.0):
        c = self.cfg
        t = elbo(self.model, xb, mc_samples=c.mc_samples, beta=beta, free_bits=c.free_bits,
                 estimator=c.estimator, baseline=c.baseline)
        relaxed = t.elbo if t.relaxed is None else t.relaxed  # categorical: the relaxed objective trained on
        stats = torch.stack([t.elbo.detach().sum(), t.rec.detach().sum(), t.kl.detach().sum(),
                             relaxed.detach().sum()]).float()
        loss = t.loss
        return (loss if isinstance(scale, float) and scale == 1.0 else loss * scale), loss.detach(), stats


def make_optimizer(model: VAE, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam; fused on CUDA (one kernel for every parameter), capturable for a CUDA graph.
    On the CPU: the plain implementation, as before."""
    if device.type != "cuda":
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True, capturable=cfg.cuda_graph)


class GraphedStep:
    """The whole step (forward, backward, Adam) captured once as a CUDA graph and replayed for
    every full batch; a smaller last batch runs eagerly into the same gradient buffers. The first
    GRAPH_WARMUP full batches are ordinary steps on a side stream (autocast caches and Adam's
    state are made there), the next one is captured and then replayed."""

    def __init__(self, objective: nn.Module, opt: torch.optim.Optimizer, batch: torch.Tensor):
        self.objective, self.opt = objective, opt
        self.x = torch.empty_like(batch)  # (B, C, H, W): the captured step reads its batch here
        self.beta = torch.zeros((), device=batch.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warm = 0
        self.out: tuple[torch.Tensor, torch.Tensor] | None = None

    def _eager(self, xb: torch.Tensor, beta: torch.Tensor, set_to_none: bool):
        self.opt.zero_grad(set_to_none=set_to_none)
        scaled, loss, stats = self.objective(xb, beta)
        scaled.backward()
        self.opt.step()
        return loss, stats

    def __call__(self, xb: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One step on xb; returns (loss, stats) as device tensors (copied out of the graph's buffers)."""
        self.beta.fill_(beta)
        if xb.shape != self.x.shape:  # the last, smaller batch
            return self._eager(xb, self.beta, set_to_none=self.graph is None)
        self.x.copy_(xb, non_blocking=True)
        if self.warm < GRAPH_WARMUP:
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                loss, stats = self._eager(self.x, self.beta, set_to_none=True)
            torch.cuda.current_stream().wait_stream(side)
            self.warm += 1
            return loss, stats
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            self.opt.zero_grad(set_to_none=True)
            with torch.cuda.graph(self.graph):
                scaled, loss, stats = self.objective(self.x, self.beta)
                scaled.backward()
                self.opt.step()
            self.out = (loss, stats)
        self.graph.replay()
        assert self.out is not None
        return self.out[0].clone(), self.out[1].clone()
