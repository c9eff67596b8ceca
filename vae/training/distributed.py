"""Training in several processes under torchrun: who this process is, and the few collectives the
trainer needs. ``torchrun --nproc_per_node=N -m vae.train …`` sets RANK, WORLD_SIZE and
LOCAL_RANK for each process; without them (a plain ``python -m vae.train``) there is one
process and nothing here talks to anyone.

Backends: NCCL between GPUs, gloo between CPU processes. Rank 0 alone evaluates, prints and
writes the run folder; every rank trains on its share of each batch, and the gradients are
averaged by DistributedDataParallel.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

import torch

# A peer that stops answering is given this long before a collective fails (a rank that dies
# outright closes its sockets, and gloo fails at once).
TIMEOUT = timedelta(minutes=10)


class PeerLost(RuntimeError):
    """Another process of this run stopped answering: it died, or was killed."""


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process, 0 … world_size − 1
    world_size: int = 1  # processes training the run
    local_rank: int = 0  # this process on its machine: its GPU index
    backend: str = "none"  # gloo | nccl once initialised

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """The process's place as torchrun describes it (RANK, WORLD_SIZE, LOCAL_RANK); one process
    when they are absent. Raises ValueError on values that do not make sense."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return World()
    try:
        size, rank = int(env["WORLD_SIZE"]), int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ValueError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them)") from None
    if not (size >= 1 and 0 <= rank < size and local >= 0):
        raise ValueError(f"RANK {rank} / WORLD_SIZE {size} do not describe a process of a run")
    return World(rank=rank, world_size=size, local_rank=local)


def device_for(world: World, device: torch.device) -> torch.device:
    """The device of this rank: its own GPU (LOCAL_RANK) when training on CUDA."""
    if device.type == "cuda" and world.distributed:
        if world.local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {world.local_rank} has no GPU: this machine has "
                               f"{torch.cuda.device_count()}; use --nproc_per_node ≤ that")
        return torch.device("cuda", world.local_rank)
    return device


def init(world: World, device: torch.device) -> World:
    """Join the run's process group (NCCL on GPUs, gloo on CPUs); a no-op for one process."""
    if not world.distributed:
        return world
    import torch.distributed as dist
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    kw: dict[str, Any] = {"device_id": device} if device.type == "cuda" else {}
    dist.init_process_group(backend=backend, timeout=TIMEOUT, **kw)
    return World(rank=world.rank, world_size=world.world_size, local_rank=world.local_rank, backend=backend)


def shutdown(world: World) -> None:
    import torch.distributed as dist
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def _lost(e: BaseException) -> PeerLost:
    first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
    return PeerLost(f"lost contact with another process of this run (a rank died or was killed): {first}")


def any_true(world: World, flags: torch.Tensor) -> torch.Tensor:
    """Element-wise OR of a small flag vector over every rank (0/1 values). Waits for the device."""
    if not world.distributed:
        return flags
    import torch.distributed as dist
    out = flags.clone().float()
    try:
        dist.all_reduce(out, op=dist.ReduceOp.MAX)
    except RuntimeError as e:
        raise _lost(e) from e
    return out > 0


def sum_all(world: World, t: torch.Tensor) -> torch.Tensor:
    """Sum of a tensor over every rank (in place; returned)."""
    if world.distributed:
        import torch.distributed as dist
        try:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        except RuntimeError as e:
            raise _lost(e) from e
    return t


def from_main(world: World, obj: Any) -> Any:
    """Rank 0's ``obj``, on every rank (a small picklable value: an epoch's record)."""
    if not world.distributed:
        return obj
    import torch.distributed as dist
    box = [obj if world.is_main else None]
    try:
        dist.broadcast_object_list(box, src=0)
    except RuntimeError as e:
        raise _lost(e) from e
    return box[0]


def gather(world: World, obj: Any) -> list[Any]:
    """Every rank's ``obj`` (small and picklable), in rank order, on every rank."""
    if not world.distributed:
        return [obj]
    import torch.distributed as dist
    out: list[Any] = [None] * world.world_size
    try:
        dist.all_gather_object(out, obj)
    except RuntimeError as e:
        raise _lost(e) from e
    return out
