"""Issue 16 through the real pages: hostile runs arrive by the real upload path
(``vae.runs.archive.import_upload``) or sit on disk from before the validator, and every page
(``AppTest`` on app.py, ``VAE_CHECKPOINTS`` a temp copy of checkpoints/) still works.

For every request: no uncaught exception, no server path in any rendered element, the
picker lists every other run, and each page run stays within its budget (measured here:
< 10 s and < 500 MB growth of the process's peak RSS).
"""
from __future__ import annotations

import io
import json
import resource
import shutil
import time
import zipfile
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app_runs import private_checkpoints

from vae.runs.folder import CheckpointError
from vae.runs.archive import import_upload

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "checkpoints" / "digits-default"
CONFIG = (DEFAULT / "config.json").read_bytes()
WEIGHTS = (DEFAULT / "model.safetensors").read_bytes()
PAGES = ["pages/home.py", "pages/train.py", "pages/latent_map.py", "pages/traversals.py", "pages/collapse.py",
         "pages/estimators.py"]
MD = "![x](https://evil.example/p.png) [log in](https://evil.example/login)"
SECONDS, RSS_MB = 10.0, 500


def _cfg(**data) -> bytes:
    cfg = json.loads(CONFIG)
    cfg["data"].update(data)
    return json.dumps(cfg).encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return buf.getvalue()


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    monkeypatch.delenv("VAE_DATA_ROOTS", raising=False)
    return private_checkpoints(tmp_path, monkeypatch)


def _plant_legacy(root: Path) -> dict[str, str]:
    """Run folders written before the validator existed: name -> what is wrong with it."""
    bad = {"legacy-devzero": (_cfg(name="folder", data_dir="/dev/zero", image_size=8), None),
           "legacy-etc": (_cfg(name="folder", data_dir="/etc", image_size=8), None),
           "legacy-markdown": (_cfg(name=MD), None),
           "legacy-size": (_cfg(image_size=512), None),
           "legacy-elbo-x": (CONFIG, b'{"epoch": 1, "test_elbo": "x"}\n'),
           "legacy-foo": (CONFIG, b'{"foo": 1}\n')}
    for name, (config, history) in bad.items():
        shutil.copytree(DEFAULT, root / name)
        (root / name / "config.json").write_bytes(config)
        if history is not None:
            (root / name / "history.jsonl").write_bytes(history)
    return {n: "" for n in bad}


def _texts(at: AppTest) -> list[str]:
    """Every rendered element's protobuf as text: labels, values, options, captions, errors."""
    out, stack = [], [at._tree]
    while stack:
        node = stack.pop()
        stack.extend(getattr(node, "children", {}).values())
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
    return out


def _run(at: AppTest, ckpt: Path, names: set[str]):
    peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak0) / 1024
    assert not at.exception, [e.value for e in at.exception]
    text = "\n".join(_texts(at))
    for leak in (str(ckpt.parent), str(REPO), "/dev/zero", "/etc", "evil.example/p.png)"):
        assert leak not in text, (leak, [t for t in _texts(at) if leak in t][:2])
    assert "![x](https://evil" not in text and "[log in](https://evil" not in text
    options = [o.split(" · ")[0] for o in at.sidebar.selectbox(key="_run_picker").options]
    assert set(options) == names, options
    assert seconds < SECONDS, seconds
    assert grown_mb < RSS_MB, grown_mb
    return seconds, grown_mb


@pytest.mark.slow
def test_hostile_runs_never_break_any_page(ckpt, one_thread):
    names = {"digits-default", "shapes-default", *_plant_legacy(ckpt)}
    # Through the real upload path: hostile datasets are refused, typed histories accepted.
    for config in (_cfg(name="folder", data_dir="/dev/zero", image_size=8), _cfg(name=MD), _cfg(image_size=512)):
        with pytest.raises(CheckpointError):
            import_upload([("x.zip", _zip({"r/config.json": config, "r/model.safetensors": WEIGHTS}))], ckpt)
    junk = b'{"epoch": 1, "test_elbo": "x"}\n{"foo": 1}\n' + b"{}\n" * 100_000
    up = import_upload([("up.zip", _zip({"r/config.json": CONFIG, "r/model.safetensors": WEIGHTS,
                                         "r/history.jsonl": junk}))], ckpt)
    names.add(up.name)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    measured = [_run(at, ckpt, names)]
    for name in sorted(names - {"digits-default", "shapes-default"}):
        at.session_state["run_name"] = name
        measured.append(_run(at, ckpt, names))
        if name.startswith("legacy-") and name not in ("legacy-elbo-x", "legacy-foo"):
            assert any("cannot be loaded" in e.value for e in at.error), name
    at.session_state["run_name"] = "legacy-devzero"
    for page in PAGES:
        at.switch_page(page)
        measured.append(_run(at, ckpt, names))
    at.session_state["run_name"] = up.name
    at.switch_page("pages/home.py")
    measured.append(_run(at, ckpt, names))
    metrics = {m.label: m.value for m in at.metric}
    # The ELBO is the run's own stored evaluation (vae.precompute), whatever its junk history says.
    from vae.cache import precompute
    pre = precompute.load(ckpt / up.name)
    assert pre is not None and metrics["Test ELBO (nats)"] == f"{pre.evaluation.elbo:.2f}"
    assert metrics["Epochs"] == "1"
    print("page runs: max %.2f s, max peak-RSS growth %.0f MB" % (max(s for s, _ in measured),
                                                                  max(m for _, m in measured)))


def test_sidebar_deletes_a_users_run_after_confirmation_never_a_committed_one(ckpt):
    up = import_upload([("mine.zip", _zip({"r/config.json": CONFIG, "r/model.safetensors": WEIGHTS}))], ckpt)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    at.session_state["run_name"] = up.name
    at.run()
    button = [b for b in at.sidebar.button if b.label == "Delete run"][0]
    assert button.disabled  # nothing happens before the confirmation
    [c for c in at.sidebar.checkbox if "Delete run" in c.label][0].check().run()
    [b for b in at.sidebar.button if b.label == "Delete run"][0].click().run()
    assert not at.exception
    assert not up.exists() and (ckpt / "digits-default").is_dir()
    assert at.session_state["run_name"] == "digits-default"
    assert not [b for b in at.sidebar.button if b.label == "Delete run"]  # committed runs offer no delete
