"""The math: KL, the reparameterized gradient, IWAE, active units, MI."""
import math

import pytest
import torch

from vae.config import ModelConfig
from vae.model.networks import build_model
from gaussian_formulas import kl_per_dim, log_normal_diag, log_standard_normal, mutual_information
from vae.model.distributions import DiagonalGaussian
from vae.model.objectives import active_units, elbo, iwae_bound, log_likelihood



def test_kl_is_zero_at_standard_normal_and_positive_elsewhere():
    mu, lv = torch.zeros(4, 3), torch.zeros(4, 3)
    assert torch.equal(kl_per_dim(mu, lv), torch.zeros(4, 3))
    g = torch.Generator().manual_seed(0)
    mu, lv = torch.randn(100, 5, generator=g), torch.randn(100, 5, generator=g)
    assert (kl_per_dim(mu, lv) > 0).all()


def test_analytic_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu = torch.tensor([[0.7, -1.2, 0.0]])
    lv = torch.tensor([[-0.5, 0.8, -2.0]])
    z = mu + (0.5 * lv).exp() * torch.randn(400_000, 3)
    mc = (log_normal_diag(z[..., None], mu[..., None], lv[..., None]) -
          log_standard_normal(z[..., None])).mean(0)  # per dimension
    analytic = kl_per_dim(mu, lv)[0]
    assert torch.allclose(mc, analytic, atol=0.01), (mc, analytic)


def test_reparameterized_gradient_matches_analytic_gradient():
    # E_{z~N(μ,σ²)}[z²] = μ² + σ²: d/dμ = 2μ, d/dσ = 2σ.
    torch.manual_seed(0)
    mu = torch.tensor(0.8, requires_grad=True)
    log_sigma = torch.tensor(math.log(0.6), requires_grad=True)
    eps = torch.randn(200_000)
    z = mu + log_sigma.exp() * eps
    z.pow(2).mean().backward()
    assert mu.grad.item() == pytest.approx(2 * 0.8, abs=0.01)
    # d/d log σ = 2σ² (chain rule through σ = exp(log σ))
    assert log_sigma.grad.item() == pytest.approx(2 * 0.36, abs=0.01)


def test_log_likelihoods_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 1, 4, 4, generator=g).round()
    logits = torch.randn(3, 1, 4, 4, generator=g)
    want = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(log_likelihood(x, logits, "bernoulli"), want, atol=1e-5)
    mean = torch.rand(3, 1, 4, 4, generator=g)
    lv = torch.tensor(-1.3)
    want = torch.distributions.Normal(mean, (0.5 * lv).exp()).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(log_likelihood(x, mean, "gaussian", lv), want, atol=1e-4)


def _tiny_model(likelihood="bernoulli"):
    torch.manual_seed(0)
    return build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16], likelihood=likelihood)).eval()


def test_elbo_terms_are_consistent():
    m = _tiny_model()
    x = torch.rand(5, 1, 4, 4)
    t = elbo(m, x, mc_samples=3)
    assert t.elbo.shape == t.rec.shape == t.kl.shape == (5,)
    assert torch.allclose(t.elbo, t.rec - t.kl)
    assert torch.allclose(t.kl_per_dim.sum(-1), t.kl)
    assert t.loss.item() == pytest.approx(-t.elbo.mean().item(), rel=1e-5)
    # β scales only the KL term of the loss
    torch.manual_seed(3)
    a = elbo(m, x, beta=1.0)
    torch.manual_seed(3)
    b = elbo(m, x, beta=4.0)
    assert (b.loss - a.loss).item() == pytest.approx(3 * a.kl.mean().item(), rel=1e-4)


def test_free_bits_floor_each_dimension():
    m = _tiny_model()
    x = torch.rand(8, 1, 4, 4)
    torch.manual_seed(0)
    t = elbo(m, x, free_bits=5.0)  # far above the KL of an untrained model
    assert t.loss.item() == pytest.approx(-t.rec.mean().item() + 5.0 * 3, rel=1e-5)


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_iwae_is_above_elbo_and_grows_with_k(likelihood):
    m = _tiny_model(likelihood)
    x = torch.rand(64, 1, 4, 4).round()
    torch.manual_seed(0)
    with torch.no_grad():
        el = torch.stack([elbo(m, x).elbo for _ in range(200)]).mean().item()
    torch.manual_seed(0)
    bounds = [torch.stack([iwae_bound(m, x, k) for _ in range(20)]).mean().item() for k in (1, 10, 100)]
    assert bounds[0] == pytest.approx(el, abs=0.05 * abs(el))  # K = 1 is the ELBO
    assert bounds[0] < bounds[1] < bounds[2]


def test_active_units_counts_variance_of_means():
    mu = torch.zeros(100, 3)
    mu[:, 1] = torch.linspace(-1, 1, 100)
    mu[:, 2] = 0.05 * torch.linspace(-1, 1, 100)  # variance ≈ 0.00085, below 0.01
    a, n = active_units(mu)
    assert n == 1 and a[1] > 0.3 and a[0] == 0


def test_mutual_information_linear_gaussian():
    # x ~ N(0, 1); q(z|x) = N(a x, s²): I(x; z) = ½ log(1 + a²/s²) in closed form.
    g = torch.Generator().manual_seed(0)
    a, s = 2.0, 0.5
    x = torch.randn(3000, 1, generator=g)
    mu = a * x
    lv = torch.full_like(mu, 2 * math.log(s))
    mi, per_dim = mutual_information(DiagonalGaussian(mu, lv), generator=g)
    assert mi == pytest.approx(0.5 * math.log(1 + a ** 2 / s ** 2), abs=0.05)
    assert per_dim[0].item() == pytest.approx(mi, abs=1e-5)
    # A dimension that ignores x carries no information.
    mi0, _ = mutual_information(DiagonalGaussian(torch.zeros(2000, 1), torch.zeros(2000, 1)), generator=g)
    assert abs(mi0) < 0.02
