"""Typed configuration for models, training and data, serialisable to JSON.

A run folder's ``config.json`` is ``RunConfig.to_dict()``; loading rebuilds the
model from it, so every field needed to reconstruct the network lives here. Every field is
also a flag of ``python -m vae.train`` (``RUN_FLAGS``, derived by ``vae.flags``), so
``RunConfig.to_argv`` / ``from_argv`` are the one path from a form to a command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from vae.flags import FlagTable

FORMAT = "vae-latent-explorer/1"

# Bounds that keep a config (typed by a user, or read from an uploaded file)
# from asking for an absurd model. They are generous for real use.
MAX_LATENT_DIM = 512
MAX_HIDDEN = 8192
MAX_LAYERS = 8
MAX_CHANNELS = 3
CONV_SIZES = (28, 32, 64)
MAX_MLP_PIXELS = 64 * 64 * 3
DATASET_NAMES = ("digits", "mnist10k", "shapes", "mnist", "fashion-mnist", "folder")
MAX_IMAGE_SIZE = 64


# ELBO-gradient estimators for φ (see vae.model.objectives.reconstruction_surrogate) and the score
# function's control variates.
ESTIMATORS = ("reparam", "score", "score_baseline")
BASELINES = ("posterior_mean", "leave_one_out")
AMP_MODES = ("off", "bf16", "fp16")
# q(z|x): a diagonal Gaussian, a Gaussian pushed through planar or inverse autoregressive flow
# steps, N independent categoricals of K classes (Gumbel-softmax), or a Dirichlet on the simplex.
POSTERIORS = ("gaussian", "planar", "iaf", "categorical", "dirichlet")
FLOW_POSTERIORS = ("planar", "iaf")
MAX_FLOW_STEPS = 64
MAX_CATEGORIES = 256
PRIORS = ("standard", "mog", "vamp")  # p(z): see vae.model.priors
MAX_PRIOR_COMPONENTS = 1000


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type, or out of range."""


@dataclass
class ModelConfig:
    arch: Literal["mlp", "conv"] = "mlp"  # fully connected, or strided convolutions
    in_channels: int = 1  # 1 (grayscale) or 3 (RGB)
    image_size: int = 8  # square images: H == W
    latent_dim: int = 10  # D, the size of z
    hidden: list[int] = field(default_factory=lambda: [256])  # mlp: layer widths; conv: width of the dense layer
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # p(x|z)
    obs_var: Literal["learned", "fixed"] = "learned"  # gaussian only: learn one shared log σ² or keep it fixed
    obs_std: float = 0.1  # gaussian only: the fixed σ, or the learned σ's starting value
    posterior: Literal["gaussian", "planar", "iaf", "categorical", "dirichlet"] = "gaussian"  # the family of q(z|x)
    flow_steps: int = 4  # planar / iaf: number of flow steps K applied to the Gaussian sample
    categories: int = 10  # categorical: classes K of each of the latent_dim categorical variables
    prior_concentration: float = 1.0  # dirichlet: concentration α₀ of the symmetric Dirichlet prior
    prior: Literal["standard", "mog", "vamp"] = "standard"  # p(z): N(0, I), a learned mixture of Gaussians, or the VampPrior
    prior_components: int = 10  # K: the mixture's components, or the VampPrior's pseudo-inputs

    def validate(self) -> "ModelConfig":
        _check(self.arch in ("mlp", "conv"), f"unknown architecture {self.arch!r}; expected 'mlp' or 'conv'")
        _check(self.likelihood in ("bernoulli", "gaussian"),
               f"unknown likelihood {self.likelihood!r}; expected 'bernoulli' or 'gaussian'")
        _check(self.obs_var in ("learned", "fixed"), f"obs_var must be 'learned' or 'fixed', not {self.obs_var!r}")
        _check_int(self.in_channels, "in_channels", 1, MAX_CHANNELS)
        _check(self.in_channels in (1, 3), f"in_channels must be 1 or 3, not {self.in_channels}")
        _check_int(self.image_size, "image_size", 2, MAX_IMAGE_SIZE)
        _check_int(self.latent_dim, "latent_dim", 1, MAX_LATENT_DIM)
        _check(isinstance(self.hidden, (list, tuple)) and 1 <= len(self.hidden) <= MAX_LAYERS,
               f"hidden must be a list of 1 to {MAX_LAYERS} layer widths, not {self.hidden!r}")
        for h in self.hidden:
            _check_int(h, "hidden width", 1, MAX_HIDDEN)
        if self.arch == "conv":
            _check(self.image_size in CONV_SIZES,
                   f"the conv architecture supports image sizes {CONV_SIZES}, not {self.image_size}; use --arch mlp")
        else:
            _check(self.image_size ** 2 * self.in_channels <= MAX_MLP_PIXELS,
                   f"images of {self.in_channels}×{self.image_size}×{self.image_size} are too large for the mlp")
        _check(isinstance(self.obs_std, (int, float)) and 1e-3 <= self.obs_std <= 10,
               f"obs_std must be between 0.001 and 10, not {self.obs_std!r}")
        _check(self.posterior in POSTERIORS, f"unknown posterior {str(self.posterior)[:40]!r}; "
               f"expected one of {', '.join(POSTERIORS)}")
        _check_int(self.flow_steps, "flow_steps", 0, MAX_FLOW_STEPS)
        _check_int(self.categories, "categories", 2, MAX_CATEGORIES)
        if self.posterior == "categorical":
            _check(self.latent_dim * self.categories <= 4 * MAX_LATENT_DIM,
                   f"latent_dim × categories must be at most {4 * MAX_LATENT_DIM}, "
                   f"not {self.latent_dim} × {self.categories}")
        if self.posterior == "dirichlet":
            _check(self.latent_dim >= 2, "a Dirichlet posterior needs latent_dim ≥ 2 (the simplex's corners)")
        _check(_is_num(self.prior_concentration) and 1e-3 <= self.prior_concentration <= 1e3,
               f"prior_concentration must be between 0.001 and 1000, not {self.prior_concentration!r}")
        _check(self.prior in PRIORS, f"prior must be one of {', '.join(PRIORS)}, not {str(self.prior)[:40]!r}")
        _check_int(self.prior_components, "prior_components", 1, MAX_PRIOR_COMPONENTS)
        self.hidden = [int(h) for h in self.hidden]
        return self

    @property
    def decoder_dim(self) -> int:
        """The width of the decoder's input: latent_dim, or latent_dim × categories (one-hot blocks)."""
        return self.latent_dim * self.categories if self.posterior == "categorical" else self.latent_dim


@dataclass
class TrainConfig:
    epochs: int = 50  # passes over the training split
    batch_size: int = 64  # images per gradient step
    lr: float = 2e-3  # Adam learning rate
    beta: float = 1.0  # weight on the KL term (β-VAE; 1 is the ELBO)
    kl_warmup: float = 0.0  # epochs over which the KL weight rises linearly from 0 to β
    free_bits: float = 0.0  # nats per latent dimension below which the KL is not penalised
    mc_samples: int = 1  # L, Monte-Carlo samples of z per image in the training objective
    seed: int = 0  # seeds weights, batching and sampling
    device: Literal["auto", "cpu", "cuda"] = "auto"  # where to train; auto: cuda when available
    estimator: Literal["reparam", "score", "score_baseline"] = "reparam"  # gradient of the reconstruction term for φ
    baseline: Literal["posterior_mean", "leave_one_out"] = "posterior_mean"  # score_baseline's control variate
    amp: Literal["off", "bf16", "fp16"] = "off"  # mixed precision for the networks; losses and the ELBO stay float32
    compile: bool = False  # compile the training step with torch.compile
    cuda_graph: bool = False  # capture the whole training step as a CUDA graph (CUDA only)
    temperature: float = 1.0  # categorical: Gumbel-softmax temperature τ at the first epoch
    temperature_min: float = 0.5  # categorical: the floor τ anneals down to (never above the start)
    temperature_anneal: float = 0.0  # categorical: τ = max(τ_min, τ·exp(−rate·(epoch−1))); 0 keeps τ fixed
    straight_through: bool = False  # categorical: hard one-hot samples forward, the relaxed gradient backward
    sync_every: int = 0  # steps between the divergence/stop checks that wait for the device; 0: 1 on one CPU, else 50
    # How the run was trained: recorded by the trainer (a value given on the command line is replaced).
    world_size: int = 1  # processes that trained the run (torchrun)
    backend: Literal["none", "gloo", "nccl"] = "none"  # torch.distributed backend of a torchrun run
    device_kind: Literal["unknown", "cpu", "cuda"] = "unknown"  # where it trained (unknown: an older run)
    snapshot_every: int = 0  # keep the weights of every N-th epoch in snapshots/ (maps across epochs); 0: none
    sweep: str = ""  # the sweep this run belongs to (runs queued together with one setting varied); "" for none

    def validate(self) -> "TrainConfig":
        _check_int(self.epochs, "epochs", 1, 100_000)
        _check_int(self.batch_size, "batch_size", 1, 1_000_000)
        _check_int(self.mc_samples, "mc_samples", 1, 1024)
        _check_int(self.seed, "seed", 0, 2**63 - 1)
        _check(_is_num(self.lr) and 0 < self.lr <= 100, f"lr must be in (0, 100], not {self.lr!r}")
        _check(_is_num(self.beta) and 0 <= self.beta <= 1000, f"beta must be in [0, 1000], not {self.beta!r}")
        _check(_is_num(self.kl_warmup) and self.kl_warmup >= 0, f"kl_warmup must be ≥ 0, not {self.kl_warmup!r}")
        _check(_is_num(self.free_bits) and self.free_bits >= 0, f"free_bits must be ≥ 0, not {self.free_bits!r}")
        _check(self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda, not {self.device!r}")
        _check(self.estimator in ESTIMATORS, f"estimator must be one of {', '.join(ESTIMATORS)}, not {self.estimator!r}")
        _check(self.baseline in BASELINES, f"baseline must be one of {', '.join(BASELINES)}, not {self.baseline!r}")
        _check(not (self.estimator == "score_baseline" and self.baseline == "leave_one_out" and self.mc_samples < 2),
               "the leave-one-out baseline needs mc_samples ≥ 2")
        _check(self.amp in AMP_MODES, f"amp must be one of {', '.join(AMP_MODES)}, not {self.amp!r}")
        _check(isinstance(self.compile, bool), f"compile must be true or false, not {self.compile!r}")
        _check(isinstance(self.cuda_graph, bool), f"cuda_graph must be true or false, not {self.cuda_graph!r}")
        _check(not (self.cuda_graph and self.compile),
               "--cuda-graph and --compile cannot be combined; choose one")
        _check(not (self.cuda_graph and self.amp == "fp16"),
               "--cuda-graph cannot use --amp fp16 (its loss scaler cannot be captured); use --amp bf16")
        _check_int(self.sync_every, "sync_every", 0, 1_000_000)
        _check(_is_num(self.temperature) and 0.01 <= self.temperature <= 100,
               f"temperature must be between 0.01 and 100, not {self.temperature!r}")
        _check(_is_num(self.temperature_min) and 0.01 <= self.temperature_min <= 100,
               f"temperature_min must be between 0.01 and 100, not {self.temperature_min!r}")
        _check(_is_num(self.temperature_anneal) and 0 <= self.temperature_anneal <= 10,
               f"temperature_anneal must be between 0 and 10, not {self.temperature_anneal!r}")
        _check(isinstance(self.straight_through, bool),
               f"straight_through must be true or false, not {self.straight_through!r}")
        _check_int(self.snapshot_every, "snapshot_every", 0, 100_000)
        _check_int(self.world_size, "world_size", 1, 1_000_000)
        _check(self.backend in ("none", "gloo", "nccl"), f"backend must be none, gloo or nccl, not {self.backend!r}")
        _check(self.device_kind in ("unknown", "cpu", "cuda"),
               f"device_kind must be unknown, cpu or cuda, not {self.device_kind!r}")
        _check(isinstance(self.sweep, str) and re.fullmatch(r"[A-Za-z0-9._-]{0,64}", self.sweep) is not None,
               "sweep must be a name of at most 64 letters, digits, '.', '_' or '-'")
        return self


@dataclass
class DataConfig:
    name: str = "digits"  # digits | mnist10k | shapes | mnist | fashion-mnist | folder
    data_dir: str | None = None  # where IDX files or a user's image folder live
    image_size: int | None = None  # resize (folder) or render size (shapes); None: the dataset's own
    channels: int | None = None  # folder only: 1 or 3
    max_items: int | None = None  # cap on images per split (shapes: total generated)

    def validate(self) -> "DataConfig":
        """Types and ranges only; ``vae.runs.validate.check_data_config`` adds the data roots,
        the match with the model and the server's limits."""
        _check(isinstance(self.name, str) and self.name in DATASET_NAMES,
               f"unknown dataset {str(self.name)[:40]!r}; valid names are: {', '.join(DATASET_NAMES)}")
        _check(self.data_dir is None or (isinstance(self.data_dir, str) and 0 < len(self.data_dir) <= 4096),
               "data_dir must be a path or null")
        if self.image_size is not None:
            _check_int(self.image_size, "data.image_size", 2, MAX_IMAGE_SIZE)
        _check(self.channels in (None, 1, 3) and not isinstance(self.channels, bool),
               "data.channels must be 1, 3 or null")
        if self.max_items is not None:
            _check_int(self.max_items, "data.max_items", 1, 10**9)
        return self


@dataclass
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    format: str = FORMAT

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> "RunConfig":
        """Rebuild from JSON, rejecting unknown formats, missing sections and bad values."""
        _check(isinstance(d, dict), "config must be a JSON object")
        fmt = d.get("format")
        _check(fmt == FORMAT, f"unknown config format {fmt!r}; expected {FORMAT!r}")
        _check(isinstance(d.get("model"), dict), "config has no 'model' section")
        model = _build(ModelConfig, d["model"]).validate()
        _check(isinstance(d.get("train") or {}, dict), "config's 'train' section must be an object")
        train = _build(TrainConfig, d.get("train") or {}).validate()
        _check(isinstance(d.get("data") or {}, dict), "config's 'data' section must be an object")
        data = _build(DataConfig, d.get("data") or {}).validate()
        check_posterior_training(model, train)
        _check_prior_training(model, train)
        return cls(model=model, train=train, data=data)

    def to_argv(self) -> list[str]:
        """The ``python -m vae.train`` arguments that rebuild this config (``from_argv`` inverts it)."""
        return config_to_argv(self)

    @classmethod
    def from_argv(cls, argv: list[str]) -> "RunConfig":
        """The config a ``python -m vae.train`` command line describes (unvalidated; call ``validate``)."""
        ns, rest = build_run_parser(argparse.ArgumentParser(add_help=False)).parse_known_args(argv)
        if rest:
            raise ConfigError(f"unknown arguments: {' '.join(rest)}")
        return config_from_namespace(ns)

    def validate(self) -> "RunConfig":
        self.model.validate()
        self.train.validate()
        check_posterior_training(self.model, self.train)
        _check_prior_training(self.model, self.train)
        return self


def temperature_at(train: TrainConfig, epoch: int) -> float:
    """The Gumbel-softmax temperature of an epoch (1-based): τ₀·exp(−rate·(epoch − 1)), floored at τ_min
    (the exponential schedule of Jang et al. 2017); a floor above the start keeps τ at the start."""
    tau = train.temperature * math.exp(-train.temperature_anneal * max(0, epoch - 1))
    return max(min(train.temperature_min, train.temperature), tau)


def check_posterior_training(model: ModelConfig, train: TrainConfig) -> None:
    """The settings that only some posteriors support."""
    if model.posterior != "gaussian":
        _check(train.estimator == "reparam",
               f"the {train.estimator} estimator is for Gaussian posteriors; a {model.posterior} posterior "
               "trains with its own reparameterization (--estimator reparam)")
    if model.posterior not in ("gaussian", "categorical"):
        _check(train.free_bits == 0,
               f"free bits need a per-dimension KL, which a {model.posterior} posterior does not have")
    if model.posterior == "categorical":
        _check(not train.cuda_graph, "--cuda-graph cannot follow a changing Gumbel-softmax temperature; "
               "leave it out for categorical posteriors")
    if model.posterior in ("planar", "iaf"):
        _check(model.prior != "vamp", "the VampPrior is a mixture of Gaussian posteriors; use --prior standard or "
               "mog with a flow posterior")
    if model.posterior in ("categorical", "dirichlet"):
        _check(model.prior == "standard", f"a {model.posterior} posterior has its own prior (uniform categoricals, "
               f"a symmetric Dirichlet); --prior {model.prior} is for Gaussian and flow posteriors")
    if model.posterior == "dirichlet":
        _check(not train.cuda_graph, "--cuda-graph is not supported for Dirichlet posteriors (their Gamma "
               "sampler is not checked under graph capture); leave it out")


def _check_prior_training(model: ModelConfig, train: TrainConfig) -> None:
    """Free bits clamp each dimension's KL, which only N(0, I) splits into dimensions."""
    _check(not (model.prior != "standard" and train.free_bits > 0),
           f"free bits need a per-dimension KL, which the {model.prior} prior does not have; "
           "use --free-bits 0 or --prior standard")


def _build(klass, d: dict):
    names = {f.name for f in dataclasses.fields(klass)}
    unknown = sorted(set(d) - names)
    _check(not unknown, f"unknown {klass.__name__} fields: {', '.join(unknown)}")
    try:
        return klass(**d)
    except TypeError as e:  # pragma: no cover - guarded by the name check
        raise ConfigError(str(e)) from None


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ConfigError(msg)


def _check_int(v, name: str, lo: int, hi: int) -> None:
    _check(isinstance(v, int) and not isinstance(v, bool), f"{name} must be an integer, not {v!r}")
    _check(lo <= v <= hi, f"{name} must be between {lo} and {hi}, not {v if abs(v) < 10**12 else 'a huge number'}")


# ---------------------------------------------------------------- command-line flags
# Every field of the three sections is a flag of ``python -m vae.train``, derived from the
# dataclasses (name, type, default, and the field's own comment as help: ``vae.flags``), so an
# option is added by adding a field. Flags are --field-name, except the renames below; the
# model's input shape is normally derived from the dataset, so its two flags are hidden.
_FLAG_RENAMES = {("data", "name"): "dataset", ("model", "in_channels"): "model-channels",
                 ("model", "image_size"): "model-image-size"}
# The trainer records how a run was trained in these; they stay flags (a config round-trips
# through its command line) but are left out of the help.
_RECORDED = {("train", "world_size"), ("train", "backend"), ("train", "device_kind")}
_HIDDEN = {("model", "in_channels"), ("model", "image_size"), *_RECORDED}
# Model fields whose default is None on the command line: the trainer derives them.
_DERIVED = {("model", "in_channels"), ("model", "image_size")}
RUN_FLAGS = FlagTable(sections=(("model", ModelConfig), ("train", TrainConfig), ("data", DataConfig)),
                      renames=_FLAG_RENAMES, hidden=frozenset(_HIDDEN), always=frozenset(_DERIVED))


def build_run_parser(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add one flag per config field to ``p`` (defaults None: unset flags keep the field's default)."""
    return RUN_FLAGS.add_to(p)


def config_from_namespace(ns: argparse.Namespace) -> RunConfig:
    """A RunConfig from parsed flags; fields whose flag was not given keep their default.
    The model's in_channels / image_size stay at their defaults when not given (the
    trainer sets them from the dataset)."""
    return RunConfig(**RUN_FLAGS.read(ns))


def given_fields(ns: argparse.Namespace) -> set[tuple[str, str]]:
    """(section, field) pairs whose flag appeared on the command line."""
    return RUN_FLAGS.given(ns)


def config_to_argv(cfg: RunConfig) -> list[str]:
    """Flags for every field that differs from its default, and the model's derived input shape
    (values passed as --flag=value, so a value that starts with '-' is never taken for a flag)."""
    return RUN_FLAGS.to_argv(cfg)
