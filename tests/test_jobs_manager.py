"""The job manager under concurrency: two sessions watching one job end, two server processes
starting at once, a reused pid, uploads kept only while their job runs, and the arguments
the Train form passes."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
import io
from pathlib import Path

import pytest

from vae.files import write_json_atomic
from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.jobs.training import JobError, JobManager, prepare_run
from vae.runs.processes import identity

REPO = Path(__file__).resolve().parents[1]
# A stand-in for the trainer where only the process matters (how it ends), not training.
QUICK = ("-c", "import sys; print('done'); sys.exit(0)")
SLEEPY = ("-c", "import time; time.sleep(30)")


def _wait_exit(m: JobManager, pid: int, timeout: float = 20) -> None:
    proc = m._procs[pid]
    proc.wait(timeout)


def test_atomic_writes_from_many_threads_never_collide(tmp_path):
    """Before: the temp name depended only on the pid, so two threads renamed each other's file."""
    target = tmp_path / "current.json"
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        barrier.wait()
        try:
            for k in range(40):
                write_json_atomic(target, {"writer": i, "k": k, "pad": "x" * 2000})
        except BaseException as e:  # noqa: BLE001 - the test reports any failure
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors
    assert json.loads(target.read_text())["k"] == 39
    assert [p.name for p in tmp_path.iterdir()] == ["current.json"]  # no temp file left


def test_two_watchers_finalise_one_job_once_with_its_real_exit_code(tmp_path):
    m = JobManager(tmp_path, trainer=QUICK)
    job = m.start("quick", [], 1)
    _wait_exit(m, job.pid)
    other = JobManager(tmp_path)  # a second server process on the same folder
    barrier, seen, errors = threading.Barrier(8), [], []

    def watch(manager: JobManager) -> None:
        barrier.wait()
        try:
            for _ in range(5):
                seen.append(manager.current().returncode)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=watch, args=(m if i % 2 else other,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors, errors
    rc = json.loads((tmp_path / ".jobs" / "current.json").read_text())["returncode"]
    assert rc in (0, -1) and set(seen) == {rc}  # every watcher saw the one finalisation
    assert not [p for p in (tmp_path / ".jobs").iterdir() if ".tmp-" in p.name]


def test_finalising_keeps_the_exit_code_when_the_launching_manager_is_asked(tmp_path):
    m = JobManager(tmp_path, trainer=("-c", "import sys; sys.exit(5)"))
    job = m.start("five", [], 1)
    _wait_exit(m, job.pid)
    threads = [threading.Thread(target=m.current) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert m.current().returncode == 5


def test_a_reused_pid_is_reported_ended_and_never_signalled(tmp_path):
    """The record's pid is alive, but belongs to a process that started at another time."""
    victim = subprocess.Popen(["sleep", "30"])
    try:
        ident = identity(victim.pid)
        (tmp_path / ".jobs").mkdir()
        (tmp_path / "old").mkdir()
        write_json_atomic(tmp_path / ".jobs" / "current.json",
                          {"name": "old", "run_dir": str(tmp_path / "old"), "log": str(tmp_path / ".jobs" / "old.log"),
                           "started": time.time() - 3600, "args": [], "epochs": 10,
                           **ident, "pid_start": ident["pid_start"] - 7})
        m = JobManager(tmp_path)
        assert not m.stop()
        assert m.active() is None and m.current().returncode == -1
        time.sleep(0.2)
        assert victim.poll() is None  # the unrelated process was left alone
    finally:
        victim.kill()
        victim.wait()


def test_an_old_record_without_a_start_time_still_loads(tmp_path):
    (tmp_path / ".jobs").mkdir()
    write_json_atomic(tmp_path / ".jobs" / "current.json",
                      {"name": "x", "run_dir": str(tmp_path / "x"), "log": "", "pid": 2 ** 22 + 12345,
                       "started": 0.0, "args": [], "epochs": 1, "returncode": None, "unknown_field": 1})
    assert JobManager(tmp_path).current().returncode == -1


def test_the_folder_lock_makes_start_wait(tmp_path):
    """A start holds .jobs/lock (flock): while another process holds it, no trainer is launched."""
    m = JobManager(tmp_path, trainer=QUICK)
    (tmp_path / ".jobs").mkdir()
    fd = os.open(tmp_path / ".jobs" / "lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    t = threading.Thread(target=m.start, args=("locked", [], 1))
    t.start()
    time.sleep(0.5)
    assert not (tmp_path / "locked").exists() and not m._procs
    os.close(fd)
    t.join(10)
    assert (tmp_path / ".jobs" / "current.json").exists()


DRIVER = r'''
import sys, time
from vae.jobs.training import JobError, JobManager
root, at = sys.argv[1], float(sys.argv[2])
m = JobManager(root, trainer=("-c", "import time; time.sleep(20)"))
while time.time() < at:
    pass
try:
    job = m.start("race", [], 1)
    print("started", job.name, job.pid, flush=True)
except JobError as e:
    print("refused", e, flush=True)
'''


@pytest.mark.slow
def test_two_server_processes_starting_at_once_launch_one_trainer(tmp_path):
    for attempt in range(2):
        root = tmp_path / f"ck{attempt}"
        root.mkdir()
        at = time.time() + 5  # both have imported vae by then
        procs = [subprocess.Popen([sys.executable, "-c", DRIVER, str(root), str(at)], cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
        lines = [o[0].strip() for o in outs]
        started = [line for line in lines if line.startswith("started")]
        try:
            assert len(started) == 1 and sum(line.startswith("refused") for line in lines) == 1, outs
            assert "already training" in [line for line in lines if line.startswith("refused")][0]
            assert sorted(p.name for p in root.iterdir()) == [".jobs", "race"]
        finally:
            for line in started:
                os.kill(int(line.split()[-1]), 9)


def test_run_folders_are_claimed_exclusively(tmp_path):
    m = JobManager(tmp_path)
    got, barrier = [], threading.Barrier(6)

    def claim():
        barrier.wait()
        got.append(m._claim_run_dir("same"))

    threads = [threading.Thread(target=claim) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(set(got)) == 6 and sorted(p.name for p in got) == ["same", *(f"same-{i}" for i in range(2, 7))]


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/x.txt", "not an image")
    return buf.getvalue()


def test_an_upload_is_stored_when_its_job_starts_and_removed_when_nothing_was_saved(tmp_path):
    m = JobManager(tmp_path, trainer=("-c", "import sys, time; time.sleep(1); print(sys.argv[1:])"))
    job = m.start("up", ["--dataset=folder"], 1, upload=("../../my images.zip", _zip()))
    data = Path(job.args[-1].removeprefix("--data-dir="))
    assert job.args[-1].startswith("--data-dir=") and data.is_file() and data.read_bytes() == _zip()
    # Under the uploads root, the one place a run's data_dir may point to besides data/.
    assert data.parent.parent == tmp_path / ".uploads" and data.name == "my-images.zip"
    assert data.parent.name.startswith("up.upload-")
    assert Path(job.upload_dir) == data.parent
    job = m.wait(30)
    assert job.returncode == 0 and not data.parent.exists()


SAVES = ("-c", "import sys, pathlib; out = pathlib.Path(sys.argv[-1].removeprefix('--out=')); "
               "(out / 'model.safetensors').write_bytes(b'x')")


def test_an_upload_stays_with_the_run_it_trained_until_that_run_is_deleted(tmp_path):
    from vae.runs.catalog import delete_run
    m = JobManager(tmp_path, trainer=SAVES)
    job = m.start("kept", ["--dataset=folder"], 1, upload=("imgs.zip", _zip()))
    data = Path(job.args[-1].removeprefix("--data-dir="))
    job = m.wait(30)
    assert job.returncode == 0 and data.is_file()  # the explorer pages read the run's images from here
    delete_run("kept", tmp_path)
    assert not (tmp_path / "kept").exists() and not data.parent.exists()


LIMITS = {"max_epochs": 500, "max_items": 70_000, "max_upload_mb": 200}


def _form(dataset: str = "shapes", data_dir: str | None = None) -> RunConfig:
    """A config as the Train form builds it."""
    return RunConfig(model=ModelConfig(latent_dim=4, hidden=[32]), train=TrainConfig(epochs=2, lr=1e-3),
                     data=DataConfig(name=dataset, data_dir=data_dir))


def build_train_args(cfg: RunConfig, limits: dict, upload: bool = False) -> list[str]:
    """What the Train page passes to the trainer: prepare_run, then the config's own argv."""
    return [*prepare_run(cfg, limits, upload=upload).to_argv(), "--json"]


def _parsed(args: list[str]):
    from vae.config import config_from_namespace
    from vae.train import build_parser
    return config_from_namespace(build_parser().parse_args([*args, "--out=x"])).data


def test_max_items_is_passed_only_where_it_caps_something(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_ROOTS", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert _parsed(build_train_args(_form(), LIMITS)).max_items is None  # shapes keeps its 6,000
    assert _parsed(build_train_args(_form("digits"), LIMITS)).max_items is None
    assert _parsed(build_train_args(_form(), {**LIMITS, "max_items": 300})).max_items == 300
    assert _parsed(build_train_args(_form("digits"), {**LIMITS, "max_items": 300})).max_items == 300
    folder = _form("folder", "imgs")
    assert _parsed(build_train_args(folder, LIMITS)).max_items == 70_000  # unknown size: the cap applies


def test_a_data_folder_that_looks_like_a_flag_is_passed_as_a_value(tmp_path, monkeypatch):
    monkeypatch.setenv("VAE_DATA_ROOTS", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # a folder typed relative to the server's folder reaches the trainer whole
    args = build_train_args(_form("folder", "--help"), LIMITS)
    assert _parsed(args).data_dir == str(tmp_path / "--help")
    args = build_train_args(_form("mnist", "-x"), LIMITS)
    assert _parsed(args).data_dir == str(tmp_path / "-x") and _parsed(args).name == "mnist"


def test_folder_needs_a_path_or_an_upload():
    with pytest.raises(JobError, match="needs a data folder"):
        build_train_args(_form("folder"), LIMITS)
    args = build_train_args(_form("folder"), LIMITS, upload=True)
    assert not any(a.startswith("--data-dir") for a in args)  # the manager adds it at start


def test_prepare_run_gives_the_model_the_shape_of_its_data_and_refuses_what_the_server_does_not_allow():
    cfg = prepare_run(_form("shapes"), LIMITS)
    assert (cfg.model.in_channels, cfg.model.image_size) == (1, 32)
    assert (_form("shapes").model.image_size) == 8  # the caller's config is left as it was
    with pytest.raises(JobError, match="at most 500 epochs"):
        prepare_run(RunConfig(train=TrainConfig(epochs=501)), LIMITS)
    with pytest.raises(JobError, match="conv architecture supports"):
        prepare_run(RunConfig(model=ModelConfig(arch="conv")), LIMITS)  # digits are 8×8


@pytest.mark.slow
def test_a_plan_trains_its_runs_in_order_as_one_job(tmp_path):
    from vae.runs.folder import load_run
    m = JobManager(tmp_path)
    cfgs = [prepare_run(RunConfig(model=ModelConfig(latent_dim=2, hidden=[16]),
                                  train=TrainConfig(epochs=e, seed=e), data=DataConfig(max_items=300)), LIMITS)
            for e in (1, 2)]
    job = m.start_plan("pair", [("pair-a", cfgs[0]), ("pair-b", cfgs[1])])
    with pytest.raises(JobError, match="already training"):
        m.start_run("other", cfgs[0])  # still one job at a time per server
    job = m.wait(180)
    assert job.returncode == 0 and job.plan_state()["state"] == "finished"
    assert [len(load_run(tmp_path / n).history) for n in ("pair-a", "pair-b")] == [1, 2]
    assert load_run(tmp_path / "pair-b").config.train.seed == 2
    s = job.summary()
    assert s["state"] == "finished" and s["plan"] == {"index": 1, "total": 2, "run": "pair-b", "state": "finished"}
