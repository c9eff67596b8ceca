"""Shared test setup: no network, and AppTest in the state a real server is in."""
import pytest


@pytest.fixture(autouse=True)
def _no_download(monkeypatch):
    monkeypatch.setenv("VAE_NO_DOWNLOAD", "1")


@pytest.fixture(autouse=True)
def _apptest_like_a_server(monkeypatch):
    """A real server leaves Streamlit's legacy `pages/`-folder mode on its first run
    (ui.state.frame_guard, or app.py's st.navigation) and never returns to it.
    AppTest re-enters that mode before every run, which would make each widget
    interaction on a page cost a guard rerun that drops the interaction. Start every
    PagesManager as a running server has it. Deep links on a fresh server are tested
    in a real browser (tests/browser/test_ui_frame.py)."""
    from streamlit.runtime.pages_manager import PagesManager
    orig = PagesManager.__init__

    def init(self, *args, **kwargs):
        orig(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for the test: on a shared, loaded machine OpenMP threads spinning
    against other jobs make small tensor ops many times slower (the app does the same)."""
    import torch
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

