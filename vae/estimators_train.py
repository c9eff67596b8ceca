"""Training comparison: the same VAE, from the same initial weights and batches, trained with each
ELBO-gradient estimator for φ (see ``vae.analysis.estimators``); the decoder θ always gets its pathwise gradient.

``compare_training`` is a plain function reporting through callbacks; ``ComparisonJob`` runs it on a
background thread so a UI can poll its progress without blocking (and without losing it on a rerun).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .config import ModelConfig
from .analysis.estimators import ESTIMATORS, LABELS, _check_args, surrogate
from .models import build_model
from .trainer import evaluate_split


@dataclass(frozen=True)
class CompareConfig:
    epochs: int = 10  # passes over the training split, per estimator
    batch_size: int = 64  # images per gradient step
    lr: float = 2e-3  # Adam learning rate, shared by all estimators
    mc_samples: int = 1  # L, samples of z per image per step
    baseline: str = "posterior_mean"  # the control variate of score_baseline (see vae.analysis.estimators)
    seed: int = 0  # seeds the initial weights, the batches and the sampling noise
    estimators: tuple[str, ...] = ESTIMATORS  # which estimators to train with

    def validate(self) -> "CompareConfig":
        if not (isinstance(self.epochs, int) and 1 <= self.epochs <= 200):
            raise ValueError(f"epochs must be an integer from 1 to 200, not {self.epochs!r}")
        if not (isinstance(self.batch_size, int) and self.batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer, not {self.batch_size!r}")
        if not (isinstance(self.lr, (int, float)) and 0 < self.lr <= 1):
            raise ValueError(f"the learning rate must be in (0, 1], not {self.lr!r}")
        if not self.estimators:
            raise ValueError("choose at least one estimator")
        for est in self.estimators:
            _check_args(est, self.mc_samples, self.baseline)
        return self


@dataclass
class Curve:
    estimator: str
    points: list[dict] = field(default_factory=list)  # {"epoch", "step", "test_elbo", "train_elbo", "seconds"}
    state: str = "finished"  # finished | stopped | diverged
    message: str = ""


def train_with_estimator(estimator: str, init_state: dict, model_cfg: ModelConfig, x_train: torch.Tensor,
                         x_test: torch.Tensor, cfg: CompareConfig,
                         on_step: Callable[[], None] | None = None,
                         should_stop: Callable[[], bool] | None = None) -> Curve:
    """Train a fresh model from ``init_state`` with Adam on −surrogate (its φ-gradient is the estimator).

    x_train, x_test: (N, C, H, W) in [0, 1]. The test ELBO (analytic KL, one reparameterized sample,
    fixed evaluation seed) is recorded before training and after every epoch.
    """
    model = build_model(model_cfg)
    model.load_state_dict(init_state)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)  # same batches for every estimator
    noise = torch.Generator().manual_seed(cfg.seed + 1)
    curve = Curve(estimator, [{"epoch": 0, "step": 0, "test_elbo": evaluate_split(model, x_test)["elbo"],
                               "train_elbo": None, "seconds": 0.0}])
    n, step, t0 = len(x_train), 0, time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for s in range(0, n, cfg.batch_size):
            if should_stop is not None and should_stop():
                curve.state, curve.message = "stopped", f"stopped during epoch {epoch}"
                return curve
            xb = x_train[perm[s:s + cfg.batch_size]]
            mu, logvar = model.encode(xb)
            obj = surrogate(model, xb, mu, logvar, estimator, cfg.mc_samples, cfg.baseline, noise)  # (B,)
            loss = -obj.mean()
            if not torch.isfinite(loss):
                curve.state = "diverged"
                curve.message = f"{LABELS[estimator]}: the loss became {float(loss)} in epoch {epoch}"
                return curve
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(obj.detach().sum())
            step += 1
            if on_step is not None:
                on_step()
        test = evaluate_split(model, x_test)["elbo"]
        curve.points.append({"epoch": epoch, "step": step, "test_elbo": test, "train_elbo": total / n,
                             "seconds": time.perf_counter() - t0})
        if not math.isfinite(test):
            curve.state, curve.message = "diverged", f"{LABELS[estimator]}: the test ELBO became {test}"
            return curve
    return curve


def compare_training(x_train: torch.Tensor, x_test: torch.Tensor, cfg: CompareConfig,
                     model_cfg: ModelConfig | None = None,
                     on_progress: Callable[[float, str], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> list[Curve]:
    """One curve per estimator, every run from the same seeded initial weights and batch order."""
    cfg.validate()
    model_cfg = model_cfg or ModelConfig(image_size=x_train.shape[-1], in_channels=x_train.shape[1])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        init_state = build_model(model_cfg).state_dict()
    steps = math.ceil(len(x_train) / cfg.batch_size) * cfg.epochs
    total = steps * len(cfg.estimators)
    done = 0
    curves = []
    for est in cfg.estimators:
        def tick(est=est):
            nonlocal done
            done += 1
            if on_progress is not None and (done % 5 == 0 or done == total):
                on_progress(done / total, f"training with the {LABELS[est]} estimator")
        if on_progress is not None:
            on_progress(done / total, f"training with the {LABELS[est]} estimator")
        curves.append(train_with_estimator(est, init_state, model_cfg, x_train, x_test, cfg, tick, should_stop))
        if curves[-1].state == "stopped":
            break
    return curves


def curve_rows(curves: list[Curve]) -> list[dict]:
    """Tidy rows for one chart: estimator, epoch, test ELBO."""
    return [{"estimator": LABELS[c.estimator], "epoch": p["epoch"], "test_elbo": p["test_elbo"]}
            for c in curves for p in c.points]


class ComparisonJob:
    """``compare_training`` on a daemon thread. Poll ``progress``, ``message``, ``done``; read ``curves``
    or ``error`` once done. Reading these from another thread is safe: each is replaced, never mutated."""

    def __init__(self, x_train: torch.Tensor, x_test: torch.Tensor, cfg: CompareConfig,
                 model_cfg: ModelConfig | None = None):
        cfg.validate()
        self.cfg = cfg
        self.progress = 0.0
        self.message = "starting"
        self.curves: list[Curve] | None = None
        self.error: str | None = None
        self.started = time.time()
        self._stop = threading.Event()
        self._args = (x_train, x_test, cfg, model_cfg)
        self._thread = threading.Thread(target=self._run, name="estimator-comparison", daemon=True)

    def start(self) -> "ComparisonJob":
        self._thread.start()
        return self

    def _progress(self, frac: float, msg: str) -> None:
        self.progress, self.message = frac, msg

    def _run(self) -> None:
        try:
            self.curves = compare_training(*self._args, on_progress=self._progress, should_stop=self._stop.is_set)
            self.progress, self.message = 1.0, "done"
        except Exception as e:  # reported to the UI; a failed job must not take the server down
            self.error = f"{type(e).__name__}: {e}"

    @property
    def done(self) -> bool:
        return self.curves is not None or self.error is not None

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return self.done
