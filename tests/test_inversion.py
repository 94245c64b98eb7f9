"""Tests of course_lib.inversion (IcGAN helpers, GAN inversion, rephotography) and its networks (course_lib.nets.dcgan's attribute variants)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib import images, inversion
from course_lib.nets import dcgan

G2 = inversion.AttributeGroups({"tone": ["a", "b", "c"], "gender": ["n", "m"]})


def test_groups_encode_decode_roundtrip_and_slices():
    y = G2.encode(tone=torch.tensor([0, 2, 1]), gender=torch.tensor([1, 0, 1]))
    assert y.shape == (3, 5) and G2.dim == 5
    assert torch.equal(y.sum(1), torch.full((3,), 2.0))
    d = G2.decode(y)
    assert d["tone"].tolist() == [0, 2, 1] and d["gender"].tolist() == [1, 0, 1]
    assert G2.slice("gender") == slice(3, 5)
    assert torch.equal(G2.hard(y * 3 - 1), y)


def test_groups_loss_is_sum_of_cross_entropies():
    torch.manual_seed(0)
    logits = torch.randn(4, 5)
    y = G2.encode(tone=torch.tensor([0, 1, 2, 0]), gender=torch.tensor([0, 1, 1, 0]))
    want = F.cross_entropy(logits[:, :3], torch.tensor([0, 1, 2, 0])) + \
        F.cross_entropy(logits[:, 3:], torch.tensor([0, 1, 1, 0]))
    torch.testing.assert_close(G2.loss(logits, y), want)
    acc = G2.accuracy(y, y)
    assert acc == {"tone": 1.0, "gender": 1.0}


def test_groups_bad_input():
    with pytest.raises(ValueError, match="missing"):
        G2.encode(tone=torch.tensor([0]))
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        G2.encode(tone=torch.tensor([3]), gender=torch.tensor([0]))
    with pytest.raises(ValueError, match="5 columns"):
        G2.decode(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="unknown attribute group"):
        G2.slice("age")


def test_flip_changes_only_its_group():
    y = G2.encode(tone=torch.tensor([0, 1]), gender=torch.tensor([1, 0]))
    y2 = inversion.flip(y, G2, "tone", 2)
    assert G2.decode(y2)["tone"].tolist() == [2, 2]
    assert torch.equal(y2[:, 3:], y[:, 3:])
    assert torch.equal(G2.decode(y)["tone"], torch.tensor([0, 1]))       # input untouched
    with pytest.raises(ValueError, match="has 2 values"):
        inversion.flip(y, G2, "gender", 2)


def test_emoji_people_attributes():
    x, y, names = inversion.emoji_people("test", image_size=32)
    assert x.shape[1:] == (3, 32, 32) and len(x) == len(y) == len(names) > 0
    d = inversion.EMOJI_GROUPS.decode(y)
    for i in range(len(names)):
        if "dark skin tone" in names[i] and "medium" not in names[i]:
            assert d["skin tone"][i] == 5


def _linear_decoder(d: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(d, 3 * 4 * 4, generator=g) / d ** 0.5
    return A, (lambda w: (w @ A).reshape(-1, 3, 4, 4))


def test_optimise_matches_least_squares_oracle():
    A, dec = _linear_decoder()
    torch.manual_seed(0)
    w_true = torch.randn(3, 6)
    x = dec(w_true) + 0.01 * torch.randn(3, 3, 4, 4)
    out = inversion.optimise(dec, x, torch.zeros(3, 6), num_steps=600, lr=0.05)
    w_ls = torch.linalg.lstsq(A.T, x.reshape(3, -1).T).solution.T           # min ||w A - x||
    torch.testing.assert_close(out.codes, w_ls, atol=2e-3, rtol=1e-2)
    assert out.losses[-1] < out.losses[0] and out.seconds > 0
    assert out.images.shape == x.shape


def test_optimise_prior_is_a_per_image_mean_ridge():
    """With prior_weight lam, each image's code minimises mean((w A - x)^2) + lam * mean(w^2): the ridge oracle,
    the same for an image alone as in a batch."""
    A, dec = _linear_decoder()
    torch.manual_seed(2)
    x = dec(torch.randn(3, 6)) + 0.05 * torch.randn(3, 3, 4, 4)
    lam, n, d = 0.5, 3 * 4 * 4, 6
    out = inversion.optimise(dec, x, torch.zeros(3, 6), num_steps=800, lr=0.05, prior_weight=lam)
    w_ridge = x.reshape(3, -1) @ A.T @ torch.linalg.inv(A @ A.T + (n * lam / d) * torch.eye(d))
    torch.testing.assert_close(out.codes, w_ridge, atol=2e-3, rtol=1e-2)
    alone = inversion.optimise(dec, x[:1], torch.zeros(1, 6), num_steps=800, lr=0.05, prior_weight=lam)
    torch.testing.assert_close(alone.codes, out.codes[:1], atol=1e-4, rtol=1e-4)
    plain = inversion.optimise(dec, x, torch.zeros(3, 6), num_steps=800, lr=0.05)
    assert plain.codes.norm() > out.codes.norm() * 1.05          # the prior shrinks the codes


def test_hybrid_starts_from_encoder_and_improves_on_it():
    _, dec = _linear_decoder()
    torch.manual_seed(1)
    w_true = torch.randn(4, 6)
    x = dec(w_true)
    noisy_encoder = lambda img: w_true + 0.3 * torch.randn(4, 6)      # a rough encoder
    enc = inversion.encode(dec, noisy_encoder, x)
    hyb = inversion.hybrid(dec, noisy_encoder, x, num_steps=30, lr=0.02)
    opt = inversion.optimise(dec, x, torch.zeros(4, 6), num_steps=30, lr=0.02)
    assert hyb.mse(x) < enc.mse(x)
    assert hyb.mse(x) < opt.mse(x)                 # same number of steps, better start
    assert enc.losses == [] and enc.seconds >= 0


def test_optimise_bad_input():
    _, dec = _linear_decoder()
    with pytest.raises(ValueError, match="one code per image"):
        inversion.optimise(dec, torch.zeros(2, 3, 4, 4), torch.zeros(3, 6), 5)
    with pytest.raises(ValueError, match="num_steps"):
        inversion.optimise(dec, torch.zeros(2, 3, 4, 4), torch.zeros(2, 6), 0)


def test_forward_operators():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    g = inversion.forward_operator("grayscale")(x)
    assert torch.equal(g[:, 0], g[:, 1]) and torch.equal(g[:, 1], g[:, 2])
    const = torch.full((1, 3, 8, 8), -0.3)
    torch.testing.assert_close(inversion.forward_operator("grayscale")(const), const)   # weights sum to 1
    torch.testing.assert_close(inversion.forward_operator("blur", 1.0)(const), const)   # normalised kernel
    torch.testing.assert_close(inversion.forward_operator("blur", 1.5)(x),
                               images.blur(x, 1.5))
    assert torch.equal(inversion.forward_operator("noise")(x), x)
    with pytest.raises(ValueError, match="unknown degradation"):
        inversion.forward_operator("jpeg")


def test_degrade_noise_statistics_and_blur_smooths():
    x = torch.zeros(4, 3, 32, 32)
    y = inversion.degrade(x, "noise", 0.1, seed=3)
    assert abs(float(y.std()) - 0.2) < 0.01                      # 0.1 in [0, 1] units = 0.2 in [-1, 1]
    assert torch.equal(y, inversion.degrade(x, "noise", 0.1, seed=3))
    torch.manual_seed(0)
    z = torch.rand(2, 3, 32, 32) * 2 - 1
    b = inversion.degrade(z, "blur", 1.5)
    assert (b[..., 1:] - b[..., :-1]).abs().mean() < (z[..., 1:] - z[..., :-1]).abs().mean() / 2


def test_rephotography_recovers_colour_of_linear_model():
    """Projecting a gray observation through A = gray recovers the colour when the model space is small."""
    _, dec = _linear_decoder(d=3)
    torch.manual_seed(2)
    w_true = torch.randn(2, 3)
    x = dec(w_true)
    gray = inversion.forward_operator("grayscale")
    out = inversion.optimise(dec, gray(x), torch.zeros(2, 3), 800, lr=0.05, forward_op=gray)
    assert out.mse(x) < 0.2 * F.mse_loss(images.to_unit(gray(x)), images.to_unit(x))


def test_nets_shapes_and_errors():
    G = dcgan.AttributeGenerator(16, 5, width=8)
    D = dcgan.AttributeDiscriminator(5, width=8)
    E = dcgan.Encoder(7, width=8, bound=True)
    z, y = torch.randn(4, 16), G2.encode(tone=torch.tensor([0, 1, 2, 0]), gender=torch.tensor([0, 1, 1, 0]))
    x = G(z, y)
    assert x.shape == (4, 3, 32, 32) and x.abs().max() <= 1
    assert D(x, y).shape == (4,)
    e = E(x)
    assert e.shape == (4, 7) and e.abs().max() <= 1
    with pytest.raises(ValueError, match=r"\(B=4, 5\)"):
        G(z, y[:, :4])
    with pytest.raises(ValueError, match="32x32"):
        D(torch.zeros(4, 3, 28, 28), y)
    w = inversion.icgan_encoder(dcgan.Encoder(16, width=8), dcgan.Encoder(5, width=8), G2)(x)
    assert w.shape == (4, 21)
    assert inversion.icgan_decoder(G, 16)(w).shape == (4, 3, 32, 32)


def test_d_sees_attributes():
    """Changing y changes D's score (y enters after the first conv)."""
    torch.manual_seed(0)
    D = dcgan.AttributeDiscriminator(5, width=8).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y0 = G2.encode(tone=torch.tensor([0, 0]), gender=torch.tensor([0, 0]))
    y1 = inversion.flip(y0, G2, "tone", 2)
    assert not torch.allclose(D(x, y0), D(x, y1))


class _LinearG(torch.nn.Module):
    """A toy conditional generator whose image depends strongly on z: tanh(W [z, y])."""

    def __init__(self, latent_dim: int, attr_dim: int):
        super().__init__()
        self.lin = torch.nn.Linear(latent_dim + attr_dim, 3 * 32 * 32)

    def forward(self, z, y):
        return torch.tanh(self.lin(torch.cat([z, y], 1))).reshape(-1, 3, 32, 32)


def test_latent_encoder_learns_on_generated_pairs(ckpt_dir):
    torch.manual_seed(0)
    G = _LinearG(8, 5)
    E = dcgan.Encoder(8, width=8)
    y_data = G2.encode(tone=torch.tensor([0, 1, 2, 1]), gender=torch.tensor([0, 1, 1, 0]))
    z, y = torch.randn(64, 8), inversion.sampler_from(y_data)(64)
    with torch.no_grad():
        before = float(inversion.latent_encoder_loss(E.eval(), G, z, y))
    hist = inversion.train_latent_encoder("t-ez", E, G, inversion.sampler_from(y_data), 8, num_steps=60,
                                          batch_size=32, lr=3e-3)
    with torch.no_grad():
        after = float(inversion.latent_encoder_loss(E, G, z, y))
    assert len(hist["loss"]) == 60 and after < 0.8 * before
    assert not any(p.requires_grad for p in G.parameters())         # G is a fixed data source


def test_attribute_encoder_overfits_small_set(ckpt_dir):
    torch.manual_seed(0)
    y = G2.encode(tone=torch.tensor([0, 1, 2, 0, 1, 2]), gender=torch.tensor([0, 1, 0, 1, 0, 1]))
    x = torch.rand(6, 3, 32, 32) * 2 - 1
    E = dcgan.Encoder(5, width=8)
    inversion.train_attribute_encoder("t-ey", E, x, y, G2, num_steps=80, batch_size=6, lr=3e-3, flip_lr=False)
    with torch.no_grad():
        acc = G2.accuracy(E(x), y)
    assert acc["tone"] == 1.0 and acc["gender"] == 1.0


def test_encoder_training_and_hybrid_bad_input(ckpt_dir):
    x = torch.zeros(4, 3, 32, 32)
    E = dcgan.Encoder(5, width=8)
    y = G2.encode(tone=torch.tensor([0, 1, 2, 0]), gender=torch.tensor([0, 1, 1, 0]))
    with pytest.raises(ValueError, match="3 images but y has 4"):
        inversion.train_attribute_encoder("t-bad", E, x[:3], y, G2, num_steps=1)
    with pytest.raises(ValueError, match="5 columns"):
        inversion.train_attribute_encoder("t-bad", E, x, y[:, :4], G2, num_steps=1)
    with pytest.raises(ValueError, match="batch_size"):
        inversion.train_attribute_encoder("t-bad", E, x, y, G2, num_steps=1, batch_size=0)
    _, dec = _linear_decoder()
    with pytest.raises(ValueError, match="one encoder input per target"):
        inversion.hybrid(dec, lambda t: torch.zeros(len(t), 6), torch.zeros(2, 3, 4, 4), 1,
                         x_encoder=torch.zeros(3, 3, 4, 4))


# -- data consistency after a projection; the attribute judges ----------------------------------
def test_data_consistent_keeps_the_observation_and_adds_what_the_operator_removed():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 16, 16) * 1.6 - 0.8
    for kind, amount in (("blur", 1.5), ("grayscale", 1.0)):
        op = inversion.forward_operator(kind, amount)
        # the truth as the projection: the truth comes back exactly
        torch.testing.assert_close(inversion.data_consistent(op(x), x, op), x)
    gray = inversion.forward_operator("grayscale")
    g = torch.rand(2, 3, 16, 16) * 0.4 - 0.2                        # any projection (no clamping needed)
    out = inversion.data_consistent(gray(x) * 0.5, g, gray)
    torch.testing.assert_close(gray(out), gray(x) * 0.5, atol=1e-6, rtol=0)   # luma of the observation, colour of G
    ident = inversion.forward_operator("noise")
    torch.testing.assert_close(inversion.data_consistent(x, g, ident), x)   # A = I: the observation itself
    with pytest.raises(ValueError, match="same shape"):
        inversion.data_consistent(x, g[:1], gray)


def test_judge_labels_map_attributes_to_judge_classes():
    y = inversion.EMOJI_GROUPS.encode(**{"skin tone": torch.tensor([0, 5, 2]), "gender": torch.tensor([0, 1, 2])})
    assert inversion.judge_labels(y, "skin tone").tolist() == [0, 5, 2]
    assert inversion.judge_labels(y, "gender").tolist() == [-1, 0, 1]     # none / man / woman -> -, 0, 1
    assert inversion.JUDGE_CLASSES["gender"] == ("man", "woman")
    with pytest.raises(ValueError, match="judged attribute"):
        inversion.judge_labels(y, "age")


def test_attribute_judge_is_trained_on_real_emoji_and_measured_on_held_out_ones(ckpt_dir):
    judge = inversion.attribute_judge("gender", image_size=16, num_steps=3)
    assert judge.logits(torch.rand(2, 3, 16, 16)).shape == (2, 2)
    assert 0 <= judge.test_accuracy <= 1
    with pytest.raises(ValueError, match="judged attribute"):
        inversion.attribute_judge("hair", image_size=16, num_steps=3)
