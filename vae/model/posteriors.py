"""The posteriors beyond the diagonal Gaussian, and the priors that go with them.

Each is an object with the interface of ``vae.model.distributions.DiagonalGaussian``:

- ``rsample(n, generator)``: the *training* sample, differentiable in the encoder's output
  (n, B, D_dec), D_dec being what the decoder reads;
- ``rsample_with_log_prob(n, generator)``: the training sample and what the ELBO's KL needs;
- ``sample_with_log_prob(n, generator)``: a draw of the *model's* q and log q(z|x) in float64
  (for the categorical: hard one-hot samples), as the IWAE bound uses;
- ``mean``; ``kl_to(prior, z=…, log_q=…)`` -> ``KL`` (closed form or Monte Carlo, it says which);
- ``params()`` / ``with_params(*tensors)`` to cache, slice and concatenate a split's posteriors.

``FlowPosterior``: a Gaussian pushed through planar or IAF steps (``vae.model.flows``); its KL is the
Monte-Carlo estimate log q(z|x) − log p(z) on the very samples the reconstruction term uses, and its
``mean`` is estimated from samples. ``CategoricalPosterior``: N independent categoricals of K
classes, trained through the Gumbel-softmax / Concrete relaxation (Jang et al. 2017; Maddison et al.
2017); its KL to the uniform prior is the closed form Σ_k q_k log(K q_k). ``DirichletPosterior``:
a point on the simplex, sampled by ``torch.distributions.Dirichlet.rsample``, whose gradient is the
implicit reparameterization one (Figurnov et al. 2018); closed-form KL to a symmetric Dirichlet.

Which of them a run's config names, and how the encoder builds it, is ``vae.model.family``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Dirichlet, RelaxedOneHotCategorical, kl_divergence

from vae.config import FLOW_POSTERIORS
from vae.model.distributions import KL, DiagonalGaussian, StandardNormal

FLOW_KINDS = FLOW_POSTERIORS  # the flow posteriors, named once in vae.config
MEAN_SAMPLES = 256  # draws behind a flow posterior's estimated mean
MEAN_SEED = 0  # the estimate's noise is fixed, so the same image always lands on the same point


def _seeded(generator: torch.Generator | None, device) -> int | None:
    """A seed drawn from ``generator`` (None: use the global stream)."""
    if generator is None:
        return None
    return int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device).item())


def _with_seed(seed: int | None, device, fn):
    """fn() with the global RNG forked and seeded (torch's Gamma/Dirichlet samplers take no generator);
    the caller's global stream is left as it was."""
    if seed is None:
        return fn()
    dev = torch.device(device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else [], device_type=dev.type):
        torch.manual_seed(seed)
        return fn()


# ---------------------------------------------------------------- flows
class FlowPosterior:
    """q(z|x): z = f_K ∘ … ∘ f_1(z₀), z₀ ~ N(μ, diag σ²). mu, logvar: (B, D); ctx: (B, C) the flow's
    per-image parameters; flow: the ``vae.model.flows`` module that applies them."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor, ctx: torch.Tensor, flow: nn.Module, kind: str):
        self.base = DiagonalGaussian(mu, logvar)
        self.ctx, self.flow, self.kind = ctx, flow, kind

    @property
    def steps(self) -> int:
        return int(self.flow.steps)

    @property
    def shape(self) -> torch.Size:
        return self.base.shape

    def params(self) -> tuple[torch.Tensor, ...]:
        return self.base.mu, self.base.logvar, self.ctx

    def with_params(self, mu, logvar, ctx) -> "FlowPosterior":
        return FlowPosterior(mu, logvar, ctx, self.flow, self.kind)

    def __getitem__(self, idx) -> "FlowPosterior":
        return self.with_params(*(p[idx] for p in self.params()))

    def detach(self) -> "FlowPosterior":
        return self.with_params(*(p.detach() for p in self.params()))

    def _push(self, z0: torch.Tensor):
        ctx = self.ctx.to(z0.dtype)
        return self.flow(z0, ctx) if self.steps else (z0, torch.zeros(z0.shape[:-1], dtype=z0.dtype,
                                                                       device=z0.device), torch.zeros_like(z0))

    def rsample_with_log_prob_per_dim(self, n: int, generator: torch.Generator | None = None):
        """(z_K (n, B, D), log q(z_K|x) (n, B) float64, its per-dimension split (n, B, D) or None).

        The split exists when the log-determinant is a sum over dimensions (IAF; a zero-step flow):
        log N(z₀_d; μ_d, σ_d²) − Σ_k log σ_{k,d}. A planar step mixes every dimension: None."""
        eps = torch.randn((n, *self.base.mu.shape), generator=generator, dtype=self.base.mu.dtype,
                          device=self.base.mu.device)
        z0 = self.base.mu + self.base.std * eps
        base_dim = -0.5 * (math.log(2 * math.pi) + self.base.logvar.double() + eps.double().pow(2))
        z, logdet, logdet_dim = self._push(z0)
        log_q = base_dim.sum(-1) - logdet.double()
        per_dim = None if logdet_dim is None else base_dim - logdet_dim.double()
        return z, log_q, per_dim

    def rsample_with_log_prob(self, n: int, generator: torch.Generator | None = None):
        """(z_K (n, B, D), log q(z_K|x) (n, B) in float64), log q exact through the flow's log|det J|."""
        z, log_q, _ = self.rsample_with_log_prob_per_dim(n, generator)
        return z, log_q

    sample_with_log_prob = rsample_with_log_prob

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        z, _ = self.rsample_with_log_prob(1 if n is None else n, generator)
        return z[0] if n is None else z

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"a {self.kind} flow's density is known at its own samples only "
                                  "(use rsample_with_log_prob)")

    @property
    def mean(self) -> torch.Tensor:
        """E_q[z] estimated from MEAN_SAMPLES draws (fixed seed): (B, D). Not the base Gaussian's μ."""
        return self.mean_estimate()[0]

    @torch.no_grad()
    def mean_estimate(self, n: int = MEAN_SAMPLES, seed: int = MEAN_SEED, chunk: int = 64
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean (B, D), its Monte-Carlo standard error (B, D)) from n draws of q."""
        gen = torch.Generator(device=self.base.mu.device).manual_seed(seed)
        s1 = torch.zeros_like(self.base.mu, dtype=torch.float64)
        s2 = torch.zeros_like(s1)
        for start in range(0, n, chunk):
            z = self.rsample(min(chunk, n - start), gen).double()
            s1 += z.sum(0)
            s2 += z.pow(2).sum(0)
        m = s1 / n
        var = (s2 / n - m.pow(2)).clamp(min=0) * n / max(n - 1, 1)
        return m.to(self.base.mu.dtype), (var / n).sqrt().to(self.base.mu.dtype)

    def kl_to(self, prior, z: torch.Tensor | None = None, log_q: torch.Tensor | None = None, n: int = 1,
              generator: torch.Generator | None = None) -> KL:
        """Monte Carlo: mean over draws of log q(z|x) − log p(z), on the given (z, log q) — the
        reconstruction term's own samples — or on n fresh ones. (B,), with its standard error when n > 1."""
        if z is None or log_q is None:
            z, log_q = self.rsample_with_log_prob(n, generator)
        terms = log_q.to(z.dtype) - prior.log_prob(z)  # (L, B)
        stderr = terms.std(0) / math.sqrt(terms.shape[0]) if terms.shape[0] > 1 else None
        return KL(terms.mean(0), None, exact=False, stderr=stderr)

    @torch.no_grad()
    def kl_per_dim_mc(self, prior: StandardNormal, n: int = 64, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Per-dimension terms of the Monte-Carlo KL, E_q[log q_d − log p(z_d)], their standard errors
        ((B, D), (B, D)) and the standard error of their sum, the KL ((B,)), float64. None for a planar
        flow (no split)."""
        z, _, per_dim = self.rsample_with_log_prob_per_dim(n, generator)
        if per_dim is None:
            return None
        terms = per_dim - prior.log_prob_per_dim(z.double())
        return terms.mean(0), terms.std(0) / math.sqrt(n), terms.sum(-1).std(0) / math.sqrt(n)


# ---------------------------------------------------------------- categorical
class UniformCategorical:
    """p(z): N independent uniform categoricals of K classes, z as concatenated one-hot blocks (N·K)."""

    kind = "uniform_categorical"

    def __init__(self, variables: int, categories: int):
        self.variables, self.categories = int(variables), int(categories)
        self.dim = self.variables * self.categories

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(..., N·K) -> (...): −N log K for every one-hot z."""
        return torch.full(z.shape[:-1], -self.variables * math.log(self.categories), dtype=z.dtype, device=z.device)

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32, device=None):
        idx = torch.randint(self.categories, (n, self.variables), generator=generator, device=device)
        return F.one_hot(idx, self.categories).to(dtype).flatten(-2)


class CategoricalPosterior:
    """q(z|x) = Π_n Cat(z_n; π_n): logits (B, N, K). Samples are concatenated one-hot blocks (B, N·K)."""

    kind = "categorical"

    def __init__(self, logits: torch.Tensor, temperature: float | torch.Tensor = 1.0, straight_through: bool = False):
        self.logits = logits - torch.logsumexp(logits, -1, keepdim=True)  # normalized: log π
        self.temperature, self.straight_through = temperature, straight_through

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self.logits.shape[0], self.logits.shape[1] * self.logits.shape[2]))

    @property
    def variables(self) -> int:
        return int(self.logits.shape[1])

    @property
    def categories(self) -> int:
        return int(self.logits.shape[2])

    @property
    def probs(self) -> torch.Tensor:
        """π: (B, N, K)."""
        return self.logits.exp()

    @property
    def mean(self) -> torch.Tensor:
        """E_q[z] = the class-probability vectors, concatenated: (B, N·K)."""
        return self.probs.flatten(-2)

    def params(self) -> tuple[torch.Tensor, ...]:
        return (self.logits,)

    def with_params(self, logits) -> "CategoricalPosterior":
        return CategoricalPosterior(logits, self.temperature, self.straight_through)

    def __getitem__(self, idx) -> "CategoricalPosterior":
        return self.with_params(self.logits[idx])

    def detach(self) -> "CategoricalPosterior":
        return self.with_params(self.logits.detach())

    def relaxed(self, temperature: float | None = None) -> RelaxedOneHotCategorical:
        """The Concrete distribution of each variable at temperature τ (batch (B, N), event K)."""
        tau = self.temperature if temperature is None else temperature
        return RelaxedOneHotCategorical(torch.as_tensor(tau, dtype=self.logits.dtype, device=self.logits.device),
                                        logits=self.logits)

    def _gumbel(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        u = torch.rand((n, *self.logits.shape), generator=generator, dtype=self.logits.dtype,
                       device=self.logits.device)
        tiny = torch.finfo(u.dtype).tiny
        e = (-torch.log(u.clamp(min=tiny))).clamp(min=tiny)  # an Exp(1) draw
        return -torch.log(e)

    def relaxed_and_hard(self, n: int, generator: torch.Generator | None = None, temperature=None
                         ) -> tuple[torch.Tensor, torch.Tensor]:
        """From one Gumbel draw g: the relaxed sample y = softmax((log π + g)/τ) (straight-through:
        the hard sample forward, y's gradient backward) and the hard one, one_hot(argmax(log π + g))
        (the Gumbel-max trick: an exact categorical draw). Both (n, B, N·K)."""
        tau = self.temperature if temperature is None else temperature
        score = self.logits + self._gumbel(n, generator)
        y = torch.softmax(score / tau, -1)
        hard = F.one_hot(score.argmax(-1), self.categories).to(y.dtype)
        if self.straight_through:
            y = hard + y - y.detach()
        return y.flatten(-2), hard.flatten(-2)

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None, temperature=None) -> torch.Tensor:
        """The relaxed (or straight-through) training sample: (B, N·K), or (n, B, N·K)."""
        y, _ = self.relaxed_and_hard(1 if n is None else n, generator, temperature)
        return y[0] if n is None else y

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z|x) of one-hot z: (..., B, N·K) -> (..., B)."""
        return (z.reshape(*z.shape[:-1], self.variables, self.categories) * self.logits).sum((-1, -2))

    def sample_with_log_prob(self, n: int, generator: torch.Generator | None = None):
        """Hard categorical draws and their log q (float64): ((n, B, N·K), (n, B)), the discrete model's."""
        _, hard = self.relaxed_and_hard(n, generator)
        return hard, self.log_prob(hard).double()

    def rsample_with_log_prob(self, n: int, generator: torch.Generator | None = None):
        """The relaxed training sample and the log q of its hard counterpart (the KL is closed form)."""
        y, hard = self.relaxed_and_hard(n, generator)
        return y, self.log_prob(hard).double()

    def kl_per_dim(self, prior=None) -> torch.Tensor:
        """KL(Cat(π_n) ‖ uniform) = Σ_k π_k log(K π_k) per variable, closed form: (B, N), each ≤ log K."""
        uniform = torch.zeros_like(self.logits)
        return kl_divergence(Categorical(logits=self.logits), Categorical(logits=uniform))

    def kl_to(self, prior, z=None, log_q=None, n: int = 1, generator=None) -> KL:
        if not isinstance(prior, UniformCategorical):
            raise TypeError(f"a categorical posterior has no KL to a {type(prior).__name__} prior here")
        per = self.kl_per_dim(prior)
        return KL(per.sum(-1), per, exact=True)


# ---------------------------------------------------------------- Dirichlet
class SymmetricDirichlet:
    """p(z) = Dir(α₀, …, α₀) on the (K−1)-simplex, z: (..., K)."""

    kind = "dirichlet"

    def __init__(self, dim: int, concentration: float = 1.0):
        self.dim, self.concentration = int(dim), float(concentration)

    def to_torch(self, like: torch.Tensor) -> Dirichlet:
        return Dirichlet(torch.full((self.dim,), self.concentration, dtype=like.dtype, device=like.device))

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_torch(z).log_prob(z)

    def sample(self, n: int, generator: torch.Generator | None = None, dtype=torch.float32, device=None):
        like = torch.empty(0, dtype=dtype, device=device)
        return _with_seed(_seeded(generator, like.device), like.device, lambda: self.to_torch(like).sample((n,)))


class DirichletPosterior:
    """q(z|x) = Dir(α(x)): alpha (B, K) > 0."""

    kind = "dirichlet"

    def __init__(self, alpha: torch.Tensor):
        self.alpha = alpha

    @property
    def shape(self) -> torch.Size:
        return self.alpha.shape

    def to_torch(self) -> Dirichlet:
        return Dirichlet(self.alpha)

    @property
    def mean(self) -> torch.Tensor:
        """α / Σα: (B, K)."""
        return self.alpha / self.alpha.sum(-1, keepdim=True)

    def params(self) -> tuple[torch.Tensor, ...]:
        return (self.alpha,)

    def with_params(self, alpha) -> "DirichletPosterior":
        return DirichletPosterior(alpha)

    def __getitem__(self, idx) -> "DirichletPosterior":
        return DirichletPosterior(self.alpha[idx])

    def detach(self) -> "DirichletPosterior":
        return DirichletPosterior(self.alpha.detach())

    def rsample(self, n: int | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Dirichlet.rsample (implicit reparameterization gradients): (B, K) or (n, B, K). A generator makes
        the draw reproducible (torch's sampler reads the global stream, so it is forked and seeded)."""
        shape = () if n is None else (n,)
        z = _with_seed(_seeded(generator, self.alpha.device), self.alpha.device, lambda: self.to_torch().rsample(shape))
        tiny = torch.finfo(z.dtype).tiny
        return z.clamp(min=tiny)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.to_torch().log_prob(z)

    def rsample_with_log_prob(self, n: int, generator: torch.Generator | None = None):
        z = self.rsample(n, generator)
        return z, Dirichlet(self.alpha.double()).log_prob(z.double())

    sample_with_log_prob = rsample_with_log_prob

    def kl_to(self, prior, z=None, log_q=None, n: int = 1, generator=None) -> KL:
        """Closed form (``kl_divergence``'s Dirichlet–Dirichlet entry): (B,)."""
        if not isinstance(prior, SymmetricDirichlet):
            raise TypeError(f"a Dirichlet posterior has no KL to a {type(prior).__name__} prior here")
        return KL(kl_divergence(self.to_torch(), prior.to_torch(self.alpha).expand(self.alpha.shape[:-1])),
                  None, exact=True)
