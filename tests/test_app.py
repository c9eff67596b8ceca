"""Headless app tests (streamlit.testing.v1.AppTest): the frame, the picker, training from the UI."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_runs import private_checkpoints

REPO = Path(__file__).resolve().parents[1]
PAGES = ["pages/home.py", "pages/train.py", "pages/latent_map.py", "pages/traversals.py", "pages/collapse.py",
         "pages/estimators.py", "pages/gaps.py"]


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    """A private checkpoints folder holding copies of the committed runs."""
    monkeypatch.setenv("VAE_NO_DOWNLOAD", "1")
    return private_checkpoints(tmp_path, monkeypatch)


def app() -> AppTest:
    return AppTest.from_file(str(REPO / "app.py"), default_timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_each_page_renders_on_the_default_run(ckpt, page):
    at = app().run()
    assert at.session_state["run_name"] == "digits-default"
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_home_shows_the_default_runs_figures(ckpt):
    at = app().run()
    metrics = {m.label: m.value for m in at.metric}
    hist = (ckpt / "digits-default" / "history.jsonl").read_text().splitlines()
    import json
    last = json.loads(hist[-1])
    assert metrics["Test ELBO (nats)"] == f"{last['test_elbo']:.2f}"
    assert metrics["Active units"] == f"{last['active_units']} of 10"


def test_picker_switches_runs_and_keeps_choice_across_pages(ckpt):
    at = app().run()
    picker = at.sidebar.selectbox(key="_run_picker")
    assert [o.split(" · ")[0] for o in picker.options] == ["shapes-default", "digits-default"] or \
        {o.split(" · ")[0] for o in picker.options} == {"shapes-default", "digits-default"}
    picker.set_value("shapes-default").run()
    assert at.session_state["run_name"] == "shapes-default"
    assert "shapes" in at.caption[0].value
    at.switch_page("pages/train.py").run()
    at.switch_page("pages/home.py").run()
    assert at.session_state["run_name"] == "shapes-default"
    assert not at.exception


def test_no_runs_shows_guidance_not_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_CHECKPOINTS", str(tmp_path))
    at = app().run()
    assert not at.exception
    assert any("No run is selected" in i.value for i in at.info)


@pytest.mark.slow
def test_training_from_the_ui_completes_and_appears_in_the_picker(ckpt):
    at = app().run()
    at.switch_page("pages/train.py").run()
    form = {w.label: w for w in at.number_input}
    form["Epochs"].set_value(3)
    form["Latent size D"].set_value(3)
    names = {w.label: w for w in at.text_input}
    names["Run name"].set_value("ui-run")
    submit = [b for b in at.button if b.label == "Start training"][0]
    submit.click().run()
    assert not at.exception, [e.value for e in at.exception]
    from vae.jobs.training import JobManager
    job = JobManager(ckpt).wait(120)
    assert job is not None and job.name == "ui-run", job
    assert job.summary()["state"] == "finished", job.log_tail()
    assert len(job.history()) == 3
    at.run()
    options = at.sidebar.selectbox(key="_run_picker").options  # formatted labels
    assert any(o.startswith("ui-run · digits · mlp · D=3") for o in options), options
    explore = [b for b in at.button if b.label == "Explore this run"]
    assert explore, [b.label for b in at.button]
    explore[0].click().run()
    assert at.session_state["run_name"] == "ui-run"


def test_second_training_request_is_told_a_run_is_active(ckpt):
    from vae.jobs.training import JobError, JobManager
    m = JobManager(ckpt)
    m.start("long", ["--dataset", "digits", "--epochs", "500", "--batch-size", "8"], 500)
    try:
        with pytest.raises(JobError, match="already training"):
            m.start("second", ["--dataset", "digits", "--epochs", "1"], 1)
        at = app().run()
        at.switch_page("pages/train.py").run()
        assert any("is training on this server" in i.value for i in at.info)
        start = [b for b in at.button if b.label == "Start training"][0]
        assert start.disabled
    finally:
        m.stop()
        m.wait(60)
    assert m.active() is None


@pytest.mark.slow
def test_failed_run_shows_the_trainers_own_words_and_leaves_no_run(ckpt, tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_ROOTS", str(tmp_path))  # the form's folder must lie under the data roots
    at = app().run()
    at.switch_page("pages/train.py").run()
    at.selectbox[0].set_value("folder").run()  # the dataset choice, outside the form
    {w.label: w for w in at.text_input}["…or a folder on the server"].set_value(str(tmp_path / "missing")).run()
    [b for b in at.button if b.label == "Start training"][0].click().run()
    from vae.jobs.training import JobManager
    job = JobManager(ckpt).wait(120)
    at.run()
    errors = " ".join(e.value for e in at.error)
    assert "failed" in errors and "does not exist" in errors, errors
    assert not at.exception
    assert not (ckpt / job.name).exists()  # nothing half-made is left behind


@pytest.mark.parametrize("path", ["/etc", "/dev/zero", "/root/.ssh", "/nonexistent"])
def test_train_form_refuses_a_server_folder_outside_the_data_roots(ckpt, path):
    at = app().run()
    at.switch_page("pages/train.py").run()
    at.selectbox[0].set_value("folder").run()
    {w.label: w for w in at.text_input}["…or a folder on the server"].set_value(path).run()
    [b for b in at.button if b.label == "Start training"][0].click().run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("not an allowed data folder" in e for e in errors), errors
    from vae.jobs.training import JobManager
    assert JobManager(ckpt).current() is None  # no trainer was started
    assert not any(path in e for e in errors)
