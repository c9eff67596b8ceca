"""The inference gap (Cremer et al. 2018) on a model whose exact posterior is known, and on a trained run."""
import numpy as np
import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal, Normal

from vae.analysis.gaps import gap_points, inference_gaps, refine_point, refine_posterior
from vae.model.distributions import DiagonalGaussian, StandardNormal


class LinearGaussian(nn.Module):
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s²I) with orthogonal columns of W, so the exact posterior
    N(Σ Wᵀ(x − b)/s², Σ), Σ = (I + WᵀW/s²)⁻¹, is diagonal; and a deliberately poor linear encoder."""

    def __init__(self, p: int = 5, d: int = 2, s: float = 0.5):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        q, _ = torch.linalg.qr(torch.randn(p, d, generator=g, dtype=torch.float64))
        self.register_buffer("W", q * torch.tensor([2.0, 1.0], dtype=torch.float64)[:d])
        self.register_buffer("b", 0.3 * torch.randn(p, generator=g, dtype=torch.float64))
        self.s = s
        self.enc = nn.Linear(p, 2 * d).double()
        self.d = d

    @property
    def prior(self):
        return StandardNormal(self.d)

    def encode(self, x):
        h = self.enc(x)
        return DiagonalGaussian(h[..., :self.d], h[..., self.d:].clamp(-6, 2))

    def log_px(self, x, z):
        return Normal(z @ self.W.T + self.b, self.s).log_prob(x).sum(-1)

    def exact_posterior(self, x):
        prec = torch.eye(self.d, dtype=torch.float64) + self.W.T @ self.W / self.s ** 2
        cov = torch.linalg.inv(prec)
        return (x - self.b) @ self.W @ cov.T / self.s ** 2, cov.diagonal().sqrt()

    def log_px_exact(self, x):
        cov = self.W @ self.W.T + self.s ** 2 * torch.eye(len(self.b), dtype=torch.float64)
        return MultivariateNormal(self.b, cov).log_prob(x)


def _data(model, n=6):
    g = torch.Generator().manual_seed(1)
    z = torch.randn(n, model.d, generator=g, dtype=torch.float64)
    return z @ model.W.T + model.b + model.s * torch.randn(n, len(model.b), generator=g, dtype=torch.float64)


def test_per_point_optimization_reaches_the_true_posterior():
    model = LinearGaussian()
    x = _data(model)
    with torch.no_grad():
        q0 = model.encode(x)
    q, curve = refine_posterior(model, x, q0, steps=3000, lr=0.03, samples=64,
                                generator=torch.Generator().manual_seed(2))
    mean, sd = model.exact_posterior(x)
    assert torch.allclose(q.mean, mean, atol=0.03), (q.mean, mean)
    assert torch.allclose(q.std, sd.expand_as(q.std), atol=0.03), (q.std, sd)
    assert curve[-1] > curve[0]
    assert all(p.grad is None for p in model.parameters())  # the model is only read


def test_approximation_gap_vanishes_when_the_family_holds_the_true_posterior():
    model = LinearGaussian()
    x = _data(model)
    r = inference_gaps(model, x, points=list(range(len(x))), steps=1500, lr=0.02, k=2000, elbo_samples=4000)
    exact = model.log_px_exact(x).numpy()
    assert abs(r.log_px - exact).max() < 0.02  # the IWAE under q* is log p(x)
    s = r.summary()
    err = 3 * max(s["approximation_gap_se"], float(r.elbo_optimized_se.max())) + 0.02
    assert abs(s["approximation_gap"]) < err, s
    assert s["amortization_gap"] > 10 * err, s  # a poor encoder: much is lost to amortization
    assert s["approximation_gap"] + s["amortization_gap"] == pytest.approx(s["log_px"] - s["elbo_amortized"])


@pytest.mark.slow
def test_both_gaps_are_nonnegative_within_error_on_a_trained_run():
    from vae.runs.folder import load_run
    from vae.data import load_dataset
    run = load_run("checkpoints/digits-default")
    x = load_dataset("digits").test.x
    r = inference_gaps(run.model, x, points=gap_points(len(x), 20), steps=150, k=1000, elbo_samples=500)
    s = r.summary()
    for name in ("approximation_gap", "amortization_gap"):
        assert s[name] > -3 * s[name + "_se"] - 0.05, s
    assert s["log_px"] >= s["elbo_optimized"] - 0.05 >= s["elbo_amortized"] - 0.1
    assert gap_points(len(x), 20) == gap_points(len(x), 20) and len(set(r.points)) == 20


@pytest.mark.slow
def test_cli_reports_the_gaps_as_json_and_keeps_them_in_the_run_folder(tmp_path):
    import json
    import shutil
    import subprocess
    import sys
    run = tmp_path / "run"
    shutil.copytree("checkpoints/digits-default", run)
    cmd = [sys.executable, "-m", "vae.evaluate", str(run), "--gaps", "--gap-points", "5", "--gap-steps", "20", "--json"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    r = json.loads(first.stdout.strip().splitlines()[-1])
    for key in ("log_px", "elbo_amortized", "elbo_optimized", "approximation_gap", "amortization_gap", "points"):
        assert key in r
    assert r["points"] == 5 and r["approximation_gap"] == pytest.approx(r["log_px"] - r["elbo_optimized"])
    [kept] = (run / "cache").glob("gaps-*-p5-s20-k5000-v2.json")
    again = json.loads(subprocess.run(cmd, capture_output=True, text=True, timeout=300).stdout.splitlines()[-1])
    assert again["log_px"] == r["log_px"] and again["seconds"] == r["seconds"]  # read back, not recomputed


def test_gaps_work_with_a_mixture_prior_whose_kl_is_monte_carlo():
    from vae.config import ModelConfig
    from vae.model.networks import build_model
    torch.manual_seed(0)
    model = build_model(ModelConfig(latent_dim=3, hidden=[32], prior="mog", prior_components=4)).eval()
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0)).round()
    r = inference_gaps(model, x, points=list(range(8)), steps=100, k=1000, elbo_samples=1000, lr=0.05)
    s = r.summary()
    assert (r.elbo_amortized_se > 0).all() and (r.elbo_optimized_se > 0).all()
    assert s["amortization_gap"] > 0  # an untrained encoder: refining each posterior helps
    assert s["approximation_gap"] > -3 * s["approximation_gap_se"] - 0.05, s
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("kind", ["planar", "iaf", "categorical", "dirichlet"])
def test_gaps_work_for_every_posterior_refining_its_own_parameters(kind):
    """Issue 13: the per-point parameters are the posterior's own (a flow's included)."""
    from vae.config import ModelConfig
    from vae.model.networks import build_model
    torch.manual_seed(0)
    model = build_model(ModelConfig(posterior=kind, latent_dim=3, categories=4, flow_steps=2, hidden=[32])).eval()
    x = torch.rand(40, 1, 8, 8, generator=torch.Generator().manual_seed(0)).round()
    with torch.no_grad():
        before = [p.clone() for p in model.encode(x[:6]).params()]
    r = inference_gaps(model, x, points=list(range(6)), steps=60, k=500, elbo_samples=500, lr=0.05)
    s = r.summary()
    assert r.steps == 60 and all(np.isfinite(v) for v in (s["log_px"], s["elbo_amortized"], s["elbo_optimized"]))
    assert s["amortization_gap"] > 0, s  # an untrained encoder: refining each posterior helps
    assert s["approximation_gap"] > -3 * s["approximation_gap_se"] - 0.1, s
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():  # the model is only read: the encoder's posterior is unchanged
        assert all(torch.equal(a, b) for a, b in zip(before, model.encode(x[:6]).params()))
    # "Refine this posterior" on one image: its mean and spread before and after, and both decodings.
    one = refine_point(model, x, 3, steps=30, k=200)
    assert one.mu_before.shape == one.sigma_after.shape == (model.config.decoder_dim,)
    assert (one.sigma_before >= 0).all() and not np.allclose(one.mu_before, one.mu_after)
    assert one.recon_before.shape == one.recon_after.shape == (1, 8, 8)


@pytest.mark.slow
def test_cli_estimates_the_gaps_of_a_flow_run(tmp_path):
    import json
    import subprocess
    import sys
    from vae.runs.folder import save_run
    from vae.config import DataConfig, ModelConfig, RunConfig
    from vae.model.networks import build_model
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(posterior="iaf", latent_dim=3, flow_steps=2, hidden=[32]),
                    data=DataConfig(name="digits"))
    save_run(tmp_path / "iaf", build_model(cfg.model), cfg, [], epoch=1)
    out = subprocess.run([sys.executable, "-m", "vae.evaluate", str(tmp_path / "iaf"), "--gaps", "--gap-points", "3",
                          "--gap-steps", "10", "--iwae", "50", "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["posterior"] == "iaf" and r["points"] == 3
    assert r["approximation_gap"] + r["amortization_gap"] == pytest.approx(r["log_px"] - r["elbo_amortized"])


def test_refine_point_and_the_gap_budget(monkeypatch):
    from vae.analysis.gaps import check_gaps, refine_point
    from vae.limits import BudgetError
    from vae.runs.folder import load_run
    from vae.data import load_dataset
    run = load_run("checkpoints/digits-default")
    x = load_dataset("digits").test.x
    seen = []
    r = refine_point(run.model, x, 3, steps=40, k=300, on_step=lambda step, v: seen.append((step, v)))
    assert [s for s, _ in seen] == list(range(1, 41)) and [v for _, v in seen] == r.gaps.curve
    assert r.recon_before.shape == r.recon_after.shape == (1, 8, 8)
    assert r.mu_before.shape == r.sigma_after.shape == (run.model.latent_dim,)
    n = r.numbers()
    assert n["amortization_gap"] == pytest.approx(n["elbo_optimized"] - n["elbo_amortized"])
    assert n["approximation_gap"] == pytest.approx(n["log_px"] - n["elbo_optimized"])
    with torch.no_grad():
        want = run.model.mean_image(run.model.encode(x[3:4]).mean)[0]
    assert torch.allclose(r.recon_before, want, atol=1e-5)  # "before" is the encoder's own reconstruction
    check_gaps(10_000, 100, 500)
    monkeypatch.setenv("VAE_MAX_GAP_WORK", "1e6")
    with pytest.raises(BudgetError, match="VAE_MAX_GAP_WORK"):
        check_gaps(10_000, 100, 500)


def test_cached_gaps_reads_only_what_run_gaps_kept(tmp_path):
    import shutil
    from vae.cache.gaps import cached_gaps, run_gaps
    from vae.runs.folder import load_run
    from vae.data import load_dataset
    shutil.copytree("checkpoints/digits-default", tmp_path / "run")
    run = load_run(tmp_path / "run")
    x = load_dataset("digits").test.x
    assert cached_gaps(run.path, 4, 10, 100) is None
    stopped = run_gaps(run, x, points=4, steps=10, k=100, should_stop=lambda: True)
    assert stopped.steps == 0 and cached_gaps(run.path, 4, 10, 100) is None  # a stopped estimate is not kept
    r = run_gaps(run, x, points=4, steps=10, k=100)
    kept = cached_gaps(run.path, 4, 10, 100)
    assert kept is not None and kept.summary() == r.summary()
    assert cached_gaps(run.path, 4, 11, 100) is None
