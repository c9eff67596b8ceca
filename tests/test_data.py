"""Tests for vae.data and its loaders: fast, CPU-only, no network."""
from __future__ import annotations

import gzip
import hashlib
import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from vae.data import embedded, folder as datasets_folder, idx as datasets_idx
from vae.data import DATASETS, DataError, Dataset, DataSplits, default_data_dir, load_dataset, write_idx

REAL_MNIST = Path(__file__).resolve().parents[2] / "shared/data/mnist"
IDX_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    # Never touch the network or the user's real cache from a test.
    monkeypatch.setenv("VAE_NO_DOWNLOAD", "1")
    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "cache"))


# ---------------------------------------------------------------- general


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError) as e:
        load_dataset("cifar")
    for name in DATASETS:
        assert name in str(e.value)


def test_default_data_dir(monkeypatch, tmp_path):
    assert default_data_dir() == tmp_path / "cache"
    monkeypatch.delenv("VAE_DATA_DIR")
    assert default_data_dir() == Path.home() / ".cache" / "vae-latent-explorer"


def test_dataset_subset_and_validation():
    ds = Dataset(torch.rand(5, 1, 4, 4), torch.arange(5), ["a"] * 5,
                 torch.rand(5, 2), ["f", "g"])
    sub = ds.subset([4, 0])
    assert len(sub) == 2 and sub.image_shape == (1, 4, 4)
    assert torch.equal(sub.y, torch.tensor([4, 0])) and torch.equal(sub.factors, ds.factors[[4, 0]])
    assert len(ds.subset(ds.y > 2)) == 2 and len(ds.subset(slice(1, 3))) == 2
    assert len(ds.subset(np.array([1]))) == 1
    with pytest.raises(ValueError):
        Dataset(torch.rand(5, 4, 4), torch.arange(5), [])
    with pytest.raises(ValueError):
        Dataset(torch.rand(5, 1, 4, 4), torch.arange(4), [])


# ---------------------------------------------------------------- digits


def test_digits_shapes_range_and_fixed_split():
    d = load_dataset("digits")
    assert isinstance(d, DataSplits) and d.name == "digits"
    assert (len(d.train), len(d.test)) == (1437, 360)
    assert d.train.image_shape == (1, 8, 8) and d.train.x.dtype == torch.float32
    assert d.train.y.dtype == torch.int64
    assert d.train.class_names == [str(i) for i in range(10)]
    assert d.train.x.min() >= 0 and d.train.x.max() == 1.0
    assert "1,797" in d.source

    from sklearn.datasets import load_digits
    bunch = load_digits()
    perm = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    want = torch.from_numpy(bunch.images[perm[1437:].numpy()] / 16.0).float().unsqueeze(1)
    assert torch.equal(d.test.x, want)
    assert torch.equal(d.test.y, torch.from_numpy(bunch.target[perm[1437:].numpy()]))

    other = load_dataset("digits", seed=123)  # the split never depends on the seed
    assert torch.equal(other.test.x, d.test.x) and torch.equal(other.train.y, d.train.y)


def test_digits_max_items_resize_and_channels():
    d = load_dataset("digits", max_items=100, image_size=16, channels=3)
    assert (len(d.train), len(d.test)) == (100, 100)
    assert d.train.image_shape == (3, 16, 16)
    assert 0 <= d.train.x.min() and d.train.x.max() <= 1


def test_bad_arguments():
    with pytest.raises(DataError):
        load_dataset("digits", channels=2)
    with pytest.raises(DataError):
        load_dataset("digits", max_items=0)
    with pytest.raises(DataError):
        load_dataset("shapes", image_size=4)


# ---------------------------------------------------------------- shapes


def test_shapes_deterministic_with_factors():
    a = load_dataset("shapes", max_items=600, seed=3)
    b = load_dataset("shapes", max_items=600, seed=3)
    c = load_dataset("shapes", max_items=600, seed=4)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.factors, b.test.factors)
    assert not torch.equal(a.train.x, c.train.x)
    assert (len(a.train), len(a.test)) == (480, 120)

    ds = a.train
    assert ds.image_shape == (1, 32, 32)
    assert ds.class_names == ["square", "ellipse", "triangle"]
    assert ds.factor_names == ["shape", "scale", "rotation", "pos_x", "pos_y"]
    assert ds.factors.shape == (480, 5) and ds.factors.dtype == torch.float32
    assert torch.equal(ds.y, ds.factors[:, 0].long())
    assert set(ds.y.tolist()) == {0, 1, 2} and set(a.test.y.tolist()) == {0, 1, 2}
    assert ds.x.min() == 0 and ds.x.max() == 1
    assert (ds.x.amax(dim=(1, 2, 3)) > 0.9).all()  # every image shows a shape
    # no shape touches the border
    assert ds.x[..., 0, :].max() == 0 and ds.x[..., -1, :].max() == 0
    assert ds.x[..., :, 0].max() == 0 and ds.x[..., :, -1].max() == 0
    f = ds.factors
    assert f[:, 1].min() >= 0.5 and f[:, 1].max() <= 1.0
    periods = torch.tensor([math.pi / 2, math.pi, 2 * math.pi / 3])[ds.y]
    assert (f[:, 2] >= 0).all() and (f[:, 2] < periods + 1e-6).all()
    assert f[:, 3:].min() >= 0 and f[:, 3:].max() <= 1


def test_shapes_factors_describe_the_images():
    d = load_dataset("shapes", max_items=300, seed=1).train
    x = d.x[:, 0]
    cols = torch.arange(32, dtype=torch.float32)
    mass = x.sum(dim=(1, 2))
    cx = (x.sum(1) * cols).sum(1) / mass  # centroid column
    cy = (x.sum(2) * cols).sum(1) / mass  # centroid row (pos_y grows downwards)
    assert torch.corrcoef(torch.stack([cx, d.factors[:, 3]]))[0, 1] > 0.99
    assert torch.corrcoef(torch.stack([cy, d.factors[:, 4]]))[0, 1] > 0.99
    same = d.y == 0  # bigger squares cover more pixels
    assert torch.corrcoef(torch.stack([mass[same], d.factors[same, 1] ** 2]))[0, 1] > 0.98


@pytest.mark.parametrize("size", [28, 64])
def test_shapes_image_size(size):
    d = load_dataset("shapes", image_size=size, max_items=60, channels=3)
    assert d.train.image_shape == (3, size, size) and d.test.image_shape == (3, size, size)


def test_shapes_default_size_is_fast():
    d = load_dataset("shapes")
    assert (len(d.train), len(d.test)) == (4800, 1200)


# ---------------------------------------------------------------- IDX


def _write_mnist(folder: Path, n_train: int = 12, n_test: int = 5, gz: bool = True, rows: int = 28):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, rows), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, rows), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, arr in arrays.items():
        write_idx(folder / (name + (".gz" if gz else "")), arr)
    return arrays


def test_idx_round_trip_gz(tmp_path):
    arrays = _write_mnist(tmp_path)
    d = load_dataset("mnist", tmp_path)
    assert (len(d.train), len(d.test)) == (12, 5)
    assert d.train.image_shape == (1, 28, 28)
    assert torch.equal(d.train.x, torch.from_numpy(arrays["train-images-idx3-ubyte"] / 255.0).float()[:, None])
    assert torch.equal(d.test.y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"]).long())
    assert d.train.class_names == [str(i) for i in range(10)]
    assert datasets_idx.read_idx(tmp_path / "train-labels-idx1-ubyte.gz").dtype == np.uint8


def test_idx_plain_files_in_subfolder_and_max_items(tmp_path):
    arrays = _write_mnist(tmp_path / "fashion-mnist", gz=False, rows=10)
    d = load_dataset("fashion_mnist", tmp_path, max_items=3)
    assert d.name == "fashion-mnist" and (len(d.train), len(d.test)) == (3, 3)
    assert d.train.class_names[0] == "T-shirt/top" and d.train.class_names[-1] == "Ankle boot"
    assert torch.equal(d.test.y, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"][:3]).long())
    assert d.train.image_shape == (1, 10, 10)


def test_write_idx_other_dtypes(tmp_path):
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    write_idx(tmp_path / "f.idx", a)
    assert np.array_equal(datasets_idx.read_idx(tmp_path / "f.idx"), a)


def test_idx_truncated(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:-100]))
    with pytest.raises(DataError, match=f"truncated: expected {len(raw)} bytes, got {len(raw) - 100}"):
        load_dataset("mnist", tmp_path)


def test_idx_bad_magic(tmp_path):
    _write_mnist(tmp_path)
    # labels where images are expected: a valid IDX file, but the wrong kind
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes((tmp_path / "t10k-labels-idx1-ubyte.gz").read_bytes())
    with pytest.raises(DataError, match="magic number 2049"):
        load_dataset("mnist", tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"\x12\x34\x56\x78" + bytes(50)))
    with pytest.raises(DataError, match="magic"):
        load_dataset("mnist", tmp_path)


def test_idx_corrupt_gzip(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:15] + b"garbage" * 5)
    with pytest.raises(DataError, match="gzip"):
        load_dataset("mnist", tmp_path)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="train-labels"):
        load_dataset("mnist", tmp_path)


def test_idx_mismatched_counts_and_bad_labels(tmp_path):
    _write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, np.uint8))
    with pytest.raises(DataError, match="12 images but .* 11 labels"):
        load_dataset("mnist", tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(12, 10, np.uint8))
    with pytest.raises(DataError, match="label 10"):
        load_dataset("mnist", tmp_path)


def test_idx_trailing_bytes(tmp_path):
    _write_mnist(tmp_path, gz=False)
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataError, match="longer"):
        load_dataset("mnist", tmp_path)


def test_missing_files_offline_names_them(tmp_path):
    arrays = _write_mnist(tmp_path)
    del arrays
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path, download=True)  # VAE_NO_DOWNLOAD=1 wins
    msg = str(e.value)
    assert "t10k-images-idx3-ubyte.gz" in msg and "train-labels-idx1-ubyte.gz" in msg
    assert "train-images" not in msg and "t10k-labels" not in msg
    assert str(tmp_path / "mnist") in msg and "--data-dir" in msg and "VAE_DATA_DIR" in msg


def test_missing_files_in_folder_named_after_dataset(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("mnist", tmp_path / "mnist")
    assert f"Put them in {tmp_path / 'mnist'};" in str(e.value)


def test_missing_files_use_default_dir(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path / "cache" / "fashion-mnist")):
        load_dataset("fashion-mnist")


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_verifies_md5(tmp_path, monkeypatch):
    """Downloads go to root/<name>/, are md5-checked and leave no partial files."""
    monkeypatch.delenv("VAE_NO_DOWNLOAD")
    src = tmp_path / "src"
    _write_mnist(src)
    blobs = {f"{n}.gz": (src / f"{n}.gz").read_bytes() for n in IDX_NAMES}
    md5 = {k: hashlib.md5(v).hexdigest() for k, v in blobs.items()}
    monkeypatch.setitem(datasets_idx.SOURCES["mnist"], "md5", md5)
    urls = []

    def fake_urlopen(url, timeout):
        assert timeout == 15
        urls.append(url)
        return _FakeResponse(blobs[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(datasets_idx.urllib.request, "urlopen", fake_urlopen)
    root = tmp_path / "root"
    d = load_dataset("mnist", root)
    assert len(d.train) == 12 and len(urls) == 4
    assert urls[0].startswith("https://ossci-datasets.s3.amazonaws.com/mnist/")
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(blobs)

    monkeypatch.setitem(datasets_idx.SOURCES["fashion-mnist"], "md5", {k: "0" * 32 for k in md5})
    with pytest.raises(DataError, match="md5"):
        load_dataset("fashion-mnist", root)
    assert list((root / "fashion-mnist").iterdir()) == []

    def offline(url, timeout):
        raise datasets_idx.urllib.error.URLError("no network")

    monkeypatch.setattr(datasets_idx.urllib.request, "urlopen", offline)
    with pytest.raises(DataError, match="offline"):
        load_dataset("fashion-mnist", root)


@pytest.mark.skipif(not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="no shared MNIST files")
def test_real_mnist_custom_split(tmp_path):
    images = datasets_idx.read_idx(REAL_MNIST / "t10k-images-idx3-ubyte.gz", 2051)
    labels = datasets_idx.read_idx(REAL_MNIST / "t10k-labels-idx1-ubyte.gz", 2049)
    assert images.shape == (10000, 28, 28)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", images[:8000])
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:8000])
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[8000:])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels[8000:])
    d = load_dataset("mnist", tmp_path)
    assert (len(d.train), len(d.test)) == (8000, 2000)
    assert torch.equal(d.train.x[0, 0], torch.from_numpy(images[0] / 255.0).float())
    assert int(d.train.y[0]) == int(labels[0]) == 7
    assert torch.equal(d.test.x[0, 0], torch.from_numpy(images[8000] / 255.0).float())
    assert int(d.test.y[0]) == int(labels[8000])
    assert set(d.train.y.tolist()) == set(range(10))


# ---------------------------------------------------------------- folder


def _png(arr: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, fmt)
    return buf.getvalue()


def _gray(value: int, size: int = 8) -> bytes:
    return _png(np.full((size, size), value, np.uint8))


def _make_folder(root: Path) -> None:
    for i, label in enumerate(["cat", "cat", "cat", "dog", "dog", "dog", "dog"]):
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / f"{i}.png").write_bytes(_gray(30 * i))
    (root / "top.jpg").write_bytes(_png(np.full((5, 9, 3), 200, np.uint8), fmt="JPEG"))
    (root / "dog" / "deeper").mkdir()
    (root / "dog" / "deeper" / "x.bmp").write_bytes(_png(np.zeros((3, 3), np.uint8), fmt="BMP"))
    (root / "dog" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    (root / "cat" / "empty.png").write_bytes(b"")
    (root / "cat" / "notes.txt").write_text("ignored: not an image")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "h.png").write_bytes(_gray(1))


def test_folder_labels_and_skips(tmp_path):
    _make_folder(tmp_path / "imgs")
    d = load_dataset("folder", tmp_path / "imgs")
    assert d.name == "folder" and d.skipped == 2
    assert len(d.train) + len(d.test) == 9 and (len(d.train), len(d.test)) == (7, 2)
    assert d.train.class_names == ["cat", "dog", "unlabelled"]
    y = torch.cat([d.train.y, d.test.y])
    assert sorted(y.tolist()) == [0, 0, 0, 1, 1, 1, 1, 1, 2]
    assert d.train.image_shape == (1, 28, 28)
    assert d.train.x.min() >= 0 and d.train.x.max() <= 1
    assert "2 unreadable" in d.source
    again = load_dataset("folder", tmp_path / "imgs")  # the split is fixed
    assert torch.equal(again.test.x, d.test.x)


def test_folder_rgb_vs_gray_and_size(tmp_path):
    (tmp_path / "a").mkdir()
    red = np.zeros((6, 10, 3), np.uint8)
    red[..., 0] = 255
    (tmp_path / "a" / "red.png").write_bytes(_png(red))
    (tmp_path / "a" / "dot.gif").write_bytes(_png(np.full((1, 1), 255, np.uint8), fmt="GIF"))  # 1×1 is fine
    rgb = load_dataset("folder", tmp_path, channels=3, image_size=12)
    gray = load_dataset("folder", tmp_path, image_size=12)
    x_rgb = torch.cat([rgb.train.x, rgb.test.x])
    x_gray = torch.cat([gray.train.x, gray.test.x])
    assert x_rgb.shape == (2, 3, 12, 12) and x_gray.shape == (2, 1, 12, 12)
    is_red = x_rgb[:, 1].amax(dim=(1, 2)) < 0.01
    assert is_red.sum() == 1
    px = x_rgb[is_red][0, :, 6, 6]
    assert px[0] > 0.99 and px[1] < 0.01 and px[2] < 0.01
    assert abs(float(x_gray[is_red][0, 0, 6, 6]) - 0.299) < 0.01  # luma of pure red


def test_folder_alpha_and_16bit(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 255  # white but fully transparent -> black background
    (tmp_path / "t.png").write_bytes(_png(rgba, "RGBA"))
    deep = Image.fromarray(np.full((4, 4), 65535, np.uint16))
    buf = io.BytesIO()
    deep.save(buf, "PNG")
    (tmp_path / "u.png").write_bytes(buf.getvalue())
    d = load_dataset("folder", tmp_path, image_size=4)
    x = torch.cat([d.train.x, d.test.x]).amax(dim=(1, 2, 3))
    assert sorted(x.tolist()) == [0.0, 1.0]


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_folder_zip_input_with_wrapper_folder(tmp_path):
    members = {f"mydata/{c}/{i}.png": _gray(40 * i) for c in ("a", "b") for i in range(3)}
    members["mydata/b/broken.png"] = b"nope"
    members["__MACOSX/mydata/a/._0.png"] = b"resource fork"
    d = load_dataset("folder", _zip(tmp_path / "d.zip", members), channels=3)
    assert d.train.class_names == ["a", "b"] and d.skipped == 1
    assert len(d.train) + len(d.test) == 6 and d.train.image_shape == (3, 28, 28)
    assert sorted(torch.cat([d.train.y, d.test.y]).tolist()) == [0, 0, 0, 1, 1, 1]


def test_folder_zip_path_traversal_is_skipped(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    z = _zip(work / "evil.zip", {"../evil.png": _gray(9), "/abs.png": _gray(9), "a/../../up.png": _gray(9),
                                 "x/1.png": _gray(1), "x/2.png": _gray(2), "y/3.png": _gray(3)})
    before = sorted(p.name for p in tmp_path.rglob("*"))
    d = load_dataset("folder", z)
    assert d.skipped == 3 and len(d.train) + len(d.test) == 3
    assert d.train.class_names == ["x", "y"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    assert not (tmp_path / "evil.png").exists()


def test_folder_zip_bomb_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets_folder, "MAX_ZIP_TOTAL_BYTES", 5_000)
    z = _zip(tmp_path / "bomb.zip", {"a.png": _gray(1), "b.png": bytes(10_000)})
    with pytest.raises(DataError, match="zip bomb"):
        load_dataset("folder", z)
    monkeypatch.setattr(datasets_folder, "MAX_ZIP_MEMBERS", 1)
    with pytest.raises(DataError, match="members"):
        load_dataset("folder", _zip(tmp_path / "many.zip", {"a.png": _gray(1), "b.png": _gray(2)}))


def test_folder_oversize_member_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets_folder, "MAX_FILE_BYTES", 1_000)
    big = _png(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    z = _zip(tmp_path / "d.zip", {"a.png": _gray(1), "b.png": _gray(2), "c.png": big})
    assert load_dataset("folder", z).skipped == 1
    (tmp_path / "dir").mkdir()
    for name in ("a.png", "b.png"):
        (tmp_path / "dir" / name).write_bytes(_gray(3))
    (tmp_path / "dir" / "c.png").write_bytes(big)
    assert load_dataset("folder", tmp_path / "dir").skipped == 1


def test_folder_huge_pixel_count_skipped(tmp_path, monkeypatch):
    for i in range(3):
        (tmp_path / f"{i}.png").write_bytes(_gray(i))
    (tmp_path / "huge.png").write_bytes(_gray(5, size=20))
    monkeypatch.setattr(datasets_folder, "MAX_IMAGE_PIXELS", 100)
    assert load_dataset("folder", tmp_path).skipped == 1
    # Pillow's own DecompressionBombWarning is turned into a skip as well
    monkeypatch.setattr(datasets_folder, "MAX_IMAGE_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    assert load_dataset("folder", tmp_path).skipped == 1


def test_folder_max_items_and_errors(tmp_path):
    for i in range(6):
        (tmp_path / f"{i}.png").write_bytes(_gray(i))
    d = load_dataset("folder", tmp_path, max_items=4)
    assert len(d.train) + len(d.test) == 4 and d.train.class_names == ["unlabelled"]

    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", tmp_path / "nope")
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("folder")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "a.png").write_bytes(_gray(1))
    with pytest.raises(DataError, match="at least 2"):
        load_dataset("folder", tmp_path / "one")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"junk")
    with pytest.raises(DataError, match="could be read"):
        load_dataset("folder", tmp_path / "bad")
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset("folder", tmp_path / "none")
    (tmp_path / "fake.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="zip"):
        load_dataset("folder", tmp_path / "fake.zip")


# ---------------------------------------------------------------- mnist10k (bundled)


def test_mnist10k_is_bundled_split_8000_2000_with_labels(monkeypatch):
    monkeypatch.setenv("VAE_NO_DOWNLOAD", "1")  # the autouse fixture does too: no network, no data folder
    s = load_dataset("mnist10k")
    assert s.name == "mnist10k" and "bundled" in s.source
    assert s.train.x.shape == (8_000, 1, 28, 28) and s.test.x.shape == (2_000, 1, 28, 28)
    assert s.train.x.dtype == torch.float32 and 0.0 <= s.train.x.min() and s.train.x.max() <= 1.0
    assert s.train.class_names == [str(d) for d in range(10)]
    assert set(s.train.y.tolist()) == set(range(10)) and set(s.test.y.tolist()) == set(range(10))
    # The official t10k order: the first labels are 7 2 1 0 4 1 4 9 5 9.
    assert s.train.y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert datasets_idx.read_idx(Path(embedded.FILES_DIR) / embedded.LABELS)[8_000:].tolist() == s.test.y.tolist()


@pytest.mark.skipif(not (REAL_MNIST / "t10k-images-idx3-ubyte.gz").exists(), reason="no shared MNIST files")
def test_mnist10k_equals_the_official_test_set():
    images = datasets_idx.read_idx(REAL_MNIST / "t10k-images-idx3-ubyte.gz", 2051)
    s = load_dataset("mnist10k")
    got = torch.cat([s.train.x, s.test.x]).mul(255).round().to(torch.uint8).squeeze(1).numpy()
    assert np.array_equal(got, images)


def test_mnist10k_resize_channels_and_cap():
    s = load_dataset("mnist10k", image_size=32, channels=3, max_items=50)
    assert s.train.x.shape == (50, 3, 32, 32) and s.test.x.shape == (50, 3, 32, 32)


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_mnist10k_refuses_a_corrupted_copy(tmp_path, monkeypatch, damage):
    for name in (embedded.IMAGES, embedded.LABELS):
        (tmp_path / name).write_bytes((Path(embedded.FILES_DIR) / name).read_bytes())
    target = tmp_path / embedded.LABELS
    raw = bytearray(target.read_bytes())
    if damage == "flip":
        raw[-20] ^= 0x01  # one bit: still a valid gzip length, wrong checksum
        target.write_bytes(bytes(raw))
    elif damage == "truncate":
        target.write_bytes(bytes(raw[: len(raw) // 2]))
    else:
        target.unlink()
    monkeypatch.setattr(embedded, "FILES_DIR", tmp_path)
    with pytest.raises(DataError) as e:
        load_dataset("mnist10k")
    msg = str(e.value)
    assert embedded.LABELS in msg and str(tmp_path) not in msg  # names the file, never the server path
    assert ("corrupt" in msg) if damage != "missing" else ("missing" in msg)


def test_mnist10k_has_a_native_size_for_run_configs():
    from vae.config import DataConfig
    from vae.runs.validate import data_shape

    assert "mnist10k" in DATASETS
    assert data_shape(DataConfig(name="mnist10k")) == (1, 28)
