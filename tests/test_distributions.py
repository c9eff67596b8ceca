"""Posterior and prior objects (vae/distributions.py) against torch.distributions and closed forms."""
import math

import pytest
import torch
from torch.distributions import Normal

from gaussian_formulas import torch_kl_per_dim
from vae.model.distributions import DiagonalGaussian, StandardNormal, monte_carlo_kl


def _q(b=5, d=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return DiagonalGaussian(torch.randn(b, d, generator=g), torch.randn(b, d, generator=g))


def test_log_prob_matches_torch_distributions():
    q = _q()
    z = q.rsample(4, generator=torch.Generator().manual_seed(1))
    assert z.shape == (4, 5, 3)
    torch.testing.assert_close(q.log_prob(z), q.to_torch().log_prob(z))


def test_rsample_is_reproducible_with_a_generator_and_leaves_global_rng_alone():
    q = _q()
    state = torch.get_rng_state()
    a = q.rsample(3, generator=torch.Generator().manual_seed(7))
    b = q.rsample(3, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert torch.equal(state, torch.get_rng_state())


def test_rsample_moments():
    q = DiagonalGaussian(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(0.25)]]))
    z = q.rsample(200_000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z.mean(0), q.mean, atol=0.01, rtol=0)
    torch.testing.assert_close(z.std(0), q.std, atol=0.01, rtol=0)


def test_rsample_carries_gradients_to_the_parameters():
    mu = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    DiagonalGaussian(mu, logvar).rsample(5).sum().backward()
    assert mu.grad is not None and torch.all(mu.grad == 5.0)
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_closed_form_kl_matches_registry_and_is_zero_at_the_prior():
    q = _q()
    kl = q.kl_to(StandardNormal(3))
    assert kl.exact and kl.method == "closed form"
    torch.testing.assert_close(kl.per_dim, torch_kl_per_dim(q))
    assert (kl.value >= 0).all()
    zero = DiagonalGaussian(torch.zeros(2, 3), torch.zeros(2, 3)).kl_to(StandardNormal(3))
    assert torch.equal(zero.value, torch.zeros(2))


def test_monte_carlo_kl_agrees_with_closed_form_within_its_error():
    q = _q(b=3)
    exact = q.kl_to(StandardNormal(3)).value
    mc = monte_carlo_kl(q, StandardNormal(3), n=20_000, generator=torch.Generator().manual_seed(3))
    assert not mc.exact and mc.stderr is not None
    assert ((mc.value - exact).abs() < 4 * mc.stderr).all()


@pytest.mark.parametrize("sigma", [1e-2, 1e-4, 1e-6])
def test_log_prob_keeps_accuracy_at_tiny_sigma(sigma):
    mu = torch.tensor([[0.3]], dtype=torch.float32)
    lv = torch.full((1, 1), 2 * math.log(sigma))
    z = mu + 1.5 * sigma
    ref = Normal(mu.double(), torch.tensor([[sigma]], dtype=torch.float64)).log_prob(z.double()).sum(-1)
    got = DiagonalGaussian(mu, lv).log_prob(z)
    # The same float32 z in both: only the density's own arithmetic differs.
    assert abs(float(got) - float(ref)) < 1e-4 * abs(float(ref)) + 1e-4


def test_mixture_log_density_and_marginals_match_a_brute_force_sum():
    from vae.model.distributions import GaussianMixture
    q = _q(b=7, d=3, seed=4)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(5))
    comp = q.to_torch().log_prob(z[:, None, :])  # (5, 7): log N(z; μ_j, σ_j²)
    want = torch.logsumexp(comp.double(), 1) - math.log(7)
    got, per = GaussianMixture(q.mu, q.logvar).log_prob_with_marginals(z)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-6)
    want_d = torch.logsumexp(q.log_prob_per_dim(z[:, None, :]).double(), 1) - math.log(7)  # (5, 3)
    torch.testing.assert_close(per, want_d, atol=1e-5, rtol=1e-6)


def test_rsample_with_log_prob_agrees_with_log_prob_and_subsample_keeps_rows():
    q = _q(b=4, d=2, seed=6)
    z, log_q = q.rsample_with_log_prob(3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(log_q, q.log_prob(z).double(), atol=1e-4, rtol=1e-5)
    sub = q.subsample(2, torch.Generator().manual_seed(1))
    assert sub.shape == (2, 2) and all(any(torch.equal(r, m) for m in q.mu) for r in sub.mu)
    assert q.subsample(None) is q and q.subsample(10) is q
