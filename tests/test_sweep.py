"""Sweeps: one run per value, queued through the job manager, grouped by the sweep name each
run's config records."""
from __future__ import annotations

import pytest

from vae.runs.catalog import list_runs
from vae.runs.folder import load_run
from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.jobs.training import JobManager, prepare_run
from vae.training.sweep import MAX_SWEEP_RUNS, SweepError, parse_values, sweep_entries, sweep_name

LIMITS = {"max_epochs": 500, "max_items": 70_000}


def test_values_are_parsed_checked_and_deduplicated():
    assert parse_values("beta", "0.5, 1 4;1") == [0.5, 1.0, 4.0]
    assert parse_values("latent_dim", "2 8 16") == [2, 8, 16]
    with pytest.raises(SweepError, match="whole number"):
        parse_values("seed", "1.5")
    with pytest.raises(SweepError, match="between 0 and 1000"):
        parse_values("beta", "2000")
    with pytest.raises(SweepError, match="not a number"):
        parse_values("beta", "1, two")
    with pytest.raises(SweepError, match="at least one"):
        parse_values("free_bits", " ")
    with pytest.raises(SweepError, match=f"at most {MAX_SWEEP_RUNS}"):
        parse_values("seed", " ".join(map(str, range(MAX_SWEEP_RUNS + 1))))
    with pytest.raises(SweepError, match="one of"):
        parse_values("lr; rm -rf", "1")
    with pytest.raises(SweepError, match="between"):
        parse_values("beta", "nan")


def test_entries_vary_one_setting_and_carry_the_sweep_name():
    base = RunConfig(train=TrainConfig(epochs=2, beta=1.0, seed=7))
    entries = sweep_entries("digits-run", base, "beta", [0.5, 4.0], "digits-run-beta")
    assert [n for n, _ in entries] == ["digits-run-beta0.5", "digits-run-beta4"]
    assert [c.train.beta for _, c in entries] == [0.5, 4.0]
    assert all(c.train.sweep == "digits-run-beta" and c.train.seed == 7 for _, c in entries)
    assert base.train.sweep == "" and base.train.beta == 1.0  # the base is not changed
    d = sweep_entries("r", base, "latent_dim", [3], "s")[0][1]
    assert d.model.latent_dim == 3
    # the name round-trips through the command line, as the trainer receives it
    assert RunConfig.from_argv(entries[0][1].to_argv()).train.sweep == "digits-run-beta"


def test_sweep_names_do_not_reuse_one_already_taken():
    assert sweep_name("digits-run", "beta", taken=set()) == "digits-run-beta"
    assert sweep_name("digits-run", "beta", taken={"digits-run-beta"}) == "digits-run-beta-2"
    assert sweep_name("a b/../c", "seed", taken=set()) == "a-b-..-c-seed"


@pytest.mark.slow
def test_a_sweep_trains_one_run_per_value_and_the_picker_groups_them(tmp_path):
    base = RunConfig(model=ModelConfig(arch="mlp", latent_dim=2, hidden=[32]),
                     train=TrainConfig(epochs=1, batch_size=256, device="cpu"), data=DataConfig(name="digits"))
    entries = [(n, prepare_run(c, LIMITS)) for n, c in sweep_entries("tiny", base, "beta", [0.5, 2.0], "tiny-beta")]
    manager = JobManager(tmp_path)
    job = manager.start_plan("tiny-beta", entries)
    done = manager.wait(240)
    assert done is not None and done.returncode == 0, done and done.log_tail()
    assert job.plan_state()["state"] == "finished"
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert set(runs) == {"tiny-beta0.5", "tiny-beta2"}
    for name, beta in (("tiny-beta0.5", 0.5), ("tiny-beta2", 2.0)):
        assert runs[name].sweep == "tiny-beta" and "sweep tiny-beta" in runs[name].label
        cfg = load_run(tmp_path / name).config
        assert cfg.train.beta == beta and cfg.train.sweep == "tiny-beta"


@pytest.mark.slow
def test_stopping_a_sweep_keeps_the_running_runs_epochs_and_cancels_the_rest(tmp_path):
    import time
    base = RunConfig(model=ModelConfig(arch="mlp", latent_dim=2, hidden=[32]),
                     train=TrainConfig(epochs=300, batch_size=64, device="cpu"), data=DataConfig(name="digits"))
    entries = [(n, prepare_run(c, LIMITS)) for n, c in sweep_entries("long", base, "seed", [0, 1, 2], "long-seed")]
    manager = JobManager(tmp_path)
    job = manager.start_plan("long-seed", entries)
    deadline = time.time() + 120
    while time.time() < deadline and not (tmp_path / "long-seed0" / "model.safetensors").exists():
        time.sleep(0.2)
    assert manager.stop()
    done = manager.wait(120)
    assert done is not None and done.returncode is not None
    assert [r["state"] for r in job.plan_state()["runs"]] == ["stopped", "cancelled", "cancelled"]
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert set(runs) == {"long-seed0"} and 1 <= runs["long-seed0"].epochs < 300
