"""Flow, categorical and Dirichlet posteriors (issue 19): densities, KLs, gradients, bounds, save → load."""
import math

import pytest
import torch
from scipy import stats

from vae.runs.folder import load_run, save_run
from vae.config import ConfigError, ModelConfig, RunConfig, TrainConfig, temperature_at
from vae.model.distributions import DiagonalGaussian, StandardNormal
from vae.model.flows import IAF, PlanarFlow
from vae.model.networks import build_model
from vae.model.objectives import elbo, iwae_bound
from vae.model.posteriors import (CategoricalPosterior, DirichletPosterior, FlowPosterior,
    SymmetricDirichlet, UniformCategorical)
from vae.model.evaluation import encode_all
from vae.training.loop import fit

KINDS = ("gaussian", "planar", "iaf", "categorical", "dirichlet")


def _model(kind, steps=3, seed=0, d=3):
    torch.manual_seed(seed)
    return build_model(ModelConfig(posterior=kind, latent_dim=d, flow_steps=steps, categories=4, hidden=[32]))


def _data(n=64, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 8, 8, generator=g) > 0.5).float()


@pytest.mark.parametrize("flow_cls", [PlanarFlow, IAF])
def test_flow_log_det_matches_brute_force_jacobian(flow_cls):
    torch.manual_seed(0)
    d, width = 5, 7
    flow = flow_cls(d, 3, width).double()
    with torch.no_grad():  # move away from the near-identity start so the Jacobian is not trivial
        for p in flow.parameters():
            p.add_(0.3 * torch.randn_like(p))
    ctx = flow.context(torch.randn(4, width, dtype=torch.float64))
    z0 = torch.randn(4, d, dtype=torch.float64)
    _, logdet, per_dim = flow(z0, ctx)
    for b in range(4):
        jac = torch.autograd.functional.jacobian(lambda z: flow(z[None], ctx[b:b + 1])[0][0], z0[b])
        want = torch.linalg.slogdet(jac)[1]
        assert torch.allclose(logdet[b], want, atol=1e-9), (flow_cls, b)
        if per_dim is not None:  # IAF: the determinant is a product over dimensions
            assert torch.allclose(per_dim[b].sum(), want, atol=1e-9)


@pytest.mark.parametrize("kind", ["planar", "iaf"])
def test_zero_step_flow_is_exactly_the_gaussian(kind):
    m = _model(kind, steps=0)
    x = _data(8)
    q = m.encode(x)
    assert isinstance(q, FlowPosterior)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    z, log_q = q.rsample_with_log_prob(5, g1)
    z_g, log_q_g = q.base.rsample_with_log_prob(5, g2)
    assert torch.equal(z, z_g) and torch.equal(log_q, log_q_g)
    # the same log q as the Gaussian's density at those points
    assert torch.allclose(log_q, q.base.log_prob(z).double(), atol=1e-4)


def test_flow_log_q_is_the_density_of_its_samples():
    """Planar flow in 1-D, bent well away from a Gaussian: if log q is the density of the samples,
    E_q[1{z ∈ I} / q(z)] = |I| for every interval I (an unbiased identity; checked within 4 s.e.)."""
    flow = PlanarFlow(1, 2, 1)
    with torch.no_grad():
        flow.head.bias.copy_(torch.tensor([2.0, 1.5, 3.0, -2.0, 0.5, -0.3]))
    q = FlowPosterior(torch.zeros(1, 1), torch.zeros(1, 1), flow.context(torch.zeros(1, 1)), flow, "planar")
    with torch.no_grad():
        z, log_q = q.rsample_with_log_prob(400_000, torch.Generator().manual_seed(0))
    z, inv_dens = z[:, 0, 0].double(), (-log_q[:, 0]).exp()
    for lo, hi in [(-2.0, -1.0), (-1.0, 0.0), (0.0, 0.5), (0.5, 2.0)]:
        terms = ((z >= lo) & (z < hi)).double() * inv_dens
        se = terms.std() / math.sqrt(len(terms))
        assert abs(terms.mean().item() - (hi - lo)) < 4 * se.item() + 1e-3, (lo, hi, terms.mean().item())


def test_planar_constraint_holds_after_training():
    m = _model("planar", steps=4)
    x = _data(128)
    fit(m, x, x[:32], TrainConfig(epochs=3, batch_size=32, lr=1e-2, seed=0))
    with torch.no_grad():
        q = m.encode(x)
        u_hat, w, _ = m.flow.unpack(q.ctx)
        raw_u = q.ctx[:, :4 * 3].reshape(-1, 4, 3)
    assert ((w * u_hat).sum(-1) > -1).all()
    assert not torch.equal(u_hat, raw_u)  # the constraint is applied, not bypassed


def test_gumbel_softmax_argmax_matches_pi_and_hardens_as_tau_falls():
    pi = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05])
    q = CategoricalPosterior(pi.log()[None, None], temperature=1.0)
    n = 20_000
    y = q.rsample(n, torch.Generator().manual_seed(0))[:, 0]  # (n, K)
    counts = torch.bincount(y.argmax(-1), minlength=5).numpy()
    assert stats.chisquare(counts, (pi * n).numpy()).pvalue > 1e-3
    # y matches torch's Concrete distribution: its log-density is finite and the mean max grows as τ → 0
    assert torch.isfinite(q.relaxed(1.0).log_prob(y[:100, None])).all()
    maxes = [q.rsample(2000, torch.Generator().manual_seed(1), temperature=t).max(-1).values.mean().item()
             for t in (2.0, 0.5, 0.1, 0.01)]
    assert maxes == sorted(maxes) and maxes[-1] > 0.99 and maxes[0] < 0.8


def test_straight_through_is_one_hot_forward_with_relaxed_gradient():
    logits = torch.randn(2, 3, 4, requires_grad=True)
    q = CategoricalPosterior(logits, temperature=0.5, straight_through=True)
    y, hard = q.relaxed_and_hard(1, torch.Generator().manual_seed(0))
    assert torch.equal(y, hard)
    (y * torch.arange(12.0)).sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_categorical_kl_closed_form():
    logits = torch.randn(6, 3, 5)
    q = CategoricalPosterior(logits)
    p = torch.softmax(logits, -1)
    want = (p * torch.log(5 * p)).sum(-1)
    kl = q.kl_to(UniformCategorical(3, 5))
    assert kl.exact and torch.allclose(kl.per_dim, want, atol=1e-6)
    assert (kl.per_dim <= math.log(5) + 1e-6).all()
    # and equals E_q[log q(z) − log p(z)] over hard samples
    z, log_q = q.sample_with_log_prob(20_000, torch.Generator().manual_seed(0))
    mc = (log_q - UniformCategorical(3, 5).log_prob(z).double()).mean(0)
    assert torch.allclose(mc.float(), kl.value, atol=0.05)


def test_implicit_gradient_of_gamma_mean_is_one():
    alpha = torch.full((40_000,), 2.5, requires_grad=True)
    torch.manual_seed(0)
    z = torch.distributions.Gamma(alpha, torch.ones(())).rsample()
    z.sum().backward()  # each draw's dz/dα: E = ∂E[z]/∂α = ∂(α/β)/∂α = 1
    g = alpha.grad
    se = g.std() / math.sqrt(len(g))
    assert abs(g.mean().item() - 1.0) < 4 * se.item()


def test_dirichlet_posterior_gradient_and_kl():
    alpha = torch.tensor([[2.0, 3.0, 5.0]], requires_grad=True)
    q = DirichletPosterior(alpha)
    z = q.rsample(50_000, torch.Generator().manual_seed(0))
    z[..., 0].mean().backward()  # E[z_1] = α_1/α_0: gradient (α_0 − α_1, −α_1, −α_1)/α_0²
    want = torch.tensor([8.0, -2.0, -2.0]) / 100
    assert torch.allclose(alpha.grad[0], want, atol=0.004)
    prior = SymmetricDirichlet(3, 0.7)
    kl = q.detach().kl_to(prior)
    z, log_q = q.detach().sample_with_log_prob(100_000, torch.Generator().manual_seed(1))
    terms = log_q - prior.log_prob(z.double())
    se = terms.std(0) / math.sqrt(terms.shape[0])
    assert kl.exact and abs(kl.value.item() - terms.mean().item()) < 4 * se.item()


def test_dirichlet_samples_are_reproducible_and_leave_the_global_rng_alone():
    q = DirichletPosterior(torch.tensor([[1.0, 2.0, 3.0]]))
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    a = q.rsample(3, torch.Generator().manual_seed(9))
    after = torch.rand(1)
    b = q.rsample(3, torch.Generator().manual_seed(9))
    assert torch.equal(a, b) and torch.equal(before, after)


@pytest.mark.parametrize("kind", KINDS)
def test_iwae_is_above_the_elbo_and_rises_with_k(kind):
    m = _model(kind)
    x = _data(64)
    fit(m, x, x[:16], TrainConfig(epochs=2, batch_size=32, seed=0))
    m.eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        el = torch.stack([elbo(m, x, mc_samples=50, generator=gen).elbo for _ in range(4)]).mean().item()
    b = [iwae_bound(m, x, k, generator=torch.Generator().manual_seed(1)).mean().item() for k in (1, 10, 200)]
    assert abs(b[0] - el) < 0.5  # K = 1 is an ELBO estimate
    assert b[1] > b[0] and b[2] > b[1], b
    assert b[2] >= el


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_reproduces_outputs(kind, tmp_path):
    m = _model(kind)
    x = _data(32)
    cfg = RunConfig(model=m.config, train=TrainConfig(epochs=1, batch_size=16, temperature=2.0,
                                                      temperature_anneal=0.5))
    res = fit(m, x, x[:16], cfg.train)
    save_run(tmp_path / "run", m, cfg, res.history, epoch=1)
    loaded = load_run(tmp_path / "run").model
    m.eval(), loaded.eval()
    assert loaded.config.posterior == kind
    with torch.no_grad():
        for a, b in zip(m.encode(x).params(), loaded.encode(x).params()):
            assert torch.equal(a, b)
        for mod in (m, loaded):
            mod.out = elbo(mod, x, mc_samples=3, generator=torch.Generator().manual_seed(2)).elbo
            mod.iw = iwae_bound(mod, x, 20, generator=torch.Generator().manual_seed(3))
            mod.mean = mod.encode(x).mean
    assert torch.equal(m.out, loaded.out) and torch.equal(m.iw, loaded.iw) and torch.equal(m.mean, loaded.mean)
    if kind == "categorical":
        assert float(loaded.temperature) == pytest.approx(2.0)  # epoch 1 of the schedule


def test_old_gaussian_config_loads_and_options_are_validated():
    d = RunConfig().to_dict()
    for k in ("posterior", "flow_steps", "categories", "prior_concentration"):
        d["model"].pop(k)
    assert RunConfig.from_dict(d).model.posterior == "gaussian"
    bad = RunConfig().to_dict()
    bad["model"]["posterior"] = "<script>"
    with pytest.raises(ConfigError, match="unknown posterior"):
        RunConfig.from_dict(bad)
    with pytest.raises(ConfigError, match="estimator"):
        RunConfig(model=ModelConfig(posterior="iaf"), train=TrainConfig(estimator="score")).validate()
    with pytest.raises(ConfigError, match="free bits"):
        RunConfig(model=ModelConfig(posterior="dirichlet"), train=TrainConfig(free_bits=0.5)).validate()
    argv = RunConfig(model=ModelConfig(posterior="categorical", categories=7),
                     train=TrainConfig(temperature=2.0, straight_through=True)).to_argv()
    back = RunConfig.from_argv(argv)
    assert back.model.categories == 7 and back.train.straight_through and back.train.temperature == 2.0


def test_temperature_schedule():
    t = TrainConfig(temperature=2.0, temperature_min=0.5, temperature_anneal=0.5)
    assert temperature_at(t, 1) == 2.0
    assert temperature_at(t, 2) == pytest.approx(2.0 * math.exp(-0.5))
    assert temperature_at(t, 100) == 0.5


@pytest.mark.parametrize("kind", ["iaf", "categorical", "dirichlet"])
def test_encode_all_concatenates_posteriors(kind):
    m = _model(kind)
    x = _data(10)
    q = encode_all(m, x, batch_size=3)
    assert type(q) is type(m.encode(x))
    with torch.no_grad():
        assert torch.allclose(q.mean, m.encode(x).mean, atol=1e-6)


def test_flow_kl_per_dim_sums_to_its_kl():
    m = _model("iaf")
    with torch.no_grad():
        q = m.encode(_data(4))
        per, se, se_total = q.kl_per_dim_mc(StandardNormal(3), n=2000, generator=torch.Generator().manual_seed(0))
        kl = q.kl_to(StandardNormal(3), n=2000, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(per.sum(-1).float(), kl.value, atol=1e-4)  # the same draws: the split adds up
    assert torch.allclose(se_total.float(), kl.stderr, rtol=1e-3)
    assert (se > 0).all()
    planar = _model("planar").encode(_data(4))
    assert planar.kl_per_dim_mc(StandardNormal(3)) is None


def test_gaussian_posterior_and_weights_unchanged():
    m = _model("gaussian")
    assert isinstance(m.encode(_data(2)), DiagonalGaussian)
    assert {k.split(".")[0] for k in m.state_dict()} == {"encoder", "fc_mu", "fc_logvar", "decoder"}


@pytest.mark.parametrize("kind", ["iaf", "categorical"])
def test_evaluate_cli_reports_au_and_mi_not_defined(kind, tmp_path, capsys):
    from vae.config import DataConfig
    from vae.data import load_dataset
    from vae.evaluate import main
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(posterior=kind, latent_dim=3, categories=4, hidden=[32], flow_steps=2),
                    train=TrainConfig(epochs=1), data=DataConfig(name="digits"))
    model = build_model(cfg.model)
    x = load_dataset("digits").test.x
    res = fit(model, x[:128], x[:32], cfg.train)
    save_run(tmp_path / "run", model, cfg, res.history, epoch=1)
    assert main([str(tmp_path / "run"), "--iwae", "5"]) == 0
    out = capsys.readouterr().out
    assert "active units and I_q(x; z): not defined" in out and "IWAE (K=5" in out
