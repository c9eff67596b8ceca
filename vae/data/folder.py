"""A user's own images: a folder, or a .zip read in memory (never extracted).

Labels come from the top-level subfolder an image sits under (torchvision
ImageFolder style: ``root/cat/a.png`` and ``root/cat/more/b.png`` are both
"cat"); images directly in the root are "unlabelled". Images are center-cropped
to a square, then resized with Lanczos, so nothing is stretched. Transparent
pixels are composited onto black, the background of every built-in dataset.
``prepare_image`` is that preparation, the one an image uploaded onto a map gets too.

Untrusted input is expected: unreadable, empty, oversized or decompression-bomb
files are skipped and counted, and zips are checked against declared-size and
member-count limits before anything is decompressed.
"""
from __future__ import annotations

import contextlib
import io
import os
import stat
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from PIL import Image

from vae.data.base import DataError, Dataset, DataSplits, split_fixed
from vae.files import open_regular, zip_entry_count

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
DEFAULT_IMAGE_SIZE = 28
UNLABELLED = "unlabelled"
MAX_ZIP_TOTAL_BYTES = 1 << 30  # sum of declared uncompressed sizes in a zip
MAX_ZIP_MEMBERS = 200_000
MAX_FILE_BYTES = 50 * 1024 * 1024  # per image file; bigger ones are skipped
MAX_IMAGE_PIXELS = 40_000_000  # per image; bigger ones are skipped before decoding


@dataclass
class _Entry:
    relpath: str  # "/"-separated, relative to the folder (or the zip's wrapper folder)
    label: str
    read: Callable[[], bytes | None]  # None: unreadable, empty or too large


def load_folder(data_dir: str | os.PathLike | None, *, image_size: int | None = None,
                channels: int | None = None, max_items: int | None = None) -> DataSplits:
    """Load images under ``data_dir`` (a folder or .zip) into a fixed 80/20 split.

    Returns splits with x: (N, channels, S, S) float32 in [0, 1], S = image_size
    (default 28), channels 1 (grayscale, default) or 3 (RGB). ``max_items``
    caps the total number of images read, taken in sorted path order.
    """
    if data_dir is None or str(data_dir) == "":
        raise DataError("the folder dataset needs a path to a folder or .zip of images: pass --data-dir")
    path = Path(data_dir).expanduser()
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        raise DataError(f"folder {path} does not exist") from None
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):  # a device, fifo or socket is never read
        raise DataError(f"{path} is neither a folder nor a .zip file")
    size = DEFAULT_IMAGE_SIZE if image_size is None else int(image_size)
    rgb = channels == 3

    images: list[np.ndarray] = []
    labels: list[str] = []
    with _open_entries(path) as (entries, skipped):
        if not entries:
            raise DataError(f"no images ({', '.join(e[1:].upper() for e in IMAGE_EXTENSIONS)}) "
                            f"found in {path}")
        for entry in entries:
            if max_items is not None and len(images) >= max_items:
                break
            data = entry.read()
            arr = None if data is None else decode_image(data, size, rgb)
            if arr is None:
                skipped += 1
                continue
            images.append(arr)
            labels.append(entry.label)

    n = len(images)
    if n == 0:
        raise DataError(f"none of the {skipped:,} image files in {path} could be read")
    if n < 2:
        raise DataError(f"only {n} readable image in {path}; need at least 2 for a train/test split")
    class_names = sorted(set(labels))
    index = {c: i for i, c in enumerate(class_names)}
    x = image_tensor(np.stack(images), rgb)
    y = torch.tensor([index[c] for c in labels], dtype=torch.int64)
    ds = Dataset(x, y, class_names)
    train_idx, test_idx = split_fixed(n)
    k = len(class_names)
    source = f"folder {path.name} ({n:,} images, {k} {'class' if k == 1 else 'classes'}"  # no server path
    source += f", {skipped:,} unreadable files skipped)" if skipped else ")"
    return DataSplits("folder", ds.subset(train_idx), ds.subset(test_idx), skipped=skipped, source=source)


def prepare_image(data: bytes, size: int, rgb: bool, max_pixels: int | None = None,
                  formats: tuple[str, ...] | None = None) -> np.ndarray:
    """The one preparation of an image for a model: decode, scale 16-bit values, composite
    transparency onto black, center-crop to a square and resize with Lanczos to size × size.
    Every folder dataset's images and every image uploaded onto a map go through it.

    Returns (size, size) uint8 (grayscale) or (size, size, 3) uint8 (RGB); ValueError saying why
    not (not a readable image, not one of ``formats`` (Pillow's names, e.g. "PNG"), or more than
    ``max_pixels`` pixels (default ``MAX_IMAGE_PIXELS``), checked from the header before anything
    is decoded).
    """
    max_pixels = MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its own limit; a warning is a refusal.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                if formats is not None and im.format not in formats:
                    raise _Refused(f"it is a {im.format} file, not a {' or '.join(formats)}")
                w, h = im.size  # header only: nothing decoded yet
                if w < 1 or h < 1 or w * h > max_pixels:
                    raise _Refused(f"it is {w} × {h} pixels, over the limit of {max_pixels:,}")
                im.draft("RGB" if rgb else "L", (size, size))  # JPEG: decode at a reduced scale
                im = _to_mode(im, rgb)
                w, h = im.size
                side = min(w, h)
                box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
                im = im.resize((size, size), Image.Resampling.LANCZOS, box=box)
                return np.array(im, dtype=np.uint8)
    except _Refused as e:
        raise ValueError(str(e)) from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on corrupt input; all mean "unreadable"
        raise ValueError(f"it is not a readable image ({type(e).__name__})") from None


class _Refused(Exception):
    """An image refused for a stated reason (its format or size)."""


def decode_image(data: bytes, size: int, rgb: bool) -> np.ndarray | None:
    """``prepare_image`` for a folder: None (the file is skipped and counted) instead of an error."""
    try:
        return prepare_image(data, size, rgb)
    except ValueError:
        return None


def image_tensor(images: np.ndarray, rgb: bool) -> torch.Tensor:
    """Prepared images (N, S, S) or (N, S, S, 3) uint8 as the model's input: (N, C, S, S) float32 in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(images)).float().div_(255.0)
    return x.permute(0, 3, 1, 2).contiguous() if rgb else x.unsqueeze(1)


def _to_mode(im: Image.Image, rgb: bool) -> Image.Image:
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        # Pillow's convert("L") clips 16-bit values instead of scaling them.
        a = np.asarray(im, dtype=np.float64)
        hi = 255.0 if a.max(initial=0.0) <= 255 else 65535.0
        im = Image.fromarray(np.clip(a / hi * 255.0, 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im)
    return im.convert("RGB" if rgb else "L")


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _label(parts: list[str]) -> str:
    return parts[0] if len(parts) > 1 else UNLABELLED


@contextlib.contextmanager
def _open_entries(path: Path) -> Iterator[tuple[list[_Entry], int]]:
    """Yield (entries sorted by path, files already skipped while listing)."""
    if path.is_dir():
        yield _list_dir(path), 0
        return
    f = open_regular(path)  # never a device: is_zipfile would read /dev/zero to the end
    if f is None:
        raise DataError(f"{path} is neither a folder nor a valid .zip file")
    with f:
        count = zip_entry_count(f)  # from the end record, before zipfile parses every entry
        if count is None:
            raise DataError(f"{path} is neither a folder nor a valid .zip file")
        if count > MAX_ZIP_MEMBERS:
            raise DataError(f"{path} has {count:,} members, more than the limit of {MAX_ZIP_MEMBERS:,}")
        try:
            f.seek(0)
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise DataError(f"cannot open {path} as a zip file: {e}") from None
        with zf:
            yield _list_zip(zf, path)


def _list_dir(root: Path) -> list[_Entry]:
    entries = []
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):  # does not follow directory symlinks: no loops
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # e.g. .ipynb_checkpoints copies
        for fname in filenames:
            if fname.startswith(".") or not _is_image_name(fname):
                continue
            full = Path(dirpath) / fname
            if full.is_symlink() and not os.path.realpath(full).startswith(real_root + os.sep):
                continue  # a link out of the folder is not one of its images
            parts = list(full.relative_to(root).parts)
            entries.append(_Entry("/".join(parts), _label(parts), lambda p=full: _read_file(p)))
    return sorted(entries, key=lambda e: e.relpath)


def _read_file(p: Path) -> bytes | None:
    fh = open_regular(p)  # a fifo or device named like an image is skipped, never waited on
    if fh is None:
        return None
    try:
        with fh:
            if not 0 < os.fstat(fh.fileno()).st_size <= MAX_FILE_BYTES:
                return None
            data = fh.read(MAX_FILE_BYTES + 1)  # the file may grow after stat
    except OSError:
        return None
    return data if 0 < len(data) <= MAX_FILE_BYTES else None


def _list_zip(zf: zipfile.ZipFile, path: Path) -> tuple[list[_Entry], int]:
    infos = zf.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise DataError(f"{path} has {len(infos):,} members, more than the limit of {MAX_ZIP_MEMBERS:,}")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_ZIP_TOTAL_BYTES:
        raise DataError(f"{path} would decompress to {declared:,} bytes, more than the limit of "
                        f"{MAX_ZIP_TOTAL_BYTES:,}; refusing to read it (zip bomb?)")
    unsafe = 0
    accepted: list[tuple[list[str], zipfile.ZipInfo]] = []
    for info in infos:
        if info.is_dir() or not _is_image_name(info.filename):
            continue
        name = info.filename.replace("\\", "/")
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if name.startswith("/") or ".." in parts or ":" in parts[0] or "\0" in name:
            unsafe += 1  # absolute or escaping paths are never read, even in memory
            continue
        if parts[0] == "__MACOSX" or any(p.startswith(".") for p in parts):
            continue  # macOS resource forks and hidden files are not images
        accepted.append((parts, info))
    # "zip -r data.zip data" wraps everything in one folder; strip it when
    # there are class subfolders beneath, or every image would share one label.
    tops = {parts[0] for parts, _ in accepted}
    if len(tops) == 1 and all(len(p) > 1 for p, _ in accepted) and any(len(p) > 2 for p, _ in accepted):
        accepted = [(parts[1:], info) for parts, info in accepted]
    entries = [_Entry("/".join(parts), _label(parts), lambda i=info: _read_member(zf, i))
               for parts, info in accepted]
    return sorted(entries, key=lambda e: e.relpath), unsafe


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    if not 0 < info.file_size <= MAX_FILE_BYTES:
        return None
    try:
        with zf.open(info) as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # declared sizes can lie; cap what is inflated
    except Exception:  # noqa: BLE001 - bad CRC, encryption, unsupported method, zlib errors: skip
        return None
    return data if 0 < len(data) <= MAX_FILE_BYTES else None
