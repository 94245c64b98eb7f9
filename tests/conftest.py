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
