"""The view in the URL (ui/urlstate.py) and the latent pad's protocol, headless: a link's run and
latent open that view; a stale or hostile link opens the defaults and says what it ignored; the
browser is sent the decoder's weights only in the rerun that asks for them."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_runs import private_checkpoints
from vae.runs.validate import latent_vector, url_choice, url_index, url_run_name

REPO = Path(__file__).resolve().parents[1]
PAGE = str(REPO / "pages" / "traversals.py")
MAP = str(REPO / "pages" / "latent_map.py")


@pytest.fixture(autouse=True)
def runs(tmp_path, monkeypatch):
    return private_checkpoints(tmp_path, monkeypatch)


def open_link(page: str, **params) -> AppTest:
    """A first visit through app.py with these query parameters, then the page."""
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.switch_page(page).run()  # the link's page on the first visit, as a browser opens /traversals?…
    assert not at.exception, at.exception[0].value
    return at


def warnings(at: AppTest) -> str:
    return " ".join(w.value for w in at.warning).replace("\\", "")  # markdown escapes removed


def pad_data(at: AppTest) -> dict:
    (el,) = [e for e in at.get("bidi_component") if "trav_live" in e.proto.id]
    return json.loads(el.proto.json)


def test_a_link_reopens_run_and_latent_and_the_url_follows():
    z = [0.5, -1.25, 0, 0, 2, 0, 0, 0, 0, 3.5]  # digits-default has 10 dimensions; 3.5 widens the range
    at = open_link(PAGE, run="digits-default", z=",".join(map(str, z)))
    assert at.session_state["run_name"] == "digits-default"
    assert at.session_state["trav_latent"] == z
    assert at.session_state["trav_radius"] == 3.5
    assert pad_data(at)["z"] == z  # the browser's sliders start there
    assert at.query_params["run"] == ["digits-default"] or at.query_params["run"] == "digits-default"
    assert "ignored" not in warnings(at)
    # The page keeps the URL in step: Reset to zeros writes the new latent into the query.
    at.button[0].click().run()
    assert str(at.query_params["z"]).strip("[]'") == ",".join(["0"] * 10)


def test_another_run_from_a_link():
    at = open_link(PAGE, run="shapes-default")
    assert at.session_state["run_name"] == "shapes-default"
    assert len(at.session_state["trav_latent"]) == 10 and "ignored" not in warnings(at)


@pytest.mark.parametrize("params,says", [
    ({"run": "no-such-run"}, "there is no run named no-such-run"),
    ({"run": "../../etc"}, "not a valid run folder name"),
    ({"z": "1,2,3"}, "has 3 values but this model has 10"),
    ({"z": "1,2,x,4,5,6,7,8,9,10"}, "not a comma-separated list of numbers"),
    ({"z": ",".join(["nan"] * 10)}, "not a finite number"),
    ({"z": ",".join(["1e9"] * 10)}, "within ±10"),
    ({"z": "1," * 5000}, "too long"),
    ({"evil": "<script>"}, "not a parameter this app reads"),
])
def test_a_malformed_link_opens_the_defaults_and_says_what_it_ignored(params, says):
    at = open_link(PAGE, **params)
    assert at.session_state["run_name"] == "digits-default"  # the default run
    assert at.session_state["trav_latent"] == [0.0] * 10  # the default start point
    text = warnings(at)
    assert "Parts of this link were ignored" in text and says in text
    assert "<script>" not in text


def test_latent_map_point_and_projection_from_a_link():
    at = open_link(MAP, run="digits-default", proj="pca", point="7")
    assert at.session_state["lm_method_10"] == "pca"
    assert at.session_state["latent_map_selection"]["indices"] == [7]  # the point panel shows image #7
    assert str(at.query_params["point"]).strip("[]'") == "7"
    bad = open_link(MAP, run="digits-default", point="99999", proj="umap-with-typo")
    text = warnings(bad)
    assert "index 99999 is out of range" in text and "it must be one of" in text
    assert "point" not in bad.query_params


def test_weights_reach_the_browser_only_in_the_rerun_that_asks():
    at = open_link(PAGE)
    data = pad_data(at)
    assert data["spec"] and data["weights"] is None and data["fallback"] is None
    # The component's "need" trigger (the browser lacks this decoder) arrives through its callback.
    at.session_state["_trav_live_send"] = data["spec"]["hash"]
    at.run()
    sent = pad_data(at)
    assert isinstance(sent["weights"], str) and len(sent["weights"]) * 3 // 4 >= 4 * data["spec"]["n_weights"]
    at.run()  # any later rerun: the spec alone
    assert pad_data(at)["weights"] is None


def test_validators_refuse_hostile_values():
    assert url_run_name("digits-default", ["digits-default"]) == "digits-default"
    for bad in ["", ".hidden", "a/b", "a" * 65, "x\x00y", "digits-default "]:
        with pytest.raises(ValueError):
            url_run_name(bad, ["digits-default", bad])
    assert url_index("3", 4) == 3
    for bad in ["4", "-1", "1.5", "", "1e3", "9" * 20]:
        with pytest.raises(ValueError):
            url_index(bad, 4)
    assert latent_vector("1, -2.5", 2) == [1.0, -2.5] and latent_vector([1, 2.5], 2) == [1.0, 2.5]
    for bad in ["", "1", "1,inf", [1, "2"], [True, 1], {"a": 1}, None, [1e400, 0]]:
        with pytest.raises(ValueError):
            latent_vector(bad, 2)
    assert url_choice("pca", ["pca", "tsne"]) == "pca"
    with pytest.raises(ValueError):
        url_choice("PCA", ["pca", "tsne"])


def test_a_decoder_the_browser_cannot_run_falls_back_to_the_server(monkeypatch):
    monkeypatch.setenv("VAE_MAX_BROWSER_WEIGHTS", "10")  # digits-default's decoder has 77 k weights
    at = open_link(PAGE)
    data = pad_data(at)
    assert data["spec"] is None and data["weights"] is None
    assert "cannot run in the browser" in data["fallback"] and "VAE_MAX_BROWSER_WEIGHTS" in data["fallback"]
    assert any("trav-decoded" in h.proto.body for h in at.get("html"))  # the server's decode is shown
