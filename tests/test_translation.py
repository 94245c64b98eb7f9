"""Tests of course_lib.translation and course_lib.nets.translation (pix2pix, SPADE, CycleGAN)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_lib import gan, images, quality, translation
from course_lib.nets import image2image as i2i
from course_lib.nets import translation as tnets


# -- SPADE ---------------------------------------------------------------------------------
def _two_region_map(b: int = 64, size: int = 8) -> torch.Tensor:
    labels = torch.zeros(b, size, size, dtype=torch.long)
    labels[:, :, size // 2:] = 1
    return translation.one_hot(labels, 2)


def test_spade_statistics_follow_the_label_map():
    torch.manual_seed(0)
    spade = tnets.SPADE(3, 2, hidden=2, kernel_size=1)
    with torch.no_grad():                          # shared conv = identity on the one-hot map
        spade.shared[0].weight.copy_(torch.eye(2).view(2, 2, 1, 1))
        spade.shared[0].bias.zero_()
        gamma = torch.tensor([[1.0, -0.5], [0.0, 2.0], [-0.9, 0.5]])      # (C, K): 1 + gamma is the scale
        beta = torch.tensor([[3.0, -1.0], [0.5, 0.0], [-2.0, 4.0]])
        spade.gamma.weight.copy_(gamma.view(3, 2, 1, 1))
        spade.gamma.bias.zero_()
        spade.beta.weight.copy_(beta.view(3, 2, 1, 1))
        spade.beta.bias.zero_()
    m = _two_region_map()
    x = 5 + 2 * torch.randn(64, 3, 8, 8)
    out = spade(x, m)
    for k in range(2):
        region = out[:, :, :, :4] if k == 0 else out[:, :, :, 4:]
        mean = region.mean((0, 2, 3))
        std = region.std((0, 2, 3))
        assert torch.allclose(mean, beta[:, k], atol=0.15), (k, mean)
        assert torch.allclose(std, (1 + gamma[:, k]).abs(), atol=0.15), (k, std)


def test_spade_label_map_resized_nearest_and_errors():
    spade = tnets.SPADE(4, 2, hidden=8)
    m = _two_region_map(2, 4)
    assert spade(torch.randn(2, 4, 16, 16), m).shape == (2, 4, 16, 16)
    with pytest.raises(ValueError, match="label_map must have 2 channels"):
        spade(torch.randn(2, 4, 8, 8), torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="rows"):
        spade(torch.randn(2, 4, 8, 8), m[:1])
    with pytest.raises(ValueError, match="odd"):
        tnets.SPADE(4, 2, kernel_size=2)


def test_spade_generator_shapes_and_layout_dependence():
    torch.manual_seed(0)
    G = tnets.SPADEGenerator(6, 3, image_size=16, width=16, hidden=8)
    labels, _ = translation.scenes(4, 16)
    y = G(translation.one_hot(labels))
    assert y.shape == (4, 3, 16, 16) and y.abs().max() <= 1
    flipped = G(translation.one_hot(labels.flip(-1)))
    assert not torch.allclose(y, flipped)
    with pytest.raises(ValueError, match="power of two"):
        tnets.SPADEGenerator(6, image_size=24)
    with pytest.raises(ValueError, match="16x16"):
        G(torch.zeros(1, 6, 32, 32))


def test_spade_generator_overfits_one_batch():
    torch.manual_seed(0)
    labels, images = translation.scenes(8, 16)
    G = tnets.SPADEGenerator(6, 3, image_size=16, width=16, hidden=16)
    opt = torch.optim.Adam(G.parameters(), 3e-3)
    m, y = translation.one_hot(labels), images * 2 - 1
    first = None
    for _ in range(60):
        loss = (G(m) - y).abs().mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


# -- label maps, scenes, edges, grayscale ----------------------------------------------------
def test_scenes_and_one_hot():
    labels, images = translation.scenes(16, 32, seed=1)
    assert labels.shape == (16, 32, 32) and images.shape == (16, 3, 32, 32)
    assert 0 <= images.min() and images.max() <= 1
    assert set(labels.unique().tolist()) <= set(range(len(translation.SCENE_CLASSES)))
    oh = translation.one_hot(labels)
    assert oh.shape == (16, 6, 32, 32)
    assert set(oh.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(oh.sum(1), torch.ones(16, 32, 32))
    assert torch.equal(oh.argmax(1), labels)
    l2, i2 = translation.scenes(16, 32, seed=1)
    assert torch.equal(l2, labels) and torch.equal(i2, images)
    # sky on top, ground at the bottom in every scene
    assert (labels[:, 0] != 1).all() and (labels[:, -1] != 0).all()
    assert translation.colorize_labels(labels).shape == (16, 3, 32, 32)


def test_one_hot_bad_inputs():
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        translation.one_hot(torch.full((1, 4, 4), 6))
    with pytest.raises(ValueError, match="integer"):
        translation.one_hot(torch.zeros(1, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        translation.one_hot(torch.zeros(4, 4, dtype=torch.long))


def test_edges_binary_and_match_skimage():
    from skimage.feature import canny

    x = torch.zeros(2, 3, 32, 32)
    x[:, :, 8:24, 8:24] = 1.0
    e = translation.edges(x)
    assert e.shape == (2, 1, 32, 32)
    assert set(e.unique().tolist()) == {0.0, 1.0}
    ref = canny(images.luma(x)[0, 0].double().numpy(), sigma=1.0)
    assert torch.equal(e[0, 0].bool(), torch.from_numpy(ref))
    assert e[0, 0, 16, 16] == 0 and e[0, 0, 2, 2] == 0           # no edges inside or far outside the square
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        translation.edges(x * 3)
    with pytest.raises(ValueError, match="sigma"):
        translation.edges(x, sigma=0)


def test_task_pairs_bad_task():
    with pytest.raises(ValueError, match="unknown task"):
        translation.task_pairs("sketch", None)


# -- CycleGAN ------------------------------------------------------------------------------
class _Scale(nn.Module):
    def __init__(self, s: float):
        super().__init__()
        self.s = s

    def forward(self, x):
        return self.s * x


def test_cycle_term_zero_for_inverse_maps():
    a, b = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    assert translation.cycle_consistency(_Scale(0.5), _Scale(2.0), a, b).item() == pytest.approx(0, abs=1e-7)
    assert translation.cycle_consistency(_Scale(0.5), _Scale(1.0), a, b).item() > 0.1
    # identity loss: zero only for identity maps
    assert translation.identity_loss(_Scale(1.0), _Scale(1.0), a, b).item() == 0
    assert translation.identity_loss(_Scale(0.5), _Scale(2.0), a, b).item() > 0.1
    # as an engine term on the packed layout
    G = tnets.CycleGenerator(_Scale(0.5), _Scale(2.0))
    x_real = tnets.pack(a, b)
    batch = gan.Batch(x_real, G(x_real))
    assert translation.cycle_term(G)(batch).item() == pytest.approx(0, abs=1e-7)
    assert translation.identity_term(G)(batch).item() == pytest.approx(
        translation.identity_loss(G.g_ab, G.g_ba, a, b).item())
    with pytest.raises(TypeError, match="CycleGenerator"):
        translation.cycle_term(_Scale(1.0))


def test_cycle_generator_and_discriminator_layout():
    a, b = torch.rand(2, 3, 8, 8), -torch.rand(2, 3, 8, 8)
    G = tnets.CycleGenerator(_Scale(3.0), _Scale(-1.0))
    fake = G(tnets.pack(a, b))
    fake_a, fake_b = tnets.unpack(fake)
    assert torch.equal(fake_a, -b) and torch.equal(fake_b, 3 * a)   # fake A = G_BA(b), fake B = G_AB(a)
    D = tnets.CycleDiscriminator(i2i.PatchDiscriminator(3, n_layers=1, width=4),
                                 i2i.PatchDiscriminator(3, n_layers=1, width=4))
    s = D(tnets.pack(a, b))
    assert s.ndim == 1 and len(s) == 2 * D.d_a(a).numel()
    with pytest.raises(ValueError, match="6 channels"):
        D(a)
    with pytest.raises(ValueError, match="same shape"):
        tnets.pack(a, b[:1])


def test_unpaired_loader():
    a = torch.arange(10.0).view(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous()
    b = 100 + torch.arange(12.0).view(12, 1, 1, 1).expand(12, 3, 2, 2).contiguous()
    loader = translation.UnpairedLoader(a, b, batch_size=4, seed=0)
    batches = list(loader)
    assert len(batches) == len(loader) == 2 and batches[0].shape == (4, 6, 2, 2)
    ia = torch.cat([x[:, 0, 0, 0] for x in batches])
    ib = torch.cat([x[:, 3, 0, 0] for x in batches]) - 100
    assert len(set(ia.tolist())) == 8 and len(set(ib.tolist())) == 8     # no repeats within a pass
    assert not torch.equal(ia, ib)                                     # independent shuffles
    assert not torch.equal(torch.cat(list(loader))[:, 0], torch.cat(batches)[:, 0])   # reshuffled each pass
    with pytest.raises(ValueError, match="larger than the smaller domain"):
        translation.UnpairedLoader(a, b, batch_size=11)
    with pytest.raises(ValueError, match="same shape"):
        translation.UnpairedLoader(a, b[:, :1], batch_size=2)


def test_cyclegan_runs_in_the_engine():
    torch.manual_seed(0)
    a, b = torch.rand(16, 3, 8, 8) * 2 - 1, torch.rand(16, 3, 8, 8) * 2 - 1
    G = tnets.CycleGenerator(i2i.ResNetGenerator(width=4, n_blocks=1), i2i.ResNetGenerator(width=4, n_blocks=1))
    D = tnets.CycleDiscriminator(i2i.PatchDiscriminator(3, n_layers=1, width=4, norm="instance"),
                                 i2i.PatchDiscriminator(3, n_layers=1, width=4, norm="instance"))
    v = gan.variant("lsgan", g_terms={"cycle": (10.0, translation.cycle_term(G)),
                                      "identity": (5.0, translation.identity_term(G))})
    tr = gan.Trainer(G, D, v, translation.UnpairedLoader(a, b, 4), None, cond=lambda x: x,
                     discriminator_input=lambda x, c: (x,), log_every=2)
    hist = tr.fit(4)
    assert {"g_cycle", "g_identity", "d_loss"} <= set(hist) and all(math.isfinite(t) for t in hist["g_cycle"])


# -- measures --------------------------------------------------------------------------------
def test_retrieval_accuracy_and_correspondence():
    torch.manual_seed(0)
    target = torch.rand(20, 3, 8, 8)
    assert translation.retrieval_accuracy(target + 0.01 * torch.randn_like(target), target) == 1.0
    shuffled = target[torch.roll(torch.arange(20), 1)]
    assert translation.retrieval_accuracy(shuffled, target) == 0.0
    assert translation.retrieval_accuracy(shuffled, target, k=20) == 1.0
    c = translation.correspondence(target.clamp(0, 1), target)
    assert c["retrieval@1"] == 1.0 and c["SSIM"] == pytest.approx(1.0) and c["chance"] == 0.05
    noisy = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    assert translation.correspondence(noisy, target)["PSNR"] == pytest.approx(quality.psnr(noisy, target))
    with pytest.raises(ValueError, match="same shape"):
        translation.retrieval_accuracy(target, target[:5])


def test_patch_scores_flatten():
    D = i2i.PatchDiscriminator(3, 1, n_layers=1, width=4)
    x, c = torch.randn(2, 3, 16, 16), torch.randn(2, 1, 16, 16)
    s = i2i.PatchScores(D)(x, c)
    assert s.ndim == 1 and torch.equal(s, D(x, c).reshape(-1))


def test_colour_histogram_intersection():
    torch.manual_seed(0)
    x = torch.rand(8, 3, 8, 8)
    same = translation.colour_histogram_intersection(x, x)
    assert all(v == pytest.approx(1.0) for v in same.values())
    yellow = torch.tensor([1.0, 0.85, 0.2]).view(1, 3, 1, 1).expand(8, 3, 8, 8).contiguous()
    gray = images.luma(yellow).expand(8, 3, 8, 8).contiguous()
    h = translation.colour_histogram_intersection(gray, yellow)
    assert h["b"] < 0.05 and all(0 <= v <= 1 for v in h.values())    # gray has b* = 0, yellow b* >> 0
    # half the pixels yellow, half blue against all yellow: the blue half shares no L, a or b bin -> 1/2
    blue = torch.tensor([0.2, 0.3, 0.9]).view(1, 3, 1, 1).expand(8, 3, 8, 8)
    half = translation.colour_histogram_intersection(torch.cat([yellow[:4], blue[:4]]), yellow)
    assert all(v == pytest.approx(0.5) for v in half.values())
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        translation.colour_histogram_intersection(x * 2 - 1, x)


# -- helpers added in review -------------------------------------------------------------------
def test_translate_batches_eval_mode_and_restores_training():
    torch.manual_seed(0)
    G = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.Dropout(0.5))
    G(torch.randn(8, 1, 8, 8))                              # give BN non-trivial running statistics
    x = torch.randn(10, 1, 8, 8)
    G.train()
    out = translation.translate(G, x, batch_size=3)         # 4 batches, the last one of 1 row
    assert G.training                                       # training mode restored
    G.eval()
    with torch.no_grad():
        ref = G(x)
    assert torch.allclose(out, ref, atol=1e-6) and not out.requires_grad
    assert torch.equal(translation.translate(_Scale(2.0), x), 2 * x)     # a parameter-free map works too
    with pytest.raises(ValueError, match="empty"):
        translation.translate(G, x[:0])
    with pytest.raises(ValueError, match="batch_size"):
        translation.translate(G, x, batch_size=0)


def test_colorize_labels_palette_and_bad_labels():
    labels = torch.tensor([[[0, 5], [2, 3]]])
    img = translation.colorize_labels(labels)
    assert img.shape == (1, 3, 2, 2)
    assert torch.equal(img[0, :, 0, 1], translation.SCENE_PALETTE[5])
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        translation.colorize_labels(torch.full((1, 2, 2), 7))


def test_cycle_losses_bad_inputs():
    a = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="same"):
        translation.cycle_consistency(_Scale(1.0), _Scale(1.0), a, torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        translation.identity_loss(_Scale(1.0), _Scale(1.0), a[0], a[0])


def test_spade_resblock_learned_shortcut():
    torch.manual_seed(0)
    m = _two_region_map(2, 8)
    block = tnets.SPADEResBlock(8, 4, 2, hidden=4)
    assert block.learned_shortcut and block(torch.randn(2, 8, 8, 8), m).shape == (2, 4, 8, 8)
    same = tnets.SPADEResBlock(4, 4, 2, hidden=4)
    assert not same.learned_shortcut and same(torch.randn(2, 4, 8, 8), m).shape == (2, 4, 8, 8)


def test_emoji_pairs_and_task_pairs():
    pairs = translation.emoji_pairs("test", 16, n=6)
    assert len(pairs) == 6 and len(pairs.names) == 6
    assert pairs.twitter.shape == pairs.google.shape == (6, 3, 16, 16)
    assert 0 <= pairs.google.min() and pairs.google.max() <= 1
    assert not torch.allclose(pairs.twitter, pairs.google)            # two styles, not one image twice
    x, y = translation.task_pairs("edges", pairs)
    assert x.shape == (6, 1, 16, 16) and set(x.unique().tolist()) <= {0.0, 1.0} and y is pairs.twitter
    x, y = translation.task_pairs("colour", pairs)
    assert torch.allclose(x, images.luma(pairs.twitter)) and y is pairs.twitter
    x, y = translation.task_pairs("style", pairs)
    assert x is pairs.twitter and y is pairs.google


# -- CycleGAN: the image pool, the residual start, the spread ---------------------------------
def _rows(x):
    return [tuple(r.flatten().tolist()) for r in x]


def test_image_pool_fills_then_swaps_half_of_the_fakes_with_stored_ones():
    pool = translation.ImagePool(size=4, p=0.5, seed=0)
    first = torch.arange(4.0).view(4, 1, 1, 1)
    assert torch.equal(pool.query(first), first) and pool.count == 4     # filling up: shown as they are
    seen_before = set(_rows(first))
    served, n = 0, 0
    for k in range(1, 51):
        batch = 10.0 * k + torch.arange(4.0).view(4, 1, 1, 1)
        out = pool.query(batch)
        assert out.shape == batch.shape and pool.count == 4 and len(pool.images) == 4
        for i, row in enumerate(_rows(out)):
            if row != _rows(batch)[i]:                 # an old fake: from an earlier batch or an earlier row
                assert row in seen_before
                served += 1
            seen_before.add(_rows(batch)[i])           # stored one by one, as in the authors' query
            n += 1
        assert set(_rows(pool.images)) <= seen_before                    # the pool keeps only real fakes
    assert served == pool.served_from_history and 0.4 < served / n < 0.6  # p = 0.5
    # p = 0: never an old fake; p = 1: always one once full; size 0: no pool
    never, always, off = translation.ImagePool(4, p=0.0), translation.ImagePool(4, p=1.0), translation.ImagePool(0)
    for k in range(3):
        batch = 10.0 * k + torch.arange(4.0).view(4, 1, 1, 1)
        assert torch.equal(never.query(batch), batch) and torch.equal(off.query(batch), batch)
        out = always.query(batch)
        assert torch.equal(out, batch) if k == 0 else not (out == batch).any()
    with pytest.raises(ValueError, match="size"):
        translation.ImagePool(-1)
    with pytest.raises(ValueError, match="probability"):
        translation.ImagePool(4, p=1.5)
    with pytest.raises(ValueError, match="one pool per kind"):
        always.query(torch.zeros(2, 2, 1, 1))


def test_image_pool_state_round_trip_continues_the_same_draws():
    a, b = translation.ImagePool(3, seed=1), translation.ImagePool(3, seed=1)
    batches = [torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(k)) for k in range(8)]
    for x in batches[:4]:
        a.query(x)
    restored = translation.ImagePool(3, seed=99)
    restored.load_state(a.state())
    for x in batches[:4]:
        b.query(x)
    for x in batches[4:]:
        assert torch.equal(restored.query(x), b.query(x))
    assert translation.ImagePool(3).state() == {}


def test_image_pool_feeds_the_discriminator_through_the_engine_hook():
    torch.manual_seed(0)
    a, b = torch.rand(16, 3, 8, 8) * 2 - 1, torch.rand(16, 3, 8, 8) * 2 - 1
    G = tnets.CycleGenerator(i2i.ResNetGenerator(width=4, n_blocks=1), i2i.ResNetGenerator(width=4, n_blocks=1))
    D = tnets.CycleDiscriminator(i2i.PatchDiscriminator(3, n_layers=1, width=4, norm="instance"),
                                 i2i.PatchDiscriminator(3, n_layers=1, width=4, norm="instance"))
    pool = translation.ImagePool(4, seed=0)
    tr = gan.Trainer(G, D, gan.variant("lsgan"), translation.UnpairedLoader(a, b, 4), None, cond=lambda x: x,
                     discriminator_input=lambda x, c: (x,), callbacks=[pool], log_every=5, device="cpu")
    tr.fit(10)
    assert pool.count == 4 and pool.images.shape == (4, 6, 8, 8)           # packed (fake A, fake B) pairs
    assert pool.served_from_history > 5                                    # D saw earlier fakes


def test_start_as_copy_makes_a_residual_generator_the_identity_that_still_learns():
    torch.manual_seed(0)
    G = translation.start_as_copy(i2i.ResNetGenerator(width=4, n_blocks=1, global_skip=True))
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert torch.equal(G(x), x)
    loss = (G(x) - 0.5).pow(2).mean()
    loss.backward()
    out_conv = [m for m in G.modules() if isinstance(m, nn.Conv2d)][-1]
    assert out_conv.weight.grad.abs().sum() > 0                           # the residual grows from step 1
    with pytest.raises(ValueError, match="global_skip"):
        translation.start_as_copy(i2i.ResNetGenerator(width=4, n_blocks=1))


def test_output_spread_is_zero_for_a_constant_output_and_one_for_the_reference():
    torch.manual_seed(0)
    ref = torch.rand(32, 3, 8, 8)
    assert translation.output_spread(ref, ref) == pytest.approx(1.0)
    assert translation.output_spread(ref[:1].expand(10, -1, -1, -1), ref) == 0.0
    assert translation.output_spread(0.5 * ref, ref) == pytest.approx(0.5)
    with pytest.raises(ValueError, match=">= 2 images"):
        translation.output_spread(ref[:1], ref)
