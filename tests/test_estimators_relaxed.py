"""The Gumbel-softmax and implicit-reparameterization toys (vae.analysis.estimators_relaxed and
estimators_implicit): exact
gradients against finite differences, each estimator's bias and variance against its known behaviour,
with Monte-Carlo error bars, on seeded draws."""
from __future__ import annotations

import math

import pytest
import torch

from vae.analysis.estimators.implicit import (dirichlet_estimates, dirichlet_exact_gradient, gamma_estimates,
    gamma_exact_gradient, implicit_study)
from vae.analysis.estimators.relaxed import (CategoricalToy, argmax_frequencies, categorical_estimates,
    default_toy, gumbel_study, relaxed_samples, vector_stats)
from vae.limits import BudgetError

pytestmark = pytest.mark.usefixtures("one_thread")
D = torch.float64


def _apart(a_val, a_se, b_val, b_se, k=4.0) -> bool:
    """a − b > k combined standard errors."""
    return a_val - b_val > k * math.hypot(a_se, b_se)


# ---------------------------------------------------------------- categorical toy: the exact gradient

@pytest.mark.parametrize("k", [2, 4, 7])
def test_enumerated_gradient_matches_finite_differences_and_closed_form(k):
    toy = default_toy(k)
    g = toy.exact_gradient()
    th, h = toy.theta(), 1e-6
    fd = torch.stack([(toy.objective(th + h * e) - toy.objective(th - h * e)) / (2 * h) for e in torch.eye(k, dtype=D)])
    assert torch.allclose(g, fd, atol=1e-8)
    pi, fk = toy.probs(), toy.f(torch.eye(k, dtype=D))
    assert torch.allclose(g, pi * (fk - (pi * fk).sum()), atol=1e-12)
    assert (g.abs() > 1e-3).all()  # the toy is not degenerate: every coordinate moves


def test_random_toy_gradient_matches_finite_differences():
    gen = torch.Generator().manual_seed(3)
    toy = CategoricalToy(tuple(torch.randn(5, generator=gen, dtype=D).tolist()),
                         tuple(torch.rand(5, generator=gen, dtype=D).tolist()))
    th, h = toy.theta(), 1e-6
    fd = torch.stack([(toy.objective(th + h * e) - toy.objective(th - h * e)) / (2 * h) for e in torch.eye(5, dtype=D)])
    assert torch.allclose(toy.exact_gradient(), fd, atol=1e-8)


# ---------------------------------------------------------------- categorical toy: the estimators

def _stats(est, tau=1.0, n=20_000, seed=1, baseline="posterior_mean", L=1, toy=None):
    toy = toy or default_toy(4)
    return vector_stats(categorical_estimates(toy, est, n, L, tau, baseline, seed), toy.exact_gradient())


def test_relaxed_bias_vanishes_as_tau_falls_while_variance_grows():
    hot, mid, cold = _stats("relaxed", 2.0), _stats("relaxed", 0.5, seed=2), _stats("relaxed", 0.1, seed=3)
    # bias² falls with τ, each step by more than 4 combined standard errors
    assert _apart(hot.bias2, hot.bias2_se, mid.bias2, mid.bias2_se)
    assert _apart(mid.bias2, mid.bias2_se, cold.bias2, cold.bias2_se)
    # ... and at τ = 0.1 it is small: within 4 se of 0, or under a tenth of τ = 2's
    assert cold.bias2 < max(4 * cold.bias2_se, hot.bias2 / 10)
    # the variance of one estimate grows as τ falls (∂y/∂θ scales as 1/τ)
    assert _apart(mid.variance, mid.variance_se, hot.variance, hot.variance_se)
    assert _apart(cold.variance, cold.variance_se, mid.variance, mid.variance_se)


def test_straight_through_is_biased_at_large_temperature():
    s = _stats("straight_through", 5.0)
    assert s.bias_z > 10
    # at large τ its gradient shrinks toward 0 (y is nearly uniform): the bias approaches ‖g‖
    g = default_toy(4).exact_gradient()
    assert s.bias_interval()[0] > 0.5 * float(g.norm())


@pytest.mark.parametrize("est,baseline,L", [("score", "posterior_mean", 1), ("score_baseline", "posterior_mean", 1),
                                            ("score_baseline", "leave_one_out", 4)])
def test_score_function_is_unbiased_within_error(est, baseline, L):
    s = _stats(est, baseline=baseline, L=L)
    assert abs(s.bias_z) < 4, s.bias_z
    g = default_toy(4).exact_gradient()
    z = (s.mean - g) / s.se
    assert z.abs().max() < 4.5, z


def test_baseline_lowers_the_score_function_variance():
    plain, base = _stats("score"), _stats("score_baseline", seed=2)
    assert _apart(plain.variance, plain.variance_se, base.variance, base.variance_se)


def test_estimates_are_reproducible_and_leave_the_global_generator_alone():
    toy = default_toy(3)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = categorical_estimates(toy, "relaxed", 50, 2, 0.5, seed=7)
    after = torch.rand(3)
    assert torch.equal(before, after)  # the draws did not consume the caller's global stream
    assert torch.equal(a, categorical_estimates(toy, "relaxed", 50, 2, 0.5, seed=7))
    assert not torch.equal(a, categorical_estimates(toy, "relaxed", 50, 2, 0.5, seed=8))


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
def test_gumbel_softmax_argmax_frequencies_match_pi(tau):
    toy = default_toy(5)
    r = argmax_frequencies(toy, tau, 20_000, seed=4)
    assert r["p_value"] > 1e-3, r  # chi-square goodness of fit to π
    # the test has power: the same counts are rejected against the uniform distribution
    counts, n = torch.tensor(r["counts"], dtype=D), r["n"]
    chi2_uniform = float(((counts - n / 5) ** 2 / (n / 5)).sum())
    p_uniform = float(torch.special.gammaincc(torch.tensor(2.0, dtype=D), torch.tensor(chi2_uniform / 2, dtype=D)))
    assert p_uniform < 1e-6


def test_samples_approach_one_hot_as_tau_falls():
    toy = default_toy(4)
    shown, rows = relaxed_samples(toy, (0.05, 0.5, 5.0), n=4000, show=8, seed=1)
    m = [(r["mean_max"], r["mean_max_se"]) for r in rows]
    assert _apart(*m[0], *m[1]) and _apart(*m[1], *m[2])
    assert m[0][0] > 0.95 and rows[0]["one_hot_within_0.01"] > 0.8
    assert abs(m[2][0] - 0.25) < 0.15  # hot: close to the simplex's centre
    for ys in shown.values():
        y = torch.tensor(ys, dtype=D)
        assert y.shape == (8, 4) and torch.allclose(y.sum(-1), torch.ones(8, dtype=D)) and (y >= 0).all()


def test_gumbel_study_rows_hold_every_estimator_and_temperature():
    s = gumbel_study(k=3, taus=(0.2, 1.0), n=500, seed=0)
    keys = {(r["estimator"], r["tau"]) for r in s.rows()}
    assert keys == {("score", None), ("score_baseline", None), ("relaxed", 0.2), ("straight_through", 0.2),
                    ("relaxed", 1.0), ("straight_through", 1.0)}
    for r in s.rows():
        assert r["bias_lo"] <= r["bias"] <= r["bias_hi"] and r["variance_se"] > 0
    assert len(s.coordinate_rows(1.0)) == 4 * 3
    again = gumbel_study(k=3, taus=(0.2, 1.0), n=500, seed=0)
    assert s.rows() == again.rows()  # seeded


def test_gumbel_study_refuses_past_the_budget_and_bad_settings(monkeypatch):
    monkeypatch.setenv("VAE_MAX_TOY_ESTIMATOR_DRAWS", "1000")
    with pytest.raises(BudgetError, match="VAE_MAX_TOY_ESTIMATOR_DRAWS"):
        gumbel_study(n=500)
    monkeypatch.delenv("VAE_MAX_TOY_ESTIMATOR_DRAWS")
    with pytest.raises(ValueError, match="leave-one-out"):
        gumbel_study(n=100, baseline="leave_one_out", mc_samples=1)
    with pytest.raises(ValueError, match="positive"):
        gumbel_study(n=100, taus=(0.0,))


# ---------------------------------------------------------------- implicit reparameterization

@pytest.mark.parametrize("alpha", [0.3, 1.0, 2.0, 10.0])
def test_implicit_gradient_of_gamma_mean_is_one(alpha):
    g = gamma_estimates(alpha, 1.0, "z", 20_000, 1, seed=5)["implicit"]
    m, se = float(g.mean()), float(g.std() / math.sqrt(len(g)))
    assert abs(m - 1.0) < 4 * se, (m, se)
    assert se < 0.05  # the check is sharp enough to see a wrong gradient


@pytest.mark.parametrize("f,E", [("z", lambda a, b: a / b), ("z2", lambda a, b: a * (a + 1) / b ** 2),
                                 ("log_z", lambda a, b: float(torch.special.digamma(torch.tensor(a, dtype=D))) - math.log(b))])
def test_gamma_exact_gradients_match_finite_differences(f, E):
    a, b, h = 1.7, 2.5, 1e-5
    assert gamma_exact_gradient(a, b, f) == pytest.approx((E(a + h, b) - E(a - h, b)) / (2 * h), rel=1e-6)


@pytest.mark.parametrize("f", ["z", "z2", "log_z"])
def test_every_gamma_estimator_is_unbiased_and_implicit_has_less_variance_on_the_same_samples(f):
    alpha, beta = 2.0, 1.5
    ex = torch.tensor([gamma_exact_gradient(alpha, beta, f)], dtype=D)
    est = gamma_estimates(alpha, beta, f, 20_000, 2, "leave_one_out", seed=6)
    stats = {k: vector_stats(v, ex) for k, v in est.items()}
    for k, s in stats.items():
        assert abs(float(s.mean[0] - ex[0])) < 4 * float(s.se[0]), (k, s.mean, s.se)
    imp = stats["implicit"]
    for k in ("score", "score_baseline"):
        assert _apart(stats[k].variance, stats[k].variance_se, imp.variance, imp.variance_se), k


def test_implicit_gradients_come_from_torch_rsample():
    a = torch.tensor([2.0], dtype=D, requires_grad=True)
    torch.manual_seed(0)
    z = torch.distributions.Gamma(a, torch.tensor(1.0, dtype=D)).rsample()
    assert z.grad_fn is not None  # torch's Gamma.rsample is differentiable in the shape: the implicit rule
    torch.manual_seed(0)
    zd = torch.distributions.Dirichlet(torch.tensor([1.0, 2.0], dtype=D, requires_grad=True)).rsample()
    assert zd.grad_fn is not None


def test_dirichlet_implicit_gradient_matches_the_exact_one():
    alpha = (0.5, 1.0, 2.0)
    ex = dirichlet_exact_gradient(alpha)
    a, h = torch.tensor(alpha, dtype=D), 1e-6
    fd = torch.stack([((a + h * e)[0] / (a + h * e).sum() - (a - h * e)[0] / (a - h * e).sum()) / (2 * h)
                      for e in torch.eye(3, dtype=D)])
    assert torch.allclose(ex, fd, atol=1e-8)
    est = dirichlet_estimates(alpha, 20_000, 1, seed=8)
    s = vector_stats(est["implicit"], ex)
    assert ((s.mean - ex).abs() < 4 * s.se).all(), (s.mean, ex, s.se)
    assert abs(s.bias_z) < 4
    sc = vector_stats(est["score"], ex)
    assert _apart(sc.variance, sc.variance_se, s.variance, s.variance_se)


def test_implicit_study_variance_falls_as_one_over_l():
    s = implicit_study(mc_list=(1, 16), n=4000, seed=0)
    for which in ("gamma", "dirichlet"):
        rows = {(r["estimator"], r["L"]): r for r in s.rows(which)}
        for est in ("implicit", "score", "score_baseline"):
            ratio = rows[est, 1]["variance"] / rows[est, 16]["variance"]
            assert 10 < ratio < 25, (which, est, ratio)  # 16 in expectation
    g = {r["estimator"]: r for r in s.rows("gamma") if r["L"] == 1}
    assert abs(g["implicit"]["z"]) < 4 and g["implicit"]["exact"] == 1.0
    assert len(s.dirichlet_coordinate_rows(16)) == 3 * 3


def test_implicit_study_refuses_past_the_budget_and_bad_settings(monkeypatch):
    monkeypatch.setenv("VAE_MAX_TOY_ESTIMATOR_DRAWS", "1000")
    with pytest.raises(BudgetError, match="VAE_MAX_TOY_ESTIMATOR_DRAWS"):
        implicit_study(n=500)
    monkeypatch.delenv("VAE_MAX_TOY_ESTIMATOR_DRAWS")
    with pytest.raises(ValueError, match="positive"):
        implicit_study(alpha=-1.0, n=100)
    with pytest.raises(ValueError, match="unknown f"):
        implicit_study(f="sin", n=100)


def test_studies_stop_when_asked_and_report_progress():
    seen = []
    calls = iter([False, False, True])
    s = gumbel_study(k=3, taus=(0.5, 1.0), n=200, on_progress=lambda f, w: seen.append(f),
                     should_stop=lambda: next(calls, True))
    assert len(s.stats) == 2 and not s.samples  # stopped after two estimators
    assert seen == sorted(seen) and seen[0] == 0
    imp = implicit_study(mc_list=(1, 2, 4), n=100, should_stop=lambda: True)
    assert not imp.gamma and not imp.dirichlet
