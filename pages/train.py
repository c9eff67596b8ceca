"""Train: a form that launches `python -m vae.train` as a subprocess, and a live monitor."""
from __future__ import annotations

import streamlit as st

from ui.cache import job_manager
from ui.posterior_view import posterior_form_ui
from ui.state import RUN_KEY, frame_guard, limits, runs_root
from ui.errors import report_errors
from ui.components.live_curves import live_curves
from ui.monitor import CHART_EVERY_S, job_view
from ui.prior_view import prior_ui
from ui.sweep import SweepRequest, job_heading, start_sweep, sweep_fields, sweep_status
from ui.text import escape_md, safe_md
from vae.runs.folder import CheckpointError
from ui.widgets import FormError, parse_hidden
from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.jobs.training import Job, JobError, JobManager, prepare_run
from vae.training.sweep import SweepError
from vae.runs.validate import data_shape

DATASETS = {"digits": "digits: scikit-learn 8×8 digits (built in; trains in seconds)",
            "mnist10k": "mnist10k: MNIST test set, bundled (8,000 / 2,000, no download)",
            "shapes": "shapes: procedural, with known factors",
            "mnist": "mnist: IDX files (downloaded if online)", "fashion-mnist": "fashion-mnist: IDX files",
            "folder": "folder: your own images (zip or server folder)"}


def dataset_ui(lim: dict) -> dict:
    """Dataset choice, outside the form so the folder options can appear."""
    name = st.selectbox("Dataset", list(DATASETS), format_func=DATASETS.get)
    out = {"dataset": name, "data_dir": None, "image_size": None, "channels": None, "upload": None}
    if name in ("mnist", "fashion-mnist"):
        out["data_dir"] = st.text_input("Data folder (optional)", help="Holds the four IDX .gz files; empty: "
                                        "$VAE_DATA_DIR or ~/.cache/vae-latent-explorer. Downloaded when missing and online.") or None
    elif name == "folder":
        c1, c2 = st.columns(2)
        up = c1.file_uploader("Zip of images (subfolders are labels)", type=["zip"])
        path = c2.text_input("…or a folder on the server")
        c3, c4 = st.columns(2)
        out["image_size"] = c3.selectbox("Resize to", [28, 32, 64], help="Square side in pixels.")
        out["channels"] = c4.radio("Colour", [1, 3], format_func=lambda c: "grayscale" if c == 1 else "RGB",
                                   horizontal=True)
        if up is not None:
            if up.size > lim["max_upload_mb"] << 20:
                st.error(f"{escape_md(up.name)} is larger than this server's {lim['max_upload_mb']} MB upload limit.")
            else:
                out["upload"] = up  # stored by the job manager only when Start is pressed
        elif path:
            out["data_dir"] = path
    return out


def form_ui(data: dict, busy: bool, lim: dict) -> tuple[str, RunConfig, SweepRequest | None] | None:
    """The training settings; returns (run name, config, sweep or None) when Start or Queue sweep is
    pressed (FormError when a field cannot be read)."""
    _, size = data_shape(DataConfig(name=data["dataset"], image_size=data["image_size"]))
    with st.form("train_form"):
        c = st.columns(4)
        arch = c[0].selectbox("Architecture", ["mlp", "conv"], disabled=False,
                              help="conv needs 28×28, 32×32 or 64×64 images." + (
                                  f" This dataset is {size}×{size}." if size not in (28, 32, 64) else ""))
        latent = c[1].number_input("Latent size D", 1, 512, 10)
        hidden = c[2].text_input("Hidden sizes", "256", help="mlp: layer widths, e.g. '512 256'; conv: dense width.")
        likelihood = c[3].selectbox("Likelihood", ["bernoulli", "gaussian"])
        c = st.columns(4)
        beta = c[0].number_input("β (KL weight)", 0.0, 1000.0, 1.0, 0.5, help="1 is the ELBO; > 1 is a β-VAE.")
        warmup = c[1].number_input("KL warm-up (epochs)", 0.0, 1000.0, 0.0, 1.0,
                                   help="The KL weight rises linearly from 0 to β over this many epochs.")
        free_bits = c[2].number_input("Free bits (nats/dim)", 0.0, 100.0, 0.0, 0.1,
                                      help="Each dimension's KL below this is not penalised (Kingma et al. 2016).")
        seed = c[3].number_input("Seed", 0, 2**31 - 1, 0)
        c = st.columns(4)
        epochs = c[0].number_input("Epochs", 1, lim["max_epochs"], min(50, lim["max_epochs"]),
                                   help=f"At most {lim['max_epochs']} on this server.")
        batch = c[1].number_input("Batch size", 1, 100_000, 64)
        lr = c[2].number_input("Learning rate", 1e-6, 100.0, 2e-3, format="%.4g")
        name = c[3].text_input("Run name", f"{data['dataset']}-run",
                               help="Letters, digits, '-', '_' and '.'; an existing name gets a suffix (-2, -3, …).")
        prior, components = prior_ui()
        post_model, post_train = posterior_form_ui()
        start = st.form_submit_button("Start training", type="primary", disabled=busy, icon=":material/play_arrow:")
        sweep = sweep_fields(busy)
    if not start and sweep is None:
        return None
    cfg = RunConfig(
        model=ModelConfig(arch=arch, latent_dim=int(latent), hidden=parse_hidden(hidden), likelihood=likelihood,
                          prior=prior, prior_components=int(components), **post_model),
        train=TrainConfig(epochs=int(epochs), batch_size=int(batch), lr=float(lr), beta=float(beta),
                          kl_warmup=float(warmup), free_bits=float(free_bits), seed=int(seed), **post_train),
        data=DataConfig(name=data["dataset"], data_dir=data["data_dir"], image_size=data["image_size"],
                        channels=data["channels"]))
    return name, cfg, sweep


SEEN_KEY = "_train_seen"  # names of jobs this session started or watched running
STATE_WORDS = {"finished": "finished", "stopped": "stopped", "diverged": "diverged", "failed": "failed",
               "interrupted": "stopped unexpectedly", "empty": "nothing saved"}


def monitor(manager: JobManager) -> None:
    with report_errors("the Train page's monitor"):
        _monitor(manager)


def _stop(manager: JobManager) -> None:
    manager.stop()
    st.toast("Stopping after the current batch; the last completed epoch is kept.")


def _monitor(manager: JobManager) -> None:
    job = manager.current()
    if job is None:
        return
    view = job_view(job, st.session_state)
    s = view["summary"]
    seen = st.session_state.setdefault(SEEN_KEY, set())
    if s["state"] == "running":
        seen.add(job.name)
        st.subheader(job_heading(job))
        left = f" · about {s['seconds_left']:.0f} s left" if s["seconds_left"] is not None else ""
        st.progress(s["epoch"] / max(1, s["epochs"]), text=f"Epoch {s['epoch']} of {s['epochs']}{left}")
        sweep_status(job, s)
        # A callback, not `if st.button(...)`: it runs as the click's rerun starts, so a fragment tick or
        # another rerun that interrupts that run cannot drop the click.
        st.button("Stop", icon=":material/stop:", help="Ends the run after saving its last completed epoch.",
                  on_click=_stop, args=(manager,))
        st.session_state["_watching"] = job.name
        return  # the charts and the trainer's output: live_charts, a fragment of its own that ticks slower
    if st.session_state.pop("_watching", None) == job.name:
        st.rerun()  # the run ended during a fragment rerun: once, so the sidebar's picker lists it
    if job.name in seen:
        st.subheader(job_heading(job))
        _outcome(manager, job, s)
        sweep_status(job, s)
        _charts(view)
        with st.expander("Trainer output"):
            st.code(view["log"] or "(nothing)", language=None)
    else:
        # Another visitor's past run: kept, but folded away and muted.
        with st.expander(f"Last run on this server: {escape_md(job.name)}, {STATE_WORDS[s['state']]}"):
            _outcome(manager, job, s)
            _charts(view)
            st.caption("Trainer output")
            st.code(view["log"] or "(nothing)", language=None)


def live_charts(manager: JobManager) -> None:
    """The running job's curves and output every CHART_EVERY_S (from the view the monitor keeps,
    rebuilt only when an epoch landed), apart from the progress bar's one-second tick. The curves are
    drawn by the browser from the epochs it has not drawn yet (``live_curves``); the plotly charts
    come when the job ends."""
    with report_errors("the Train page's charts"):
        job = manager.current()
        if job is None or job.returncode is not None:
            return
        view = job_view(job, st.session_state)
        live_curves("live_curves", f"{job.name}@{job.started}", view["history"])
        with st.expander("Trainer output"):
            st.code(view["log"] or "(nothing yet)", language=None)


def _charts(view: dict) -> None:
    if view["curves"] is not None:
        st.plotly_chart(view["curves"], width="stretch", key="curves")
    if view["heat"] is not None:
        st.plotly_chart(view["heat"], width="stretch", key="kl_heat")


def _epochs(n: int) -> str:
    return f"{n} epoch{'s' if n != 1 else ''}"


def _outcome(manager: JobManager, job: Job, s: dict) -> None:
    """One sentence per outcome; the trainer's words only where they add something."""
    name, n = escape_md(job.current_dir().name), s["epoch"]  # a queue's: its last run
    explore = None
    if s["state"] == "finished":
        st.success(f"Run **{name}** finished after {_epochs(n)}.")
        explore = "Explore this run"
    elif s["state"] == "stopped":
        st.success(f"Run **{name}** stopped after {_epochs(n)}; the last completed epoch is kept.")
        explore = "Explore this run"
    elif s["state"] == "interrupted":
        cause = f" ({safe_md(s['cause'])})" if s.get("cause") else ""
        st.error(f"Run **{name}** {safe_md(s['message'])}{cause}.")
        explore = "Explore its last epoch"
    elif s["state"] == "empty":
        st.warning(f"Run **{name}** {safe_md(s['message'])}.")
        if st.button("Delete it", icon=":material/delete:", key="dismiss_job",
                     help="Forgets this run and its trainer output; nothing else is touched."):
            manager.dismiss()
            st.rerun()
    elif s["state"] == "diverged":
        st.warning(f"Run **{name}** diverged: {safe_md(s['message'], 600)}")
        explore = "Explore its last good epoch" if s["saved"] else None
    else:
        st.error(f"Run **{name}** failed: {safe_md(s['message'], 600)}")
    if explore and s["saved"] and st.button(explore, type="primary", icon=":material/arrow_forward:"):
        st.session_state[RUN_KEY] = job.current_dir().name  # a queue's job is named for the queue
        st.switch_page("pages/home.py")


frame_guard()
st.title("Train a VAE")
st.caption("Starts `python -m vae.train … --out checkpoints/<run>` in the background, the same command you can "
           "run yourself. The run survives page switches and reloads; Stop keeps the last completed epoch.")
lim = limits()
manager = job_manager(str(runs_root()))
active = manager.active()
if active is None:
    # A full run lists every finished run already; only a fragment rerun needs to trigger one.
    st.session_state.pop("_watching", None)
else:
    st.info(f"Run **{escape_md(active.name)}** is training on this server (one run at a time); you can watch it below.")
st.fragment(run_every=1.0 if active is not None else None)(monitor)(manager)
if active is not None:
    st.fragment(run_every=CHART_EVERY_S)(live_charts)(manager)
st.subheader("New run")
data = dataset_ui(lim)
try:
    form = form_ui(data, busy=active is not None, lim=lim)
except FormError as e:
    form = None
    st.error(safe_md(e, 600))
if form is not None:
    name, cfg, sweep = form
    up = data["upload"]
    try:
        if sweep is not None:
            job = start_sweep(manager, name, cfg, sweep, lim, upload=up is not None)
        else:
            cfg = prepare_run(cfg, lim, upload=up is not None)
            job = manager.start_run(name, cfg, upload=(up.name, up.getvalue()) if up is not None else None)
    except (JobError, CheckpointError, SweepError) as e:
        st.error(safe_md(e, 600))
    else:
        st.session_state["_watching"] = job.name
        st.session_state.setdefault(SEEN_KEY, set()).add(job.name)
        st.rerun()
