"""Training comparison: the same VAE, from the same initial weights and batches, trained with
each ELBO-gradient estimator for φ (see ``vae.model.objectives.reconstruction_surrogate``); the decoder θ
always gets its pathwise gradient.

Every run is an ordinary run of the one trainer with ``TrainConfig.estimator`` set: the app
queues them through the job manager (``comparison_runs`` -> ``JobManager.start_plan``) as
``python -m vae.train … --estimator=score`` commands and reads their curves back from the run
folders (``curves_from_runs``); ``compare_training`` runs the same configs in this process
(tests, benchmarks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from vae.runs.folder import read_history, read_status
from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.model.networks import build_model
from vae.model.objectives import ESTIMATORS, check_estimator
from vae.model.evaluation import evaluate_split
from vae.training.loop import fit


@dataclass(frozen=True)
class CompareConfig:
    epochs: int = 10  # passes over the training split, per estimator
    batch_size: int = 64  # images per gradient step
    lr: float = 2e-3  # Adam learning rate, shared by all estimators
    mc_samples: int = 1  # L, samples of z per image per step
    baseline: str = "posterior_mean"  # the control variate of score_baseline (see vae.model.objectives)
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
            check_estimator(est, self.mc_samples, self.baseline)
        return self

    def run_config(self, estimator: str, model: ModelConfig | None = None,
                   data: DataConfig | None = None) -> RunConfig:
        """The run that trains with ``estimator``: identical for every estimator but that field."""
        return RunConfig(model=model or ModelConfig(), data=data or DataConfig(),
                         train=TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                                           mc_samples=self.mc_samples, seed=self.seed, estimator=estimator,
                                           baseline=self.baseline))


def comparison_runs(cfg: CompareConfig, prefix: str = "estimators", model: ModelConfig | None = None,
                    data: DataConfig | None = None) -> list[tuple[str, RunConfig]]:
    """(run name, config) for each estimator, for ``JobManager.start_plan``."""
    cfg.validate()
    return [(f"{prefix}-{est.replace('_', '-')}", cfg.run_config(est, model, data)) for est in cfg.estimators]


@dataclass
class Curve:
    estimator: str
    points: list[dict] = field(default_factory=list)  # {"epoch", "test_elbo", "train_elbo", "seconds"}
    state: str = "finished"  # finished | stopped | diverged | running | ...
    message: str = ""


def curves_from_runs(runs: dict[str, Path], states: dict[str, str] | None = None) -> list[Curve]:
    """Curves read from the run folders of a comparison ({estimator: run folder}), in that order;
    each starts at epoch 0, the untrained model's test ELBO the trainer records in status.json."""
    curves = []
    for est, path in runs.items():
        start = read_status(Path(path)).get("initial_test_elbo")  # the untrained model, epoch 0
        pts = [{"epoch": 0, "test_elbo": start, "train_elbo": None, "seconds": 0.0}] \
            if isinstance(start, (int, float)) else []
        pts += [{"epoch": h["epoch"], "test_elbo": h.get("test_elbo"), "train_elbo": h.get("train_elbo"),
                 "seconds": h.get("seconds")} for h in read_history(Path(path)) if isinstance(h.get("epoch"), int)]
        curves.append(Curve(est, pts, (states or {}).get(est, "finished")))
    return curves


def compare_training(x_train: torch.Tensor, x_test: torch.Tensor, cfg: CompareConfig,
                     model_cfg: ModelConfig | None = None,
                     on_progress: Callable[[float, str], None] | None = None,
                     should_stop: Callable[[], bool] | None = None) -> list[Curve]:
    """One curve per estimator, in this process: each run is ``vae.training.loop.fit`` on the run config
    the app would queue, from the same seeded initial weights and batch order. Each curve starts
    with the untrained model's test ELBO (epoch 0)."""
    cfg.validate()
    model_cfg = model_cfg or ModelConfig(image_size=x_train.shape[-1], in_channels=x_train.shape[1])
    total = cfg.epochs * len(cfg.estimators)
    curves = []
    for i, est in enumerate(cfg.estimators):
        if on_progress is not None:
            on_progress(i * cfg.epochs / total, f"training with the {est} estimator")
        run = cfg.run_config(est, model_cfg)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)  # what vae.train does before building the model
            model = build_model(model_cfg)
            curve = Curve(est, [{"epoch": 0, "test_elbo": evaluate_split(model, x_test)["elbo"], "train_elbo": None,
                                 "seconds": 0.0}])

            def on_epoch(history, m, i=i):
                if on_progress is not None:
                    on_progress((i * cfg.epochs + len(history)) / total, f"training with the {est} estimator")

            result = fit(model, x_train, x_test, run.train, on_epoch=on_epoch, should_stop=should_stop)
        curve.points += [{"epoch": h["epoch"], "test_elbo": h["test_elbo"], "train_elbo": h["train_elbo"],
                          "seconds": h["seconds"]} for h in result.history]
        curve.state, curve.message = result.state, result.message
        curves.append(curve)
        if result.state == "stopped":
            break
    if on_progress is not None and curves and curves[-1].state != "stopped":
        on_progress(1.0, "done")
    return curves


def curve_rows(curves: list[Curve]) -> list[dict]:
    """Tidy rows for one chart: estimator, epoch, test ELBO (points with a value)."""
    return [{"estimator": c.estimator, "epoch": p["epoch"], "test_elbo": p["test_elbo"]}
            for c in curves for p in c.points if p.get("test_elbo") is not None and math.isfinite(p["test_elbo"])]
