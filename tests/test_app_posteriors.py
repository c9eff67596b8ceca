"""Every page opens on a flow, a categorical and a Dirichlet run (AppTest, headless), and shows what
those posteriors are: the posterior named on Home and in the picker, a sample cloud on the map, per-variable
KL on Collapse with AU/MI marked "not defined", a class switch on Traversals that changes the image."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from vae.analysis import posterior_views as pv
from vae.runs.catalog import list_runs
from vae.runs.folder import save_run
from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.data import load_dataset
from vae.model.networks import build_model
from vae.training.loop import fit

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
APP = str(Path(__file__).resolve().parents[1] / "app.py")
RUNS = {"post-iaf": dict(posterior="iaf", latent_dim=4, flow_steps=2),
        "post-planar": dict(posterior="planar", latent_dim=4, flow_steps=2),
        "post-cat": dict(posterior="categorical", latent_dim=3, categories=4),
        "post-dir": dict(posterior="dirichlet", latent_dim=3)}
PAGES = ["pages/home.py", "pages/latent_map.py", "pages/traversals.py", "pages/collapse.py", "pages/estimators.py",
         "pages/train.py", "pages/compare.py", "pages/gaps.py"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("checkpoints")
    splits = load_dataset("digits")
    for name, kw in RUNS.items():
        torch.manual_seed(0)
        cfg = RunConfig(model=ModelConfig(image_size=8, hidden=[64], **kw), train=TrainConfig(epochs=1, batch_size=64),
                        data=DataConfig(name="digits"))
        model = build_model(cfg.model)
        res = fit(model, splits.train.x[:256], splits.test.x, cfg.train)
        save_run(root / name, model, cfg, res.history, epoch=1)
    return root


def _open(root: Path, monkeypatch, run: str, page: str) -> AppTest:
    monkeypatch.setenv("VAE_CHECKPOINTS", str(root))
    monkeypatch.setenv("VAE_DEFAULT_RUN", run)
    app = AppTest.from_file(APP, default_timeout=120)
    app.session_state["run_name"] = run
    app.run()
    app.switch_page(page).run()
    return app


def _text(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption] + [s.value for s in app.subheader]
    return " ".join(parts + [e.value for e in app.error] + [str(m.value) for m in app.metric])


@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens(checkpoints, monkeypatch, run, page):
    app = _open(checkpoints, monkeypatch, run, page)
    assert not app.exception, (run, page, app.exception)
    assert not app.error, (run, page, [e.value for e in app.error])
    if page == "pages/compare.py":  # its aligned maps need Gaussian posteriors and say so
        assert any("needs a Gaussian posterior" in w.value for w in app.warning)


def test_home_and_picker_name_the_posterior(checkpoints, monkeypatch):
    app = _open(checkpoints, monkeypatch, "post-iaf", "pages/home.py")
    assert "IAF ×2" in _text(app)
    labels = {r.name: r.label for r in list_runs(checkpoints)}
    assert "IAF ×2" in labels["post-iaf"] and "3 × Cat(4)" in labels["post-cat"]


def test_collapse_marks_au_and_mi_not_defined_and_bounds_categorical_kl(checkpoints, monkeypatch):
    app = _open(checkpoints, monkeypatch, "post-cat", "pages/collapse.py")
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Active units"] == "not defined" and metrics["Mutual information"] == "not defined"
    table = app.dataframe[0].value
    assert len(table) == 3 and (table["KL (nats)"] <= torch.log(torch.tensor(4.0)).item() + 1e-9).all()
    app = _open(checkpoints, monkeypatch, "post-iaf", "pages/collapse.py")
    assert "±" in {m.label: m.value for m in app.metric}["KL(q(z|x) ‖ p(z))"]


def test_latent_map_shows_a_sample_cloud_for_a_flow(checkpoints, monkeypatch):
    app = _open(checkpoints, monkeypatch, "post-iaf", "pages/latent_map.py")
    assert "estimated from" in _text(app)
    app.number_input(key="pv_index").set_value(5).run()
    assert not app.exception
    assert "samples of q(z|x)" in _text(app)


def test_switching_a_class_changes_the_decoded_image(checkpoints, monkeypatch):
    from vae.runs.folder import load_run
    model = load_run(checkpoints / "post-cat").model
    x = load_dataset("digits").test.x[:1]
    logits, chosen = pv.categorical_start(model, x)
    before = pv.decode_latent(model, pv.categorical_latent(logits, chosen, 0.0))
    other = list(chosen)
    other[0] = (chosen[0] + 1) % 4
    after = pv.decode_latent(model, pv.categorical_latent(logits, other, 0.0))
    assert (before - after).abs().max() > 1e-3
    z = pv.categorical_latent(logits, other, 0.0).reshape(3, 4)
    assert torch.equal(z.argmax(-1), torch.tensor(other)) and torch.equal(z.max(-1).values, torch.ones(3))
    mixed = pv.categorical_latent(logits, other, 1.0).reshape(3, 4)  # τ = 1: the posterior's own probabilities,
    assert torch.equal(mixed.argmax(-1), torch.tensor(other))  # re-ordered so the chosen class leads
    assert torch.allclose(mixed.sort(-1).values, torch.softmax(logits, -1).sort(-1).values, atol=1e-6)
    app = _open(checkpoints, monkeypatch, "post-cat", "pages/traversals.py")
    assert not app.exception
    box = app.selectbox(key="pv_class_0_0")
    shown = [e.proto.body for e in app.get("html") if "pv-cat-image" in e.proto.body]
    assert len(shown) == 1
    box.set_value((int(box.value) + 1) % 4).run()
    assert not app.exception
    now = [e.proto.body for e in app.get("html") if "pv-cat-image" in e.proto.body]
    assert len(now) == 1 and now != shown  # the decoded image changed
