"""Issue 12, items 2 and 3: the mutual information comes with its Monte-Carlo standard error, a
dimension is called collapsed by MI only when it is clearly below the threshold, and a total MI at
the estimator's log M ceiling is flagged. Also closed-form checks of the other collapse statistics."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import vae.analysis.collapse as vc
from vae.analysis.collapse import MI_THRESHOLD, CollapseReport, collapse_flags, diagnose

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


def _linear_gaussian(n: int, a, v, seed: int = 123):
    """x_d ~ N(0, 1), q(z_d|x) = N(a_d x_d, v_d): I(x; z_d) = ½ log(1 + a²/v) in closed form."""
    a, v = torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(v, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, len(a), generator=g) * a
    return mu, v.log().expand(n, len(a)).clone(), 0.5 * torch.log1p(a ** 2 / v)


def _report(mi, se, mi_total=1.0, n_mixture=300) -> CollapseReport:
    d = len(mi)
    return CollapseReport(n_points=n_mixture, kl=np.ones(d), activity=np.ones(d), mi=np.asarray(mi, float),
                          mi_total=mi_total, marginal_kl=np.zeros(d), marginal_kl_total=0.0, sensitivity=None,
                          n_mixture=n_mixture, delta=2.0, mi_se=np.asarray(se, float))


def test_mi_flags_collapse_only_below_the_threshold_by_two_standard_errors():
    #            clearly 0  within 2 s.e.  clearly below  clearly used  within, above
    r = _report([0.0,      0.045,         0.03,          0.2,          0.052], [0.005, 0.005, 0.005, 0.005, 0.003])
    assert list(vc.mi_status(r, MI_THRESHOLD)) == ["collapsed", "undetermined", "collapsed", "used", "undetermined"]
    assert collapse_flags(r)["mi"].tolist() == [True, False, True, False, False]


def test_mi_standard_error_is_the_spread_of_the_estimate_across_seeds():
    # A used dimension, one near the threshold and one carrying nothing, on a few hundred points.
    mu, lv, _ = _linear_gaussian(300, [1.0, 0.32, 0.0], [0.25, 1.0, 1.0])
    runs = [vc.mixture_estimates(mu, lv, replicates=20, seed=s) for s in range(12)]
    spread = np.std([r.mi for r in runs], axis=0, ddof=1)
    reported = np.mean([r.mi_se for r in runs], axis=0)
    assert np.all(reported < 0.01), reported  # 20 × 300 draws
    ratio = reported / spread
    assert np.all((ratio > 0.5) & (ratio < 2.0)), (reported, spread)
    spread_tot = np.std([r.mi_total for r in runs], ddof=1)
    assert 0.5 < np.mean([r.mi_total_se for r in runs]) / spread_tot < 2.0


def test_mi_matches_the_closed_form_within_its_error_and_a_dead_dimension_never_flips():
    mu, lv, truth = _linear_gaussian(400, [1.0, 0.32, 0.0], [0.25, 1.0, 1.0])
    statuses = []
    for seed in range(6):
        r = diagnose(mu, lv, seed=seed)
        # The estimator's own bias on 400 points (the mixture replaces q(z)) is a few hundredths here.
        assert np.all(np.abs(r.mi - truth.numpy()) < 4 * r.mi_se + 0.03), (r.mi, r.mi_se, truth)
        statuses.append(list(vc.mi_status(r)))
    assert all(s[0] == "used" for s in statuses)
    assert all(s[2] == "collapsed" for s in statuses)  # a dimension carrying nothing is always collapsed
    assert not ({"used", "collapsed"} <= {s[1] for s in statuses})  # and near the threshold: never both


def test_default_replicates_give_an_error_below_001_nats():
    for n in (50, 360, 1200, 2000, 10_000):
        m = vc.mixture_points(n, vc.N_MIXTURE)
        reps = vc.mi_replicates(m)
        assert 1 / math.sqrt(reps * m) < 0.01, (n, m, reps)  # the s.e. of a dimension, up to a factor ≈ 1


def test_total_mi_at_the_log_m_ceiling_is_flagged():
    # Posteriors so sharp and far apart that every z identifies its x: I_q reaches log M.
    g = torch.Generator().manual_seed(0)
    mu = 50 * torch.randn(200, 4, generator=g)
    lv = torch.full_like(mu, 2 * math.log(0.01))
    r = diagnose(mu, lv)
    assert r.mi_ceiling == pytest.approx(math.log(200))
    assert r.mi_total <= r.mi_ceiling + 3 * r.mi_total_se + 1e-6
    assert r.mi_at_ceiling()
    mu, lv, _ = _linear_gaussian(200, [1.0, 0.5], [0.25, 0.5])
    assert not diagnose(mu, lv).mi_at_ceiling()


def test_marginal_kl_has_an_error_and_the_identity_holds():
    mu, lv, _ = _linear_gaussian(1000, [1.0, 0.5, 0.0], [0.25, 0.5, 1.0])
    a, v = np.array([1.0, 0.5, 0.0]), np.array([0.25, 0.5, 1.0])
    s2 = a ** 2 + v
    truth = 0.5 * (s2 - 1 - np.log(s2))  # KL(N(0, a² + v) ‖ N(0, 1))
    r = diagnose(mu, lv)
    assert np.all(r.marginal_kl_se > 0) and np.all(r.marginal_kl_se < 0.01)
    assert np.all(np.abs(r.marginal_kl - truth) < 4 * r.marginal_kl_se + 0.03), (r.marginal_kl, truth)
    assert abs(r.identity_residual) < 0.05


class _LinearDecoder:
    """A stand-in model whose E[x|z] = z W: the sensitivity of z_d is δ · mean_p |W_dp| exactly."""

    def __init__(self, w: torch.Tensor):
        self.w = w

    def mean_image(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.w).reshape(len(z), 1, 1, -1)


def test_decoder_sensitivity_matches_the_closed_form_for_a_linear_decoder():
    w = torch.tensor([[0.1, -0.3, 0.2, 0.0], [0.0, 0.0, 0.0, 0.0], [0.05, 0.05, -0.05, 0.05]])
    mu = torch.randn(500, 3, generator=torch.Generator().manual_seed(0))
    sens, se, anchors = vc.sensitivity_with_se(_LinearDecoder(w), mu, delta=1.5, n_anchors=100)
    np.testing.assert_allclose(sens, 1.5 * w.abs().mean(1).numpy(), rtol=1e-5, atol=1e-7)
    assert anchors == 100 and np.all(se < 1e-6)  # linear: every anchor sees the same change


def test_elbo_split_has_a_standard_error_over_images():
    from vae.config import ModelConfig
    from vae.model.networks import build_model
    torch.manual_seed(0)
    model = build_model(ModelConfig(image_size=4, latent_dim=2, hidden=[8])).eval()
    x = torch.rand(50, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    rec, rec_se, el, el_se = vc.elbo_stats(model, x)
    from vae.model.objectives import elbo
    from vae.model.evaluation import EVAL_SEED
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(EVAL_SEED)  # elbo_stats uses the trainer's evaluation noise, as the run's history does
        t = elbo(model, x)
    assert el == pytest.approx(float(t.elbo.double().mean()), rel=1e-6)
    assert el_se == pytest.approx(float(t.elbo.double().std() / math.sqrt(50)), rel=1e-6)
    assert rec_se > 0


def test_mig_matches_the_closed_form_of_a_discrete_case():
    from vae.analysis.disentanglement import mig
    v = np.repeat(np.arange(4), 1000)  # a uniform factor: H(v) = log 4
    z = np.stack([v, v // 2, np.zeros_like(v)], 1).astype(float)  # identifies v; one bit of it; nothing
    r = mig(z, v[:, None].astype(float), ["v"])
    np.testing.assert_allclose(r.entropy, [math.log(4)], rtol=1e-12)
    np.testing.assert_allclose(r.mi[:, 0], [math.log(4), math.log(2), 0.0], atol=1e-12)
    assert r.mig == pytest.approx(0.5, abs=1e-12)  # (log 4 − log 2) / log 4


@pytest.mark.slow
@pytest.mark.parametrize("name,dataset", [("digits-default", "digits"), ("shapes-default", "shapes")])
def test_committed_runs_mi_error_is_below_001_nats(name, dataset):
    if not (REPO / "checkpoints" / name).is_dir():
        pytest.skip(f"{name} is not committed here")
    from vae.runs.folder import load_run
    from vae.data import load_dataset
    from vae.model.evaluation import encode_all
    run = load_run(REPO / "checkpoints" / name)
    mu, lv = encode_all(run.model, load_dataset(dataset).test.x).params()
    est = vc.mixture_estimates(mu, lv)  # the defaults the Collapse page uses
    assert est.mi_se.max() < 0.01, est.mi_se
    assert est.marginal_kl_se.max() < 0.01, est.marginal_kl_se
