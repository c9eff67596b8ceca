"""The dataset of a run, as this server loads it: the one item-cap rule.

Every reader of a run's data goes through here (the app's ``ui.cache.run_dataset``, the
precompute, ``python -m vae.project``, ``python -m vae.evaluate``, the rate–distortion points,
the inference gaps and the disentanglement scores), so they all see the same images:

- a run with its own ``data.max_items`` is loaded with that many, within ``$VAE_MAX_ITEMS``
  (``vae.runs.validate.max_items_limit``);
- without one, a dataset whose ``max_items`` is *how many images are generated* (``shapes``) is
  loaded at its default count, the set the trainer drew (another count would draw other images);
- any other dataset is loaded capped by ``$VAE_MAX_ITEMS`` (a whole folder stays within this
  server's limit per request; a built-in dataset under the limit is loaded whole).

The server never downloads: a missing dataset is a ``DataError``.
"""
from __future__ import annotations

from dataclasses import replace

from vae.config import DataConfig, RunConfig
from vae.data.shapes import SHAPES_DEFAULT_N

# Images a dataset has without a cap (per split at most): a smaller operator cap is passed to
# the trainer (``vae.jobs.training.prepare_run``), a larger one would change nothing.
# shapes: its generator's default count.
NATURAL_ITEMS = {"digits": 1797, "shapes": SHAPES_DEFAULT_N, "mnist": 60_000, "fashion-mnist": 60_000,
                 "mnist10k": 8_000}
GENERATED = frozenset({"shapes"})  # datasets whose max_items is the number of images generated


def item_cap(data: DataConfig) -> int | None:
    """The ``max_items`` a run's dataset (``data``: its DataConfig) is loaded with on this server;
    None: the dataset's own default set."""
    from vae.runs.validate import max_items_limit

    limit = max_items_limit()
    if data.max_items is not None:
        return min(data.max_items, limit)
    return None if data.name in GENERATED else limit


def load_data(data: DataConfig, download: bool = False):
    """The ``vae.data.DataSplits`` of a DataConfig, capped by ``item_cap``; downloaded only when
    asked (a command a user types may, the server never does)."""
    from vae.data import load_dataset

    return load_dataset(data.name, data.data_dir, image_size=data.image_size, channels=data.channels,
                        max_items=item_cap(data), download=download)


def run_splits(cfg: RunConfig):
    """The dataset of a run (``cfg``: its RunConfig), as the app loads it."""
    return load_data(cfg.data)


def with_overrides(data: DataConfig, name: str | None = None, data_dir: str | None = None,
                   max_items: int | None = None) -> DataConfig:
    """A run's DataConfig with a caller's own dataset, folder or item count in place of the run's
    (``python -m vae.evaluate --dataset/--data-dir/--max-items``)."""
    return replace(data, name=name or data.name, data_dir=data_dir or data.data_dir,
                   max_items=data.max_items if max_items is None else max_items)


def split_images(run, split: str = "test"):
    """One split of a loaded run's dataset (``run_splits``): its images (N, C, H, W), checked
    against the model's input (CheckpointError when they do not match)."""
    from vae.runs.folder import CheckpointError

    x = getattr(run_splits(run.config), split).x
    if tuple(x.shape[1:]) != run.model.image_shape:
        raise CheckpointError(f"the dataset's images are {tuple(x.shape[1:])} but the run expects "
                              f"{run.model.image_shape}")
    return x
