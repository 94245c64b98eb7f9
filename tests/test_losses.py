"""course_lib.losses: adversarial losses against their log formulas and known properties."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from course_lib import losses, metrics


@pytest.fixture
def logits():
    g = torch.Generator().manual_seed(0)
    return 3 * torch.randn(64, generator=g), 3 * torch.randn(64, generator=g)


def test_bce_with_logits_forms_match_the_log_formulas(logits):
    r, f = logits
    d_r, d_f = torch.sigmoid(r.double()), torch.sigmoid(f.double())
    expect_d = -(torch.log(d_r).mean() + torch.log(1 - d_f).mean())
    torch.testing.assert_close(losses.minimax_d_loss(r, f).double(), expect_d, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses.minimax_g_loss(f).double(), torch.log(1 - d_f).mean(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(losses.nonsaturating_g_loss(f).double(), -torch.log(d_f).mean(), rtol=1e-5, atol=1e-6)
    # and the same as PyTorch's BCE with logits
    bce = F.binary_cross_entropy_with_logits
    torch.testing.assert_close(losses.minimax_d_loss(r, f),
                               bce(r, torch.ones_like(r)) + bce(f, torch.zeros_like(f)))
    torch.testing.assert_close(losses.gan_value(r, f), -losses.minimax_d_loss(r, f))


def test_losses_stay_finite_for_huge_logits():
    big = torch.tensor([200.0, -200.0])
    for v in (losses.minimax_d_loss(big, big), losses.minimax_g_loss(big), losses.nonsaturating_g_loss(big)):
        assert torch.isfinite(v)


def test_saturating_gradient_vanishes_when_D_rejects_fakes():
    f = torch.full((8,), -8.0, requires_grad=True)     # D(G(z)) = sigmoid(-8), about 3e-4
    (g_sat,) = torch.autograd.grad(losses.minimax_g_loss(f), f)
    (g_ns,) = torch.autograd.grad(losses.nonsaturating_g_loss(f), f)
    assert g_sat.abs().max() < 1e-3 * g_ns.abs().max()
    # both push the fake logits up (a gradient step on G increases D(G(z)))
    assert (g_sat < 0).all() and (g_ns < 0).all()


def test_value_at_optimal_discriminator_is_2JS_minus_2log2():
    x = torch.linspace(-12, 16, 14001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p_data = torch.distributions.Normal(2.0, 1.0).log_prob(x).exp()
    p_g = torch.distributions.Normal(0.5, 1.5).log_prob(x).exp()
    d_star = losses.optimal_discriminator(p_data, p_g)
    value = float(((p_data * d_star.log() + p_g * (1 - d_star).log()) * dx).sum())
    assert value == pytest.approx(2 * metrics.js_divergence(p_data, p_g, dx) - 2 * math.log(2), abs=1e-6)
    # D* = 1/2 everywhere when the generator matches the data; the value is then -log 4
    same = losses.optimal_discriminator(p_data, p_data)
    torch.testing.assert_close(same, torch.full_like(same, 0.5))


def test_optimal_discriminator_beats_other_discriminators():
    x = torch.linspace(-6, 10, 4001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p_data = torch.distributions.Normal(2.0, 1.0).log_prob(x).exp()
    p_g = torch.distributions.Normal(0.0, 1.0).log_prob(x).exp()

    def value(d):
        return float(((p_data * d.log() + p_g * (1 - d).log()) * dx).sum())

    best = value(losses.optimal_discriminator(p_data, p_g))
    for shift in (-0.5, 0.3, 1.0):
        assert value(torch.sigmoid(2 * (x - 1) + shift)) < best   # the true D* is sigmoid(2(x-1))
    assert value(torch.sigmoid(2 * (x - 1))) == pytest.approx(best, abs=1e-6)


def test_wasserstein_lsgan_hinge_formulas(logits):
    r, f = logits
    torch.testing.assert_close(losses.wasserstein_d_loss(r, f), f.mean() - r.mean())
    torch.testing.assert_close(losses.wasserstein_g_loss(f), -f.mean())
    torch.testing.assert_close(losses.lsgan_d_loss(r, f, a=-1, b=1),
                               0.5 * ((r - 1) ** 2).mean() + 0.5 * ((f + 1) ** 2).mean())
    torch.testing.assert_close(losses.lsgan_g_loss(f, c=0.0), 0.5 * (f ** 2).mean())
    torch.testing.assert_close(losses.hinge_d_loss(r, f), torch.clamp(1 - r, min=0).mean() + torch.clamp(1 + f, min=0).mean())
    assert losses.hinge_d_loss(torch.full((4,), 2.0), torch.full((4,), -3.0)) == 0
    torch.testing.assert_close(losses.hinge_g_loss(f), -f.mean())


def test_losses_accept_B_by_1_and_reject_other_shapes(logits):
    r, f = logits
    torch.testing.assert_close(losses.minimax_d_loss(r[:, None], f[:, None]), losses.minimax_d_loss(r, f))
    with pytest.raises(ValueError, match=r"\(B,\) or \(B, 1\)"):
        losses.hinge_d_loss(r.reshape(8, 8), f)


def test_gradient_penalty_of_unit_norm_linear_critic_is_zero():
    torch.manual_seed(0)
    w = torch.randn(5)
    w = w / w.norm()
    critic = torch.nn.Linear(5, 1)
    with torch.no_grad():
        critic.weight.copy_(w[None])
    x_real, x_fake = torch.randn(32, 5), torch.randn(32, 5)
    assert float(losses.gradient_penalty(critic, x_real, x_fake).detach()) < 1e-10
    with torch.no_grad():
        critic.weight.mul_(3.0)                          # gradient norm 3 -> penalty (3 - 1)^2 = 4
    assert float(losses.gradient_penalty(critic, x_real, x_fake).detach()) == pytest.approx(4.0, rel=1e-5)


def test_gradient_penalty_of_a_patch_critic_reads_each_images_mean_score():
    # P = 6 patch scores per image, each a unit-norm linear function of the whole input: the mean score per
    # image has gradient norm 1 (penalty 0), while the sum of the patch scores would have norm 6 (penalty 25)
    torch.manual_seed(0)
    w = torch.randn(5)
    w = w / w.norm()
    x_real, x_fake = torch.randn(32, 5), torch.randn(32, 5)
    patch_map = lambda x: (x @ w)[:, None].expand(-1, 6)          # (B, P)  # noqa: E731
    flat = lambda x: patch_map(x).reshape(-1)                        # (B * P,) as nets.image2image.PatchScores  # noqa: E731
    for critic in (patch_map, flat):
        assert float(losses.gradient_penalty(critic, x_real, x_fake).detach()) < 1e-10
    # patches that see different slopes: the mean's gradient is the mean of theirs (norm 2 -> penalty 1)
    slopes = torch.tensor([1.0, 2.0, 3.0])
    assert float(losses.gradient_penalty(lambda x: (x @ w)[:, None] * slopes, x_real, x_fake).detach()) == \
        pytest.approx(1.0, rel=1e-5)
    with pytest.raises(ValueError, match="multiple|patch scores per image"):
        losses.gradient_penalty(lambda x: (x @ w)[:-1], x_real, x_fake)   # 31 scores for 32 images


def test_gradient_penalty_reaches_critic_parameters_and_checks_shapes():
    critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    x_real, x_fake = torch.randn(6, 3, 2, 2), torch.randn(6, 3, 2, 2)
    pen = losses.gradient_penalty(critic, x_real, x_fake)
    pen.backward()
    assert critic[1].weight.grad is not None and critic[1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="same shape"):
        losses.gradient_penalty(critic, x_real, x_fake[:3])


def test_optimal_discriminator_rejects_bad_densities():
    with pytest.raises(ValueError, match="same shape"):
        losses.optimal_discriminator(torch.ones(3), torch.ones(4))
    with pytest.raises(ValueError, match=">= 0"):
        losses.optimal_discriminator(torch.tensor([-1.0]), torch.tensor([1.0]))


def test_optimal_discriminator_is_one_half_where_both_densities_vanish():
    d = losses.optimal_discriminator(torch.tensor([0.0, 1.0, 0.0]), torch.tensor([0.0, 0.0, 2.0]))
    torch.testing.assert_close(d, torch.tensor([0.5, 1.0, 0.0]))


# ---- image losses ----
def test_total_variation_values():
    x = torch.zeros(1, 1, 4, 4)
    assert losses.total_variation(x) == 0
    x[..., :, 2:] = 1.0                          # one vertical edge: 1 of 3 horizontal differences per row
    assert losses.total_variation(x).item() == pytest.approx(1 / 3)
    assert losses.total_variation(2 * x, squared=True).item() == pytest.approx(4 / 3)
    with pytest.raises(ValueError, match="H, W >= 2"):
        losses.total_variation(torch.zeros(1, 1, 1, 5))


def test_gram_and_texture_loss():
    f = torch.randn(2, 3, 5, 7)
    g = losses.gram_matrix(f)
    assert g.shape == (2, 3, 3) and torch.allclose(g, g.transpose(1, 2))
    assert torch.allclose(g[0], f[0].reshape(3, -1) @ f[0].reshape(3, -1).T / 35, atol=1e-5)
    perm = f[..., torch.randperm(7)]             # shuffling positions keeps the texture statistics
    assert losses.texture_loss(perm, f).item() < 1e-10
    assert losses.texture_loss(f * 2, f).item() > 0
    w = torch.zeros(2, 1, 5, 7)
    assert losses.texture_loss(f * 2, f, weight=w).item() == 0
    with pytest.raises(ValueError, match="same shape"):
        losses.texture_loss(f, f[..., :3])


def test_perceptual_loss_gradient_flows_to_input():
    net = lambda x, layers: {layers[0]: torch.nn.functional.avg_pool2d(x, 2)}
    x = torch.rand(2, 3, 8, 8, requires_grad=True)
    y = torch.rand(2, 3, 8, 8)
    loss = losses.perceptual(x, y, net, "pool")
    loss.backward()
    assert loss.item() > 0 and x.grad.abs().sum() > 0
    assert losses.perceptual(y, y, net, "pool").item() == 0


def test_input_gradient_is_the_per_sample_gradient():
    x = torch.randn(5, 3)
    g = losses.input_gradient(lambda p: (p ** 2).sum(1), x)
    assert g.shape == x.shape and torch.allclose(g, 2 * x) and not g.requires_grad and not x.requires_grad
    # the saturating generator loss log(1 - sigmoid(w.x)) on a linear D: -sigmoid(w.x) w per point
    w = torch.tensor([[2.0], [-1.0], [0.5]])
    D = lambda p: (p @ w)[:, 0]
    g = losses.input_gradient(lambda p: torch.log1p(-torch.sigmoid(D(p))), x)
    assert torch.allclose(g, -torch.sigmoid(D(x))[:, None] * w[:, 0], atol=1e-6)
    assert losses.input_gradient(lambda p: p[:, :1], x).shape == x.shape        # (N, 1) outputs too
    with pytest.raises(ValueError, match="one value per point"):
        losses.input_gradient(lambda p: p, x)
    with pytest.raises(ValueError, match="does not depend on x"):
        losses.input_gradient(lambda p: torch.zeros(len(p)), x)
    with pytest.raises(ValueError, match="floating-point"):
        losses.input_gradient(lambda p: p.float().sum(1), torch.ones(3, 2, dtype=torch.long))


def test_gradient_penalty_with_given_mixing_weights_equals_the_drawn_ones():
    critic = torch.nn.Linear(5, 1)
    x_real, x_fake = torch.randn(8, 5), torch.randn(8, 5)
    drawn = losses.gradient_penalty(critic, x_real, x_fake, generator=torch.Generator().manual_seed(3))
    eps = torch.rand((8, 1), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(losses.gradient_penalty(critic, x_real, x_fake, eps=eps), drawn)
    with pytest.raises(ValueError, match="eps must have shape"):
        losses.gradient_penalty(critic, x_real, x_fake, eps=eps[:4])
    with pytest.raises(ValueError, match="not both"):
        losses.gradient_penalty(critic, x_real, x_fake, eps=eps, generator=torch.Generator())
