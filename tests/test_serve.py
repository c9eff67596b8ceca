"""scripts/serve.py, what `make run` starts: the app's imports are done, then it is plain `streamlit run`."""
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_launcher_preloads_every_module_then_hands_over_to_streamlit_run():
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "serve.py"), "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "not preloaded" not in out.stderr, out.stderr  # every name in PRELOAD imports
    assert "streamlit run" in out.stdout and "--server.port" in out.stdout  # streamlit run's own options
