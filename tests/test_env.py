"""course_lib.env: budgets, devices, seeding, sizes."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from course_lib import env


def test_budget_from_environment(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "Lecture ")
    assert env.budget() == "lecture"
    monkeypatch.delenv("COURSE_BUDGET")
    assert env.budget() == ("full" if torch.cuda.is_available() else "lecture")


def test_unknown_budget_names_the_choices(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "huge")
    with pytest.raises(ValueError, match="'smoke', 'lecture', 'full'"):
        env.budget()


def test_device_choice_and_bad_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else ("mps" if env._mps_available() else "cpu")
    assert env.device().type == expected
    with pytest.raises(ValueError, match="expected one of"):
        env.device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            env.device("cuda")


def test_seed_everything_is_reproducible():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3)

    env.seed_everything(123)
    a = draw()
    env.seed_everything(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2])
    env.seed_everything(124)
    assert not torch.equal(draw()[2], a[2])


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="non-negative integer"):
        env.seed_everything(seed)


def test_pick_selects_budget_and_requires_same_keys():
    s = env.pick(dict(n=1), dict(n=10), dict(n=100), budget_name="lecture")
    assert s.n == 10 and s["n"] == 10 and dict(s) == {"n": 10}
    with pytest.raises(ValueError, match="missing \\['n'\\]"):
        env.pick(dict(m=1), dict(n=10), dict(n=100), budget_name="smoke")
    with pytest.raises(AttributeError, match="defined sizes: n"):
        s.num_epochs
    with pytest.raises(AttributeError, match="read-only"):
        s.n = 3


def test_setup_prints_one_line(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    cfg = env.setup(seed=7, device_name="cpu")
    out = capsys.readouterr().out
    assert "device=cpu" in out and "budget=smoke" in out and "seed=7" in out
    sizes = cfg.pick(smoke=dict(n=1), lecture=dict(n=2), full=dict(n=3))
    assert sizes.n == 1 and "Sizes[smoke](n=1)" in capsys.readouterr().out
    assert cfg.elapsed() >= 0


def test_deterministic_can_be_switched_off_again():
    env.seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    env.seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
