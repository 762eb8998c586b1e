"""The course as a learner meets it: JupyterLab in a real (headless) Chromium.

Opens notebook 07, runs all its cells (no cell raises, its figures render, its exercises say not done yet);
opens notebook 00 and checks that its stored figures render. Screenshots go to a temporary
folder (printed; kept with --basetemp). Needs Chromium and Playwright's Python package: `make browser-deps`
(apt-get install chromium; pip install playwright). Never `playwright install`: it downloads a browser.
Skipped, with the reason, where either is missing.
"""
import json
import os
import shutil
import time
from pathlib import Path

import pytest

from test_jupyterlab import _get, running_lab

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("DPT_CHROMIUM", "/usr/bin/chromium")

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed: make browser-deps")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                reason=f"no Chromium at {CHROMIUM}: make browser-deps (apt-get install chromium)")


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 over a copy of the notebooks (so nothing in the repository is touched)."""
    books = tmp_path / "notebooks"
    books.mkdir()
    for name in ("00_setup_and_tour.ipynb", "07_analysis.ipynb"):
        shutil.copy(ROOT / "notebooks" / name, books / name)
    settings = tmp_path / "lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')  # every cell in the DOM
    # JUPYTER_DATA_DIR: hide the user's kernels (make setup adds 'dpt'), so that the notebook's python3 is the
    # only match and JupyterLab starts it without asking
    with running_lab(books, tmp_path, JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "lab-settings"),
                     JUPYTER_DATA_DIR=str(tmp_path / "data"), DPT_FIGURES=str(tmp_path / "figures")) as (base, token):
        yield base, token, tmp_path


def _open(page, base, token, name, folder):
    """Open a notebook and wait until every code cell is in the page and its kernel is idle and connected (a
    Run All sent before that can be dropped, or clear only the cells rendered so far)."""
    cells = json.loads((folder / name).read_text())["cells"]
    n_code = sum(c["cell_type"] == "code" for c in cells)
    page.goto(f"{base}/lab/tree/{name}?token={token}")
    page.wait_for_function(f"document.querySelectorAll('.jp-CodeCell').length >= {n_code}", timeout=120_000)
    deadline = time.time() + 120
    while time.time() < deadline:
        _accept_kernel_dialog(page)
        kernels = json.loads(_get(f"{base}/api/kernels", token)[1])
        if any(k["execution_state"] == "idle" and k.get("connections", 0) >= 1 for k in kernels):
            return
        time.sleep(1)
    raise AssertionError(f"the kernel of {name} did not become idle and connected within 2 minutes: {kernels}")


def _menu(page, menu, item):
    page.locator(".lm-MenuBar-itemLabel", has_text=menu).first.click()
    page.locator(".lm-Menu-itemLabel", has_text=item).first.click()


def _accept_kernel_dialog(page):
    """JupyterLab may ask which kernel to start (here: the project's and the environment's): take its default."""
    dialog = page.locator(".jp-Dialog", has_text="Select Kernel")
    if dialog.count() and dialog.first.is_visible():
        dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()


def _click_run_all(page):
    _accept_kernel_dialog(page)
    for _ in range(5):  # clear first, so that stored prompts cannot pass for a finished run
        _menu(page, "Edit", "Clear Outputs of All Cells")
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        if prompts and all(p.strip() == "[ ]:" for p in prompts):
            break
        time.sleep(2)
        _accept_kernel_dialog(page)
    else:
        raise AssertionError(f"could not clear the notebook's outputs: {prompts}")
    _menu(page, "Run", "Run All Cells")


def _run_all(page, shots):
    """Run All from the menu and wait until every code cell has run. A Run All sent while the kernel's connection
    is still settling can be dropped (every prompt back to '[ ]', nothing ran): it is sent again, up to 3 times."""
    _click_run_all(page)
    tries, idle_since, deadline = 1, None, time.time() + 600
    while time.time() < deadline:  # done when no cell waits or runs ('[*]') and every code cell has a number
        _accept_kernel_dialog(page)
        prompts = page.locator(".jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        if errors.filter(has_text="Error").count():  # a cell raised: Run All stops there, the rest stay '[ ]'
            raise AssertionError(f"a cell raised: {errors.filter(has_text='Error').first.inner_text()[-2000:]}")
        if prompts and all(any(c.isdigit() for c in p) for p in prompts):
            return prompts
        if prompts and all(p.strip() == "[ ]:" for p in prompts):  # nothing ran, nothing queued
            idle_since = idle_since or time.time()
            if time.time() - idle_since > 15 and tries < 3:
                _click_run_all(page)
                tries, idle_since = tries + 1, None
        else:
            idle_since = None
        time.sleep(1)
    page.screenshot(path=str(shots / "run_all_timeout.png"), full_page=True)
    raise AssertionError(f"notebook did not finish within 10 minutes ({tries} Run All): {prompts} (screenshot in {shots})")


def test_notebook_07_runs_all_in_the_browser_and_draws_its_figures(lab):
    """Notebook 07 (which trains in its exercise and analysis cells) runs top to bottom from JupyterLab's Run All:
    no cell raises, its figures render as images, and its exercises say *not done yet* (the explorer widget it had
    was replaced by a static figure: a stored widget shows only `interactive(...)` on a static page)."""
    base, token, tmp = lab
    shots = tmp / "screenshots"
    shots.mkdir()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _open(page, base, token, "07_analysis.ipynb", tmp / "notebooks")
        _run_all(page, shots)
        assert not page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                has_text="Traceback").count(), "a cell raised"
        images = page.locator(".jp-RenderedImage img")
        images.first.wait_for(state="attached", timeout=60_000)
        for i in range(images.count()):
            images.nth(i).scroll_into_view_if_needed()
        widths = images.evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
        not_done = page.locator(".jp-OutputArea-output", has_text="Not done yet").count()
        page.screenshot(path=str(shots / "07_after_run_all.png"), full_page=True)
        browser.close()
    print(f"screenshots in {shots}")
    assert widths and all(w > 100 for w in widths), widths
    assert not_done >= 2  # both exercises left to the learner
    assert not errors, errors


def test_stored_figures_render(lab):
    base, token, tmp = lab
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        _open(page, base, token, "00_setup_and_tour.ipynb", tmp / "notebooks")
        page.wait_for_selector(".jp-RenderedImage img", timeout=60_000)
        images = page.locator(".jp-RenderedImage img")
        for i in range(images.count()):
            images.nth(i).scroll_into_view_if_needed()
        widths = images.evaluate_all("els => els.map(e => e.complete ? e.naturalWidth : 0)")
        page.screenshot(path=str(tmp / "00_figures.png"), full_page=True)
        browser.close()
    assert len(widths) >= 2 and all(w > 100 for w in widths), widths
