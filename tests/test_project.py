"""Projections kept in the run folder (vae.cache.projections), openTSNE / UMAP projections, placing new points,
cancellation, and the ``python -m vae.project`` command line."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vae.cache import projections as vp
from vae.analysis.projection.maps import Cancelled, trust
from vae.analysis.projection.methods import place_points, project_pca
from vae.analysis.projection.tsne import opentsne_reference, project_opentsne
from vae.files import write_bytes_atomic
from vae.jobs.background import WorkQueue

REPO = Path(__file__).resolve().parents[1]


def _clusters(n: int = 400, d: int = 6, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 6
    labels = rng.integers(0, k, n)
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


@pytest.fixture
def run_dir(tmp_path):
    """A private copy of the tiny committed run (never write caches into committed run folders)."""
    dst = tmp_path / "digits-default"
    shutil.copytree(REPO / "checkpoints" / "digits-default", dst)
    shutil.rmtree(dst / vp.FOLDER, ignore_errors=True)
    return dst


def _files(run_dir: Path) -> list[str]:
    folder = run_dir / vp.FOLDER
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_kept_projection_is_reused_not_recomputed(run_dir, monkeypatch):
    mu, labels = _clusters()
    spec = vp.Spec("pca", "test")
    first = vp.get_or_compute(run_dir, mu, labels, spec)
    assert not first.cached and _files(run_dir) == [Path(first.path).name]

    calls = []
    monkeypatch.setattr(vp, "project", lambda *a, **k: calls.append(1) or pytest.fail("recomputed"))
    again = vp.get_or_compute(run_dir, mu, labels, spec)
    assert again.cached and calls == []
    np.testing.assert_array_equal(again.proj.xy, first.proj.xy)
    np.testing.assert_array_equal(again.idx, first.idx)
    assert again.trust == pytest.approx(first.trust)
    # The PCA plane comes back too, so the probe and placing still work from the file.
    np.testing.assert_allclose(place_points(again.proj, mu[:3]), first.proj.xy[:3], atol=1e-4)


def test_new_weights_invalidate_the_kept_projection(run_dir):
    mu, labels = _clusters()
    spec = vp.Spec("pca", "test")
    before = vp.cache_path(run_dir, spec, len(mu))
    vp.get_or_compute(run_dir, mu, labels, spec)
    weights = run_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # a retrained model: different bytes
    write_bytes_atomic(weights, bytes(data))
    after = vp.cache_path(run_dir, spec, len(mu))
    assert after != before and not after.exists()
    res = vp.get_or_compute(run_dir, mu * 2, labels, spec)  # new weights, new latents
    assert not res.cached and Path(res.path) == after
    np.testing.assert_allclose(np.abs(res.proj.xy), np.abs(2 * project_pca(mu).xy), rtol=1e-3, atol=1e-3)


def test_the_key_holds_method_settings_split_and_points(run_dir):
    n = 500
    paths = {vp.cache_path(run_dir, s, n) for s in (
        vp.Spec("opentsne", "test"), vp.Spec("opentsne", "test", perplexity=10), vp.Spec("opentsne", "train"),
        vp.Spec("opentsne", "test", max_points=200), vp.Spec("umap", "test"), vp.Spec("pca", "test"))}
    assert len(paths) == 6
    # PCA has no perplexity: the same file whatever the (unused) knob says.
    assert vp.cache_path(run_dir, vp.Spec("pca", "test", perplexity=5), n) == vp.cache_path(run_dir, vp.Spec("pca"), n)


def test_a_cancelled_projection_leaves_nothing_behind(run_dir):
    mu, labels = _clusters(300)
    seen = []

    def progress(frac, msg):
        seen.append(msg)

    def should_stop():  # stop once the optimizer has reported an iteration
        return any("iteration" in m for m in seen)

    with pytest.raises(Cancelled):
        vp.get_or_compute(run_dir, mu, labels, vp.Spec("opentsne", "test"), progress=progress,
                          should_stop=should_stop)
    assert any("KL divergence" in m for m in seen)  # the optimizer's callback reported iteration and KL
    assert _files(run_dir) == []  # no file, not even a temp file


def test_a_cancelled_background_task_is_stopped_and_keeps_nothing(run_dir):
    mu, labels = _clusters(300)
    q = WorkQueue(max_workers=1, max_queued=2)
    started = []

    def work(progress, should_stop):
        def report(f, m):
            progress(f, m)
            if "iteration" in m:
                started.append(1)
                task.stop()  # a user presses Cancel while it runs
        try:
            return vp.get_or_compute(run_dir, mu, labels, vp.Spec("opentsne"), progress=report,
                                     should_stop=should_stop)
        except Cancelled:
            return None

    task = q.submit(("p", 1), work)
    assert task.wait(120)
    assert started and task.state == "stopped" and task.result is None
    assert _files(run_dir) == []


def test_opentsne_reports_progress_and_fits_a_subset_then_places_the_rest():
    mu, labels = _clusters(900)
    msgs = []
    proj = project_opentsne(mu, perplexity=20, fit_points=400, progress=lambda f, m: msgs.append((f, m)))
    assert proj.xy.shape == (900, 2) and np.isfinite(proj.xy).all()
    assert len(proj.fit_rows) == 400 and "the other 500 placed" in proj.note
    fractions = [f for f, _ in msgs]
    assert fractions == sorted(fractions) and fractions[-1] > 0.5
    assert any("placing points" in m for _, m in msgs)
    # Clusters stay clusters: the map is trustworthy, and placed points sit with their own class.
    assert trust(mu, proj.xy) > 0.9
    rest = np.setdiff1d(np.arange(900), proj.fit_rows)
    centres = np.stack([proj.xy[proj.fit_rows][labels[proj.fit_rows] == c].mean(0) for c in range(4)])
    nearest = np.argmin(((proj.xy[rest, None] - centres[None]) ** 2).sum(-1), 1)
    assert (nearest == labels[rest]).mean() > 0.95


def test_transform_places_a_training_point_next_to_itself():
    mu, labels = _clusters(400)
    proj = project_opentsne(mu, perplexity=20)
    ref = opentsne_reference(proj, mu)
    rows = np.array([3, 77, 150, 321])
    placed = place_points(proj, mu[rows], ref)
    d_self = np.linalg.norm(placed - proj.xy[rows], axis=1)
    # typical spacing: each point's distance to its nearest other map point
    d_all = np.linalg.norm(proj.xy[:, None] - proj.xy[None], axis=-1)
    np.fill_diagonal(d_all, np.inf)
    spread = np.ptp(proj.xy, axis=0).max()
    assert (d_self < 0.05 * spread).all(), (d_self, spread)
    for r, p in zip(rows, placed):  # its nearest map point is itself or a same-class neighbour
        k = int(np.argmin(np.linalg.norm(proj.xy - p, axis=1)))
        assert labels[k] == labels[r]


def test_place_points_refuses_what_it_cannot_place():
    mu, _ = _clusters(100)
    proj = project_pca(mu)
    with pytest.raises(ValueError, match="6-dimensional"):
        place_points(proj, np.zeros((1, 3)))
    tsne = project_opentsne(mu, perplexity=10)
    with pytest.raises(ValueError, match="reference"):
        place_points(tsne, mu[:1])


def test_image_from_bytes_converts_and_refuses():
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (255, 255, 255)).save(buf, "PNG")
    x = vp.image_from_bytes(buf.getvalue(), (1, 8, 8))
    assert tuple(x.shape) == (1, 8, 8) and float(x.min()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not a readable image"):
        vp.image_from_bytes(b"<script>not an image</script>", (1, 8, 8))


# ---------------------------------------------------------------- the command line

def _cli(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "vae.project", *map(str, args)], cwd=REPO, env=e,
                          capture_output=True, text=True, timeout=600)


def test_cli_projects_keeps_and_reuses(run_dir):
    r = _cli(run_dir, "--method", "pca", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["method"] == "pca" and out["points"] == 360 and not out["cached"]
    assert 0.5 < out["trustworthiness"] <= 1 and _files(run_dir) == [out["file"]]
    again = json.loads(_cli(run_dir, "--method", "pca", "--json").stdout.strip().splitlines()[-1])
    assert again["cached"] and again["file"] == out["file"]
    sub = _cli(run_dir, "--method", "pca", "--max-points", "100", "--split", "train")
    assert sub.returncode == 0 and "pca of 100 train latents" in sub.stdout and "trustworthiness" in sub.stdout


def test_cli_bad_input_exits_2_and_keeps_nothing(run_dir, tmp_path):
    assert _cli(tmp_path / "nope", "--method", "pca").returncode == 2
    bad = _cli(run_dir, "--method", "pca", "--max-points", "0")
    assert bad.returncode == 2 and "max-points" in bad.stderr
    # A run whose dataset is missing: a clear message, exit 2, no file.
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["data"]["name"] = "mnist"
    cfg["data"]["data_dir"] = str(tmp_path / "no-mnist-here")
    (tmp_path / "no-mnist-here").mkdir()
    (run_dir / "config.json").write_text(json.dumps(cfg))
    r = _cli(run_dir, "--method", "opentsne", env={"VAE_DATA_ROOTS": str(tmp_path)})
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, r.stderr
    assert _files(run_dir) == []


def test_a_crafted_kept_file_is_not_trusted(run_dir):
    mu, labels = _clusters(200)
    spec = vp.Spec("pca", "test")
    path = vp.cache_path(run_dir, spec, len(mu))
    res = vp.get_or_compute(run_dir, mu, labels, spec)
    res.idx = res.idx + 10_000  # rows that do not exist in this split
    write_bytes_atomic(path, vp._pack(res, spec))
    assert not vp.fits(vp.read(path), len(mu), spec)
    again = vp.get_or_compute(run_dir, mu, labels, spec)  # recomputed, not read
    assert not again.cached and again.idx.max() < len(mu)
    path.write_bytes(b"not an npz")
    assert vp.read(path) is None


def test_two_users_asking_for_the_same_projection_share_one_task(run_dir, monkeypatch):
    from ui.latent_map import projection as pv
    from vae.jobs import background as work_queue

    q = WorkQueue(max_workers=1, max_queued=4)
    monkeypatch.setattr(work_queue, "_SHARED", q)
    mu, labels = _clusters(300)
    spec = vp.Spec("opentsne", "test", perplexity=20)
    path = vp.cache_path(run_dir, spec, len(mu))
    first = pv.submit(run_dir, mu, labels, spec, path, threads=1)
    second = pv.submit(run_dir, mu, labels, spec, path, threads=1)  # another session, same request
    other = pv.submit(run_dir, mu, labels, vp.Spec("opentsne", "test", perplexity=10),
                      vp.cache_path(run_dir, vp.Spec("opentsne", "test", perplexity=10), len(mu)), threads=1)
    assert second is first and other is not first
    assert first.wait(300) and first.state == "done" and first.result.path == str(path)
    other.stop()
    assert other.wait(300)
    assert [p.name for p in (run_dir / vp.FOLDER).iterdir()] == [path.name]  # one file; the stopped one left none
