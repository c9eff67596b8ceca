"""Priors: the mixture's density against a brute-force sum, the VampPrior against its formula,
saving and loading, the Monte-Carlo KL, and training with each prior end to end."""
import json
import math

import pytest
import torch

from vae.runs.folder import CheckpointError, load_run, save_run
from vae.config import ConfigError, ModelConfig, RunConfig, TrainConfig
from vae.model.distributions import StandardNormal
from vae.model.networks import build_model
from vae.model.objectives import elbo, iwae_bound
from vae.model.priors import MixturePrior, VampPrior, kl_per_dim, prior_components
from vae.model.evaluation import evaluate_split
from vae.training.loop import fit


def _brute_mog(z, mu, logvar, logits):
    """log Σ_k w_k Π_d N(z_d; μ_kd, σ_kd²), one term at a time in float64 Python arithmetic."""
    w = [math.exp(v) for v in logits]
    w = [v / sum(w) for v in w]
    total = 0.0
    for k in range(len(w)):
        dens = w[k]
        for d in range(len(z)):
            var = math.exp(logvar[k][d])
            dens *= math.exp(-(z[d] - mu[k][d]) ** 2 / (2 * var)) / math.sqrt(2 * math.pi * var)
        total += dens
    return math.log(total)


def test_mixture_log_density_matches_a_brute_force_sum():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(4, 3, generator=g), 0.5 * torch.randn(4, 3, generator=g)
    logits = torch.randn(4, generator=g)
    prior = MixturePrior(mu.double(), logvar.double(), logits.double())
    z = 1.5 * torch.randn(2, 5, 3, generator=g, dtype=torch.float64)  # leading dims are kept
    got = prior.log_prob(z)
    assert got.shape == (2, 5)
    for i in range(2):
        for j in range(5):
            want = _brute_mog(z[i, j].tolist(), mu.tolist(), logvar.tolist(), logits.tolist())
            assert got[i, j].item() == pytest.approx(want, rel=1e-10, abs=1e-10)
    # each marginal p(z_d) is the 1-D mixture of the components' d-th coordinates
    marg = prior.log_prob_marginals(z[0])
    for d in range(3):
        want = _brute_mog([z[0, 1, d].item()], mu[:, d:d + 1].tolist(), logvar[:, d:d + 1].tolist(), logits.tolist())
        assert marg[1, d].item() == pytest.approx(want, rel=1e-10)


def test_mixture_density_is_chunked_without_changing_values(monkeypatch):
    import vae.model.priors as priors
    g = torch.Generator().manual_seed(1)
    prior = MixturePrior(torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g), torch.randn(7, generator=g))
    z = torch.randn(50, 4, generator=g)
    whole = prior.log_prob(z)
    monkeypatch.setattr(priors, "_CHUNK_ELEMENTS", 7 * 4 * 3)  # three rows per block
    assert torch.allclose(prior.log_prob(z), whole)


def test_mixture_samples_follow_its_weights_and_means():
    prior = MixturePrior(torch.tensor([[-4.0, 0.0], [4.0, 1.0]]), torch.full((2, 2), -4.0),
                         torch.log(torch.tensor([0.25, 0.75])))
    z = prior.sample(20_000, torch.Generator().manual_seed(0))
    right = (z[:, 0] > 0).double().mean().item()
    assert abs(right - 0.75) < 4 * math.sqrt(0.75 * 0.25 / 20_000)
    assert torch.allclose(z[z[:, 0] > 0].mean(0), torch.tensor([4.0, 1.0]), atol=0.01)
    again = prior.sample(5, torch.Generator().manual_seed(3))
    assert torch.equal(again, prior.sample(5, torch.Generator().manual_seed(3)))


def _model(prior, k=3, d=2):
    torch.manual_seed(0)
    return build_model(ModelConfig(latent_dim=d, hidden=[16], prior=prior, prior_components=k)).eval()


def test_vamp_prior_with_one_pseudo_input_equal_to_a_data_point_is_its_posterior():
    model = _model("vamp", k=1)
    x = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.prior_params.pseudo_inputs.copy_(x)
        q = model.encode(x)
        prior = model.prior
        assert isinstance(prior, VampPrior) and prior.components == 1
        z = torch.randn(100, 1, 2, generator=torch.Generator().manual_seed(1))
        # p(z) = (1/K) Σ_k q(z|u_k) with K = 1 and u_1 = x: exactly q(z|x)
        assert torch.allclose(prior.log_prob(z), q.log_prob(z), atol=1e-5)
        # so KL(q(z|x) ‖ p(z)) is 0, and every Monte-Carlo term of it is 0 too
        kl = q.kl_to(prior, n=64, generator=torch.Generator().manual_seed(2))
        assert not kl.exact and kl.method == "Monte Carlo"
        assert abs(kl.value.item()) < 1e-5 and kl.stderr.item() < 1e-5
        # with a second pseudo-input y, p(z) = ½ q(z|x) + ½ q(z|y)
        y = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(5))
        two = build_model(model.config.__class__(**{**model.config.__dict__, "prior_components": 2})).eval()
        two.load_state_dict({**model.state_dict(), "prior_params.pseudo_inputs": torch.cat([x, y])})
        qy = two.encode(y)
        want = torch.logaddexp(q.log_prob(z), qy.log_prob(z)) - math.log(2)
        assert torch.allclose(two.prior.log_prob(z), want, atol=1e-5)


def test_vamp_pseudo_inputs_stay_images_and_receive_gradients():
    model = _model("vamp")
    with torch.no_grad():
        model.prior_params.pseudo_inputs.fill_(2.0)
    assert model.prior.pseudo_inputs.max().item() == 1.0  # clamped to [0, 1]
    with torch.no_grad():
        model.prior_params.pseudo_inputs.uniform_(0.2, 0.8)
    t = elbo(model, torch.rand(8, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    t.loss.backward()
    assert model.prior_params.pseudo_inputs.grad.abs().sum() > 0


@pytest.mark.parametrize("prior", ["standard", "mog", "vamp"])
def test_every_prior_saves_and_loads(tmp_path, prior):
    model = _model(prior)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    cfg = RunConfig(model=model.config, train=TrainConfig(epochs=1))
    save_run(tmp_path / "run", model, cfg, [])
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["prior"] == prior
    run = load_run(tmp_path / "run")
    assert run.config.model.prior == prior and run.config.model.prior_components == 3
    assert run.model.state_dict().keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():
        assert torch.equal(run.model.state_dict()[k], v), k
    z = torch.randn(10, 2)
    assert torch.equal(run.model.prior.log_prob(z), model.prior.log_prob(z))
    assert type(run.model.prior) is type(model.prior)


def test_a_run_without_prior_settings_loads_as_standard_and_a_mismatch_is_refused(tmp_path):
    model = _model("standard")
    save_run(tmp_path / "old", model, RunConfig(model=model.config), [])
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    del cfg["model"]["prior"], cfg["model"]["prior_components"]  # as saved before priors existed
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    run = load_run(tmp_path / "old")
    assert run.config.model.prior == "standard" and isinstance(run.model.prior, StandardNormal)
    cfg["model"]["prior"] = "mog"  # the config claims a mixture the weights do not hold
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="missing tensors"):
        load_run(tmp_path / "old")


def test_prior_settings_are_validated_and_become_flags():
    for bad in ({"prior": "flow"}, {"prior": "mog", "prior_components": 0}, {"prior_components": 10**6},
                {"prior_components": 2.5}):
        with pytest.raises(ConfigError):
            ModelConfig(**bad).validate()
    with pytest.raises(ConfigError, match="free bits"):
        RunConfig(model=ModelConfig(prior="mog"), train=TrainConfig(free_bits=0.5)).validate()
    cfg = RunConfig(model=ModelConfig(prior="vamp", prior_components=7))
    argv = cfg.to_argv()
    assert "--prior=vamp" in argv and "--prior-components=7" in argv
    assert RunConfig.from_argv(argv).model == cfg.model
    assert "--prior" not in " ".join(RunConfig().to_argv())  # the default adds no flag


def test_kl_is_monte_carlo_on_the_reconstruction_draws_and_unbiased():
    model = _model("mog", k=4)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        q = model.encode(x)
        prior = model.prior
        # the ELBO's KL uses the very draws of the reconstruction term
        g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
        t = elbo(model, x, mc_samples=3, generator=g1)
        z = q.rsample(3, generator=g2)
        assert torch.allclose(t.kl, (q.log_prob(z) - prior.log_prob(z)).mean(0), atol=1e-5)
        assert t.kl_per_dim is None
        # many draws: the estimate settles on the value of a much larger one, within its error
        big = q.kl_to(prior, n=20_000, generator=torch.Generator().manual_seed(1))
        small = q.kl_to(prior, n=400, generator=torch.Generator().manual_seed(2))
        assert ((small.value - big.value).abs() < 4 * small.stderr + 1e-3).all()
        assert (big.value > -4 * big.stderr).all()  # a KL is ≥ 0
        per_dim = kl_per_dim(q, prior, n=2000, generator=torch.Generator().manual_seed(3))
        assert per_dim.shape == (6, 2) and (per_dim > -0.05).all()
    ev = evaluate_split(model, x, iwae_k=50)
    assert ev["kl_method"] == "Monte Carlo" and ev["kl_se"] > 0
    assert evaluate_split(_model("standard"), x)["kl_method"] == "closed form"
    assert torch.isfinite(iwae_bound(model, x, 20, generator=torch.Generator().manual_seed(0))).all()


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_training_with_a_learned_prior_runs_end_to_end(tmp_path, prior):
    from vae.data import load_dataset
    splits = load_dataset("digits", max_items=200)
    model = _model(prior, k=4, d=3)
    before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith("prior_params")}
    cfg = TrainConfig(epochs=2, batch_size=32, lr=5e-3)
    res = fit(model, splits.train.x, splits.test.x, cfg)
    assert res.state == "finished" and len(res.history) == 2
    assert all(math.isfinite(h["test_elbo"]) and h["test_kl"] > -0.5 for h in res.history)
    assert res.history[1]["test_elbo"] > res.history[0]["test_elbo"] - 1.0
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the prior itself was learned
    save_run(tmp_path / "r", model, RunConfig(model=model.config, train=cfg), res.history)
    back = load_run(tmp_path / "r")
    with torch.no_grad():
        s = back.model.mean_image(back.model.prior.sample(4, torch.Generator().manual_seed(0)))
    assert s.shape == (4, 1, 8, 8) and 0 <= s.min() and s.max() <= 1
    shown = prior_components(back.model)
    assert shown["kind"] == prior and shown["decoded"].shape == (4, 1, 8, 8)
    assert abs(sum(shown["weights"]) - 1) < 1e-5
    assert ("pseudo_inputs" in shown) == (prior == "vamp")
    assert prior_components(_model("standard")) == {}
