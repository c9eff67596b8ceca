"""Model shapes, the pytorch/examples architecture, and the layering rule."""
import subprocess
import sys

import pytest
import torch

from vae.config import ConfigError, ModelConfig
from vae.model.distributions import DiagonalGaussian
from vae.model.networks import ConvTransposeAsConv, build_model


@pytest.mark.parametrize("arch,size,channels", [("mlp", 8, 1), ("mlp", 28, 3), ("conv", 28, 1), ("conv", 32, 3),
                                                ("conv", 64, 1)])
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_shapes(arch, size, channels, likelihood):
    m = build_model(ModelConfig(arch=arch, image_size=size, in_channels=channels, latent_dim=4, hidden=[32],
                                likelihood=likelihood))
    x = torch.rand(2, channels, size, size)
    out = m(x)
    assert out.x_param.shape == x.shape
    assert out.posterior.mu.shape == out.posterior.logvar.shape == out.z.shape == (2, 4)
    assert m.decode(torch.zeros(3, 5, 4)).shape == (3, 5, channels, size, size)
    img = m.mean_image(out.z)
    assert img.min() >= 0 and img.max() <= 1


@pytest.mark.parametrize("c_in,c_out,side", [(32, 1, 14), (16, 3, 5), (8, 32, 7)])
def test_a_transposed_convolution_rewritten_as_a_convolution_computes_the_same(c_in, c_out, side):
    torch.manual_seed(0)
    ct = torch.nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1).double()
    x = torch.randn(3, c_in, side, side, dtype=torch.float64, requires_grad=True)
    fast = ConvTransposeAsConv(ct)
    y, y_fast = ct(x), fast(x)
    assert y_fast.shape == y.shape == (3, c_out, 2 * side, 2 * side)
    assert torch.allclose(y_fast, y, atol=1e-12)
    g = torch.randn_like(y)
    grad, = torch.autograd.grad(y, x, g)
    grad_fast, = torch.autograd.grad(y_fast, x, g)
    assert torch.allclose(grad_fast, grad, atol=1e-12)
    assert not list(fast.parameters())  # copies of the weights, never trained
    with pytest.raises(ValueError, match="kernel 4, stride 2"):
        ConvTransposeAsConv(torch.nn.ConvTranspose2d(c_in, c_out, 3, stride=1, padding=1))


@pytest.mark.parametrize("arch,size,channels", [("mlp", 28, 1), ("conv", 28, 1), ("conv", 32, 3), ("conv", 64, 1)])
def test_the_inference_decoder_is_the_decoder(arch, size, channels):
    m = build_model(ModelConfig(arch=arch, image_size=size, in_channels=channels, latent_dim=4, hidden=[32])).eval()
    dec = m.inference_decoder()
    if arch == "conv":  # the last layer (few channels) is rewritten
        assert isinstance(dec[-1], ConvTransposeAsConv)
    x = torch.rand(5, channels, size, size).round()
    z = torch.randn(2, 5, 4)
    with torch.no_grad():
        assert torch.allclose(m.log_px(x, z, dec), m.log_px(x, z), rtol=1e-5, atol=1e-3)


def test_mlp_is_the_pytorch_examples_vae():
    m = build_model(ModelConfig(arch="mlp", image_size=28, latent_dim=20, hidden=[400]))
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    # fc1 784→400, fc21/fc22 400→20, fc3 20→400, fc4 400→784
    assert sorted(shapes.values()) == sorted([(400, 784), (400,), (20, 400), (20,), (20, 400), (20,),
                                              (400, 20), (400,), (784, 400), (784,)])


def test_reparameterize_is_mu_plus_sigma_eps():
    """The posterior the encoder returns samples z = μ + σ·ε."""
    torch.manual_seed(0)
    mu, lv = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 2 * torch.log(torch.tensor(3.0))]])
    z = DiagonalGaussian(mu, lv).rsample(100_000)
    assert torch.allclose(z.mean((0, 1)), mu[0], atol=0.03)
    assert torch.allclose(z.std((0, 1)), torch.tensor([1.0, 3.0]), atol=0.03)


@pytest.mark.parametrize("bad", [dict(latent_dim=10**6), dict(latent_dim=-1), dict(hidden=[-5]), dict(arch="rnn"),
                                 dict(arch="conv", image_size=8), dict(in_channels=2), dict(hidden=[])])
def test_bad_configs_are_refused(bad):
    with pytest.raises(ConfigError):
        build_model(ModelConfig(**bad))


def test_vae_package_never_imports_streamlit():
    code = ("import sys, importlib, pkgutil; sys.modules['streamlit'] = None\n"
            "import vae\n"
            "mods = [m.name for m in pkgutil.iter_modules(vae.__path__)]\n"
            "[importlib.import_module('vae.' + m) for m in mods]\n"
            "assert 'streamlit' not in [k for k, v in sys.modules.items() if v is not None]\n"
            "print(len(mods))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) >= 10
