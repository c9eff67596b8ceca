"""Normalizing flows that make q(z|x) more expressive than a diagonal Gaussian.

A flow takes a base draw z₀ ~ N(μ, diag σ²) through K invertible steps, z_K = f_K ∘ … ∘ f_1(z₀),
and log q(z_K|x) = log N(z₀; μ, σ²) − Σ_k log |det ∂f_k/∂z_{k−1}|, exactly. Both flows here are
amortized: their parameters come from the encoder's features h (one row per image), as a context
vector ``ctx`` (B, C) that ``FlowPosterior`` (``vae.model.posteriors``) carries beside μ and log σ².

- ``PlanarFlow`` (Rezende & Mohamed 2015, appendix A.1): f(z) = z + û tanh(wᵀz + b), with
  û = u + (m(wᵀu) − wᵀu) w/‖w‖², m(a) = −1 + softplus(a), so wᵀû > −1 and every step is
  invertible; log|det| = log |1 + ûᵀw tanh′(wᵀz + b)|. Per-image u, w, b as in van den Berg
  et al. 2018 (Sylvester flows, their planar baseline).
- ``IAF`` (Kingma et al. 2016): each step [m, s] = MADE(z, h); σ = sigmoid(s);
  z ← σ ⊙ z + (1 − σ) ⊙ m; log|det| = Σ_d log σ_d (a triangular Jacobian). The variable order is
  reversed between steps. The per-dimension log σ_d let the KL estimate be split by dimension.

Written here rather than taken from zuko or Pyro: both flows are a few lines, they need the
context vector from *our* encoder per image (planar's parameters amortized, which neither library's
planar transform offers), IAF needs the numerically stable gated update of the paper and its
per-dimension log-determinant for the collapse diagnostics, and importing Pyro costs seconds at
app start. The tests check every log|det J| against ``torch.autograd.functional.jacobian``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PlanarFlow(nn.Module):
    """K amortized planar steps on D dimensions; ctx (B, K·(2D + 1)) holds each step's u, w, b."""

    def __init__(self, dim: int, steps: int, width: int):
        super().__init__()
        self.dim, self.steps = dim, steps
        self.ctx_dim = steps * (2 * dim + 1)
        # features h -> (u, w, b) of every step; none for zero steps (exactly the Gaussian)
        self.head = nn.Linear(width, self.ctx_dim) if steps else None
        if self.head is not None:
            with torch.no_grad():  # start near the identity: small u
                self.head.weight.mul_(0.1)
                self.head.bias.zero_()

    def context(self, h: torch.Tensor) -> torch.Tensor:
        """h: (B, width) -> ctx (B, K·(2D + 1))."""
        return self.head(h) if self.head is not None else h.new_zeros(h.shape[0], 0)

    def unpack(self, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ctx (B, C) -> (û, w: (B, K, D), b: (B, K)), û satisfying the invertibility constraint wᵀû > −1."""
        k, d = self.steps, self.dim
        u = ctx[:, :k * d].reshape(-1, k, d)
        w = ctx[:, k * d:2 * k * d].reshape(-1, k, d)
        b = ctx[:, 2 * k * d:]
        wu = (w * u).sum(-1, keepdim=True)
        m = -1.0 + F.softplus(wu)
        u_hat = u + (m - wu) * w / (w.pow(2).sum(-1, keepdim=True) + 1e-8)
        return u_hat, w, b

    def forward(self, z: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, None]:
        """z₀: (..., B, D), ctx: (B, C) -> (z_K (..., B, D), Σ log|det| (..., B), None)."""
        u_hat, w, b = self.unpack(ctx)
        wu = (w * u_hat).sum(-1)  # (B, K): wᵀû > −1 per step
        terms = []
        for k in range(self.steps):
            t = torch.tanh((z * w[:, k]).sum(-1) + b[:, k])  # (..., B)
            z = torch.addcmul(z, u_hat[:, k], t.unsqueeze(-1))
            terms.append(torch.addcmul(torch.ones_like(t), 1 - t * t, wu[:, k]))  # 1 + tanh′(a) wᵀû > 0
        logdet = torch.log(torch.stack(terms).abs() + 1e-12).sum(0) if terms else \
            torch.zeros(z.shape[:-1], dtype=z.dtype, device=z.device)
        return z, logdet, None


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (MADE, Germain et al. 2015)."""

    def __init__(self, n_in: int, n_out: int, mask: torch.Tensor):
        super().__init__(n_in, n_out)
        self.register_buffer("mask", mask.float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_masks(dim: int, hidden: int, reverse: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """MADE masks for one step: (H, D) input -> hidden, (2D, H) hidden -> [m, s], so output d depends only
    on the variables before d in the step's order (reversed on odd steps)."""
    order = torch.arange(dim - 1, -1, -1) if reverse else torch.arange(dim)  # position of each variable
    deg_in = order + 1  # 1..D
    deg_h = torch.arange(hidden) % max(1, dim - 1) + 1  # 1..D−1
    mask_in = deg_h[:, None] >= deg_in[None, :]
    mask_out = deg_in[:, None] > deg_h[None, :]  # output d sees hidden units of degree < deg(d)
    return mask_in, torch.cat([mask_out, mask_out])


class IAF(nn.Module):
    """K inverse autoregressive flow steps on D dimensions, conditioned on a context vector from the encoder.

    Each step: hid = ELU(M_in z + C_h h), [m, s] = M_out hid + C_o h, σ = sigmoid(s), z ← m + σ ⊙ (z − m)
    (= σ ⊙ z + (1 − σ) ⊙ m). The context terms of every step come from one matrix product (they do not
    depend on z), so a step costs two small masked products: the flow stays cheap beside the networks."""

    def __init__(self, dim: int, steps: int, width: int, hidden: int | None = None, ctx_dim: int | None = None):
        super().__init__()
        self.dim, self.steps = dim, steps
        self.hidden = hidden = hidden or max(32, 4 * dim)
        self.ctx_dim = ctx_dim or max(16, 2 * dim)
        self.head = nn.Linear(width, self.ctx_dim)  # features h -> context vector
        self.ctx_proj = nn.Linear(self.ctx_dim, max(1, steps) * (hidden + 2 * dim))  # every step's context terms
        self.inp = nn.ModuleList()
        self.out = nn.ModuleList()
        for k in range(steps):
            m_in, m_out = made_masks(dim, hidden, reverse=k % 2 == 1)
            self.inp.append(MaskedLinear(dim, hidden, m_in))
            self.out.append(MaskedLinear(hidden, 2 * dim, m_out))
        # Start at (nearly) the identity, σ = sigmoid(5) ≈ 0.993: the flow begins as the base Gaussian (the
        # paper's forget-gate bias, pushed further: on mnist10k a bias of 2 trained slower than the Gaussian,
        # 5 did not; Adam's scale-free steps still move the small gradients through σ′).
        with torch.no_grad():
            for lin in self.out:
                lin.weight.mul_(0.1)
                lin.bias[dim:].fill_(5.0)
                lin.bias[:dim].zero_()
            self.ctx_proj.weight.mul_(0.1)

    def context(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h)

    def forward(self, z: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z₀: (..., B, D), ctx: (B, C) -> (z_K, Σ log|det| (..., B), its split per dimension (..., B, D))."""
        d, hdim = self.dim, self.hidden
        c = self.ctx_proj(ctx).reshape(ctx.shape[0], self.steps, hdim + 2 * d)
        s_all = []
        for k in range(self.steps):
            hid = F.elu(self.inp[k](z) + c[:, k, :hdim])
            m, s = (self.out[k](hid) + c[:, k, hdim:]).split(d, -1)
            gate = torch.sigmoid(s)
            z = torch.addcmul(m, gate, z - m)
            s_all.append(s)
        if not s_all:
            per_dim = torch.zeros_like(z)
        else:
            per_dim = F.logsigmoid(torch.stack(s_all)).sum(0)  # Σ_k log σ_k,d: the Jacobian is triangular
        return z, per_dim.sum(-1), per_dim


def build_flow(kind: str, dim: int, steps: int, width: int) -> nn.Module:
    """The flow of a posterior kind ('planar' or 'iaf') on D = dim, for encoder features of this width."""
    if kind == "planar":
        return PlanarFlow(dim, steps, width)
    if kind == "iaf":
        return IAF(dim, steps, width)
    raise ValueError(f"no flow for posterior {kind!r}")
