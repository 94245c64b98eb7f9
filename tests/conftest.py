"""Shared test settings: CPU, smoke budget, headless plots, checkpoints in a temporary folder."""

from __future__ import annotations

import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("COURSE_BUDGET", "smoke")
os.environ.setdefault("COURSE_HEADLESS", "1")
os.environ.setdefault("COURSE_PROGRESS", "0")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import pytest  # noqa: E402

# headless Chromium (browser_page) and a JupyterLab (jupyter_lab) for the tests that look at the course in a browser
from browser import browser_page, chromium_browser, jupyter_lab  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def ckpt_dir(tmp_path, monkeypatch):
    """Checkpoints go to a fresh folder for the test."""
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    return tmp_path / "ckpt"
