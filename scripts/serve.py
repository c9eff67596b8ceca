"""`streamlit run app.py`, with the app's heavy imports done before the first visitor arrives.

    python scripts/serve.py [streamlit run options]      (what `make run` starts)

A Streamlit server imports the app only when the first browser connects, so the first visitor
waited for torch, plotly's validators, pandas and scikit-learn (several seconds on two cores).
Here they are imported, in this same process, before the server starts listening; everything
else is plain `streamlit run` (the same options, the same `.streamlit/config.toml`).
"""
from __future__ import annotations

import gc
import importlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRELOAD = ("torch", "numpy", "pandas", "pyarrow", "scipy.spatial", "sklearn.metrics", "plotly.graph_objs",
           "vae.runs.folder", "vae.data", "vae.cache.precompute", "vae.analysis.collapse",
           "vae.analysis.projection.methods", "vae.analysis.projection.points", "vae.analysis.traversal",
           "vae.analysis.samples", "vae.analysis.disentanglement")


def preload() -> None:
    """Import PRELOAD and let plotly build the validators of the traces the pages draw. A module that
    fails to import is skipped: the page that needs it reports the problem as usual."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - optional here; never stops the server
            print(f"serve: {name} not preloaded ({type(e).__name__})", file=sys.stderr)
    try:
        import plotly.graph_objs as go
        go.Figure([go.Scatter(), go.Scattergl(), go.Bar(), go.Heatmap()])
    except Exception:  # noqa: BLE001
        pass
    # The ~300,000 objects of these modules live as long as the server: freeze them out of the
    # collector, so a full collection (110-170 ms here with them) walks only what visitors made.
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> int:
    preload()
    from streamlit.web import cli
    sys.argv = ["streamlit", "run", str(REPO / "app.py"), *(sys.argv[1:] if argv is None else argv)]
    return cli.main()


if __name__ == "__main__":
    sys.exit(main())
