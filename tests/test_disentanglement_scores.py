"""DCI, SAP and the FactorVAE score (and MIG beside them) on constructed codes whose answer is known:
a perfectly disentangled code, a code that mixes every factor into every latent with equal
weight, and a code independent of the factors."""
from __future__ import annotations

import numpy as np
import pytest

from vae.analysis.disentanglement import all_scores, dci, factor_vae_score, sap

N = 3000


def _factors(rng: np.random.Generator) -> np.ndarray:
    """(N, 4): one categorical factor with 3 values and three continuous ones in [0, 1]."""
    return np.c_[rng.integers(0, 3, N).astype(float), rng.random((N, 3))]


def _standard(v: np.ndarray) -> np.ndarray:
    return (v - v.mean(0)) / v.std(0)


@pytest.fixture(scope="module")
def codes():
    rng = np.random.default_rng(0)
    v = _factors(rng)
    # Perfect: each factor in a latent of its own (rescaled, a little noise), plus two dead latents.
    perfect = np.c_[_standard(v) * [1.0, 2.0, 0.5, 3.0] + 0.01 * rng.normal(size=(N, 4)), 1e-3 * rng.normal(size=(N, 2))]
    # Mixing: every latent is ± every factor with the same weight (a Hadamard matrix, orthogonal).
    h = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2.0
    mixed = _standard(v) @ h
    independent = rng.normal(size=(N, 6))
    return v, {"perfect": perfect, "mixed": mixed, "independent": independent}


@pytest.fixture(scope="module")
def scores(codes):
    v, cs = codes
    return {name: all_scores(z, v, ["shape", "a", "b", "c"], seed=1) for name, z in cs.items()}


def test_perfect_code_scores_near_one(scores):
    s = scores["perfect"]
    assert s.dci.disentanglement > 0.95
    assert s.dci.completeness > 0.9
    assert s.dci.informativeness > 0.95
    assert s.sap.sap > 0.9
    assert s.factor_vae.score > 0.97
    # each factor's importance sits on its own latent, in order
    assert list(s.dci.importance[:4].argmax(0)) == [0, 1, 2, 3]


def test_mixed_code_scores_low(scores):
    s, p = scores["mixed"], scores["perfect"]
    assert s.dci.disentanglement < 0.45 and s.dci.disentanglement < p.dci.disentanglement - 0.5
    assert s.dci.completeness < 0.45
    assert s.dci.informativeness > 0.8  # mixing loses no information: only the separation is scored low
    assert s.sap.sap < 0.15
    assert s.mig.mig < 0.15
    # equal weights leave no latent with the least variance for a fixed factor: near chance
    assert s.factor_vae.score < s.factor_vae.chance + 0.25


def test_independent_code_scores_near_zero(scores):
    s = scores["independent"]
    assert s.dci.disentanglement < 0.1
    assert s.dci.informativeness < 0.05
    assert s.sap.sap < 0.05
    assert s.mig.mig < 0.05
    # the FactorVAE score's floor is chance (≈ 1/K), not 0
    assert abs(s.factor_vae.score - s.factor_vae.chance) < 0.1
    assert 0.2 < s.factor_vae.chance < 0.35


def test_collapsed_latents_take_no_part_in_the_factor_vae_vote(codes):
    v, cs = codes
    r = factor_vae_score(cs["perfect"], v, seed=0, n_train=500, n_eval=500)
    assert list(r.active) == [True] * 4 + [False] * 2
    assert r.votes[4:].sum() == 0


def test_scores_are_seeded_and_reproducible(codes):
    v, cs = codes
    a, b = dci(cs["mixed"][:500], v[:500], seed=3), dci(cs["mixed"][:500], v[:500], seed=3)
    np.testing.assert_array_equal(a.importance, b.importance)
    assert sap(cs["mixed"], v, seed=3).sap == sap(cs["mixed"], v, seed=3).sap


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="same N"):
        dci(np.zeros((50, 3)), np.zeros((40, 2)))
    with pytest.raises(ValueError, match="finite"):
        sap(np.full((50, 3), np.nan), np.zeros((50, 2)))
