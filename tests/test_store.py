"""The one protocol for results kept in a run folder (vae.cache.store): file names keyed by the
weights' digest, atomic writes only for the weights a result was computed from, capped reads,
and every kind of kept result named by it."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from tests.app_runs import REPO
from vae.cache import store
from vae.runs.folder import load_run, save_weights, weights_digest


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "digits-run"
    shutil.copytree(REPO / "checkpoints" / "digits-default", d)
    shutil.rmtree(d / "cache", ignore_errors=True)
    return d


def _new_weights(run_dir) -> None:
    run = load_run(run_dir)
    with torch.no_grad():
        for p in run.model.parameters():
            p.mul_(0.5)
    save_weights(run_dir / "model.safetensors", run.model)


def test_names_are_keyed_by_the_weights_and_every_kind_uses_them(run_dir):
    from vae.cache import gaps, precompute, projections, rate_distortion, scores
    digest = weights_digest(run_dir)
    assert store.path_for(run_dir, "gaps", params="-p1") == run_dir / "cache" / f"gaps-{digest}-p1.json"
    assert precompute.precompute_path(run_dir).name == f"precompute-{digest}-v{precompute.VERSION}.npz"
    assert gaps.cache_path(run_dir, 100, 500, 5000).name == f"gaps-{digest}-p100-s500-k5000-v2.json"
    assert rate_distortion.cache_path(run_dir).name == f"rate-distortion-{digest}.json"
    assert scores.scores_path(run_dir).name == f"disentanglement-{digest}.json"
    path = projections.cache_path(run_dir, projections.Spec("pca"), 10)
    assert path.parent == run_dir / "projections" and path.name.startswith("pca-test-10-")
    assert path.name.endswith(f"-{digest}.npz")


def test_the_committed_precompute_is_still_read():
    from vae.cache import precompute
    for name in ("mnist-default", "shapes-default"):
        pre = precompute.load(REPO / "checkpoints" / name)
        assert pre is not None and pre.digest == weights_digest(REPO / "checkpoints" / name)


def test_a_result_is_kept_only_for_the_weights_it_was_computed_from(run_dir):
    digest = weights_digest(run_dir)
    path = store.path_for(run_dir, "thing", digest)
    calls = []

    def compute(d):
        calls.append(d)
        return {"value": 1, "digest": d}
    got = store.get_or_compute(run_dir, lambda d: store.path_for(run_dir, "thing", d), store.read_json, compute,
                               lambda r: r)
    again = store.get_or_compute(run_dir, lambda d: store.path_for(run_dir, "thing", d), store.read_json, compute,
                                 lambda r: r)
    assert got == again == {"value": 1, "digest": digest} and calls == [digest] and path.is_file()
    _new_weights(run_dir)
    assert not store.write(run_dir, store.path_for(run_dir, "other", digest), {"x": 1}, digest)  # stale: not kept
    assert not store.path_for(run_dir, "other", digest).exists()
    assert store.get_or_compute(run_dir, lambda d: store.path_for(run_dir, "thing", d), store.read_json, compute,
                                lambda r: r)["digest"] != digest
    assert len(calls) == 2


def test_a_result_not_asked_for_is_not_kept(run_dir):
    path_of = lambda d: store.path_for(run_dir, "thing", d)  # noqa: E731
    store.get_or_compute(run_dir, path_of, store.read_json, lambda d: {"partial": True}, lambda r: r,
                         keep=lambda r: not r["partial"])
    assert not path_of(weights_digest(run_dir)).exists()


def test_reads_are_capped_and_never_trusted(run_dir):
    path = store.path_for(run_dir, "thing")
    path.parent.mkdir()
    path.write_text(json.dumps({"a": "x" * 100}))
    assert store.read_json(path) == {"a": "x" * 100}
    assert store.read_json(path, max_bytes=50) is None
    path.write_text("{not json")
    assert store.read_json(path) is None
    assert store.read_json(path.with_name("missing.json")) is None and store.read_bytes(path.parent) is None


def test_the_precompute_prunes_other_weights_files(run_dir):
    from vae.cache import precompute
    run = load_run(run_dir)
    from vae.runs.datasets import run_splits
    splits = run_splits(run.config)
    stale = precompute.precompute_path(run_dir, "0" * 16)
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    pre = precompute.compute(run.model, splits, digest=weights_digest(run_dir))
    path = precompute.save(run_dir, pre)
    assert path is not None and sorted(p.name for p in path.parent.iterdir()) == [path.name]


def test_each_run_keeps_going_past_a_bad_run_and_stops_between_runs(tmp_path):
    seen = []

    def one(d, say):
        if d.name == "bad":
            raise ValueError("no weights here")
        if say is not None:
            say(0.5, "half")
        return d.name.upper()
    got = store.each_run([tmp_path / "a", tmp_path / "bad", tmp_path / "c"], one,
                         progress=lambda f, m: seen.append((f, m)))
    assert got == {"a": "A", "bad": "ValueError", "c": "C"}  # an unexpected error is named, not quoted
    assert seen == [(0.5 / 3, "a: half (run 1 of 3)"), (2.5 / 3, "c: half (run 3 of 3)")]
    asked = iter([False, True])
    assert store.each_run([tmp_path / "a", tmp_path / "c"], one, should_stop=lambda: next(asked)) == {"a": "A"}
