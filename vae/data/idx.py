"""MNIST and Fashion-MNIST from the standard IDX files, with optional download.

The four files (``train-images-idx3-ubyte.gz`` etc.) are looked up in
``root/<name>/`` and then ``root/`` itself, gzipped or plain. Missing files are
downloaded (md5-checked) into ``root/<name>/`` (``root`` itself when it is
already named after the dataset) unless downloads are off.
User-supplied files are not md5-checked, so custom splits work.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import torch

from vae.data.base import DataError, Dataset, DataSplits, conform

DOWNLOAD_TIMEOUT_S = 15
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024  # the largest real file is ~30 MB
MAX_IDX_BYTES = 1 << 30  # cap on decompressed size, so a gzip bomb cannot exhaust memory

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

# IDX type code -> big-endian numpy dtype
_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_DTYPE_CODES = {dt.newbyteorder(">") if dt.itemsize > 1 else dt: code for code, dt in _IDX_DTYPES.items()}

# split -> (images file, labels file), names without ".gz"
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

SOURCES = {
    "mnist": {
        "title": "MNIST",
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "md5": {
            "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
            "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
            "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
        },
        "classes": [str(d) for d in range(10)],
    },
    "fashion-mnist": {
        "title": "Fashion-MNIST",
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "md5": {
            "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
            "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
            "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
        },
        "classes": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    },
}


# ---------------------------------------------------------------- IDX format


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write ``array`` as IDX; gzip-compressed when ``path`` ends in ``.gz``.

    array: e.g. (N, H, W) uint8 images or (N,) uint8 labels. Written to a temp
    file and renamed, so a reader never sees half a file.
    """
    a = np.asarray(array)
    base = a.dtype if a.dtype.itemsize == 1 else a.dtype.newbyteorder(">")
    code = _DTYPE_CODES.get(base)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {a.dtype}")
    if not 1 <= a.ndim <= 255:
        raise ValueError("IDX needs 1 to 255 dimensions")
    header = bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(a, dtype=base).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload, compresslevel=6, mtime=0)  # mtime=0: reproducible bytes
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_idx(path: str | os.PathLike, expected_magic: int | None = None) -> np.ndarray:
    """Parse an IDX file (gzipped if the name ends in .gz) into an array.

    Validates the magic number, dimensions and that the payload length matches
    the header exactly. Raises DataError naming the file on any problem.
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise DataError(f"file {path} is truncated: expected at least 4 bytes, got {len(data)}")
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if expected_magic is not None and magic != expected_magic:
        raise DataError(f"file {path} is not an IDX {_kind(expected_magic)} file: magic number "
                        f"{magic} (expected {expected_magic}); is it the right file?")
    if data[0] != 0 or data[1] != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"file {path} is not an IDX file (bad magic number {magic})")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DataError(f"file {path} is truncated: expected at least {header_len} bytes, got {len(data)}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    expected = header_len + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(data) < expected:
        raise DataError(f"file {path} is truncated: expected {expected} bytes, got {len(data)}")
    if len(data) > expected:
        raise DataError(f"file {path} is longer than its header says: expected {expected} bytes, "
                        f"got {len(data)}")
    arr = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def _kind(magic: int) -> str:
    return {IMAGES_MAGIC: "images", LABELS_MAGIC: "labels"}.get(magic, "")


def _read_bytes(path: Path) -> bytes:
    from vae.files import open_regular
    raw = open_regular(path)  # a device or fifo under an IDX name is never read
    if raw is None:
        raise DataError(f"file {path} is not a regular file")
    try:
        with raw:
            if not path.name.endswith(".gz"):
                data = raw.read(MAX_IDX_BYTES + 1)
                if len(data) > MAX_IDX_BYTES:
                    raise DataError(f"file {path} is larger than {MAX_IDX_BYTES:,} bytes; not an MNIST file")
                return data
            with gzip.open(raw, "rb") as fh:
                data = fh.read(MAX_IDX_BYTES + 1)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"file {path} is not a valid gzip file ({e}); it may be corrupt or a partial "
                        f"download: delete it and try again") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if len(data) > MAX_IDX_BYTES:
        raise DataError(f"file {path} decompresses to more than {MAX_IDX_BYTES:,} bytes; not an MNIST file")
    return data


# ---------------------------------------------------------------- locating and downloading


def _find(root: Path, name: str, fname: str) -> Path | None:
    # The dataset-named subfolder first: a shared data root may hold MNIST at
    # its top level and Fashion-MNIST in a subfolder, never the reverse.
    for folder in (root / name, root):
        for candidate in (folder / f"{fname}.gz", folder / fname):
            if candidate.is_file():
                return candidate
    return None


def _target_dir(root: Path, name: str) -> Path:
    """Where missing files belong: root/<name>, or root itself if it already is that folder."""
    return root if root.name.lower() == name else root / name


def _missing_message(title: str, root: Path, name: str, missing: list[str], reason: str) -> str:
    files = ", ".join(f"{m}.gz" for m in missing)
    target = _target_dir(root, name)
    where = f"{target}" if target == root else f"{target} (or directly in {root})"
    return (f"{title} files not found: {files}. {reason}Put them in {where}; plain uncompressed files "
            f"without .gz work too. Choose another folder with --data-dir or the VAE_DATA_DIR "
            f"environment variable.")


def _download(url: str, dest: Path, md5: str) -> None:
    """Stream ``url`` to a temp file beside ``dest``, check md5, then rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    digest, size = hashlib.md5(), 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
            while chunk := resp.read(1 << 16):
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise DataError(f"download of {url} is larger than expected; aborted")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(f"downloaded {url} has md5 {digest.hexdigest()}, expected {md5}; "
                            f"the file is corrupt or has changed upstream")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def ensure_files(name: str, root: Path, download: bool) -> dict[str, Path]:
    """Map each required file name (without .gz) to an existing path, downloading if allowed."""
    src = SOURCES[name]
    wanted = [f for pair in FILES.values() for f in pair]
    found = {f: _find(root, name, f) for f in wanted}
    missing = [f for f in wanted if found[f] is None]
    if missing and not download:
        reason = "Downloading is off (download=False or VAE_NO_DOWNLOAD=1). "
        raise DataError(_missing_message(src["title"], root, name, missing, reason))
    target = _target_dir(root, name)
    for f in missing:
        gz = f"{f}.gz"
        try:
            _download(src["url"] + gz, target / gz, src["md5"][gz])
        except (OSError, ValueError, http.client.HTTPException) as e:  # URLError/HTTPError/timeouts are OSErrors
            reason = f"Downloading {src['url'] + gz} failed ({e}); are you offline? "
            raise DataError(_missing_message(src["title"], root, name, missing, reason)) from None
        found[f] = target / gz
    return found  # type: ignore[return-value]


# ---------------------------------------------------------------- loading


def _load_split(images_path: Path, labels_path: Path, n_classes: int,
                max_items: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns x: (N, 1, H, W) float32 in [0, 1] and y: (N,) int64."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3 or images.shape[1] < 1 or images.shape[2] < 1:
        raise DataError(f"file {images_path} should hold (N, rows, cols) images, not shape {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"file {labels_path} should hold (N,) labels, not shape {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{images_path.name} has {len(images):,} images but {labels_path.name} has "
                        f"{len(labels):,} labels; the files do not belong together")
    if len(images) == 0:
        raise DataError(f"file {images_path} holds no images")
    if labels.min() < 0 or labels.max() >= n_classes:
        bad = int(labels.max()) if labels.max() >= n_classes else int(labels.min())
        raise DataError(f"file {labels_path} has label {bad}; expected 0..{n_classes - 1}")
    if max_items is not None:  # slice before converting so a small cap stays cheap
        images, labels = images[:max_items], labels[:max_items]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def load_idx_dataset(name: str, root: Path, *, image_size: int | None, channels: int | None,
                     download: bool, max_items: int | None) -> DataSplits:
    """Load ``mnist`` or ``fashion-mnist``: train split = train files, test split = t10k files."""
    src = SOURCES[name]
    paths = ensure_files(name, root, download)
    classes = list(src["classes"])
    splits = {}
    for split, (img, lab) in FILES.items():
        x, y = _load_split(paths[img], paths[lab], len(classes), max_items)
        splits[split] = Dataset(conform(x, image_size, channels), y, classes)
    where = paths[FILES["train"][0]].parent
    source = (f"{src['title']} ({len(splits['train']):,} train / {len(splits['test']):,} test images) "
              f"from {where}")
    return DataSplits(name, splits["train"], splits["test"], source=source)
