"""Compare runs: the rate–distortion plane, the ELBO-surgery split of each run's rate, two runs'
latent maps aligned point by point, and disentanglement scores across seeds."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from ui.cache import encode_split, job_manager, load_run_at, run_dataset, run_identity
from ui.compare_view import (DCI_MODEL_NOTE, FACTORVAE_NOTE, SCORE_HELP, SCORE_NAMES, RunRow, disentanglement_scores,
                             failures, hover, rate_points, runs_by_dataset, same_split, settings_text)
from ui.errors import report_errors
from ui.figures_compare import aligned_maps, rd_plane, score_groups, surgery_bars
from ui.progress import task_progress
from ui.selection import parse_selection
from ui.state import RUN_KEY, available_runs, frame_guard, runs_root, select_run
from ui.text import escape_md, plain_text, safe_md
from vae.analysis.align import Alignment, align_maps
from vae.cache.scores import seed_groups
from vae.runs.folder import CheckpointError, Run
from vae.runs.snapshots import list_snapshots, load_snapshot

ALIGN_POINTS = 2000  # test images on each aligned map (the first ones of the split)
MOVED_SHOWN = 10
PLANE_CLICK = "_compare_plane_click"  # the plane selection already acted on
ALIGN_SEL = "_compare_align_sel"  # {pair: [rows]} selected on the aligned maps


# ---------------------------------------------------------------- the rate–distortion plane

def plane_section(rows: list[RunRow], seen: tuple) -> None:
    """Redrawn every 2 s while a training job or the points' computation runs, so runs land as they
    finish; when the placed runs or the job change, the whole page reruns (the sections below list
    the runs too, and with nothing left to wait for the redrawing stops)."""
    with report_errors("the rate–distortion plane"):
        _plane(rows, seen)


def _state(have: dict) -> tuple:
    return tuple(sorted(have)), job_manager(str(runs_root())).active() is not None


def _training_note() -> None:
    """While a queue trains (a sweep), which run it is on: its runs land here as each finishes."""
    job = job_manager(str(runs_root())).active()
    if job is None:
        return
    s = job.summary()
    p = s.get("plan")
    where = (f"run {p['index'] + 1} of {p['total']} (**{escape_md(p['run'])}**), " if p else "")
    st.info(f"**{escape_md(job.name)}** is training: {where}epoch {s['epoch']} of {s['epochs']}. Its runs appear "
            "on the plane as each one finishes.", icon=":material/model_training:")


def _plane(rows: list[RunRow], seen: tuple) -> None:
    # the run list is re-read here: a fragment rerun must see runs that finished since the page ran
    fresh = runs_by_dataset(available_runs()).get(dataset, [])
    rows = fresh or rows
    have, task = rate_points(rows)
    if _state(have) != seen:
        st.rerun(scope="app")
    _training_note()
    if task is not None and not task.done:
        st.progress(min(1.0, task.progress), text=f"Placing runs on the plane: {safe_md(task.message)} "
                                                   f"({task.progress:.0%})")
    for name, why in failures(task).items():
        st.warning(f"Run **{escape_md(name)}** cannot be placed: {safe_md(why)}")
    by_name = {r.info.name: r for r in rows}
    points = [dict(name=n, rate=p.rate, distortion=p.distortion, rate_se=p.rate_se, distortion_se=p.distortion_se,
                   elbo=p.elbo, sweep=by_name[n].config.train.sweep, hover=hover(by_name[n], p))
              for n, p in have.items() if n in by_name]
    current = st.session_state.get(RUN_KEY)
    if not points:
        st.info("The runs appear here as soon as their test splits are evaluated.", icon=":material/hourglass_top:")
        return
    event = st.plotly_chart(rd_plane(points, current), key="rd_plane", on_select="rerun", selection_mode="points",
                            width="stretch")
    picked = [p.get("customdata") for p in (event.selection.points if event else []) or []]
    picked = [c[0] if isinstance(c, list) and c else c for c in picked]
    sig = tuple(str(c) for c in picked)
    if picked and sig != st.session_state.get(PLANE_CLICK) and str(picked[0]) in by_name:
        st.session_state[PLANE_CLICK] = sig
        if str(picked[0]) != current:
            select_run(str(picked[0]))
            st.rerun(scope="app")  # the sidebar's picker follows
    st.caption(f"{len(points)} of {len(rows)} runs on **{escape_md(dataset)}** placed. Lower left is better; each "
               "dotted line joins points of equal ELBO (rate + distortion = −ELBO). Error bars: ±2 standard errors "
               "over test images. The ringed point is the current run; click a point to make it the current run.")
    if points:
        table = pd.DataFrame([dict(run=plain_text(p["name"]), settings=settings_text(by_name[p["name"]].config),
                                   sweep=by_name[p["name"]].config.train.sweep or "", rate=p["rate"],
                                   distortion=p["distortion"], ELBO=p["elbo"]) for p in points])
        with st.expander("The points as a table"):
            st.dataframe(table.sort_values("ELBO", ascending=False), hide_index=True, width="stretch",
                         column_config={k: st.column_config.NumberColumn(format="%.2f")
                                        for k in ("rate", "distortion", "ELBO")})
    surgery_section([(n, have[n]) for n in have if n in by_name])


def surgery_section(points) -> None:
    capped = [n for n, p in points if p.mi_at_ceiling]
    rows = [dict(name=n, rate=p.rate, rate_se=p.rate_se, mi=p.mi, mi_se=p.mi_se, marginal_kl=p.marginal_kl,
                 marginal_kl_se=p.marginal_kl_se, mi_ceiling=p.mi_ceiling, residual=p.residual, n=p.mixture_points)
            for n, p in points if p.mi is not None]
    if not rows:
        return
    st.subheader("Where the rate goes: ELBO surgery")
    st.markdown("Hoffman & Johnson (2016) split each run's rate, averaged over the test images, into "
                "**I_q(x; z)**, what the code says about *which* image it encodes (at most log N), and "
                "**KL(q(z) ‖ p(z))**, how far the codes of all images together stray from the prior. A high "
                "rate with most of it in the second term pays for nothing the decoder can use.")
    st.plotly_chart(surgery_bars(rows), key="surgery", width="stretch")
    st.dataframe(pd.DataFrame([{"run": r["name"], "rate": r["rate"], "I_q(x; z)": r["mi"], "± s.e. (I)": r["mi_se"],
                                "KL(q(z) ‖ p(z))": r["marginal_kl"], "± s.e. (KL)": r["marginal_kl_se"],
                                "rate − both": r["residual"], "log N": r["mi_ceiling"]} for r in rows]),
                 hide_index=True, width="stretch",
                 column_config={k: st.column_config.NumberColumn(format="%.3f") for k in
                                ("rate", "I_q(x; z)", "± s.e. (I)", "KL(q(z) ‖ p(z))", "± s.e. (KL)", "rate − both",
                                 "log N")})
    st.caption("Both terms are Monte-Carlo estimates (replicates of one draw per image; standard errors shown). "
               "With every test image in the mixture q(z) the two add up to the rate; 'rate − both' is what is left, "
               "within the estimates' error.")
    if capped:
        st.info(f"For {', '.join(f'**{escape_md(n)}**' for n in capped)}, I_q(x; z) is at its ceiling log N: an "
                "estimate from N test images cannot exceed it, so the code may carry more information than shown, "
                "and the aggregate-posterior KL be correspondingly smaller.", icon=":material/info:")


# ---------------------------------------------------------------- aligned maps

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


def _two_runs(rows: list[RunRow]) -> tuple[tuple[Run, tuple, str], tuple[Run, tuple, str]] | None:
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


def align_section(rows: list[RunRow]) -> None:
    st.subheader("Two maps, aligned")
    with_snaps = [r for r in rows if list_snapshots(r.info.path)]
    mode = "runs"
    if with_snaps:
        mode = st.radio("Compare", ["runs", "epochs"], horizontal=True, key="align_mode",
                        format_func={"runs": "two runs", "epochs": "two epochs of one run (its snapshots)"}.get)
    else:
        st.caption("Train with **--snapshot-every N** to keep every N-th epoch and compare two epochs of one run here.")
    try:
        pair = _two_runs(rows) if mode == "runs" else _two_epochs(with_snaps)
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
    from ui.images import show_image
    for j, i in enumerate(top):
        with cols[j % 5]:
            show_image(ds.x[int(i)], caption=f"#{int(i)} · {plain_text(ds.class_names[int(labels[i])])} · "
                                             f"moved {al.relative_moved[i]:.2f}", min_size=64)


# ---------------------------------------------------------------- disentanglement

def scores_section(runs_all: dict[str, list[RunRow]]) -> None:
    st.subheader("Disentanglement scores")
    rows = runs_all.get("shapes", [])
    if not rows:
        st.info("These scores need a dataset with known generative factors: train a run on **shapes** "
                "(shape, scale, rotation, x, y), or a seed sweep on it.")
        return
    have, task = disentanglement_scores(rows)
    if task is not None and not task.done:
        task_progress(task.key, "Disentanglement scores")
    for name, why in failures(task).items():
        st.warning(f"Run **{escape_md(name)}** cannot be scored: {safe_md(why)}")
    if not have:
        return
    by = {r.info.name: r for r in rows}
    table = [{"run": plain_text(n), "settings": settings_text(by[n].config), **s["scores"]}
             for n, s in have.items() if n in by]
    st.dataframe(pd.DataFrame(table), hide_index=True, width="stretch",
                 column_config={k: st.column_config.NumberColumn(k, help=SCORE_HELP[k], format="%.3f")
                                for k in SCORE_NAMES})
    groups = seed_groups({n: (by[n].config, s["scores"]) for n, s in have.items() if n in by})
    gdicts = [dict(label=f"{settings_text(by[g.runs[0]].config).rsplit(', seed', 1)[0]}", n=len(g.runs),
                   mean=g.mean, sd=g.sd) for g in groups]
    st.plotly_chart(score_groups(gdicts, SCORE_NAMES), key="score_groups", width="stretch")
    several = [g for g in groups if len(g.runs) > 1]
    st.caption(f"Scored on {next(iter(have.values()))['n']:,} shapes images (train, then test split) at the "
               "posterior means. Runs that differ only in their seed are one bar: its height is the mean, the "
               "whisker ±1 standard deviation across seeds (Locatello et al. 2019: seeds move these scores about "
               "as much as β does). " + ("" if several else "No two runs here differ only in seed yet: queue a "
                                                                "seed sweep on the Train page to see the spread."))
    with st.expander("How each score is computed (defaults from the literature)"):
        for k in SCORE_NAMES:
            st.markdown(f"- **{k}**: {SCORE_HELP[k]}")
        st.markdown(DCI_MODEL_NOTE)
        st.markdown(FACTORVAE_NOTE)


# ---------------------------------------------------------------- the page

frame_guard()
st.title("Compare runs")
st.caption("Every run of one dataset on the rate–distortion plane (Alemi et al. 2018), the split of each run's rate, "
           "two runs' latent maps aligned, and disentanglement scores. Each number is computed once per run in the "
           "background and kept in its run folder.")
runs_all = runs_by_dataset(available_runs())
if not runs_all:
    st.info("No finished runs yet: train one on the **Train** page.")
    st.stop()
current = st.session_state.get(RUN_KEY)
cur_ds = next((d for d, rs in runs_all.items() if any(r.info.name == current for r in rs)), None)
options = sorted(runs_all, key=lambda d: (-len(runs_all[d]), d))
dataset = st.selectbox("Dataset", options, index=options.index(cur_ds) if cur_ds in options else 0,
                       format_func=lambda d: f"{plain_text(d)} ({len(runs_all[d])} run{'s' if len(runs_all[d]) != 1 else ''})",
                       key="compare_dataset")
rows = runs_all[dataset]
st.subheader("The rate–distortion plane")
placed, pending = rate_points(rows)
seen = _state(placed)
live = seen[1] or (pending is not None and not pending.done)
st.fragment(run_every=2.0 if live else None)(plane_section)(rows, seen)
align_section(rows)
scores_section(runs_all)
