"""Headless JupyterLab check: the server starts in this environment, serves the Lab page, opens every
notebook as a valid v4 notebook, and has the ipywidgets extension the explorer in notebook 07 needs.
(tests/test_browser.py drives a real browser; nbval executes the notebooks themselves.)"""
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, token: str):
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read().decode()


@contextmanager
def running_lab(root: Path, tmp_path: Path, **env):
    """JupyterLab on 127.0.0.1 serving `root`, its runtime and config under tmp_path; yields (base URL, token)."""
    port, token = _free_port(), secrets.token_hex(8)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           **env}
    proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}",
                             "--ip=127.0.0.1", f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if _get(f"{base}/api/status", token)[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("jupyter lab did not start within 60 s")
        yield base, token
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_jupyterlab_serves_every_notebook(tmp_path):
    with running_lab(ROOT, tmp_path) as (base, token):
        status, page = _get(f"{base}/lab", token)
        assert status == 200 and "JupyterLab" in page
        listing = json.loads(_get(f"{base}/api/contents/notebooks", token)[1])
        served = {c["name"] for c in listing["content"] if c["type"] == "notebook"}
        assert served == {p.name for p in (ROOT / "notebooks").glob("*.ipynb")} and len(served) >= 8
        for name in sorted(served):
            nb = json.loads(_get(f"{base}/api/contents/notebooks/{name}?content=1", token)[1])
            assert nb["format"] == "json" and nb["content"]["nbformat"] == 4
            code = ["".join(c["source"]) for c in nb["content"]["cells"] if c["cell_type"] == "code"]
            assert code[0].startswith("# Colab: install dpt") and "from dpt.experiments import course\nP = course.setup()" in code[1]
        specs = json.loads(_get(f"{base}/api/kernelspecs", token)[1])
        assert "python3" in specs["kernelspecs"]
    out = subprocess.run([sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True)
    assert "@jupyter-widgets/jupyterlab-manager" in out.stdout + out.stderr
