"""The training loop and split evaluation. Knows nothing of any UI: it reports
each epoch through a callback and polls a stop callable between batches. The step
itself (mixed precision, compile, CUDA graph, DDP) is built in ``vae.training.step``;
the processes of a torchrun run talk through ``vae.training.distributed``."""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from vae.model.evaluation import evaluate_split

from vae.training import distributed
from vae.config import TrainConfig, temperature_at
from vae.model.networks import VAE
from vae.training.distributed import World
from vae.training.step import GraphedStep, Objective, low_precision, make_optimizer, place_data

# A run has diverged when its loss exceeds this multiple of the untrained model's loss
# (floored at one nat per pixel): no healthy run ends up 100× worse than where it began.
DIVERGE_FACTOR = 100.0
DEFAULT_SYNC_EVERY = 50  # GPU or several processes: steps between checks that wait for the device
# Evaluation batches on a GPU: up to 16,384 images, fewer for large images (2²⁴ pixels a batch);
# 1,024 on the CPU, as before.
EVAL_BATCH_CUDA, EVAL_PIXELS_CUDA = 16384, 2**24


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA device is available")
    return torch.device(name)










@dataclass
class FitResult:
    history: list[dict] = field(default_factory=list)
    state: str = "finished"  # finished | stopped | diverged
    message: str = ""


def fit(model: VAE, x_train: torch.Tensor, x_test: torch.Tensor, cfg: TrainConfig,
        on_epoch: Callable[[list[dict], VAE], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        history: list[dict] | None = None, world: World | None = None) -> FitResult:
    """Train with Adam on in-memory tensors, batching by slicing a seeded permutation.

    x_train, x_test: (N, C, H, W) in [0, 1]; on CUDA x_train may already be on the device, or
    in pinned host memory (``train_step.place_data``). After each epoch the test split is
    evaluated, a record appended to the history, and ``on_epoch(history, model)`` called
    (the CLI saves the run there). On a non-finite or runaway loss the weights of the last
    completed epoch are restored and training stops with state 'diverged'.

    The loss is checked every step on one CPU process (reading it costs nothing there); on a
    GPU, or across processes, every ``cfg.sync_every`` steps and at the end of each epoch, so
    the device is never waited on per batch. ``world``: this process's place in a torchrun
    run: each rank trains on its share of every batch (DistributedDataParallel averages the
    gradients), all agree on stopping at the same step, and rank 0 alone evaluates and calls
    ``on_epoch`` (give the others None).
    """
    world = world or World()
    dev = next(model.parameters()).device
    cuda = dev.type == "cuda"
    if cfg.cuda_graph and not cuda:
        raise ValueError(f"--cuda-graph captures the training step on a CUDA device; this run is on {dev.type}")
    if cfg.cuda_graph and world.distributed:
        raise ValueError("--cuda-graph is for one process; leave it out under torchrun")
    if cuda and x_train.device.type == "cpu" and not x_train.is_pinned():
        x_train, _ = place_data(x_train, dev)
    on_host = x_train.device != dev  # pinned batches, copied per step
    if not on_host:
        x_train = x_train.to(dev)
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = make_optimizer(model, cfg, dev)
    scaler = torch.amp.GradScaler(dev.type, enabled=cfg.amp == "fp16")
    n = len(x_train)
    steps_per_epoch = max(1, math.ceil(n / cfg.batch_size))
    warmup_steps = cfg.kl_warmup * steps_per_epoch
    result = FitResult(history=list(history or []))
    good_state = copy.deepcopy(model.state_dict())
    check_each_step = not cuda and not world.distributed and cfg.sync_every <= 1
    sync_every = cfg.sync_every or (1 if not (cuda or world.distributed) else DEFAULT_SYNC_EVERY)
    eval_batch = max(1024, min(EVAL_BATCH_CUDA, EVAL_PIXELS_CUDA // max(1, x_test[0].numel()))) if cuda else 1024
    tensor_beta = cfg.compile or cfg.cuda_graph  # a changing Python float would recompile each step
    step = 0
    ref_loss: float | None = None
    bad = torch.zeros((), dtype=torch.bool, device=dev)  # a loss went bad since the last check
    bad_loss = torch.zeros((), device=dev)  # the first bad loss, for the message

    objective: torch.nn.Module = Objective(model, cfg)
    if world.distributed:
        from torch.nn.parallel import DistributedDataParallel as DDP
        objective = DDP(objective, device_ids=[dev.index] if cuda else None)
    # Static shapes: the full batch and the last, smaller one get a graph each (a dynamic batch
    # dimension would trace torch.randn with a symbolic size, which fails).
    step_fn = torch.compile(objective, dynamic=False) if cfg.compile else objective
    graphed: GraphedStep | None = None

    def diverged(loss: float, epoch: int) -> FitResult:
        model.load_state_dict(good_state)
        done = len(result.history)
        what = f"became {loss:.4g}" if not math.isfinite(loss) else \
            f"reached {loss:.4g}, over {DIVERGE_FACTOR:.0f}× the untrained model's {ref_loss:.4g},"
        result.state = "diverged"
        result.message = (f"training diverged: the loss {what} in epoch {epoch} (learning rate {cfg.lr} "
                          "may be too high); " + (f"kept the weights of epoch {done}" if done else
                                                  "no epoch completed, so nothing was saved"))
        return result

    def stopped(epoch: int) -> FitResult:
        result.state, result.message = "stopped", f"stopped by request during epoch {epoch}"
        model.load_state_dict(good_state)
        return result

    def agreed(epoch: int) -> FitResult | None:
        """The deferred check (waits for the device; across ranks, one small all-reduce)."""
        want_stop = should_stop is not None and should_stop()
        flags = distributed.any_true(world, torch.stack([bad.float(), torch.tensor(float(want_stop), device=dev)]))
        if bool(flags[0]):
            losses = distributed.gather(world, float(bad_loss) if bool(bad) else None)
            return diverged(next(v for v in losses if v is not None), epoch)
        if bool(flags[1]):
            return stopped(epoch)
        return None

    with low_precision(model, cfg.amp, dev, graph_safe=cfg.cuda_graph) as amp_switch:
        for epoch in range(len(result.history) + 1, cfg.epochs + 1):
            t0 = time.perf_counter()
            model.train()
            amp_switch["on"] = cfg.amp != "off"
            perm = torch.randperm(n, generator=gen)
            if not on_host:
                perm = perm.to(dev)
            sums = torch.zeros(4, dtype=torch.float64, device=dev)
            tau = set_temperature(model, cfg, epoch)
            used = 0  # images trained on this epoch, over every rank
            beta = cfg.beta
            for s in range(0, n, cfg.batch_size):
                if not world.distributed and should_stop is not None and should_stop():
                    return stopped(epoch)
                idx = perm[s:s + cfg.batch_size]
                beta = cfg.beta * min(1.0, step / warmup_steps) if warmup_steps > 0 else cfg.beta
                scale = 1.0
                if world.distributed:
                    if len(idx) < world.world_size:  # too few to share: every rank skips it alike
                        continue
                    scale = world.world_size * len(idx[world.rank::world.world_size]) / len(idx)
                    used += len(idx)
                    idx = idx[world.rank::world.world_size]
                else:
                    used += len(idx)
                xb = x_train[idx].pin_memory().to(dev, non_blocking=True) if on_host else x_train[idx]
                if cfg.cuda_graph:
                    if graphed is None:
                        graphed = GraphedStep(step_fn, opt, xb)
                    loss_t, stats = graphed(xb, beta)
                else:
                    b = torch.tensor(beta, device=dev) if tensor_beta else beta
                    scaled, loss_t, stats = step_fn(xb, b, scale)
                if ref_loss is None:  # once per run: the untrained model's loss sets the runaway limit
                    ref_loss = max(abs(float(loss_t)), float(xb[0].numel()))
                if check_each_step:  # as before: read the loss before stepping
                    loss = loss_t.item()
                    if not math.isfinite(loss) or loss > DIVERGE_FACTOR * ref_loss:
                        return diverged(loss, epoch)
                else:
                    now_bad = ~torch.isfinite(loss_t) | (loss_t > DIVERGE_FACTOR * ref_loss)
                    bad_loss = torch.where(bad | ~now_bad, bad_loss, loss_t.float())
                    bad = bad | now_bad
                if cfg.cuda_graph:
                    pass  # the graph stepped already
                elif scaler.is_enabled():
                    opt.zero_grad(set_to_none=True)
                    scaler.scale(scaled).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    opt.zero_grad(set_to_none=True)
                    scaled.backward()
                    opt.step()
                step += 1
                sums += stats.double()
                if not check_each_step and step % sync_every == 0 and (out := agreed(epoch)) is not None:
                    return out
            if not check_each_step and (out := agreed(epoch)) is not None:
                return out
            train = (distributed.sum_all(world, sums) / max(used, 1)).tolist()
            amp_switch["on"] = False  # the reported ELBO: float32 throughout
            payload: dict = {}
            if world.is_main:
                payload = _end_epoch(model, x_test, eval_batch, epoch, train, beta, t0, result, on_epoch, tau)
            payload = distributed.from_main(world, payload)
            if "diverged" in payload:
                model.load_state_dict(good_state)
                result.state, result.message = "diverged", payload["diverged"]
                return result
            if not world.is_main:
                result.history.append(payload["record"])
            good_state = copy.deepcopy(model.state_dict())
    return result


def set_temperature(model: VAE, cfg: TrainConfig, epoch: int) -> float | None:
    """A categorical model's Gumbel-softmax τ for this epoch (annealed), and its straight-through
    switch; None for other posteriors."""
    if not hasattr(model, "temperature"):
        return None
    tau = temperature_at(cfg, epoch)
    model.temperature.fill_(tau)
    model.straight_through = cfg.straight_through
    return tau


def _end_epoch(model: VAE, x_test: torch.Tensor, eval_batch: int, epoch: int, train: list[float], beta: float,
               t0: float, result: FitResult, on_epoch, tau: float | None = None) -> dict:
    """Rank 0 at an epoch's end: evaluate the test split, record, call on_epoch. Returns what the
    other ranks need to know: {"record": …} or {"diverged": message}. An error saving is raised
    here; the other ranks then lose rank 0 and exit saying so."""
    test = evaluate_split(model, x_test, batch_size=eval_batch)
    if not math.isfinite(test["elbo"]):
        return {"diverged": f"the test ELBO became {test['elbo']} after epoch {epoch}; kept epoch {epoch - 1}"}
    rec = {"epoch": epoch, "train_elbo": train[0], "train_rec": train[1], "train_kl": train[2],
           "test_elbo": test["elbo"], "test_rec": test["rec"], "test_kl": test["kl"],
           "kl_per_dim": test["kl_per_dim"], "active_units": test["active_units"],
           "beta": beta, "seconds": time.perf_counter() - t0}
    if tau is not None:  # categorical: the relaxed objective trained on is not the ELBO; recorded apart
        rec.update(train_relaxed=train[3], test_relaxed=test.get("relaxed"), temperature=tau)
    result.history.append(rec)
    if on_epoch is not None:
        on_epoch(result.history, model)
    return {"record": rec}
