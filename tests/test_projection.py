"""Tests for vae.analysis.projection (maps, methods, tsne, points): tiny, seeded, CPU-only."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vae.limits import BudgetError
from vae.config import ModelConfig
from vae.model.networks import build_model
from vae.model.objectives import elbo
from vae.analysis.projection.methods import project, project_latent, project_pca
from vae.analysis.projection.points import (colour_values, most_varied_dim, nearest_neighbours, point_detail,
    point_terms, posterior_samples, probe_decode, selection_images, stratified_cap)
from vae.analysis.projection.tsne import project_tsne


def _clusters(n: int = 60, d: int = 5, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(size=(k, d)) * 4
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="mlp", image_size=8, latent_dim=4, hidden=[16])).eval()


@pytest.fixture(scope="module")
def images():
    return torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(0))


# ---------------------------------------------------------------- projections

@pytest.mark.parametrize("method", ["pca", pytest.param("tsne", marks=pytest.mark.slow)])
def test_projection_shape(method):
    mu, _ = _clusters()
    proj = project_tsne(mu, perplexity=10, seed=0, max_iter=250) if method == "tsne" else project(mu, method)
    assert proj.xy.shape == (60, 2) and proj.xy.dtype == np.float32 and np.isfinite(proj.xy).all()
    assert proj.method == method and proj.latent_dim == 5


def test_pca_explained_variance_and_orthonormal_components():
    mu, _ = _clusters()
    proj = project_pca(mu)
    assert proj.explained.shape == (2,) and proj.explained[0] >= proj.explained[1] > 0
    assert proj.explained.sum() <= 1 + 1e-9
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(2), atol=1e-9)
    # Explained variance is the variance of each projected coordinate over the total.
    total = mu.astype(np.float64).var(0).sum()
    np.testing.assert_allclose(proj.xy.astype(np.float64).var(0) / total, proj.explained, rtol=1e-4)
    assert "%" in proj.axis_titles[0]


def test_pca_inverse_round_trip():
    mu, _ = _clusters()
    proj = project_pca(mu)
    xy = np.array([[0.5, -1.0], [3.0, 2.0], [0.0, 0.0]])
    z = proj.inverse(xy)
    assert z.shape == (3, 5)
    # Points in the plane come back to the same plot coordinates ...
    np.testing.assert_allclose((z - proj.mean) @ proj.components.T, xy, atol=1e-5)
    # ... and the plot origin is the data mean.
    np.testing.assert_allclose(z[2], mu.mean(0), atol=1e-5)


def test_pca_of_two_dims_is_a_rotation_so_its_inverse_recovers_the_latents():
    mu, _ = _clusters(d=2)
    proj = project_pca(mu)
    np.testing.assert_allclose(proj.inverse(proj.xy), mu, atol=1e-4)
    assert proj.explained.sum() == pytest.approx(1.0)


def test_pca_is_deterministic_in_sign():
    mu, _ = _clusters()
    a, b = project_pca(mu), project_pca(mu.copy())
    np.testing.assert_array_equal(a.xy, b.xy)
    assert (a.components[np.arange(2), np.abs(a.components).argmax(1)] > 0).all()


@pytest.mark.slow  # importing scikit-learn's t-SNE alone takes seconds on a busy machine
def test_tsne_is_deterministic_with_a_seed():
    mu, _ = _clusters(n=40)
    a = project_tsne(mu, perplexity=8, seed=3, max_iter=250)
    b = project_tsne(mu, perplexity=8, seed=3, max_iter=250, threads=1)  # thread count does not change it
    np.testing.assert_allclose(a.xy, b.xy)
    assert not a.invertible
    with pytest.raises(ValueError, match="no inverse"):
        a.inverse(np.zeros((1, 2)))


@pytest.mark.slow
def test_tsne_rejects_a_perplexity_above_the_point_count():
    mu, _ = _clusters(n=20)
    with pytest.raises(ValueError, match="perplexity"):
        project_tsne(mu, perplexity=25)


def test_latent_view_is_the_identity_for_small_d():
    mu, _ = _clusters(d=2)
    proj = project(mu, "latent")
    np.testing.assert_array_equal(proj.xy, mu)
    np.testing.assert_allclose(proj.inverse(proj.xy), mu)
    one = project_latent(mu[:, :1])
    assert one.xy.shape == (60, 2) and (one.xy[:, 1] == 0).all()
    assert one.inverse(one.xy).shape == (60, 1)
    with pytest.raises(ValueError, match="D ≤ 2"):
        project_latent(np.zeros((4, 3)))


def test_projection_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        project_pca(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with pytest.raises(ValueError, match="at least 2"):
        project_pca(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="unknown projection"):
        project(np.zeros((4, 3)), "isomap")


# ---------------------------------------------------------------- subsample and neighbours

def test_stratified_cap_keeps_every_class_in_proportion():
    y = np.array([0] * 80 + [1] * 15 + [2] * 4 + [3] * 1)
    idx = stratified_cap(y, 20, seed=0)
    assert len(idx) == 20 and len(set(idx.tolist())) == 20 and (np.diff(idx) > 0).all()
    counts = np.bincount(y[idx], minlength=4)
    assert (counts >= 1).all()  # the class of one keeps its only point
    # The two small classes take one each; the other 18 split 80:15 -> 15.2 : 2.8.
    assert counts.tolist() == [15, 3, 1, 1]


def test_stratified_cap_is_seeded():
    y = np.arange(500) % 7
    np.testing.assert_array_equal(stratified_cap(y, 50, seed=1), stratified_cap(y, 50, seed=1))
    assert not np.array_equal(stratified_cap(y, 50, seed=1), stratified_cap(y, 50, seed=2))


def test_stratified_cap_edges():
    y = np.arange(10) % 5
    np.testing.assert_array_equal(stratified_cap(y, 10), np.arange(10))  # cap ≥ N: everything
    few = stratified_cap(y, 3)
    assert set(y[few]) == set(range(5))  # every class kept even below the class count
    with pytest.raises(ValueError):
        stratified_cap(y, 0)


def test_nearest_neighbours_exclude_self_and_sort():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0], [5.0, 5.0], [-1.0, 0.0]])
    idx, dist = nearest_neighbours(pts, pts[0], k=3, exclude=0)
    assert idx.tolist() == [1, 4, 2]  # ties (distance 1) broken by index
    np.testing.assert_allclose(dist, [1.0, 1.0, 2.0])
    idx, _ = nearest_neighbours(pts, pts[0], k=10, exclude=0)
    assert len(idx) == 4 and 0 not in idx
    with pytest.raises(ValueError):
        nearest_neighbours(pts, np.zeros(3), k=2)


# ---------------------------------------------------------------- model-backed terms

def test_point_terms_match_the_objective(model, images):
    terms = point_terms(model, images, mc_samples=4, seed=0)
    again = point_terms(model, images, mc_samples=4, seed=0)
    np.testing.assert_array_equal(terms.elbo, again.elbo)  # seeded
    assert terms.elbo.shape == (12,)
    np.testing.assert_allclose(terms.elbo, terms.rec - terms.kl)
    with torch.no_grad():
        ref = elbo(model, images, mc_samples=4)
    np.testing.assert_allclose(terms.kl, ref.kl.double().numpy(), rtol=1e-6)  # analytic, identical
    # The Monte Carlo reconstruction terms agree to within sampling noise.
    assert np.abs(terms.rec - ref.rec.double().numpy()).mean() < 0.1 * np.abs(terms.rec).mean()
    assert all(p.grad is None for p in model.parameters()) and not model.training


def test_colour_values(model, images):
    mu, logvar = (t.detach().numpy() for t in model.encode(images).params())
    labels = np.arange(12) % 3
    assert colour_values("label", labels, mu, logvar).categorical
    c = colour_values("mu", labels, mu, logvar, dim=2)
    np.testing.assert_allclose(c.values, mu[:, 2]) and not c.categorical
    kl = colour_values("kl", labels, mu, logvar).values
    assert kl.shape == (12,) and (kl >= 0).all()
    rec = point_terms(model, images).rec
    np.testing.assert_allclose(colour_values("rec_error", labels, mu, logvar, rec=rec).values, -rec)
    with pytest.raises(ValueError):
        colour_values("mu", labels, mu, logvar, dim=9)
    assert most_varied_dim(mu) == int(np.argmax(mu.var(0)))


def test_posterior_samples_are_seeded_draws():
    s = posterior_samples(np.array([1.0, -2.0]), np.log(np.array([0.01, 4.0])), n=4000, seed=1)
    assert s.shape == (4000, 2)
    np.testing.assert_array_equal(s, posterior_samples(np.array([1.0, -2.0]), np.log([0.01, 4.0]), 4000, 1))
    np.testing.assert_allclose(s.mean(0), [1.0, -2.0], atol=0.1)
    np.testing.assert_allclose(s.std(0), [0.1, 2.0], rtol=0.1)


def test_point_detail(model, images):
    mu, logvar = (t.detach().numpy() for t in model.encode(images).params())
    det = point_detail(model, images, mu, logvar, 3, n_samples=5, k=4, mc_samples=8)
    assert det.original.shape == det.recon.shape == (1, 8, 8)
    assert det.samples.shape == (5, 1, 8, 8) and det.neighbour_images.shape == (4, 1, 8, 8)
    assert 3 not in det.neighbours and (np.diff(det.neighbour_dist) >= 0).all()
    assert det.elbo == pytest.approx(det.rec - det.kl)
    assert 0 <= float(det.recon.min()) and float(det.recon.max()) <= 1
    with pytest.raises(IndexError):
        point_detail(model, images, mu, logvar, 12)
    assert all(p.grad is None for p in model.parameters())


def test_selection_images_and_probe(model, images):
    orig, rec = selection_images(model, images, [5, 1, 7], limit=2)
    assert orig.shape == rec.shape == (2, 1, 8, 8)
    torch.testing.assert_close(orig, images[[5, 1]])
    mu = model.encode(images).mean.detach().numpy()
    proj = project_pca(mu)
    z, img = probe_decode(model, proj, (0.0, 0.0))
    np.testing.assert_allclose(z, mu.mean(0), atol=1e-5)
    assert img.shape == (1, 8, 8)


# ---------------------------------------------------------------- budgets (vae.limits)

def test_tsne_refuses_a_perplexity_over_100_before_any_work():
    mu, _ = _clusters(n=160)  # scikit-learn alone would accept both (perplexity < N)
    with pytest.raises(BudgetError, match="limit on t-SNE perplexity of 100"):
        project_tsne(mu, perplexity=150, max_iter=250)
    with pytest.raises(BudgetError, match="a third of the 90 points"):
        project(mu[:90], "tsne", perplexity=40)


def test_tsne_refuses_more_points_than_the_cap(monkeypatch):
    monkeypatch.setenv("VAE_MAX_TSNE_POINTS", "50")
    mu, _ = _clusters(n=60)
    with pytest.raises(BudgetError, match=r"60 points.*VAE_MAX_TSNE_POINTS"):
        project_tsne(mu, perplexity=10)
    project_pca(mu)  # PCA is cheap and not limited by the t-SNE cap


def test_one_list_of_methods_named_once_in_the_app_and_the_command_line():
    from ui.latent_map.view import METHODS as LABELS
    from vae.analysis.projection.maps import BACKGROUND, LINEAR, METHODS, methods_for
    from vae.project import CHOICES
    assert list(LABELS) == list(METHODS) and set(BACKGROUND) | set(LINEAR) == set(METHODS)
    assert set(CHOICES) == set(METHODS) - {"latent"}
    assert "pca" not in methods_for(1) and "latent" in methods_for(1)  # one axis: nothing for PCA to rotate
    assert {"latent", "pca"} <= set(methods_for(2)) and "latent" not in methods_for(3)
