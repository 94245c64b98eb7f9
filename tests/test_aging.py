"""Tests of course_lib.aging (CAAE terms through the engine, AE//GAN, blur/noise measures, emoji faces)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import aging, gan, images, losses, metrics
from course_lib.nets import aging as anets


@pytest.fixture(scope="module")
def faces():
    return aging.emoji_faces("train", image_size=32)


@pytest.fixture(scope="module")
def test_faces():
    return aging.emoji_faces("test", image_size=32)


def test_emoji_faces_split_and_ages(faces, test_faces):
    test = test_faces
    assert faces.x.shape[1:] == (3, 32, 32) and faces.x.min() >= 0 and faces.x.max() <= 1
    assert torch.bincount(faces.age, minlength=4).min() > 0          # every age group present
    assert not any("medium skin tone" in n and "-" not in n.split(":")[1] for n in faces.names if ":" in n)
    assert all("medium skin tone" in n for n in test.names)
    assert len(aging.emoji_faces("train", styles=("twitter",))) * 2 == len(faces)
    with pytest.raises(ValueError, match="styles"):
        aging.emoji_faces("train", styles=("apple",))


def test_age_pairs_are_same_tone_and_style(test_faces):
    test = test_faces
    pairs = aging.age_pairs(test)
    assert len(pairs) > 0
    for i, j, a in pairs:
        assert test.age[j] == a and test.age[i] == aging.AGES.index("adult")
        assert test.names[i][-9:] == test.names[j][-9:]               # same style suffix
    names = {(test.names[i].split(":")[0], test.names[j].split(":")[0]) for i, j, _ in pairs}
    assert ("man", "older man") in names and ("woman", "girl") in names


def test_balanced_loader_balances_ages(faces):
    loader = aging.balanced_loader(faces, 32, num_samples=3200)
    counts = torch.zeros(4)
    for x, x_in, l in loader:
        assert torch.equal(x, x_in) and x.min() >= -1
        counts += l.sum(0)
    frac = counts / counts.sum()
    assert (frac - 0.25).abs().max() < 0.05                          # raw data: ~75% adults


def _checkerboard(amplitude: float, n: int = 2, size: int = 16) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (0.5 + amplitude * ((x + y) % 2 * 2 - 1)).float().expand(n, 3, size, size).contiguous()


def test_image_scores_of_two_checkerboards_are_closed_form():
    # a gray checkerboard 0.5 +- a: |x_hat - x| = a_x - a_hat everywhere, detail is 8a (times the studio scale,
    # which cancels in the ratio), MSE = (a_x - a_hat)^2
    q = aging.image_scores(_checkerboard(0.2), _checkerboard(0.4))
    assert q["L1"] == pytest.approx(0.2)
    assert q["detail ratio"] == pytest.approx(0.5)
    assert q["PSNR"] == pytest.approx(10 * math.log10(1 / 0.04), abs=1e-3)
    blurred = images.blur(_checkerboard(0.4), 1.0)
    assert aging.image_scores(blurred, _checkerboard(0.4))["detail ratio"] < 0.2     # blur removes the finest detail


def test_terms_and_the_variants_weights():
    x = torch.rand(4, 3, 8, 8)
    b = gan.Batch(x_real=x, x_fake=x.flip(-1))
    torch.testing.assert_close(aging.tv_term(b), losses.total_variation(x.flip(-1)))
    gen, disc = aging.build(latent_dim=6, width=8)
    v = aging.caae_variant(gen, disc, 0.1, rec_weight=2.0, tv_weight=0.03, prior_weight=0.05, lr=1e-3)
    assert v.adv_weight == pytest.approx(0.1)                          # beta weights the image GAN for G only
    ns = gan.variant("ns")
    assert v.g_loss is ns.g_loss and v.d_loss is ns.d_loss             # the plain non-saturating losses
    assert {k: w for k, (w, _) in v.g_terms.items()} == {"rec": 2.0, "tv": 0.03, "prior": 0.05}
    assert {k: w for k, (w, _) in v.d_terms.items()} == {"prior": 1.0}
    assert v.g_terms["rec"][1] is gan.l1_term and v.lr_g == v.lr_d == 1e-3
    ae = aging.caae_variant(gen, disc, 0.0)            # a pure adversarial autoencoder: valid, D_z still has its term
    assert ae.adv_weight == 0.0 and set(ae.d_terms) == {"prior"}
    with pytest.raises(ValueError, match=">= 0"):
        aging.caae_variant(gen, disc, -1.0)
    z = aging.uniform_prior(1000, 3)
    assert z.min() >= -1 and z.max() <= 1 and abs(float(z.mean())) < 0.05


def test_prior_terms_need_the_encoded_batch():
    gen, disc = aging.build(latent_dim=6, width=8)
    b = gan.Batch(x_real=torch.zeros(4, 3, 32, 32), x_fake=torch.zeros(4, 3, 32, 32))
    with pytest.raises(RuntimeError, match="has not encoded this batch"):
        aging.prior_d_term(gen, disc)(b)
    gen(torch.zeros(4, 3, 32, 32), torch.eye(4))
    assert aging.prior_d_term(gen, disc)(b).ndim == 0
    g = aging.prior_g_term(gen, disc)(b)
    g.backward()
    assert gen.encoder.head.weight.grad is not None                  # E is pushed towards the prior


def test_decoupled_adversarial_gradient_skips_the_autoencoder():
    torch.manual_seed(0)
    gen, _ = aging.build(latent_dim=6, width=8, decoupled=True)
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    out = gen(x, torch.eye(4))
    out.sum().backward()                                             # stands for the adversarial loss
    assert all(p.grad is None for p in gen.encoder.parameters())
    assert all(p.grad is None for p in gen.generator.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gen.residual.parameters())
    gen.zero_grad()
    gen(x, torch.eye(4))
    (gen.last_ae - x).abs().mean().backward()                        # the reconstruction loss
    assert all(p.grad is None for p in gen.residual.parameters())
    assert gen.encoder.head.weight.grad is not None


def test_caae_trains_through_the_engine(faces, test_faces, ckpt_dir):
    torch.manual_seed(0)
    small = aging.Faces(faces.x[::10], faces.age[::10], faces.names[::10])
    run = aging.train("t-caae", small, num_steps=40, gan_weight=0.01, batch_size=16, latent_dim=8, width=8,
                      rec_weight=1.0, lr=1e-3)
    h = run.history
    for k in ("d_loss", "g_rec", "g_tv", "g_prior", "d_prior"):
        assert k in h and len(h[k]) > 0
    assert h["g_rec"][-1] < h["g_rec"][0]
    gen = run.trainer.generator
    p = aging.progression(gen, small.x[:3])
    assert p.shape == (4, 3, 3, 32, 32) and p.min() >= 0 and p.max() <= 1
    assert not torch.allclose(p[0], p[3])                           # the age label changes the output
    r = aging.reconstruct(gen, small.x[:3], small.age[:3])
    assert r.shape == (3, 3, 32, 32)
    rows = aging.strip_rows(small.x[:3], p)
    assert list(rows) == ["input", *aging.AGES]
    t = aging.age_transfer(gen, test_faces, aging.age_pairs(test_faces))
    assert set(t) == {"CAAE", "unchanged"} and 0 < t["unchanged"] < 1


def test_gan_weight_zero_trains_an_autoencoder_and_leaves_d_img_alone(faces):
    torch.manual_seed(0)
    small = aging.Faces(faces.x[::10], faces.age[::10], faces.names[::10])
    gen, disc = aging.build(latent_dim=6, width=8)
    before = {k: p.detach().clone() for k, p in disc.named_parameters()}
    g_before = [p.detach().clone() for p in gen.parameters()]
    v = aging.caae_variant(gen, disc, 0.0, lr=1e-3)
    hist = aging.trainer(gen, disc, v, aging.balanced_loader(small, 8, num_samples=64), log_every=1).fit(3)
    assert hist["g_loss"][-1] == hist["d_loss"][-1] == 0.0              # no image-GAN loss on either side
    assert all(torch.equal(before[k], p) for k, p in disc.named_parameters() if k.startswith("d_img."))
    assert any(not torch.equal(before[k], p) for k, p in disc.named_parameters() if k.startswith("d_z."))
    assert any(not torch.equal(a, p) for a, p in zip(g_before, gen.parameters()))
    assert len(hist["g_rec"]) == 3 and len(hist["d_prior"]) == 3


def test_build_decoupled_progression_adds_residual():
    gen, _ = aging.build(latent_dim=6, width=8, decoupled=True)
    gen.eval()
    x = torch.rand(2, 3, 32, 32)
    p = aging.progression(gen, x)
    with torch.no_grad():
        direct = (gen(x * 2 - 1, torch.eye(4)[[2, 2]]) + 1) / 2
    torch.testing.assert_close(p[2], direct.clamp(0, 1))
    assert isinstance(gen, anets.DecoupledCAAE)


def test_reconstruct_checks_ages():
    gen, _ = aging.build(latent_dim=6, width=8)
    gen.eval()
    x = torch.rand(2, 3, 32, 32)
    assert aging.reconstruct(gen, x, torch.tensor([0, 3])).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match=r"age must be \(B=2,\)"):
        aging.reconstruct(gen, x, torch.tensor([0, 1, 2]))


def test_balanced_loader_rejects_missing_age(faces):
    adults = faces.age == aging.AGES.index("adult")
    only_adults = aging.Faces(faces.x[adults], faces.age[adults], [n for n, a in zip(faces.names, adults) if a])
    with pytest.raises(ValueError, match="empty: \\['baby', 'child', 'older'\\]"):
        aging.balanced_loader(only_adults, 8)


# -- the asked age and the kept identity ------------------------------------------------------
class _Oracle(anets.CAAE):
    """A stand-in CAAE: z is the face's index; decoding at age k returns its true variant of age k if there is one,
    else the face itself (``perfect=False``: always the face itself, the do-nothing model)."""

    def __init__(self, faces: aging.Faces, perfect: bool = True):
        super().__init__(torch.nn.Identity(), torch.nn.Identity())
        self.faces = faces
        self.variant = {(i, a): j for i, j, a in aging.age_pairs(faces)} if perfect else {}
        self.w = torch.nn.Parameter(torch.zeros(1))

    def encode(self, x):
        flat = images.to_unit(x).flatten(1)
        return torch.stack([((self.faces.x.flatten(1) - f).abs().sum(1)).argmin() for f in flat]).float()[:, None]

    def decode(self, z, l):
        idx = [self.variant.get((int(i), int(a)), int(i)) for i, a in zip(z[:, 0], l.argmax(1))]
        return images.to_pm1(self.faces.x[idx])


def _lookup_judge(faces: aging.Faces):
    """A judge that knows every face's age exactly (by lookup)."""
    def logits(x):
        idx = torch.stack([(faces.x.flatten(1) - f).abs().sum(1).argmin() for f in x.flatten(1)])
        return torch.nn.functional.one_hot(faces.age[idx], 4).float() * 10
    return metrics.FeatureNetwork("lookup", logits, logits, None, 3, torch.device("cpu"))


def test_target_age_rate_of_a_do_nothing_model_is_one_in_four(test_faces):
    judge = _lookup_judge(test_faces)
    r = aging.target_age_rate(_Oracle(test_faces, perfect=False), test_faces, judge)
    assert r["all"] == pytest.approx(0.25) and r["changed"] == 0 and r["n"] == 4 * len(test_faces)
    r = aging.target_age_rate(_Oracle(test_faces), test_faces, judge)
    assert r["changed"] > 0                                           # the true variants carry the asked age


def test_identity_retrieval_finds_the_true_variant(test_faces):
    pairs = aging.age_pairs(test_faces)
    r = aging.identity_retrieval(_Oracle(test_faces), test_faces, pairs)
    assert r["CAAE"] == 1 and r["n"] == len(pairs) and 0 < r["chance"] < 1
    same = aging.identity_retrieval(_Oracle(test_faces, perfect=False), test_faces, pairs)
    assert same["CAAE"] == same["unchanged"] == r["unchanged"]
    with pytest.raises(ValueError, match="no \\(adult"):
        aging.identity_retrieval(_Oracle(test_faces), test_faces, [])


def test_decode_prior_draws_every_age():
    torch.manual_seed(0)
    gen, _ = aging.build(latent_dim=6, width=8)
    x, asked = aging.decode_prior(gen.eval(), 5, seed=1)
    assert x.shape == (20, 3, 32, 32) and 0 <= x.min() and x.max() <= 1
    assert asked.tolist() == [0] * 5 + [1] * 5 + [2] * 5 + [3] * 5
    torch.testing.assert_close(aging.decode_prior(gen, 5, seed=1)[0], x)


def test_build_tiles_the_age_label_to_the_codes_length():
    gen, _ = aging.build(latent_dim=50, width=8)
    assert gen.generator.label_repeat == 12                          # 4 ages x 12 = 48 numbers beside 50 of z
    assert aging.build(latent_dim=6, width=8, label_repeat=3)[0].generator.label_repeat == 3
    with pytest.raises(ValueError, match="label_repeat"):
        aging.build(latent_dim=6, width=8, label_repeat=0)


def _blobs(n: int, seed: int) -> torch.Tensor:
    """(n, 3, 32, 32) smooth random colour blobs in [0, 1]: a stand-in for real images."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    c = torch.rand(n, 2, 1, 1, generator=g) * 20 + 6
    r = torch.rand(n, 1, 1, generator=g) * 6 + 4
    mask = (((yy - c[:, 0]) ** 2 + (xx - c[:, 1]) ** 2) < r ** 2).float()[:, None]
    return (0.2 + mask * torch.rand(n, 3, 1, 1, generator=g) * 0.7).clamp(0, 1)


def test_nrds_ranks_a_perfect_model_above_blur_above_noise_and_normalises():
    real = _blobs(128, 0)
    noisy = (real + 0.25 * torch.randn(128, 3, 32, 32, generator=torch.Generator().manual_seed(3))).clamp(0, 1)
    blurred = F.avg_pool2d(F.pad(real, (1, 1, 1, 1), mode="replicate"), 3, 1)
    fakes = {"perfect": real.clone(), "blurred": blurred, "noisy": noisy}     # "reconstructions" of the real images
    out = aging.nrds(real, fakes, epochs=40, batch_size=32, width=8, device="cpu")
    assert list(out.scores) == list(fakes) and all(len(c) == 40 for c in out.curves.values())
    assert len(out.real_curve) == 40
    assert sum(out.scores.values()) == pytest.approx(1.0)
    assert out.scores["perfect"] > out.scores["blurred"] > out.scores["noisy"]
    assert out.scores["noisy"] < 0.25 and out.curves["noisy"][-1] < 0.1      # told apart first, then for good
    short = [aging.nrds(real, fakes, epochs=2, batch_size=32, width=8, device="cpu").scores for _ in range(2)]
    assert short[0] == short[1]                                                 # seeded


def test_nrds_rejects_bad_input_early():
    real = _blobs(64, 0)
    with pytest.raises(ValueError, match="at least two model"):
        aging.nrds(real, {"only": real}, epochs=1, device="cpu")
    with pytest.raises(ValueError, match="real images' shape"):
        aging.nrds(real, {"a": real, "b": real[:, :, :16, :16]}, epochs=1, device="cpu")
    with pytest.raises(ValueError):
        aging.nrds(real, {"a": real, "b": real * 2 - 1}, epochs=1, device="cpu")     # not in [0, 1]
    with pytest.raises(ValueError, match="batch_size"):
        aging.nrds(real[:8], {"a": real, "b": real}, epochs=1, batch_size=32, device="cpu")
