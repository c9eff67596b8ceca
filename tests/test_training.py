"""The training loop: a step changes weights, eval does not, determinism, NaN guard, stop."""
import copy
import math

import torch

from vae.config import ModelConfig, TrainConfig
from vae.model.networks import build_model
from vae.model.evaluation import evaluate_split
from vae.training.loop import fit


def _setup(seed=0):
    torch.manual_seed(seed)
    m = build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16]))
    g = torch.Generator().manual_seed(1)
    return m, torch.rand(200, 1, 4, 4, generator=g), torch.rand(50, 1, 4, 4, generator=g)


def test_train_step_changes_weights_and_eval_does_not():
    m, xtr, xte = _setup()
    before = copy.deepcopy(m.state_dict())
    evaluate_split(m, xte)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())
    fit(m, xtr, xte, TrainConfig(epochs=1, batch_size=50))
    assert any(not torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_history_records_and_improvement():
    m, xtr, xte = _setup()
    res = fit(m, xtr, xte, TrainConfig(epochs=5, batch_size=20, lr=5e-3))
    assert res.state == "finished" and [h["epoch"] for h in res.history] == [1, 2, 3, 4, 5]
    h = res.history[-1]
    for k in ("train_elbo", "train_rec", "train_kl", "test_elbo", "test_rec", "test_kl", "kl_per_dim",
              "active_units", "seconds", "beta"):
        assert k in h
    assert abs(h["test_elbo"] - (h["test_rec"] - h["test_kl"])) < 1e-3
    assert abs(sum(h["kl_per_dim"]) - h["test_kl"]) < 1e-3
    assert res.history[-1]["test_elbo"] > res.history[0]["test_elbo"]


def test_seeded_training_is_reproducible():
    runs = []
    for _ in range(2):
        m, xtr, xte = _setup(seed=7)
        torch.manual_seed(7)
        runs.append(fit(m, xtr, xte, TrainConfig(epochs=2, batch_size=32, seed=7)).history[-1]["test_elbo"])
    assert runs[0] == runs[1]


def test_kl_warmup_ramps_beta():
    m, xtr, xte = _setup()
    res = fit(m, xtr, xte, TrainConfig(epochs=4, batch_size=50, kl_warmup=2, beta=2.0))
    betas = [h["beta"] for h in res.history]
    assert 0 < betas[0] < 2.0 and betas[-1] == 2.0


def test_nan_loss_keeps_last_good_weights():
    m, xtr, xte = _setup()
    res = fit(m, xtr, xte, TrainConfig(epochs=1, batch_size=50))
    good = copy.deepcopy(m.state_dict())
    bad = xtr.clone()
    bad[-10:] = float("nan")  # the loss becomes NaN in epoch 2
    res = fit(m, bad, xte, TrainConfig(epochs=3, batch_size=10), history=res.history)
    assert res.state == "diverged" and "epoch 1" in res.message
    assert all(torch.equal(good[k], v) for k, v in m.state_dict().items())


def test_stop_request_keeps_last_completed_epoch():
    m, xtr, xte = _setup()
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 6  # during epoch 2 (4 batches per epoch)

    saved = {}
    res = fit(m, xtr, xte, TrainConfig(epochs=5, batch_size=50), should_stop=should_stop,
              on_epoch=lambda hist, model: saved.update(copy.deepcopy(model.state_dict())))
    assert res.state == "stopped" and len(res.history) == 1
    assert all(torch.equal(saved[k], v) for k, v in m.state_dict().items())


def test_training_with_the_score_function_reports_the_true_elbo():
    """--estimator changes only the gradient: the records hold rec − KL, comparable across estimators."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(96, 1, 4, 4, generator=g) > 0.5).float()
    results = {}
    for est in ("reparam", "score_baseline"):
        torch.manual_seed(0)
        m = build_model(ModelConfig(image_size=4, latent_dim=2, hidden=[8]))
        before = [p.detach().clone() for p in m.parameters()]
        r = fit(m, x[:64], x[64:], TrainConfig(epochs=2, batch_size=16, estimator=est))
        assert r.state == "finished" and len(r.history) == 2
        assert any(not torch.equal(a, b) for a, b in zip(before, m.parameters()))  # it trained
        rec = r.history[-1]
        assert math.isclose(rec["test_elbo"], rec["test_rec"] - rec["test_kl"], rel_tol=1e-9, abs_tol=1e-9)
        assert math.isclose(rec["test_elbo"], evaluate_split(m, x[64:])["elbo"], rel_tol=1e-9)
        results[est] = rec["test_elbo"]
    assert results["reparam"] != results["score_baseline"]  # different gradients, different models
