"""Issue 12 on the pages (AppTest, committed runs): the Collapse page names each stage while it
computes and draws what is ready first, rounds its thresholds, explains each statistic, shows the
MI's standard errors and its log M ceiling; the Traversals page says how many points form q(z)."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import vae.analysis.collapse as vc
import vae.analysis.traversal as tv
from ui.state import RUN_KEY

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(not (REPO / "checkpoints" / "digits-default").is_dir(),
                                 reason="the default run is not committed here")]


def open_page(page: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    # Written for digits-default (the app's default is now mnist-default); a test may name another run.
    at.session_state["run_name"] = state.get("run_name", "digits-default")
    at.run()
    for k, v in state.items():
        at.session_state[k] = v
    at.switch_page(page).run()
    return at


SVG = "{http://www.w3.org/2000/svg}"


def charts(at: AppTest) -> dict[str, ET.Element]:
    """The page's SVG charts (ui.components.svg_chart) by title (their first text)."""
    out = {}
    for el in at.get("bidi_component"):
        data = json.loads(el.proto.json)
        if "svg" in data:
            root = ET.fromstring(data["svg"])
            out[next(root.iter(SVG + "text")).text] = root
    return out


def bars(chart: ET.Element) -> list[dict]:
    """Each clickable bar of a per-dimension chart: its dimension, value, verdict and hover text."""
    return [{"dim": r.get("data-dim"), "value": float(r.get("data-value")), "verdict": r.get("data-verdict"),
             "tip": r.find(SVG + "title").text} for r in chart.iter(SVG + "rect") if r.get("data-click")]


def texts(chart: ET.Element) -> list[str]:
    return [t.text for t in chart.iter(SVG + "text")]


def error_bars(chart: ET.Element) -> int:
    return sum(1 for _ in chart.iter(SVG + "path"))


@pytest.fixture
def cold_cache():
    st.cache_data.clear()
    yield
    st.cache_data.clear()


@pytest.fixture
def no_precompute(monkeypatch):
    """As for a run whose precompute (vae.precompute) is not there yet: the page computes each stage."""
    import ui.cache
    monkeypatch.setattr(ui.cache, "stored_precompute", lambda run: None)
    monkeypatch.setattr(ui.cache, "precompute_task", lambda run, splits=None: None)


def test_collapse_page_names_each_stage_it_computes(monkeypatch, cold_cache):
    texts = []
    real = st.spinner

    @contextmanager
    def recording(text="", *args, **kwargs):
        texts.append(text)
        with real(text, *args, **kwargs):
            yield

    monkeypatch.setattr(st, "spinner", recording)
    at = open_page("pages/collapse.py")
    assert not at.exception, at.exception
    joined = " | ".join(texts)
    assert re.search(r"Mutual information.*\d+ subsamples of 360 test images", joined), texts
    assert re.search(r"Decoder sensitivity: 256 test images", joined), texts
    assert "ELBO over 360 test images" in joined, texts


def test_collapse_page_shows_what_is_ready_before_the_slow_estimates(monkeypatch, cold_cache, no_precompute):
    def slow_stage_fails(*args, **kwargs):
        raise RuntimeError("the mutual-information stage did not finish")

    # The O(M²) core of the MI estimate, under the names each version of vae.analysis.collapse calls it by.
    monkeypatch.setattr(vc, "mixture_log_density", slow_stage_fails, raising=False)
    monkeypatch.setattr(vc, "mutual_information", slow_stage_fails, raising=False)
    from vae.model.distributions import GaussianMixture
    monkeypatch.setattr(GaussianMixture, "log_prob_with_marginals", slow_stage_fails)
    at = open_page("pages/collapse.py")
    assert at.exception  # the stage failed...
    labels = {m.label: m.value for m in at.metric}
    assert re.fullmatch(r"\d+ of 10", labels.get("Active units", "")), labels  # ...after the exact ones were shown
    assert "E_x KL (nats)" in labels


@pytest.fixture(scope="module")
def digits_page(one_thread):
    at = open_page("pages/collapse.py", collapse_table=True)  # the table of every statistic, open
    assert not at.exception, at.exception
    return at


def test_thresholds_are_rounded_and_each_statistic_is_explained(digits_page):
    figs = charts(digits_page)
    notes = [t for f in figs.values() for t in texts(f) if t.startswith("threshold")]
    assert len(notes) == 4, notes
    for note in notes:
        digits = re.sub(r"^0\.0*|\.|e.*$", "", note.split()[-1])
        assert len(digits) <= 3, note  # three significant digits at most
    captions = " ".join(c.value for c in digits_page.caption)
    for words in ("Zero means z_d is the prior", "cannot tell images apart", "tells you about which image",
                  "the decoder ignores z_d"):
        assert words in captions, words


def test_mi_has_error_bars_standard_errors_and_its_log_m_bound(digits_page):
    mi_fig = charts(digits_page)["Mutual information per dimension"]
    assert len(bars(mi_fig)) == 10 and error_bars(mi_fig) == 10  # one error bar per dimension
    assert all(" s.e." in b["tip"] for b in bars(mi_fig))
    table = digits_page.dataframe[0].value
    assert {"MI s.e.", "MI says"} <= set(table.columns)
    assert table["MI s.e."].max() < 0.01
    assert set(table["MI says"]) <= {"used", "collapsed", "undetermined"}
    captions = " ".join(c.value for c in digits_page.caption)
    assert "bounded by log M = 5.886 nats" in captions  # log 360, beside the figures
    assert not any("ceiling" in w.value for w in digits_page.warning)  # 2.9 nats is far below it
    md = " ".join(m.value for m in digits_page.markdown)
    assert re.search(r"I_q\(x; z\) \+ KL\(q\(z\) ‖ p\(z\)\):\*\* [\d.]+ ≈ [\d.]+ ± 0\.0\d\d \+ [\d.]+ ± 0\.0\d\d", md), md


def test_negative_mi_is_called_noise_and_a_total_at_log_m_is_flagged(monkeypatch, cold_cache, no_precompute):
    real = vc.mixture_estimates

    def at_the_edges(*args, **kwargs):
        """The real estimates, with the collapsed dimensions' MI pushed below zero (as estimator noise
        often puts them) and the total within 0.1 nats of log M (as too few points put it)."""
        est = real(*args, **kwargs)
        mi = est.mi.copy()
        mi[mi < 0.01] -= 0.01
        return dataclasses.replace(est, mi=mi, mi_total=math.log(est.n_mixture) - 0.05)

    monkeypatch.setattr(vc, "mixture_estimates", at_the_edges, raising=False)
    at = open_page("pages/collapse.py")
    assert not at.exception, at.exception
    mi_fig = charts(at)["Mutual information per dimension"]
    negative = [b for b in bars(mi_fig) if b["value"] < 0]
    assert negative, "the collapsed dimensions' MI should be below zero here"
    for b in negative:  # labelled, and with its error bar
        assert "(below 0: estimator noise)" in b["tip"], b
    assert texts(mi_fig).count("noise") == len(negative) and error_bars(mi_fig) == len(bars(mi_fig))
    captions = " ".join(c.value for c in at.caption)
    assert "are estimator noise" in captions
    warning = " ".join(w.value for w in at.warning)
    assert "at the estimator's ceiling" in warning and "more points are needed" in warning


def test_shapes_run_shows_its_diagnostics_with_errors():
    if not (REPO / "checkpoints" / "shapes-default").is_dir():
        pytest.skip("the committed shapes-default run is not there")
    at = open_page("pages/collapse.py", **{RUN_KEY: "shapes-default", "collapse_table": True})
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert table["MI s.e."].max() < 0.01  # the default number of draws keeps every per-dimension error small
    mi_fig = charts(at)["Mutual information per dimension"]
    latent_dim = json.loads((REPO / "checkpoints" / "shapes-default" / "config.json").read_text())["model"]["latent_dim"]
    assert error_bars(mi_fig) == len(bars(mi_fig)) == latent_dim  # every dimension has its error bar
    assert texts(mi_fig).count("noise") == sum(b["value"] < 0 for b in bars(mi_fig))


def test_traversals_page_says_how_many_points_form_q_z(monkeypatch, cold_cache):
    real = tv.aggregate_posterior
    monkeypatch.setattr(tv, "aggregate_posterior", lambda mu, logvar, **kw: real(mu, logvar, max_components=100))
    at = open_page("pages/traversals.py")
    assert not at.exception, at.exception
    captions = " ".join(c.value for c in at.caption)
    assert "M = 100 of the 360 test images" in captions, captions
    monkeypatch.setattr(tv, "aggregate_posterior", real)
    st.cache_data.clear()
    at = open_page("pages/traversals.py")
    assert "all M = 360 test images" in " ".join(c.value for c in at.caption)
