"""Projections kept in the run folder, what ``python -m vae.project`` (``vae.project``) and the
Latent map's background task both call (``get_or_compute``).

A projection of a run's split is cached as ``<run>/projections/<method>-<split>-<n>-<settings>-<weights>.npz``
by ``vae.cache.store``'s protocol: keyed by method, its settings, the split, the number of points and
a hash of the weights, written atomically (temp file, then rename), so a restart, another user or
the command line reuses it and a retrained model never reads another model's map. A cancelled or
failed computation writes nothing.

Also here: an uploaded image prepared as the model's input (``image_from_bytes``: the folder
datasets' own preparation, ``vae.data.folder.prepare_image``), and a run's split encoded for the
command line (``encode_run_split``: the run's dataset as the app loads it, ``vae.runs.datasets``).
"""
from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from vae.analysis.projection.maps import METHODS, PERPLEXITY, TRUST_K, TRUST_POINTS, Cancelled, Projection, trust
from vae.analysis.projection.methods import project
from vae.analysis.projection.points import stratified_cap
from vae.analysis.projection.tsne import opentsne_settings
from vae.cache import store
from vae.limits import PROJECTION_POINTS, check_budget

FOLDER = "projections"
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
        if self.method in PERPLEXITY:
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


def cache_path(run_dir: Path | str, spec: Spec, n_split: int, digest: str | None = None) -> Path:
    """Where this projection of these weights is kept (whether or not it exists yet)."""
    settings = json.dumps(spec.settings(), sort_keys=True)
    h = hashlib.sha256(settings.encode()).hexdigest()[:10]
    n = n_points(spec, n_split)
    return store.path_for(run_dir, f"{spec.method}-{spec.split}-{n}-{h}", digest, ext="npz", folder=FOLDER)


def check(spec: Spec, n_points: int) -> None:
    """Refuse a request past this server's budget before any work: BudgetError / ValueError naming it.
    (The t-SNE limits are checked by ``project_tsne`` itself, before it imports scikit-learn.)"""
    if spec.method not in METHODS:
        raise ValueError(f"unknown projection {spec.method!r}; expected one of {', '.join(METHODS)}")
    if spec.split not in ("test", "train"):
        raise ValueError(f"unknown split {spec.split!r}; expected test or train")
    if spec.max_points is not None and spec.max_points < 1:
        raise ValueError(f"--max-points must be at least 1, not {spec.max_points}")
    check_budget(n_points, PROJECTION_POINTS, f"A projection of {n_points:,} points")


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
    raw = store.read_bytes(path)
    if raw is None:
        return None
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            extra = {k: z[k] for k in ("explained", "mean", "components", "fit_rows") if k in z.files}
            xy, idx = z["xy"], z["idx"]
    except (OSError, ValueError, KeyError, EOFError, UnicodeDecodeError):
        return None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or xy.ndim != 2 or xy.shape != (len(idx), 2):
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
    def read_fitting(path: Path) -> Result | None:
        kept = read(path)
        return kept if fits(kept, len(mu), spec) else None

    def compute_now(digest: str) -> Result:
        res = compute(mu, labels, spec, threads=threads, progress=progress, should_stop=should_stop)
        if should_stop is not None and should_stop():
            raise Cancelled("stopped; nothing was kept")
        res.path = str(cache_path(run_dir, spec, len(mu), digest))
        return res

    return store.get_or_compute(run_dir, lambda digest: cache_path(run_dir, spec, len(mu), digest), read_fitting,
                                compute_now, lambda res: _pack(res, spec))


MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS = 5_000_000, 4096 * 4096


def image_from_bytes(data: bytes, shape: tuple[int, int, int]):
    """An uploaded PNG/JPEG as the model's input: a (C, H, W) float tensor in [0, 1], prepared exactly
    as a folder dataset's images are (``vae.data.folder.prepare_image``: the model's channels,
    transparency onto black, center-cropped to a square, Lanczos to H × W). ValueError with the
    reason for anything else."""
    from vae.data.folder import image_tensor, prepare_image

    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"the file is {len(data):,} bytes, over the limit of {MAX_IMAGE_BYTES:,}")
    c, h, w = shape
    if h != w:
        raise ValueError(f"the model's images are {h} × {w}: only square images are prepared")
    arr = prepare_image(data, h, c == 3, max_pixels=MAX_IMAGE_PIXELS, formats=("PNG", "JPEG"))
    return image_tensor(arr[None], c == 3)[0]


def encode_run_split(run, split: str):
    """μ (N, D), labels (N,) of a run's split, for the command line (the app uses ui.cache.encode_split),
    from the run's dataset as the app loads it (``vae.runs.datasets.run_splits``). Raises DataError
    when the run's dataset cannot be loaded, CheckpointError when its images do not fit the model."""
    from vae.model.evaluation import encode_all
    from vae.runs.datasets import run_splits
    from vae.runs.folder import CheckpointError

    ds = getattr(run_splits(run.config), split)
    if len(ds) == 0:
        raise ValueError(f"the {split} split of {run.config.data.name} is empty")
    if tuple(ds.x.shape[1:]) != run.model.image_shape:
        raise CheckpointError(f"the dataset's images are {tuple(ds.x.shape[1:])} but the run expects "
                              f"{run.model.image_shape}")
    mu, _ = encode_all(run.model, ds.x).params()
    return mu.numpy(), ds.y.numpy()
