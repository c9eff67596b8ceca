"""The Gradient estimators page's training comparison: one ordinary run per estimator, trained one
after another by the server's job manager (the same `python -m vae.train … --estimator=…` command a
user can type); the curves are read back from the run folders, which stay in the run picker to be
explored like any other run. It follows a training job (a process), not the background queue."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from ui.cache import job_manager
from ui.estimators.figures import training_comparison_figure
from ui.labels import BASELINE_LABELS, estimator_label
from ui.state import limits, runs_root
from ui.text import escape_md, safe_md
from vae.jobs.training import JobError, prepare_run
from vae.model.objectives import BASELINES, ESTIMATORS
from vae.runs.folder import CheckpointError
from vae.training.estimators import CompareConfig, comparison_runs, curve_rows, curves_from_runs

TRAIN_KEY = "estimators_comparison"  # {"plan": file, "runs": {estimator: run folder name}} of this session's comparison


def train_ui() -> CompareConfig | None:
    with st.form("estimator_training", border=True):
        c = st.columns(4)
        epochs = c[0].slider("Epochs", 2, 30, 8, help="Passes over the 1,437 digits training images, per estimator.")
        lr = c[1].select_slider("Learning rate", [5e-4, 1e-3, 2e-3, 5e-3], value=2e-3)
        mc = c[2].select_slider("L", [1, 2, 4, 8], value=1, key="train_L")
        baseline = c[3].selectbox("Baseline b", BASELINES, format_func=BASELINE_LABELS.get, key="train_baseline")
        if st.form_submit_button("Run training comparison", type="primary", icon=":material/play_arrow:"):
            if baseline == "leave_one_out" and mc < 2:
                st.error("The leave-one-out baseline needs L ≥ 2.")
                return None
            return CompareConfig(epochs=int(epochs), lr=float(lr), mc_samples=int(mc), baseline=baseline)
    return None


def start_comparison(cfg: CompareConfig) -> None:
    """Queue the three runs as one job; remember which run folder trains which estimator."""
    manager = job_manager(str(runs_root()))
    try:
        runs = [(name, prepare_run(run, limits())) for name, run in comparison_runs(cfg)]
        job = manager.start_plan("estimators", runs)
    except (JobError, CheckpointError) as e:
        st.error(safe_md(e, 600))
        return
    st.session_state[TRAIN_KEY] = {"plan": job.plan, "runs": {est: Path(d).name for est, d in
                                                             zip(cfg.estimators, job.run_dirs())}}


def _comparison_runs() -> tuple[str, dict[str, Path]] | None:
    """(plan file, {estimator: run folder}) of this session's comparison, or None."""
    stored = st.session_state.get(TRAIN_KEY)
    if not (isinstance(stored, dict) and isinstance(stored.get("runs"), dict)):
        return None
    root = runs_root()
    return stored.get("plan"), {est: root / name for est, name in stored["runs"].items()
                                if est in ESTIMATORS and isinstance(name, str)}


def comparison_view() -> None:
    """The curves so far, and the job's progress while it trains (this part reruns every second then)."""
    found = _comparison_runs()
    if found is None:
        st.info("Press **Run training comparison** to train one model per estimator (seconds to a minute).")
        return
    plan, runs = found
    manager = job_manager(str(runs_root()))
    job = manager.current()
    ours = job is not None and job.plan == plan
    if ours and job.returncode is None:
        s = job.summary()
        p = s.get("plan", {})
        est = list(runs)[min(p.get("index", 0), len(runs) - 1)]
        done = p.get("index", 0) * max(1, s["epochs"]) + s["epoch"]
        st.progress(min(1.0, done / max(1, p.get("total", 1) * s["epochs"])),
                    text=f"Training with the {estimator_label(est)} estimator: run {p.get('index', 0) + 1} of "
                         f"{p.get('total', 1)}, epoch {s['epoch']} of {s['epochs']}")
        if st.button("Stop the comparison", icon=":material/stop:"):
            manager.stop()
    states = {r["name"]: r["state"] for r in (job.plan_state().get("runs", []) if ours else [])}
    curves = curves_from_runs({est: d for est, d in runs.items() if d.is_dir()},
                              {est: states.get(d.name, "finished") for est, d in runs.items()})
    for c in curves:
        if c.state in ("failed", "stopped", "cancelled", "diverged"):
            st.warning(f"{estimator_label(c.estimator)}: the run {c.state}.")
    rows = curve_rows(curves)
    if not rows:
        if not (ours and job.returncode is None):
            st.info("That comparison left no runs (deleted, or stopped before its first epoch); "
                    "press **Run training comparison** to start it again.")
        return
    df = pd.DataFrame(rows)
    st.plotly_chart(training_comparison_figure(rows), width="stretch", key="training_chart")
    final = df.sort_values("epoch").groupby("estimator").last()["test_elbo"]
    st.caption(("Latest" if ours and job.returncode is None else "Final") + " test ELBO: " + ", ".join(f"{estimator_label(k)} {v:.2f}" for k, v in final.items())
               + " nats. Each run is in the run picker: " + ", ".join(escape_md(d.name) for d in runs.values()) + ".")


def train_tab() -> None:
    st.markdown("The same MLP VAE (D = 10) on **digits**, from the same initial weights and batches, trained with "
                "each estimator for the encoder φ; the decoder θ always gets its ordinary gradient. Each is an "
                "ordinary run of the trainer (`--estimator=…`), queued on this server's one training job. "
                "Curves show the test ELBO after each epoch (nats per image, higher is better).")
    cfg = train_ui()
    if cfg is not None:
        start_comparison(cfg)
    found = _comparison_runs()
    job = job_manager(str(runs_root())).active()
    running = found is not None and job is not None and job.plan == found[0]
    st.fragment(run_every=1.0 if running else None)(comparison_view)()
