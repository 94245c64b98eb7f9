"""The checks of notebooks 00-05 (course_lib.exercises.part1): the solution passes, the stub and the usual
mistakes fail with a message that names the symptom."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import autoencoding, exercises, likelihood, losses, sparse
from course_lib.nets import autoregressive as ar


def stub(*args, **kwargs):
    raise NotImplementedError


def fails(check, wrong, match):
    with pytest.raises(exercises.ExerciseError, match=match):
        check(wrong)


def test_stubs_fail_with_not_implemented_yet():
    for name in exercises.part1.__all__:
        if name.startswith("check_"):
            fails(getattr(exercises, name), stub, "not implemented yet")


def test_or_reference_falls_back_on_the_stub_and_keeps_the_random_stream(capsys):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    fn = exercises.or_reference(stub, exercises.reference_negative_elbo, exercises.check_negative_elbo, "the ELBO")
    assert fn is exercises.reference_negative_elbo and "until yours is done" in capsys.readouterr().out
    torch.manual_seed(0)
    fn = exercises.or_reference(exercises.reference_gan_step, stub, exercises.check_gan_step, "the step")
    assert fn is exercises.reference_gan_step
    assert torch.equal(torch.rand(3), expected)                 # the checks drew inside fork_rng


# ------------------------------------------------------------------ 00
def bll(x, mu):
    mu = mu.clamp(1e-6, 1 - 1e-6)
    return (x * mu.log() + (1 - x) * (1 - mu).log()).sum(-1)


def test_bernoulli_log_likelihood(capsys):
    assert exercises.check_bernoulli_log_likelihood(bll)
    assert "✔" in capsys.readouterr().out
    fails(exercises.check_bernoulli_log_likelihood, lambda x, mu: (x * mu.log() + (1 - x) * (1 - mu).log()).sum(-1),
          "clamp mu")
    fails(exercises.check_bernoulli_log_likelihood, lambda x, mu: -bll(x, mu), "sign flipped")
    fails(exercises.check_bernoulli_log_likelihood, lambda x, mu: bll(x, mu) / x.shape[1], "averaged over the pixels")
    fails(exercises.check_bernoulli_log_likelihood, lambda x, mu: bll(1 - x, mu), "swapped")
    fails(exercises.check_bernoulli_log_likelihood, lambda x, mu: bll(x, mu).sum(), "shape")


def mixture(x, log_pi, mu):
    mu = mu.clamp(1e-6, 1 - 1e-6)
    joint = x @ mu.log().T + (1 - x) @ (1 - mu).log().T + log_pi
    log_px = torch.logsumexp(joint, 1)
    return log_px, joint, (joint - log_px[:, None]).exp()


def em(x, log_pi, mu, smooth=True, normalise=True, new_lp=False):
    log_px, joint, r = mixture(x, log_pi, mu)
    if not normalise:
        r = joint.exp()
    nk = r.sum(0) + 1e-8
    mu_new = (r.T @ x + 1) / (nk[:, None] + 2) if smooth else (r.T @ x) / nk[:, None]
    log_pi_new = (nk / len(x)).log()
    lp = mixture(x, log_pi_new, mu_new)[0].mean() if new_lp else log_px.mean()
    return log_pi_new, mu_new, lp


def test_em_step(capsys):
    assert exercises.check_em_step(em)
    assert "log p(x) per image" in capsys.readouterr().out
    fails(exercises.check_em_step, lambda *a: em(*a, smooth=False), "not smoothed")
    fails(exercises.check_em_step, lambda *a: em(*a, normalise=False), "not normalised")
    fails(exercises.check_em_step, lambda *a: em(*a, new_lp=True), "before the update")
    fails(exercises.check_em_step, lambda *a: (em(*a)[0].exp(),) + em(*a)[1:], "not log pi")
    fails(exercises.check_em_step, lambda *a: em(*a)[:2], "three things")


def test_bits_per_dim():
    assert exercises.check_bits_per_dim(lambda nll, d: nll / (d * math.log(2)))
    fails(exercises.check_bits_per_dim, lambda nll, d: nll * math.log(2) / d, "multiplied by ln 2")
    fails(exercises.check_bits_per_dim, lambda nll, d: nll / d, "nats per dimension")
    fails(exercises.check_bits_per_dim, lambda nll, d: nll / math.log(2), "bits per IMAGE")
    fails(exercises.check_bits_per_dim, lambda nll, d: nll / (d * math.log(10)), "ln 10")


# ------------------------------------------------------------------ 01
def ista(x, phi, lam, num_iters, factor=2.0, thresh=None, prox=True):
    L = sparse.lipschitz(phi)
    a = torch.zeros(x.shape[0], phi.shape[0], dtype=x.dtype)
    for _ in range(num_iters):
        z = a - factor * (a @ phi - x) @ phi.T / L
        a = sparse.soft_threshold(z, lam / L if thresh is None else thresh) if prox else z
    return a


def test_ista(capsys):
    assert exercises.check_ista(ista)
    assert "energy" in capsys.readouterr().out
    fails(exercises.check_ista, lambda x, phi, lam, n: ista(x, phi, lam, n, factor=1.0), "factor 2")
    fails(exercises.check_ista, lambda x, phi, lam, n: ista(x, phi, lam, n, thresh=lam), "threshold lam instead")
    fails(exercises.check_ista, lambda x, phi, lam, n: ista(x, phi, lam, n, prox=False), "no soft threshold")
    fails(exercises.check_ista, lambda x, phi, lam, n: torch.ones(x.shape[0], phi.shape[0], dtype=x.dtype),
          "0 iterations")


def update(x, a, dim=1, normalise=True):
    phi = torch.linalg.solve(a.T @ a, a.T @ x)
    return phi / phi.norm(dim=dim, keepdim=True) if normalise else phi


def test_dictionary_update():
    assert exercises.check_dictionary_update(update)
    fails(exercises.check_dictionary_update, lambda x, a: update(x, a, normalise=False), "not unit norm")
    fails(exercises.check_dictionary_update, lambda x, a: update(x, a, dim=0), "normalised the columns")
    fails(exercises.check_dictionary_update, lambda x, a: update(x, a).T, "shape")


def test_lambda_max():
    assert exercises.check_lambda_max(lambda x, phi: 2 * (x @ phi.T).abs().amax(1))
    fails(exercises.check_lambda_max, lambda x, phi: (x @ phi.T).abs().amax(1), "factor 2")
    fails(exercises.check_lambda_max, lambda x, phi: 2 * (x @ phi.T).amax(1), "negative correlations")
    fails(exercises.check_lambda_max, lambda x, phi: 2 * (x @ phi.T).abs().amax(0), "shape")


# ------------------------------------------------------------------ 02
def bce(logits, x):
    return -(x * -F.softplus(-logits) + (1 - x) * -F.softplus(logits)).flatten(1).sum(1).mean()


def test_bce():
    assert exercises.check_bce(bce)
    fails(exercises.check_bce, lambda o, x: bce(o, x) / x[0].numel(), "averaged over the pixels")
    fails(exercises.check_bce, lambda o, x: -bce(o, x), "sign flipped")
    fails(exercises.check_bce, lambda o, x: bce(o, x) * len(x), "summed over the batch")
    naive = lambda o, x: -(x * torch.sigmoid(o).log() + (1 - x) * (1 - torch.sigmoid(o)).log()).flatten(1).sum(1).mean()
    fails(exercises.check_bce, naive, "large")


def angles(a, b):
    qa, qb = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    return torch.arccos(torch.linalg.svdvals(qa.T @ qb).clamp(-1, 1)).sort().values


def test_principal_angles():
    assert exercises.check_principal_angles(angles)
    fails(exercises.check_principal_angles, lambda a, b: torch.rad2deg(angles(a, b)), "degrees")
    fails(exercises.check_principal_angles, lambda a, b: angles(a, b).flip(0), "descending")
    fails(exercises.check_principal_angles, lambda a, b: torch.linalg.svdvals(torch.linalg.qr(a)[0].T @ torch.linalg.qr(b)[0]),
          "cosines")
    fails(exercises.check_principal_angles,
          lambda a, b: torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(-1, 1)).sort().values, "orthonormalised")


def masking(x, fraction, generator):
    return x * (torch.rand(x.shape, generator=generator) >= fraction)


def test_masking_noise():
    assert exercises.check_masking_noise(masking)
    fails(exercises.check_masking_noise, lambda x, f, g: x * (torch.rand(x.shape, generator=g) < f), "rand < fraction")
    fails(exercises.check_masking_noise, lambda x, f, g: masking(x, f, g) / (1 - f), "dropout")
    fails(exercises.check_masking_noise, lambda x, f, g: x * (torch.rand(x.shape) >= f), "same seed differ")


def dae(net, x, fraction, generator):
    return autoencoding.reconstruction_loss(net(masking(x, fraction, generator)), x, "bce")


def test_denoising_loss():
    assert exercises.check_denoising_loss(dae)
    def noisy_target(net, x, f, g):
        x_noisy = masking(x, f, g)
        return autoencoding.reconstruction_loss(net(x_noisy), x_noisy, "bce")

    fails(exercises.check_denoising_loss, noisy_target, "CLEAN x")
    fails(exercises.check_denoising_loss, lambda net, x, f, g: autoencoding.reconstruction_loss(net(x), x, "bce"),
          "not corrupted")
    fails(exercises.check_denoising_loss,
          lambda net, x, f, g: autoencoding.reconstruction_loss(net(masking(x, f, g)), x, "mse"), "squared error")
    fails(exercises.check_denoising_loss, lambda net, x, f, g: dae(net, x, f, g).detach(), "no gradient")


# ------------------------------------------------------------------ 03
def conv_mask(k, t, centre_row=False, centre=None):
    c = k // 2
    m = torch.zeros(k, k)
    m[:c] = 1
    m[c, :c] = 1
    if centre_row:
        m[c, c + 1:] = 1
    if (t == "B") if centre is None else centre:
        m[c, c] = 1
    return m


def test_conv_mask():
    assert exercises.check_conv_mask(conv_mask)
    fails(exercises.check_conv_mask, lambda k, t: conv_mask(k, t, centre=True), "centre pixel sees itself")
    fails(exercises.check_conv_mask, lambda k, t: conv_mask(k, t, centre=False), "type B includes it")
    fails(exercises.check_conv_mask, lambda k, t: conv_mask(k, t, centre_row=True), "right of the centre")
    fails(exercises.check_conv_mask, lambda k, t: conv_mask(k, t).T, "transposed")


class GoodConv(nn.Conv2d):
    centre: bool | None = None                                 # None: by type; True/False: a mistake
    mask_in_forward = True

    def __init__(self, in_channels, out_channels, kernel_size, mask_type):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        centre = (mask_type == "B") if self.centre is None else self.centre
        m = conv_mask(kernel_size, mask_type, centre=centre)
        self.register_buffer("mask", m[None, None].expand_as(self.weight).clone())
        if not self.mask_in_forward:
            with torch.no_grad():
                self.weight.mul_(self.mask)

    def forward(self, x):
        w = self.weight * self.mask if self.mask_in_forward else self.weight
        return F.conv2d(x, w, self.bias, padding=self.padding)


class TypeBEverywhere(GoodConv):
    centre = True


class NoCentre(GoodConv):
    centre = False


class MaskedOnce(GoodConv):
    mask_in_forward = False


class NoPadding(GoodConv):
    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias)


class WholeRow(GoodConv):
    def __init__(self, i, o, k, t):
        super().__init__(i, o, k, t)
        self.mask[:, :, k // 2, :] = 1


class PlainAttribute(nn.Conv2d):
    def __init__(self, i, o, k, t):
        super().__init__(i, o, k, padding=k // 2)
        self.m = ar.conv_mask(k, t, i, o)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.m, self.bias, padding=self.padding)


def test_masked_conv():
    assert exercises.check_masked_conv(GoodConv)
    assert exercises.check_masked_conv(ar.masked_conv)           # the course's version, used as the reference
    fails(exercises.check_masked_conv, TypeBEverywhere, "centre pixel sees itself: a type-A mask excludes the centre")
    fails(exercises.check_masked_conv, NoCentre, "type B includes it")
    fails(exercises.check_masked_conv, NoPadding, "kernel_size // 2")
    fails(exercises.check_masked_conv, WholeRow, "later pixel")
    fails(exercises.check_masked_conv, MaskedOnce, "inside forward")
    fails(exercises.check_masked_conv, PlainAttribute, "register_buffer")


def nll_bpd(logits, x, per_pixel=False, bits=True, d_all=False):
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    nll = nll.mean(1) if per_pixel else nll.sum(1)
    d = x.numel() if d_all else x[0].numel()
    return nll, nll / (d * (math.log(2) if bits else 1.0))


def test_nll_and_bpd():
    assert exercises.check_nll_and_bpd(nll_bpd)
    fails(exercises.check_nll_and_bpd, lambda o, x: nll_bpd(o, x, per_pixel=True), "averaged over the pixels")
    fails(exercises.check_nll_and_bpd, lambda o, x: nll_bpd(o, x, bits=False), "nats per dimension")
    fails(exercises.check_nll_and_bpd, lambda o, x: nll_bpd(o, x, d_all=True), "whole batch")


# ------------------------------------------------------------------ 04
def kl(mu, logvar):
    return 0.5 * (mu ** 2 + logvar.exp() - 1 - logvar).sum(-1)


def test_kl_normal():
    assert exercises.check_kl_normal(kl)
    fails(exercises.check_kl_normal, lambda mu, lv: 2 * kl(mu, lv), "forget the 1/2")
    fails(exercises.check_kl_normal, lambda mu, lv: -kl(mu, lv), "sign flipped")
    fails(exercises.check_kl_normal, lambda mu, lv: kl(mu, lv) / mu.shape[1], "averaged over the latent")
    fails(exercises.check_kl_normal, lambda mu, lv: 0.5 * (mu ** 2 + (2 * lv).exp() - 1 - 2 * lv).sum(-1),
          "log sigma\\^2")


def elbo(net, x, y=None, beta=1.0, half=True, noise=True, beta_ok=True, detach=False, det=True):
    mu, logvar = net.encode(x, y)
    std = (0.5 * logvar).exp() if half else logvar.exp()
    eps = torch.randn_like(mu)
    z = mu if (net.deterministic and det) or not noise else mu + std * eps
    if detach:
        z = z.detach()
    recon = likelihood.bernoulli_nll(net.decode(z, y), x)
    k = kl(mu, logvar)
    return (recon + (beta if beta_ok else 1.0) * k).mean(), recon, k


def test_negative_elbo(capsys):
    assert exercises.check_negative_elbo(elbo)
    assert exercises.check_negative_elbo(exercises.reference_negative_elbo)
    fails(exercises.check_negative_elbo, lambda *a: elbo(*a, half=False), "exp\\(logvar / 2\\)")
    fails(exercises.check_negative_elbo, lambda *a: elbo(*a, noise=False), "z = mu: the VAE samples")
    fails(exercises.check_negative_elbo, lambda *a: elbo(*a, beta_ok=False), "beta is ignored")
    fails(exercises.check_negative_elbo, lambda *a: elbo(*a, detach=True), "gradient")
    fails(exercises.check_negative_elbo, lambda *a: elbo(*a, det=False), "net.deterministic is True")
    fails(exercises.check_negative_elbo, lambda net, x, y=None, beta=1.0: elbo(net, x, None, beta), "pass labels y")


def iwae(log_px_z, log_pz, log_qz):
    lw = log_px_z + log_pz - log_qz
    return torch.logsumexp(lw, 1) - math.log(lw.shape[1])


def test_iwae():
    assert exercises.check_iwae(iwae)
    fails(exercises.check_iwae, lambda a, b, c: torch.logsumexp(a + b - c, 1), "SUM of the weights")
    fails(exercises.check_iwae, lambda a, b, c: (a + b - c).mean(1), "ELBO")
    fails(exercises.check_iwae, lambda a, b, c: (a + b - c).exp().mean(1).log(), "underflows")
    fails(exercises.check_iwae, lambda a, b, c: iwae(a, b, -c), "sign of log q")


# ------------------------------------------------------------------ 05
def test_optimal_d():
    assert exercises.check_optimal_d(lambda lp, lg: torch.sigmoid(lp - lg))
    fails(exercises.check_optimal_d, lambda lp, lg: lp.exp() / (lp.exp() + lg.exp()), "underflows")
    fails(exercises.check_optimal_d, lambda lp, lg: torch.sigmoid(lg - lp), "REAL")
    fails(exercises.check_optimal_d, lambda lp, lg: lp - lg, "sigmoid")


def step(G, D, opt_g, opt_d, x_real, z, g_loss=losses.nonsaturating_g_loss, zero=True, detach=True, stale=False):
    x_fake = G(z)
    old = D(x_fake) if stale else None
    loss_d = losses.minimax_d_loss(D(x_real), D(x_fake.detach() if detach else x_fake))
    if zero:
        opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = g_loss(old if stale else D(x_fake))
    if zero:
        opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    return loss_d.item(), loss_g.item()


def test_gan_step():
    assert exercises.check_gan_step(step)
    fails(exercises.check_gan_step, lambda *a: step(*a, g_loss=losses.minimax_g_loss), "non-saturating")
    fails(exercises.check_gan_step, lambda *a: step(*a, zero=False), "zero_grad")
    fails(exercises.check_gan_step, lambda *a: step(*a, detach=False), "detach")
    fails(exercises.check_gan_step, lambda *a: step(*a, stale=True), "after opt_d.step")
    fails(exercises.check_gan_step, lambda *a: step(*a, g_loss=lambda logits: losses.nonsaturating_g_loss(logits.detach())
                                                    .requires_grad_()), "G did not change")


def count(samples, modes, std, n_std=3.0, share=0.1, quality=True):
    dist = torch.cdist(samples.double(), modes.double())
    dmin, nearest = dist.min(1)
    keep = dmin < n_std * std if quality else torch.ones_like(dmin, dtype=torch.bool)
    counts = torch.bincount(nearest[keep], minlength=len(modes))
    return int((counts >= max(1.0, share * len(samples) / len(modes))).sum())


def test_count_modes():
    assert exercises.check_count_modes(count)
    fails(exercises.check_count_modes, lambda s, m, sd: count(s, m, sd, n_std=1.0), "3 \\* std")
    fails(exercises.check_count_modes, lambda s, m, sd: count(s, m, sd, share=1.0), "10% of its expected share")
    fails(exercises.check_count_modes, lambda s, m, sd: count(s, m, sd, share=0.0), "stray samples")
    fails(exercises.check_count_modes, lambda s, m, sd: count(s, m, sd, quality=False), "NEAREST centre")
    fails(exercises.check_count_modes, lambda s, m, sd: "three", "an int")
