"""ui.figures, ui.selection and ui.labels without a browser: each figure is a plain dict whose traces
and axes say what the page means to show; chart events read back as dataset rows or dimensions."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import plotly.graph_objects as go
import pytest

from ui import figures as F
from ui.estimators import figures as EF
from ui.labels import BASELINE_LABELS, ESTIMATOR_LABELS, estimator_colour, estimator_label
from ui.components.svg_chart import click_index
from ui.components.scatter_map import map_points, map_selection
from ui.selection import Selection, map_pick, parse_selection
from ui.svg_charts import bar_chart_svg, density_svg, nice_ticks, posterior_svg, verdict_bars_svg
from vae.analysis.kl_history import KLHistory
from vae.model.objectives import BASELINES, ESTIMATORS
from vae.analysis.projection.methods import project_pca
from vae.analysis.projection.points import colour_values
from vae.export.images import tick_labels


def _clusters(n: int = 60, d: int = 5, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(size=(k, d)) * 4
    return (centres[y] + rng.normal(size=(n, d))).astype(np.float32), y


def _plain(fig: dict) -> None:
    """A plain dict that plotly accepts as it is and that serialises (what st.plotly_chart does)."""
    assert isinstance(fig, dict) and set(fig) == {"data", "layout"}
    go.Figure(fig)
    json.dumps(go.Figure(fig).to_plotly_json(), default=str)


# ---------------------------------------------------------------- chart events

def test_parse_selection():
    assert parse_selection(None).kind == "none"
    one = {"points": [{"customdata": [7, "3", 0.5], "x": 1, "y": 2}], "box": [], "lasso": []}
    assert (parse_selection(one).kind, parse_selection(one).indices) == ("point", [7])
    probe = {"points": [{"customdata": {"0": -1}, "x": 0.5, "y": -1.5}], "box": [], "lasso": []}
    sel = parse_selection(probe)
    assert sel.kind == "probe" and sel.xy == (0.5, -1.5)
    boxed = {"points": [{"customdata": [3]}, {"customdata": [-1], "x": 0, "y": 0}, {"customdata": [9]},
                        {"customdata": [3]}], "box": [{"x": [0, 1]}], "lasso": []}
    sel = parse_selection(boxed)
    assert sel.kind == "many" and sel.indices == [3, 9]
    lone = {"points": [{"customdata": [4]}], "box": [], "lasso": [{"x": [0]}]}
    assert parse_selection(lone).kind == "many"  # a lasso around one point is still a group


def _bars(svg: str) -> list[tuple[float, float, str, str]]:
    """(y, height, fill, title) of each bar of an SVG from ui.svg_charts."""
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    return [(float(r.get("y")), float(r.get("height")), r.get("fill"), r.find(ns + "title").text)
            for r in root.iter(ns + "rect") if r.find(ns + "title") is not None]


def test_posterior_svg_draws_one_bar_per_value_at_its_height_with_the_prior_line():
    mu, sigma = np.array([-1.0, 0.0, 0.5]), np.array([0.25, 1.0, 2.0])
    svg = posterior_svg(mu, sigma)
    bars = _bars(svg)
    assert [b[3] for b in bars] == ["z0: μ = -1.000", "z0: σ = 0.250", "z1: μ = 0.000", "z1: σ = 1.000",
                                    "z2: μ = 0.500", "z2: σ = 2.000"]
    # heights are proportional to |value|, and negative bars hang below the zero line
    unit = bars[5][1] / 2.0
    assert [b[1] for b in bars if not b[3].startswith("z1: μ")] == pytest.approx(
        [unit * 1.0, unit * 0.25, unit * 1.0, unit * 0.5, unit * 2.0], abs=0.11)
    zero = bars[1][0] + bars[1][1]
    assert bars[0][0] == pytest.approx(zero, abs=0.11) and bars[4][0] + bars[4][1] == pytest.approx(zero, abs=0.11)
    assert 'stroke-dasharray' in svg and "prior σ = 1" in svg
    only_z = _bars(posterior_svg(np.array([0.3, np.nan])))
    assert [b[3] for b in only_z] == ["z0: μ = 0.300"] and "prior" not in posterior_svg(np.zeros(2))


def test_posterior_svg_escapes_and_thins_labels_on_a_wide_latent():
    svg = bar_chart_svg(["<a&b>"], [("x<y", np.array([1.0]), "red")])
    ET.fromstring(svg)  # well-formed: the text is escaped
    assert "<a&b>" not in svg and "&lt;a&amp;b&gt;" in svg
    wide = ET.fromstring(posterior_svg(np.linspace(-1, 1, 128)))
    labels = [t.text for t in wide.iter("{http://www.w3.org/2000/svg}text") if t.text and t.text.startswith("z")]
    assert labels[0] == "z0" and 4 < len(labels) < 40  # every k-th dimension, never overlapping


@pytest.mark.parametrize("lo, hi", [(0.0, 1.0), (-2.3, 0.7), (0.0, 0.013), (-50.0, 1000.0), (3.0, 3.0)])
def test_nice_ticks_cover_the_range_with_round_steps(lo, hi):
    t = nice_ticks(lo, hi)
    assert t[0] <= lo and t[-1] >= hi and 3 <= len(t) <= 8
    steps = np.diff(t)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert min(abs(mantissa - m) for m in (1, 2, 5, 10)) < 1e-6


# ---------------------------------------------------------------- latent map: the canvas element

def _unb64(s: str, dtype: str) -> np.ndarray:
    import base64
    return np.frombuffer(base64.b64decode(s), dtype=dtype)


def test_map_points_carry_every_point_its_dataset_index_label_and_colour():
    mu, y = _clusters(n=30)
    proj = project_pca(mu)
    idx = np.arange(100, 130)
    pts = map_points(proj, idx, colour_values("label", y, mu, mu), ["a", "b", "c"], y)
    json.dumps(pts)  # what the element is sent
    assert np.array_equal(_unb64(pts["x"], "<f4"), proj.xy[:, 0].astype(np.float32))
    assert np.array_equal(_unb64(pts["y"], "<f4"), proj.xy[:, 1].astype(np.float32))
    assert _unb64(pts["index"], "<i4").tolist() == idx.tolist() and _unb64(pts["label"], "<u2").tolist() == y.tolist()
    assert pts["categorical"] and [c["name"] for c in pts["classes"]] == ["a", "b", "c"]
    assert [c["colour"] for c in pts["classes"]] == F.PALETTE[:3] and pts["labels"] == ["a", "b", "c"]
    assert pts["axis"][0].startswith("PC1") and pts["invertible"] and not pts["flat"]
    cont = map_points(proj, idx, colour_values("kl", y, mu, mu), ["a", "b", "c"], y)
    vals = _unb64(cont["value"], "<f4")
    assert not cont["categorical"] and cont["range"] == [pytest.approx(vals.min()), pytest.approx(vals.max())]
    assert cont["sig"] != pts["sig"]  # a new colouring is redrawn; the same one keeps its signature
    assert map_points(proj, idx, colour_values("label", y, mu, mu), ["a", "b", "c"], y)["sig"] == pts["sig"]


def test_the_page_selection_is_drawn_as_rows_of_the_map():
    idx = np.array([40, 7, 12, 99])
    assert map_selection(idx, {"kind": "point", "indices": [12]}) == {"rows": [2], "ring": 2, "cross": None}
    assert map_selection(idx, {"kind": "many", "indices": [99, 7, 5]}) == {"rows": [1, 3], "ring": None, "cross": None}
    assert map_selection(idx, {"kind": "probe", "xy": (0.5, -1.0)})["cross"] == [0.5, -1.0]
    assert map_selection(idx, {"kind": "none"}) == {"rows": [], "ring": None, "cross": None}
    assert map_selection(idx, {"kind": "point", "indices": [3]})["ring"] is None  # not shown: nothing ringed


def test_a_map_pick_is_taken_only_when_every_field_is_valid():
    idx = np.array([40, 41, 42])
    xy = np.array([[0.0, 0.0], [10.0, 10.0], [10.0, 0.0]])
    assert map_pick({"kind": "point", "row": 1}, idx, xy, True) == Selection("point", [41])
    assert map_pick({"kind": "point", "row": 2.0}, idx, xy, False) == Selection("point", [42])
    assert map_pick({"kind": "many", "rows": [2, 0, 2]}, idx, xy, True) == Selection("many", [42, 40])
    assert map_pick({"kind": "many", "rows": []}, idx, xy, True) == Selection()  # an empty lasso clears
    assert map_pick({"kind": "probe", "x": 3.0, "y": 7}, idx, xy, True) == Selection("probe", [], (3.0, 7.0))
    hostile = [None, 3, "point", [], {"kind": "point"}, {"kind": "point", "row": 3}, {"kind": "point", "row": -1},
               {"kind": "point", "row": 0.5}, {"kind": "point", "row": True}, {"kind": "point", "row": "1"},
               {"kind": "point", "row": float("nan")}, {"kind": "many", "rows": [0, 3]},
               {"kind": "many", "rows": "012"}, {"kind": "many", "rows": [0, 1, 2, 0]}, {"kind": "many", "rows": [None]},
               {"kind": "probe", "x": float("inf"), "y": 0}, {"kind": "probe", "x": 1e9, "y": 0},
               {"kind": "probe", "x": "1", "y": 0}, {"kind": "probe", "x": 1.0}, {"kind": "delete", "row": 1}]
    for value in hostile:
        assert map_pick(value, idx, xy, True) is None, value
    assert map_pick({"kind": "probe", "x": 3.0, "y": 7.0}, idx, xy, False) is None  # t-SNE: no inverse


def test_a_chart_click_is_taken_only_as_an_index_in_range():
    assert click_index(3, 10) == 3 and click_index(0.0, 10) == 0 and click_index(9, 10) == 9
    for hostile in (10, -1, 2.5, float("nan"), float("inf"), True, "3", None, [3], {"d": 3}):
        assert click_index(hostile, 10) is None, hostile


# ---------------------------------------------------------------- training and collapse

HISTORY = [{"epoch": e, "train_elbo": -100.0 + e, "test_elbo": -101.0 + e, "test_rec": -90.0 + e, "test_kl": 11.0,
            "kl_per_dim": [1.0 * e, 0.0, 0.5]} for e in range(1, 4)]


def test_training_curves_have_two_panels_and_four_lines():
    fig = F.training_curves(HISTORY)
    _plain(fig)
    assert [t["name"] for t in fig["data"]] == ["train ELBO", "test ELBO", "−E_q[log p(x|z)]", "KL(q ‖ p)"]
    assert [t["xaxis"] for t in fig["data"]] == ["x", "x", "x2", "x2"]
    assert fig["data"][2]["y"] == [90.0 - e for e in range(1, 4)]  # −E_q[log p(x|z)] is positive
    lay = fig["layout"]
    assert lay["xaxis"]["title"]["text"] == lay["xaxis2"]["title"]["text"] == "epoch"
    assert lay["xaxis"]["domain"][1] < lay["xaxis2"]["domain"][0]  # side by side
    assert [a["text"] for a in lay["annotations"]] == ["ELBO (nats per image)", "Reconstruction and KL (test)"]


def test_one_kl_heatmap_on_a_log_scale_with_nats_on_hover():
    h = KLHistory(np.array([1, 2, 3]), np.array([[1.0, 0.0, 0.5], [2.0, 0.0, 0.5], [3.0, 0.0, 0.5]]))
    fig = F.kl_epoch_heatmap(h)
    _plain(fig)
    (t,) = fig["data"]
    assert t["type"] == "heatmap" and t["y"] == ["z0", "z1", "z2"] and t["x"] == [1, 2, 3]
    assert t["z"][1] == [-4.0, -4.0, -4.0]  # a dead dimension sits at the floor of the log scale
    assert t["customdata"][0] == [1.0, 2.0, 3.0]  # hover shows nats
    assert t["colorbar"]["ticktext"][0] == "0.0001"
    assert fig["layout"]["xaxis"]["title"]["text"] == "epoch" and fig["layout"]["yaxis"]["autorange"] == "reversed"


SVG = "{http://www.w3.org/2000/svg}"


def test_verdict_bars_colour_by_verdict_in_the_given_order_with_a_threshold():
    values = np.array([0.5, 0.001, -0.01, 0.2])
    verdicts = ["active", "collapsed", "collapsed", "active"]
    svg = verdict_bars_svg(values, np.array([0, 3, 1, 2]), verdicts, 0.01, "MI", "nats", se=np.full(4, 0.005))
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(SVG + "rect") if r.get("data-click") is not None]
    # in the given order, each bar carrying its dimension and coloured by its verdict
    assert [int(r.get("data-click")) for r in bars] == [0, 3, 1, 2]
    assert [r.get("fill") for r in bars] == [F.VERDICT_COLOURS[verdicts[d]] for d in (0, 3, 1, 2)]
    assert [r.get("data-verdict") for r in bars] == ["active", "active", "collapsed", "collapsed"]
    tips = [r.find(SVG + "title").text for r in bars]
    assert tips[0].startswith("z0: 0.5000 ± 0.0050 s.e.") and "below 0: estimator noise" in tips[3]
    texts = [t.text for t in root.iter(SVG + "text")]
    assert texts.count("noise") == 1 and "threshold 0.01" in texts and texts[0] == "MI"
    assert [t for t in texts if t.startswith("z")] == ["z0", "z3", "z1", "z2"]
    # ±2 s.e. error bars: one per bar, 2 × 0.005 above and below the bar's top
    errs = [p.get("d") for p in root.iter(SVG + "path")]
    assert len(errs) == 4
    y = [float(r.get("y")) for r in bars]
    h = [float(r.get("height")) for r in bars]
    unit = h[0] / 0.5  # viewBox units per nat
    top0, bottom0 = (float(v) for v in re.match(r"M[\d.]+ ([\d.]+)V([\d.]+)", errs[0]).groups())
    assert top0 - y[0] == pytest.approx(0.01 * unit, abs=0.15) and y[0] - bottom0 == pytest.approx(0.01 * unit, abs=0.15)
    assert y[3] == pytest.approx(y[0] + h[0], abs=0.15)  # the negative bar hangs from the zero line
    # the dashed threshold line at 0.01
    line = next(ln for ln in root.iter(SVG + "line") if ln.get("stroke") == F.ACCENT)
    assert float(line.get("y1")) == pytest.approx(y[0] + h[0] - 0.01 * unit, abs=0.15)


def test_profile_bars_put_runs_side_by_side_by_rank():
    fig = F.profile_bars([("a", np.array([2, 0]), np.array([1.0, 0.5])), ("b", np.array([1]), np.array([0.3]))],
                         "KL", "nats")
    _plain(fig)
    assert [t["name"] for t in fig["data"]] == ["a", "b"] and fig["data"][0]["x"] == [1, 2]
    assert fig["data"][0]["customdata"] == ["z2", "z0"] and fig["layout"]["barmode"] == "group"


def test_heatmap_axes():
    fig = F.heatmap(np.eye(2), [0.5, 1.5], ["z0", "z1"], "Histogram of μ_d(x)", "μ_d", "fraction")
    _plain(fig)
    assert fig["layout"]["xaxis"]["title"]["text"] == "μ_d" and fig["data"][0]["colorbar"]["title"]["text"] == "fraction"


# ---------------------------------------------------------------- gradient estimators

VAR_ROWS = [{"estimator": e, "L": L, "trace_var": v * 4 / L, "snr": 1 / v}
            for e, v in (("reparam", 1.0), ("score", 100.0), ("score_baseline", 10.0)) for L in (1, 4, 16)]


def test_variance_figure_is_log_log_with_a_1_over_l_reference_per_estimator():
    fig = EF.variance_figure(VAR_ROWS)
    _plain(fig)
    named = [t for t in fig["data"] if t.get("showlegend", True)]
    assert [t["name"] for t in named] == ["reparameterization", "score function", "score function + baseline"]
    assert fig["layout"]["xaxis"]["type"] == fig["layout"]["yaxis"]["type"] == "log"
    assert fig["layout"]["xaxis"]["tickvals"] == [1, 4, 16]
    ref = [t for t in fig["data"] if t.get("line", {}).get("dash") == "dot"]
    assert len(ref) == 3 and ref[0]["y"] == [4.0, 1.0, 0.25]
    assert named[1]["line"]["color"] == estimator_colour("score")


def test_snr_and_training_comparison_figures():
    fig = EF.snr_figure(VAR_ROWS)
    _plain(fig)
    assert fig["layout"]["title"]["text"] == "Signal-to-noise ratio" and len(fig["data"]) == 3
    rows = [{"estimator": e, "epoch": ep, "test_elbo": -50.0 - ep} for e in ESTIMATORS for ep in (0, 1, 2)]
    fig = EF.training_comparison_figure(rows)
    _plain(fig)
    assert len(fig["data"]) == 3 and all(len(t["x"]) == 3 for t in fig["data"])
    assert fig["layout"]["xaxis"]["dtick"] == 1


def test_agreement_figure_has_four_error_barred_traces_in_two_panels():
    rows = [{"pair": f"{e} vs reparam", "L": L, "cosine": 0.9, "cosine_se": 0.01,
             "cosine_if_equal": 0.95, "rel_diff": 0.2, "rel_diff_se": 0.02, "rel_diff_if_equal": 0.1}
            for e in ("score", "score_baseline") for L in (1, 4)]
    fig = EF.agreement_figure(rows)
    _plain(fig)
    assert sum(1 for t in fig["data"] if "error_y" in t) == 4
    assert {t["xaxis"] for t in fig["data"]} == {"x", "x2"}
    assert fig["layout"]["xaxis2"]["ticktext"] == ["1", "4"]


def test_toy_figure_marks_the_truth_in_each_panel():
    rng = np.random.default_rng(0)
    fig = EF.toy_figure((2.0, 1.0), {k: rng.normal(size=(100, 2)) for k in ("reparam", "score")})
    _plain(fig)
    assert [s["x0"] for s in fig["layout"]["shapes"]] == [2.0, 1.0]
    assert {t["name"] for t in fig["data"]} == {"reparameterization", "score function"}


def test_ui_labels_name_every_library_key_and_label_table_rows():
    from ui.labels import labelled
    assert set(ESTIMATOR_LABELS) == set(ESTIMATORS) and set(BASELINE_LABELS) == set(BASELINES)
    assert estimator_label("score") == estimator_label("score function") == "score function"
    rows = labelled([{"estimator": "score_baseline", "L": 1}, {"pair": "score vs reparam", "L": 4}])
    assert rows == [{"estimator": "score function + baseline", "L": 1},
                    {"pair": "score function vs reparameterization", "L": 4}]


# ---------------------------------------------------------------- traversals

@pytest.mark.parametrize("far", [False, True])
def test_density_chart_marks_the_slider_latent(far):
    svg = density_svg(-20.0, -5.0, [1, 3, 2], [-18.0, -12.0, -7.0], -200.0 if far else -10.0, -17.0, far)
    root = ET.fromstring(svg)
    bars = [r for r in root.iter(SVG + "rect") if r.find(SVG + "title") is not None]
    assert [r.find(SVG + "title").text for r in bars] == ["log q ≈ -18.0: 1 samples", "log q ≈ -12.0: 3 samples",
                                                         "log q ≈ -7.0: 2 samples"]
    centre = [float(r.get("x")) + float(r.get("width")) / 2 for r in bars]
    per_nat = (centre[1] - centre[0]) / 6.0
    dashed, mark = [ln for ln in root.iter(SVG + "line") if ln.get("stroke-width") in ("1", "3")]
    assert float(dashed.get("x1")) == pytest.approx(centre[0] + 1.0 * per_nat, abs=0.6)  # the 1st percentile, −17
    x_mark = float(mark.get("x1"))
    if far:  # pinned left of the data, dotted, with its value
        assert x_mark < centre[0] and mark.get("stroke-dasharray") and mark.get("stroke") == F.ACCENT
    else:
        assert x_mark == pytest.approx(centre[0] + 8.0 * per_nat, abs=0.6) and not mark.get("stroke-dasharray")
    assert any(t.text == ("← slider z: -200.0" if far else "slider z: -10.0") for t in root.iter(SVG + "text"))


def test_tick_labels_span_the_range():
    assert tick_labels(-3, 3, 5) == ["−3", "−1.5", "0", "1.5", "3"]
    assert tick_labels(3, -3, 3) == ["3", "0", "−3"]


def test_map_images_go_to_every_point_within_the_budget_and_evenly_spaced_beyond():
    from ui.components.scatter_map import image_rows
    assert image_rows(2000, 784) == list(range(2000))  # MNIST's 2,000 test images: 1.6 MB, all of them
    rows = image_rows(70_000, 784, budget=784 * 5000)
    assert len(rows) == 5000 and rows[0] == 0 and rows[-1] == 69_999 and rows == sorted(set(rows))
    gaps = np.diff(rows)
    assert gaps.min() >= 13 and gaps.max() <= 15  # every 14th, give or take rounding
    assert image_rows(10, 10**9) == [0]  # one image over the budget: still the first
