"""The rules a run must pass before the server uses it: config with its dataset part,
weights and history. One set of rules for every way in (upload, run picker, CLI, trainer);
``vae.runs.folder`` applies them (``parse_config``, ``model_from_state``, ``parse_history``).

Data paths. A ``data_dir`` read from a run's ``config.json`` (uploaded, or found by the
picker) must lie under one of the allowed roots, ``$VAE_DATA_ROOTS`` (os.pathsep-separated;
default: ``data/`` beside ``vae/`` and ``<checkpoints>/.uploads``), and be a regular folder
or file: never a device, fifo or socket. A path outside the roots gets one message whether
it exists or not, so errors are no oracle for the server's files. A path typed on the
command line (``--data-dir``) by the person running it is theirs to choose: it is checked
for its type, not confined (``confined=False``).

Limits come from the environment (``vae.limits``) and are read on each call, never at import time.
"""
from __future__ import annotations

import io
import json
import math
import os
import stat
from pathlib import Path
from typing import IO, Iterable, Iterator

from vae.config import ConfigError, DataConfig, ModelConfig
from vae.files import open_regular
from vae.limits import MAX_ITEMS
from vae.runs.paths import UPLOADS, default_runs_root

NATIVE_SIZE = {"digits": 8, "mnist10k": 28, "mnist": 28, "fashion-mnist": 28, "shapes": 32, "folder": 28}
NOT_ALLOWED = "not an allowed data folder"
MAX_HISTORY_LINES = 10_000  # a history holds one line per epoch
MAX_HISTORY_BYTES = 8 << 20  # ≈ 10,000 epochs of a 512-dimensional kl_per_dim
MAX_DATA_DIR_CHARS = 4096

# history.jsonl: known keys and their types; everything else is dropped.
HISTORY_NUMBERS = ("train_elbo", "train_rec", "train_kl", "test_elbo", "test_rec", "test_kl", "beta", "seconds",
                   "train_relaxed", "test_relaxed", "temperature")
HISTORY_INTS = ("active_units",)

# card.md: an optional short note on what to look at in a run and how it was trained.
CARD = "card.md"
MAX_CARD_BYTES = 8 << 10  # a card is a few paragraphs; the rest is cut


def max_items_limit() -> int:
    """``$VAE_MAX_ITEMS``: images per split a request may load (default 70,000; ``vae.limits.MAX_ITEMS``)."""
    return MAX_ITEMS.value()


def data_roots() -> list[Path]:
    """The folders a run's ``data_dir`` may point into, resolved."""
    env = os.environ.get("VAE_DATA_ROOTS", "").strip()
    if env:
        roots = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    else:
        roots = [Path(__file__).resolve().parents[2] / "data", default_runs_root() / UPLOADS]
    return [Path(os.path.realpath(r)) for r in roots]


def _under(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_data_dir(data_dir: str | os.PathLike, *, confined: bool = True, zip_ok: bool = True,
                   must_exist: bool = True) -> Path:
    """``data_dir`` as a path the loaders may read, or ConfigError.

    confined: the path must resolve (symlinks followed) under ``data_roots()``; if not,
    the message is the same whether or not it exists. Under the roots (or unconfined),
    it must be a folder, or a regular file when ``zip_ok``; it may be missing only when
    not ``must_exist`` (a folder the MNIST loader will download into)."""
    s = str(data_dir)
    if not s or len(s) > MAX_DATA_DIR_CHARS or "\0" in s:
        raise ConfigError(f"data_dir: {NOT_ALLOWED}")
    path = Path(s).expanduser()
    if confined:
        real = Path(os.path.realpath(path))
        if not any(_under(real, r) for r in data_roots()):
            raise ConfigError(f"data_dir: {NOT_ALLOWED} (the server reads data only under VAE_DATA_ROOTS)")
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        if not must_exist:
            return path
        raise ConfigError(f"data_dir {s!r} does not exist") from None
    if stat.S_ISDIR(st.st_mode) or (zip_ok and stat.S_ISREG(st.st_mode)):
        return path
    kind = "a folder or a .zip file" if zip_ok else "a folder"
    raise ConfigError(f"data_dir {s!r} is not {kind}")


def data_shape(data: DataConfig) -> tuple[int, int]:
    """(channels, image size) of the images a dataset setting yields, without reading them."""
    size = data.image_size if data.image_size is not None else NATIVE_SIZE[data.name]
    return (data.channels if data.channels is not None else 1), size


def check_data_config(data: DataConfig, model: ModelConfig | None = None, *, confined: bool = True) -> DataConfig:
    """The dataset part of a run: a known dataset, an allowed data folder, and images of
    the model's shape within the server's limits. Raises ConfigError."""
    data.validate()
    if data.max_items is not None and data.max_items > max_items_limit():
        raise ConfigError(f"data.max_items is {data.max_items:,}; this server loads at most "
                          f"{max_items_limit():,} images per split (VAE_MAX_ITEMS)")
    if model is not None:
        channels, size = data_shape(data)
        if size != model.image_size:
            raise ConfigError(f"the dataset's images are {size}×{size} but the model expects "
                              f"{model.image_size}×{model.image_size}")
        if channels != model.in_channels:
            raise ConfigError(f"the dataset's images have {channels} channel(s) but the model expects "
                              f"{model.in_channels}")
    if data.name == "folder" and not data.data_dir:
        raise ConfigError("the folder dataset needs a data_dir")
    if data.data_dir is not None and data.name in ("folder", "mnist", "fashion-mnist"):
        check_data_dir(data.data_dir, confined=confined, zip_ok=data.name == "folder",
                       must_exist=confined or data.name == "folder")
    return data


# ---------------------------------------------------------------- history

def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def history_record(rec) -> dict | None:
    """One typed epoch record, or None when it has no usable epoch number. Known keys keep
    a finite number (else None); ``kl_per_dim`` a list of numbers; other keys are dropped."""
    if not isinstance(rec, dict):
        return None
    ep = rec.get("epoch")
    if isinstance(ep, bool) or not isinstance(ep, int) or not 1 <= ep <= 10_000_000:
        return None
    out: dict = {"epoch": ep}
    for k in HISTORY_NUMBERS:
        if k in rec:
            out[k] = _number(rec[k])
    for k in HISTORY_INTS:
        if k in rec:
            v = rec[k]
            out[k] = v if isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 1_000_000 else None
    kl = rec.get("kl_per_dim")
    if isinstance(kl, list) and len(kl) <= 4096:
        vals = [_number(v) for v in kl]
        out["kl_per_dim"] = vals if all(v is not None for v in vals) else None
    elif "kl_per_dim" in rec:
        out["kl_per_dim"] = None
    return out


def parse_history_lines(lines: Iterable[str | bytes]) -> list[dict]:
    """Typed records from history lines, at most ``MAX_HISTORY_LINES`` lines and
    ``MAX_HISTORY_BYTES`` read; lines that do not parse or have no epoch are skipped, and
    an epoch seen again replaces its earlier record (one record per epoch, in order)."""
    by_epoch: dict[int, dict] = {}
    total = 0
    for n, line in enumerate(lines):
        total += len(line)
        if n >= MAX_HISTORY_LINES or total > MAX_HISTORY_BYTES:
            break
        try:
            rec = history_record(json.loads(line))
        except (ValueError, RecursionError):
            continue
        if rec is not None:
            by_epoch.pop(rec["epoch"], None)
            by_epoch[rec["epoch"]] = rec
    return sorted(by_epoch.values(), key=lambda r: r["epoch"])


def _lines(f: IO[bytes]) -> Iterator[bytes]:
    """Lines of a binary stream, never more than ``MAX_HISTORY_BYTES`` read in all."""
    left = MAX_HISTORY_BYTES + 1
    while left > 0:
        line = f.readline(left)
        if not line:
            return
        left -= len(line)
        yield line


def parse_history(raw: bytes | str) -> list[dict]:
    """Typed records from history.jsonl content (see ``parse_history_lines``)."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    return parse_history_lines(_lines(io.BytesIO(raw)))


def read_history_file(path: Path) -> list[dict]:
    """Like ``parse_history`` on a file, reading no more than the caps allow."""
    f = open_regular(path)
    if f is None:
        return []
    with f:
        return parse_history_lines(_lines(f))


# ---------------------------------------------------------------- card

def parse_card(raw: bytes | str) -> str:
    """A run's card as plain text: at most ``MAX_CARD_BYTES`` bytes read, decoded as UTF-8
    (bad bytes replaced), control characters other than newline and tab dropped. The text is
    still untrusted: whoever shows it escapes it."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    text = raw[:MAX_CARD_BYTES].decode("utf-8", "replace").replace("\r\n", "\n")
    return "".join(c for c in text if c in "\n\t" or (c.isprintable() and c != "\ufffd")).strip()


def read_card_file(path: Path) -> str:
    """``parse_card`` of a file, reading no more than the cap; "" when it is missing or not
    a regular file."""
    f = open_regular(path)
    if f is None:
        return ""
    with f:
        return parse_card(f.read(MAX_CARD_BYTES))




# ---------------------------------------------------------------- zip archives



# ---------------------------------------------------------------- URL parameters and browser values
# A link's query parameters and a value a browser component sends are hostile text: each is parsed
# here or refused with a reason (ValueError), never passed on raw.

MAX_PARAM_CHARS = 8192  # a latent of 512 dimensions at 12 characters each fits
RUN_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def url_run_name(text: str, known: Iterable[str]) -> str:
    """A run name from a link: a folder name as the checkpoints folder spells them, and one that exists."""
    text = str(text)
    if not text or len(text) > 64 or text[0] == "." or not set(text) <= RUN_NAME_CHARS:
        raise ValueError("the run name is not a valid run folder name")
    if text not in set(known):
        raise ValueError(f"there is no run named {text}")
    return text


def url_index(text, n: int) -> int:
    """An index in [0, n) from a link (or a component)."""
    s = str(text).strip()
    if not s or len(s) > 12 or not s.lstrip("-").isdigit():
        raise ValueError("the index is not a whole number")
    i = int(s)
    if not 0 <= i < n:
        raise ValueError(f"index {i} is out of range (0 to {n - 1})")
    return i


def latent_vector(value, latent_dim: int, bound: float = 1e3) -> list[float]:
    """A latent from a link ("0.5,-1.2,…" text) or a component (a list of numbers): exactly
    ``latent_dim`` finite numbers, each within ±bound."""
    if isinstance(value, str):
        if len(value) > MAX_PARAM_CHARS:
            raise ValueError("the latent is too long")
        parts = [p for p in value.split(",")] if value.strip() else []
        try:
            nums = [float(p) for p in parts]
        except ValueError:
            raise ValueError("the latent is not a comma-separated list of numbers") from None
    elif isinstance(value, (list, tuple)):
        if len(value) > 4096 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise ValueError("the latent is not a list of numbers")
        nums = [float(v) for v in value]
    else:
        raise ValueError("the latent is not a list of numbers")
    if len(nums) != latent_dim:
        raise ValueError(f"the latent has {len(nums)} values but this model has {latent_dim} dimensions")
    if not all(math.isfinite(v) and abs(v) <= bound for v in nums):
        raise ValueError(f"the latent has a value that is not a finite number within ±{bound:g}")
    return nums


def url_choice(text, allowed: Iterable[str]) -> str:
    """One of a fixed set of words (a projection method, a split)."""
    allowed = list(allowed)
    s = str(text)
    if s not in allowed:
        raise ValueError(f"it must be one of {', '.join(allowed)}")
    return s
