"""The app with a learned prior (AppTest): the Train form's prior fields reach the trainer and are
validated; a VampPrior run's pages name its prior, show its pseudo-inputs, and say what assumes N(0, I);
the Inference gaps page offers the estimate for a run without one kept."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_runs import private_checkpoints

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_NO_DOWNLOAD", "1")
    return private_checkpoints(tmp_path, monkeypatch, runs=("digits-default",))


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


def _vamp_run(root: Path) -> None:
    subprocess.run([sys.executable, "-m", "vae.train", "--dataset=digits", "--epochs=1", "--latent-dim=3",
                    "--hidden", "32", "--prior=vamp", "--prior-components=5", f"--out={root / 'vamp-run'}"],
                   cwd=REPO, check=True, capture_output=True, timeout=300)


def _start(at, prior: str, k: int, free_bits: float = 0.0, name: str = "prior-run"):
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_prior").set_value(prior)
    at.number_input(key="train_prior_k").set_value(k)
    form = {w.label: w for w in at.number_input}
    form["Epochs"].set_value(1)
    form["Latent size D"].set_value(3)
    form["Free bits (nats/dim)"].set_value(free_bits)
    {w.label: w for w in at.text_input}["Run name"].set_value(name)
    [b for b in at.button if b.label == "Start training"][0].click().run()


def test_train_form_refuses_free_bits_with_a_mixture_prior(ckpt):
    at = app().run()
    _start(at, "mog", 4, free_bits=0.5)
    errors = " ".join(e.value for e in at.error).replace("\\", "")  # shown as escaped markdown
    assert "free bits need a per-dimension KL" in errors, errors
    from vae.jobs.training import JobManager
    assert JobManager(ckpt).current() is None and not at.exception


@pytest.mark.slow
def test_train_form_trains_with_the_chosen_prior(ckpt):
    at = app().run()
    _start(at, "vamp", 4)
    from vae.jobs.training import JobManager
    job = JobManager(ckpt).wait(240)
    assert "--prior=vamp" in job.args and "--prior-components=4" in job.args
    cfg = json.loads((ckpt / "prior-run" / "config.json").read_text())
    assert cfg["model"]["prior"] == "vamp" and cfg["model"]["prior_components"] == 4
    assert not at.exception


@pytest.mark.slow
def test_a_vamp_run_is_named_shown_and_caveated_on_its_pages(ckpt):
    _vamp_run(ckpt)
    at = app().run()
    at.sidebar.selectbox(key="_run_picker").set_value("vamp-run").run()
    assert any("VampPrior of 5 learned pseudo-inputs" in c.value for c in at.caption)  # Home's prior samples
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception, [e.value for e in at.exception]
    [exp] = [e for e in at.expander if "The prior's components" in e.label]
    assert any("pseudo-inputs u_k" in c.value for c in exp.caption)
    at.switch_page("pages/collapse.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("assume N(0, I)" in i.value for i in at.info)
    at.switch_page("pages/gaps.py").run()
    assert not at.exception and not at.error
    assert any(b.label == "Estimate the gaps of vamp-run" for b in at.button)


def test_standard_runs_show_no_prior_extras(ckpt):
    at = app().run()
    assert any("N(0, I)" in c.value for c in at.caption)
    at.switch_page("pages/collapse.py").run()
    assert not any("assume N(0, I)" in i.value for i in at.info)
