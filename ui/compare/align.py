"""The Compare runs page's two latent maps, aligned point by point: two runs on the same data (or
two epochs of one run, from its snapshots) encode the same test images; each map is its posterior
means on their own first two principal components, and the second is rotated (or mirrored), scaled
and shifted onto the first by orthogonal Procrustes (``vae.analysis.align``). What is left, the
disparity and each point's distance moved, is the runs' real difference."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ui.cache import encode_split, load_run_at, run_dataset, run_identity
from ui.compare.figures import aligned_maps
from ui.compare.runs import RunRow, same_split
from ui.images import show_image
from ui.selection import parse_selection
from ui.state import RUN_KEY
from ui.text import escape_md, plain_text, safe_md
from vae.analysis.align import Alignment, align_maps
from vae.runs.folder import CheckpointError, Run
from vae.runs.snapshots import list_snapshots, load_snapshot

ALIGN_POINTS = 2000  # test images on each aligned map (the first ones of the split)
MOVED_SHOWN = 10
ALIGN_SEL = "_compare_align_sel"  # {pair: [rows]} selected on the aligned maps


@st.cache_data(max_entries=8, show_spinner="Aligning the two maps…")
def _alignment(_mu_a: np.ndarray, _mu_b: np.ndarray, key: tuple) -> Alignment:
    return align_maps(_mu_a, _mu_b)


@st.cache_resource(max_entries=8, show_spinner=False)
def _snapshot_run(path: str, mtime: float, epoch: int) -> Run:
    """The run with the weights of one of its snapshots (shared read-only, like ``load_run_at``)."""
    run = load_run_at(path, mtime)
    return Run(run.path, run.config, load_snapshot(run, epoch), run.history, run.status)


def _loaded(row: RunRow) -> Run:
    return load_run_at(str(row.info.path), (row.info.path / "model.safetensors").stat().st_mtime)


def _two_runs(dataset: str, rows: list[RunRow]) -> tuple[tuple[Run, tuple, str], tuple[Run, tuple, str]] | None:
    names = [r.info.name for r in rows]
    if len(names) < 2:
        st.info(f"Only one run on **{escape_md(dataset)}**: train another (or a sweep) to compare maps.")
        return None
    current = st.session_state.get(RUN_KEY)
    c = st.columns(2)
    a = c[0].selectbox("Reference run", names, index=names.index(current) if current in names else 0, key="align_a",
                       format_func=plain_text)
    b = c[1].selectbox("Run aligned onto it", [n for n in names if n != a], key="align_b", format_func=plain_text)
    ra, rb = (next(r for r in rows if r.info.name == n) for n in (a, b))
    if not same_split(ra.config, rb.config):
        st.warning("These two runs were trained on different versions of the data (size, item cap or folder), so "
                   "their test images are not the same points; choose two runs on the same data.")
        return None
    run_a, run_b = _loaded(ra), _loaded(rb)
    return (run_a, run_identity(run_a), a), (run_b, run_identity(run_b), b)


def _two_epochs(rows: list[RunRow]) -> tuple[tuple[Run, tuple, str], tuple[Run, tuple, str]] | None:
    c = st.columns(3)
    name = c[0].selectbox("Run", [r.info.name for r in rows], key="align_run", format_func=plain_text)
    row = next(r for r in rows if r.info.name == name)
    epochs = list_snapshots(row.info.path)
    final = row.info.epochs  # the run's own weights are its last epoch's
    options = [e for e in epochs if e != final] + ["final"]
    if len(options) < 2:
        st.info("This run kept no snapshot before its last epoch.")
        return None
    def label(e) -> str:
        return f"final (epoch {final})" if e == "final" else f"epoch {e}"
    ea = c[1].selectbox("Reference epoch", options, key="align_ea", format_func=label)
    eb = c[2].selectbox("Epoch aligned onto it", [e for e in options if e != ea], index=len(options) - 2,
                        key="align_eb", format_func=label)
    out = []
    for e in (ea, eb):
        if e == "final":
            run = _loaded(row)
            out.append((run, run_identity(run), f"{name}, epoch {final}"))
        else:
            mtime = (row.info.path / "model.safetensors").stat().st_mtime
            out.append((_snapshot_run(str(row.info.path), mtime, int(e)), (str(row.info.path), mtime, int(e)),
                        f"{name}, epoch {e}"))
    return out[0], out[1]


def align_section(dataset: str, rows: list[RunRow]) -> None:
    st.subheader("Two maps, aligned")
    with_snaps = [r for r in rows if list_snapshots(r.info.path)]
    mode = "runs"
    if with_snaps:
        mode = st.radio("Compare", ["runs", "epochs"], horizontal=True, key="align_mode",
                        format_func={"runs": "two runs", "epochs": "two epochs of one run (its snapshots)"}.get)
    else:
        st.caption("Train with **--snapshot-every N** to keep every N-th epoch and compare two epochs of one run here.")
    try:
        pair = _two_runs(dataset, rows) if mode == "runs" else _two_epochs(with_snaps)
    except (CheckpointError, OSError, ValueError, RuntimeError) as e:
        st.error(f"A model cannot be loaded: {safe_md(e)}")
        return
    if pair is None:
        return
    (run_a, ka, a), (run_b, kb, b) = pair
    splits = run_dataset(run_a, stop_on_error=False)
    if splits is None:
        return
    mu_a, mu_b = encode_split(run_a, ka, "test")[0], encode_split(run_b, kb, "test")[0]
    n = min(len(mu_a), len(mu_b), ALIGN_POINTS)
    al = _alignment(mu_a[:n], mu_b[:n], (ka, kb, n))
    ds = splits.test
    labels = ds.y.numpy()[:n]
    pair = (a, b)
    store = st.session_state.setdefault(ALIGN_SEL, {})
    chosen = store.get(pair, [])
    ring_moved = st.toggle(f"Ring the {MOVED_SHOWN} points that moved most", value=not chosen, key="align_ring")
    top = al.most_moved(MOVED_SHOWN)
    highlight = chosen or (top.tolist() if ring_moved else [])
    titles = (f"{a} (PCA)", f"{b} (PCA, rotated and scaled onto the first)")
    event = st.plotly_chart(aligned_maps(al.reference, al.aligned, labels, ds.class_names, titles, highlight),
                            key=f"aligned_{a}_{b}", on_select="rerun", selection_mode=("points", "box", "lasso"),
                            width="stretch")
    sel = parse_selection(event.selection if event else None)
    if sel.indices and sel.indices != chosen:
        store[pair] = [i for i in sel.indices if 0 <= i < n][:500]
        st.rerun()
    st.caption(f"{n:,} test images, each run's posterior means on its own first two principal components; the second "
               f"map is rotated (or mirrored), scaled and shifted onto the first by orthogonal Procrustes. What is left "
               f"is the runs' real difference: disparity {al.disparity:.3f} (0: the same map up to rotation and scale; "
               f"1: unrelated). Select points in either map (click, box or lasso): they are ringed in both.")
    if chosen:
        st.markdown(f"**{len(chosen)} selected.** Mean distance moved: "
                    f"{float(np.mean(al.relative_moved[chosen])):.2f} (in units of the reference map's spread).")
        if st.button("Clear the selection", key="align_clear"):
            store.pop(pair, None)
            st.rerun()
    st.markdown(f"**The {MOVED_SHOWN} points that moved most** (distance after alignment, in units of the reference "
                "map's spread: 1 is how far a typical point lies from the centre)")
    cols = st.columns(5)
    for j, i in enumerate(top):
        with cols[j % 5]:
            show_image(ds.x[int(i)], caption=f"#{int(i)} · {plain_text(ds.class_names[int(labels[i])])} · "
                                             f"moved {al.relative_moved[i]:.2f}", min_size=64)
