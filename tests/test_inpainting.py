import math

import pytest
import torch

from course_lib import gan, images, inpainting, quality
from course_lib.nets import image2image as i2i
from course_lib.nets import inpainting as inets


# ---------------------------------------------------------------------------- masks
def test_centre_mask_shape_and_fraction():
    m = inpainting.centre_mask(3, 32, 16)
    assert m.shape == (3, 1, 32, 32)
    assert set(m.unique().tolist()) == {0.0, 1.0}
    assert m.mean().item() == pytest.approx(0.25)
    assert m[0, 0, 8:24, 8:24].all() and m[0, 0, :8].sum() == 0
    assert inpainting.bounding_box(m[0]) == (8, 24, 8, 24)


def test_random_squares_fraction_position_and_determinism():
    m = inpainting.random_squares(200, 32, 12, count=1, seed=3)
    assert m.shape == (200, 1, 32, 32)
    assert torch.allclose(m.sum((1, 2, 3)), torch.full((200,), 144.0))   # one square: exactly hole^2 pixels
    for mi in m[:20]:
        t, b, l, r = inpainting.bounding_box(mi)
        assert (b - t, r - l) == (12, 12)
    assert torch.equal(m, inpainting.random_squares(200, 32, 12, count=1, seed=3))
    assert not torch.equal(m, inpainting.random_squares(200, 32, 12, count=1, seed=4))
    assert m.mean((0, 1)).std() < 0.2            # positions spread over the image
    m3 = inpainting.random_squares(50, 32, 8, count=3, seed=0)
    frac = m3.mean((1, 2, 3))
    assert (frac >= 64 / 1024 - 1e-6).all() and (frac <= 3 * 64 / 1024 + 1e-6).all()
    g = torch.Generator().manual_seed(7)         # a generator continues a stream: two draws differ
    assert not torch.equal(inpainting.random_squares(4, 32, 8, seed=g), inpainting.random_squares(4, 32, 8, seed=g))


def test_random_strokes_are_thick_connected_and_seeded():
    m = inpainting.random_strokes(64, 32, strokes=2, width=3.0, seed=0)
    assert m.shape == (64, 1, 32, 32) and set(m.unique().tolist()) <= {0.0, 1.0}
    frac = m.mean((1, 2, 3))
    assert (frac > 0.01).all() and (frac < 0.5).all()
    assert torch.equal(m, inpainting.random_strokes(64, 32, strokes=2, width=3.0, seed=0))
    wider = inpainting.random_strokes(64, 32, strokes=2, width=6.0, seed=0)
    assert wider.mean() > m.mean() and (wider >= m).all()    # same paths, wider brush covers a superset
    from scipy import ndimage

    one = inpainting.random_strokes(16, 32, strokes=1, width=3.0, seed=1)
    assert all(ndimage.label(mi[0].numpy())[1] == 1 for mi in one)    # one stroke = one connected blob


def test_masks_dispatch_and_bad_inputs():
    assert torch.equal(inpainting.masks("centre", 2, 32, hole=16), inpainting.centre_mask(2, 32, 16))
    with pytest.raises(ValueError, match="unknown mask kind"):
        inpainting.masks("circle", 2, 32)
    with pytest.raises(ValueError, match="smaller than the image size"):
        inpainting.centre_mask(1, 16, 16)
    with pytest.raises(ValueError, match="width must be in"):
        inpainting.random_strokes(1, 32, width=40)
    with pytest.raises(TypeError, match="seed must be an int"):
        inpainting.random_squares(1, 32, 8, seed=0.5)
    with pytest.raises(TypeError):
        inpainting.RandomMasker("squares", 32, hole=8, strokes=3)      # wrong keyword fails at construction


def test_masked_input_and_random_masker():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    m = inpainting.random_squares(4, 16, 6, seed=0)
    c = inpainting.masked_input(x, m, fill=0.5)
    assert c.shape == (4, 4, 16, 16)
    assert torch.equal(inpainting.mask_of(c), m)
    assert torch.equal(c[:, :3][m.expand(-1, 3, -1, -1) > 0], torch.full((4 * 3 * 36,), 0.5))
    assert torch.equal(c[:, :3] * (1 - m), x * (1 - m))
    assert inpainting.masked_input(x, inpainting.centre_mask(1, 16, 8)).shape == (4, 4, 16, 16)  # broadcast
    with pytest.raises(ValueError, match="mask must have shape"):
        inpainting.masked_input(x, torch.ones(4, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        inpainting.masked_input(x[0], m)
    masker = inpainting.RandomMasker("squares", 16, seed=1, hole=6)
    c1, c2 = masker(x), masker(x)
    assert c1.shape == (4, 4, 16, 16) and not torch.equal(c1, c2)          # a fresh mask per batch
    assert torch.equal(c1, inpainting.RandomMasker("squares", 16, seed=1, hole=6)(x))   # reproducible stream


# ---------------------------------------------------------------------------- losses
def test_hole_loss_is_zero_outside_the_hole_and_matches_a_direct_mean():
    torch.manual_seed(0)
    x, x_fake = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    m = inpainting.centre_mask(2, 8, 4)
    for p in (1, 2):
        ref = ((x_fake - x).abs() ** p)[:, :, 2:6, 2:6].mean()
        assert torch.allclose(inpainting.hole_loss(x_fake, x, m, p), ref)
        changed = x_fake + 5 * (1 - m)                                     # only the known pixels change
        assert torch.allclose(inpainting.hole_loss(changed, x, m, p), ref)
    filled = x * (1 - m) + x_fake * m
    assert torch.allclose(inpainting.hole_loss(filled, x, m, 2), inpainting.hole_loss(x_fake, x, m, 2))
    x_fake.requires_grad_(True)
    inpainting.hole_loss(x_fake, x, m).backward()
    assert (x_fake.grad * (1 - m)).abs().max() == 0 and (x_fake.grad * m).abs().sum() > 0
    with pytest.raises(ValueError, match="p must be 1"):
        inpainting.hole_loss(x, x, m, p=3)
    with pytest.raises(ValueError, match="same shape"):
        inpainting.hole_loss(x[:, :1], x, m)


def test_objective_terms_weights_and_heads():
    v = inpainting.objective((0.995, "l1"), {"global": 0.0025, "patch": 0.0025})
    assert {k: w for k, (w, _) in v.g_terms.items()} == {"rec": 0.995, "global": 0.0025, "patch": 0.0025}
    assert {k: w for k, (w, _) in v.d_terms.items()} == {"global": 1.0, "patch": 1.0}
    assert v.adv_weight == 0.0 and v.name == "rec+global+patch"          # no adversarial loss besides the heads
    ns = gan.variant("ns")
    assert (v.d_loss, v.g_loss, v.betas, v.lr_d, v.lr_g) == (ns.d_loss, ns.g_loss, ns.betas, 2e-4, 2e-4)
    v1 = inpainting.objective((1.0, "l1"), {"global": 0.0, "patch": 0.01}, lr_g=1e-3)
    assert set(v1.d_terms) == {"patch"} and set(v1.g_terms) == {"rec", "patch"} and v1.lr_g == 1e-3
    x, m = torch.rand(2, 3, 8, 8), inpainting.centre_mask(2, 8, 4)
    c = inpainting.masked_input(x, m)
    heads_real = {"global": torch.full((2,), 3.0), "patch": torch.zeros(2, 1, 3, 3)}
    heads_fake = {"global": torch.full((2,), -1.0), "patch": torch.zeros(2, 1, 3, 3)}
    b = gan.Batch(x, x * 0.5, c, c, aux_real=heads_real, aux_fake=heads_fake)
    sp = torch.nn.functional.softplus
    assert torch.allclose(v.g_terms["global"][1](b), sp(torch.tensor(1.0)))              # -log sigmoid(-1)
    assert torch.allclose(v.d_terms["global"][1](b), sp(torch.tensor(-3.0)) + sp(torch.tensor(-1.0)))
    assert torch.allclose(v.g_terms["patch"][1](b), torch.log(torch.tensor(2.0)))
    assert torch.allclose(v.g_terms["rec"][1](b), (0.5 * x * m).abs().sum() / (3 * m.sum()))
    with pytest.raises(ValueError, match="EngineHeads"):
        v.g_terms["global"][1](gan.Batch(x, x, c, c, aux_fake=torch.zeros(2)))
    with pytest.raises(ValueError, match="unknown reconstruction loss"):
        inpainting.objective((1.0, "l3"))
    with pytest.raises(ValueError, match=">= 0"):
        inpainting.objective((1.0, "l1"), {"patch": -1.0})
    for rec_only in ({}, {"adv": 0.0}):                   # nothing adversarial: not a GAN, no variant
        with pytest.raises(ValueError, match="fit_reconstruction"):
            inpainting.objective((1.0, "l2"), rec_only)
    with pytest.raises(ValueError, match="adv_weight"):
        inpainting.objective((1.0, "l2"), {"adv": 0.001}, adv_weight=1.0)


# ---------------------------------------------------------------------------- networks
def test_channel_wise_fc_matches_a_loop_and_mixes_no_channels():
    torch.manual_seed(0)
    layer = inets.ChannelWiseFC(3, 4)
    x = torch.randn(2, 3, 4, 4)
    y = layer(x)
    for c in range(3):
        ref = x[:, c].reshape(2, 16) @ layer.weight[c].T + layer.bias[c]
        assert torch.allclose(y[:, c].reshape(2, 16), ref, atol=1e-5)
    x2 = x.clone()
    x2[:, 1] += 1.0                                                        # change channel 1 only
    d = (layer(x2) - y).abs().sum((0, 2, 3))
    assert d[0] == 0 and d[2] == 0 and d[1] > 0
    assert sum(p.numel() for p in layer.parameters()) == 3 * 16 * 16 + 3 * 16
    with pytest.raises(ValueError, match="built for 4x4"):
        layer(torch.randn(2, 3, 8, 8))


def test_context_encoder_keeps_the_context_and_sees_everything():
    torch.manual_seed(0)
    net = inets.ContextEncoder(4, 3, image_size=32, hole=16, width=8)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    m = inpainting.centre_mask(2, 32, 16)
    c = inpainting.masked_input(x, m).requires_grad_(True)
    out = net(c)
    assert out.shape == (2, 3, 32, 32) and net.centre(c).shape == (2, 3, 16, 16)
    assert torch.equal(out * (1 - m), x * (1 - m))
    assert torch.allclose(images.center_crop(out, 16), net.centre(c))
    out[0, :, 8, 8].sum().backward()                                        # one hole pixel, top-left corner
    seen = c.grad[0, :3].abs().sum(0) > 0
    assert seen[31, 31] and seen[0, 31] and seen[31, 0]                     # the FC layer reaches far corners
    with pytest.raises(ValueError, match="power of two"):
        inets.ContextEncoder(4, 3, image_size=32, hole=12)
    with pytest.raises(ValueError, match="built for 32x32"):
        net(torch.zeros(1, 4, 64, 64))


def test_composite_and_two_head_discriminator_through_the_engine():
    torch.manual_seed(0)
    G = inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1))
    x = torch.rand(16, 3, 16, 16) * 2 - 1
    c = inpainting.masked_input(x, inpainting.random_squares(16, 16, 6, seed=0))
    m = inpainting.mask_of(c)
    assert torch.equal(G(c) * (1 - m), x * (1 - m))
    D2 = inets.pg_discriminator(3, 16, width=4)
    s_global, s_patch = D2(x)
    assert s_global.shape == (16,) and s_patch.shape == (16, 1, 6, 6)
    assert i2i.receptive_field(torch.nn.Sequential(D2.trunk, D2.patch_head)) == 16
    heads = inets.EngineHeads(D2, ("global", "patch"))
    scores, aux = heads(x)
    assert scores.shape == (16,) and set(aux) == {"global", "patch"}
    with pytest.raises(ValueError, match="returned 2 heads"):
        inets.EngineHeads(D2, ("global",))(x)
    v = inpainting.objective((0.99, "l1"), {"global": 0.005, "patch": 0.005})
    trainer = gan.Trainer(G, heads, v, x, None, 8, cond=inpainting.RandomMasker("squares", 16, hole=6),
                          discriminator_input=lambda xx, cc: (xx,), log_every=2)
    hist = trainer.fit(2)
    for k in ("g_rec", "g_global", "g_patch", "d_global", "d_patch"):
        assert k in hist and all(torch.isfinite(torch.tensor(hist[k])))
    assert hist["g_loss"][-1] == hist["d_loss"][-1] == 0.0                  # adv_weight=0: no loss besides the heads


def test_fit_reconstruction_trains_the_generator_alone_on_the_engines_batches(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CPU_BF16", "0")          # compared with a float32 forward pass below
    torch.manual_seed(0)
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    G = inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1))
    G0 = {k: t.clone() for k, t in G.state_dict().items()}
    seen = []

    def masker(xb):                                  # records the batches it masks
        seen.append(xb.clone())
        return inpainting.masked_input(xb, inpainting.centre_mask(1, 16, 8))

    fit = inpainting.fit_reconstruction(None, G, x, masker, 3, rec="l2", batch_size=4, seed=5, device="cpu")
    assert len(fit.history["rec"]) == 3 and len(seen) == 3
    g = torch.Generator().manual_seed(5)             # the engine's draw: randint(N, (B,)) from gan.Trainer's seed
    for xb in seen:
        assert torch.equal(xb, x[torch.randint(6, (4,), generator=g)])
    assert any(not torch.equal(G0[k], t) for k, t in G.state_dict().items())
    # the first logged loss is L2 in the hole of the untrained generator on the first batch
    G.load_state_dict(G0)
    c = masker(seen[0])
    with torch.no_grad():
        first = inpainting.hole_loss(G(c), seen[0], inpainting.mask_of(c), p=2)
    assert fit.history["rec"][0] == pytest.approx(float(first), rel=1e-5)
    # cached by name: the second call loads instead of training
    kw = {"rec": "l1", "batch_size": 64, "device": "cpu", "directory": tmp_path, "verbose": False}
    seen.clear()
    first_fit = inpainting.fit_reconstruction("rec", G, x, masker, 4, **kw)
    assert not first_fit.loaded and len(first_fit.history["rec"]) == 4
    assert [len(xb) for xb in seen] == [6] * 4                        # batch_size 64 capped at N, as the engine
    assert inpainting.fit_reconstruction("rec", G, x, masker, 4, **kw).loaded and len(seen) == 4
    with pytest.raises(ValueError, match="unknown reconstruction loss"):
        inpainting.fit_reconstruction(None, G, x, masker, 1, rec="l3")


def test_reconstruction_overfits_one_batch():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    m = inpainting.centre_mask(4, 16, 8)
    c = inpainting.masked_input(x, m)
    G = inets.ContextEncoder(4, 3, image_size=16, hole=8, width=16)
    opt = torch.optim.Adam(G.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        loss = inpainting.hole_loss(G(c), x, m, 2)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


# ---------------------------------------------------------------------------- metrics
def test_hole_metrics_against_restoration_and_crops():
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 32)
    m = inpainting.centre_mask(3, 32, 16)
    noisy = (x + 0.1 * torch.randn_like(x) * m).clamp(0, 1)
    r = inpainting.hole_metrics(noisy, x, m)
    crop = lambda t: t[..., 8:24, 8:24]
    assert r["PSNR per image"] == pytest.approx(quality.psnr(crop(noisy), crop(x)))
    mse = ((crop(noisy).double() - crop(x).double()) ** 2).mean()             # pooled over all hole values
    assert r["PSNR"] == pytest.approx(float(10 * torch.log10(1 / mse)))
    assert r["SSIM"] == pytest.approx(quality.ssim(crop(noisy), crop(x)))
    assert inpainting.hole_metrics(x, x, m)["SSIM"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        inpainting.hole_metrics(noisy * 2 - 1, x, m)


def test_inpaint_and_biharmonic_keep_known_pixels():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16)
    m = inpainting.random_squares(2, 16, 6, seed=0)
    G = inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1))
    out = inpainting.inpaint(G, x, m)
    assert out.shape == x.shape and torch.allclose(out * (1 - m), x * (1 - m))
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16).expand(2, 3, 16, 16).contiguous()
    bi = inpainting.biharmonic(ramp, m)                                     # a linear ramp is biharmonic
    assert torch.allclose(bi, ramp, atol=1e-3)


def test_hole_psnr_is_capped_for_exact_fills():
    x = torch.ones(2, 3, 16, 16)
    x[1] = torch.rand(3, 16, 16)
    m = inpainting.centre_mask(2, 16, 8)
    out = x.clone()
    out[1] = (x[1] + 0.05 * m[0]).clamp(0, 1)               # image 0 exact (white hole), image 1 off by <= 0.05
    r = inpainting.hole_metrics(out, x, m)
    p1 = float(quality.psnr_per_image(out[1:], x[1:], mask=m[1:])[0])
    assert r["PSNR per image"] == pytest.approx((inpainting.PSNR_CAP + p1) / 2)
    assert inpainting.PSNR_CAP == pytest.approx(58.92, abs=0.01)
    # pooled: image 0 adds no error but doubles the count -> MSE halves, + 3.01 dB over image 1 alone
    assert r["PSNR"] == pytest.approx(p1 + 10 * math.log10(2), abs=1e-6)
    assert inpainting.hole_psnr(x, x, m) == inpainting.PSNR_CAP


def test_hole_metrics_sharpness_is_the_detail_ratio_inside_the_hole():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16)
    m = inpainting.centre_mask(4, 16, 8)
    flat = x * (1 - m) + 0.5 * m                      # a constant fill: no detail inside the hole
    inner = inpainting.interior(m)
    assert inpainting.hole_metrics(x, x, m)["sharpness"] == pytest.approx(1.0)
    assert inpainting.hole_metrics(flat, x, m)["sharpness"] == pytest.approx(quality.detail_ratio(flat, x, inner))
    # checkerboards 0.5 +- a have detail 8a (times the studio-range scale, which cancels): ratio a_fake / a_real
    yy, xx = torch.meshgrid(torch.arange(16), torch.arange(16), indexing="ij")
    board = ((xx + yy) % 2 * 2 - 1).float().expand(4, 3, 16, 16)
    assert inpainting.hole_metrics(0.5 + 0.1 * board, 0.5 + 0.4 * board, m)["sharpness"] == pytest.approx(0.25)
    # the interior excludes the hole's rim: a flat fill of the wrong colour has a step at its border, which
    # the whole-hole measure reads as detail; inside, it has none
    assert quality.detail_ratio(flat, x, m) > 0.05
    assert inpainting.hole_metrics(flat, x, m)["sharpness"] == pytest.approx(0.0)


# ---------------------------------------------------------------------------- the tint: measure and fix
def test_interior_is_the_hole_minus_its_rim():
    m = inpainting.centre_mask(2, 16, 8)
    inner = inpainting.interior(m)
    assert inner.shape == m.shape and (inner <= m).all()
    assert inner.sum((1, 2, 3)).tolist() == [36.0, 36.0]                   # 8x8 hole -> 6x6 interior
    assert inner[0, 0, 5:11, 5:11].all() and inner[0, 0, 4].sum() == 0
    corner = torch.zeros(1, 1, 8, 8)
    corner[..., :3, :3] = 1                                                 # a hole at the image corner
    assert inpainting.interior(corner)[0, 0, :2, :2].all()                  # the image border is no rim


def test_colour_shift_is_a_cast_common_to_the_fills_not_their_error():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16) * 0.8 + 0.1
    m = inpainting.random_squares(4, 16, 6, seed=0)
    cast = x.clone()
    cast[:, 0] += 0.1 * m[:, 0]                                              # every fill 0.1 too red
    assert inpainting.colour_shift(cast, x, m) == pytest.approx(0.1, abs=1e-6)
    assert inpainting.hole_metrics(cast, x, m)["colour shift"] == pytest.approx(0.1, abs=1e-6)
    noisy = x + 0.1 * m * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(4, 1, 1, 1)   # errors that cancel
    assert inpainting.colour_shift(noisy, x, m) == pytest.approx(0.0, abs=1e-6)
    assert inpainting.colour_shift(x, x, m) == 0.0
    with pytest.raises(ValueError, match="same shape"):
        inpainting.colour_shift(x[:2], x, m)


def test_smooth_fill_keeps_known_pixels_and_interpolates_smooth_images():
    m = inpainting.random_squares(3, 32, 12, seed=1)
    const = torch.full((3, 3, 32, 32), 0.3)
    const[1] = -0.7
    assert torch.allclose(inets.smooth_fill(const, m), const, atol=1e-5)     # a constant image is filled exactly
    ramp = torch.linspace(-1, 1, 32).view(1, 1, 1, 32).expand(3, 3, 32, 32).contiguous()
    x = ramp + 0.5 * torch.linspace(-1, 1, 32).view(1, 1, 32, 1)            # a plane: harmonic
    noisy_hole = x + 5 * m * torch.randn(3, 3, 32, 32)                       # the hole's content is ignored
    out = inets.smooth_fill(noisy_hole, m)
    assert torch.equal(out * (1 - m), noisy_hole * (1 - m))
    err = ((out - x).abs() * m).sum() / (3 * m.sum())
    pull_push = ((inets.smooth_fill(x, m, iterations=0) - x).abs() * m).sum() / (3 * m.sum())
    assert err < 0.03 and err < 0.5 * pull_push                              # relaxation: closer than pull-push
    assert inets.smooth_fill(x.double(), m).dtype == torch.float64
    with pytest.raises(ValueError, match="iterations"):
        inets.smooth_fill(x, m, iterations=-1)
    with pytest.raises(ValueError, match="mask must be"):
        inets.smooth_fill(x, m[..., :16, :16])


def test_biharmonic_fill_is_exact_on_planes_and_quadratics_and_batches_any_masks():
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 24), torch.linspace(-1, 1, 24), indexing="ij")
    plane = (0.3 * xx - 0.5 * yy + 0.1).expand(2, 3, 24, 24).contiguous()
    m = torch.zeros(2, 1, 24, 24)
    m[0, :, 6:14, 5:15] = 1                                                  # holes away from the border
    m[1, :, 9:20, 8:12] = 1
    noisy = plane + 5 * m * torch.randn(2, 3, 24, 24)                        # the hole's content is ignored
    out = inets.biharmonic_fill(noisy, m)
    assert torch.equal(out * (1 - m), noisy * (1 - m))                       # known pixels untouched
    assert float(((out - plane).abs() * m).max()) < 1e-4                     # a plane has zero Laplacian: exact
    bowl = (xx ** 2 + yy ** 2).expand(2, 3, 24, 24).contiguous()              # Laplacian constant: biharmonic
    assert float(((inets.biharmonic_fill(bowl, m) - bowl).abs() * m).max()) < 1e-3
    membrane = inets.smooth_fill(bowl, m, iterations=64)                     # the membrane fill flattens it
    assert float(((membrane - bowl).abs() * m).max()) > 0.02
    # strokes of different sizes per image: the padded batch solve equals one solve per image
    x = torch.rand(3, 3, 32, 32)
    strokes = inpainting.random_strokes(3, 32, seed=2, strokes=3, width=3.0)
    together = inets.biharmonic_fill(x, strokes)
    alone = torch.cat([inets.biharmonic_fill(x[i:i + 1], strokes[i:i + 1]) for i in range(3)])
    assert torch.allclose(together, alone, atol=1e-5)
    assert torch.equal(inets.biharmonic_fill(x, torch.zeros(1, 1, 32, 32)), x)          # nothing missing
    assert inets.biharmonic_fill(x.double(), strokes).dtype == torch.float64
    with pytest.raises(ValueError, match="mask must be"):
        inets.biharmonic_fill(x, strokes[..., :16, :16])
    with pytest.raises(ValueError, match="more than 64x64"):
        inets.biharmonic_fill(torch.zeros(1, 1, 80, 80), torch.ones(1, 1, 80, 80))
    # a large image: every group of nearby holes is solved in its own window, as the whole-image system would
    big = torch.rand(1, 3, 40, 120)
    holes = torch.zeros(1, 1, 40, 120)
    holes[..., 5:15, 5:15] = 1
    holes[..., 12:30, 16:24] = 1                                             # touches the first: one group
    holes[..., 20:30, 90:110] = 1                                            # far away: its own window
    windowed = inets.biharmonic_fill(big, holes)
    from course_lib.nets.inpainting import _biharmonic_dense
    whole = _biharmonic_dense(big, holes.reshape(1, -1) > 0.5)
    assert torch.allclose(windowed, whole, atol=1e-4)


def test_residual_composite_with_a_biharmonic_base_starts_at_that_fill():
    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    m = inpainting.random_squares(4, 16, 6, seed=0)
    G = inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1, norm="batch"), residual=True, base="biharmonic")
    with torch.no_grad():
        out = G(inpainting.masked_input(x, m))
    assert torch.allclose(out, inets.biharmonic_fill(x, m).clamp(-1, 1), atol=1e-5)
    with pytest.raises(ValueError, match="base"):
        inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1), residual=True, base="poisson")


def test_residual_composite_takes_its_colours_from_the_border_not_from_training():
    """The tint fix: a fresh residual Composite fills with the border's colours (no cast); the plain one does not."""
    torch.manual_seed(0)
    colours = torch.rand(8, 3, 1, 1) * 2 - 1
    x = colours.expand(8, 3, 16, 16).contiguous()                           # flat images of random colours
    m = inpainting.random_squares(8, 16, 6, seed=0)
    fixed = inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1, norm="batch"), residual=True)
    plain = inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1, norm="batch"))
    x01 = images.to_unit(x)
    assert inpainting.colour_shift(inpainting.inpaint(fixed, x01, m), x01, m) < 1e-5
    assert inpainting.colour_shift(inpainting.inpaint(plain, x01, m), x01, m) > 0.02
    c = inpainting.masked_input(x, m)
    out = fixed(c)
    out.sum().backward()                                                     # the zeroed output layer still learns
    last = [mod for mod in fixed.generator.modules() if isinstance(mod, torch.nn.Conv2d)][-1]
    assert last.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="no Conv2d"):
        inets.Composite(torch.nn.Identity(), residual=True)


def test_inpaint_with_batch_statistics_ignores_running_averages_and_leaves_them_alone():
    torch.manual_seed(0)
    G = inets.Composite(i2i.ResNetGenerator(4, 3, width=4, n_blocks=1, norm="batch"))
    x = torch.rand(10, 3, 16, 16)
    m = inpainting.random_squares(10, 16, 6, seed=0)
    a = inpainting.inpaint(G, x, m, batch_statistics=True, batch_size=4)
    bn = [mod for mod in G.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    before = [b.running_mean.clone() for b in bn]
    for b in bn:
        b.running_mean.add_(3.0)                                             # wrong running averages
    assert torch.equal(inpainting.inpaint(G, x, m, batch_statistics=True, batch_size=4), a)
    assert not torch.allclose(inpainting.inpaint(G, x, m), a, atol=1e-3)    # eval mode reads them
    assert all(torch.equal(b.running_mean, r + 3.0) for b, r in zip(bn, before))


def test_hole_losses_fit_the_mean_and_the_median():
    # One fill value for a hole whose truth is skin (0.9) in 70% of the images and a dark eye (0.1) in 30%:
    # minimising L2 in the hole gives the mean (0.66), L1 the median (0.9): an L1 fill can carry a cast.
    truth = torch.full((10, 1, 4, 4), 0.9)
    truth[:3] = 0.1
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., 1:3, 1:3] = 1
    fits = {}
    for p in (1, 2):
        v = torch.tensor(0.5, requires_grad=True)
        opt = torch.optim.Adam([v], lr=0.02)
        for _ in range(400):
            loss = inpainting.hole_loss(v.expand_as(truth), truth, mask, p=p)
            opt.zero_grad()
            loss.backward()
            opt.step()
        fits[p] = float(v.detach())
    assert abs(fits[2] - 0.66) < 0.02
    assert abs(fits[1] - 0.9) < 0.03


def test_bilaplacian_operator_is_lt_l_of_the_replicate_padded_laplacian():
    from course_lib.nets.inpainting import _bilaplacian

    h, w = 5, 7
    n = h * w
    lap = torch.zeros(n, n, dtype=torch.float64)                             # L built entry by entry
    for r in range(h):
        for c in range(w):
            i = r * w + c
            lap[i, i] -= 4
            for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                rr, cc = min(max(r + dr, 0), h - 1), min(max(c + dc, 0), w - 1)   # replicated border
                lap[i, rr * w + cc] += 1
    assert torch.equal(_bilaplacian(h, w), lap.T @ lap)
    assert _bilaplacian(h, w, "cpu", torch.float32).dtype == torch.float32
