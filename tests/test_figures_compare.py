"""The Compare page's figures as plain dicts: lines of equal ELBO, one trace per sweep, linked maps."""
from __future__ import annotations

import numpy as np
import pytest

from ui.compare.figures import aligned_maps, iso_elbo_lines, rd_plane, score_groups, surgery_bars


def _p(name, r, d, sweep=""):
    return dict(name=name, rate=r, distortion=d, rate_se=0.1, distortion_se=0.2, elbo=-(r + d), sweep=sweep,
                hover=name)


def test_lines_of_equal_elbo_lie_on_rate_plus_distortion_and_inside_the_box():
    lines = iso_elbo_lines((0.0, 10.0), (20.0, 30.0))
    assert len(lines) >= 3
    for c, (x0, y0, x1, y1) in lines:
        assert x0 + y0 == pytest.approx(c) and x1 + y1 == pytest.approx(c)
        for x, y in ((x0, y0), (x1, y1)):
            assert -1e-9 <= x <= 10 + 1e-9 and 20 - 1e-9 <= y <= 30 + 1e-9
    cs = [c for c, _ in lines]
    assert cs == sorted(cs) and len(set(np.round(np.diff(cs), 9))) == 1  # evenly spaced, round values


def test_plane_has_a_trace_per_sweep_the_current_run_ringed_and_names_to_click():
    fig = rd_plane([_p("a", 1, 25, "s1"), _p("b", 2, 24, "s1"), _p("c", 5, 22)], current="c")
    by = {t["name"]: t for t in fig["data"]}
    assert by["sweep s1"]["customdata"] == [["a"], ["b"]]
    assert by["other runs"]["x"] == [5] and by["other runs"]["error_y"]["array"] == [0.4]
    assert by["current run"]["x"] == [5] and by["current run"]["y"] == [22]
    assert all(s["type"] == "line" for s in fig["layout"]["shapes"])
    assert fig["layout"]["annotations"] and fig["layout"]["xaxis"]["range"][0] >= 0


def test_surgery_bars_stack_the_two_terms():
    fig = surgery_bars([dict(name="a", rate=3.0, rate_se=0.1, mi=2.0, mi_se=0.05, marginal_kl=1.0,
                             marginal_kl_se=0.05, mi_ceiling=5.9)])
    assert fig["layout"]["barmode"] == "stack"
    assert [t["y"][0] for t in fig["data"]] == [2.0, 1.0, 3.0, 5.9]


def test_aligned_maps_share_rows_and_ring_the_selection_in_both():
    ref = np.arange(12, dtype=float).reshape(6, 2)
    labels = np.array([0, 1, 0, 1, 0, 1])
    fig = aligned_maps(ref, ref + 1, labels, ["zero", "one"], ("A", "B"), highlight=[3])
    data = fig["data"]
    assert {t["xaxis"] for t in data} == {"x", "x2"}
    rings = [t for t in data if t["name"] == "selected"]
    assert len(rings) == 2 and [t["customdata"] for t in rings] == [[[3]], [[3]]]
    assert rings[0]["x"] == [6.0] and rings[1]["x"] == [7.0]
    zero = [t for t in data if t["name"] == "zero"]
    assert [r[0] for r in zero[0]["customdata"]] == [0, 2, 4] == [r[0] for r in zero[1]["customdata"]]


def test_score_groups_show_spread_only_for_several_seeds():
    fig = score_groups([dict(label="β=1", n=3, mean={"MIG": 0.3}, sd={"MIG": 0.05}),
                        dict(label="β=4", n=1, mean={"MIG": 0.5}, sd={"MIG": float("nan")})], ["MIG"])
    assert fig["data"][0]["error_y"]["visible"] and fig["data"][0]["error_y"]["array"] == [0.05]
    assert not fig["data"][1]["error_y"]["visible"]


def test_run_names_reach_plotly_escaped():
    fig = rd_plane([_p("<a href='x'>run</a>", 1, 2)])
    assert fig["data"][0]["text"] == ["&lt;a href=&#x27;x&#x27;&gt;run&lt;/a&gt;"]
    assert fig["data"][0]["customdata"] == [["<a href='x'>run</a>"]]  # the click still names the folder


def test_class_names_and_titles_from_data_are_escaped_on_the_maps():
    ref = np.arange(8, dtype=float).reshape(4, 2)
    fig = aligned_maps(ref, ref, np.array([0, 0, 1, 1]), ["<b>x</b>", "%{y}"], ("<i>a</i>", "b"))
    names = {t["name"] for t in fig["data"]}
    assert names == {"&lt;b&gt;x&lt;/b&gt;", "&#37;{y}"}
    assert "%{y}" not in " ".join(t["hovertemplate"] for t in fig["data"])
    assert fig["layout"]["annotations"][0]["text"] == "&lt;i&gt;a&lt;/i&gt;"
