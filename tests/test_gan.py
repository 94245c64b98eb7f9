"""course_lib.gan: the one adversarial loop (variants as data, callbacks, guards, checkpoints)."""

from __future__ import annotations

import pytest
import torch

from course_lib import checkpoints, data, env, gan, losses
from course_lib.nets import dcgan, mlp


def _toy(variant, steps=60, callbacks=(), log_every=20, seed=0, **kw):
    torch.manual_seed(seed)
    x = data.gaussian_1d(2000, mu=3.0, sigma=0.5)
    G, D = mlp.generator(1, 1, (16,)), mlp.discriminator(1, (16,))
    tr = gan.Trainer(G, D, variant, x, latent_dim=1, batch_size=64, callbacks=callbacks, log_every=log_every,
                     device="cpu", **kw)
    return tr, tr.fit(steps)


@pytest.mark.parametrize("name", gan.VARIANTS)
def test_every_variant_runs_through_the_same_loop(name):
    tr, hist = _toy(gan.variant(name), steps=20, log_every=10)
    assert hist["step"] == [10.0, 20.0]
    for key in ("d_loss", "g_loss", "d_acc", "grad_d", "grad_g"):
        assert len(hist[key]) == 2 and all(torch.isfinite(torch.tensor(hist[key])))
    assert ("penalty" in hist) == (name == "wgan-gp")
    assert tr.step == 20


def test_ns_gan_learns_a_1d_gaussian():
    torch.manual_seed(0)
    tr, _ = _toy(gan.variant("ns", lr_d=2e-3, lr_g=2e-3), steps=600, log_every=100)
    s = tr.sample(2000)
    assert abs(float(s.mean()) - 3.0) < 0.4, float(s.mean())


def test_weight_clip_callback_bounds_the_critic():
    tr, _ = _toy(gan.variant("wgan"), steps=5)
    assert max(float(p.detach().abs().max()) for p in tr.discriminator.parameters()) <= 0.01 + 1e-7


def test_cosine_decay_sets_both_rates_from_the_step():
    class Seen(gan.Callback):
        def __init__(self):
            self.lrs = []

        def after_g_step(self, trainer, step):                 # runs after CosineDecay's (listed first)
            self.lrs.append((trainer.opt_g.param_groups[0]["lr"], trainer.opt_d.param_groups[0]["lr"]))

    seen = Seen()
    decay = gan.CosineDecay(8)
    _toy(gan.variant("ns", lr_g=1e-3, lr_d=5e-4), steps=10, callbacks=[decay, seen])
    assert [decay.factor(t) for t in (0, 4, 8, 9)] == pytest.approx([1.0, 0.5, 0.0, 0.0], abs=1e-12)
    for t, (lr_g, lr_d) in enumerate(seen.lrs, start=1):
        assert lr_g == pytest.approx(1e-3 * decay.factor(t)) and lr_d == pytest.approx(5e-4 * decay.factor(t)), t
    assert seen.lrs[-1] == (0.0, 0.0) and seen.lrs[0][0] > 0.9e-3
    with pytest.raises(ValueError, match="num_steps"):
        gan.CosineDecay(0)


def test_n_critic_counts_discriminator_steps():
    class Count(gan.Callback):
        d = g = 0

        def after_d_step(self, trainer):
            Count.d += 1

        def after_g_step(self, trainer, step):
            Count.g += 1

    _toy(gan.variant("ns", n_critic=3), steps=7, callbacks=[Count()])
    assert (Count.d, Count.g) == (21, 7)


def test_lazy_penalty_runs_on_every_kth_generator_step_with_k_times_the_weight():
    calls = []

    def penalty(D, x_real, x_fake):
        calls.append(len(calls))
        return torch.tensor(2.0, requires_grad=True)

    v = gan.variant("ns", penalty=penalty, penalty_weight=0.5, penalty_every=4)
    parts = []
    original = gan._weighted_sum
    gan._weighted_sum = lambda p: parts.append(dict(p)) or original(p)
    try:
        _, hist = _toy(v, steps=10, log_every=2)
    finally:
        gan._weighted_sum = original
    assert len(calls) == 3                                  # G steps 0, 4 and 8 of 10
    with_penalty = [p for p in parts if "penalty" in p]
    assert len(with_penalty) == 3 and all(p["penalty"][0] == 2.0 for p in with_penalty)   # weight 0.5 x 4
    assert len(hist["penalty"]) == len(hist["step"]) == 5    # logged where computed, its last value in between
    assert hist["penalty"] == [2.0] * 5
    with pytest.raises(ValueError, match="penalty_every"):
        gan.variant("ns", penalty=penalty, penalty_weight=1.0, penalty_every=0)


def test_critic_schedule_sets_the_d_updates_per_generator_update():
    class Count(gan.Callback):
        def __init__(self):
            self.d = 0

        def after_d_step(self, trainer):
            self.d += 1

    wgan = gan.variant("wgan")
    assert [wgan.critic_steps(t) for t in (0, 24, 25, 499, 500, 501)] == [100, 100, 5, 5, 100, 5]
    assert [gan.variant("wgan", n_critic=3).critic_steps(t) for t in (0, 25, 500, 501)] == [100, 3, 100, 3]
    count = Count()
    _toy(wgan, steps=30, callbacks=[count])
    assert count.d == 25 * 100 + 5 * 5                                   # the original WGAN code's warm-up
    count = Count()
    _toy(gan.variant("ns", critic_schedule=lambda t: 1 + t % 3), steps=6, callbacks=[count])
    assert count.d == 1 + 2 + 3 + 1 + 2 + 3
    assert gan.variant("wgan-gp").critic_schedule is None and gan.variant("wgan-gp").critic_steps(0) == 5
    with pytest.raises(ValueError, match=r"critic_schedule\(0\) must be a positive int, got 0"):
        _toy(gan.variant("ns", critic_schedule=lambda t: 0), steps=2)
    with pytest.raises(TypeError, match="critic_schedule must be a function"):
        gan.variant("ns", critic_schedule=5)


def test_sample_grid_and_ema_callbacks():
    ema, grid = gan.EMA(0.9), gan.SampleGrid(every=10, n=8)
    tr, _ = _toy(gan.variant("ns"), steps=30, callbacks=[ema, grid])
    st = grid.state()
    assert st["samples"].shape == (4, 8, 1) and st["samples_steps"].tolist() == [0, 10, 20, 30]
    assert "generator_ema" in tr.modules()
    p_ema = next(ema.generator.parameters())
    p = next(tr.generator.parameters())
    assert not torch.equal(p_ema, p) and not p_ema.requires_grad
    assert tr.sample(5, ema=True).shape == (5, 1)


def test_nan_guard_stops_with_a_clear_message():
    v = gan.variant("ns").replace(d_loss=lambda r, f: losses.minimax_d_loss(r, f) * float("nan"))
    with pytest.raises(FloatingPointError, match="d_loss became nan at step 10"):
        _toy(v, steps=30, log_every=10)


def test_mode_coverage_callback_warns_on_collapse(capsys):
    modes = data.mixture_modes()
    x, _ = data.gaussian_mixture_2d(1000, std=0.05)
    torch.manual_seed(0)
    G, D = mlp.generator(2, 2, (8,)), mlp.discriminator(2, (8,))
    cov = gan.ModeCoverage(modes, std=0.05, every=5, n=200)
    tr = gan.Trainer(G, D, gan.variant("ns"), x, 2, 32, callbacks=[cov], device="cpu", log_every=5)
    hist = tr.fit(10)
    assert hist["modes_step"] == [5.0, 10.0] and max(hist["modes"]) < 4     # untrained: collapsed near 0
    assert "mode collapse" in capsys.readouterr().out


def test_checkpoint_resume_and_load(ckpt_dir):
    def make():
        torch.manual_seed(0)
        G, D = mlp.generator(1, 1, (8,)), mlp.discriminator(1, (8,))
        x = data.gaussian_1d(500)
        return gan.Trainer(G, D, gan.variant("ns"), x, 1, 32, callbacks=[gan.SampleGrid(10, 4)], device="cpu",
                           log_every=10)

    run = gan.load_or_train("toy", make(), num_steps=20, verbose=False)
    assert run.history["step"] == [10.0, 20.0] and run.extra["samples"].shape == (3, 4, 1)
    tr2 = make()
    run2 = gan.load_or_train("toy", tr2, num_steps=20, verbose=False)       # loaded, not trained
    torch.testing.assert_close(next(tr2.generator.parameters()), next(run.trainer.generator.parameters()))
    assert run2.history == run.history and run2.extra["samples"].shape == (3, 4, 1)
    assert run2.seconds == pytest.approx(run.seconds)


def test_dcgan_variant_on_images_with_a_loader():
    torch.manual_seed(0)
    x = torch.rand(16, 1, 28, 28) * 2 - 1
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, torch.zeros(16)), batch_size=8)
    G, D = dcgan.Generator(8, 1, 28, 4), dcgan.Discriminator(1, 28, 4)
    tr = gan.Trainer(G, D, gan.variant("ns"), loader, latent_dim=8, device="cpu", log_every=2)
    hist = tr.fit(4)
    assert hist["step"] == [2.0, 4.0]


def test_cpu_path_uses_no_mixed_precision():
    tr = gan.Trainer(mlp.generator(1, 1), mlp.discriminator(1), gan.variant("ns"), torch.zeros(4, 1), 1, device="cpu")
    assert tr.amp_dtype is None and not tr.scaler_d.is_enabled() and not tr.scaler_g.is_enabled()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="unknown GAN variant 'wgangp'"):
        gan.variant("wgangp")
    with pytest.raises(TypeError, match="gan.Variant"):
        gan.Trainer(mlp.generator(1, 1), mlp.discriminator(1), "ns", torch.zeros(4, 1), 1)
    with pytest.raises(ValueError, match="n_critic"):
        gan.variant("ns", n_critic=0)
    forced = gan.Trainer(mlp.generator(1, 1), mlp.discriminator(1), gan.variant("ns"), torch.zeros(4, 1), 1,
                         device="cpu", amp=True)
    assert forced.amp_dtype == torch.bfloat16 and not forced.scaler_d.is_enabled()   # CPU autocast: bf16, no scaler
    with pytest.raises(ValueError, match="supported on CUDA and the CPU, not on meta"):
        env.amp_dtype("meta", True)


# ----------------------------------------------------------------------------------------
# Conditional GANs, extra terms, skipping D updates
# ----------------------------------------------------------------------------------------
class _CondMLP(torch.nn.Module):
    """net(cat(a, one_hot(c))): a class-conditional G(z, c) or D(x, c) for the 2-D toy."""

    def __init__(self, in_dim, num_classes, out_dim, hidden=(32,)):
        super().__init__()
        self.num_classes = num_classes
        self.net = mlp.generator(in_dim + num_classes, out_dim, hidden, act="leaky_relu") \
            if out_dim > 1 else mlp.discriminator(in_dim + num_classes, hidden)

    def forward(self, a, c):
        out = self.net(torch.cat([a, torch.nn.functional.one_hot(c, self.num_classes).float()], 1))
        return out


_MEANS = torch.tensor([[-2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])


def _class_data(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(3, (n,), generator=g)
    return _MEANS[y] + 0.1 * torch.randn(n, 2, generator=g), y


def test_class_conditional_gan_learns_the_per_class_means():
    torch.manual_seed(0)
    x, y = _class_data()
    G, D = _CondMLP(4, 3, 2), _CondMLP(2, 3, 1)
    grid = gan.SampleGrid(100, cond=torch.arange(3))
    tr = gan.Trainer(G, D, gan.variant("ns", lr_d=2e-3, lr_g=2e-3), x, latent_dim=4, batch_size=64, cond=y,
                     sample_cond=lambda n: torch.randint(3, (n,)), callbacks=[grid], device="cpu", log_every=100)
    assert tr.conditional
    tr.fit(500)
    for k in range(3):
        s = tr.sample(cond=torch.full((300,), k))
        assert s.shape == (300, 2)
        assert float((s.mean(0) - _MEANS[k]).norm()) < 0.5, (k, s.mean(0))
    assert tr.sample(10).shape == (10, 2)                          # conditions drawn with sample_cond
    assert grid.state()["samples"].shape == (6, 3, 2)              # steps 0, 100, ..., 500; one per class


def test_paired_task_with_an_l1_term_reduces_l1_and_logs_it():
    # a paired "image-to-image" toy: c = degrade(x); G(c) (no z) must invert the degradation
    torch.manual_seed(0)
    x = torch.randn(512, 2)

    def degrade(x):
        return 0.5 * x.flip(1)

    class PairD(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp.discriminator(4, (16,))

        def forward(self, x, c):
            return self.net(torch.cat([x, c], 1))

    G = torch.nn.Linear(2, 2)
    v = gan.variant("ns", lr_d=1e-3, lr_g=1e-2, g_terms={"l1": (10.0, gan.l1_term)})
    tr = gan.Trainer(G, PairD(), v, x, latent_dim=None, batch_size=64, cond=degrade, device="cpu", log_every=25)

    def l1():
        with torch.no_grad():
            return float((G(degrade(x)) - x).abs().mean())

    before = l1()
    hist = tr.fit(200)
    assert hist["step"] == [25.0 * i for i in range(1, 9)]
    assert len(hist["g_l1"]) == 8 and all(torch.isfinite(torch.tensor(hist["g_l1"])))
    assert hist["g_l1"][-1] < 0.5 * hist["g_l1"][0]
    assert l1() < 0.2 * before, (before, l1())
    assert tr.sample(cond=degrade(x[:5])).shape == (5, 2)


def test_acgan_terms_see_the_discriminators_extra_outputs():
    torch.manual_seed(0)
    x, y = _class_data(300)

    class ACD(torch.nn.Module):                               # D(x) -> (score, class logits): AC-GAN
        def __init__(self):
            super().__init__()
            self.body = mlp.generator(2, 1 + 3, (32,), act="leaky_relu")

        def forward(self, x):
            out = self.body(x)
            return out[:, 0], out[:, 1:]

    v = gan.variant("ns", lr_d=2e-3, lr_g=2e-3, d_terms={"cls": (1.0, gan.aux_class_d_term)},
                    g_terms={"cls": (1.0, gan.aux_class_g_term)})
    D = ACD()
    tr = gan.Trainer(_CondMLP(4, 3, 2), D, v, x, 4, 64, cond=y, sample_cond=lambda n: torch.randint(3, (n,)),
                     discriminator_input=lambda x, c: (x,), device="cpu", log_every=50)
    hist = tr.fit(150)
    assert {"d_cls", "g_cls"} <= set(hist) and len(hist["d_cls"]) == 3
    assert hist["d_cls"][-1] < hist["d_cls"][0]                 # D learns the classes
    with torch.no_grad():
        assert float((D(x)[1].argmax(1) == y).float().mean()) > 0.9


def test_conditional_wgan_gp_and_a_loader_of_pairs():
    torch.manual_seed(0)
    x, y = _class_data(64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16, shuffle=True)
    seen = []

    class SpyD(_CondMLP):
        def forward(self, a, c):
            seen.append(c)
            return super().forward(a, c)

    tr = gan.Trainer(_CondMLP(4, 3, 2), SpyD(2, 3, 1), gan.variant("wgan-gp"), loader, 4, conditional=True,
                     device="cpu", log_every=2)
    hist = tr.fit(4)
    assert hist["step"] == [2.0, 4.0] and len(hist["penalty"]) == 2
    assert all(c.dtype == torch.long and c.shape == (16,) for c in seen)
    assert tr.sample(cond=torch.tensor([0, 2])).shape == (2, 2)


def test_skip_hook_skips_d_updates_and_leaves_d_unchanged():
    class SkipOdd(gan.Callback):
        def __init__(self):
            self.calls, self.before = 0, None

        def skip_d_step(self, trainer, scores_real, scores_fake):
            now = [p.detach().clone() for p in trainer.discriminator.parameters()]
            if self.before is not None:             # the previous update was skipped: D must be unchanged
                assert all(torch.equal(a, b) for a, b in zip(self.before, now))
            self.calls += 1
            skip = self.calls % 2 == 1
            self.before = now if skip else None
            return skip

    cb = SkipOdd()
    tr, hist = _toy(gan.variant("ns", n_critic=2), steps=10, callbacks=[cb], log_every=5)
    assert cb.calls == 20 and hist["d_skipped"] == [0.5, 0.5]

    class Never(gan.Callback):
        def skip_d_step(self, trainer, scores_real, scores_fake):
            return True

    torch.manual_seed(0)
    G, D = mlp.generator(1, 1, (8,)), mlp.discriminator(1, (8,))
    d0 = [p.detach().clone() for p in D.parameters()]
    tr = gan.Trainer(G, D, gan.variant("ns"), data.gaussian_1d(100), 1, 16, callbacks=[Never()], device="cpu",
                     log_every=5)
    hist = tr.fit(5)
    assert all(torch.equal(a, b) for a, b in zip(d0, D.parameters())) and not tr.opt_d.state
    assert hist["d_skipped"] == [1.0] and hist["grad_d"] == [0.0]
    assert "d_skipped" not in _toy(gan.variant("ns"), steps=5, log_every=5)[1]     # only with a skip callback


def test_fakes_for_d_hook_replaces_what_d_trains_on_but_not_what_g_learns_from():
    class Recording(torch.nn.Module):
        """D that keeps every batch it scores, with whether it was being trained at the time."""

        def __init__(self):
            super().__init__()
            self.net = mlp.discriminator(1, (8,))
            self.seen = []

        def forward(self, x):
            self.seen.append((next(self.net.parameters()).requires_grad, x.detach().clone()))
            return self.net(x)

    class Constant(gan.Callback):
        def __init__(self):
            self.calls = 0

        def fakes_for_d(self, trainer, x_fake):
            self.calls += 1
            assert not x_fake.requires_grad                 # D's fakes come detached
            return torch.full_like(x_fake, 7.0)

    torch.manual_seed(0)
    G, D, cb = mlp.generator(1, 1, (8,)), Recording(), Constant()
    tr = gan.Trainer(G, D, gan.variant("ns", n_critic=2), data.gaussian_1d(200, mu=3.0), 1, 16, callbacks=[cb],
                     device="cpu", log_every=5)
    tr.fit(5)
    assert cb.calls == 10                                   # asked before every D update (5 steps x n_critic 2)
    d_calls = [x for training, x in D.seen if training]
    g_calls = [x for training, x in D.seen if not training]
    assert len(d_calls) == 20 and len(g_calls) == 5
    assert all(bool((x == 7.0).all()) for x in d_calls[1::2])             # D scored the replaced fakes ...
    assert not any(bool((x == 7.0).any()) for x in d_calls[0::2])         # ... next to its real batches
    assert not any(bool((x == 7.0).any()) for x in g_calls)               # G learned from its own fresh fakes


def test_skip_d_if_accurate_follows_the_3d_gan_rule():
    gate = gan.SkipDIfAccurate(0.8)
    tr = gan.Trainer(mlp.generator(1, 1), mlp.discriminator(1), gan.variant("ns"), torch.zeros(4, 1), 1, device="cpu")
    confident = torch.tensor([3.0, 2.0, 1.0, 4.0, 5.0])
    assert gate.skip_d_step(tr, confident, -confident)                        # accuracy 1.0 > 0.8
    assert not gate.skip_d_step(tr, confident, torch.tensor([-1.0, -1.0, 1.0, 1.0, 1.0]))   # 0.7
    assert gan.d_accuracy(confident, -confident).item() == 1.0
    with pytest.raises(ValueError, match="max_acc"):
        gan.SkipDIfAccurate(0.0)


def test_conditional_bad_inputs_are_named():
    x, y = _class_data(10)
    G, D = _CondMLP(4, 3, 2), _CondMLP(2, 3, 1)
    with pytest.raises(ValueError, match="cond has 9 rows but data has 10"):
        gan.Trainer(G, D, gan.variant("ns"), x, 4, cond=y[:9], device="cpu")
    with pytest.raises(TypeError, match="needs tensor data"):
        gan.Trainer(G, D, gan.variant("ns"), [(x, y)], 4, cond=y, device="cpu")
    with pytest.raises(ValueError, match="needs cond= .* or sample_cond="):
        gan.Trainer(G, D, gan.variant("ns"), x, 4, discriminator_input=lambda x, c: (x,), device="cpu")
    # an unconditional network in a conditional trainer: the message names the call and the fix
    tr = gan.Trainer(mlp.generator(4, 2), D, gan.variant("ns"), x, 4, cond=y, device="cpu")
    with pytest.raises(TypeError, match=r"calls the generator as generator\(z, c\) \(2 arguments\) but "
                                        r"MLP.forward takes \(x\); .*generator_input"):
        tr.fit(1)
    tr = gan.Trainer(G, mlp.discriminator(2), gan.variant("ns"), x, 4, cond=y, device="cpu")
    with pytest.raises(TypeError, match=r"discriminator as discriminator\(x, c\).*discriminator_input"):
        tr.fit(1)
    # a conditional network in an unconditional trainer
    with pytest.raises(TypeError, match=r"generator as generator\(z\) .* takes \(a, c\); pass cond="):
        gan.Trainer(G, mlp.discriminator(2), gan.variant("ns"), x, 4, device="cpu")
    with pytest.raises(ValueError, match="tensor data has no conditions"):     # latent_dim=None: conditional
        gan.Trainer(mlp.generator(4, 2), mlp.discriminator(2), gan.variant("ns"), x, None, device="cpu")
    tr = gan.Trainer(G, D, gan.variant("ns"), x, 4, cond=y, device="cpu")
    with pytest.raises(ValueError, match="needs the conditions: sample"):
        tr.sample(3)
    with pytest.raises(ValueError, match="n=3 but cond has 2 rows"):
        tr.sample(3, cond=y[:2])
    with pytest.raises(ValueError, match="SampleGrid on a conditional trainer needs cond"):
        gan.SampleGrid(5, 4)._sample(tr)
    plain = gan.Trainer(mlp.generator(1, 1), mlp.discriminator(1), gan.variant("ns"), torch.zeros(4, 1), 1,
                        device="cpu")
    with pytest.raises(ValueError, match="trainer is unconditional"):
        plain.sample(2, cond=y[:2])
    with pytest.raises(TypeError, match=r"g_terms\['l1'\] must be a pair \(weight, fn\)"):
        gan.variant("ns", g_terms={"l1": 100.0})
    with pytest.raises(ValueError, match="term name 'loss'"):
        gan.variant("ns", d_terms={"loss": (1.0, gan.l1_term)})
    b = gan.Batch(x, x, y, y)
    with pytest.raises(ValueError, match=r"returning \(scores, class_logits\)"):
        gan.aux_class_g_term(b)


def test_pix2pix_style_loader_of_target_input_pairs_without_z():
    torch.manual_seed(0)
    c = torch.randn(32, 2)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(3 * c, c), batch_size=8)  # (target, input)
    calls = []

    class PairD(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = mlp.discriminator(4, (8,))

        def forward(self, x, c):
            calls.append((x.shape, c.shape))
            return self.net(torch.cat([x, c], 1))

    v = gan.variant("ns", g_terms={"l1": (100.0, gan.l1_term)})
    tr = gan.Trainer(torch.nn.Linear(2, 2), PairD(), v, loader, latent_dim=None, device="cpu", log_every=2)
    assert tr.conditional and tr.latent_shape is None
    hist = tr.fit(4)
    assert len(hist["g_l1"]) == 2 and calls[0] == (torch.Size([8, 2]), torch.Size([8, 2]))


def test_detach_handles_dict_aux():
    from course_lib.gan import _detach
    t = torch.ones(2, requires_grad=True) * 2
    out = _detach({"a": t, "b": (t, [t])})
    assert not out["a"].requires_grad and not out["b"][0].requires_grad and not out["b"][1][0].requires_grad


def test_interrupted_gan_resumes_bit_for_bit(ckpt_dir):
    """Interrupted + resumed == uninterrupted: weights, EMA, sample grids and every logged value.

    The checkpoint holds the optimisers, the global random stream (z) and the minibatch draws'
    generator; the run is cut between two saves, so the resumed one replays the steps after the save.
    """
    class Stop(Exception):
        pass

    class Interrupt(gan.Callback):
        def after_g_step(self, trainer, step):
            if step == 23:                          # after the save at step 20 (log_every 5, every_s 0)
                raise Stop

    def make(*extra):
        torch.manual_seed(0)
        G, D = mlp.generator(4, 2, (16,)), mlp.discriminator(2, (16,))
        x = torch.randn(256, 2, generator=torch.Generator().manual_seed(5))
        return gan.Trainer(G, D, gan.variant("wgan-gp"), x, 4, 32, device="cpu", log_every=5, seed=3,
                           callbacks=[gan.EMA(0.9), gan.SampleGrid(10, n=8), gan.CosineDecay(40), *extra])

    straight = gan.load_or_train("gan-straight", make(), 40, every_s=0)
    with pytest.raises(Stop):
        gan.load_or_train("gan-resumed", make(Interrupt()), 40, every_s=0)
    assert checkpoints.load(ckpt_dir / "gan-resumed-smoke.pt")["step"] == 20
    torch.manual_seed(123)                          # a new session: another global stream, the same seeds
    trainer = make()
    torch.randn(7)
    resumed = gan.load_or_train("gan-resumed", trainer, 40, every_s=0)
    assert sorted(resumed.history) == sorted(straight.history)
    for k in straight.history:
        if k != "time":
            assert resumed.history[k] == straight.history[k], k
    for name, m in straight.trainer.modules().items():
        for a, b in zip(m.state_dict().values(), trainer.modules()[name].state_dict().values()):
            assert torch.equal(a, b), name
    assert torch.equal(resumed.extra["samples"], straight.extra["samples"])


def test_the_minibatch_stream_is_part_of_the_checkpoint(ckpt_dir):
    """Without the saved generator state, a resumed run would redraw the first minibatches."""
    G, D = mlp.generator(2, 2, (8,)), mlp.discriminator(2, (8,))
    tr = gan.Trainer(G, D, gan.variant("ns"), torch.randn(64, 2), 2, 8, device="cpu", log_every=5, seed=1)
    gan.load_or_train("stream", tr, 10)
    saved = checkpoints.load(ckpt_dir / "stream-smoke.pt")["optimizers"]["batches"]["state"]
    fresh = torch.Generator().manual_seed(1)
    torch.randint(64, (10 * 8,), generator=fresh)   # ten batches of eight drawn in one call: the same stream
    assert torch.equal(saved, fresh.get_state())


def test_a_latent_size_that_the_generator_does_not_take_fails_at_construction():
    G, D = dcgan.Generator(16, 1, 28, 8), dcgan.Discriminator(1, 28, 8)
    with pytest.raises(ValueError, match="built with latent_dim=16 but the trainer was given latent_dim=8"):
        gan.Trainer(G, D, gan.variant("ns"), torch.zeros(4, 1, 28, 28), 8, device="cpu")
    # a generator that does not declare its size is probed once, without touching the random stream
    G, D = mlp.generator(5, 2), mlp.discriminator(2)
    with pytest.raises(ValueError, match=r"cannot take z of shape \(B, 3\) \(latent_dim=3\)"):
        gan.Trainer(G, D, gan.variant("ns"), torch.zeros(4, 2), 3, device="cpu")
    state = torch.get_rng_state()
    gan.Trainer(G, D, gan.variant("ns"), torch.zeros(4, 2), 5, device="cpu")
    assert torch.equal(torch.get_rng_state(), state)


def _scaled_run(weight: float, term: float = 0.0) -> tuple[dict, torch.Tensor]:
    torch.manual_seed(0)
    G, D = mlp.generator(2, 2, (8,)), mlp.discriminator(2, (8,))
    terms = {"l1": (term, gan.l1_term)} if term else {}
    d_terms = {"zero": (1.0, lambda b: 0.0 * D(b.x_real).sum())} if weight == 0 else {}
    v = gan.variant("ns", adv_weight=weight, g_terms=terms, d_terms=d_terms, optimizer="rmsprop", lr_g=0.0)
    tr = gan.Trainer(G, D, v, torch.randn(64, 2), 2, 16, device="cpu", log_every=1)
    hist = tr.fit(1)
    return hist, torch.cat([p.grad.flatten() for p in G.parameters()])


def test_adv_weight_scales_the_generators_adversarial_loss_only():
    hist1, g1 = _scaled_run(1.0)
    hist3, g3 = _scaled_run(1e-3)
    assert torch.allclose(g3, 1e-3 * g1, rtol=1e-4, atol=1e-9)          # dL/dtheta_G scales with a
    assert hist3["g_loss"] == hist1["g_loss"] and hist3["d_loss"] == hist1["d_loss"]   # logged unweighted; D as before
    hist0, g0 = _scaled_run(0.0, term=1.0)                               # terms only: no adversarial loss at all
    _, g_l1 = _scaled_run(1e-12, term=1.0)
    assert hist0["d_loss"] == [0.0] and hist0["g_loss"] == [0.0] and "g_l1" in hist0
    assert torch.allclose(g0, g_l1, atol=1e-8)                           # only the L1 term reaches G
    with pytest.raises(ValueError, match="adv_weight must be a number >= 0"):
        gan.variant("ns", adv_weight=-1.0)
    with pytest.raises(ValueError, match="adv_weight=0 .* but no g_terms"):
        gan.variant("ns", adv_weight=0.0)


def test_ema_is_a_plain_callback_ready_when_the_trainer_is_built():
    ema = gan.EMA(0.5)
    with pytest.raises(RuntimeError, match="pass it to a gan.Trainer"):
        ema.modules()
    G, D = mlp.generator(2, 2, (8,)), mlp.discriminator(2, (8,))
    tr = gan.Trainer(G, D, gan.variant("ns"), torch.randn(64, 2), 2, 16, device="cpu", callbacks=[ema])
    assert set(tr.modules()) == {"generator", "discriminator", "generator_ema"}
    before = [p.clone() for p in ema.generator.parameters()]
    tr.fit(1)
    after = list(ema.generator.parameters())
    for b, a, g in zip(before, after, G.parameters()):
        assert torch.allclose(a, 0.5 * b + 0.5 * g.detach())


def test_ema_standing_stats_are_the_averaged_generators_own_batch_statistics():
    torch.manual_seed(0)
    G = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.BatchNorm1d(4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    D = mlp.discriminator(2, (8,))
    plain, standing = gan.EMA(0.9), gan.EMA(0.9, standing_stats=5)
    tr = gan.Trainer(G, D, gan.variant("ns"), torch.randn(64, 2), 2, 16, device="cpu", callbacks=[plain, standing])
    tr.fit(20)
    bn_g, bn_plain, bn_standing = G[1], plain.generator[1], standing.generator[1]
    assert torch.equal(bn_plain.running_mean, bn_g.running_mean)          # without: G's statistics, copied
    # with: the mean and (unbiased) variance of the averaged copy's own pre-norm activations, 5 batches of 16
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        h = torch.cat([standing.generator[0](torch.randn(16, 2, generator=rng)) for _ in range(5)])
    torch.testing.assert_close(bn_standing.running_mean, h.mean(0))
    torch.testing.assert_close(bn_standing.running_var, h.view(5, 16, 4).var(1).mean(0))
    assert not torch.allclose(bn_standing.running_mean, bn_g.running_mean, atol=1e-3)
    assert bn_standing.momentum == bn_g.momentum and standing.generator.training == plain.generator.training
    assert "standing_stats=5" in repr(standing)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="standing_stats must be a number of batches"):
            gan.EMA(0.9, standing_stats=bad)
    with pytest.raises(ValueError, match="needs a trainer with a latent z"):
        gan.Trainer(G, D, gan.variant("ns"), torch.randn(64, 2), None, 16, device="cpu", cond=torch.randn(64, 2),
                    discriminator_input=lambda x, c: (x,), callbacks=[gan.EMA(0.9, standing_stats=2)])


def test_the_course_dcgan_is_trained_once_and_leaves_the_random_stream_alone(ckpt_dir):
    state = torch.get_rng_state()
    run = gan.mnist_dcgan(frames=3, verbose=False)
    assert torch.equal(torch.get_rng_state(), state)
    s = gan.MNIST_DCGAN["smoke"]
    assert run.trainer.step == s["steps"] and run.extra["samples"].shape == (3, 16, 1, 28, 28)
    again = gan.mnist_dcgan(frames=3, verbose=False)                     # another notebook: loaded, same weights
    for a, b in zip(run.trainer.generator.parameters(), again.trainer.generator.parameters()):
        assert torch.equal(a, b)
    name = f"dcgan-mnist-s4-w{s['width']}-lrg{s['lr_g']:g}-lrd{s['lr_d']:g}-smoke.pt"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == [name]
    assert run.trainer.variant.lr_d == s["lr_d"] == run.trainer.variant.lr_g / 2 == s["lr_g"] / 2


def test_window_means_align_the_log_with_evaluations():
    # logged every 10 steps; evaluated every 20: each window averages its two entries
    steps, values = [10, 20, 30, 40, 50], [1.0, 3.0, 5.0, 7.0, 9.0]
    assert gan.window_means(steps, values, [20, 40]) == [2.0, 6.0]
    # same cadence: the entries themselves (what a run with log_every == every gives)
    assert gan.window_means(steps, values, [10, 20, 30]) == [1.0, 3.0, 5.0]
    # a shorter last log interval (the run's final step) weighs less: weights 10, 10, 5
    assert gan.window_means([10, 20, 25], [0.0, 5.0, 9.0], [25])[0] == pytest.approx((0 * 10 + 5 * 10 + 9 * 5) / 25)
    with pytest.raises(ValueError, match="no log entry"):
        gan.window_means(steps, values, [5])
    with pytest.raises(ValueError, match="at_steps must be > 0"):
        gan.window_means(steps, values, [0, 20])
    with pytest.raises(ValueError, match="aligned"):
        gan.window_means(steps, values[:3], [20])
    with pytest.raises(ValueError, match="strictly increasing"):
        gan.window_means(steps, values, [40, 20])


def test_window_means_of_a_trained_run_match_its_log():
    _, hist = _toy(gan.variant("ns"), steps=40, log_every=10)
    means = gan.window_means(hist["step"], hist["d_loss"], [20, 40])
    d = hist["d_loss"]
    assert means == pytest.approx([(d[0] + d[1]) / 2, (d[2] + d[3]) / 2])


def test_logged_d_accuracy_and_scores_are_means_over_the_log_interval():
    meter = gan._Meter()
    sure = torch.tensor([3.0, 2.0, 1.0, 4.0])
    for s_real, s_fake in ((sure, -sure), (-sure, sure), (sure, -sure), (sure[:2], -sure[:2].flip(0))):
        meter.scores(s_real, s_fake, 0.0)                  # accuracy 1, 0, 1, 1: mean 0.75 (the last alone: 1)
        meter.add({"d_loss": torch.tensor(float(len(meter.counts)))})    # 0, then 1, 1, 1 (one key)
    meter.add({"penalty": torch.tensor(3.0)})              # a lazy penalty, logged once in the interval
    logs = meter.read()
    assert logs["d_acc"] == pytest.approx(0.75)
    assert logs["d_real"] == pytest.approx((2.5 - 2.5 + 2.5 + 2.5) / 4)
    assert logs["d_fake"] == pytest.approx((-2.5 + 2.5 - 2.5 - 2.5) / 4)
    assert logs["d_loss"] == pytest.approx(3 / 4)            # a mean over the 4 steps that logged it
    assert logs["penalty"] == pytest.approx(3.0)            # over the 1 step that computed it
    meter.scores(-sure, sure, 0.0)                         # the next interval starts afresh
    assert meter.read()["d_acc"] == 0.0
