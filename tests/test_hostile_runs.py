"""Issue 16: the trust boundary of a whole run, driven through the real upload path
(``vae.runs.archive.import_upload``), the picker (``vae.runs.catalog.list_runs``) and the loaders.

Each case here was reproduced against the code before the validator: a device file as a
dataset, any server path as a dataset (and an oracle for its existence), image sizes and
item counts beyond the limits, histories that broke the picker or took minutes to import,
float64 weights that overflow float32, a deeply nested config, a zip with very many entries,
and no quota or delete for uploads.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from vae.runs.folder import CheckpointError, load_run, parse_config, read_history
from vae.runs.catalog import PROTECTED, delete_run, list_runs
from vae.runs.archive import import_upload

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "checkpoints" / "digits-default"
CONFIG = json.loads((DEFAULT / "config.json").read_text())
WEIGHTS = (DEFAULT / "model.safetensors").read_bytes()


def _cfg(**data) -> bytes:
    cfg = json.loads(json.dumps(CONFIG))
    cfg["data"].update(data)
    return json.dumps(cfg).encode()


def _zip(members: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for n, d in members.items():
            z.writestr(n, d)
    return buf.getvalue()


def _upload(root: Path, config: bytes, weights: bytes = WEIGHTS, history: bytes | None = None,
            name: str = "run") -> Path:
    files = {"run/config.json": config, "run/model.safetensors": weights}
    if history is not None:
        files["run/history.jsonl"] = history
    return import_upload([(f"{name}.zip", _zip(files))], root)


@pytest.fixture
def root(tmp_path, monkeypatch):
    r = tmp_path / "checkpoints"
    r.mkdir()
    monkeypatch.setenv("VAE_CHECKPOINTS", str(r))
    monkeypatch.delenv("VAE_DATA_ROOTS", raising=False)
    return r


# ---------------------------------------------------------------- a device file as a dataset

_DEVICE_SCRIPT = r"""
import io, json, resource, sys, zipfile
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # a regression fails here, not the machine
from vae.data import DataError, load_dataset
from vae.runs.folder import CheckpointError
from vae.runs.archive import import_upload
cfg = json.loads(open(sys.argv[1]).read())
cfg["data"].update(name="folder", data_dir="/dev/zero", image_size=8)
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("r/config.json", json.dumps(cfg))
    z.writestr("r/model.safetensors", open(sys.argv[2], "rb").read())
try:
    import_upload([("r.zip", buf.getvalue())], sys.argv[3])
    print("upload accepted")
except CheckpointError as e:
    print("upload refused:", e)
try:
    load_dataset("folder", "/dev/zero", image_size=8)  # the CLI / Train form path
    print("load accepted")
except DataError as e:
    print("load refused:", e)
"""


def test_device_file_as_dataset_is_refused_quickly_within_a_memory_limit(root):
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-c", _DEVICE_SCRIPT, str(DEFAULT / "config.json"),
                            str(DEFAULT / "model.safetensors"), str(root)],
                           capture_output=True, text=True, timeout=60, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail("reading /dev/zero as a dataset did not return within 60 s")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "upload refused: config.json: data_dir: not an allowed data folder" in r.stdout, r.stdout
    assert "load refused:" in r.stdout and "neither a folder nor a .zip" in r.stdout, r.stdout
    assert time.perf_counter() - t0 < 30
    assert not [p for p in root.iterdir() if not p.name.startswith(".")]


def test_fifo_named_like_an_image_is_skipped_not_waited_on(tmp_path):
    from PIL import Image
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(d / f"{i}.png")
    os.mkfifo(d / "trap.png")
    script = ("import sys; from vae.data.folder import load_folder; "
              "s = load_folder(sys.argv[1], image_size=8); print(len(s.train) + len(s.test), s.skipped)")
    try:
        r = subprocess.run([sys.executable, "-c", script, str(d)], capture_output=True, text=True, timeout=60,
                           cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail("a fifo in an image folder blocked the loader")
    assert r.stdout.split() == ["3", "1"], r.stdout + r.stderr


# ---------------------------------------------------------------- server paths as datasets

@pytest.mark.parametrize("path", ["/root/.ssh/id_rsa", "/etc", "/etc/passwd", "/nonexistent/dir", "/dev/zero",
                                  "../../../../etc", "~"])
def test_paths_outside_the_roots_get_one_message_whatever_they_are(root, path):
    for name in ("folder", "mnist"):
        with pytest.raises(CheckpointError) as e:
            parse_config(_cfg(name=name, data_dir=path, image_size=8))
        assert str(e.value) == ("config.json: data_dir: not an allowed data folder (the server reads data only "
                                "under VAE_DATA_ROOTS)")


def test_a_link_inside_the_roots_to_outside_is_refused(root, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    (data / "escape").symlink_to("/etc")
    monkeypatch.setenv("VAE_DATA_ROOTS", str(data))
    with pytest.raises(CheckpointError, match="not an allowed data folder"):
        parse_config(_cfg(name="folder", data_dir=str(data / "escape"), image_size=8))


def test_a_folder_under_the_roots_is_accepted_and_loads(root, tmp_path, monkeypatch):
    from PIL import Image
    from vae.data import load_dataset
    data = tmp_path / "data" / "imgs"
    for c in ("a", "b"):
        (data / c).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (8, 8), 30 * i).save(data / c / f"{i}.png")
    monkeypatch.setenv("VAE_DATA_ROOTS", str(tmp_path / "data"))
    cfg = parse_config(_cfg(name="folder", data_dir=str(data), image_size=8))
    splits = load_dataset("folder", cfg.data.data_dir, image_size=8)
    assert len(splits.train) + len(splits.test) == 6
    assert str(tmp_path) not in splits.source  # the source line reaches Home's caption


def test_uploads_folder_is_a_default_root(root):
    (root / ".uploads").mkdir()
    (root / ".uploads" / "x.zip").write_bytes(_zip({"a/1.png": b"x"}))
    cfg = parse_config(_cfg(name="folder", data_dir=str(root / ".uploads" / "x.zip"), image_size=8))
    assert cfg.data.data_dir.endswith("x.zip")


def test_unknown_dataset_name_is_refused(root):
    with pytest.raises(CheckpointError, match="unknown dataset"):
        _upload(root, _cfg(name="![x](https://host/p.png) [log in](https://host/login)"))


# ---------------------------------------------------------------- sizes before shapes

@pytest.mark.parametrize("data,msg", [({"image_size": 512}, "image_size"), ({"image_size": 4000}, "image_size"),
                                      ({"image_size": 16}, "expects 8×8"), ({"channels": 3}, "channel"),
                                      ({"max_items": 10**8}, "VAE_MAX_ITEMS")])
def test_image_size_and_items_are_checked_against_model_and_limits(root, data, msg):
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=msg):
        _upload(root, _cfg(**data))
    assert time.perf_counter() - t0 < 5


def test_max_items_limit_comes_from_the_environment(root, monkeypatch):
    monkeypatch.setenv("VAE_MAX_ITEMS", "100")
    with pytest.raises(CheckpointError, match="at most 100"):
        _upload(root, _cfg(max_items=101))
    assert _upload(root, _cfg(max_items=100)).is_dir()


# ---------------------------------------------------------------- histories

def test_typed_history_never_breaks_the_picker(root):
    hist = b"".join(json.dumps(r).encode() + b"\n" for r in
                    [{"epoch": 1, "test_elbo": -20.0}, {"foo": 1}, {"epoch": 2, "test_elbo": "x", "bar": [1]},
                     {"epoch": 2, "test_elbo": -19.0, "active_units": "7"}, [1, 2], {"epoch": True}])
    path = _upload(root, CONFIG_BYTES, history=hist)
    run = load_run(path)
    assert run.history == [{"epoch": 1, "test_elbo": -20.0}, {"epoch": 2, "test_elbo": -19.0, "active_units": None}]
    (info,) = list_runs(root)
    assert info.error is None and info.test_elbo == -19.0 and info.epochs == 2
    assert info.label.endswith("ELBO -19.0")


CONFIG_BYTES = (DEFAULT / "config.json").read_bytes()


def test_history_on_disk_with_bad_values_is_typed_for_old_runs(root):
    d = root / "legacy"
    shutil.copytree(DEFAULT, d)
    (d / "history.jsonl").write_text('{"foo": 1}\n{"test_elbo": "x", "epoch": 1}\n')
    infos = list_runs(root)
    assert [i.label for i in infos] == ["legacy · digits · mlp · D=10 · ELBO –"]


def test_a_huge_history_zip_imports_fast_and_is_capped(root):
    hist = b"{}\n" * ((40 << 20) // 3) + b"".join(b'{"epoch": %d, "test_elbo": -1.5}\n' % i for i in range(1, 20_001))
    data = _zip({"r/config.json": CONFIG_BYTES, "r/model.safetensors": WEIGHTS, "r/history.jsonl": hist})
    assert len(data) < 1 << 20
    t0 = time.perf_counter()
    path = import_upload([("r.zip", data)], root)
    assert time.perf_counter() - t0 < 10
    assert (path / "history.jsonl").stat().st_size < 1 << 20  # only typed records were kept
    t0 = time.perf_counter()
    read_history(path)
    list_runs(root)
    assert time.perf_counter() - t0 < 2


def test_history_file_on_disk_is_read_up_to_the_line_cap(root):
    from vae.runs.validate import MAX_HISTORY_LINES
    d = root / "long"
    shutil.copytree(DEFAULT, d)
    (d / "history.jsonl").write_text("".join(f'{{"epoch": {i}}}\n' for i in range(1, MAX_HISTORY_LINES + 500)))
    assert len(read_history(d)) == MAX_HISTORY_LINES


# ---------------------------------------------------------------- weights, config, zips

def test_float64_weights_that_overflow_float32_are_refused(root):
    from safetensors.torch import load, save
    sd = {k: v.double() for k, v in load(WEIGHTS).items()}
    sd["fc_mu.weight"][0, 0] = 1e300
    with pytest.raises(CheckpointError, match="not finite"):
        _upload(root, CONFIG_BYTES, save(sd))
    assert not list(root.iterdir()) or all(p.name.startswith(".") for p in root.iterdir())


def test_deeply_nested_config_is_a_clear_error(root):
    deep = b"[" * 200_000 + b"]" * 200_000
    with pytest.raises(CheckpointError, match="nested too deeply"):
        parse_config(deep)


def test_zip_entry_count_is_checked_before_the_zip_is_parsed(root, monkeypatch):
    import vae.runs.archive
    data = _zip({f"r/{i}": b"" for i in range(200)}, zipfile.ZIP_STORED)
    parsed = []
    real = zipfile.ZipFile
    monkeypatch.setattr(vae.runs.archive.zipfile, "ZipFile", lambda *a, **k: parsed.append(1) or real(*a, **k))
    with pytest.raises(CheckpointError, match="200 entries"):
        import_upload([("r.zip", data)], root)
    assert parsed == []


def test_image_zip_entry_count_is_checked_before_the_zip_is_parsed(tmp_path, monkeypatch):
    import vae.data.folder as df
    from vae.data import DataError
    z = tmp_path / "many.zip"
    z.write_bytes(_zip({f"a/{i}.png": b"" for i in range(50)}, zipfile.ZIP_STORED))
    monkeypatch.setattr(df, "MAX_ZIP_MEMBERS", 20)
    parsed = []
    real = zipfile.ZipFile
    monkeypatch.setattr(df.zipfile, "ZipFile", lambda *a, **k: parsed.append(1) or real(*a, **k))
    with pytest.raises(DataError, match="50 members"):
        df.load_folder(z, image_size=8)
    assert parsed == []


def test_entry_count_reads_zip64_records(tmp_path):
    from vae.files import zip_entry_count
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", allowZip64=True) as z:
        for i in range(3):
            z.writestr(f"{i}", b"x")
    raw = bytearray(buf.getvalue())
    assert zip_entry_count(io.BytesIO(bytes(raw))) == 3
    assert zip_entry_count(io.BytesIO(b"not a zip" * 100)) is None


# ---------------------------------------------------------------- the picker

def test_a_bad_run_is_listed_as_unreadable_and_the_others_still_listed(root):
    shutil.copytree(DEFAULT, root / "good")
    bad = {"devzero": _cfg(name="folder", data_dir="/dev/zero", image_size=8), "deep": b"[" * 100_000,
           "md": _cfg(name="![x](https://host/p.png)"), "big": _cfg(image_size=512)}
    for name, raw in bad.items():
        shutil.copytree(DEFAULT, root / name)
        (root / name / "config.json").write_bytes(raw)
    (root / "noweights").mkdir()  # a first epoch still training: not listed until its weights exist
    (root / "noweights" / "config.json").write_bytes(CONFIG_BYTES)
    infos = {i.name: i for i in list_runs(root)}
    assert set(infos) == {"good", *bad}
    assert infos["good"].error is None
    for name in bad:
        assert infos[name].error, name
        assert infos[name].label.startswith(f"{name} · unreadable: ")
        assert str(root) not in infos[name].label and "/dev/zero" not in infos[name].label


def test_weights_that_do_not_match_the_config_are_unreadable_in_the_picker(root):
    shutil.copytree(DEFAULT, root / "r")
    cfg = json.loads(CONFIG_BYTES)
    cfg["model"]["latent_dim"] = 3
    (root / "r" / "config.json").write_text(json.dumps(cfg))
    (info,) = list_runs(root)
    assert "does not match" in info.error


# ---------------------------------------------------------------- quota and delete

def test_uploads_have_a_count_quota_and_delete_frees_it(root, monkeypatch):
    monkeypatch.setenv("VAE_MAX_UPLOADED_RUNS", "2")
    shutil.copytree(DEFAULT, root / "digits-default")  # committed runs do not count
    a = _upload(root, CONFIG_BYTES, name="a")
    _upload(root, CONFIG_BYTES, name="b")
    with pytest.raises(CheckpointError, match="at most 2 uploaded runs"):
        _upload(root, CONFIG_BYTES, name="c")
    delete_run(a.name, root)
    assert not a.exists()
    assert _upload(root, CONFIG_BYTES, name="c").is_dir()


def test_uploads_have_a_size_quota(root, monkeypatch):
    monkeypatch.setenv("VAE_MAX_UPLOADED_MB", "0")
    with pytest.raises(CheckpointError, match="at most 0 MB"):
        _upload(root, CONFIG_BYTES)
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == []


def test_committed_runs_and_names_outside_the_root_are_never_deleted(root, tmp_path):
    for name in PROTECTED:
        shutil.copytree(DEFAULT, root / name)
        with pytest.raises(CheckpointError, match="ships with the project"):
            delete_run(name, root)
        assert (root / name / "model.safetensors").exists()
    (tmp_path / "victim").mkdir()
    for name in ("../victim", "..", "", "nope"):
        with pytest.raises(CheckpointError):
            delete_run(name, root)
    assert (tmp_path / "victim").is_dir()
