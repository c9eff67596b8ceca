"""A run's point on the rate–distortion plane is its evaluated KL and reconstruction; the
ELBO-surgery split adds up to the rate; results are kept per run, keyed by the weights."""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from tests.app_runs import REPO
from vae.analysis.rate_distortion import rate_distortion
from vae.cache.rate_distortion import cache_path, cached_point, points_for, run_point
from vae.runs.datasets import split_images
from vae.runs.folder import load_run, read_history
from vae.model.evaluation import evaluate_split


@pytest.fixture()
def run_dir(tmp_path):
    d = tmp_path / "digits-default"
    shutil.copytree(REPO / "checkpoints" / "digits-default", d)
    shutil.rmtree(d / "cache", ignore_errors=True)
    return d


def test_rate_and_distortion_are_the_evaluated_kl_and_reconstruction(run_dir):
    run = load_run(run_dir)
    x = split_images(run)
    p = rate_distortion(run.model, x, surgery=False)
    ev = evaluate_split(run.model, x)
    assert p.rate == pytest.approx(ev["kl"], abs=1e-9)
    assert p.distortion == pytest.approx(-ev["rec"], abs=1e-9)
    assert p.elbo == pytest.approx(ev["elbo"], abs=1e-9)
    assert -(p.rate + p.distortion) == pytest.approx(p.elbo, abs=1e-9)
    # …and the numbers the trainer recorded for its last epoch (the same evaluation)
    last = read_history(run_dir)[-1]
    assert p.rate == pytest.approx(last["test_kl"], rel=1e-5)
    assert p.distortion == pytest.approx(-last["test_rec"], rel=1e-5)
    assert p.n == len(x) and p.rate_se > 0 and p.distortion_se > 0


def test_surgery_splits_the_rate_within_its_monte_carlo_error(run_dir):
    run = load_run(run_dir)
    x = split_images(run)
    p = rate_distortion(run.model, x)
    assert p.mixture_points == len(x)  # the whole test split forms q(z): the identity is exact
    assert 0 < p.mi <= p.mi_ceiling + 4 * p.mi_se
    assert p.marginal_kl > -4 * p.marginal_kl_se
    se = math.hypot(p.mi_se, p.marginal_kl_se)
    assert abs(p.residual) < 5 * se + 0.05, (p.rate, p.mi, p.marginal_kl)


def test_points_are_kept_per_run_and_keyed_by_the_weights(run_dir):
    assert cached_point(run_dir) is None
    p = run_point(run_dir, surgery=False)
    path = cache_path(run_dir)
    assert path.is_file() and path.parent == run_dir / "cache"
    assert json.loads(path.read_text())["rate"] == p.rate
    assert cached_point(run_dir) == p
    # a different model (new weights): the kept numbers are not used for it
    run = load_run(run_dir)
    with torch.no_grad():
        for q in run.model.parameters():
            q.mul_(0.5)
    from vae.runs.folder import save_weights
    save_weights(run_dir / "model.safetensors", run.model)
    assert cached_point(run_dir) is None
    assert run_point(run_dir, surgery=False).rate != p.rate


def test_a_corrupt_cache_is_recomputed(run_dir):
    p = run_point(run_dir, surgery=False)
    cache_path(run_dir).write_text("{not json")
    assert cached_point(run_dir) is None
    assert run_point(run_dir, surgery=False).rate == p.rate


def test_points_for_reports_a_bad_run_without_losing_the_others(run_dir, tmp_path):
    bad = tmp_path / "broken"
    bad.mkdir()
    (bad / "config.json").write_text("{}")
    (bad / "model.safetensors").write_bytes(b"nope")
    seen = []
    out = points_for([run_dir, bad], progress=lambda f, m: seen.append(f))
    assert out["digits-default"].rate > 0
    assert isinstance(out["broken"], str) and "config" in out["broken"]
    assert seen == sorted(seen) and seen[-1] <= 1.0
