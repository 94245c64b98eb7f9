"""Headless Chromium and a JupyterLab for the tests that look at the course the way its users do.

Fixtures (made available to every test by ``tests/conftest.py``):

- ``browser_page``: a fresh Playwright page (1280x900) in headless Chromium, Debian's ``chromium``
  (``apt-get install chromium``; ``.ci/run`` installs it). Playwright's Python API drives that
  executable: no browser is downloaded, ever. The test skips, saying why, where no Chromium or no
  Playwright is installed.
- ``jupyter_lab``: a :class:`Lab`, JupyterLab 4 on 127.0.0.1, a free port and a random token, with the
  course's own set-up (the venv's kernel, no Jupyter-news pop-up: ``make setup`` switches it off), in a
  temporary root folder: ``lab.open(page, notebook)`` copies a notebook there and opens it, so a
  committed notebook is never written by the lab's autosave.

Screenshots go to :data:`SHOTS` (``build/browser/``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "build" / "browser"
VIEWPORT = {"width": 1280, "height": 900}

# Debian's wrapper script /usr/bin/chromium runs /usr/lib/chromium/chromium; the binary itself comes first.
_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_executable() -> str | None:
    """The Chromium to drive: ``$COURSE_CHROMIUM``, else Debian's chromium, else one on the PATH; None if none."""
    wanted = os.environ.get("COURSE_CHROMIUM")
    if wanted:
        return wanted if shutil.which(wanted) else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Any]:
    """One headless Chromium per test process (a Playwright ``Browser``); skips where there is none."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed: pip install -e '.[test]' (make setup does)")
    exe = chromium_executable()
    if exe is None:
        pytest.skip("no Chromium on this machine: apt-get install chromium (.ci/run installs it), "
                    "or point COURSE_CHROMIUM at one")
    with sync_playwright() as p:
        # containers often have a tiny /dev/shm, where Chromium's renderer would crash on big pages
        browser = p.chromium.launch(executable_path=exe, headless=True, args=["--disable-dev-shm-usage"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium_browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page (its own context: no cookies or storage from other tests), 1280x900, 30 s timeouts.

    When the test fails, the page as it was is saved to ``build/browser/failed-<test>.png``.
    """
    context = chromium_browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    failed_before = request.session.testsfailed
    try:
        yield page
    finally:
        if request.session.testsfailed > failed_before:
            name = "".join(c if c.isalnum() or c in "-_" else "-" for c in request.node.name)
            try:
                page.screenshot(path=shot_path(f"failed-{name}"))
            except Exception:  # a crashed page has nothing to show
                pass
        context.close()


def shot_path(name: str) -> Path:
    """``build/browser/<name>.png`` (the folder made)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The test run's switches for headless notebooks; a student's lab has none of them.
_NOT_IN_THE_LAB = ("COURSE_HEADLESS", "MPLBACKEND", "COURSE_PROGRESS", "JPY_SESSION_NAME")


class Lab:
    """A running JupyterLab: ``url``, ``token``, ``root`` (its folder) and helpers to drive a notebook."""

    def __init__(self, url: str, token: str, root: Path, log: Path):
        self.url, self.token, self.root, self.log = url, token, root, log

    def open(self, page: Any, notebook: str | Path, timeout_s: float = 240) -> str:
        """Copy ``notebook`` into the lab's folder, open it in ``page`` and wait for its kernel; returns its name."""
        notebook = Path(notebook)
        if notebook.suffix != ".ipynb" or not notebook.is_file():
            raise ValueError(f"notebook must be an existing .ipynb file, got {notebook}")
        shutil.copy(notebook, self.root / notebook.name)
        # ?reset: a fresh workspace, so the tabs an earlier test opened in this lab are not restored
        page.goto(f"{self.url}/lab/tree/{notebook.name}?reset&token={self.token}", timeout=timeout_s * 1000)
        # the notebook is the current tab and its kernel is started and connected
        # (window.jupyterapp is the app object: --LabApp.expose_app_in_browser)
        page.wait_for_function(
            "(name) => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
            " if (!w || !w.context || w.context.path !== name || !w.content.widgets.length) return false;"
            " const k = w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return k && k.connectionStatus === 'connected' && k.status === 'idle'; }",
            arg=notebook.name, timeout=timeout_s * 1000)
        return notebook.name

    def run_all(self, page: Any, timeout_s: float = 120) -> bool:
        """Run every cell of the open notebook (Run > Run All Cells) and wait for the last one.

        Returns True when all cells ran without an error; raises TimeoutError after ``timeout_s``.
        """
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s}")
        done = page.evaluate(
            "async (ms) => Promise.race([window.jupyterapp.commands.execute('notebook:run-all-cells'),"
            " new Promise(ok => setTimeout(() => ok('timeout'), ms))])", timeout_s * 1000)
        if done == "timeout":
            raise TimeoutError(f"the notebook's cells did not finish within {timeout_s} s")
        return bool(done)

    def kernel_status(self, page: Any) -> str:
        """The open notebook's kernel status as the lab sees it ('idle', 'busy', ...; '' without a kernel)."""
        return page.evaluate(
            "() => { const w = window.jupyterapp.shell.currentWidget;"
            " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
            " return k ? k.status : ''; }")

    def log_tail(self, n: int = 3000) -> str:
        """The end of the server's log (for failure messages)."""
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1, a free port, a random token, the course venv's kernel; stopped at the end."""
    base = tmp_path_factory.mktemp("lab")
    root, home = base / "root", base / "jupyter"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in _NOT_IN_THE_LAB}
    # the course's set-up only (the venv's kernel, settings, page config), nothing from the user's ~/.jupyter
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"))
    port, token = free_port(), secrets.token_hex(16)
    log = base / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    lab = Lab(url, token, root, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{lab.log_tail()}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"JupyterLab did not answer on {url} within 180 s:\n{lab.log_tail()}")
            time.sleep(0.3)
        yield lab
    finally:
        proc.terminate()  # the server shuts its kernels down
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
