"""Tests for vae.limits: the caps, their environment variables and their messages."""
from __future__ import annotations

import numpy as np
import pytest

from vae.limits import (ESTIMATOR_MEMORY, ESTIMATOR_WORK, TSNE_POINTS, BudgetError, Limit, check_budget,
    check_estimators, check_tsne, estimator_work, max_perplexity)


def test_check_budget_names_the_limit_and_its_variable():
    lim = Limit("widgets", "VAE_TEST_WIDGETS", 10, " widgets")
    check_budget(10, lim, "Ten widgets")  # at the limit: allowed
    with pytest.raises(BudgetError, match=r"Eleven widgets costs 11 widgets.*limit on widgets of 10 widgets "
                                          r"\(VAE_TEST_WIDGETS"):
        check_budget(11, lim, "Eleven widgets")
    with pytest.raises(BudgetError, match="limit of 3"):
        check_budget(4, 3, "Four")


def test_a_limit_reads_its_variable_at_call_time(monkeypatch):
    monkeypatch.setenv("VAE_MAX_TSNE_POINTS", "2_000")
    assert TSNE_POINTS.value() == 2000
    for bad in ("lots", "-5", "0", ""):  # a broken setting falls back to the default, never to "no limit"
        monkeypatch.setenv("VAE_MAX_TSNE_POINTS", bad)
        assert TSNE_POINTS.value() == 10_000
    monkeypatch.delenv("VAE_MAX_TSNE_POINTS")
    assert TSNE_POINTS.value() == 10_000


def test_tsne_points_cap(monkeypatch):
    check_tsne(10_000, 30)
    with pytest.raises(BudgetError, match=r"10,001 points.*VAE_MAX_TSNE_POINTS"):
        check_tsne(10_001, 30)
    monkeypatch.setenv("VAE_MAX_TSNE_POINTS", "500")
    with pytest.raises(BudgetError, match="limit on t-SNE points of 500"):
        check_tsne(501, 30)


def test_tsne_perplexity_cap_is_100_and_below_a_third_of_the_points():
    check_tsne(5_000, 100)
    with pytest.raises(BudgetError, match="perplexity of 101.*limit.*100"):
        check_tsne(5_000, 101)
    check_tsne(300, 99)
    with pytest.raises(BudgetError, match="a third of the 300 points"):
        check_tsne(300, 100)
    assert max_perplexity(10_000) == 100 and max_perplexity(301) == 100 and max_perplexity(91) == 30
    assert max_perplexity(300) < 100


def test_estimator_cost_model_grows_with_every_factor():
    base = estimator_work(1_000, 32, 100, (1, 4))
    assert base == 1_000 * 32 * 100 * (2 + 5) * 3
    assert estimator_work(2_000, 32, 100, (1, 4)) == 2 * base
    assert estimator_work(1_000, 64, 100, (1, 4)) == 2 * base
    assert estimator_work(1_000, 32, 200, (1, 4)) == 2 * base
    assert estimator_work(1_000, 32, 100, (1, 4, 16)) > base


def test_estimator_caps_refuse_with_the_limit_named(monkeypatch):
    small = dict(n_params=41_044, n_encoder_params=21_780)
    check_estimators(**small, batch_size=32, n_estimates=100, mc_list=(1, 4, 16))  # the page's defaults fit
    with pytest.raises(BudgetError, match="VAE_MAX_ESTIMATOR_WORK"):
        check_estimators(**small, batch_size=128, n_estimates=400, mc_list=(1, 2, 4, 8, 16, 32, 64))
    # A 40 M-parameter model is refused even at the smallest settings.
    with pytest.raises(BudgetError, match="gradient-estimator work"):
        check_estimators(40_000_000, 20_000_000, 8, 20, (1,))
    # Memory: many encoder parameters held K times, even when the work would fit.
    monkeypatch.setenv("VAE_MAX_ESTIMATOR_WORK", "1e15")
    with pytest.raises(BudgetError, match="VAE_MAX_ESTIMATOR_FLOATS"):
        check_estimators(2_000_000, 1_000_000, 8, 400, (1, 2, 4))
    assert ESTIMATOR_WORK.value() == 1e15 and ESTIMATOR_MEMORY.value() == 5e7


def test_budget_error_is_a_value_error():
    # Callers that already report ValueError as "bad input" report a refused budget the same way.
    assert issubclass(BudgetError, ValueError)
    assert np.isfinite(ESTIMATOR_WORK.value())
