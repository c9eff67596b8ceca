"""Tests for vae.analysis.collapse and vae.analysis.disentanglement on constructed cases whose answers are known."""
from __future__ import annotations


import numpy as np
import pytest
import torch

from gaussian_formulas import marginal_kl
from vae.analysis.collapse import (KL_THRESHOLD, CollapseReport, collapse_flags, diagnose, posterior_histograms,
    profile, sort_order, verdicts)
from vae.analysis.kl_history import kl_history, wake_and_death
from vae.config import ModelConfig
from vae.analysis.disentanglement import discretize, mig
from vae.model.networks import build_model
from vae.model.distributions import DiagonalGaussian

COLLAPSED = [1, 3]  # dimensions the constructed encoder shuts off
D = 5


def constructed_vae(decoder_uses_collapsed: bool = False):
    """An 8×8 MLP VAE whose encoder outputs μ = 0, σ = 1 on COLLAPSED for every x,
    and an informative, confident posterior on the other dimensions."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=D, hidden=[32]))
    with torch.no_grad():
        model.fc_mu.weight.mul_(8.0)
        model.fc_logvar.weight.zero_()
        model.fc_logvar.bias.fill_(-4.0)  # σ ≈ 0.14 on informative dimensions
        first = model.decoder[0].weight  # (hidden, D)
        first.mul_(6.0)  # a decoder that reacts visibly to its inputs
        for d in COLLAPSED:
            model.fc_mu.weight[d].zero_()
            model.fc_mu.bias[d] = 0.0
            model.fc_logvar.bias[d] = 0.0  # log σ² = 0: q(z_d|x) = N(0, 1) = p(z_d)
            if not decoder_uses_collapsed:
                first[:, d] = 0.0
    return model.eval()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(400, 1, 8, 8, generator=g)


def _report(model, x, **kw):
    mu, logvar = model.encode(x).params()
    return diagnose(mu.detach(), logvar.detach(), model, x, **kw)


def test_prior_dimensions_are_collapsed_by_every_statistic(data):
    model = constructed_vae()
    r = _report(model, data)
    flags = collapse_flags(r)
    assert set(flags) == {"kl", "activity", "mi", "sensitivity"}
    informative = [d for d in range(D) if d not in COLLAPSED]
    for name, f in flags.items():
        assert f[COLLAPSED].all(), f"{name} missed a collapsed dimension: {r.stat(name)}"
        assert not f[informative].any(), f"{name} flagged an informative dimension: {r.stat(name)}"
    v = verdicts(r)
    assert [v[d] for d in COLLAPSED] == ["collapsed"] * len(COLLAPSED)
    assert all(v[d] == "active" for d in informative)
    np.testing.assert_allclose(r.kl[COLLAPSED], 0.0, atol=1e-6)
    np.testing.assert_allclose(r.activity[COLLAPSED], 0.0, atol=1e-10)
    np.testing.assert_allclose(r.sensitivity[COLLAPSED], 0.0, atol=1e-7)


def test_encoder_ignoring_x_is_told_apart_from_decoder_ignoring_z(data):
    r = _report(constructed_vae(decoder_uses_collapsed=True), data)
    v = verdicts(r)
    assert [v[d] for d in COLLAPSED] == ["encoder ignores x"] * len(COLLAPSED)
    assert collapse_flags(r)["activity"][COLLAPSED].all()
    assert not collapse_flags(r)["sensitivity"][COLLAPSED].any()


def test_per_dimension_kl_sums_to_total_and_identity_holds(data):
    model = constructed_vae()
    mu, logvar = (t.detach() for t in model.encode(data).params())
    r = diagnose(mu, logvar, model, data, n_mixture=400)
    total = float(DiagonalGaussian(mu, logvar).kl_per_dim().sum(-1).mean())
    assert r.kl_total == pytest.approx(total, rel=1e-6)
    assert r.kl.sum() == pytest.approx(total, rel=1e-6)
    assert r.elbo == pytest.approx(r.rec - total, rel=1e-4, abs=1e-3)
    # E_x KL = I_q(x; z) + KL(q(z) ‖ p(z)), both terms estimated independently.
    assert abs(r.identity_residual) < 0.1 * total


def test_mi_and_marginal_kl_match_linear_gaussian_closed_form():
    # z_d = a_d·x_d + ε, x_d ~ N(0, 1), ε ~ N(0, v): I(x; z_d) = ½ log(1 + a²/v),
    # q(z_d) = N(0, a² + v), KL(q(z_d) ‖ N(0, 1)) = ½ (a² + v − 1 − log(a² + v)).
    g = torch.Generator().manual_seed(123)  # not diagnose's seed: its noise must be independent of the data
    a = torch.tensor([1.0, 0.5, 0.0])
    v = torch.tensor([0.25, 0.5, 1.0])
    n = 2000
    mu = torch.randn(n, 3, generator=g) * a
    logvar = v.log().expand(n, 3)
    mi_true = 0.5 * torch.log1p(a ** 2 / v)
    s2 = a ** 2 + v
    mk_true = 0.5 * (s2 - 1 - s2.log())
    r = diagnose(mu, logvar, n_mixture=n)
    np.testing.assert_allclose(r.mi, mi_true.numpy(), atol=0.05)
    assert r.mi_total == pytest.approx(float(mi_true.sum()), abs=0.1)
    np.testing.assert_allclose(r.marginal_kl, mk_true.numpy(), atol=0.05)
    assert r.marginal_kl_total == pytest.approx(float(mk_true.sum()), abs=0.1)


def test_marginal_kl_of_prior_posteriors_is_zero():
    mu, logvar = torch.zeros(500, 2), torch.zeros(500, 2)
    tot, per = marginal_kl(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert abs(tot) < 1e-5 and np.allclose(per, 0, atol=1e-5)


def test_diagnose_is_seeded_and_leaves_the_model_untouched(data):
    model = constructed_vae()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    r1, r2 = _report(model, data), _report(model, data)
    np.testing.assert_array_equal(r1.mi, r2.mi)
    np.testing.assert_array_equal(r1.sensitivity, r2.sensitivity)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_diagnose_rejects_bad_shapes():
    with pytest.raises(ValueError, match="N ≥ 2"):
        diagnose(np.zeros((1, 3)), np.zeros((1, 3)))
    with pytest.raises(ValueError):
        diagnose(np.zeros((4, 3)), np.zeros((4, 2)))


def test_sorting_and_profiles():
    r = CollapseReport(n_points=10, kl=np.array([0.1, 2.0, 0.0, 1.0]), activity=np.array([0.0, 1.0, 0.0, 0.5]),
                       mi=np.zeros(4), mi_total=0.0, marginal_kl=np.zeros(4), marginal_kl_total=0.0,
                       sensitivity=None, n_mixture=10, delta=2.0)
    assert sort_order(r, "kl").tolist() == [1, 3, 0, 2]
    assert sort_order(r, "index").tolist() == [0, 1, 2, 3]
    dims, vals = profile(r, "kl")
    assert dims.tolist() == [1, 3, 0, 2] and vals.tolist() == [2.0, 1.0, 0.1, 0.0]
    with pytest.raises(ValueError, match="sensitivity"):
        r.stat("sensitivity")
    assert "sensitivity" not in collapse_flags(r)


def test_histograms_rows_are_distributions_and_show_the_prior():
    mu = np.stack([np.zeros(200), np.linspace(-2, 2, 200)], 1)
    logvar = np.stack([np.zeros(200), np.full(200, -2.0)], 1)
    h = posterior_histograms(mu, logvar, bins=20)
    np.testing.assert_allclose(h.mu_density.sum(1), 1.0)
    np.testing.assert_allclose(h.sigma_density.sum(1), 1.0)
    centres = (h.sigma_edges[:-1] + h.sigma_edges[1:]) / 2
    assert abs(centres[h.sigma_density[0].argmax()] - 1.0) < (h.sigma_edges[1] - h.sigma_edges[0])


def test_kl_history_skips_bad_records_and_finds_wake_and_death():
    hist = [{"epoch": 1, "kl_per_dim": [0.0, 0.5, 0.0]},
            {"epoch": 2, "kl_per_dim": [0.2, 0.5, 0.0]},
            {"epoch": 3},  # no kl_per_dim
            {"epoch": 4, "kl_per_dim": [0.3, 0.001, 0.0, 9.0]},  # wrong length
            {"epoch": 5, "kl_per_dim": [0.3, 0.001, 0.0]},
            {"epoch": 6, "kl_per_dim": [0.4, 0.002, 0.0]}]
    h = kl_history(hist)
    assert h.epochs.tolist() == [1, 2, 5, 6] and h.kl.shape == (4, 3)
    events = wake_and_death(h, KL_THRESHOLD)
    assert events[0] == {"dim": 0, "state": "active", "epoch": 2}
    assert events[1] == {"dim": 1, "state": "died", "epoch": 5}
    assert events[2] == {"dim": 2, "state": "never active", "epoch": None}
    assert kl_history([{"epoch": 1}]) is None
    assert kl_history(hist, latent_dim=4).kl.shape == (1, 4)


# ---------------------------------------------------------------- MIG


def test_discretize_keeps_categories_and_bins_continuous_values():
    v = np.stack([np.arange(100) % 3, np.linspace(0, 1, 100)], 1)
    c = discretize(v, n_bins=10)
    assert set(c[:, 0]) == {0, 1, 2}
    assert len(set(c[:, 1])) == 10


def test_mig_is_high_when_each_factor_has_its_own_latent_and_low_when_shared():
    rng = np.random.default_rng(0)
    n = 3000
    factors = np.stack([rng.integers(0, 3, n), rng.uniform(size=n), rng.uniform(size=n)], 1)
    noise = rng.normal(size=n)
    # Dimension 3 is pure noise; each factor is copied by exactly one latent.
    z = np.stack([factors[:, 2], factors[:, 0] + 0.01 * rng.normal(size=n), factors[:, 1], noise], 1)
    r = mig(z, factors, ["shape", "scale", "x"])
    assert r.mig > 0.8
    best, share = r.best_factor()
    assert best[:3].tolist() == [2, 0, 1] and (share[:3] > 0.8).all()
    assert share[3] < 0.05
    # Two latents copying the same factor leave no gap for it.
    shared = mig(np.stack([factors[:, 1], factors[:, 1], noise], 1), factors[:, 1:2])
    assert shared.mig < 0.05


def test_mig_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        mig(np.zeros((10, 3)), np.zeros((9, 2)))
    with pytest.raises(ValueError, match="two latent"):
        mig(np.zeros((10, 1)), np.zeros((10, 2)))
