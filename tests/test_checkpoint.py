"""Run folders: save→load is identical; every bad file gives CheckpointError; names stay inside."""
import json
import pickle

import pytest
import torch

from vae.runs.folder import CheckpointError, load_run, read_state_dict, save_run
from vae.runs.catalog import list_runs, run_dir_for, sanitize_run_name, unique_run_dir
from vae.config import DataConfig, ModelConfig, RunConfig
from vae.model.networks import build_model


def _run(tmp_path, name="r"):
    torch.manual_seed(0)
    cfg = RunConfig(model=ModelConfig(image_size=4, latent_dim=3, hidden=[8]), data=DataConfig(image_size=4))
    m = build_model(cfg.model).eval()
    d = tmp_path / name
    save_run(d, m, cfg, [{"epoch": 1, "test_elbo": -3.5}], epoch=1)
    return d, m


def test_save_load_reproduces_outputs(tmp_path):
    d, m = _run(tmp_path)
    run = load_run(d)
    x = torch.rand(4, 1, 4, 4)
    assert not run.model.training
    assert torch.equal(run.model.encode(x).mean, m.encode(x).mean)
    assert torch.equal(run.model.decode(torch.ones(2, 3)), m.decode(torch.ones(2, 3)))
    assert run.history == [{"epoch": 1, "test_elbo": -3.5}]
    assert [r.name for r in list_runs(tmp_path)] == ["r"]
    assert not list((tmp_path / "r").glob(".*tmp*"))  # no temp files left behind


BAD_CONFIGS = {
    "not json": b"{nope",
    "not an object": b"[1, 2]",
    "unknown format": json.dumps({"format": "other", "model": {}}).encode(),
    "no model": json.dumps({"format": "vae-latent-explorer/1"}).encode(),
    "absurd latent": None, "negative hidden": None, "unknown arch": None, "unknown field": None,
    "huge model": None,
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_raises_checkpoint_error(tmp_path, case):
    d, _ = _run(tmp_path)
    raw = BAD_CONFIGS[case]
    if raw is None:
        cfg = json.loads((d / "config.json").read_text())
        edit = {"absurd latent": {"latent_dim": 10**6}, "negative hidden": {"hidden": [-4]},
                "unknown arch": {"arch": "transformer"}, "unknown field": {"colour": "red"},
                "huge model": {"hidden": [8192] * 8, "image_size": 64, "in_channels": 3}}[case]
        cfg["model"].update(edit)
        raw = json.dumps(cfg).encode()
    (d / "config.json").write_bytes(raw)
    with pytest.raises(CheckpointError):
        load_run(d)


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "missing"])
def test_bad_weights_raise_checkpoint_error(tmp_path, damage):
    d, _ = _run(tmp_path)
    w = d / "model.safetensors"
    raw = w.read_bytes()
    if damage == "missing":
        w.unlink()
    else:
        w.write_bytes({"truncated": raw[: len(raw) // 2], "random": bytes(range(256)) * 20, "empty": b""}[damage])
    with pytest.raises(CheckpointError):
        load_run(d)


def test_mismatched_weights_raise_checkpoint_error(tmp_path):
    d, _ = _run(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["latent_dim"] = 5  # weights were saved for D = 3
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="shape"):
        load_run(d)


def test_nan_weights_raise_checkpoint_error(tmp_path):
    from safetensors.torch import load_file, save_file
    d, _ = _run(tmp_path)
    sd = load_file(d / "model.safetensors")
    sd["fc_mu.bias"][0] = float("nan")
    save_file(sd, d / "model.safetensors")
    with pytest.raises(CheckpointError, match="finite"):
        load_run(d)


class _Evil:
    def __reduce__(self):
        import os
        return (os.system, ("touch /tmp/vae_pwned_by_pickle",))


def test_pickle_is_never_executed(tmp_path):
    import pathlib
    marker = pathlib.Path("/tmp/vae_pwned_by_pickle")
    marker.unlink(missing_ok=True)
    raw = pickle.dumps({"fc_mu.weight": _Evil()})
    for name in ("model.pt", "model.safetensors"):
        with pytest.raises(CheckpointError):
            read_state_dict(raw, name)
    assert not marker.exists()


def test_weights_only_pt_is_accepted(tmp_path):
    import io
    _, m = _run(tmp_path)
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    sd = read_state_dict(buf.getvalue(), "model.pt")
    assert set(sd) == set(m.state_dict())


@pytest.mark.parametrize("name", ["../evil", "/etc/passwd", "a/../../b", "..", "x\x00y\n", "rüstung run", "a" * 300])
def test_run_names_never_escape(tmp_path, name):
    try:
        p = run_dir_for(name, tmp_path)
    except CheckpointError:
        return
    assert p.parent == tmp_path.resolve()
    assert all(c.isalnum() or c in "._-" for c in p.name) and not p.name.startswith(".")


def test_existing_names_are_never_reused(tmp_path):
    d, _ = _run(tmp_path, "taken")
    p = unique_run_dir("taken", tmp_path)
    assert p != d and p.name == "taken-2" and not p.exists()
    with pytest.raises(CheckpointError):
        sanitize_run_name("../..")
