"""One item-cap rule (vae.runs.datasets): the app's loader, the command lines and the analyses read
the same images of a run; and one image preparation: an image uploaded onto a map is prepared
exactly as a folder dataset's images are."""
from __future__ import annotations

import functools
import io
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import vae.data
from tests.app_runs import REPO
from vae.runs.folder import load_run


@pytest.fixture
def remembered_loads(monkeypatch):
    """vae.data.load_dataset remembered per arguments, so each reader below costs one generation of
    the images it asks for (a reader asking for another count would still get, and show, it)."""
    real = vae.data.load_dataset
    asked = []

    @functools.lru_cache(maxsize=None)
    def cached(*args, **kwargs):
        return real(*args, **kwargs)

    def load(*args, **kwargs):
        asked.append(kwargs.get("max_items"))
        return cached(*args, **kwargs)
    monkeypatch.setattr(vae.data, "load_dataset", load)
    return asked


def _copy(tmp_path, name):
    d = tmp_path / name
    shutil.copytree(REPO / "checkpoints" / name, d, ignore=shutil.ignore_patterns("projections"))
    return d


def _counts(run_dir, capsys) -> dict[str, int]:
    """Test images of the run as each reader sees them."""
    import ui.cache
    import vae.project
    from vae.cache.scores import SCORE_POINTS, scored_points
    from vae.evaluate import evaluate_run
    from vae.runs.datasets import split_images

    run = load_run(run_dir)
    app = ui.cache.run_dataset(run)
    capsys.readouterr()
    assert vae.project.main([str(run_dir), "--method", "pca", "--json"]) == 0
    cli = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["points"]
    x, _, _ = scored_points(run) if run.config.data.name == "shapes" else (None, None, None)
    out = {"app": len(app.test), "python -m vae.project": cli,
           "rate-distortion and gaps": len(split_images(run)),
           "python -m vae.evaluate": evaluate_run(str(run_dir))["n"]}
    if x is not None:  # the scores take the first SCORE_POINTS images of train then test
        assert len(x) == min(SCORE_POINTS, len(app.train) + len(app.test))
    return out


def test_the_app_the_command_lines_and_the_analyses_read_the_same_shapes(tmp_path, capsys, remembered_loads,
                                                                          one_thread):
    counts = _counts(_copy(tmp_path, "shapes-default"), capsys)
    assert set(counts.values()) == {1200}, counts  # 6,000 shapes, the set the trainer drew; never 70,000
    assert set(remembered_loads) == {None}


def test_the_servers_item_cap_reaches_every_reader(tmp_path, capsys, monkeypatch, remembered_loads, one_thread):
    monkeypatch.setenv("VAE_MAX_ITEMS", "300")
    counts = _counts(_copy(tmp_path, "digits-default"), capsys)
    assert len(set(counts.values())) == 1 and next(iter(counts.values())) < 1797 // 5, counts
    assert set(remembered_loads) == {300}


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("channels", [1, 3])
def test_an_uploaded_image_is_prepared_as_a_folder_image(tmp_path, channels):
    from vae.cache.projections import image_from_bytes

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, size=(30, 44, 4), dtype=np.uint8)  # not square, partly transparent
    rgba[:, :8, 3] = 0
    data = _png(Image.fromarray(rgba, "RGBA"))
    (tmp_path / "a.png").write_bytes(data)
    (tmp_path / "b.png").write_bytes(data)
    splits = vae.data.load_dataset("folder", tmp_path, image_size=12, channels=channels)
    from_folder = torch.cat([splits.train.x, splits.test.x])[0]
    uploaded = image_from_bytes(data, (channels, 12, 12))
    assert uploaded.shape == from_folder.shape == (channels, 12, 12) and uploaded.dtype == from_folder.dtype
    assert torch.equal(uploaded, from_folder)
