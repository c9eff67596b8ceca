"""A run's precompute: what the pages need of a run, computed once and kept in its folder.

``<run>/cache/precompute-<weights digest>-v1.npz`` holds

- the posterior parameters of every split (``encode_all(...).params()``: μ and log σ², (N, D) each),
- **the one stored evaluation** of the run: ELBO, reconstruction and KL per test image with their
  standard errors, and the active units (``evaluate``; the trainer's own evaluation seed, so the
  number equals the last test ELBO of the run's history), which Home and Collapse both show,
- what Collapse diagnostics need at their default settings: the mixture estimates of I_q(x; z) and
  KL(q(z) ‖ p(z)) (M = ``N_MIXTURE``, seed 0) and the decoder sensitivity (δ = ``DELTA``, seed 1).

The file is kept by ``vae.cache.store``'s protocol: keyed by a hash of the weights
(``weights_digest``), so a retrained or replaced model never reads another model's numbers, and
written once, atomically (temp file, rename): a cancelled or killed computation leaves no file
that looks whole. Arrays only (``allow_pickle=False``);
a file that does not read back whole is ignored and rebuilt.

    python -m vae.precompute checkpoints/<run> [...]   # build (or check) the file of each run
"""
from __future__ import annotations

import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from vae.analysis.collapse import (AU_THRESHOLD, DELTA, N_ANCHORS, N_MIXTURE, MixtureEstimates,
    mi_replicates, mixture_estimates, mixture_points, sensitivity_with_se)
from vae.cache import store
from vae.limits import COLLAPSE_WORK, collapse_work
from vae.runs.folder import weights_digest
from vae.model.objectives import active_units
from vae.model.evaluation import EVAL_SEED, encode_all, image_terms

VERSION = 1  # bump when what the file holds changes: older files are then rebuilt
NAME = "precompute"
PREFIX = f"{NAME}-"
SPLITS = ("test", "train")
SENS_SEED, MIX_SEED = 1, 0  # Collapse's own seeds (vae.analysis.collapse.diagnose: seed, seed + 1)
# Below this much work (vae.limits.collapse_work units) a page computes the precompute at once
# (about a second on one core: the tiny digits runs); above it, a background job does.
SMALL_WORK = 3e9

Progress = Callable[[float, str], None]


class Cancelled(Exception):
    """The precompute was asked to stop; nothing was written."""


@dataclass(frozen=True)
class Evaluation:
    """The one stored evaluation of a run on its test split (nats per image, ± one standard error over
    the images, one sample of z per image from the trainer's evaluation seed)."""
    elbo: float
    elbo_se: float
    rec: float
    rec_se: float
    kl: float
    kl_se: float
    active_units: int
    n_points: int
    seed: int = EVAL_SEED

    def stats(self) -> tuple[float, float, float, float]:
        """(rec, rec s.e., ELBO, ELBO s.e.): ``vae.analysis.collapse.elbo_stats``'s order."""
        return self.rec, self.rec_se, self.elbo, self.elbo_se


@dataclass(frozen=True)
class Precompute:
    digest: str  # the weights' digest the numbers belong to
    encodings: dict[str, tuple[np.ndarray, ...]]  # split -> posterior params, (N, D) float32 each; shared: never mutate
    evaluation: Evaluation
    mixture: MixtureEstimates  # at M = mixture_points(N_test, N_MIXTURE), seed MIX_SEED
    sensitivity: tuple[np.ndarray, np.ndarray, int] | None  # (D,), (D,) s.e., anchors; at δ = DELTA
    seconds: float = 0.0  # how long it took to compute


def precompute_path(run_dir: Path | str, digest: str | None = None) -> Path:
    """``<run>/cache/precompute-<digest>-v<VERSION>.npz`` (``vae.cache.store.path_for``)."""
    return store.path_for(run_dir, NAME, digest, f"-v{VERSION}", "npz")


def precompute_work(n_params: int, n_test: int, n_train: int, latent_dim: int) -> float:
    """The cost model of ``compute`` (``vae.limits.collapse_work`` plus encoding the train split)."""
    m = mixture_points(n_test, N_MIXTURE)
    return collapse_work(n_params, n_test, latent_dim, min(N_ANCHORS, n_test), m, mi_replicates(m)) \
        + float(n_params) * n_train


def within_budget(model, n_test: int, n_train: int) -> bool:
    """Within this server's collapse-diagnostics budget (``$VAE_MAX_COLLAPSE_WORK``): past it the
    background job is not started, and the Collapse page refuses the run with the limit named."""
    n_params = sum(p.numel() for p in model.parameters())
    return precompute_work(n_params, n_test, n_train, model.latent_dim) <= COLLAPSE_WORK.value()


def is_small(model, n_test: int, n_train: int) -> bool:
    """Cheap enough to compute during a page's run instead of in the background."""
    n_params = sum(p.numel() for p in model.parameters())
    return precompute_work(n_params, n_test, n_train, model.latent_dim) <= SMALL_WORK


@torch.no_grad()
def evaluate(model, x_test: torch.Tensor, mu: torch.Tensor | np.ndarray | None = None,
             batch_size: int = 1024) -> Evaluation:
    """The run's evaluation on x_test (N, C, H, W): ``vae.model.evaluation.image_terms`` with the trainer's
    seed (the same ELBO as the history's last epoch), means with standard errors over the N images;
    active units from the posterior means (those of ``mu`` when given, else of the same pass)."""
    t = image_terms(model, x_test, seed=EVAL_SEED, batch_size=batch_size)
    n = len(t.elbo)

    def se(v: torch.Tensor) -> float:
        return float(v.std() / math.sqrt(n)) if n > 1 else float("nan")

    _, n_active = active_units(torch.as_tensor(mu) if mu is not None else t.mu, AU_THRESHOLD)
    return Evaluation(float(t.elbo.mean()), se(t.elbo), float(t.rec.mean()), se(t.rec), float(t.kl.mean()),
                      se(t.kl), int(n_active), n)


def compute(model, splits, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None,
            digest: str = "") -> Precompute:
    """Everything the file holds, for ``model`` on ``splits`` (a ``vae.data.DataSplits``). Raises
    ``Cancelled`` as soon as ``should_stop()`` turns true (checked between stages and replicates)."""
    t0 = time.perf_counter()
    say = progress or (lambda f, m: None)

    def check() -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("the precompute was stopped")

    enc = {}
    for i, split in enumerate(SPLITS):
        check()
        say(0.05 * i, f"encoding the {split} split")
        x = getattr(splits, split).x
        enc[split] = tuple(p.numpy() for p in encode_all(model, x).params()) if len(x) else ()
    check()
    say(0.1, "evaluating the test split")
    mu, logvar = enc["test"][:2]
    ev = evaluate(model, splits.test.x, mu)

    def mix_progress(f: float) -> None:
        check()
        say(0.2 + 0.6 * f, "mutual information and KL(q(z) ‖ p(z))")

    mix = mixture_estimates(mu, logvar, N_MIXTURE, seed=MIX_SEED, progress=mix_progress)
    check()
    say(0.8, "decoder sensitivity")
    sens = sensitivity_with_se(model, mu, DELTA, N_ANCHORS, seed=SENS_SEED)
    check()
    return Precompute(digest, enc, ev, mix, sens, time.perf_counter() - t0)


# ---------------------------------------------------------------- the file

def to_bytes(pre: Precompute) -> bytes:
    arrays = {f"enc/{split}/{i}": a for split, params in pre.encodings.items() for i, a in enumerate(params)}
    m = pre.mixture
    arrays |= {"mix/mi": m.mi, "mix/mi_se": m.mi_se, "mix/marginal_kl": m.marginal_kl,
               "mix/marginal_kl_se": m.marginal_kl_se}
    if pre.sensitivity is not None:
        arrays |= {"sens/mean": pre.sensitivity[0], "sens/se": pre.sensitivity[1]}
    meta = {"version": VERSION, "digest": pre.digest, "seconds": pre.seconds,
            "splits": {s: len(p) for s, p in pre.encodings.items()},
            "evaluation": vars(pre.evaluation),
            "mixture": {"mi_total": m.mi_total, "mi_total_se": m.mi_total_se, "marginal_kl_total": m.marginal_kl_total,
                        "marginal_kl_total_se": m.marginal_kl_total_se, "n_mixture": m.n_mixture,
                        "replicates": m.replicates},
            "sensitivity_anchors": pre.sensitivity[2] if pre.sensitivity is not None else None}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k.replace("/", "__"): v for k, v in arrays.items()})
    return buf.getvalue()


def from_bytes(raw: bytes) -> Precompute:
    """A precompute read back; ValueError when the bytes are not one whole file of this version."""
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as z:
            a = {k.replace("__", "/"): z[k] for k in z.files}
        meta = json.loads(a.pop("meta").tobytes())
        if meta.get("version") != VERSION:
            raise ValueError(f"version {meta.get('version')}, expected {VERSION}")
        enc = {s: tuple(a[f"enc/{s}/{i}"] for i in range(n)) for s, n in meta["splits"].items()}
        mm = meta["mixture"]
        mix = MixtureEstimates(mm["mi_total"], mm["mi_total_se"], a["mix/mi"], a["mix/mi_se"], mm["marginal_kl_total"],
                               mm["marginal_kl_total_se"], a["mix/marginal_kl"], a["mix/marginal_kl_se"],
                               int(mm["n_mixture"]), int(mm["replicates"]))
        sens = ((a["sens/mean"], a["sens/se"], int(meta["sensitivity_anchors"]))
                if meta.get("sensitivity_anchors") is not None else None)
        return Precompute(meta["digest"], enc, Evaluation(**meta["evaluation"]), mix, sens, float(meta["seconds"]))
    except Exception as e:  # noqa: BLE001 - a truncated zip, a missing key, a bad shape: the file is rebuilt
        raise ValueError(f"not a whole precompute file ({type(e).__name__})") from None


def load(run_dir: Path | str) -> Precompute | None:
    """The run's stored precompute for its current weights, or None (missing, stale or unreadable)."""
    try:
        digest = weights_digest(Path(run_dir))
    except OSError:
        return None
    raw = store.read_bytes(precompute_path(run_dir, digest))
    if raw is None:
        return None
    try:
        pre = from_bytes(raw)
    except ValueError:
        return None
    return pre if pre.digest == digest else None


def save(run_dir: Path | str, pre: Precompute) -> Path | None:
    """Write atomically if the run's weights are still ``pre.digest``'s (``vae.cache.store.write``),
    then remove the files of other weights (stale: their model is gone); None when not written."""
    path = precompute_path(run_dir, pre.digest)
    if not store.write(run_dir, path, to_bytes(pre), pre.digest):
        return None
    store.prune(path, NAME, "npz")
    return path


def keep(run_dir: Path | str, pre: Precompute) -> bool:
    """The app's way to store a finished precompute: never in a run that ships with the project
    (``vae.runs.catalog.PROTECTED``: its file is committed, built by ``python -m vae.precompute``;
    a test or a server must not rewrite it), never for weights that changed meanwhile, and a
    read-only run folder is no error (the numbers are used, just not kept)."""
    from vae.runs.catalog import PROTECTED

    if Path(run_dir).name in PROTECTED:
        return False
    try:
        return save(run_dir, pre) is not None
    except OSError:
        return False


def covers(pre: Precompute, splits) -> bool:
    """Its encodings are of these splits (the same number of images in each)."""
    return all(len(getattr(splits, s)) == len(p[0]) for s, p in pre.encodings.items() if p)


def ensure(run_dir: Path | str, model, splits, progress: Progress | None = None,
           should_stop: Callable[[], bool] | None = None) -> Precompute:
    """The stored precompute, or computed now and stored (the model must be the run's own weights;
    ``splits``: the run's dataset, ``vae.runs.datasets.run_splits``)."""
    run_dir = Path(run_dir)
    pre = load(run_dir)
    if pre is not None and covers(pre, splits):
        return pre
    digest = weights_digest(run_dir)
    pre = compute(model, splits, progress, should_stop, digest=digest)
    if save(run_dir, pre) is None:  # the weights changed while this ran: these numbers are not theirs
        raise Cancelled("the run's weights changed during the precompute")
    return pre
