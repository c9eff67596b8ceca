"""ui.estimators.figures_relaxed without a browser: each figure is a plain dict plotly accepts, whose traces carry
the library's rows (values and error bars) for the Gumbel-softmax and implicit panels."""
from __future__ import annotations

import json

import plotly.graph_objects as go
import pytest

from ui.estimators import figures_relaxed as F
from ui.labels import TOY_ESTIMATOR_LABELS, estimator_label
from vae.analysis.estimators.implicit import IMPLICIT_ESTIMATORS, implicit_study
from vae.analysis.estimators.relaxed import CATEGORICAL_ESTIMATORS, gumbel_study

pytestmark = pytest.mark.usefixtures("one_thread")


def _plain(fig: dict) -> None:
    assert isinstance(fig, dict) and set(fig) == {"data", "layout"}
    go.Figure(fig)
    json.dumps(fig)


@pytest.fixture(scope="module")
def gumbel(one_thread):
    return gumbel_study(k=3, taus=(0.1, 1.0, 5.0), n=400, seed=0)


@pytest.fixture(scope="module")
def implicit(one_thread):
    return implicit_study(mc_list=(1, 8), n=300, seed=0)


def test_every_toy_estimator_has_words():
    for est in (*CATEGORICAL_ESTIMATORS, *IMPLICIT_ESTIMATORS):
        assert estimator_label(est) != est
    assert estimator_label(TOY_ESTIMATOR_LABELS["relaxed"]) == TOY_ESTIMATOR_LABELS["relaxed"]


def test_temperature_figures_draw_the_librarys_rows(gumbel):
    rows = gumbel.rows()
    bias = F.temperature_bias_figure(rows)
    _plain(bias)
    named = {t["name"]: t for t in bias["data"] if t.get("name")}
    relaxed = named[estimator_label("relaxed")]
    want = sorted((r for r in rows if r["estimator"] == "relaxed"), key=lambda r: r["tau"])
    assert relaxed["x"] == [0.1, 1.0, 5.0] and relaxed["y"] == [r["bias"] for r in want]
    assert relaxed["error_y"]["arrayminus"] == [r["bias"] - r["bias_lo"] for r in want]
    score = named[estimator_label("score") + " (no τ)"]
    assert score["y"] == [next(r["bias"] for r in rows if r["estimator"] == "score")] * 2
    var = F.temperature_variance_figure(rows)
    _plain(var)
    assert var["layout"]["yaxis"]["type"] == "log"
    st = next(t for t in var["data"] if t.get("name") == estimator_label("straight_through"))
    assert st["error_y"]["array"] == [2 * r["variance_se"] for r in sorted(
        (r for r in rows if r["estimator"] == "straight_through"), key=lambda r: r["tau"])]


def test_sample_and_argmax_figures(gumbel):
    fig = F.relaxed_samples_figure(gumbel.samples, gumbel.probs)
    _plain(fig)
    assert [t["type"] for t in fig["data"]] == ["heatmap"] * len(gumbel.samples)
    assert fig["data"][0]["z"] == gumbel.samples[next(iter(gumbel.samples))]
    _plain(F.one_hot_figure(gumbel.one_hot_rows))
    arg = F.argmax_figure(gumbel.argmax)
    _plain(arg)
    assert arg["data"][0]["y"] == gumbel.probs and arg["data"][1]["y"] == gumbel.argmax["frequencies"]


def test_implicit_figures_draw_the_librarys_rows(implicit):
    rows = implicit.rows("gamma")
    fig = F.samples_variance_figure(rows, "Gamma")
    _plain(fig)
    imp = next(t for t in fig["data"] if t.get("name") == estimator_label("implicit"))
    assert imp["x"] == [1, 8] and imp["y"] == [r["variance"] for r in rows if r["estimator"] == "implicit"]
    means = F.gamma_means_figure(rows)
    _plain(means)
    assert means["data"][-1]["y"] == [implicit.gamma_exact] * 2
    ratio = F.variance_ratio_figure(implicit.ratio_rows("gamma"), implicit.ratio_rows("dirichlet"))
    _plain(ratio)
    assert len(ratio["data"]) == 4 and all(min(t["y"]) > 1 for t in ratio["data"])  # score is noisier
