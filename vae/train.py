"""Command line: ``python -m vae.train --dataset digits --out checkpoints/my-run``.

Prints one line per epoch (``--json``: a JSON summary as the last line), saves the
run folder after every epoch, stops cleanly on SIGINT/SIGTERM keeping the last
completed epoch, and on a non-finite loss keeps the last good weights.
Exit codes: 0 finished or stopped, 2 bad input, 3 diverged, 4 could not save.
"""
from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_USAGE, EXIT_DIVERGED, EXIT_IO = 0, 2, 3, 4


def build_parser() -> argparse.ArgumentParser:
    from .config import ModelConfig, TrainConfig
    m, t = ModelConfig(), TrainConfig()
    p = argparse.ArgumentParser(prog="python -m vae.train", description="Train a VAE and save a run folder.")
    p.add_argument("--dataset", default="digits", help="digits | shapes | mnist | fashion-mnist | folder")
    p.add_argument("--data-dir", default=None, help="IDX files (mnist) or an image folder/zip (folder)")
    p.add_argument("--image-size", type=int, default=None, help="resize/render size (folder, shapes)")
    p.add_argument("--channels", type=int, default=None, choices=[1, 3], help="folder: 1 gray or 3 RGB")
    p.add_argument("--max-items", type=int, default=None, help="cap on images per split")
    p.add_argument("--arch", default=m.arch, choices=["mlp", "conv"])
    p.add_argument("--latent-dim", type=int, default=m.latent_dim)
    p.add_argument("--hidden", type=int, nargs="+", default=None,
                   help="mlp layer widths, or the conv model's dense width (default: 256)")
    p.add_argument("--likelihood", default=m.likelihood, choices=["bernoulli", "gaussian"])
    p.add_argument("--obs-var", default=m.obs_var, choices=["learned", "fixed"])
    p.add_argument("--obs-std", type=float, default=m.obs_std)
    p.add_argument("--epochs", type=int, default=t.epochs)
    p.add_argument("--batch-size", type=int, default=t.batch_size)
    p.add_argument("--lr", type=float, default=t.lr)
    p.add_argument("--beta", type=float, default=t.beta)
    p.add_argument("--kl-warmup", type=float, default=t.kl_warmup, help="epochs of linear KL warm-up")
    p.add_argument("--free-bits", type=float, default=t.free_bits, help="nats per dimension")
    p.add_argument("--mc-samples", type=int, default=t.mc_samples)
    p.add_argument("--seed", type=int, default=t.seed)
    p.add_argument("--device", default=t.device, choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", required=True, help="run folder to create (must not hold a run already)")
    p.add_argument("--json", action="store_true", help="make the last line a JSON summary")
    return p


def _fail(msg: str, code: int, as_json: bool) -> int:
    print(f"error: {msg}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps({"state": "error", "message": msg}), flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from .checkpoint import CONFIG, MAX_PARAMS, WEIGHTS, count_parameters, save_run, write_status
    from .config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
    from .data import DataError, load_dataset
    from .models import build_model
    from .trainer import fit, resolve_device
    from .validate import check_data_config, check_data_dir

    out = Path(args.out)
    if (out / CONFIG).exists() or (out / WEIGHTS).exists():
        return _fail(f"{out} already holds a run; choose another --out (runs are never overwritten)",
                     EXIT_USAGE, args.json)
    # The run's dataset settings are checked before any data is read (an image size or item
    # count beyond the limits would otherwise be allocated first). A --data-dir typed here is
    # the user's own choice: checked to be a folder or file, not confined to VAE_DATA_ROOTS.
    data_cfg = DataConfig(name=str(args.dataset).strip().lower().replace("_", "-"), data_dir=args.data_dir,
                          image_size=args.image_size, channels=args.channels, max_items=args.max_items)
    try:
        check_data_config(data_cfg, None, confined=False)
    except ConfigError as e:
        return _fail(str(e), EXIT_USAGE, args.json)
    try:
        train_cfg = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta=args.beta,
                                kl_warmup=args.kl_warmup, free_bits=args.free_bits, mc_samples=args.mc_samples,
                                seed=args.seed, device=args.device).validate()
        device = resolve_device(train_cfg.device)
    except (ConfigError, RuntimeError) as e:
        return _fail(str(e), EXIT_USAGE, args.json)
    try:
        splits = load_dataset(data_cfg.name, args.data_dir, image_size=args.image_size, channels=args.channels,
                              max_items=args.max_items)
    except DataError as e:
        return _fail(str(e), EXIT_USAGE, args.json)
    c, h, w = splits.train.image_shape
    try:
        model_cfg = ModelConfig(arch=args.arch, in_channels=c, image_size=h, latent_dim=args.latent_dim,
                                hidden=args.hidden or ModelConfig().hidden, likelihood=args.likelihood,
                                obs_var=args.obs_var, obs_std=args.obs_std).validate()
        cfg = RunConfig(model=model_cfg, train=train_cfg, data=data_cfg)
        check_data_config(cfg.data, cfg.model, confined=False)
        n_params = count_parameters(cfg)
        if n_params > MAX_PARAMS:
            raise ConfigError(f"the model would have {n_params:,} parameters; the limit is {MAX_PARAMS:,}")
    except ConfigError as e:
        return _fail(str(e), EXIT_USAGE, args.json)

    stop = {"flag": False}

    def _on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    torch.manual_seed(train_cfg.seed)
    model = build_model(model_cfg).to(device)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    print(f"training {args.arch} VAE (D={args.latent_dim}, {n_params:,} parameters) on {splits.source or args.dataset}: "
          f"{len(splits.train):,} train / {len(splits.test):,} test images of {c}×{h}×{w}, device {device}",
          flush=True)
    saved: list[int] = []
    try:
        write_status(out, "running", "training", epoch=0, epochs=train_cfg.epochs)

        def on_epoch(history: list[dict], m) -> None:
            rec = history[-1]
            save_run(out, m, cfg, history, epoch=rec["epoch"])
            saved.append(rec["epoch"])
            write_status(out, "running", "training", epoch=rec["epoch"], epochs=train_cfg.epochs)
            print(f"epoch {rec['epoch']:>4}/{train_cfg.epochs}  train ELBO {rec['train_elbo']:9.3f}  "
                  f"test ELBO {rec['test_elbo']:9.3f}  rec {rec['test_rec']:9.3f}  KL {rec['test_kl']:7.3f}  "
                  f"AU {rec['active_units']}/{args.latent_dim}  β {rec['beta']:.3g}  {rec['seconds']:.2f}s",
                  flush=True)

        result = fit(model, splits.train.x, splits.test.x, train_cfg, on_epoch=on_epoch,
                     should_stop=lambda: stop["flag"])
    except OSError as e:
        msg = f"could not save the run to {out}: {e}"
        try:
            write_status(out, "failed", msg, epoch=len(saved), epochs=train_cfg.epochs)
        except OSError:
            pass
        return _fail(msg, EXIT_IO, args.json)

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


if __name__ == "__main__":
    sys.exit(main())
