"""Train: a form that launches `python -m vae.train` as a subprocess, and a live monitor."""
from __future__ import annotations

import uuid

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages.common import RUN_KEY, frame_guard, limits, runs_root
from ui.text import safe_md
from vae.checkpoint import sanitize_run_name, CheckpointError
from vae.collapse import kl_history
from vae.jobs import NATIVE_SIZE, Job, JobError, JobManager, build_train_args

DATASETS = {"digits": "digits: scikit-learn 8×8 digits (built in)", "shapes": "shapes: procedural, with known factors",
            "mnist": "mnist: IDX files (downloaded if online)", "fashion-mnist": "fashion-mnist: IDX files",
            "folder": "folder: your own images (zip or server folder)"}


@st.cache_resource(show_spinner=False)
def job_manager(root: str) -> JobManager:
    """One manager per server and checkpoints folder: at most one training job at a time."""
    return JobManager(root)


def dataset_ui(lim: dict) -> dict:
    """Dataset choice, outside the form so the folder options can appear."""
    name = st.selectbox("Dataset", list(DATASETS), format_func=DATASETS.get)
    out = {"dataset": name, "data_dir": None, "image_size": None, "channels": None}
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
                st.error(f"{up.name} is larger than this server's {lim['max_upload_mb']} MB upload limit.")
            else:
                out["data_dir"] = _store_upload(up.file_id, up.name, up)
        elif path:
            out["data_dir"] = path
    return out


@st.cache_data(max_entries=4, show_spinner=False)
def _store_upload(file_id: str, name: str, _upload) -> str:
    """Keep an uploaded image zip inside checkpoints/ (the only folder the app writes), once per
    upload: keyed by Streamlit's file id, not by hashing the bytes again on every rerun."""
    d = runs_root() / ".uploads"
    d.mkdir(parents=True, exist_ok=True)
    try:
        safe = sanitize_run_name(name)
    except CheckpointError:
        safe = "images.zip"
    path = d / f"{uuid.uuid4().hex[:8]}-{safe}"
    path.write_bytes(_upload.getvalue())
    return str(path)


def form_ui(data: dict, busy: bool, lim: dict) -> dict | None:
    """The training settings; returns them when Start is pressed."""
    size = data["image_size"] or NATIVE_SIZE[data["dataset"]]
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
        start = st.form_submit_button("Start training", type="primary", disabled=busy, icon=":material/play_arrow:")
    if not start:
        return None
    return {**data, "arch": arch, "latent_dim": int(latent), "hidden": hidden, "likelihood": likelihood,
            "beta": float(beta), "kl_warmup": float(warmup), "free_bits": float(free_bits), "seed": int(seed),
            "epochs": int(epochs), "batch_size": int(batch), "lr": float(lr), "name": name}


def curves_figure(history: list[dict]) -> go.Figure:
    ep = [h["epoch"] for h in history]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ELBO (nats per image)", "Reconstruction and KL (test)"))
    fig.add_scatter(x=ep, y=[h["train_elbo"] for h in history], name="train ELBO", row=1, col=1)
    fig.add_scatter(x=ep, y=[h["test_elbo"] for h in history], name="test ELBO", row=1, col=1)
    fig.add_scatter(x=ep, y=[-h["test_rec"] for h in history], name="−E_q[log p(x|z)]", row=1, col=2)
    fig.add_scatter(x=ep, y=[h["test_kl"] for h in history], name="KL(q ‖ p)", row=1, col=2)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=320, margin=dict(t=40, b=40, l=40, r=10), legend=dict(orientation="h", y=-0.25))
    return fig


def kl_heatmap(history: list[dict]) -> go.Figure | None:
    h = kl_history(history)
    if h is None:
        return None
    fig = go.Figure(go.Heatmap(z=h.kl.T, x=h.epochs, y=[f"z{d}" for d in range(h.kl.shape[1])],
                               colorscale="Viridis", colorbar=dict(title="nats"),
                               hovertemplate="epoch %{x}, %{y}: KL %{z:.3f} nats<extra></extra>"))
    fig.update_layout(title="KL per latent dimension per epoch (dark rows: collapsed onto the prior)",
                      height=120 + 18 * h.kl.shape[1], margin=dict(t=40, b=40, l=40, r=10),
                      xaxis_title="epoch", yaxis=dict(autorange="reversed"))
    return fig


def monitor(manager: JobManager) -> None:
    job = manager.current()
    if job is None:
        return
    s = job.summary()
    running = s["state"] == "running"
    st.subheader(f"Run {job.name}")
    if running:
        left = f" · about {s['seconds_left']:.0f} s left" if s["seconds_left"] is not None else ""
        st.progress(s["epoch"] / max(1, s["epochs"]), text=f"Epoch {s['epoch']} of {s['epochs']}{left}")
        if st.button("Stop", icon=":material/stop:", help="Ends the run after saving its last completed epoch."):
            manager.stop()
            st.toast("Stopping after the current batch; the last completed epoch is kept.")
        st.session_state["_watching"] = job.name
    else:
        if st.session_state.pop("_watching", None) == job.name:
            st.rerun()  # the run ended during a fragment rerun: once, so the sidebar's picker lists it
        _outcome(job, s)
    hist = job.history()
    if hist:
        st.plotly_chart(curves_figure(hist), width="stretch", key="curves")
        heat = kl_heatmap(hist)
        if heat is not None:
            st.plotly_chart(heat, width="stretch", key="kl_heat")
    with st.expander("Trainer output"):
        st.code(job.log_tail(3000) or "(nothing yet)", language=None)


def _outcome(job: Job, s: dict) -> None:
    if s["state"] in ("finished", "stopped"):
        n = s["epoch"]
        st.success(f"Run **{job.name}** {s['state']} after {n} epoch{'s' if n != 1 else ''}. {s['message']}")
        if st.button("Explore this run", type="primary", icon=":material/arrow_forward:"):
            st.session_state[RUN_KEY] = job.name
            st.switch_page("pages/home.py")
    elif s["state"] == "diverged":
        st.warning(f"Run **{job.name}** diverged: {s['message']}")
        if s["saved"] and st.button("Explore its last good epoch"):
            st.session_state[RUN_KEY] = job.name
            st.switch_page("pages/home.py")
    else:
        st.error(f"Run **{job.name}** failed: {safe_md(s['message'], 600)}")


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
    st.info(f"Run **{active.name}** is training on this server (one run at a time); you can watch it below.")
st.fragment(run_every=1.0 if active is not None else None)(monitor)(manager)
st.subheader("New run")
data = dataset_ui(lim)
form = form_ui(data, busy=active is not None, lim=lim)
if form is not None:
    try:
        args = build_train_args(form, lim)
        job = manager.start(form["name"], args, form["epochs"])
    except (JobError, CheckpointError) as e:
        st.error(safe_md(e, 600))
    else:
        st.session_state["_watching"] = job.name
        st.rerun()
