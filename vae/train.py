"""Command line: ``python -m vae.train --dataset digits --out checkpoints/my-run``.

Prints one line per epoch (``--json``: a JSON summary as the last line), saves the
run folder after every epoch, stops cleanly on SIGINT/SIGTERM keeping the last
completed epoch, and on a non-finite loss keeps the last good weights.
Exit codes: 0 finished or stopped, 2 bad input, 3 diverged, 4 could not save, 5 another
process of a torchrun run died.

Under ``torchrun --nproc_per_node=N -m vae.train …`` every process trains its share of each
batch (DistributedDataParallel; NCCL on GPUs, gloo on CPUs) and rank 0 alone prints and
writes the run folder; the run's config records ``world_size``, ``backend`` and ``device_kind``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_IO, EXIT_PEER = 0, 2, 3, 4, 5


def build_parser() -> argparse.ArgumentParser:
    """One flag per field of the run's config (``vae.config.build_run_parser``), plus where to write."""
    from vae.config import build_run_parser
    p = argparse.ArgumentParser(prog="python -m vae.train", description="Train a VAE and save a run folder.")
    build_run_parser(p)
    p.add_argument("--out", required=True, help="run folder to create (must not hold a run already)")
    p.add_argument("--json", action="store_true", help="make the last line a JSON summary")
    return p


def _fail(msg: str, code: int, as_json: bool, quiet: bool = False) -> int:
    """Say why and return the exit code (``quiet``: a torchrun rank other than 0, whose reason
    is rank 0's too)."""
    if quiet:
        return code
    print(f"error: {msg}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps({"state": "error", "message": msg}), flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from vae.training import distributed
    from vae.runs.folder import CONFIG, MAX_PARAMS, WEIGHTS, count_parameters, save_run, write_status
    from vae.config import ConfigError, config_from_namespace, given_fields
    from vae.data import DataError, load_dataset
    from vae.model.networks import build_model
    from vae.training.step import place_data
    from vae.model.evaluation import evaluate_split
    from vae.training.loop import fit, resolve_device
    from vae.runs.validate import check_data_config

    try:
        world = distributed.world_from_env()
    except ValueError as e:
        return _fail(str(e), EXIT_USAGE, args.json)
    main_rank = world.is_main
    out = Path(args.out)
    if (out / CONFIG).exists() or (out / WEIGHTS).exists():
        return _fail(f"{out} already holds a run; choose another --out (runs are never overwritten)",
                     EXIT_USAGE, args.json, quiet=not main_rank)
    cfg = config_from_namespace(args)
    data_cfg, train_cfg = cfg.data, cfg.train
    data_cfg.name = str(data_cfg.name).strip().lower().replace("_", "-")
    # The run's dataset settings are checked before any data is read (an image size or item
    # count beyond the limits would otherwise be allocated first). A --data-dir typed here is
    # the user's own choice: checked to be a folder or file, not confined to VAE_DATA_ROOTS.
    try:
        check_data_config(data_cfg, None, confined=False)
        train_cfg.validate()
        device = distributed.device_for(world, resolve_device(train_cfg.device))
        if train_cfg.cuda_graph and device.type != "cuda":
            raise ConfigError(f"--cuda-graph captures the training step on a CUDA device; this run would "
                              f"train on {device.type} (no CUDA device is available, or --device cpu was given)")
        if train_cfg.cuda_graph and world.distributed:
            raise ConfigError("--cuda-graph is for one process; leave it out under torchrun")
    except (ConfigError, RuntimeError) as e:
        return _fail(str(e), EXIT_USAGE, args.json, quiet=not main_rank)
    try:
        splits = load_dataset(data_cfg.name, data_cfg.data_dir, image_size=data_cfg.image_size,
                              channels=data_cfg.channels, max_items=data_cfg.max_items)
    except DataError as e:
        return _fail(str(e), EXIT_USAGE, args.json, quiet=not main_rank)
    c, h, w = splits.train.image_shape
    given = given_fields(args)
    try:
        # The model's input shape is the dataset's; a command line that states it must agree.
        for name, have in (("in_channels", c), ("image_size", h)):
            if ("model", name) in given and getattr(cfg.model, name) != have:
                raise ConfigError(f"the dataset's images are {c}×{h}×{w}, but the command line gives the model "
                                  f"{name} {getattr(cfg.model, name)}")
        cfg.model.in_channels, cfg.model.image_size = c, h
        model_cfg = cfg.model.validate()
        check_data_config(cfg.data, cfg.model, confined=False)
        n_params = count_parameters(cfg)
        if n_params > MAX_PARAMS:
            raise ConfigError(f"the model would have {n_params:,} parameters; the limit is {MAX_PARAMS:,}")
    except ConfigError as e:
        return _fail(str(e), EXIT_USAGE, args.json, quiet=not main_rank)

    stop = {"flag": False}

    def _on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    try:
        world = distributed.init(world, device)
    except RuntimeError as e:
        return _fail(f"could not join the other processes of this run: {e}", EXIT_PEER, args.json)
    # How the run was trained, recorded in its config.json.
    train_cfg.world_size, train_cfg.backend, train_cfg.device_kind = world.world_size, world.backend, device.type
    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg).to(device)
    if world.rank:  # the same initial weights everywhere; each rank's own noise from here on
        torch.manual_seed(train_cfg.seed + world.rank)
    x_train, where = place_data(splits.train.x, device)
    created = not out.exists()
    if main_rank:
        out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    how = f"device {device}" if device.type != "cuda" else f"device {device}, data {where}"
    if world.distributed:
        how += f", {world.world_size} processes ({world.backend})"
    if main_rank:
        print(f"training {model_cfg.arch} VAE (D={model_cfg.latent_dim}, {n_params:,} parameters) on "
              f"{splits.source or data_cfg.name}: {len(splits.train):,} train / {len(splits.test):,} test images "
              f"of {c}×{h}×{w}, {how}", flush=True)
    saved: list[int] = []
    try:
        if main_rank:
            # The untrained model's test ELBO (private noise: training's RNG is untouched), the curves' epoch 0.
            write_status(out, "running", "training", epoch=0, epochs=train_cfg.epochs,
                         initial_test_elbo=evaluate_split(model, splits.test.x)["elbo"])

        kl_name = "KL" if model_cfg.prior == "standard" else "KL (Monte Carlo)"  # a mixture prior: no closed form

        def on_epoch(history: list[dict], m) -> None:
            rec = history[-1]
            save_run(out, m, cfg, history, epoch=rec["epoch"])
            if train_cfg.snapshot_every and rec["epoch"] % train_cfg.snapshot_every == 0:
                from vae.runs.snapshots import save_snapshot
                save_snapshot(out, m, rec["epoch"])
            saved.append(rec["epoch"])
            write_status(out, "running", "training", epoch=rec["epoch"], epochs=train_cfg.epochs)
            print(f"epoch {rec['epoch']:>4}/{train_cfg.epochs}  train ELBO {rec['train_elbo']:9.3f}  "
                  f"test ELBO {rec['test_elbo']:9.3f}  rec {rec['test_rec']:9.3f}  {kl_name} {rec['test_kl']:7.3f}  "
                  f"AU {'n/a' if rec['active_units'] is None else rec['active_units']}/{model_cfg.latent_dim}  "
                  f"β {rec['beta']:.3g}  {rec['seconds']:.2f}s"
                  + (f"  τ {rec['temperature']:.3g}  relaxed objective {rec['train_relaxed']:.3f}"
                     if "temperature" in rec else ""),
                  flush=True)

        result = fit(model, x_train, splits.test.x, train_cfg, on_epoch=on_epoch if main_rank else None,
                     should_stop=lambda: stop["flag"], world=world)
    except distributed.PeerLost as e:
        return _peer_lost(str(e), out, saved, created, train_cfg.epochs, main_rank, args.json)
    except RuntimeError as e:
        if not world.distributed:
            raise
        # DDP's own gradient exchange fails this way when a peer is gone.
        return _peer_lost(f"lost contact with another process of this run during a step: "
                          f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__}",
                          out, saved, created, train_cfg.epochs, main_rank, args.json)
    except OSError as e:
        msg = f"could not save the run to {out}: {e}"
        try:
            write_status(out, "failed", msg, epoch=len(saved), epochs=train_cfg.epochs)
        except OSError:
            pass
        return _fail(msg, EXIT_IO, args.json)

    distributed.shutdown(world)
    if not main_rank:  # rank 0 reports and writes the final status
        return EXIT_DIVERGED if result.state == "diverged" else EXIT_OK
    done = len(result.history)
    if done == 0:
        # Nothing completed: leave no folder that could pass for a run.
        if created:
            shutil.rmtree(out, ignore_errors=True)
        else:
            (out / "status.json").unlink(missing_ok=True)
        code = EXIT_DIVERGED if result.state == "diverged" else EXIT_OK
        msg = result.message or "no epoch completed"
        print(("error: " if code else "") + msg, file=sys.stderr if code else sys.stdout, flush=True)
        if args.json:
            print(json.dumps({"state": result.state, "message": msg, "epochs": 0}), flush=True)
        return code
    msg = result.message or f"finished {done} epochs"
    write_status(out, result.state, msg, epoch=done, epochs=train_cfg.epochs)
    last = result.history[-1]
    seconds = time.perf_counter() - t_start
    print(f"{result.state}: {msg}; saved {out} (test ELBO {last['test_elbo']:.3f} nats) in {seconds:.1f}s",
          file=sys.stderr if result.state == "diverged" else sys.stdout, flush=True)
    if args.json:
        print(json.dumps({"state": result.state, "message": msg, "out": str(out), "epochs": done,
                          "test_elbo": last["test_elbo"], "test_rec": last["test_rec"], "test_kl": last["test_kl"],
                          "active_units": last["active_units"], "seconds": seconds}), flush=True)
    return EXIT_DIVERGED if result.state == "diverged" else EXIT_OK


def _peer_lost(msg: str, out: Path, saved: list[int], created: bool, epochs: int, main_rank: bool,
               as_json: bool) -> int:
    """Another rank died: say so, and on rank 0 leave the last complete epoch as the run (or no
    run, when none completed)."""
    from vae.runs.catalog import killed_message
    from vae.runs.folder import write_status
    done = saved[-1] if saved else 0
    if main_rank:
        if done:
            msg += f"; the run keeps its last complete epoch, {done}, in {out}"
            try:
                write_status(out, "interrupted", killed_message(done), epoch=done, epochs=epochs,
                             cause="another process of the run died")
            except OSError:
                pass
        else:
            msg += "; no epoch completed, so nothing was saved"
            if created:
                shutil.rmtree(out, ignore_errors=True)
            else:
                (out / "status.json").unlink(missing_ok=True)
    else:
        msg = f"rank {os.environ.get('RANK', '?')}: {msg}"
    return _fail(msg, EXIT_PEER, as_json)


if __name__ == "__main__":
    sys.exit(main())
