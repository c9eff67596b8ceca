"""Hostile run uploads and run names: every one is refused with a clear message, in the app
(AppTest, the sidebar's upload form), in the library and on the command line
(``python -m vae.evaluate BADRUN``), and nothing outside ``checkpoints/`` is ever written.

Cases are real files: pickles that would create a marker file if ever unpickled, broken
safetensors, bad configs, zips with escaping paths, a real zip bomb (a few hundred KB that
inflates to more than the 512 MiB limit), and an upload beyond ``VAE_MAX_UPLOAD_MB``.
"""
from __future__ import annotations

import builtins
import functools
import io
import json
import os
import pickle
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

pytest_plugins = ["faults_plugin"]
pytest.register_assert_rewrite("faults_plugin")
from faults_plugin import check_runs_kept, runs_state, tree  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "checkpoints" / "digits-default"
FILES = {n: (DEFAULT / n).read_bytes() for n in ("config.json", "model.safetensors", "history.jsonl")}
CFG = json.loads(FILES["config.json"])


class _Payload:
    """Unpickling this creates the marker file: proof that pickled code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


def _config(**model) -> bytes:
    cfg = json.loads(FILES["config.json"])
    cfg["model"].update(model)
    return json.dumps(cfg).encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _weights_with(edit) -> bytes:
    from safetensors.torch import load, save
    sd = load(FILES["model.safetensors"])
    edit(sd)
    return save(sd)


def hostile_runs(marker: Path) -> dict[str, tuple[dict[str, bytes], str]]:
    """case -> (run files, a fragment the refusal message must contain)."""
    evil_pt = io.BytesIO()
    torch.save({"fc_mu.weight": _Payload(marker)}, evil_pt)
    good = {"config.json": FILES["config.json"], "model.safetensors": FILES["model.safetensors"]}
    w = FILES["model.safetensors"]
    return {
        "pickle posing as model.pt": ({"config.json": FILES["config.json"], "model.pt": evil_pt.getvalue()},
                                      "pickled code is never run"),
        "pickle posing as safetensors": (good | {"model.safetensors": pickle.dumps({"w": _Payload(marker)})},
                                         "not a valid safetensors"),
        "truncated safetensors": (good | {"model.safetensors": w[: len(w) // 2]}, "not a valid safetensors"),
        "random safetensors": (good | {"model.safetensors": os.urandom(4096)}, "not a valid safetensors"),
        "empty safetensors": (good | {"model.safetensors": b""}, "not a valid safetensors"),
        "safetensors header claims 2^62 bytes": (good | {"model.safetensors": struct.pack("<Q", 1 << 62) + b"{}"},
                                                 "not a valid safetensors"),
        "config not JSON": (good | {"config.json": b"{model: nope"}, "not valid JSON"),
        "config not UTF-8": (good | {"config.json": b"\xff\xfe\x00garbage"}, "not valid JSON"),
        "config missing model": (good | {"config.json": b'{"format": "vae-latent-explorer/1"}'}, "config.json"),
        "config empty object": (good | {"config.json": b"{}"}, "config.json"),
        "latent size 10^6": (good | {"config.json": _config(latent_dim=10**6)}, "latent_dim"),
        "negative image size": (good | {"config.json": _config(image_size=-8)}, "image_size"),
        "negative hidden width": (good | {"config.json": _config(hidden=[-256])}, "hidden"),
        "latent size as text": (good | {"config.json": _config(latent_dim="ten")}, "latent_dim"),
        "unknown architecture": (good | {"config.json": _config(arch="transformer")}, "transformer"),
        "config of 2 MB": (good | {"config.json": b" " * (2 << 20) + b"{}"}, "a config is a few hundred bytes"),
        "shapes mismatch config": (good | {"config.json": _config(latent_dim=CFG["model"]["latent_dim"] + 3)},
                                   "shape"),
        "extra tensor": (good | {"model.safetensors": _weights_with(lambda sd: sd.update(evil=torch.zeros(3)))},
                         "unexpected tensors"),
        "missing tensor": (good | {"model.safetensors": _weights_with(lambda sd: sd.pop(sorted(sd)[0]))},
                           "missing tensors"),
        "NaN weights": (good | {"model.safetensors": _weights_with(
            lambda sd: next(iter(sd.values())).view(-1).__setitem__(0, float("nan")))}, "finite"),
        "no weights": ({"config.json": FILES["config.json"]}, "model.safetensors"),
        "no config": ({"model.safetensors": FILES["model.safetensors"]}, "config.json"),
    }


@functools.lru_cache(maxsize=1)
def zip_bomb() -> bytes:
    """~600 KB of zip whose config.json honestly inflates to 600 MiB of spaces."""
    buf = io.BytesIO()
    chunk = b" " * (1 << 20)
    info = zipfile.ZipInfo("run/config.json")
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("run/model.safetensors", FILES["model.safetensors"])
        with z.open(info, "w", force_zip64=True) as f:
            for _ in range(600):
                f.write(chunk)
    return buf.getvalue()


@functools.lru_cache(maxsize=1)
def lying_zip() -> bytes:
    """A zip whose config.json claims 600 bytes but inflates to 20 MiB (headers patched)."""
    raw = bytearray(_zip({"run/model.safetensors": FILES["model.safetensors"], "run/config.json": b" " * (20 << 20)}))
    real = struct.pack("<I", 20 << 20)
    fake = struct.pack("<I", 600)
    n = raw.count(real)
    assert n == 2, n  # the local header and the central directory entry
    return bytes(raw.replace(real, fake))


def hostile_zips(marker: Path) -> dict[str, tuple[bytes, str]]:
    evil_pt = io.BytesIO()
    torch.save({"x": _Payload(marker)}, evil_pt)
    return {
        "zip with ../ path": (_zip({"run/../../config.json": FILES["config.json"],
                                    "run/model.safetensors": FILES["model.safetensors"]}), "outside its folder"),
        "zip with absolute path": (_zip({"/etc/config.json": FILES["config.json"]}), "outside its folder"),
        "zip with drive path": (_zip({"C:/config.json": FILES["config.json"]}), "outside its folder"),
        "zip bomb": (zip_bomb(), "unpacks to more than 512 MiB"),  # refused from the declared sizes
        "zip with lying sizes": (lying_zip(), "cannot be read"),
        "zip of pickles": (_zip({"run/config.json": FILES["config.json"], "run/model.pt": evil_pt.getvalue()}),
                           "pickled code is never run"),
        "zip of 1,000 entries": (_zip({f"run/f{i}.txt": b"x" for i in range(1000)}), "entries"),
        "not a zip": (os.urandom(3000), "not a readable zip"),
        "two runs in one zip": (_zip({"a/config.json": FILES["config.json"], "b/config.json": FILES["config.json"]}),
                                "more than one"),
    }


@pytest.fixture
def ckpt(tmp_path, monkeypatch):
    """tmp_path/checkpoints with a copy of the default run; everything else in tmp_path is 'outside'."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    shutil.copytree(DEFAULT, root / DEFAULT.name)
    monkeypatch.setenv("VAE_CHECKPOINTS", str(root))
    return root


# ---------------------------------------------------------------- the library and the CLI

def test_hostile_run_files_refused_by_library(ckpt, tmp_path, fault):
    from vae.runs.folder import CheckpointError
    from vae.runs.archive import import_upload
    marker = tmp_path / "PWNED"
    before, outside = runs_state(ckpt), tree(tmp_path, exclude=ckpt)
    inside = tree(ckpt)
    for case, (files, msg) in hostile_runs(marker).items():
        with fault.case(f"upload: {case}"):
            with pytest.raises(CheckpointError, match=None) as e:
                import_upload(list(files.items()), ckpt)
            assert msg in str(e.value), (case, str(e.value))
    for case, (data, msg) in hostile_zips(marker).items():
        with fault.case(f"upload: {case}"):
            with pytest.raises(CheckpointError) as e:
                import_upload([(f"{case}.zip", data)], ckpt)
            assert msg in str(e.value), (case, str(e.value))
    assert not marker.exists(), "a pickled payload ran"
    assert tree(ckpt) == inside and tree(tmp_path, exclude=ckpt) == outside
    check_runs_kept(fault, ckpt, before)


def test_hostile_run_folders_fail_on_the_command_line(tmp_path, capsys, fault):
    """python -m vae.evaluate BADRUN: exit 2, an 'error:' line, no traceback, nothing written."""
    from vae import evaluate
    marker = tmp_path / "PWNED"
    for case, (files, msg) in hostile_runs(marker).items():
        with fault.case(f"evaluate: {case}"):
            bad = tmp_path / "runs" / case.replace(" ", "_").replace("^", "")
            bad.mkdir(parents=True)
            for n, d in files.items():
                (bad / n).write_bytes(d)
            snap = tree(tmp_path)
            assert evaluate.main([str(bad)]) == 2, case
            err = capsys.readouterr().err
            assert err.startswith("error: ") and "Traceback" not in err, (case, err)
            assert tree(tmp_path) == snap
    assert not marker.exists()


@pytest.mark.slow
def test_evaluate_subprocess_on_a_pickle_run(tmp_path, fault):
    """The same through a real process, for the most dangerous case."""
    marker = tmp_path / "PWNED"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "config.json").write_bytes(FILES["config.json"])
    (bad / "model.safetensors").write_bytes(pickle.dumps({"w": _Payload(marker)}))
    snap = tree(tmp_path)
    r = subprocess.run([sys.executable, "-m", "vae.evaluate", str(bad)], cwd=REPO, capture_output=True, text=True,
                       timeout=120, env={**os.environ, "VAE_NO_DOWNLOAD": "1"})
    assert r.returncode == 2 and "not a valid safetensors" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not marker.exists() and tree(tmp_path) == snap


# ---------------------------------------------------------------- the app's upload form

def _app():
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _upload(at, files: list[tuple[str, bytes]], name: str = ""):
    at.file_uploader[0].set_value([(n, d, "application/octet-stream") for n, d in files])
    [t for t in at.text_input if t.label == "Name (optional)"][0].set_value(name)
    [b for b in at.button if b.label == "Add run"][0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    # Messages quote data, so they reach markdown escaped (ui.text.safe_md): compare the text.
    return [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", e.value) for e in at.error]


@pytest.mark.slow
def test_hostile_uploads_get_a_clear_error_in_the_app(ckpt, tmp_path, fault):
    marker = tmp_path / "PWNED"
    at = _app()
    before, inside, outside = runs_state(ckpt), tree(ckpt), tree(tmp_path, exclude=ckpt)
    # The uploader takes .zip/.json/.safetensors/.jsonl (a .pt travels inside a zip).
    cases = [(c, list(files.items()), m) for c, (files, m) in hostile_runs(marker).items() if "model.pt" not in files]
    cases += [(c, [(f"{c}.zip", d)], m) for c, (d, m) in hostile_zips(marker).items()]
    for case, files, msg in cases:
        with fault.case(f"app upload: {case}"):
            errors = _upload(at, files)
            assert any(e.startswith("Upload refused:") and msg in e for e in errors), (case, errors)
            assert at.session_state["run_name"] == "digits-default"  # the page still shows the old run
    assert not marker.exists()
    assert tree(ckpt) == inside and tree(tmp_path, exclude=ckpt) == outside
    check_runs_kept(fault, ckpt, before)
    # Still usable: a good upload goes through afterwards.
    with fault.case("app upload: good run after hostile ones"):
        _upload(at, [("ok.zip", _zip({f"r/{n}": d for n, d in FILES.items()}))])
        assert at.session_state["run_name"] == "ok"
        assert (ckpt / "ok" / "model.safetensors").is_file()


def test_upload_beyond_the_limit_is_refused_before_reading(ckpt, tmp_path, monkeypatch, fault):
    monkeypatch.setenv("VAE_MAX_UPLOAD_MB", "1")
    at = _app()
    inside, outside = tree(ckpt), tree(tmp_path, exclude=ckpt)
    big = _zip({"r/config.json": FILES["config.json"], "r/model.safetensors": FILES["model.safetensors"],
                "r/padding.bin": os.urandom(3 << 19)})  # 1.5 MB, incompressible
    errors = _upload(at, [("big.zip", big)])
    assert any("larger than the 1 MB upload limit" in e for e in errors), errors
    assert tree(ckpt) == inside and tree(tmp_path, exclude=ckpt) == outside


# ---------------------------------------------------------------- run names

NAMES = {  # typed name -> the folder it must become (None: refused with a message)
    "../escape": "escape",
    "a/../../b/c": "a-..-..-b-c",  # one harmless folder name: no separator survives
    "/etc/passwd": "etc-passwd",
    "ctl\x00\x07\n\x1b[31mred": "ctl-31mred",
    "digits-default": "digits-default-2",  # existing: never overwritten
    "..": None,
    "/": None,
    "\n\t": None,
}


def _expect_new_run(root: Path, before: set[str], want: str) -> None:
    new = {p.name for p in root.iterdir()} - before
    assert new == {want}, new
    assert (root / want).resolve().parent == root.resolve()


def test_upload_names_never_overwrite_or_escape(ckpt, tmp_path, fault):
    at = _app()
    good = _zip({f"r/{n}": d for n, d in FILES.items()})
    keep = runs_state(ckpt)
    for typed, want in NAMES.items():
        with fault.case(f"upload name {typed!r}"):
            before = {p.name for p in ckpt.iterdir()}
            outside = tree(tmp_path, exclude=ckpt)
            errors = _upload(at, [("r.zip", good)], typed)
            if want is None:
                assert any("no usable characters" in e for e in errors), errors
                assert {p.name for p in ckpt.iterdir()} == before
            else:
                assert not errors, errors
                _expect_new_run(ckpt, before, want)
                assert at.session_state["run_name"] == want
            assert tree(tmp_path, exclude=ckpt) == outside
    check_runs_kept(fault, ckpt, keep)


@pytest.mark.slow
def test_training_form_names_never_overwrite_or_escape(ckpt, tmp_path, monkeypatch, fault):
    """The Train page's run name, with real (1-epoch, 100-image) trainer subprocesses."""
    from vae.jobs.training import JobManager
    monkeypatch.setenv("VAE_MAX_ITEMS", "100")
    at = _app()
    at.switch_page("pages/train.py").run()
    keep = runs_state(ckpt)
    for typed in ("../escape", "a/../../b/c", "ctl\x00\x07\n\x1b[31mred", "digits-default", ".."):
        want = NAMES[typed]
        with fault.case(f"training run name {typed!r}"):
            before = {p.name for p in ckpt.iterdir()} - {".jobs"}
            outside = tree(tmp_path, exclude=ckpt)
            {w.label: w for w in at.number_input}["Epochs"].set_value(1)
            {w.label: w for w in at.text_input}["Run name"].set_value(typed)
            [b for b in at.button if b.label == "Start training"][0].click().run()
            assert not at.exception, [e.value for e in at.exception]
            if want is None:
                assert any("no usable characters" in e.value for e in at.error), [e.value for e in at.error]
            else:
                job = JobManager(ckpt).wait(120)
                assert job is not None and job.summary()["state"] == "finished", job and job.log_tail()
                _expect_new_run(ckpt, before | {".jobs"}, want)
            assert {p.name for p in ckpt.iterdir()} - {".jobs"} >= before
            assert tree(tmp_path, exclude=ckpt) == outside
            at.run()
    check_runs_kept(fault, ckpt, keep)
