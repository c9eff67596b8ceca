"""Projections kept in the run folder, and their command line.

``python -m vae.project RUN --method pca|tsne|opentsne|umap [--split test|train] [--max-points N] [--json]``

A projection of a run's split is cached as ``<run>/projections/<method>-<split>-<n>-<settings>-<weights>.npz``:
keyed by method, its settings, the split, the number of points and a hash of the weights, written
atomically (temp file, then rename), so a restart, another user or this command line reuses it and
a retrained model never reads another model's map. A cancelled or failed computation writes nothing.
The app's background task and this CLI both call ``get_or_compute``.

Exit codes, like vae.evaluate's: 0 done, 2 bad input (unreadable run, missing dataset, bad flag),
130 cancelled (Ctrl-C; nothing kept).
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vae.analysis.projection import (TRUST_K, TRUST_POINTS, Cancelled, Projection, project, stratified_cap,
    opentsne_settings, trust)
from vae.limits import PROJECTION_POINTS, check_budget, check_tsne
from vae.runs.folder import weights_digest
from vae.files import write_bytes_atomic

FOLDER = "projections"
METHODS = ("pca", "tsne", "opentsne", "umap", "latent")
FORMAT = 1  # bump when the file layout changes: older files are then ignored


@dataclass(frozen=True)
class Spec:
    """What to project: method, split, how many points (a class-stratified seeded subsample when
    fewer than the split holds) and the method's settings."""

    method: str
    split: str = "test"
    max_points: int | None = None  # None: every point of the split
    perplexity: float = 30.0
    seed: int = 0

    def settings(self) -> dict:
        s = {"method": self.method, "split": self.split, "seed": self.seed, "format": FORMAT}
        if self.method in ("tsne", "opentsne"):
            s["perplexity"] = float(self.perplexity)
        if self.method == "opentsne":
            s["opentsne"] = opentsne_settings()
        return s


@dataclass
class Result:
    """A projection of rows ``idx`` of a split, with how long it took and its trustworthiness."""

    proj: Projection
    idx: np.ndarray  # (M,) rows of the split, sorted
    seconds: float  # wall time of the fit (as computed, also when read back from the cache)
    trust: float  # trustworthiness, k = TRUST_K, on TRUST_POINTS seeded rows
    cached: bool = False  # read from the run folder, not computed now
    path: str = ""
    meta: dict = field(default_factory=dict)

    def summary(self) -> dict:
        return {"method": self.proj.method, "points": int(len(self.idx)), "seconds": round(self.seconds, 3),
                "trustworthiness": self.trust, "trust_k": TRUST_K, "trust_points": min(TRUST_POINTS, len(self.idx)),
                "cached": self.cached, "note": self.proj.note, "file": Path(self.path).name if self.path else ""}


def n_points(spec: Spec, n_split: int) -> int:
    return n_split if spec.max_points is None else max(1, min(int(spec.max_points), n_split))


def cache_path(run_dir: Path | str, spec: Spec, n_split: int) -> Path:
    """Where this projection of these weights is kept (whether or not it exists yet)."""
    settings = json.dumps(spec.settings(), sort_keys=True)
    h = hashlib.sha256(settings.encode()).hexdigest()[:10]
    n = n_points(spec, n_split)
    return Path(run_dir) / FOLDER / f"{spec.method}-{spec.split}-{n}-{h}-{weights_digest(run_dir)}.npz"


def check(spec: Spec, n_points: int) -> None:
    """Refuse a request past this server's budget before any work: BudgetError / ValueError naming it."""
    if spec.method not in METHODS:
        raise ValueError(f"unknown projection {spec.method!r}; expected one of {', '.join(METHODS[:4])}")
    if spec.split not in ("test", "train"):
        raise ValueError(f"unknown split {spec.split!r}; expected test or train")
    if spec.max_points is not None and spec.max_points < 1:
        raise ValueError(f"--max-points must be at least 1, not {spec.max_points}")
    check_budget(n_points, PROJECTION_POINTS, f"A projection of {n_points:,} points")
    if spec.method == "tsne":
        check_tsne(n_points, spec.perplexity)


def _pack(res: Result, spec: Spec) -> bytes:
    p = res.proj
    meta = {"spec": asdict(spec), "method": p.method, "latent_dim": p.latent_dim, "axis_titles": list(p.axis_titles),
            "params": p.params or {}, "note": p.note, "seconds": res.seconds, "trust": res.trust,
            "created": time.time(), "format": FORMAT}
    arrays = {"xy": p.xy.astype(np.float32), "idx": res.idx.astype(np.int64),
              "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
    for name in ("explained", "mean", "components", "fit_rows"):
        v = getattr(p, name)
        if v is not None:
            arrays[name] = np.asarray(v)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def read(path: Path | str) -> Result | None:
    """A kept projection, or None when the file is missing or unreadable (then it is recomputed)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            extra = {k: z[k] for k in ("explained", "mean", "components", "fit_rows") if k in z.files}
            xy, idx = z["xy"], z["idx"]
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if meta.get("format") != FORMAT or xy.ndim != 2 or xy.shape != (len(idx), 2):
        return None
    proj = Projection(xy, meta["method"], int(meta["latent_dim"]), tuple(meta["axis_titles"]),
                      params=meta.get("params"), note=meta.get("note", ""), **extra)
    return Result(proj, idx, float(meta["seconds"]), float(meta["trust"]), cached=True, path=str(path), meta=meta)


def fits(res: Result | None, n_split: int, spec: Spec) -> bool:
    """A kept file is data: use it only if it describes this split (rows in range, sorted, the
    number of points asked for, finite coordinates, fitted rows in range)."""
    if res is None:
        return False
    idx, xy, fit = res.idx, res.proj.xy, res.proj.fit_rows
    return (len(idx) == n_points(spec, n_split) and len(idx) > 0 and idx.dtype.kind in "iu"
            and int(idx.min()) >= 0 and int(idx.max()) < n_split and bool(np.all(np.diff(idx) > 0))
            and bool(np.isfinite(xy).all()) and res.proj.method == spec.method
            and (fit is None or (fit.dtype.kind in "iu" and len(fit) > 0 and int(fit.min()) >= 0
                                 and int(fit.max()) < len(idx))))


def compute(mu: np.ndarray, labels: np.ndarray, spec: Spec, threads: int | None = None,
            progress=None, should_stop=None) -> Result:
    """Project the split's μ (N, D) as ``spec`` says; nothing is written. Raises Cancelled."""
    n = n_points(spec, len(mu))
    check(spec, n)
    idx = stratified_cap(labels, n, spec.seed) if n < len(mu) else np.arange(len(mu))
    t0 = time.perf_counter()
    proj = project(mu[idx], spec.method, perplexity=spec.perplexity, seed=spec.seed, threads=threads,
                   progress=progress, should_stop=should_stop)
    seconds = time.perf_counter() - t0
    if should_stop is not None and should_stop():
        raise Cancelled("stopped; nothing was kept")
    if progress is not None:
        progress(1.0, f"trustworthiness (k = {TRUST_K}) on {min(TRUST_POINTS, len(idx)):,} points")
    return Result(proj, idx, seconds, trust(mu[idx], proj.xy))


def get_or_compute(run_dir: Path | str, mu: np.ndarray, labels: np.ndarray, spec: Spec,
                   threads: int | None = None, progress=None, should_stop=None) -> Result:
    """The kept projection if there is one for these weights, else compute it and keep it (atomically).
    A cancelled (Cancelled) or failed computation leaves no file."""
    path = cache_path(run_dir, spec, len(mu))
    kept = read(path)
    if fits(kept, len(mu), spec):
        return kept
    res = compute(mu, labels, spec, threads=threads, progress=progress, should_stop=should_stop)
    if should_stop is not None and should_stop():
        raise Cancelled("stopped; nothing was kept")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, _pack(res, spec))
    res.path = str(path)
    return res


MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS = 5_000_000, 4096 * 4096


def image_from_bytes(data: bytes, shape: tuple[int, int, int]):
    """An uploaded PNG/JPEG as the model's input: a (C, H, W) float tensor in [0, 1], converted to the
    model's channels and resized to its H × W. ValueError with the reason for anything else."""
    import torch
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"the file is {len(data):,} bytes, over the limit of {MAX_IMAGE_BYTES:,}")
    c, h, w = shape
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in ("PNG", "JPEG"):
                raise ValueError(f"it is a {im.format} file, not a PNG or JPEG")
            if im.width * im.height > MAX_IMAGE_PIXELS:
                raise ValueError(f"it is {im.width} × {im.height} pixels, over the limit of {MAX_IMAGE_PIXELS:,}")
            im = im.convert("L" if c == 1 else "RGB").resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as e:
        raise ValueError(f"it is not a readable image ({type(e).__name__})") from None
    arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(arr))


def encode_run_split(run, split: str):
    """μ (N, D), labels (N,) of a run's split, for the command line (the app uses ui.cache.encode_split).
    Raises DataError when the run's dataset cannot be loaded."""
    from vae.data import load_dataset
    from vae.model.evaluation import encode_all
    from vae.runs.validate import max_items_limit

    d = run.config.data
    cap = min(d.max_items, max_items_limit()) if d.max_items is not None else max_items_limit()
    splits = load_dataset(d.name, d.data_dir, image_size=d.image_size, channels=d.channels, max_items=cap,
                          download=False)
    ds = getattr(splits, split)
    if len(ds) == 0:
        raise ValueError(f"the {split} split of {d.name} is empty")
    if tuple(ds.x.shape[1:]) != run.model.image_shape:
        raise ValueError(f"the dataset's images are {tuple(ds.x.shape[1:])} but the run expects "
                         f"{run.model.image_shape}")
    mu, _ = encode_all(run.model, ds.x).params()
    return mu.numpy(), ds.y.numpy()
