"""The gap figures as plain dicts: the stacked bar adds up to −ELBO(q_φ), its axis says where it starts."""
import numpy as np
import pytest

from vae.analysis.gaps import GAP_TRAIN_SAMPLES
from ui.gaps.figures import bar_axis_start, before_after_figure, gap_bar_figure, gap_spread_figure, refine_curve_figure


def _summary(log_px, approx, amort):
    return {"log_px": log_px, "log_px_se": 0.1, "approximation_gap": approx, "approximation_gap_se": 0.01,
            "amortization_gap": amort, "amortization_gap_se": 0.02, "elbo_amortized": log_px - approx - amort}


def test_gap_bar_segments_add_up_to_the_amortized_loss():
    rows = [{"name": "a", "summary": _summary(-90.0, 3.0, 5.0)}, {"name": "b", "summary": _summary(-100.0, 1.0, 2.0)}]
    fig = gap_bar_figure(rows)
    assert [t["name"] for t in fig["data"]] == ["−log p(x)", "approximation gap", "amortization gap"]
    for j, r in enumerate(rows):
        total = sum(t["x"][j] for t in fig["data"])
        assert total == pytest.approx(-r["summary"]["elbo_amortized"])
    assert fig["layout"]["barmode"] == "relative" and fig["data"][1]["customdata"] == [0.01, 0.01]


def test_gap_bar_axis_starts_at_zero_unless_the_gaps_would_be_slivers():
    big = [{"name": "a", "summary": _summary(-10.0, 3.0, 5.0)}]
    assert bar_axis_start(big) == 0 and "range" not in gap_bar_figure(big)["layout"]["xaxis"]
    small = [{"name": "a", "summary": _summary(-24.2, 0.18, 0.10)}]
    lo = bar_axis_start(small)
    assert 0 < lo < 24.2 - 2 * 0.28 + 0.1
    xa = gap_bar_figure(small)["layout"]["xaxis"]
    assert xa["range"][0] == lo and xa["range"][1] > 24.48 and f"starts at {lo:g}" in xa["title"]["text"]
    positive = [{"name": "a", "summary": _summary(50.0, 1.0, 1.0)}]  # a Gaussian likelihood: log p(x) > 0
    assert bar_axis_start(positive) == 0


def test_spread_curve_and_before_after_figures():
    spread = gap_spread_figure([{"name": "a", "approximation": np.array([0.1, 0.2]), "amortization": np.array([1.0, 2.0])}])
    assert [t["type"] for t in spread["data"]] == ["box", "box"] and spread["data"][1]["y"] == [1.0, 2.0]
    curve = refine_curve_figure([{"name": "q", "curve": [-5.0, -4.0, -3.5], "start": -5.2}], 500)
    assert curve["data"][0]["x"] == [1, 2, 3] and curve["layout"]["shapes"][0]["y0"] == -5.2
    assert f"({GAP_TRAIN_SAMPLES} samples a step)" in curve["layout"]["title"]["text"]  # what the optimizer uses
    ba = before_after_figure(np.zeros(3), np.ones(3), np.ones(3), np.full(3, 0.5))
    assert [t["xaxis"] for t in ba["data"]] == ["x", "x", "x2", "x2"] and ba["data"][3]["y"] == [0.5] * 3
