"""Issue 18, one device: mixed precision, torch.compile, CUDA graphs, the deferred divergence
check (the GPU's way, run here on the CPU), and where the data lives."""
import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vae.config import ConfigError, ModelConfig, RunConfig, TrainConfig
from vae.model.networks import build_model
from vae.training.step import low_precision, place_data
from vae.model.evaluation import evaluate_split
from vae.training.loop import fit

REPO = Path(__file__).resolve().parents[1]
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def _data():
    from vae.data import load_dataset
    s = load_dataset("digits", max_items=600)
    return s.train.x, s.test.x


def _train(**kw):
    torch.manual_seed(0)
    m = build_model(ModelConfig(image_size=8, latent_dim=6, hidden=[64]))
    xtr, xte = _data()
    dev = kw.pop("device", "cpu")
    m = m.to(dev)
    res = fit(m, xtr, xte, TrainConfig(epochs=3, batch_size=64, seed=3, **kw))
    return m, res, xte


def test_bf16_autocast_trains_the_networks_in_bf16_and_reports_the_same_float32_elbo():
    ref_model, ref, xte = _train()
    torch.manual_seed(0)
    m = build_model(ModelConfig(image_size=8, latent_dim=6, hidden=[64]))
    seen = []
    m.encoder[1].register_forward_hook(lambda mod, i, o: seen.append((mod.training, o.dtype)))
    m.decoder[0].register_forward_hook(lambda mod, i, o: seen.append((mod.training, o.dtype)))
    xtr, _ = _data()
    res = fit(m, xtr, xte, TrainConfig(epochs=3, batch_size=64, seed=3, amp="bf16"))
    assert res.state == "finished"
    assert {d for training, d in seen if training} == {torch.bfloat16}  # every training forward
    assert {d for training, d in seen if not training} == {torch.float32}  # every evaluation
    assert "forward" not in m.encoder.__dict__  # the patch is gone after training
    last = res.history[-1]
    # The reported ELBO is the float32 evaluation: the same number a plain evaluation gives.
    assert last["test_elbo"] == pytest.approx(evaluate_split(m, xte)["elbo"], abs=1e-9)
    assert abs(last["test_elbo"] - ref.history[-1]["test_elbo"]) < 0.5
    assert abs(last["train_elbo"] - ref.history[-1]["train_elbo"]) < 0.5


def test_low_precision_hands_back_float32_and_can_be_switched_off():
    m = build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16]))
    x = torch.rand(5, 1, 4, 4)
    with low_precision(m, "bf16", torch.device("cpu")) as switch:
        inner = []
        h = m.encoder[1].register_forward_hook(lambda mod, i, o: inner.append(o.dtype))
        assert m.encoder(x).dtype == torch.float32 and inner == [torch.bfloat16]
        switch["on"] = False
        m.encoder(x)
        assert inner[-1] == torch.float32
        h.remove()
    assert set(m.state_dict()) == set(build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16])).state_dict())


def test_fp16_with_loss_scaling_trains_to_the_same_elbo():
    _, ref, _ = _train()
    _, res, _ = _train(amp="fp16")
    assert res.state == "finished"
    assert abs(res.history[-1]["test_elbo"] - ref.history[-1]["test_elbo"]) < 0.5


def test_deferred_divergence_check_rolls_back_to_the_last_good_epoch():
    """The GPU's check (every sync_every steps, no read of the loss per batch), run on the CPU."""
    torch.manual_seed(0)
    m = build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16]))
    g = torch.Generator().manual_seed(1)
    xtr, xte = torch.rand(200, 1, 4, 4, generator=g), torch.rand(50, 1, 4, 4, generator=g)
    res = fit(m, xtr, xte, TrainConfig(epochs=1, batch_size=50, sync_every=3))
    good = copy.deepcopy(m.state_dict())
    bad = xtr.clone()
    bad[120:] = float("nan")  # two in five images: the next epoch goes bad in its first batches
    res = fit(m, bad, xte, TrainConfig(epochs=3, batch_size=50, sync_every=3), history=res.history)
    assert res.state == "diverged" and "epoch 2" in res.message and "kept the weights of epoch 1" in res.message
    assert len(res.history) == 1
    assert all(torch.equal(good[k], v) for k, v in m.state_dict().items())


def test_deferred_check_trains_exactly_like_the_per_step_check():
    _, a, _ = _train()
    _, b, _ = _train(sync_every=7)
    assert [h["test_elbo"] for h in a.history] == [h["test_elbo"] for h in b.history]


def test_stop_with_deferred_checks_keeps_the_last_completed_epoch():
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 12

    torch.manual_seed(0)
    m = build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16]))
    x = torch.rand(200, 1, 4, 4)
    saved = {}
    res = fit(m, x, x[:50], TrainConfig(epochs=5, batch_size=50, sync_every=5), should_stop=should_stop,
              on_epoch=lambda h, mm: saved.update(copy.deepcopy(mm.state_dict())))
    assert res.state == "stopped" and 1 <= len(res.history) < 5
    assert all(torch.equal(saved[k], v) for k, v in m.state_dict().items())


def test_place_data_keeps_cpu_data_as_it_is():
    x = torch.rand(10, 1, 4, 4)
    y, where = place_data(x, torch.device("cpu"))
    assert y is x and where == "in memory"


@needs_cuda
def test_place_data_on_cuda_keeps_a_small_split_on_the_device():
    y, where = place_data(torch.rand(100, 1, 8, 8), torch.device("cuda"))
    assert y.device.type == "cuda" and where.startswith("on the GPU")


def test_cuda_graph_on_cpu_is_a_clear_error(tmp_path):
    m = build_model(ModelConfig(image_size=4, latent_dim=3, hidden=[16]))
    with pytest.raises(ValueError, match="CUDA device"):
        fit(m, torch.rand(20, 1, 4, 4), torch.rand(5, 1, 4, 4), TrainConfig(epochs=1, cuda_graph=True))
    r = subprocess.run([sys.executable, "-m", "vae.train", "--dataset", "digits", "--device", "cpu", "--epochs", "1",
                        "--cuda-graph", "--out", str(tmp_path / "run")], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert "error: --cuda-graph captures the training step on a CUDA device" in r.stderr
    assert not (tmp_path / "run").exists()


def test_option_combinations_that_cannot_work_are_refused():
    with pytest.raises(ConfigError, match="cannot be combined"):
        TrainConfig(cuda_graph=True, compile=True).validate()
    with pytest.raises(ConfigError, match="fp16"):
        TrainConfig(cuda_graph=True, amp="fp16").validate()
    with pytest.raises(ConfigError, match="amp"):
        TrainConfig(amp="fp8").validate()


def test_flags_reach_the_config_and_a_run_records_how_it_was_trained(tmp_path):
    cfg = RunConfig.from_argv(["--amp", "bf16", "--compile", "--sync-every", "9"])
    assert (cfg.train.amp, cfg.train.compile, cfg.train.cuda_graph, cfg.train.sync_every) == ("bf16", True, False, 9)
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "vae.train", "--dataset", "digits", "--max-items", "300", "--epochs", "1",
                        "--hidden", "32", "--amp", "bf16", "--out", str(out)], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    train = json.loads((out / "config.json").read_text())["train"]
    assert (train["amp"], train["world_size"], train["backend"], train["device_kind"]) == ("bf16", 1, "none", "cpu")
    from vae.runs.folder import load_run
    assert load_run(out).config.train.amp == "bf16"


def test_a_config_from_before_these_fields_still_loads():
    d = RunConfig().to_dict()
    for k in ("amp", "compile", "cuda_graph", "sync_every", "world_size", "backend", "device_kind"):
        del d["train"][k]
    cfg = RunConfig.from_dict(d)
    assert (cfg.train.world_size, cfg.train.device_kind, cfg.train.amp) == (1, "unknown", "off")


@pytest.mark.slow
def test_torch_compile_trains_to_the_same_elbo():
    _, ref, _ = _train()
    m, res, xte = _train(compile=True)
    assert res.state == "finished"
    assert abs(res.history[-1]["test_elbo"] - ref.history[-1]["test_elbo"]) < 0.5
    assert res.history[-1]["test_elbo"] == pytest.approx(evaluate_split(m, xte)["elbo"], abs=1e-9)


@needs_cuda
@pytest.mark.parametrize("amp", ["off", "bf16"])
def test_cuda_graph_trains_to_the_same_elbo(amp):
    _, ref, _ = _train(device="cuda", amp=amp)
    _, res, _ = _train(device="cuda", amp=amp, cuda_graph=True)
    assert res.state == "finished"
    assert abs(res.history[-1]["test_elbo"] - ref.history[-1]["test_elbo"]) < 0.5


@needs_cuda
def test_cuda_training_matches_the_cpu_elbo():
    _, ref, _ = _train()
    _, res, _ = _train(device="cuda")
    assert abs(res.history[-1]["test_elbo"] - ref.history[-1]["test_elbo"]) < 0.5
