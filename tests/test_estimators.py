"""Gradient estimators: unbiasedness on the 1-D example, agreement of the means and the variance gap
on a small model, the shared model left untouched, and the training comparison."""
import copy

import pytest
import torch

from vae.limits import BudgetError
from vae.config import ModelConfig
from vae.analysis.estimators.gradient import (ESTIMATORS, encoder_gradient_estimates, gradient_study,
    pick_batch, summarize, surrogate)
from vae.analysis.estimators.toy import toy_estimates, toy_true_gradient
from vae.training.estimators import (CompareConfig, comparison_runs, compare_training, curve_rows,
    curves_from_runs)
from vae.model.networks import build_model
from vae.model.objectives import elbo, log_likelihood


def _small(seed=0):
    torch.manual_seed(seed)
    m = build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16])).eval()
    x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    return m, x


def test_toy_true_gradient_closed_form():
    assert toy_true_gradient(1.5, 0.3, -0.5) == pytest.approx((4.0, 0.6))


@pytest.mark.parametrize("baseline,L", [("posterior_mean", 1), ("leave_one_out", 4)])
def test_toy_estimators_are_unbiased_and_reparam_has_lower_variance(baseline, L):
    r = toy_estimates(mu=1.0, sigma=0.7, t=-0.5, mc_samples=L, n=20_000, baseline=baseline, seed=3)
    assert set(r.estimates) == set(ESTIMATORS)
    rows = r.rows()
    for row in rows:
        assert abs(row["z"]) < 4, row  # mean within 4 standard errors of the closed form
    var = {(row["estimator"], row["parameter"]): row["variance"] for row in rows}
    for p in ("μ", "σ"):
        assert var["reparam", p] < var["score", p]  # rows carry the library's keys; ui/labels has the words
        assert var["reparam", p] < var["score_baseline", p]


def test_toy_rejects_bad_sigma():
    with pytest.raises(ValueError, match="σ"):
        toy_estimates(0.0, 0.0, 0.0)


def test_reparam_surrogate_is_the_elbo_and_has_its_gradient():
    m, x = _small()
    torch.manual_seed(5)
    t = elbo(m, x, mc_samples=2)
    g_ref = torch.autograd.grad(t.elbo.mean(), m.encoder_parameters())
    s = surrogate(m, x, m.encode(x), "reparam", 2, generator=torch.Generator().manual_seed(5))
    assert torch.allclose(s, t.elbo, atol=1e-5)
    g = torch.autograd.grad(s.mean(), m.encoder_parameters())
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g, g_ref))


def test_score_surrogate_value_is_an_elbo_estimate():
    m, x = _small()
    q = m.encode(x)
    a = surrogate(m, x, q, "reparam", 3, generator=torch.Generator().manual_seed(2))
    for est in ("score", "score_baseline"):
        b = surrogate(m, x, q, est, 3, generator=torch.Generator().manual_seed(2))
        assert torch.allclose(a, b, atol=1e-5)  # same noise, same value; only the gradient differs


def test_estimates_do_not_touch_the_model():
    m, x = _small()
    for p in m.decoder.parameters():
        p.requires_grad_(False)  # an odd state a caller may have: must survive as is
    before = copy.deepcopy(m.state_dict())
    flags = [p.requires_grad for p in m.parameters()]
    g = encoder_gradient_estimates(m, x, "score", 2, n_estimates=5)
    assert g.shape == (5, sum(p.numel() for p in m.encoder_parameters()))
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    assert [p.requires_grad for p in m.parameters()] == flags
    assert all(p.grad is None for p in m.parameters()) and not m.training


def test_batched_estimates_match_one_at_a_time():
    m, x = _small()
    g = encoder_gradient_estimates(m, x, "reparam", 3, n_estimates=4, generator=torch.Generator().manual_seed(9))
    # The same noise, (L, K, B, D) in the order the batched code draws it, one estimate at a time.
    eps = torch.randn((3, 4, 8, 3), generator=torch.Generator().manual_seed(9))
    for k in range(4):
        q = m.encode(x)
        mu, lv = q.params()
        z = mu + torch.exp(0.5 * lv) * eps[:, k]
        s = log_likelihood(x, m.decode(z), m.config.likelihood).mean(0) - q.kl_per_dim().sum(-1)
        ref = torch.autograd.grad(s.mean(), m.encoder_parameters())
        assert torch.allclose(g[k], torch.cat([r.reshape(-1) for r in ref]), atol=1e-5), k


def test_small_model_means_agree_and_score_variance_is_far_larger():
    m, x = _small()
    study = gradient_study(m, x, mc_list=(4,), n_estimates=1000, seed=0)
    rep, sco = study.get("reparam", 4), study.get("score", 4)
    assert sco.trace_var / rep.trace_var > 10
    for a in study.agreements:
        # ‖ḡ_a − ḡ_b‖² against its expectation under equal means, and per-coordinate z²: both ≈ 1
        # (over seeds 0–5 they stayed in 0.5–1.5). A biased estimator would give ratios ≫ 1 at this K.
        assert 0.3 < a.noise_ratio < 3.0, a
        assert 0.4 < a.z2 < 2.0, a
    assert {r["estimator"] for r in study.tensor_rows(4)} == {"reparam", "score", "score_baseline"}
    assert study.get("score_baseline", 4).trace_var < sco.trace_var


def test_summarize_per_tensor_traces_add_up():
    g = torch.randn(50, 7, generator=torch.Generator().manual_seed(0))
    s = summarize(g, "reparam", 1, ["a", "b"], [3, 4])
    assert sum(s.trace_var_per_tensor.values()) == pytest.approx(s.trace_var)
    assert s.snr >= 0


def test_invalid_settings_raise_clear_errors():
    m, x = _small()
    with pytest.raises(ValueError, match="leave-one-out"):
        gradient_study(m, x, mc_list=(1,), n_estimates=4, baseline="leave_one_out")
    with pytest.raises(ValueError, match="unknown estimator"):
        encoder_gradient_estimates(m, x, "pathwise", 1, 4)
    with pytest.raises(ValueError, match="at least one"):
        gradient_study(m, x, mc_list=(), n_estimates=4)


def test_gradient_study_refuses_work_past_the_budget(monkeypatch):
    m, x = _small()
    n_params = sum(p.numel() for p in m.parameters())
    # K = 50, B = 8, L ∈ {1, 4}: 3 × 50 × 8 × (2 + 5) parameter-samples per parameter.
    work = 3 * 50 * 8 * 7 * n_params
    monkeypatch.setenv("VAE_MAX_ESTIMATOR_WORK", str(work - 1))
    with pytest.raises(BudgetError, match=r"VAE_MAX_ESTIMATOR_WORK") as e:
        gradient_study(m, x, mc_list=(1, 4), n_estimates=50)
    assert f"{work - 1:,}" in str(e.value)  # the limit itself is named
    monkeypatch.setenv("VAE_MAX_ESTIMATOR_WORK", str(work))
    assert len(gradient_study(m, x, mc_list=(1, 4), n_estimates=50).stats) == 6  # at the limit: runs


def test_gradient_study_refuses_holding_too_many_estimates(monkeypatch):
    m, x = _small()
    n_phi = sum(p.numel() for p in m.encoder_parameters())
    monkeypatch.setenv("VAE_MAX_ESTIMATOR_FLOATS", str(3 * 2 * 50 * n_phi - 1))
    with pytest.raises(BudgetError, match="VAE_MAX_ESTIMATOR_FLOATS"):
        gradient_study(m, x, mc_list=(1, 4), n_estimates=50)


def test_pick_batch_is_seeded_and_capped():
    x = torch.arange(10.0).reshape(10, 1, 1, 1)
    assert torch.equal(pick_batch(x, 4, 1), pick_batch(x, 4, 1))
    assert len(pick_batch(x, 50)) == 10


def _tiny_data():
    g = torch.Generator().manual_seed(0)
    return (torch.rand(64, 1, 4, 4, generator=g) > 0.5).float(), (torch.rand(16, 1, 4, 4, generator=g) > 0.5).float()


def test_training_comparison_runs_every_estimator_from_the_same_start():
    xtr, xte = _tiny_data()
    cfg = CompareConfig(epochs=2, batch_size=16)
    mcfg = ModelConfig(image_size=4, latent_dim=2, hidden=[8])
    seen = []
    curves = compare_training(xtr, xte, cfg, mcfg, on_progress=lambda f, msg: seen.append(f))
    assert [c.estimator for c in curves] == list(ESTIMATORS)
    assert all(c.state == "finished" and len(c.points) == 3 for c in curves)
    assert len({c.points[0]["test_elbo"] for c in curves}) == 1  # identical initial weights
    assert seen[-1] == 1.0 and seen == sorted(seen)
    rows = curve_rows(curves)
    assert len(rows) == 9 and all(r["test_elbo"] < 0 for r in rows)
    # Deterministic: the same config gives the same curves.
    again = compare_training(xtr, xte, cfg, mcfg)
    assert [p["test_elbo"] for p in again[1].points] == [p["test_elbo"] for p in curves[1].points]


def test_training_comparison_can_be_stopped_and_refuses_bad_settings():
    xtr, xte = _tiny_data()
    mcfg = ModelConfig(image_size=4, latent_dim=2, hidden=[8])
    curves = compare_training(xtr, xte, CompareConfig(epochs=200, batch_size=1), mcfg, should_stop=lambda: True)
    assert len(curves) == 1 and curves[0].state == "stopped"
    with pytest.raises(ValueError, match="leave-one-out"):
        CompareConfig(baseline="leave_one_out").validate()


@pytest.mark.slow
def test_comparison_runs_as_one_plan_of_ordinary_runs(tmp_path):
    """The app's path: one vae.train run per estimator through the job manager, curves read back."""
    from vae.runs.folder import load_run
    from vae.config import DataConfig
    from vae.jobs.training import JobManager, prepare_run
    lim = {"max_epochs": 500, "max_items": 70_000}
    runs = [(name, prepare_run(cfg, lim)) for name, cfg in comparison_runs(
        CompareConfig(epochs=1), model=ModelConfig(latent_dim=2, hidden=[16]), data=DataConfig(max_items=200))]
    manager = JobManager(tmp_path)
    manager.start_plan("estimators", runs)
    done = manager.wait(240)
    assert done.returncode == 0
    by_est = {load_run(tmp_path / name).config.train.estimator: tmp_path / name for name, _ in runs}
    assert list(by_est) == list(ESTIMATORS)
    curves = curves_from_runs(by_est)
    assert [len(c.points) for c in curves] == [2, 2, 2] and all(p["test_elbo"] < 0 for c in curves for p in c.points)
    assert len({c.points[0]["test_elbo"] for c in curves}) == 1  # epoch 0: identical initial weights
