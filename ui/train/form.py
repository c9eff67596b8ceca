"""The Train page's form: the dataset choice (outside the form, so the folder options can appear),
the training settings read into one ``RunConfig`` (the one path from form to the command line
``python -m vae.train``), and starting what the form asked for: one run, or a sweep queued as one job.
"""
from __future__ import annotations

import streamlit as st

from ui.prior_view import prior_ui
from ui.text import escape_md, safe_md
from ui.train.posteriors import posterior_form_ui
from ui.train.sweep import SweepRequest, start_sweep, sweep_fields
from ui.widgets import parse_hidden
from vae.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vae.jobs.record import Job
from vae.jobs.training import JobError, JobManager, prepare_run
from vae.runs.folder import CheckpointError
from vae.runs.validate import data_shape
from vae.training.sweep import SweepError

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


def start(manager: JobManager, form: tuple[str, RunConfig, SweepRequest | None], data: dict, lim: dict) -> Job | None:
    """Start what the form asked for (the run, or the sweep's queue); None, with the reason shown,
    when it cannot start. An uploaded zip is stored by the job manager only now."""
    name, cfg, sweep = form
    up = data["upload"]
    try:
        if sweep is not None:
            return start_sweep(manager, name, cfg, sweep, lim, upload=up is not None)
        cfg = prepare_run(cfg, lim, upload=up is not None)
        return manager.start_run(name, cfg, upload=(up.name, up.getvalue()) if up is not None else None)
    except (JobError, CheckpointError, SweepError) as e:
        st.error(safe_md(e, 600))
        return None
