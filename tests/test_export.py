"""The decoder outside PyTorch (vae/export.py): the ONNX file against PyTorch in onnxruntime, and the
browser decoder's layer list, whose arithmetic (reference_decode, which decoder.js follows) must give
PyTorch's E[x|z]."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from vae.limits import BudgetError
from vae.runs.folder import load_run
from vae.config import ModelConfig
from vae.export.onnx import OPSET, Unsupported, check_onnx, decoder_spec, onnx_bytes, run_onnx
from vae.model.networks import build_model

REPO = Path(__file__).resolve().parents[1]
COMMITTED = [p.parent.name for p in sorted((REPO / "checkpoints").glob("*/model.safetensors"))]


def reference_decode(spec: dict, weights: bytes, z: list[float]) -> list[float]:
    """The browser decoder's arithmetic in float64 (numpy), from the spec alone: the specification the
    JavaScript (ui/components/assets/decoder.js) follows, tested against ``model.mean_image``.
    z: (D,) -> C·H·W values in [0, 1]."""
    wts = np.frombuffer(weights, dtype="<f4").astype(np.float64)
    x = np.asarray(z, dtype=np.float64)
    for L in spec["layers"]:
        if L["op"] == "linear":
            W = wts[L["w"]:L["w"] + L["n_in"] * L["n_out"]].reshape(L["n_out"], L["n_in"])
            x = W @ x + (wts[L["b"]:L["b"] + L["n_out"]] if L["b"] >= 0 else 0.0)
        elif L["op"] == "relu":
            x = np.maximum(x, 0.0)
        elif L["op"] == "unflatten":
            x = x.reshape(L["shape"])
        elif L["op"] == "convt":
            ci, co, k, s, p = L["c_in"], L["c_out"], L["k"], L["stride"], L["pad"]
            W = wts[L["w"]:L["w"] + ci * co * k * k].reshape(ci, co, k, k)
            full = np.zeros((co, (L["h_in"] - 1) * s + k, (L["w_in"] - 1) * s + k))
            for i in range(L["h_in"]):
                for j in range(L["w_in"]):
                    full[:, i * s:i * s + k, j * s:j * s + k] += np.einsum("c,cokl->okl", x[:, i, j], W)
            out = np.zeros((co, L["h_out"], L["w_out"]))  # output padding: extra zero rows/columns
            hh, ww = min(L["h_out"], full.shape[1] - p), min(L["w_out"], full.shape[2] - p)
            out[:, :hh, :ww] = full[:, p:p + hh, p:p + ww]
            x = out + (wts[L["b"]:L["b"] + co][:, None, None] if L["b"] >= 0 else 0.0)
    x = np.asarray(x).reshape(-1)
    return (1.0 / (1.0 + np.exp(-x))).tolist()


def fresh(arch: str, likelihood: str, size: int = 28, latent: int = 5, hidden=(64,), seed: int = 0):
    torch.manual_seed(seed)
    m = build_model(ModelConfig(arch=arch, image_size=size, latent_dim=latent, hidden=list(hidden),
                                likelihood=likelihood))
    return m.eval()


MODELS = [("mlp", "bernoulli", 8), ("mlp", "gaussian", 28), ("conv", "bernoulli", 28), ("conv", "gaussian", 32),
          ("conv", "bernoulli", 64)]


@pytest.mark.parametrize("arch,likelihood,size", MODELS)
def test_onnx_export_matches_pytorch_in_onnxruntime(arch, likelihood, size):
    model = fresh(arch, likelihood, size)
    data = onnx_bytes(model)
    proto = onnx.load_from_string(data)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= OPSET >= 17
    assert check_onnx(model, data) < 1e-5
    # A batch of another size runs too (dynamic batch axis), and the output is an image in [0, 1].
    out = run_onnx(data, torch.randn(3, model.latent_dim))
    assert out.shape == (3, *model.image_shape) and 0 <= float(out.min()) and float(out.max()) <= 1


@pytest.mark.parametrize("name", [n for n in COMMITTED if n in ("digits-default", "mnist-default")])
def test_onnx_export_of_committed_mlp_and_conv_runs(name):
    model = load_run(REPO / "checkpoints" / name).model  # read only: nothing is written there
    assert model.config.arch == {"digits-default": "mlp", "mnist-default": "conv"}[name]
    assert check_onnx(model, onnx_bytes(model), n=32) < 1e-5


def test_onnx_export_refused_over_budget(monkeypatch):
    monkeypatch.setenv("VAE_MAX_EXPORT_PARAMS", "100")
    with pytest.raises(BudgetError, match="VAE_MAX_EXPORT_PARAMS"):
        onnx_bytes(fresh("mlp", "bernoulli", 8))


@pytest.mark.parametrize("arch,likelihood,size", MODELS)
def test_browser_spec_arithmetic_matches_mean_image(arch, likelihood, size):
    model = fresh(arch, likelihood, size, seed=1)
    spec, weights = decoder_spec(model)
    assert spec["likelihood"] == likelihood and len(weights) == 4 * spec["n_weights"]
    assert spec["n_weights"] == sum(p.numel() for p in model.decoder.parameters())
    g = torch.Generator().manual_seed(3)
    for z in 2.5 * torch.randn(4, model.latent_dim, generator=g):
        ref = model.mean_image(z[None])[0].reshape(-1)
        got = torch.tensor(reference_decode(spec, weights, z.tolist()), dtype=torch.float32)
        assert float((got - ref).abs().max()) < 1e-5


def test_spec_hash_follows_the_weights():
    a, b = fresh("mlp", "bernoulli", 8, seed=0), fresh("mlp", "bernoulli", 8, seed=0)
    assert decoder_spec(a)[0]["hash"] == decoder_spec(b)[0]["hash"]
    with torch.no_grad():
        b.decoder[0].bias[0] += 1e-3
    assert decoder_spec(a)[0]["hash"] != decoder_spec(b)[0]["hash"]


def test_a_layer_the_browser_lacks_is_refused_by_name(monkeypatch):
    model = fresh("mlp", "bernoulli", 8)
    model.decoder[1] = nn.Tanh()
    with pytest.raises(Unsupported, match="Tanh"):
        decoder_spec(model)
    monkeypatch.setenv("VAE_MAX_BROWSER_WEIGHTS", "10")
    with pytest.raises(Unsupported, match="VAE_MAX_BROWSER_WEIGHTS"):
        decoder_spec(fresh("mlp", "bernoulli", 8))


def test_images_for_the_browser_are_rounded_as_the_server_shows_them():
    import numpy as np
    from vae.export.onnx import images_u8
    from vae.export.images import to_pil
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 1, 8, 8, generator=g) * 1.2 - 0.1  # a little outside [0, 1] too
    raw = np.frombuffer(images_u8(x, [3, 1]), dtype=np.uint8).reshape(2, 8, 8)
    assert (raw[0] == np.array(to_pil(x[3]))).all() and (raw[1] == np.array(to_pil(x[1]))).all()
