"""A run's optional card.md: read capped and cleaned, carried by export and upload."""
from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from vae.runs.archive import export_run, import_upload, read_zip
from vae.runs.validate import CARD, MAX_CARD_BYTES, parse_card, read_card_file

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "checkpoints" / "digits-default"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def _run_files() -> dict[str, bytes]:
    return {n: (TINY / n).read_bytes() for n in ("config.json", "model.safetensors")}


def test_parse_card_keeps_text_drops_controls_and_caps():
    assert parse_card(b"What to look at\r\n\r\nthe map\x00\x1b[31m") == "What to look at\n\nthe map[31m"
    assert parse_card("é".encode() + b"\xff ok") == "é ok"  # bad bytes replaced, then dropped
    long = parse_card(b"a" * (MAX_CARD_BYTES * 3))
    assert len(long) == MAX_CARD_BYTES


def test_read_card_file_missing_fifo_and_big(tmp_path):
    assert read_card_file(tmp_path / CARD) == ""
    os.mkfifo(tmp_path / "fifo.md")
    assert read_card_file(tmp_path / "fifo.md") == ""  # never waited on
    (tmp_path / CARD).write_bytes(b"x" * (MAX_CARD_BYTES + 10_000))
    assert len(read_card_file(tmp_path / CARD)) == MAX_CARD_BYTES


def test_export_carries_the_card(tmp_path):
    run = tmp_path / "r"
    shutil.copytree(TINY, run)
    (run / CARD).write_text("Look at the map.\n")
    files = read_zip(export_run(run))
    assert files[CARD] == b"Look at the map.\n"


def test_upload_keeps_a_cleaned_capped_card(tmp_path):
    ckpt = tmp_path / "ckpt"
    card = b"Look here\x07.\n" + b"y" * (MAX_CARD_BYTES * 2)
    dest = import_upload([("up.zip", _zip({f"r/{n}": d for n, d in _run_files().items()} | {f"r/{CARD}": card}))],
                         ckpt)
    text = (dest / CARD).read_text()
    assert text.startswith("Look here.\n") and len(text.strip()) == MAX_CARD_BYTES - 1  # the BEL dropped


def test_upload_of_loose_files_accepts_a_card_and_runs_without_one(tmp_path):
    ckpt = tmp_path / "ckpt"
    dest = import_upload(list(_run_files().items()) + [(CARD, b"A note.")], ckpt)
    assert (dest / CARD).read_text() == "A note.\n"
    bare = import_upload(list(_run_files().items()), ckpt)
    assert not (bare / CARD).exists()


def test_committed_runs_have_a_card_naming_their_command():
    runs = [p for p in (REPO / "checkpoints").iterdir() if (p / "config.json").is_file()]
    assert runs
    for run in runs:
        card = read_card_file(run / CARD)
        assert "python -m vae.train" in card and f"--out checkpoints/{run.name}" in card, run.name


@pytest.mark.slow
def test_home_shows_the_card_escaped(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    ckpt = tmp_path / "checkpoints"
    shutil.copytree(TINY, ckpt / "digits-default")
    (ckpt / "digits-default" / CARD).write_text(
        "Look at **z3** <img src=x onerror=alert(1)> in /srv/secret/data.\n\n"
        "$ python -m vae.train --out /srv/secret/run\n")
    monkeypatch.setenv("VAE_CHECKPOINTS", str(ckpt))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120).run()
    assert not at.exception
    shown = [m.value for m in at.markdown if "Look at" in m.value]
    assert len(shown) == 1
    text = shown[0]
    assert "**z3**" not in text and " <img" not in text  # markdown and HTML escaped: shown literally
    assert "\\*\\*z3\\*\\*" in text and "\\<img" in text and "secret" not in text
    code = [c.value for c in at.code]
    assert code == ["python -m vae.train --out ‹run›"]
