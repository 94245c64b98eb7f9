"""course_lib.train: fit_loss (cached, resumable Adam on one loss), random_batches, predict, eval_mode.

(train.fit with a hand-written step and checkpoints.load_or_train are tested in test_checkpoints.)
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import checkpoints, train

W_TRUE, B_TRUE = torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([0.3])


def _regression(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    return x, x @ W_TRUE.T + B_TRUE                      # noise-free: the least-squares solution is (W_TRUE, B_TRUE)


def _net(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(3, 1)


def _mse(net):
    return lambda batch: ((net(batch[0]) - batch[1]) ** 2).mean()


# ----------------------------------------------------------------------------------------
# fit_loss
# ----------------------------------------------------------------------------------------
def test_fit_loss_recovers_the_linear_regression_solution(ckpt_dir):
    x, y = _regression()
    net = _net()
    fit = train.fit_loss("lin", {"net": net}, _mse(net), (x, y), num_epochs=40, lr=0.05, batch_size=16)
    assert isinstance(fit, train.FitResult) and not fit.loaded and fit.seconds > 0
    assert len(fit.history["loss"]) == 40 * (96 // 16)
    torch.testing.assert_close(net.weight.detach(), W_TRUE, atol=1e-3, rtol=0)
    torch.testing.assert_close(net.bias.detach(), B_TRUE, atol=1e-3, rtol=0)
    assert (ckpt_dir / "lin-smoke.pt").exists()
    assert checkpoints.load(ckpt_dir / "lin-smoke.pt")["optimizers"]["opt"]["state"]   # Adam's moments are kept


def test_fit_loss_second_call_loads_without_training(ckpt_dir, capsys):
    x, y = _regression()
    net = _net()
    first = train.fit_loss("cached", {"net": net}, _mse(net), (x, y), num_steps=30, lr=0.05)
    calls = []
    net2 = _net(seed=1)

    def counting_loss(batch):
        calls.append(1)
        return _mse(net2)(batch)

    second = train.fit_loss("cached", {"net": net2}, counting_loss, (x, y), num_steps=30, lr=0.05)
    assert calls == [] and second.loaded and not first.loaded
    assert second.history == first.history and torch.equal(net2.weight, net.weight)
    assert second.seconds == pytest.approx(first.seconds, rel=0.05, abs=0.05)
    assert "loaded cached-smoke.pt" in capsys.readouterr().out
    third = train.fit_loss("cached", {"net": net2}, counting_loss, (x, y), num_steps=30, lr=0.05, retrain=True)
    assert len(calls) == 30 and not third.loaded


def test_fit_loss_resumes_an_interrupted_run_identically(ckpt_dir):
    x, y = _regression(40)

    def noisy(net):                                      # draws from the global stream (restored on resume)
        return lambda b: ((net(b[0]) - b[1] - 0.1 * torch.randn_like(b[1])) ** 2).mean()

    net_a = _net()
    straight = train.fit_loss("straight", {"net": net_a}, noisy(net_a), (x, y), num_steps=13, lr=0.05, batch_size=8)

    class Stop(Exception):
        pass

    def boom(step, logs):
        if step == 7:                                    # inside the second epoch (5 batches per epoch)
            raise Stop

    net_b = _net()
    with pytest.raises(Stop):
        train.fit_loss("resumed", {"net": net_b}, noisy(net_b), (x, y), num_steps=13, lr=0.05, batch_size=8,
                       callbacks=[boom], every_s=0.0)    # every_s=0: saved after every step
    torch.manual_seed(123)                               # a new session's stream; the checkpoint restores the old one
    net_c = _net(seed=5)                                 # other initial weights: the checkpoint overrides them
    resumed = train.fit_loss("resumed", {"net": net_c}, noisy(net_c), (x, y), num_steps=13, lr=0.05, batch_size=8)
    assert len(resumed.history["loss"]) == 13
    assert resumed.history["loss"] == pytest.approx(straight.history["loss"], rel=1e-6)
    torch.testing.assert_close(net_c.weight, net_a.weight, atol=1e-6, rtol=0)


def test_fit_loss_logs_schedules_extra_and_restores_the_training_flag(ckpt_dir):
    x, y = _regression()
    net = nn.Sequential(nn.Linear(3, 1), nn.Dropout(0.0))
    net.eval()
    net[1].train()                                       # mixed flags: each submodule's flag comes back
    seen = []

    def loss_fn(batch):
        seen.append(net.training and net[0].training)
        loss = _mse(net)(batch)
        return loss, {"rmse": loss.detach().sqrt()}

    fit = train.fit_loss("sched", {"net": net}, loss_fn, (x, y), num_steps=10, lr=0.1,
                         scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, 5, gamma=0.5),
                         extra=lambda: {"answer": 42.0}, loss_name="mse")
    assert all(seen) and not net.training and not net[0].training and net[1].training
    assert sorted(fit.history) == ["mse", "rmse"] and len(fit.history["rmse"]) == 10
    assert fit.history["rmse"][3] == pytest.approx(fit.history["mse"][3] ** 0.5, rel=1e-5)
    assert fit.extra == {"answer": 42.0}
    sched_state = checkpoints.load(ckpt_dir / "sched-smoke.pt")["optimizers"]["sched"]
    assert sched_state["last_epoch"] == 10 and sched_state["_last_lr"] == [pytest.approx(0.1 * 0.5 ** 2)]
    again = train.fit_loss("sched", {"net": net}, loss_fn, (x, y), num_steps=10, lr=0.1,
                           extra=lambda: pytest.fail("extra is not recomputed when loading"))
    assert again.loaded and again.extra == {"answer": 42.0}


def test_fit_loss_without_checkpoint_with_a_loader_and_with_generated_batches(ckpt_dir):
    x, y = _regression(32)
    net = _net()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    fit = train.fit_loss(None, {"net": net}, _mse(net), loader, num_epochs=3, lr=0.05)
    assert len(fit.history["loss"]) == 12 and not fit.loaded and not ckpt_dir.exists()
    g = torch.Generator().manual_seed(0)
    net2 = _net()

    def generated(batch):                               # data=None: the loss draws its own batch
        assert batch is None
        xb = torch.randn(16, 3, generator=g)
        return ((net2(xb) - (xb @ W_TRUE.T + B_TRUE)) ** 2).mean()

    fit2 = train.fit_loss(None, {"net": net2}, generated, None, num_steps=400, lr=0.05)
    assert fit2.history["loss"][-1] < 1e-4


def test_fit_loss_rejects_bad_arguments_clearly(ckpt_dir):
    x, y = _regression()
    net = _net()
    ok = {"modules": {"net": net}, "loss_fn": _mse(net), "data": (x, y)}
    cases = [
        ({"num_steps": None}, ValueError, "exactly one of num_epochs or num_steps"),
        ({"num_steps": 5, "num_epochs": 1}, ValueError, "exactly one"),
        ({"num_steps": 0}, ValueError, "num_steps must be a positive integer"),
        ({"num_steps": 5, "lr": -1.0}, ValueError, "lr must be a positive number"),
        ({"num_steps": 5, "modules": {}}, ValueError, "non-empty dict"),
        ({"num_steps": 5, "modules": {"net": lambda t: t}}, TypeError, r"modules\['net'\] must be an nn.Module"),
        ({"num_steps": 5, "modules": {"act": nn.ReLU()}}, ValueError, "no parameters"),
        ({"num_steps": 5, "loss_fn": 3}, TypeError, "loss_fn must be callable"),
        ({"num_steps": 5, "data": 3}, TypeError, "data must be a tensor"),
        ({"num_steps": 5, "data": (x, y[:5])}, ValueError, "same first dimension"),
        ({"num_steps": 5, "data": [(x, y)], "batch_size": 8}, ValueError, "batch_size and replacement are for tensor"),
        ({"num_epochs": 1, "data": None}, ValueError, "pass num_steps"),
        ({"num_epochs": 1, "replacement": True}, ValueError, "no epochs"),
        ({"num_steps": 5, "loss_fn": lambda b: (net(b[0]) - b[1]) ** 2}, TypeError, "scalar loss tensor"),
        ({"num_steps": 5, "loss_fn": lambda b: _mse(net)(b).detach()}, ValueError, "has no gradient"),
        ({"num_steps": 5, "loss_fn": lambda b: (_mse(net)(b), 1.0)}, TypeError, "dict of logs"),
    ]
    for kw, err, match in cases:
        with pytest.raises(err, match=match):
            train.fit_loss(None, **{**ok, **kw})
    with pytest.raises(ValueError, match="only apply with a checkpoint"):
        train.fit_loss(None, num_steps=5, retrain=True, **ok)
    with pytest.raises(ValueError, match="checkpoint name must be"):
        train.fit_loss("bad name!", num_steps=5, **ok)
    with pytest.raises(FloatingPointError, match="loss became nan"):
        train.fit_loss(None, {"net": net}, lambda b: _mse(net)(b) * float("nan"), (x, y), num_steps=2)


# ----------------------------------------------------------------------------------------
# random_batches
# ----------------------------------------------------------------------------------------
def test_random_batches_cover_each_epoch_once_and_keep_rows_aligned():
    x = torch.arange(10.0)[:, None]
    rb = train.random_batches(x, x[:, 0].long() * 10, batch_size=3, generator=0, drop_last=False)
    assert len(rb) == 4
    for _ in range(3):                                   # three epochs, three different permutations
        batches = list(rb)
        assert [len(b[0]) for b in batches] == [3, 3, 3, 1]
        assert sorted(torch.cat([b[0][:, 0] for b in batches]).tolist()) == list(range(10))
        assert all(torch.equal(b[1], b[0][:, 0].long() * 10) for b in batches)
    assert len(train.random_batches(x, batch_size=3)) == 3                  # drop_last: 3 full batches


def test_random_batches_are_deterministic_and_resume_at_any_step():
    x = torch.arange(20.0)
    first = [b[0].tolist() for b in list(train.random_batches(x, batch_size=4, generator=7))]
    again = [b[0].tolist() for b in list(train.random_batches(x, batch_size=4, generator=torch.Generator().manual_seed(7)))]
    other = [b[0].tolist() for b in list(train.random_batches(x, batch_size=4, generator=8))]
    assert first == again and first != other
    for replacement in (False, True):
        rb = train.random_batches(x, batch_size=4, generator=3, replacement=replacement)
        stream = rb.iter_from(0)
        straight = [next(stream)[0].tolist() for _ in range(13)]
        later = rb.iter_from(7)                          # resets the generator, replays 7 draws
        assert [next(later)[0].tolist() for _ in range(6)] == straight[7:]
    draws = train.random_batches(x, batch_size=30, generator=0, replacement=True)
    b = next(iter(draws))[0]
    assert len(b) == 30 and len(set(b.tolist())) < 20   # with replacement: repeats, batch may exceed N
    with pytest.raises(TypeError, match="no len"):
        len(draws)


def test_random_batches_reject_bad_input():
    with pytest.raises(ValueError, match=r"same first dimension.*\(5, 2\), \(4,\)"):
        train.random_batches(torch.zeros(5, 2), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="at least one tensor"):
        train.random_batches(batch_size=2)
    with pytest.raises(ValueError, match="larger than the 5 examples"):
        train.random_batches(torch.zeros(5), batch_size=8)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train.random_batches(torch.zeros(5), batch_size=0)
    with pytest.raises(TypeError, match="generator must be"):
        train.random_batches(torch.zeros(5), batch_size=2, generator="seed")
    with pytest.raises(TypeError, match="torch.Tensor"):
        train.random_batches([1, 2, 3], batch_size=2)


# ----------------------------------------------------------------------------------------
# predict and eval_mode
# ----------------------------------------------------------------------------------------
class _ModeNet(nn.Module):
    """Doubles in train mode, identity in eval mode (so the mode shows in the output)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(()))

    def forward(self, x, y=None):
        out = x * self.w * (2.0 if self.training else 1.0)
        return out if y is None else (out, out + y)


def test_predict_matches_one_forward_and_runs_in_eval_mode_without_grad():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    net.train()(torch.randn(64, 4))                      # some running statistics
    x = torch.randn(37, 4)
    out = train.predict(net, x, batch_size=5)
    assert net.training and not out.requires_grad
    net.eval()
    torch.testing.assert_close(out, net(x).detach())
    m = _ModeNet().train()
    a, b = train.predict(m, (torch.ones(7), torch.arange(7.0)), batch_size=3)  # two inputs, tuple output
    assert torch.equal(a, torch.ones(7)) and torch.equal(b, 1 + torch.arange(7.0)) and m.training


def test_predict_restores_the_training_flag_also_on_exception():
    class Boom(nn.Linear):
        def forward(self, x):
            raise RuntimeError("boom")

    net = nn.Sequential(nn.Linear(2, 2), Boom(2, 2)).train()
    net[0].eval()                                        # a mixed state comes back exactly
    with pytest.raises(RuntimeError, match="boom"):
        train.predict(net, torch.zeros(3, 2))
    assert net.training and not net[0].training and net[1].training
    with pytest.raises(ValueError, match="same first dimension"):
        train.predict(_ModeNet(), (torch.ones(3), torch.ones(4)))
    with pytest.raises(ValueError, match="empty"):
        train.predict(_ModeNet(), torch.ones(0))
    with pytest.raises(TypeError, match="nn.Module"):
        train.predict(lambda t: t, torch.ones(3))


def test_eval_mode_sets_eval_inside_and_restores_after():
    g, d = _ModeNet().train(), _ModeNet().eval()
    with train.eval_mode(g, d):
        assert not g.training and not d.training
        assert float(g(torch.ones(())).detach()) == 1.0
    assert g.training and not d.training
    with pytest.raises(KeyError), train.eval_mode(g):
        raise KeyError("x")
    assert g.training
    with pytest.raises(TypeError, match="nn.Module"), train.eval_mode(g, "D"):
        pass


def test_progress_label_stays_on_one_line_in_jupyterlab(monkeypatch):
    """The notebook bar is [label, bar, numbers]; the label must not shrink (it would break at 'vae2-')."""
    import tqdm.auto
    import tqdm.notebook

    monkeypatch.setenv("COURSE_PROGRESS", "1")
    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.notebook.tqdm)  # what tqdm.auto picks in a Jupyter kernel
    bar = train.progress(range(3), desc="vae2-mnist")
    label, _, _ = bar.container.children
    assert label.layout.flex == "0 0 auto" and bar.container.layout.flex_flow == "row wrap"
    assert list(bar) == [0, 1, 2]
    monkeypatch.setattr(tqdm.auto, "tqdm", tqdm.std.tqdm)  # a terminal bar has no widgets: left alone
    assert list(train.progress(range(2), desc="vae2-mnist")) == [0, 1]
