"""Disentanglement scores per run (kept in the run folder) and runs grouped by all but their seed."""
from __future__ import annotations

import shutil

import pytest

from tests.app_runs import REPO
from vae.cache.scores import cached_scores, score_run, scores_path, seed_groups, settings_key
from vae.runs.folder import CheckpointError, load_config
from vae.config import RunConfig, TrainConfig


def test_runs_that_differ_only_in_seed_group_with_mean_and_spread():
    a = RunConfig(train=TrainConfig(seed=0, beta=4.0, sweep="s1", device="cpu"))
    b = RunConfig(train=TrainConfig(seed=1, beta=4.0, sweep="s2", device="cuda"))
    c = RunConfig(train=TrainConfig(seed=0, beta=1.0))
    assert settings_key(a) == settings_key(b) != settings_key(c)
    groups = seed_groups({"a": (a, {"MIG": 0.2, "SAP": 0.1}), "b": (b, {"MIG": 0.4, "SAP": None}),
                          "c": (c, {"MIG": 0.5, "SAP": 0.3})})
    assert [g.runs for g in groups] == [["a", "b"], ["c"]]
    g = groups[0]
    assert g.seeds == [0, 1]
    assert g.mean["MIG"] == pytest.approx(0.3) and g.sd["MIG"] == pytest.approx(0.1414213562)
    assert g.mean["SAP"] == pytest.approx(0.1)  # a missing score is left out, not taken as 0
    assert groups[1].sd["MIG"] != groups[1].sd["MIG"]  # one run: no spread (NaN)


@pytest.mark.slow
def test_a_shapes_run_is_scored_once_and_kept(tmp_path):
    d = tmp_path / "shapes-default"
    shutil.copytree(REPO / "checkpoints" / "shapes-default", d)
    shutil.rmtree(d / "cache", ignore_errors=True)
    out = score_run(d)
    assert out["n"] == 5000 and out["factors"][0] == "shape"
    s = out["scores"]
    assert set(s) == {"MIG", "DCI disentanglement", "DCI completeness", "DCI informativeness", "SAP", "FactorVAE"}
    assert all(0 <= v <= 1 for v in s.values())
    assert scores_path(d).is_file() and cached_scores(d) == out


def test_a_dataset_without_factors_is_refused(tmp_path):
    d = tmp_path / "digits-default"
    shutil.copytree(REPO / "checkpoints" / "digits-default", d)
    assert load_config(d).data.name == "digits"
    with pytest.raises(CheckpointError, match="no known generative factors"):
        score_run(d)
    assert cached_scores(d) is None
