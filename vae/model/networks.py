"""VAE networks: an MLP and a strided-conv model, with the canonical vocabulary.

``encode(x)`` returns the posterior q(z|x) as an object (``vae.model.distributions``),
``prior`` is p(z), ``decode(z)`` the parameter of p(x|z) and ``log_px(x, z)`` its density.
The decoder returns the parameter of p(x|z): Bernoulli logits, or the Gaussian
mean (through a sigmoid, so it lies in [0, 1] like the data).

A Gaussian p(x|z) has one shared observation σ. A fixed σ is the buffer
``obs_logvar`` (log σ²). A learned σ is parameterized as
σ = OBS_STD_MIN + softplus(obs_sigma_raw), so it can never fall below the
config's lower bound of 0.001 however sharp the data; ``model.obs_logvar`` is
then the log σ² actually used, and the saved state dict still stores it under
the key ``obs_logvar`` (converted on save and load), so runs stay loadable.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vae.config import ModelConfig
from vae.model.distributions import DiagonalGaussian
from vae.model.objectives import log_likelihood
from vae.model.family import encode_posterior, head_names, posterior_heads, prior_for
from vae.model.priors import build_prior_params, prior_of

OBS_STD_MIN = 1e-3  # the floor of a learned Gaussian σ: the config's lower bound for obs_std
OBS_KEY, OBS_RAW = "obs_logvar", "obs_sigma_raw"  # state-dict key (log σ²) and the learned parameter


def obs_logvar_from_raw(raw: torch.Tensor) -> torch.Tensor:
    """log σ² for σ = OBS_STD_MIN + softplus(raw): always ≥ 2 log OBS_STD_MIN, differentiable."""
    return 2.0 * torch.log(OBS_STD_MIN + F.softplus(raw))


def obs_raw_from_logvar(logvar: torch.Tensor) -> torch.Tensor:
    """The inverse, in float64: the raw parameter whose σ is exp(½ logvar). A σ at or below the
    floor (only possible in a run saved before the floor existed) maps to the floor."""
    y = (0.5 * logvar.detach().double()).exp() - OBS_STD_MIN  # softplus(raw) = y > 0
    y = y.clamp(min=1e-12)
    # softplus⁻¹(y) = log(expm1(y)) = y + log(−expm1(−y)), the second form stable for large y
    return torch.where(y > 20, y + torch.log(-torch.expm1(-y)), torch.log(torch.expm1(y)))


@dataclass
class VAEOutput:
    x_param: torch.Tensor  # (B, C, H, W) Bernoulli logits or Gaussian means
    posterior: DiagonalGaussian  # q(z|x) for the batch (a vae.model.posteriors object for other families)
    z: torch.Tensor  # (B, D) one reparameterized sample


class VAE(nn.Module):
    """Base class: subclasses build ``encoder`` (x -> features), ``fc_mu``,
    ``fc_logvar`` and ``decoder`` (z -> (B, C, H, W) raw output)."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config.validate()
        if config.likelihood == "gaussian":
            init = torch.tensor(2 * math.log(config.obs_std))
            if config.obs_var == "learned":
                self.obs_sigma_raw = nn.Parameter(obs_raw_from_logvar(init).float())
                self.register_state_dict_post_hook(_save_obs_logvar)
                self.register_load_state_dict_pre_hook(_load_obs_logvar)
            else:
                self.register_buffer(OBS_KEY, init)
        if config.posterior == "categorical":  # the Gumbel-softmax τ in use; the trainer anneals it per epoch
            self.register_buffer("temperature", torch.tensor(1.0))
            self.straight_through = False
        params = build_prior_params(config.prior, config.prior_components, config.latent_dim,
                                    (config.in_channels, config.image_size, config.image_size))
        if params is not None:  # a learned prior's parameters (vae.model.priors); N(0, I) has none
            self.prior_params = params

    def _build_heads(self, width: int) -> None:
        """The encoder's output layers for the config's posterior (``vae.model.family.posterior_heads``)."""
        for name, module in posterior_heads(self.config, width).items():
            setattr(self, name, module)

    def __getattr__(self, name: str):
        # A learned σ: ``model.obs_logvar`` is the log σ² in use, computed from the raw parameter.
        if name == OBS_KEY and OBS_RAW in self.__dict__.get("_parameters", {}):
            return obs_logvar_from_raw(self._parameters[OBS_RAW])
        return super().__getattr__(name)

    @property
    def obs_std(self) -> float | None:
        """The Gaussian observation σ in use (None for a Bernoulli likelihood)."""
        lv = getattr(self, OBS_KEY, None)
        return None if lv is None else float((0.5 * lv.detach().double()).exp())

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c = self.config
        return (c.in_channels, c.image_size, c.image_size)

    def encode(self, x: torch.Tensor) -> DiagonalGaussian:
        """x: (B, C, H, W) in [0, 1] -> q(z|x): a diagonal Gaussian with mean and log σ² (B, D), or the
        config's flow, categorical or Dirichlet posterior (``vae.model.posteriors``)."""
        return encode_posterior(self, self.encoder(x))

    @property
    def prior(self):
        """p(z): N(0, I), or the run's learned mixture / VampPrior (``vae.model.priors``); uniform categoricals or
        a symmetric Dirichlet for those posteriors (``vae.model.family.prior_for``)."""
        return prior_for(self.config) or prior_of(self)

    def log_px(self, x: torch.Tensor, z: torch.Tensor, decoder: nn.Module | None = None) -> torch.Tensor:
        """log p(x|z) summed over pixels. x: (B, C, H, W); z: (..., B, D) -> (..., B).
        ``decoder``: an equivalent of ``self.decoder`` to compute with (``inference_decoder``)."""
        return log_likelihood(x, self.decode(z, decoder), self.config.likelihood, getattr(self, OBS_KEY, None))

    def decode(self, z: torch.Tensor, decoder: nn.Module | None = None) -> torch.Tensor:
        """z: (..., D) -> (..., C, H, W): Bernoulli logits, or Gaussian means in [0, 1]."""
        lead = z.shape[:-1]
        out = (self.decoder if decoder is None else decoder)(z.reshape(-1, z.shape[-1])).reshape(*lead, *self.image_shape)
        return torch.sigmoid(out) if self.config.likelihood == "gaussian" else out

    def inference_decoder(self) -> nn.Module:
        """The decoder as it stands, for heavy work with frozen weights (importance sampling, per-point
        optimization): the same function, with a conv model's few-channel transposed convolutions
        rewritten as convolutions (``ConvTransposeAsConv``) and its feature maps laid out channels-last,
        which oneDNN runs about 2.5× as fast on CPU (bench/gaps.py). It holds copies of the rewritten
        weights: build it again after they change. Gradients flow to z only."""
        layers: list[nn.Module] = []
        for m in self.decoder:
            if isinstance(m, nn.ConvTranspose2d) and not any(isinstance(l, ChannelsLast) for l in layers):
                layers.append(ChannelsLast())
            layers.append(ConvTransposeAsConv(m) if isinstance(m, nn.ConvTranspose2d) and m.out_channels <= 4 else m)
        return nn.Sequential(*layers)

    def mean_image(self, z: torch.Tensor) -> torch.Tensor:
        """z: (..., D) -> E[x|z]: (..., C, H, W) in [0, 1], for display."""
        out = self.decode(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out

    def forward(self, x: torch.Tensor) -> VAEOutput:
        q = self.encode(x)
        z = q.rsample()
        return VAEOutput(self.decode(z), q, z)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The variational parameters φ (used by the gradient-estimator lab)."""
        heads = head_names(self.config)
        return [*self.encoder.parameters(), *(p for name in heads for p in getattr(self, name).parameters())]


def _save_obs_logvar(module: VAE, state: dict, prefix: str, local_metadata) -> None:
    """state_dict hook: store a learned σ as log σ² under ``obs_logvar``, as every run has."""
    raw = state.pop(prefix + OBS_RAW, None)
    if raw is not None:
        with torch.no_grad():
            state[prefix + OBS_KEY] = obs_logvar_from_raw(raw.detach()).to(raw.dtype)


def _load_obs_logvar(module: VAE, state: dict, prefix: str, local_metadata, strict, missing, unexpected,
                     errors) -> None:
    """load_state_dict pre-hook: a stored log σ² becomes the raw parameter giving the same σ."""
    lv = state.pop(prefix + OBS_KEY, None)
    if lv is not None:
        state[prefix + OBS_RAW] = obs_raw_from_logvar(torch.as_tensor(lv)).to(torch.float32)


class MLPVAE(VAE):
    """Fully connected VAE. With hidden=[400], latent_dim=20 on 28×28 it is the
    pytorch/examples MNIST VAE (784-400-20, separate μ and log σ² heads)."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        n_in = config.in_channels * config.image_size ** 2
        widths = [n_in, *config.hidden]
        enc: list[nn.Module] = [nn.Flatten()]
        for a, b in zip(widths[:-1], widths[1:]):
            enc += [nn.Linear(a, b), nn.ReLU()]
        self.encoder = nn.Sequential(*enc)
        self._build_heads(widths[-1])
        dec_widths = [config.decoder_dim, *reversed(config.hidden)]
        dec: list[nn.Module] = []
        for a, b in zip(dec_widths[:-1], dec_widths[1:]):
            dec += [nn.Linear(a, b), nn.ReLU()]
        dec.append(nn.Linear(dec_widths[-1], n_in))
        self.decoder = nn.Sequential(*dec)


class ChannelsLast(nn.Module):
    """Feature maps from here on in channels-last memory order (the same values)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)


class ConvTransposeAsConv(nn.Module):
    """A ConvTranspose2d(kernel 4, stride 2, padding 1) computed as a 3×3 Conv2d into 4·C_out channels, one
    group per output-pixel parity (a, b), then a pixel shuffle: output pixel 2m + a takes input rows
    m − 1, m (a = 0: kernel rows 3, 1) or m, m + 1 (a = 1: kernel rows 2, 0), and the same for columns.
    The same numbers within float rounding; on a one-channel output layer oneDNN's Conv2d is about
    twice as fast as its ConvTranspose2d on CPU (bench/gaps.py). Weights are copied into buffers."""

    TAPS = {0: {-1: 3, 0: 1}, 1: {0: 2, 1: 0}}  # parity -> {input offset: kernel index}

    def __init__(self, ct: nn.ConvTranspose2d):
        super().__init__()
        if (ct.kernel_size, ct.stride, ct.padding, ct.output_padding, ct.dilation, ct.groups) != \
                ((4, 4), (2, 2), (1, 1), (0, 0), (1, 1), 1):
            raise ValueError(f"only kernel 4, stride 2, padding 1 transposed convolutions: {ct}")
        w = ct.weight.detach()  # (C_in, C_out, 4, 4)
        c_in, c_out = w.shape[:2]
        weight = w.new_zeros(c_out, 2, 2, c_in, 3, 3)
        for a, rows in self.TAPS.items():
            for b, cols in self.TAPS.items():
                for dy, ky in rows.items():
                    for dx, kx in cols.items():
                        weight[:, a, b, :, dy + 1, dx + 1] = w[:, :, ky, kx].T
        self.register_buffer("weight", weight.reshape(4 * c_out, c_in, 3, 3).contiguous())
        bias = ct.bias.detach() if ct.bias is not None else w.new_zeros(c_out)
        self.register_buffer("bias", bias.repeat_interleave(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(F.conv2d(x, self.weight, self.bias, padding=1), 2)


# Stride-2 conv layers and their channels for each supported input size:
# 28 -> 14 -> 7, 32 -> 16 -> 8 -> 4, 64 -> 32 -> 16 -> 8 -> 4.
_CONV_PLAN = {28: [32, 64], 32: [32, 64, 64], 64: [32, 32, 64, 64]}


class ConvVAE(VAE):
    """Convolutional VAE for 28×28, 32×32 and 64×64 images; hidden[0] is the dense width."""

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        chans = _CONV_PLAN[config.image_size]
        side = config.image_size >> len(chans)
        dense = config.hidden[0]
        enc: list[nn.Module] = []
        c_prev = config.in_channels
        for c in chans:
            enc += [nn.Conv2d(c_prev, c, 4, stride=2, padding=1), nn.ReLU()]
            c_prev = c
        enc += [nn.Flatten(), nn.Linear(c_prev * side * side, dense), nn.ReLU()]
        self.encoder = nn.Sequential(*enc)
        self._build_heads(dense)
        dec: list[nn.Module] = [
            nn.Linear(config.decoder_dim, dense), nn.ReLU(),
            nn.Linear(dense, c_prev * side * side), nn.ReLU(),
            nn.Unflatten(1, (c_prev, side, side)),
        ]
        rev = list(reversed(chans))
        for i, c in enumerate(rev):
            c_out = rev[i + 1] if i + 1 < len(rev) else config.in_channels
            dec.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1))
            if i + 1 < len(rev):
                dec.append(nn.ReLU())
        self.decoder = nn.Sequential(*dec)


def build_model(config: ModelConfig) -> VAE:
    config.validate()
    return {"mlp": MLPVAE, "conv": ConvVAE}[config.arch](config)
