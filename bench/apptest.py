"""AppTest of the app in the state a running server is in, so timed reruns measure
what a server does on a rerun and nothing AppTest adds:

- A server leaves Streamlit's legacy `pages/`-folder mode on its first run and never
  returns (ui.state.frame_guard); AppTest re-enters it before every run, which would
  add a guard rerun to each timed rerun. tests/conftest.py does the same for the tests.
- A server compiles each script once: one ScriptCache lives as long as its Runtime
  (streamlit/runtime/runtime.py). AppTest makes a new ScriptCache for every run, so every
  run re-parses app.py and the page (with the AST rewrite for "magic"). Here the caches
  share one store, as the server's single cache does.
"""
from __future__ import annotations

from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"


def server_like() -> None:
    """Start every PagesManager as a running server has it (idempotent, process-wide)."""
    from streamlit.runtime.pages_manager import PagesManager
    if getattr(PagesManager.__init__, "_server_like", False):
        return
    orig = PagesManager.__init__

    def init(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    init._server_like = True
    PagesManager.__init__ = init

    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    shared: dict = {}
    orig_cache_init = ScriptCache.__init__

    def cache_init(self) -> None:
        orig_cache_init(self)
        self._cache = shared  # guarded by each instance's lock; AppTest runs one script at a time

    ScriptCache.__init__ = cache_init


def app_test(script: Path = APP, timeout: float = 300):
    """An AppTest of script (default: app.py) in a server's steady state."""
    from streamlit.testing.v1 import AppTest
    server_like()
    return AppTest.from_file(str(script), default_timeout=timeout)


def rerun_until_metric(at, prefix: str, timeout: float = 180) -> None:
    """Rerun ``at`` as a page's polling fragment would, until a metric whose label starts with
    ``prefix`` is shown (the work queue then holds the result); raises if the page raised."""
    import time
    end = time.monotonic() + timeout
    while not any(m.label.startswith(prefix) for m in at.metric) and time.monotonic() < end:
        if at.exception:
            raise RuntimeError(f"the page raised: {at.exception}")
        time.sleep(0.5)
        at.run()
