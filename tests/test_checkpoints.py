"""course_lib.checkpoints and course_lib.train: load-or-train, resume, weights_only, NaN guard."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import checkpoints, train


def _problem(seed=0):
    torch.manual_seed(seed)
    x = torch.randn(64, 3)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
    net = nn.Linear(3, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)

    def step_fn(batch, step):
        xb, yb = batch
        loss = ((net(xb) - yb) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        return {"loss": loss}

    return net, opt, loader, step_fn


def test_train_then_load_without_training(ckpt_dir, capsys):
    net, opt, loader, step_fn = _problem()
    calls = []

    def train_fn(ckpt):
        calls.append(ckpt.step)
        ckpt.attach(opt=opt)
        train.fit(step_fn, loader, num_epochs=5, ckpt=ckpt)

    ckpt = checkpoints.trained("lin", {"net": net}, train_fn)
    h = ckpt.history
    assert len(h["loss"]) == 20 and h["loss"][-1] < 0.1 * h["loss"][0] and not ckpt.loaded
    trained_s = ckpt.elapsed_s
    assert trained_s > 0                            # the training time, right after training too
    assert (ckpt_dir / "lin-smoke.pt").exists()
    net2, opt2, _, _ = _problem(seed=1)
    ckpt2 = checkpoints.trained("lin", {"net": net2}, train_fn)
    assert calls == [0] and ckpt2.loaded  # second call loaded instead of training
    assert ckpt2.history == h and torch.equal(net2.weight, net.weight)
    assert checkpoints.load_or_train("lin", {"net": net2}, train_fn) == h   # the history alone
    assert ckpt2.elapsed_s == pytest.approx(trained_s, rel=0.05, abs=0.05)
    assert "loaded lin-smoke.pt" in capsys.readouterr().out
    checkpoints.load_or_train("lin", {"net": net2}, train_fn, retrain=True)
    assert calls == [0, 0]


def test_interrupted_training_resumes(ckpt_dir):
    net, opt, loader, step_fn = _problem()

    class Stop(Exception):
        pass

    def interrupted(ckpt):
        ckpt.attach(opt=opt)

        def boom(step, logs):
            if step == 7:
                ckpt.save(step)  # a periodic save happened here ...
                raise Stop       # ... then the kernel was interrupted

        train.fit(step_fn, loader, num_steps=12, ckpt=ckpt, callbacks=[boom])

    with pytest.raises(Stop):
        checkpoints.load_or_train("resume", {"net": net}, interrupted)
    payload = checkpoints.load(ckpt_dir / "resume-smoke.pt")
    assert payload["step"] == 7 and not payload["complete"] and len(payload["history"]["loss"]) == 7

    starts = []
    net2, opt2, loader2, step_fn2 = _problem(seed=5)

    def resumed(ckpt):
        starts.append(ckpt.step)
        ckpt.attach(opt=opt2)
        train.fit(step_fn2, loader2, num_steps=12, ckpt=ckpt)

    h = checkpoints.load_or_train("resume", {"net": net2}, resumed)
    assert starts == [7] and len(h["loss"]) == 12
    assert checkpoints.load(ckpt_dir / "resume-smoke.pt")["complete"]


def test_weights_only_refuses_pickled_objects(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "obj": Evil()}, path)
    with pytest.raises(ValueError, match="cannot be read safely"):
        checkpoints.load(path)


def test_bad_checkpoints_and_names(tmp_path, ckpt_dir):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        checkpoints.load(tmp_path / "none.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a course_lib checkpoint"):
        checkpoints.load(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="checkpoint name"):
        checkpoints.path_for("../escape")
    net = nn.Linear(3, 1)
    checkpoints.load_or_train("shape", {"net": net}, lambda ckpt: None)
    with pytest.raises(ValueError, match="architecture changed"):
        checkpoints.load_or_train("shape", {"net": nn.Linear(4, 1)}, lambda ckpt: None)
    with pytest.raises(ValueError, match="no weights for \\['other'\\]"):
        checkpoints.load_or_train("shape", {"net": net, "other": nn.Linear(1, 1)}, lambda ckpt: None)
    with pytest.raises(ValueError, match="at least one network"):
        checkpoints.load_or_train("x", {}, lambda ckpt: None)


def test_budget_is_part_of_the_file_name(ckpt_dir):
    assert checkpoints.path_for("gan", "lecture").name == "gan-lecture.pt"
    assert checkpoints.path_for("gan", "full").parent == ckpt_dir


def test_nan_guard_stops_with_a_clear_message():
    def step_fn(batch, step):
        return {"loss": float("nan") if step == 2 else 1.0}

    with pytest.raises(FloatingPointError, match="loss became nan.*learning rate"):
        train.fit(step_fn, [0, 1], num_steps=5)


def test_fit_argument_errors():
    with pytest.raises(ValueError, match="exactly one of num_epochs or num_steps"):
        train.fit(lambda b, s: {}, [1], num_epochs=1, num_steps=1)
    with pytest.raises(ValueError, match="yields no batches"):
        train.fit(lambda b, s: {}, [], num_epochs=1)
    with pytest.raises(ValueError, match="must return scalars"):
        train.fit(lambda b, s: {"loss": torch.ones(2)}, [1], num_steps=1)


def test_every_callback_and_to():
    seen = []
    train.fit(lambda b, s: {"v": s}, [0], num_steps=6, callbacks=[train.every(2, seen.append)])
    assert seen == [2, 4, 6]
    moved = train.to((torch.zeros(1), {"y": torch.ones(1)}), "cpu")
    assert isinstance(moved, tuple) and moved[1]["y"].device.type == "cpu"


def test_resumed_run_equals_uninterrupted_run(ckpt_dir):
    """Same batches (shuffled loader), same random stream, same optimiser state -> same weights."""
    def make():
        torch.manual_seed(0)
        x = torch.randn(40, 3)
        y = x @ torch.tensor([[1.0], [-2.0], [0.5]])
        g = torch.Generator().manual_seed(1)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8, shuffle=True,
                                             generator=g)
        torch.manual_seed(0)
        net = nn.Linear(3, 1)
        opt = torch.optim.Adam(net.parameters(), lr=0.05)

        def step_fn(batch, step):
            xb, yb = batch
            noise = 0.1 * torch.randn_like(yb)  # draws from the global random stream
            loss = ((net(xb) - yb - noise) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            return {"loss": loss}

        return net, opt, loader, step_fn

    net_a, opt_a, loader_a, step_a = make()

    def straight(ckpt):
        ckpt.attach(opt=opt_a)
        train.fit(step_a, loader_a, num_steps=13, ckpt=ckpt)

    ha = checkpoints.load_or_train("straight", {"net": net_a}, straight)

    class Stop(Exception):
        pass

    net_b, opt_b, loader_b, step_b = make()

    def interrupted(ckpt):
        ckpt.attach(opt=opt_b)

        def boom(step, logs):
            if step == 7:  # inside the second epoch (5 batches per epoch)
                ckpt.save(step)
                raise Stop

        train.fit(step_b, loader_b, num_steps=13, ckpt=ckpt, callbacks=[boom])

    with pytest.raises(Stop):
        checkpoints.load_or_train("resumed", {"net": net_b}, interrupted)
    torch.manual_seed(123)  # the new session's stream differs; the checkpoint restores the old one
    net_c, opt_c, loader_c, step_c = make()
    torch.manual_seed(123)

    def resumed(ckpt):
        ckpt.attach(opt=opt_c)
        train.fit(step_c, loader_c, num_steps=13, ckpt=ckpt)

    hc = checkpoints.load_or_train("resumed", {"net": net_c}, resumed)
    assert torch.allclose(hc["loss"][-1] * torch.ones(1), ha["loss"][-1] * torch.ones(1))
    assert hc["loss"] == pytest.approx(ha["loss"], rel=1e-6)
    assert torch.allclose(net_c.weight, net_a.weight, atol=1e-6)


def test_numpy_values_in_extra_stay_loadable(ckpt_dir):
    import numpy as np

    net = nn.Linear(2, 1)
    checkpoints.load_or_train("np", {"net": net}, lambda ckpt: {"acc": np.float64(0.9), "arr": np.ones(3)})
    extra = checkpoints.trained("np", {"net": net}, lambda ckpt: None).extra
    assert extra["acc"] == pytest.approx(0.9) and torch.equal(extra["arr"], torch.ones(3, dtype=torch.float64))


def test_a_truncated_or_foreign_file_is_reported_as_unreadable(ckpt_dir):
    net = nn.Linear(2, 1)
    checkpoints.load_or_train("cut", {"net": net}, lambda ckpt: None)
    path = ckpt_dir / "cut-smoke.pt"
    whole = path.read_bytes()
    for bad in (whole[: len(whole) // 2], b"", b"not a checkpoint at all" * 8):
        path.write_bytes(bad)
        with pytest.raises(ValueError, match="is unreadable or truncated .* Delete it .*COURSE_RETRAIN=1") as err:
            checkpoints.load_or_train("cut", {"net": net}, lambda ckpt: None)
        assert "objects other than tensors" not in str(err.value)
    h = checkpoints.load_or_train("cut", {"net": net}, lambda ckpt: ckpt.log(loss=1.0), retrain=True)
    assert h == {"loss": [1.0]} and checkpoints.load(path)["complete"]    # retraining replaces the bad file
