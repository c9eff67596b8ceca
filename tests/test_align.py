"""Procrustes alignment of two latent maps."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import procrustes as scipy_procrustes

from vae.analysis.align import align_maps, pca, procrustes


def _rotation(theta: float) -> np.ndarray:
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def test_a_rotated_scaled_shifted_copy_is_recovered_exactly():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(300, 2)) * [3.0, 1.0]
    r = _rotation(1.1)
    b = (a @ r) * 0.37 + [5.0, -2.0]
    al = procrustes(a, b)
    np.testing.assert_allclose(al.aligned, a, atol=1e-10)
    assert al.scale == pytest.approx(1 / 0.37)
    np.testing.assert_allclose(al.rotation, r.T, atol=1e-10)
    assert al.disparity == pytest.approx(0, abs=1e-20)
    assert al.moved.max() < 1e-9
    np.testing.assert_allclose(b @ al.rotation * al.scale + al.shift, a, atol=1e-10)


def test_a_reflected_copy_is_recovered_too():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 2))
    al = procrustes(a, a * [-2.0, 2.0])
    np.testing.assert_allclose(al.aligned, a, atol=1e-10)
    assert np.linalg.det(al.rotation) == pytest.approx(-1)


def test_disparity_matches_scipy_and_the_moved_points_are_found():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(200, 2))
    b = a @ _rotation(0.4) * 2.0
    b[[17, 123]] += [[4.0, 0.0], [0.0, -6.0]]  # two points moved in the second map
    al = procrustes(a, b)
    # scipy.spatial.procrustes standardises both maps; its disparity is the same ratio
    assert al.disparity == pytest.approx(scipy_procrustes(a, b)[2], rel=1e-9)
    assert set(al.most_moved(2)) == {17, 123}
    assert al.most_moved(2)[0] == 123


def test_two_runs_with_the_same_code_up_to_rotation_align_on_pca():
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(400, 5)) * [4, 2, 0.1, 0.1, 0.1]
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    other = np.c_[mu @ q * 3.0, np.zeros((400, 2))]  # a different latent size, rotated and scaled
    al = align_maps(mu, other)
    np.testing.assert_allclose(al.aligned, pca(mu), atol=1e-8)


def test_bad_maps_are_refused():
    with pytest.raises(ValueError, match="same points"):
        align_maps(np.zeros((5, 2)), np.zeros((6, 2)))
    with pytest.raises(ValueError, match="one place"):
        procrustes(np.zeros((5, 2)), np.ones((5, 2)))
