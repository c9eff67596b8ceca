"""The page rough edges of issue 17, headless: the sidebar's upload, the Collapse page's MIG
switch, the Traversals page's tabs and tick values, and the Train monitor's cost between epochs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from app_runs import private_checkpoints

from ui.train.monitor import VIEW_KEY, job_view
from ui.sidebar import SUBMIT_LABEL
from ui.state import RUN_KEY
from vae.export.images import tick_labels, with_ticks

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "app.py")


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    return private_checkpoints(tmp_path, monkeypatch)


def _submit(at: AppTest, files: list[tuple[str, bytes]]) -> list[str]:
    at.sidebar.file_uploader[0].set_value([(n, d, "application/octet-stream") for n, d in files])
    next(b for b in at.sidebar.button if b.label == SUBMIT_LABEL).click().run()
    assert not at.exception, [e.value for e in at.exception]
    return [e.value.replace("\\", "") for e in at.sidebar.error]


# ---------------------------------------------------------------- sidebar

def test_upload_sits_above_the_run_details_and_one_button_says_upload(ckpt):
    at = AppTest.from_file(APP, default_timeout=60).run()
    kinds = [type(el).__name__ + ":" + str(getattr(el, "label", "")) for el in at.sidebar]
    assert SUBMIT_LABEL == "Add run" and not any(b.label == "Upload" for b in at.sidebar.button)
    upload = next(i for i, k in enumerate(kinds) if "Upload a run" in k)
    details = next(i for i, el in enumerate(at.sidebar) if "Dataset" in str(getattr(el, "value", "")))
    assert upload < details, kinds


def test_a_wrong_type_file_is_named_and_the_accepted_types_are_said(ckpt):
    at = AppTest.from_file(APP, default_timeout=60).run()
    errors = _submit(at, [("notes.txt", b"hello")])
    assert any("notes.txt" in e and "config.json" in e and "zip" in e for e in errors), errors
    assert at.session_state[RUN_KEY] == "digits-default"


def test_no_file_says_which_files_are_accepted(ckpt):
    at = AppTest.from_file(APP, default_timeout=60).run()
    next(b for b in at.sidebar.button if b.label == SUBMIT_LABEL).click().run()
    errors = [e.value.replace("\\", "") for e in at.sidebar.error]
    assert any(e.startswith("Choose a file first:") and ".zip" in e and "model.safetensors" in e for e in errors)


# ---------------------------------------------------------------- collapse: MIG on a shapes run

@pytest.mark.slow
def test_mig_tab_offers_the_shapes_run_and_switches_to_it(ckpt):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/collapse.py")
    at.session_state["collapse_tab"] = "Disentanglement (MIG)"
    at.run()
    assert any("ground-truth factors" in i.value for i in at.info)
    button = next(b for b in at.button if b.key == "collapse_to_shapes")
    assert "shapes" in button.label
    button.click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state[RUN_KEY] == "shapes-default"
    assert any(m.label == "MIG" for m in at.metric)


# ---------------------------------------------------------------- traversals

@pytest.mark.slow
def test_traversal_modes_are_tabs_above_the_sliders(ckpt):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/traversals.py").run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Per-dimension traversal", "Grid traversal", "Interpolation"]
    tree = list(at.main)
    first_tab = next(i for i, el in enumerate(tree) if type(el).__name__ == "Tabs" or el.type == "tab_container")
    first_slider = next(i for i, el in enumerate(tree) if "Slider" in type(el).__name__ or el.type == "slider")
    assert first_tab < first_slider


def test_a_sheet_gets_a_tick_value_under_each_column_and_beside_each_row():
    cell, pad, n = 20, 2, 5
    side = n * (cell + pad) + pad
    sheet = Image.new("L", (side, side), 128)
    out = with_ticks(sheet, (cell, cell), pad, tick_labels(-3, 3, n), tick_labels(3, -3, n), "z0", "z1")
    assert out.height > sheet.height and out.width > sheet.width
    arr = np.asarray(out)
    left = out.width - side
    band = arr[sheet.height:sheet.height + 14, left:]
    for k in range(n):  # ink under every column
        x0 = pad + k * (cell + pad)
        assert (band[:, x0:x0 + cell] < 128).any(), k
    assert (arr[:side, :left] < 128).any()  # row values on the left


# ---------------------------------------------------------------- train monitor

class FakeJob:
    """A job whose run folder the test writes; counts the reads the monitor makes."""

    def __init__(self, run_dir: Path):
        self.name, self.returncode, self.dir, self.reads = "r", None, run_dir, 0

    def current_dir(self) -> Path:
        return self.dir

    def history(self) -> list[dict]:
        self.reads += 1
        lines = (self.dir / "history.jsonl").read_text().splitlines()
        return [{"epoch": i + 1, "train_elbo": -1.0, "test_elbo": -1.0, "test_rec": -1.0, "test_kl": 0.5,
                 "kl_per_dim": [0.5]} for i, _ in enumerate(lines)]

    def summary(self) -> dict:
        return {"state": "running" if self.returncode is None else "finished", "epoch": len(self.history()),
                "epochs": 5, "seconds_left": None}

    def log_tail(self, n: int) -> str:
        return "epoch"


def test_the_monitor_rebuilds_only_when_an_epoch_lands(tmp_path):
    job, store = FakeJob(tmp_path), {}
    (tmp_path / "history.jsonl").write_text("{}\n")
    first = job_view(job, store)
    reads = job.reads
    for _ in range(5):  # ticks between epochs: no read, the very same figures
        assert job_view(job, store) is first
    assert job.reads == reads and store[VIEW_KEY] is first
    (tmp_path / "history.jsonl").write_text("{}\n{}\n")  # an epoch lands
    second = job_view(job, store)
    assert second is not first and job.reads > reads
    assert len(second["history"]) == 2 and second["summary"]["epoch"] == 2
    assert second["curves"] is None and second["heat"] is None  # running: the browser draws the curves
    job.returncode = 0  # the process ended: redrawn once more, now with the plotly figures
    third = job_view(job, store)
    assert third is not second and len(third["curves"]["data"][0]["x"]) == 2 and third["heat"] is not None


def test_ticks_between_epochs_build_no_figure_and_read_no_history(tmp_path, monkeypatch):
    """Count the work of each monitor tick (the progress fragment's and the charts fragment's, which
    share one view): between epochs none; one history read per epoch; no figure while the job runs,
    and each figure built once when it has ended."""
    import ui.train.monitor as monitor
    built = {"curves": 0, "heat": 0}
    real_curves, real_heat = monitor.training_curves, monitor.kl_epoch_heatmap

    def curves(*a, **k):
        built["curves"] += 1
        return real_curves(*a, **k)

    def heat(*a, **k):
        built["heat"] += 1
        return real_heat(*a, **k)
    monkeypatch.setattr(monitor, "training_curves", curves)
    monkeypatch.setattr(monitor, "kl_epoch_heatmap", heat)
    job, store = FakeJob(tmp_path), {}
    for epochs in (1, 2, 3):
        (tmp_path / "history.jsonl").write_text("{}\n" * epochs)
        reads = job.reads
        for _ in range(10):  # ten ticks of both fragments while this epoch runs
            job_view(job, store)
        assert job.reads - reads == 2  # summary + history, once, on the first tick after the epoch landed
        assert built == {"curves": 0, "heat": 0}
    job.returncode = 0
    for _ in range(10):
        job_view(job, store)
    assert built == {"curves": 1, "heat": 1}


def test_an_operator_chooses_the_run_new_visitors_see(monkeypatch):
    from ui.sidebar import pick_default
    names = ["newest", "digits-default", "mnist-default"]
    assert pick_default(names) == "mnist-default"
    monkeypatch.setenv("VAE_DEFAULT_RUN", "digits-default")
    assert pick_default(names) == "digits-default"
    monkeypatch.setenv("VAE_DEFAULT_RUN", "gone")
    assert pick_default(names, {"digits-default"}) == "digits-default"  # absent: the newest readable run


def test_negative_ticks_are_drawn_with_a_minus_the_font_has():
    """Pillow's built-in font lacks U+2212: a '−3' tick must look like '-3', not a box then 3."""
    from PIL import Image
    sheet = Image.new("L", (3 * 30 + 4, 30 + 2), 0)
    a = with_ticks(sheet, (30, 30), 1, ["−3", "0", "3"], ["−3"], "z0", "z1")
    b = with_ticks(sheet, (30, 30), 1, ["-3", "0", "3"], ["-3"], "z0", "z1")
    assert a.tobytes() == b.tobytes()
