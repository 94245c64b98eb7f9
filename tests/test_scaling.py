"""Tests of course_lib.scaling and course_lib.nets.scaling (LAPGAN, progressive growing, BigGAN, StyleGAN)."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import gan, images, scaling
from course_lib.nets import scaling as nets


# ----------------------------------------------------------------------------------------
# LAPGAN sampler (the pyramid itself: tests/test_images.py)
# ----------------------------------------------------------------------------------------
def test_lapgan_sampler_levels_and_draws():
    torch.manual_seed(0)
    gens = [nets.LevelGenerator(1, width=8), nets.LevelGenerator(1, width=8)]
    coarse = torch.rand(2, 1, 8, 8)
    out = scaling.lapgan_sample(coarse, gens, draws=3, seed=0)
    assert out.shape == (6, 1, 32, 32)
    # untrained levels predict h = 0 (zero-initialised last conv): the sample is u(u(coarse))
    expect = images.upsample(images.upsample(coarse, 2, "bilinear"), 2, "bilinear").repeat_interleave(3, 0)
    assert torch.allclose(out, expect, atol=1e-6)


def test_lapgan_sampler_draws_differ_and_seed_repeats():
    torch.manual_seed(0)
    G = nets.LevelGenerator(1, width=8).eval()
    torch.nn.init.normal_(G.net[-1].weight, std=0.5)             # a level that uses its noise plane
    coarse = torch.rand(2, 1, 8, 8)
    out = scaling.lapgan_sample(coarse, [G], draws=3, seed=0)
    # rows b*draws ... b*draws + 2 share coarse image b but not their z: the draws differ
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[3], out[4])
    assert torch.equal(out, scaling.lapgan_sample(coarse, [G], draws=3, seed=0))
    assert not torch.equal(out, scaling.lapgan_sample(coarse, [G], draws=3, seed=1))
    with pytest.raises(ValueError, match="draws"):
        scaling.lapgan_sample(coarse, [G], draws=0)


def test_level_discriminator_sees_the_band():
    torch.manual_seed(0)
    D = nets.LevelDiscriminator(1, 16, width=8).eval()
    low, x = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    # D(x, l) depends on x only through h = x - l
    assert torch.allclose(D(x, low), D.net(torch.cat([x - low, low], 1)).reshape(-1))
    with pytest.raises(ValueError, match="16x16"):
        D(torch.rand(4, 1, 8, 8), low)


# ----------------------------------------------------------------------------------------
# Orthogonal regularisation
# ----------------------------------------------------------------------------------------
def test_orthogonal_regularisation_zero_on_orthogonal_and_positive_otherwise():
    q, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(0)))
    w = q[:5]                                         # 5 orthonormal rows of length 8
    assert scaling.orthogonal_regularisation(w, 1.0) < 1e-10
    assert scaling.orthogonal_regularisation(w, 1.0, full=True) < 1e-10
    # scaled rows stay orthogonal: the off-diagonal form ignores norms, the full one does not
    assert scaling.orthogonal_regularisation(3 * w, 1.0) < 1e-9
    assert scaling.orthogonal_regularisation(3 * w, 1.0, full=True) == pytest.approx(5 * 8 ** 2, rel=1e-4)
    r = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    assert scaling.orthogonal_regularisation(r, 1.0) > 0.1
    # closed form, and beta scales linearly
    gram = r @ r.T
    expect = (gram ** 2).sum() - (gram.diagonal() ** 2).sum()
    assert torch.allclose(scaling.orthogonal_regularisation(r, 1.0), expect, rtol=1e-5)
    assert torch.allclose(scaling.orthogonal_regularisation(r, 1e-4), 1e-4 * expect, rtol=1e-5)


def test_orthogonal_regularisation_gradient():
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2), requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: scaling.orthogonal_regularisation(t, 0.5), (w,))
    # BigGAN-PyTorch's closed-form gradient 2 beta (W W^T ⊙ (1 - I)) W * 2 (the mask is symmetric)
    (g,) = torch.autograd.grad(scaling.orthogonal_regularisation(w, 1.0), w)
    m = w.detach().reshape(4, -1)
    expect = 4 * ((m @ m.T) * (1 - torch.eye(4, dtype=torch.float64))) @ m
    assert torch.allclose(g.reshape(4, -1), expect)


def test_orthogonal_term_sums_the_network_weights_and_checks():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.ConvTranspose2d(6, 3, 2))
    term = scaling.orthogonal_term(net)
    expect = scaling.orthogonal_regularisation(net[0].weight, 1.0) + \
        scaling.orthogonal_regularisation(net[2].weight.transpose(0, 1), 1.0)
    assert torch.allclose(term(None), expect)
    with pytest.raises(ValueError, match="no Conv2d"):
        scaling.orthogonal_term(torch.nn.ReLU())
    with pytest.raises(ValueError, match="weight matrix"):
        scaling.orthogonal_regularisation(torch.randn(5), 1.0)


# ----------------------------------------------------------------------------------------
# Truncation
# ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("threshold", [0.1, 0.5, 2.0])
def test_truncated_normal_bounds_and_shape(threshold):
    z = scaling.truncated_normal((2000, 16), threshold, torch.Generator().manual_seed(0))
    assert z.shape == (2000, 16) and z.abs().max() <= threshold
    # a truncated N(0, 1) has std < threshold / sqrt(3) (the uniform's) and < 1
    assert z.std() < min(1.0, threshold / 3 ** 0.5 + 0.02)


def test_truncated_normal_matches_scipy_truncnorm_std():
    from scipy import stats

    z = scaling.truncated_normal(200_000, 1.0, torch.Generator().manual_seed(3))
    assert float(z.std()) == pytest.approx(stats.truncnorm(-1, 1).std(), abs=5e-3)


def test_truncation_none_and_errors():
    z = scaling.truncated_normal((4, 3), None, torch.Generator().manual_seed(0))
    assert torch.equal(z, torch.randn((4, 3), generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="threshold must be > 0"):
        scaling.truncated_normal(4, 0.0)
    w, avg = torch.randn(5, 3), torch.randn(3)
    assert torch.allclose(scaling.truncate_w(w, avg, 0.0), avg.expand(5, 3))
    assert torch.allclose(scaling.truncate_w(w, avg, 1.0), w)
    with pytest.raises(ValueError, match="w_dim"):
        scaling.truncate_w(w, torch.zeros(4), 0.5)


def test_pairwise_diversity():
    f = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert scaling.pairwise_diversity(f) == pytest.approx(5.0)
    assert scaling.pairwise_diversity(torch.ones(6, 3)) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        scaling.pairwise_diversity(torch.ones(1, 3))


# ----------------------------------------------------------------------------------------
# Progressive growing: fade-in
# ----------------------------------------------------------------------------------------
def test_fade_in_schedule():
    sched = [scaling.fade_in_schedule(s, 10, 4, 3) for s in (0, 9, 10, 12, 14, 19, 20, 22, 100)]
    assert sched == [(0, 1.0), (0, 1.0), (1, 0.0), (1, 0.5), (1, 1.0), (1, 1.0), (2, 0.0), (2, 0.5), (2, 1.0)]
    with pytest.raises(ValueError, match="must not exceed"):
        scaling.fade_in_schedule(0, 3, 4, 2)
    with pytest.raises(ValueError, match="step"):
        scaling.fade_in_schedule(-1, 3, 2, 2)


def test_generator_fade_in_alpha_0_is_old_path_and_1_new_path():
    torch.manual_seed(0)
    G = nets.ProgressiveGenerator(8, 1, 16, start=4, width=8)
    z = torch.randn(3, 8)
    G.stage, G.alpha = 0, 1.0
    old = G(z)
    G.stage, G.alpha = 1, 0.0
    assert torch.allclose(G(z), old, atol=1e-6)           # alpha = 0: only the upsampled old toRGB
    G.alpha = 1.0
    new = G(z)
    h = G.blocks[1](G.blocks[0](G.input(nets.PixelNorm()(z)).reshape(-1, 8, 4, 4)))
    assert torch.allclose(new, F.interpolate(torch.tanh(G.to_rgb[1](h)), scale_factor=2), atol=1e-6)
    G.alpha = 0.5
    assert G(z).shape == (3, 1, 16, 16) and not torch.allclose(G(z), new) and not torch.allclose(G(z), old)


def test_discriminator_fade_in_alpha_0_is_old_path_and_1_new_path():
    torch.manual_seed(0)
    D = nets.ProgressiveDiscriminator(1, 32, start=4, width=8)
    x = torch.rand(3, 1, 32, 32)
    D.stage, D.alpha = 1, 1.0
    old = D(x)
    D.stage, D.alpha = 2, 0.0
    assert torch.allclose(D(x), old, atol=1e-5)
    D.alpha = 1.0
    x16 = F.avg_pool2d(x, 2)
    expect = D.head(D.blocks[1](D.blocks[2](D.from_rgb[2](x16)))).reshape(-1)
    assert torch.allclose(D(x), expect, atol=1e-6)


def test_growing_bad_inputs():
    G = nets.ProgressiveGenerator(8, 1, 16, start=4, width=8)
    with pytest.raises(ValueError, match="stage must be"):
        G.stage = 3
    with pytest.raises(ValueError, match="alpha must be"):
        G.alpha = 1.5
    with pytest.raises(ValueError, match="power of 2"):
        nets.ProgressiveGenerator(8, 1, 24, start=5)


def test_fade_in_callback_sets_networks_through_the_engine():
    torch.manual_seed(0)
    G = nets.ProgressiveGenerator(8, 1, 16, start=4, width=8)
    D = nets.ProgressiveDiscriminator(1, 16, start=4, width=8)
    cb = scaling.FadeIn(stage_steps=4, fade_steps=2)
    trainer = gan.Trainer(G, D, gan.variant("ns"), torch.rand(32, 1, 16, 16) * 2 - 1, 8, batch_size=8,
                          callbacks=[cb], log_every=1)
    hist = trainer.fit(7)
    assert hist["stage"] == [0, 0, 0, 1, 1, 1, 1] and hist["alpha"][3:] == [0.0, 0.5, 1.0, 1.0]
    assert G.stage == D.stage == 1
    with pytest.raises(TypeError, match="growing networks"):
        cb.set(gan.Trainer(torch.nn.Linear(8, 4), torch.nn.Linear(4, 1), gan.variant("ns"), torch.rand(8, 4), 8), 0)


# ----------------------------------------------------------------------------------------
# StyleGAN
# ----------------------------------------------------------------------------------------
def test_adain_statistics():
    g = torch.Generator().manual_seed(0)
    x = 3 * torch.randn(4, 5, 8, 8, generator=g) + 2
    scale, bias = torch.rand(4, 5, generator=g) + 0.5, torch.randn(4, 5, generator=g)
    y = nets.adain(x, scale, bias)
    assert torch.allclose(y.mean((2, 3)), bias, atol=1e-5)
    assert torch.allclose(y.std((2, 3), unbiased=False), scale, atol=1e-4)
    # equals instance norm followed by the per-sample affine map
    expect = F.instance_norm(x, eps=1e-5) * scale[:, :, None, None] + bias[:, :, None, None]
    assert torch.allclose(y, expect, atol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        nets.adain(x, scale[:, :3], bias)


def test_mix_styles_uses_w1_for_coarse_layers():
    w1, w2 = torch.zeros(2, 3), torch.ones(2, 3)
    ws = scaling.mix_styles(w1, w2, crossover=2, num_layers=5)
    assert ws.shape == (2, 5, 3)
    assert (ws[:, :2] == 0).all() and (ws[:, 2:] == 1).all()
    assert (scaling.mix_styles(w1, w2, 0, 5) == 1).all() and (scaling.mix_styles(w1, w2, 5, 5) == 0).all()
    with pytest.raises(ValueError, match="crossover"):
        scaling.mix_styles(w1, w2, 6, 5)
    with pytest.raises(ValueError, match="same shape"):
        scaling.mix_styles(w1, torch.ones(3, 3), 1, 5)


def test_style_generator_mixing_and_noise():
    torch.manual_seed(0)
    G = nets.StyleGenerator(8, 8, 1, 16, width=8, mapping_layers=2).eval()
    assert G.num_layers == 6 and G.layer_resolutions == [4, 4, 8, 8, 16, 16]
    z1, z2 = torch.randn(2, 8), torch.randn(2, 8)
    w1, w2 = G.mapping(z1), G.mapping(z2)
    x1 = G.synthesis(w1, noise="const")
    # crossover = num_layers: only w1 is used, w2 has no influence
    assert torch.allclose(G.synthesis(scaling.mix_styles(w1, w2, 6, 6), noise="const"), x1, atol=1e-6)
    # the style layers see w1 on the coarse layers (< crossover) and w2 after it
    seen = []
    hooks = [layer.affine.register_forward_hook(lambda m, i, o: seen.append(i[0])) for layer in G.layers]
    G.synthesis(scaling.mix_styles(w1, w2, 2, 6), noise="const")
    for h in hooks:
        h.remove()
    assert all(torch.equal(s, w1) for s in seen[:2]) and all(torch.equal(s, w2) for s in seen[2:])
    # noise scales start at zero: random and const noise agree until they are trained
    assert torch.allclose(G.synthesis(w1, noise="random"), x1)
    for layer in G.layers:
        torch.nn.init.constant_(layer.noise_scale, 0.5)
    assert not torch.allclose(G.synthesis(w1, noise="random"), G.synthesis(w1, noise="const"))
    assert torch.allclose(G.synthesis(w1, noise="const"), G.synthesis(w1, noise="const"))
    with pytest.raises(ValueError, match="noise"):
        G.synthesis(w1, noise="fresh")
    with pytest.raises(ValueError, match=r"\(B, 6, 8\)"):
        G.synthesis(torch.zeros(2, 5, 8))


def test_style_generator_trains_through_the_engine_and_tracks_w_avg():
    torch.manual_seed(0)
    G = nets.StyleGenerator(8, 8, 1, 8, width=8, mapping_layers=2)
    D = nets.ProgressiveDiscriminator(1, 8, start=4, width=8)
    trainer = gan.Trainer(G, D, gan.variant("ns"), torch.rand(32, 1, 8, 8) * 2 - 1, 8, batch_size=8, log_every=2)
    trainer.fit(2)
    assert G.w_avg.abs().sum() > 0
    assert trainer.sample(4).shape == (4, 1, 8, 8)


def test_style_generator_per_resolution_widths_and_mapping_rate():
    torch.manual_seed(0)
    G = nets.StyleGenerator(8, 8, 1, 16, width=(12, 8, 4), mapping_layers=2, mapping_lr_mul=1.0)
    assert [layer.out_channels for layer in G.layers] == [12, 12, 8, 8, 4, 4]
    assert G.const.shape == (1, 12, 4, 4) and G.to_rgb.in_channels == 4
    assert G(torch.randn(3, 8)).shape == (3, 1, 16, 16)
    assert all(m.lr_mul == 1.0 for m in G.mapping.modules() if isinstance(m, nets.EqualizedLinear))
    # the multiplier changes the mapping's learning rate, not its function at initialisation
    torch.manual_seed(0)
    slow = nets.StyleGenerator(8, 8, 1, 16, width=(12, 8, 4), mapping_layers=2)
    z = torch.randn(3, 8)
    assert torch.allclose(slow.mapping(z), G.mapping(z), atol=1e-5)
    assert all(m.lr_mul == 0.01 for m in slow.mapping.modules() if isinstance(m, nets.EqualizedLinear))
    with pytest.raises(ValueError, match="one per resolution"):
        nets.StyleGenerator(8, 8, 1, 16, width=(12, 8))
    with pytest.raises(ValueError, match="positive"):
        nets.StyleGenerator(8, 8, 1, 16, width=(12, 0, 4))
    with pytest.raises(ValueError, match="positive int"):
        nets.StyleGenerator(8, 8, 1, 16, width=8.0)


def test_style_mixing_grid_layout():
    torch.manual_seed(0)
    G = nets.StyleGenerator(8, 8, 1, 8, width=8, mapping_layers=2).eval()
    wr, wc = G.mapping(torch.randn(2, 8)), G.mapping(torch.randn(3, 8))
    grid = scaling.style_mixing_grid(G, wr, wc, crossover=G.num_layers)
    assert grid.shape == (12, 1, 8, 8) and (grid[0] == -1).all()
    assert torch.allclose(grid[1:4], G.synthesis(wc, "const"), atol=1e-6)
    # crossover = num_layers: every cell is its row source
    assert torch.allclose(grid[5], grid[4], atol=1e-6) and torch.allclose(grid[7], grid[4], atol=1e-6)
    grid0 = scaling.style_mixing_grid(G, wr, wc, crossover=0)     # crossover 0: every cell is its column source
    assert torch.allclose(grid0[9:12], grid0[1:4], atol=1e-6)


def test_equalized_linear_lr_mul_slows_adam():
    torch.manual_seed(0)
    fast, slow = nets.EqualizedLinear(8, 4, lr_mul=1.0), nets.EqualizedLinear(8, 4, lr_mul=0.01)
    x = torch.randn(16, 8)
    for layer in (fast, slow):                                    # unit-variance outputs at init, whatever lr_mul
        assert 0.5 < layer(x).std() < 2.0
    changes = []
    for layer in (fast, slow):
        before = (layer.weight * layer.scale).detach().clone()
        opt = torch.optim.Adam(layer.parameters(), lr=1e-3)
        layer(x).pow(2).mean().backward()
        opt.step()
        changes.append(((layer.weight * layer.scale).detach() - before).abs().max())
    assert torch.allclose(changes[1] / changes[0], torch.tensor(0.01), rtol=0.05)
    with pytest.raises(ValueError, match="lr_mul"):
        nets.EqualizedLinear(2, 2, lr_mul=0.0)


# ----------------------------------------------------------------------------------------
# Stabilisers: equalised learning rate, minibatch std, R1, EMA under FadeIn
# ----------------------------------------------------------------------------------------
def test_equalized_conv_is_a_conv_with_a_runtime_scale():
    torch.manual_seed(0)
    conv = nets.EqualizedConv2d(8, 4, 3, padding=1)
    assert isinstance(conv, torch.nn.Conv2d)                       # autocast / regularisers see a convolution
    x = torch.randn(16, 8, 10, 10)
    assert torch.allclose(conv(x), F.conv2d(x, conv.weight * conv.scale, conv.bias, padding=1), atol=1e-6)
    assert conv.scale == pytest.approx(2 ** 0.5 / (8 * 9) ** 0.5)
    assert 0.9 < float(conv.weight.detach().std()) < 1.1                     # unit-variance stored weights
    # He's gain: a LeakyReLU-free unit-gain conv keeps the input variance
    with torch.no_grad():
        assert 0.7 < float(nets.EqualizedConv2d(8, 64, 3, padding=1, gain=1.0)(x).std()) < 1.3


def test_minibatch_std_appends_the_group_std():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 4, 4, generator=g)
    y = nets.MinibatchStd(4)(x)
    assert y.shape == (8, 4, 4, 4) and torch.equal(y[:, :3], x)
    groups = x.reshape(4, 2, 3, 4, 4)                              # sample i*2 + m is in group m
    expect = groups.std(0, unbiased=False).mean((1, 2, 3))
    assert torch.allclose(y[:, 3, 0, 0], expect.repeat(4), atol=1e-4)
    assert (y[:, 3] == y[:, 3, :1, :1]).all()                      # constant over the map
    same = nets.MinibatchStd(4)(x[:1].expand(8, -1, -1, -1))
    assert same[:, 3].abs().max() < 1e-3                           # no variety, no std
    assert nets.MinibatchStd(4)(x[:6]).shape == (6, 4, 4, 4)       # 6 = 3 groups of 2


def test_coarse_discriminator_sees_the_batch_and_checks():
    torch.manual_seed(0)
    D = nets.CoarseDiscriminator(1, 8, hidden=16).eval()
    x = torch.rand(4, 1, 8, 8)
    other = torch.cat([x[:1], torch.rand(3, 1, 8, 8)])
    assert not torch.allclose(D(x)[0], D(other)[0])                 # the same image, another batch: another score
    per_sample = nets.CoarseDiscriminator(1, 8, hidden=16, minibatch_std=False).eval()
    assert torch.allclose(per_sample(x)[0], per_sample(other)[0])
    with pytest.raises(ValueError, match="at least 2"):
        D(x[:1])
    G = nets.CoarseGenerator(4, 1, 8, hidden=16)
    assert any(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules())
    assert G.eval()(torch.randn(3, 4)).shape == (3, 1, 8, 8)


def test_progressive_discriminator_minibatch_std_switch():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 16, 16)
    other = torch.cat([x[:1], torch.rand(3, 1, 16, 16)])
    D = nets.ProgressiveDiscriminator(1, 16, start=4, width=8)
    assert any(isinstance(m, nets.MinibatchStd) for m in D.modules())
    assert not torch.allclose(D(x)[0], D(other)[0])
    D0 = nets.ProgressiveDiscriminator(1, 16, start=4, width=8, minibatch_std=False)
    assert torch.allclose(D0(x)[0], D0(other)[0], atol=1e-6)


def test_r1_penalty_closed_forms_and_gradient():
    a = torch.tensor([1.0, -2.0, 2.0])
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    assert float(scaling.r1_penalty(lambda t: t @ a, x)) == pytest.approx(9.0)           # linear D: ||a||^2
    assert torch.allclose(scaling.r1_penalty(lambda t: 0.5 * (t ** 2).sum(1), x),      # D = |x|^2/2: E|x|^2
                          (x ** 2).sum(1).mean())
    lin = torch.nn.Linear(3, 1)
    scaling.r1_penalty(lin, x).backward()                          # double back-propagation reaches D's weights
    assert torch.allclose(lin.weight.grad, 2 * lin.weight.detach())
    assert not x.requires_grad


def test_r1_penalty_through_the_engine():
    torch.manual_seed(0)
    G = nets.StyleGenerator(8, 8, 1, 8, width=8, mapping_layers=2)
    D = nets.ProgressiveDiscriminator(1, 8, start=4, width=8)
    v = gan.variant("ns", penalty=scaling.r1_penalty, penalty_weight=5.0)
    hist = gan.Trainer(G, D, v, torch.rand(32, 1, 8, 8) * 2 - 1, 8, batch_size=8, log_every=1).fit(2)
    assert len(hist["penalty"]) == 2 and all(p > 0 for p in hist["penalty"])


def test_fade_in_grows_the_ema_generator():
    torch.manual_seed(0)
    G = nets.ProgressiveGenerator(8, 1, 16, start=4, width=8)
    D = nets.ProgressiveDiscriminator(1, 16, start=4, width=8)
    ema = gan.EMA(0.9)
    trainer = gan.Trainer(G, D, gan.variant("ns"), torch.rand(32, 1, 16, 16) * 2 - 1, 8, batch_size=8,
                          callbacks=[scaling.FadeIn(stage_steps=3, fade_steps=2), ema], log_every=1)
    trainer.fit(4)
    assert (ema.generator.stage, ema.generator.alpha) == (G.stage, G.alpha) == (1, 0.5)
    assert trainer.sample(2, ema=True).shape == (2, 1, 16, 16)


# ----------------------------------------------------------------------------------------
# Truncation sweep and the style-mixing agreement
# ----------------------------------------------------------------------------------------
class _Identity(torch.nn.Module):
    """A 'generator' that returns z and remembers its mode: the sweep's latents become visible."""

    def __init__(self):
        super().__init__()
        self.p = torch.nn.Parameter(torch.zeros(1))
        self.modes = []

    def forward(self, z):
        self.modes.append(self.training)
        return z + 0 * self.p


def test_truncation_sweep_psi_and_threshold():
    G = _Identity().train()
    norm = lambda x: {"norm": float(x.norm(dim=1).mean()), "maxabs": float(x.abs().max())}
    rows = scaling.truncation_sweep(G, 16, [None, 0.5, 0.0], norm, n=300, seed=3, batch_size=128)
    assert [r["psi"] for r in rows] == [None, 0.5, 0.0]
    assert rows[1]["norm"] == pytest.approx(0.5 * rows[0]["norm"], rel=1e-6)            # z' = psi z, same z
    assert rows[2]["norm"] == 0.0
    assert G.training and not any(G.modes)                          # sampled in eval mode, mode restored
    rows = scaling.truncation_sweep(G, 16, [1.0, None], norm, n=200, kind="threshold")
    assert rows[0]["maxabs"] <= 1.0 < rows[1]["maxabs"]
    with pytest.raises(ValueError, match="psi must be in"):
        scaling.truncation_sweep(G, 16, [1.5], norm, n=10)
    with pytest.raises(ValueError, match="threshold must be > 0"):
        scaling.truncation_sweep(G, 16, [0.0], norm, n=10, kind="threshold")
    with pytest.raises(ValueError, match="kind"):
        scaling.truncation_sweep(G, 16, [0.5], norm, n=10, kind="clip")


class _StubStyle(torch.nn.Module):
    """A 'StyleGenerator' whose image is one pixel: layer ``decides``'s w[0] (the class is its sign)."""

    num_layers, layer_resolutions, latent_dim = 4, [4, 4, 8, 8], 2

    def __init__(self, decides: int):
        super().__init__()
        self.p, self.decides = torch.nn.Parameter(torch.zeros(1)), decides
        self.mapping = torch.nn.Identity()

    def synthesis(self, ws, noise="const"):
        ws = ws[:, None].expand(-1, self.num_layers, -1) if ws.ndim == 2 else ws
        return ws[:, self.decides, :1, None, None]                 # (B, 1, 1, 1)


def _sign_classifier(x):
    pos = (x.reshape(len(x)) > 0).double()
    return torch.stack([1 - pos, pos], 1)                          # one-hot: always confident


def test_style_mixing_agreement_counts_mixes_in_a_class():
    coarse = scaling.style_mixing_agreement(_StubStyle(decides=0), _sign_classifier, 50, crossover=2, seed=1)
    assert coarse["agreement"] == 1.0 and coarse["agreement_b"] == 0.0 and coarse["n_pairs"] == 50
    assert coarse["n_drawn"] >= 100                                 # ~half the pairs have different classes
    fine = scaling.style_mixing_agreement(_StubStyle(decides=3), _sign_classifier, 50, crossover=2, seed=1)
    assert fine["agreement"] == 0.0 and fine["agreement_b"] == 1.0
    # the default crossover is the number of layers at 8x8 or coarser: all 4 here -> not a mix
    with pytest.raises(ValueError, match="crossover"):
        scaling.style_mixing_agreement(_StubStyle(0), _sign_classifier, 10)
    unsure = lambda x: torch.full((len(x), 2), 0.5, dtype=torch.float64)
    none = scaling.style_mixing_agreement(_StubStyle(0), unsure, 10, crossover=2, max_draws=2)
    assert none["n_pairs"] == 0 and none["n_drawn"] == 20 and none["agreement"] != none["agreement"]   # NaN


def test_style_mixing_agreement_on_a_style_generator():
    torch.manual_seed(0)
    G = nets.StyleGenerator(8, 8, 1, 16, width=8, mapping_layers=2).train()
    probs = lambda x: torch.softmax(torch.stack([x.mean((1, 2, 3)), -x.mean((1, 2, 3))], 1) * 1e4, 1)
    r = scaling.style_mixing_agreement(G, probs, 20, min_confidence=0.6)
    assert 0.0 <= r["agreement"] <= 1.0 and r["n_pairs"] <= 20 and G.training
