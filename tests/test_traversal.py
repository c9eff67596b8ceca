"""Tests for vae.analysis.traversal: shapes, endpoints and invariants; tiny, seeded, CPU-only."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from vae.config import ModelConfig
from vae.model.networks import build_model
from vae.model.distributions import DiagonalGaussian
from vae.analysis import traversal as tv
from vae.analysis.traversal import (AggregatePosterior, aggregate_log_density, aggregate_posterior,
    cell_factor, decode_images, decode_one, density_check, dimension_axes, dimension_info, focus_first,
    grid_latents, grid_traversal, interpolation_latents, interpolation_strip, lerp, principal_axes, slerp,
    strip_sheet, traversal_latents, traversal_strips, traversal_values)

DEFAULT_RUN = Path(__file__).resolve().parents[1] / "checkpoints" / "digits-default"


def tiny_model(arch="mlp", channels=1, size=8, d=4, likelihood="bernoulli"):
    torch.manual_seed(0)
    return build_model(ModelConfig(arch=arch, in_channels=channels, image_size=size, latent_dim=d,
                                   hidden=[16], likelihood=likelihood)).eval()


@pytest.fixture
def model():
    return tiny_model()


# ----------------------------------------------------------------------------- dimensions

def test_dimension_info_orders_by_kl_and_marks_collapsed():
    mu = torch.tensor([[0.0, 2.0, 0.001, -1.0], [0.0, -2.0, -0.001, 1.0]])
    logvar = torch.zeros_like(mu)
    info = dimension_info(mu, logvar)
    assert info.order == [1, 3, 2, 0]  # KL = μ²/2 here: 2, 0.5, ~0, 0 (ties by index)
    assert info.collapsed == [True, False, True, False]
    assert info.kl[1] == pytest.approx(2.0)


def test_focus_first_moves_one_dimension_to_the_front():
    assert focus_first([3, 1, 0, 2], 0) == [0, 3, 1, 2]
    assert focus_first([3, 1, 0, 2], None) == [3, 1, 0, 2]
    assert focus_first([3, 1, 0, 2], 9) == [3, 1, 0, 2]


# ----------------------------------------------------------------------------- decoding and traversals

@pytest.mark.parametrize("arch,channels,size", [("mlp", 1, 8), ("mlp", 3, 8), ("conv", 1, 28), ("conv", 3, 32)])
def test_decodes_have_image_shape_in_unit_range(arch, channels, size):
    m = tiny_model(arch, channels, size, d=3)
    img = decode_one(m, torch.zeros(3))
    assert img.shape == (channels, size, size)
    strips = traversal_strips(m, torch.zeros(3), [2, 0], radius=2.0, k=5)
    assert strips.shape == (2, 5, channels, size, size)
    assert strips.min() >= 0 and strips.max() <= 1
    sheet = strip_sheet(strips)
    assert sheet.shape == (channels, 2 * (size + 1) + 1, 5 * (size + 1) + 1)


def test_decode_images_batches_and_keeps_leading_shape(model):
    z = torch.randn(3, 7, 4, generator=torch.Generator().manual_seed(1))
    out = decode_images(model, z, batch_size=5)
    assert out.shape == (3, 7, 1, 8, 8)
    torch.testing.assert_close(out[1, 2], model.mean_image(z[1, 2][None])[0].detach())


def test_traversal_latents_vary_one_dimension_from_minus_r_to_plus_r():
    base = torch.tensor([0.5, -1.0, 2.0])
    z = traversal_latents(base, [1, 2], radius=3.0, k=7)
    assert z.shape == (2, 7, 3)
    torch.testing.assert_close(z[0, :, 1], torch.linspace(-3, 3, 7))
    torch.testing.assert_close(z[1, :, 2], torch.linspace(-3, 3, 7))
    assert torch.all(z[0, :, [0, 2]] == base[[0, 2]])  # the other coordinates stay at the base
    assert torch.all(z[1, :, [0, 1]] == base[[0, 1]])
    with pytest.raises(ValueError):
        traversal_values(3.0, 1)
    with pytest.raises(ValueError):
        traversal_values(0.0, 5)


def test_collapsed_dimension_traversal_changes_nothing():
    """A decoder that ignores z_1 gives identical images along its strip: the point of the view."""
    m = tiny_model(d=2)
    with torch.no_grad():
        m.decoder[0].weight[:, 1] = 0.0
    strips = traversal_strips(m, torch.zeros(2), [0, 1], radius=3.0, k=5)
    assert (strips[1] - strips[1, :1]).abs().max() < 1e-6
    assert (strips[0] - strips[0, :1]).abs().max() > 1e-3


def test_traversals_never_touch_the_shared_model(model):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    traversal_strips(model, torch.zeros(4), [0, 1, 2, 3])
    grid_traversal(model, torch.zeros(4), dimension_axes(4, 0, 1), n=3)
    assert not model.training
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


# ----------------------------------------------------------------------------- grids

def test_grid_latents_shape_corners_and_centre():
    centre = torch.tensor([1.0, 2.0, 3.0])
    axes = dimension_axes(3, 0, 2)
    z = grid_latents(centre, axes, radius=2.0, n=5)
    assert z.shape == (5, 5, 3)
    torch.testing.assert_close(z[2, 2], centre)  # odd N: the middle cell is the centre
    torch.testing.assert_close(z[0, 0], torch.tensor([-1.0, 2.0, 5.0]))  # top-left: −r right, +r up
    torch.testing.assert_close(z[4, 4], torch.tensor([3.0, 2.0, 1.0]))  # bottom-right
    assert torch.all(z[..., 1] == 2.0)  # the dimension not on the grid is held


def test_grid_traversal_is_row_major_n_by_n(model):
    imgs = grid_traversal(model, torch.zeros(4), dimension_axes(4, 1, 3), radius=1.0, n=25)
    assert imgs.shape == (625, 1, 8, 8)
    with pytest.raises(ValueError):
        grid_latents(torch.zeros(4), dimension_axes(4, 1, 3), 1.0, 26)
    with pytest.raises(ValueError):
        dimension_axes(4, 2, 2)
    with pytest.raises(ValueError):
        dimension_axes(4, 0, 4)


def test_principal_axes_are_orthonormal_and_match_the_covariance_eigenvectors():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(200, 5, generator=g) * torch.tensor([3.0, 0.2, 1.5, 0.1, 0.05])
    axes = principal_axes(mu)
    dirs = axes.directions
    torch.testing.assert_close(dirs @ dirs.T, torch.eye(2), atol=1e-5, rtol=0)
    evals, evecs = np.linalg.eigh(np.cov(mu.double().numpy(), rowvar=False))  # ascending
    for k in range(2):
        ref = torch.from_numpy(evecs[:, -1 - k]).float()
        assert abs(float(dirs[k] @ ref)) == pytest.approx(1.0, abs=1e-4)
        assert axes.explained[k] == pytest.approx(evals[-1 - k] / evals.sum(), rel=1e-4)
    assert axes.labels == ("PC1", "PC2")
    with pytest.raises(ValueError):
        principal_axes(mu[:1])


# ----------------------------------------------------------------------------- interpolation

@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolation_endpoints_equal_inputs(mode):
    g = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(6, generator=g), torch.randn(6, generator=g) * 2
    path = interpolation_latents(z0, z1, 8, mode)
    assert path.shape == (8, 6)
    torch.testing.assert_close(path[0], z0, atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], z1, atol=1e-5, rtol=0)


def test_spherical_interpolation_keeps_norms():
    g = torch.Generator().manual_seed(4)
    z0 = torch.randn(10, generator=g)
    z1 = torch.randn(10, generator=g)
    z1 = z1 / z1.norm() * z0.norm()  # equal norms: every point keeps that norm
    path = slerp(z0, z1, torch.linspace(0, 1, 11))
    torch.testing.assert_close(path.norm(dim=1), z0.norm().expand(11), atol=1e-5, rtol=0)
    # while the linear path cuts the corner, towards the origin
    assert lerp(z0, z1, torch.tensor([0.5])).norm() < z0.norm() - 1e-3
    # unequal norms: the norm moves linearly between them
    z2 = 3 * z1
    t = torch.linspace(0, 1, 5)
    torch.testing.assert_close(slerp(z0, z2, t).norm(dim=1), (1 - t) * z0.norm() + t * z2.norm(), atol=1e-5, rtol=0)


def test_spherical_interpolation_moves_at_constant_angle():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = slerp(z0, z1, torch.linspace(0, 1, 5))
    angles = torch.atan2(path[:, 1], path[:, 0])
    torch.testing.assert_close(angles, torch.linspace(0, math.pi / 2, 5), atol=1e-6, rtol=0)


@pytest.mark.parametrize("z0,z1", [([1.0, 0.0, 0.0], [-2.0, 0.0, 0.0]),  # antipodal
                                   ([1.0, 1.0], [2.0, 2.0]),  # parallel
                                   ([0.0, 0.0], [1.0, 2.0]),  # from the origin
                                   ([1.5], [-0.5])])  # one dimension
def test_spherical_interpolation_degenerate_cases_are_finite(z0, z1):
    z0, z1 = torch.tensor(z0), torch.tensor(z1)
    path = slerp(z0, z1, torch.linspace(0, 1, 7))
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path[0], z0, atol=1e-5, rtol=0)
    torch.testing.assert_close(path[-1], z1, atol=1e-5, rtol=0)


def test_interpolation_strip_shape_and_bad_input(model):
    strip = interpolation_strip(model, torch.zeros(4), torch.ones(4), steps=6, mode="spherical")
    assert strip.shape == (6, 1, 8, 8)
    with pytest.raises(ValueError):
        interpolation_latents(torch.zeros(4), torch.ones(4), 1)
    with pytest.raises(ValueError):
        interpolation_latents(torch.zeros(4), torch.ones(4), 4, "cubic")


# ----------------------------------------------------------------------------- aggregate posterior

def test_aggregate_log_density_is_the_mixture_log_density():
    g = torch.Generator().manual_seed(5)
    mu, logvar = torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=g) * 0.3
    z = torch.randn(11, 3, generator=g)
    got = aggregate_log_density(z, mu, logvar, chunk=4)
    # by hand, in float64 numpy: log (1/N) Σ_n Π_d N(z_d; μ_nd, σ²_nd)
    zz, mm, vv = z.double().numpy()[:, None], mu.double().numpy(), np.exp(logvar.double().numpy())
    dens = np.exp(-0.5 * ((zz - mm) ** 2 / vv)) / np.sqrt(2 * np.pi * vv)
    want = np.log(dens.prod(-1).mean(1))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    # a single component is just that Gaussian
    torch.testing.assert_close(aggregate_log_density(z, mu[:1], logvar[:1]), DiagonalGaussian(mu[:1], logvar[:1]).log_prob(z))


def test_aggregate_posterior_reference_and_off_manifold_warning():
    g = torch.Generator().manual_seed(6)
    mu = torch.randn(300, 4, generator=g)
    logvar = torch.full((300, 4), -2.0)
    agg = aggregate_posterior(mu, logvar, n_reference=200, seed=0)
    assert isinstance(agg, AggregatePosterior)
    assert agg.reference.shape == (200,)
    assert torch.all(agg.reference[1:] >= agg.reference[:-1])  # sorted
    near = density_check(agg, mu[0])
    far = density_check(agg, torch.full((4,), 8.0))
    assert not near.off_manifold and near.percentile > 1.0
    assert far.off_manifold and far.percentile == 0.0
    assert far.log_q < far.low <= near.median
    # seeded: the same inputs give the same reference
    torch.testing.assert_close(aggregate_posterior(mu, logvar, n_reference=200, seed=0).reference, agg.reference)


def test_aggregate_posterior_subsamples_large_data():
    mu, logvar = torch.zeros(50, 2), torch.zeros(50, 2)
    agg = aggregate_posterior(mu, logvar, max_components=20, n_reference=10)
    assert agg.mu.shape == (20, 2) and agg.reference.shape == (10,)
    counts, centres = agg.histogram(8)
    assert counts.shape == centres.shape == (8,) and int(counts.sum()) == 10
    # all components are N(0, I): log q is the standard normal log density
    torch.testing.assert_close(agg.log_density(torch.zeros(1, 2)), torch.tensor([-math.log(2 * math.pi)]))
    with pytest.raises(ValueError):
        aggregate_posterior(torch.zeros(0, 2), torch.zeros(0, 2))


# ----------------------------------------------------------------------------- images

@pytest.mark.parametrize("channels,mode", [(1, "L"), (3, "RGB")])
def test_sheet_image_enlarges_crisply_and_labels_rows(channels, mode):
    imgs = torch.zeros(2, 3, channels, 4, 4)
    imgs[0, 0] = 1.0  # one white cell, top-left
    plain = tv.sheet_image(imgs, factor=5)
    assert plain.mode == mode and plain.size == ((3 * 5 + 1) * 5, (2 * 5 + 1) * 5)
    arr = np.asarray(plain)
    assert set(np.unique(arr).tolist()) <= {0, 255}  # nearest neighbour: no blended greys
    labelled = tv.sheet_image(imgs, factor=5, row_labels=["z0", "z1 collapsed"], muted=[False, True])
    assert labelled.height == plain.height and labelled.width > plain.width


def test_cell_factor_keeps_grids_a_sensible_size():
    assert cell_factor(8, 25) * 8 <= 40  # a 25×25 grid of digits stays about 720 px wide
    assert cell_factor(8, 1) * 8 <= 96
    assert cell_factor(64, 25) == 1


def test_default_run_has_collapsed_dimensions_ranked_last():
    if not DEFAULT_RUN.is_dir():
        pytest.skip("the default run is not committed here")
    from vae.runs.folder import load_run
    from vae.data import load_dataset
    from vae.model.evaluation import encode_all
    run = load_run(DEFAULT_RUN)
    mu, logvar = encode_all(run.model, load_dataset("digits").test.x).params()
    info = dimension_info(mu, logvar)
    n_collapsed = sum(info.collapsed)
    assert 1 <= n_collapsed < run.model.latent_dim
    assert all(info.collapsed[d] for d in info.order[-n_collapsed:])  # collapsed ones come last


def test_exports_png_sheet_and_traversal_gif(model):
    import io

    from PIL import Image

    from vae.export.images import gif_bytes, png_bytes, to_pil
    strips = traversal_strips(model, torch.zeros(4), [0, 1], radius=2.0, k=6)
    sheet = tv.sheet_image(strips, factor=4, row_labels=["z0", "z1"])
    back = Image.open(io.BytesIO(png_bytes(Image.open(io.BytesIO(tv.display_png(sheet))))))
    assert back.size == sheet.size
    gif = Image.open(io.BytesIO(gif_bytes([to_pil(x, 32) for x in strips[0]], bounce=False)))
    assert gif.n_frames == 6 and gif.size == (32, 32)
