"""course_lib.gan: the one adversarial loop (variants as data, callbacks, guards, checkpoints)."""

from __future__ import annotations

import pytest
import torch

from course_lib import data, gan, losses
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


def test_n_critic_counts_discriminator_steps():
    class Count(gan.Callback):
        d = g = 0

        def after_d_step(self, trainer):
            Count.d += 1

        def after_g_step(self, trainer, step):
            Count.g += 1

    _toy(gan.variant("ns", n_critic=3), steps=7, callbacks=[Count()])
    assert (Count.d, Count.g) == (21, 7)


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
    with pytest.raises(ValueError, match="amp=True needs a CUDA"):
        gan.Trainer(mlp.generator(1, 1), mlp.discriminator(1), gan.variant("ns"), torch.zeros(4, 1), 1,
                    device="cpu", amp=True)


def test_toy_figures():
    img = gan.density_image(torch.zeros(10, 2))
    assert img.shape == (1, 64, 64) and float(img.min()) == 0.0 and float(img.max()) == 1.0
    x = torch.linspace(0, 1, 5)
    fig = gan.curve_strip(x, [{"a": x}, {"a": x ** 2}], ["one", "two"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="2 frames but 1 titles"):
        gan.curve_strip(x, [{"a": x}, {"a": x}], ["one"])
    D = mlp.discriminator(2, (8,))
    pts = torch.randn(50, 2)
    fig = gan.plot_decision_boundaries({"D": lambda p: torch.sigmoid(D(p))}, pts, pts, n=20)
    assert len(fig.axes) == 2                     # panel + colour bar
    assert len(gan.plot_xy({"s": ([1, 2], [3, 4])}, "x", "y").axes) == 1
