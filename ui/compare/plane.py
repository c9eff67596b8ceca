"""The Compare runs page's rate–distortion plane (Alemi et al. 2018): every finished run of one
dataset at its (rate, distortion) on the test split, with error bars of ±2 standard errors, lines of
equal ELBO (rate + distortion = −ELBO), and a click that makes a run the current one; under it the
ELBO-surgery split of each run's rate (Hoffman & Johnson 2016): rate = I_q(x; z) + KL(q(z) ‖ p(z)).
Redrawn while training or the points' computation runs, so runs land as they finish."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.cache import job_manager
from ui.compare.figures import rd_plane, surgery_bars
from ui.compare.runs import RunRow, hover, runs_by_dataset, settings_text
from ui.compare.tasks import failures, rate_points
from ui.errors import report_errors
from ui.state import RUN_KEY, available_runs, runs_root, select_run
from ui.text import escape_md, plain_text, safe_md

PLANE_CLICK = "_compare_plane_click"  # the plane selection already acted on


def plane_section(dataset: str, rows: list[RunRow], seen: tuple) -> None:
    """Redrawn every 2 s while a training job or the points' computation runs, so runs land as they
    finish; when the placed runs or the job change, the whole page reruns (the sections below list
    the runs too, and with nothing left to wait for the redrawing stops)."""
    with report_errors("the rate–distortion plane"):
        _plane(dataset, rows, seen)


def plane_state(have: dict) -> tuple:
    """What, once changed, makes the whole page rerun: the placed runs, and whether a job trains."""
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


def _plane(dataset: str, rows: list[RunRow], seen: tuple) -> None:
    # the run list is re-read here: a fragment rerun must see runs that finished since the page ran
    fresh = runs_by_dataset(available_runs()).get(dataset, [])
    rows = fresh or rows
    have, task = rate_points(rows)
    if plane_state(have) != seen:
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
