"""Hostile image folders and zips for ``--dataset folder``: corrupt, empty, 1×1 and enormous
images, an image-zip bomb. Unreadable files are skipped and counted; when nothing usable is
left the trainer exits 2 with a message (command line) and the Train page shows it (AppTest);
no run folder and nothing outside ``checkpoints/`` is written.

1×1 images are readable by design (tests/test_data.py: they are resized like any other), so a
folder needs at least two readable images; one 1×1 image among broken ones is refused."""
from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest_plugins = ["faults_plugin"]
pytest.register_assert_rewrite("faults_plugin")
from faults_plugin import check_runs_kept, runs_state, tree  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _claims_huge(w: int = 100_000, h: int = 100_000) -> bytes:
    """A 1×1 PNG whose header (with a valid CRC) claims w×h pixels."""
    raw = bytearray(_png(np.zeros((1, 1), np.uint8)))
    i = raw.index(b"IHDR")
    raw[i + 4:i + 12] = struct.pack(">II", w, h)
    raw[i + 17:i + 21] = struct.pack(">I", zlib.crc32(bytes(raw[i:i + 17])))
    return bytes(raw)


def bad_images() -> dict[str, bytes]:
    good = _png(np.random.default_rng(0).integers(0, 255, (16, 16), dtype=np.uint8))
    return {
        "corrupt.png": b"\x89PNG\r\n\x1a\n" + os.urandom(500),
        "truncated.png": good[: len(good) // 2],
        "empty.png": b"",
        "text.jpg": b"this is not a picture",
        "enormous.png": _png(np.zeros((6000, 7000), np.uint8)),  # 42 M pixels > the 40 M limit
        "claims-10G-pixels.png": _claims_huge(),
    }


def good_images(n: int) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    return {f"ok{i}.png": _png(rng.integers(0, 255, (20, 20), dtype=np.uint8)) for i in range(n)}


ONE_PIXEL = {"dot.png": _png(np.full((1, 1), 255, np.uint8))}


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for n, d in files.items():
        (folder / n).write_bytes(d)
    return folder


def _zip(files: dict[str, bytes], prefix: str = "imgs/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(prefix + n, d)
    return buf.getvalue()


def image_zip_bomb() -> bytes:
    """~600 KB that inflates to one 600 MiB 'image'."""
    buf = io.BytesIO()
    info = zipfile.ZipInfo("imgs/bomb.png")
    info.compress_type = zipfile.ZIP_DEFLATED
    chunk = b"\0" * (1 << 20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open(info, "w", force_zip64=True) as f:
            for _ in range(600):
                f.write(chunk)
    return buf.getvalue()


@pytest.fixture(scope="module")
def bad():
    return bad_images()


def _train_main(capsys, *args) -> tuple[int, str]:
    """vae.train.main in this process (it fails before installing its signal handlers)."""
    from vae import train
    code = train.main(["--dataset", "folder", "--epochs", "1", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_only_unusable_images_exit_2_with_a_message(tmp_path, capsys, bad, fault, kind):
    src = _write(tmp_path / "in", bad) if kind == "folder" else tmp_path / "in.zip"
    if kind == "zip":
        src.write_bytes(_zip(bad))
    out = tmp_path / "checkpoints" / "run"
    snap = tree(tmp_path)
    code, text = _train_main(capsys, "--data-dir", str(src), "--out", str(out))
    assert code == 2, text
    assert f"none of the {len(bad)} image files" in text and "Traceback" not in text, text
    assert tree(tmp_path) == snap and not out.exists()


def test_one_pixel_image_among_broken_ones_is_refused(tmp_path, capsys, bad, fault):
    src = _write(tmp_path / "in", bad | ONE_PIXEL)
    code, text = _train_main(capsys, "--data-dir", str(src), "--out", str(tmp_path / "run"))
    assert code == 2 and "only 1 readable image" in text, text
    assert not (tmp_path / "run").exists()


def test_empty_folder_and_missing_path_exit_2(tmp_path, capsys, fault):
    (tmp_path / "empty").mkdir()
    for src, msg in [(tmp_path / "empty", "no images"), (tmp_path / "nope", "does not exist"),
                     (tmp_path / "x.zip", "neither a folder nor a valid .zip")]:
        if src.suffix == ".zip":
            src.write_bytes(os.urandom(100))
        code, text = _train_main(capsys, "--data-dir", str(src), "--out", str(tmp_path / "run"))
        assert code == 2 and msg in text and "Traceback" not in text, text


def test_image_zip_bomb_refused_from_declared_sizes(tmp_path, capsys, monkeypatch, fault):
    """The real 1 GiB limit, lowered to 512 MiB so the bomb stays a few hundred KB."""
    from vae.data import folder as datasets_folder
    monkeypatch.setattr(datasets_folder, "MAX_ZIP_TOTAL_BYTES", 512 << 20)
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(image_zip_bomb())
    assert bomb.stat().st_size < 1 << 20
    snap = tree(tmp_path)
    code, text = _train_main(capsys, "--data-dir", str(bomb), "--out", str(tmp_path / "run"))
    assert code == 2 and "zip bomb" in text, text
    assert tree(tmp_path) == snap


@pytest.mark.slow
def test_command_line_subprocess_on_a_broken_folder(tmp_path, bad, fault):
    src = _write(tmp_path / "in", bad)
    out = tmp_path / "checkpoints" / "run"
    snap = tree(tmp_path)
    r = subprocess.run([sys.executable, "-m", "vae.train", "--dataset", "folder", "--data-dir", str(src),
                        "--out", str(out)], cwd=REPO, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "VAE_NO_DOWNLOAD": "1"})
    assert r.returncode == 2 and r.stderr.startswith("error: none of the") and "Traceback" not in r.stderr, r.stderr
    assert tree(tmp_path) == snap


# ---------------------------------------------------------------- the Train page

@pytest.mark.slow
def test_train_page_reports_bad_image_zips_and_trains_on_mixed_ones(tmp_path, monkeypatch, bad, fault):
    """Upload a zip of broken images: the run fails with the trainer's message and leaves no
    run; then a zip with good images among the broken ones trains, skipping and counting them."""
    import shutil

    from streamlit.testing.v1 import AppTest
    from vae.jobs.training import JobManager
    root = tmp_path / "checkpoints"
    root.mkdir()
    shutil.copytree(REPO / "checkpoints" / "digits-default", root / "digits-default")
    monkeypatch.setenv("VAE_CHECKPOINTS", str(root))
    keep, outside = runs_state(root), tree(tmp_path, exclude=root)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    at.switch_page("pages/train.py").run()
    [s for s in at.selectbox if s.label == "Dataset"][0].set_value("folder").run()

    def start(zip_bytes: bytes, name: str):
        [u for u in at.file_uploader if u.label.startswith("Zip of images")][0].set_value(
            ("imgs.zip", zip_bytes, "application/zip"))
        at.run()
        {w.label: w for w in at.number_input}["Epochs"].set_value(1)
        {w.label: w for w in at.text_input}["Run name"].set_value(name)
        [b for b in at.button if b.label == "Start training"][0].click().run()
        assert not at.exception, [e.value for e in at.exception]
        job = JobManager(root).wait(120)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return job

    with fault.case("train page: zip of broken images"):
        job = start(_zip(bad), "broken")
        errors = [e.value for e in at.error]
        assert any("failed" in e and f"none of the {len(bad)} image files" in e for e in errors), errors
        assert not (root / "broken").exists()
    with fault.case("train page: broken images among good ones"):
        job = start(_zip(bad | good_images(8)), "mixed")
        assert job.summary()["state"] == "finished", job.log_tail()
        assert f"{len(bad)} unreadable files skipped" in job.log_tail()
        assert any("mixed" in s.value and "finished" in s.value for s in at.success)
    assert tree(tmp_path, exclude=root) == outside  # uploads are kept in checkpoints/.uploads only
    check_runs_kept(fault, root, keep)
