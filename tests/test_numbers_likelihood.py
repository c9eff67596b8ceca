"""Issue 12, items 1 and 5: the Gaussian likelihood is the density of the σ actually used, a learned σ
stays above its floor and survives save → load, and IWAE's log-weights keep their digits at tiny σ."""
from __future__ import annotations

import copy
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae.runs.folder import load_run, model_from_state, save_run
from vae.config import ModelConfig, RunConfig
from vae.model.networks import build_model
from gaussian_formulas import kl_per_dim, log_normal_diag, log_standard_normal
from vae.model.objectives import elbo, iwae_bound, log_likelihood


REPO = Path(__file__).resolve().parents[1]
OBS_STD_MIN = 1e-3  # the floor of a learned σ: the config's lower bound for obs_std (vae.model.networks.OBS_STD_MIN)


def _sigma(model) -> float:
    """The σ a Gaussian model uses, from its log σ² (the attribute every version of the model has)."""
    return float((0.5 * model.obs_logvar.detach().double()).exp())


def _normal_log_prob(x: torch.Tensor, mean: torch.Tensor, sigma: float) -> torch.Tensor:
    """log N(x; mean, σ²) summed over pixels, from torch.distributions in float64."""
    return torch.distributions.Normal(mean.double(), sigma).log_prob(x.double()).flatten(1).sum(1)


# Both ends of the accepted obs_std range (0.001, 10), the old clamp's edges (e^-5, e^2), and beyond.
@pytest.mark.parametrize("sigma", [1e-4, 1e-3, 0.005, math.exp(-5), 0.1, 1.0, math.exp(2), 10.0, 50.0])
def test_gaussian_log_likelihood_is_the_normal_density_of_the_sigma_used(sigma):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 1, 5, 5, generator=g)
    mean = x + sigma * torch.randn(x.shape, generator=g)  # residuals of a few σ, as a fitted model has
    got = log_likelihood(x, mean, "gaussian", torch.tensor(2 * math.log(sigma)))
    want = _normal_log_prob(x, mean, sigma)
    torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=1e-3)


def _gaussian_model(obs_var: str, obs_std: float, latent_dim: int = 3, image_size: int = 4):
    torch.manual_seed(0)
    return build_model(ModelConfig(image_size=image_size, latent_dim=latent_dim, hidden=[16], likelihood="gaussian",
                                   obs_var=obs_var, obs_std=obs_std)).eval()


def _formula_elbo(model, x: torch.Tensor, eps: torch.Tensor, sigma: float) -> torch.Tensor:
    """ELBO per image by the textbook formula, in float64: Σ_pixels log N(x; m(z), σ²) − KL, z = μ + σ_z ε."""
    mu, logvar = model.encode(x).params()
    z = mu + (0.5 * logvar).exp() * eps
    m = model.decode(z).double()  # (1, B, C, H, W)
    r = (x.double() - m) / sigma
    rec = (-0.5 * math.log(2 * math.pi) - math.log(sigma) - 0.5 * r ** 2).flatten(2).sum(-1).mean(0)
    return rec - kl_per_dim(mu.double(), logvar.double()).sum(-1)


@pytest.mark.parametrize("obs_std", [0.001, 10.0])
def test_fixed_obs_std_reports_the_elbo_the_formula_gives(obs_std):
    model = _gaussian_model("fixed", obs_std)
    x = torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(5)
    with torch.no_grad():
        t = elbo(model, x)
    torch.manual_seed(5)
    eps = torch.randn(1, 6, 3)  # the draw elbo() made: reparameterize(n=1)
    with torch.no_grad():
        want = _formula_elbo(model, x, eps, obs_std)
    torch.testing.assert_close(t.elbo.double(), want, rtol=1e-5, atol=1e-3)


def test_learned_sigma_cannot_go_below_its_floor_and_reports_its_own_density():
    model = _gaussian_model("learned", 0.01)
    x = torch.rand(8, 1, 4, 4, generator=torch.Generator().manual_seed(2))
    mean = x + 1e-5 * torch.randn(x.shape, generator=torch.Generator().manual_seed(3))  # sharper than the floor
    opt = torch.optim.Adam([model.obs_sigma_raw], lr=0.5)
    for _ in range(300):  # maximise the likelihood: σ → as small as it may
        opt.zero_grad()
        (-log_likelihood(x, mean, "gaussian", model.obs_logvar).mean()).backward()
        opt.step()
    import vae.model.networks
    assert vae.model.networks.OBS_STD_MIN == OBS_STD_MIN
    sigma = _sigma(model)
    assert OBS_STD_MIN <= sigma < 1.01 * OBS_STD_MIN, sigma
    with torch.no_grad():
        got = log_likelihood(x, mean, "gaussian", model.obs_logvar)
    torch.testing.assert_close(got.double(), _normal_log_prob(x, mean, sigma), rtol=1e-5, atol=1e-2)


@pytest.mark.parametrize("sigma", [0.0011, 0.0123, 0.5, 7.0])
def test_gaussian_run_save_load_keeps_sigma_and_the_obs_logvar_key(tmp_path, sigma):
    model = _gaussian_model("learned", sigma, image_size=8)  # 8×8, the default dataset's (digits) images
    cfg = RunConfig(model=model.config)
    save_run(tmp_path / "run", model, cfg, history=[])
    run = load_run(tmp_path / "run")
    assert _sigma(run.model) == pytest.approx(sigma, rel=1e-6)
    state = run.model.state_dict()
    assert "obs_logvar" in state and state["obs_logvar"].item() == pytest.approx(2 * math.log(sigma), abs=1e-6)
    for k, v in model.state_dict().items():  # save → load → state dict is the identity
        torch.testing.assert_close(state[k], v)
    x = torch.rand(3, 1, 8, 8)
    torch.testing.assert_close(log_likelihood(x, x * 0.9, "gaussian", run.model.obs_logvar),
                               log_likelihood(x, x * 0.9, "gaussian", model.obs_logvar))


def test_a_state_dict_saved_before_the_floor_still_loads_with_its_sigma():
    """Runs saved by the old code hold the learned parameter itself, log σ², under 'obs_logvar'."""
    model = _gaussian_model("learned", 0.1, image_size=8)
    old = {k: v.clone() for k, v in model.state_dict().items()}
    old["obs_logvar"] = torch.tensor(2 * math.log(0.037))  # what the old nn.Parameter held
    loaded = model_from_state(RunConfig(model=model.config), old, "old run")
    assert _sigma(loaded) == pytest.approx(0.037, rel=1e-6)
    fixed = _gaussian_model("fixed", 0.2)
    assert [n for n, _ in fixed.named_buffers()] == ["obs_logvar"] and _sigma(fixed) == pytest.approx(0.2)
    assert getattr(_tiny_bernoulli(), "obs_logvar", None) is None


def _tiny_bernoulli():
    return build_model(ModelConfig(image_size=4, latent_dim=2, hidden=[8]))


@pytest.mark.slow
def test_cli_run_with_fixed_obs_std_0001_reports_the_formula_elbo(tmp_path):
    out = tmp_path / "g"
    env = {**os.environ, "VAE_NO_DOWNLOAD": "1"}
    r = subprocess.run([sys.executable, "-m", "vae.train", "--dataset", "digits", "--likelihood", "gaussian",
                        "--obs-var", "fixed", "--obs-std", "0.001", "--epochs", "1", "--json", "--out", str(out)],
                       capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    from vae.data import load_dataset
    from vae.evaluate import evaluate_run
    from vae.model.evaluation import EVAL_SEED
    ev = evaluate_run(str(out))
    assert ev["elbo"] == pytest.approx(summary["test_elbo"], rel=1e-6)
    run = load_run(out)
    assert _sigma(run.model) == pytest.approx(0.001, rel=1e-6)
    x = load_dataset("digits").test.x
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(EVAL_SEED)  # the evaluation's noise: one draw of ε for the whole split (N < 1024)
        eps = torch.randn(1, len(x), run.model.latent_dim)
        want = float(_formula_elbo(run.model, x, eps, 0.001).mean())
    assert ev["elbo"] == pytest.approx(want, rel=1e-5)


def _tiny_sigma_encoder(sigma: float = 1e-4, d: int = 8):
    """A Bernoulli VAE whose posteriors sit far from the origin (μ from 12 to 30) with σ = 1e-4,
    where float32 spacing near μ (≈ 2e-6) is 1 to 2 % of σ."""
    torch.manual_seed(0)
    m = build_model(ModelConfig(image_size=4, latent_dim=d, hidden=[16])).eval()
    with torch.no_grad():
        m.fc_mu.weight.mul_(0.1)
        m.fc_mu.bias.copy_(torch.linspace(12.0, 30.0, d))
        m.fc_logvar.weight.zero_()
        m.fc_logvar.bias.fill_(2 * math.log(sigma))
        m.decoder[0].weight.mul_(0.05)
    return m


def test_iwae_matches_a_float64_reference_at_posterior_sigma_1e_4():
    model = _tiny_sigma_encoder()
    x = torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(4)).round()
    k = 40
    torch.manual_seed(1)
    got = iwae_bound(model, x, k)
    # The reference: the same encoder outputs and the same draws ε, everything after them in float64.
    torch.manual_seed(1)
    with torch.no_grad():
        mu, logvar = (t.double() for t in model.encode(x).params())
        eps = torch.randn((k, 16, 8)).double()
        m64 = copy.deepcopy(model).double()
        z = mu + (0.5 * logvar).exp() * eps
        log_w = (log_likelihood(x.double(), m64.decode(z), "bernoulli") + log_standard_normal(z)
                 - log_normal_diag(z, mu, logvar))
        ref = torch.logsumexp(log_w, 0) - math.log(k)
    assert (got.double() - ref).abs().max().item() < 2e-3
