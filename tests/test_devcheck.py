"""The device check: COURSE_MAX_STEPS caps every training loop, capped checkpoints are kept apart, and
``course devcheck`` reports each notebook's failing cell."""

from __future__ import annotations

import json
import os

import pytest
import torch

from course_lib import checkpoints, course, data, env, gan, sparse, train
from course_lib.nets import mlp


def test_step_cap_from_the_environment(monkeypatch):
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    assert env.step_cap() is None and env.capped(500) == 500
    monkeypatch.setenv("COURSE_MAX_STEPS", " 3 ")
    assert env.step_cap() == 3 and env.capped(500) == 3 and env.capped(2) == 2
    monkeypatch.setenv("COURSE_MAX_STEPS", "")
    assert env.step_cap() is None


@pytest.mark.parametrize("bad", ["0", "-2", "three", "1.5"])
def test_bad_step_cap_is_named(monkeypatch, bad):
    monkeypatch.setenv("COURSE_MAX_STEPS", bad)
    with pytest.raises(ValueError, match="COURSE_MAX_STEPS must be a positive integer"):
        env.capped(10)


def test_setup_line_says_the_run_is_capped(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    monkeypatch.setenv("COURSE_MAX_STEPS", "4")
    env.setup(seed=0)
    assert "every training loop capped at 4 steps" in capsys.readouterr().out
    monkeypatch.delenv("COURSE_MAX_STEPS")
    env.setup(seed=0)
    assert "capped" not in capsys.readouterr().out


def test_capped_checkpoints_are_never_a_real_runs(monkeypatch, tmp_path):
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    real = checkpoints.path_for("dcgan", "full", tmp_path)
    monkeypatch.setenv("COURSE_MAX_STEPS", "3")
    capped = checkpoints.path_for("dcgan", "full", tmp_path)
    assert real.name == "dcgan-full.pt" and capped.name == "dcgan-full-cap3.pt"


def test_fit_loss_and_fit_stop_at_the_cap(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_STEPS", "3")
    net = torch.nn.Linear(2, 1)
    x = torch.randn(64, 2)
    fit = train.fit_loss(None, {"net": net}, lambda b: net(b[0]).square().mean(), x, num_steps=50,
                         batch_size=8, device="cpu")
    assert len(fit.history["loss"]) == 3
    hist = train.fit(lambda b, step: {"loss": 0.0}, [1, 2], num_epochs=10, history={})
    assert len(hist["loss"]) == 3


def test_dictionary_learning_stops_at_the_cap(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_STEPS", "2")
    x = torch.randn(40, 8)
    _, hist = sparse.learn_dictionary(x, 4, 0.1, num_steps=30, inner_iters=5, progress=False)
    assert len(hist["reconstruction"]) == 2


def test_gan_engine_stops_at_the_cap(monkeypatch):
    monkeypatch.setenv("COURSE_MAX_STEPS", "5")
    torch.manual_seed(0)
    G, D = mlp.generator(2, 2, (8,)), mlp.discriminator(2, (8,))
    snap = gan.Snapshot(20, lambda t: t.sample(4), "x")
    cov = gan.ModeCoverage(data.mixture_modes(), every=20, n=100)
    tr = gan.Trainer(G, D, gan.variant("ns"), data.gaussian_mixture_2d(200)[0], 2, 16, device="cpu", log_every=10,
                     callbacks=[snap, cov])
    hist = tr.fit(40)
    assert tr.step == 5 and hist["step"] == [5.0]       # the last (capped) step is logged
    # evaluations every 20 steps: a capped run still ends evaluated, as the real run would
    assert tr.capped_at == 5 and snap.steps == [0, 5] and hist["modes_step"] == [5.0]


def _notebook(*sources: str) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
            "cells": [{"cell_type": "markdown", "id": "md-0", "metadata": {}, "source": "# 97 · Test"}]
            + [{"cell_type": "code", "id": f"code-{i}", "metadata": {}, "execution_count": None, "outputs": [],
                "source": s} for i, s in enumerate(sources, 1)]}


@pytest.mark.parametrize("plain", [False, True], ids=["kernel", "plain"])
def test_devcheck_reports_the_failing_cell(tmp_path, monkeypatch, plain):
    monkeypatch.delenv("COURSE_MAX_STEPS", raising=False)
    folder = tmp_path / "nbs"
    folder.mkdir()
    probe = ("import os\nfrom course_lib import env\n"
             "assert env.step_cap() == 2 and env.budget() == 'smoke', (env.step_cap(), env.budget())\n"
             "assert os.listdir(os.environ['COURSE_CHECKPOINT_DIR']) == []\n"
             "open(os.path.join(os.environ['COURSE_CHECKPOINT_DIR'], 'x.pt'), 'w').close()")
    (folder / "97_ok.ipynb").write_text(json.dumps(_notebook(probe)))
    (folder / "98_gpu.ipynb").write_text(json.dumps(_notebook("x = 1", "raise RuntimeError('tensors on cuda:0 and cpu')")))
    rows = course.devcheck(steps=2, budget="smoke", out=tmp_path / "dc", folder=folder, timeout=120, plain=plain)
    assert [(r["status"], r["cell"]) for r in rows] == [("ok", None), ("failed", 2)]
    assert "cuda:0 and cpu" in rows[1]["error"] and "\x1b" not in rows[1]["error"]   # no terminal colour codes
    assert "COURSE_MAX_STEPS" not in os.environ          # the caller's environment is restored
    report = (tmp_path / "dc" / "devcheck.md").read_text()
    assert "capped at 2 steps" in report and "| 98_gpu | failed |" in report
    assert json.loads((tmp_path / "dc" / "devcheck.json").read_text())["notebooks"][1]["cell"] == 2
    # run again: each notebook starts from an empty checkpoint folder (the probe asserts it)
    again = course.devcheck(steps=2, budget="smoke", out=tmp_path / "dc", folder=folder, only=["97"], plain=plain)
    assert again[0]["status"] == "ok"


@pytest.mark.parametrize("plain", [False, True], ids=["kernel", "plain"])
def test_devcheck_reports_a_timeout_in_one_line(tmp_path, plain):
    folder = tmp_path / "nbs"
    folder.mkdir()
    (folder / "99_slow.ipynb").write_text(json.dumps(_notebook("x = 1", "import time\ntime.sleep(30)")))
    (row,) = course.devcheck(steps=2, budget="smoke", out=tmp_path / "dc", folder=folder, timeout=4, plain=plain)
    assert row["status"] == "failed" and row["cell"] == 2        # the timed-out cell is named
    assert row["error"].startswith("TimeoutExpired" if plain else "CellTimeoutError") and "\n" not in row["error"]
    assert "| 99_slow | failed |" in (tmp_path / "dc" / "devcheck.md").read_text()


def test_devcheck_cli(monkeypatch):
    seen = {}

    def fake(steps, budget, only, out, timeout, plain):
        seen.update(steps=steps, budget=budget, only=list(only), out=out, plain=plain)
        return [{"status": "ok"}]

    monkeypatch.setattr(course, "devcheck", fake)
    assert course.main(["devcheck", "--steps", "4", "--only", "06"]) == 0
    assert seen == {"steps": 4, "budget": "full", "only": ["06"], "out": "build/devcheck", "plain": None}
    assert course.main(["devcheck", "--plain"]) == 0 and seen["plain"] is True


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_kill_stops_the_whole_course_run(tmp_path, sig):
    """nbclient turns SIGINT / SIGTERM into a shut-down kernel; the runner must stop, not go on to the next notebook."""
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "nbs"
    folder.mkdir()
    marker = tmp_path / "started"
    (folder / "97_sleep.ipynb").write_text(json.dumps(_notebook(
        f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\ntime.sleep(60)")))
    (folder / "98_next.ipynb").write_text(json.dumps(_notebook("x = 1")))
    code = ("import sys\nfrom course_lib import course\n"
            "def fake(argv):\n"
            f"    course.run('smoke', out={str(tmp_path / 'build')!r}, folder={str(folder)!r}, timeout=120)\n"
            "    return 0\n"
            "course._main = fake\nsys.exit(course.main([]))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        t0 = time.time()
        while not marker.exists():
            assert time.time() - t0 < 90 and proc.poll() is None, "the first notebook never started"
            time.sleep(0.2)
        proc.send_signal(getattr(signal, sig))
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, out
    assert "interrupted in 97_sleep" in out
    assert not (tmp_path / "build" / "executed" / "98_next.ipynb").exists()     # the run stopped there
    assert (tmp_path / "build" / "results.md").exists()
