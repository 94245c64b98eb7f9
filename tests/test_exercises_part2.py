"""Checks of notebooks 06-10 (course_lib/exercises/part2.py): the solution passes, the stub and plausible mistakes fail
with a message naming the symptom."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import exercises, gan, images, losses, metrics


def stub(*args, **kwargs):
    raise NotImplementedError()


def fails(check, fn, match):
    with pytest.raises(exercises.ExerciseError, match=match):
        check(fn)


# ----------------------------------------------------------------------------------------
# 06
# ----------------------------------------------------------------------------------------
def test_convt_out():
    assert exercises.check_convt_out(lambda h, k, s, p: (h - 1) * s - 2 * p + k)
    fails(exercises.check_convt_out, stub, "not implemented yet")
    fails(exercises.check_convt_out, lambda h, k, s, p: (h + 2 * p - k) // s + 1, "forward\\) convolution")
    fails(exercises.check_convt_out, lambda h, k, s, p: (h - 1) * s + k, "padding is ignored")
    fails(exercises.check_convt_out, lambda h, k, s, p: (h - 1) * s - p + k, "subtracted twice")


def gen_block(i, o, act=None, bias=False, k=4, bn=True, order="cba"):
    layers = {"c": nn.ConvTranspose2d(i, o, k, 2, 1, bias=bias), "b": nn.BatchNorm2d(o), "a": act or nn.ReLU(True)}
    return nn.Sequential(*[layers[c] for c in order if bn or c != "b"])


def disc_block(i, o, act=None, bias=False):
    return nn.Sequential(nn.Conv2d(i, o, 4, 2, 1, bias=bias), nn.BatchNorm2d(o), act or nn.LeakyReLU(0.2, True))


def test_generator_block():
    assert exercises.check_generator_block(gen_block)
    fails(exercises.check_generator_block, stub, "not implemented yet")
    fails(exercises.check_generator_block, lambda i, o: gen_block(i, o, nn.LeakyReLU(0.2)), "LeakyReLU is the discrim")
    fails(exercises.check_generator_block, lambda i, o: gen_block(i, o, k=3), r"\(4, 4, 15, 15\).*k = 4, s = 2, p = 1")
    fails(exercises.check_generator_block, lambda i, o: gen_block(i, o, bias=True), "bias=False")
    fails(exercises.check_generator_block, lambda i, o: gen_block(i, o, bn=False), "no nn.BatchNorm2d")
    fails(exercises.check_generator_block, lambda i, o: gen_block(i, o, order="cab"),
          "ConvTranspose2d -> ReLU -> BatchNorm2d; the DCGAN order is ConvTranspose2d -> BatchNorm2d -> ReLU")
    fails(exercises.check_generator_block, lambda i, o: disc_block(i, o, nn.ReLU()), "found nn.Conv2d")


def test_discriminator_block():
    assert exercises.check_discriminator_block(disc_block)
    fails(exercises.check_discriminator_block, stub, "not implemented yet")
    fails(exercises.check_discriminator_block, lambda i, o: disc_block(i, o, nn.ReLU()), "ReLU; D uses LeakyReLU")
    fails(exercises.check_discriminator_block, lambda i, o: disc_block(i, o, nn.LeakyReLU()), "slope 0.01")
    fails(exercises.check_discriminator_block, lambda i, o: disc_block(i, o, bias=True), "has a bias")


def slerp(z0, z1, t):
    omega = torch.arccos((z0 / z0.norm()).dot(z1 / z1.norm()).clamp(-1, 1))
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)


def test_slerp():
    assert exercises.check_slerp(slerp)
    fails(exercises.check_slerp, stub, "not implemented yet")
    fails(exercises.check_slerp, lambda z0, z1, t: (1 - t) * z0 + t * z1, "linear interpolation")
    fails(exercises.check_slerp, lambda z0, z1, t: slerp(z1, z0, t), "swapped")


# ----------------------------------------------------------------------------------------
# 07
# ----------------------------------------------------------------------------------------
def gp(critic, x_real, x_fake, eps, dim1=False, create_graph=True, target=1.0):
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    norms = grad.norm(2, dim=1) if dim1 else grad.reshape(len(grad), -1).norm(2, dim=1)
    return ((norms - target) ** 2).mean()


def test_gradient_penalty():
    assert exercises.check_gradient_penalty(gp)
    fails(exercises.check_gradient_penalty, stub, "not implemented yet")
    fails(exercises.check_gradient_penalty, lambda *a: gp(*a, dim1=True), r"norm taken over dim=1 only.*flatten")
    fails(exercises.check_gradient_penalty, lambda *a: gp(*a, target=0.0), "target norm is 1")
    fails(exercises.check_gradient_penalty, lambda *a: gp(*a, create_graph=False), "create_graph=True")
    fails(exercises.check_gradient_penalty, lambda c, r, f, e: gp(c, f, r, e), "real and fake swapped")


def test_random_eps_penalty_reproduces_the_library():
    critic = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, 1))
    xr, xf = torch.randn(5, 1, 6, 6), torch.randn(5, 1, 6, 6)
    torch.manual_seed(3)
    mine = exercises.random_eps_penalty(exercises.reference_gradient_penalty)(critic, xr, xf)
    torch.manual_seed(3)
    assert torch.equal(mine, losses.gradient_penalty(critic, xr, xf))
    with pytest.raises(ValueError, match="gp should be a function"):
        exercises.random_eps_penalty(3)
    with pytest.raises(ValueError, match="eps must have shape"):
        exercises.reference_gradient_penalty(critic, xr, xf, torch.rand(5, 1))


def test_or_reference_hands_back_the_students_penalty_or_the_course_one(capsys):
    assert exercises.or_reference(gp, exercises.reference_gradient_penalty, exercises.check_gradient_penalty,
                                  "the gradient penalty") is gp
    wrong = lambda *a: gp(*a, dim1=True)
    assert exercises.or_reference(wrong, exercises.reference_gradient_penalty, exercises.check_gradient_penalty,
                                  "the gradient penalty") is exercises.reference_gradient_penalty
    assert "its check fails" in capsys.readouterr().out


def lsgan(sr, sf, a=0.0, b=1.0, c=1.0, half=0.5):
    return half * ((sr - b) ** 2).mean() + half * ((sf - a) ** 2).mean(), half * ((sf - c) ** 2).mean()


def test_lsgan_losses():
    assert exercises.check_lsgan_losses(lsgan)
    fails(exercises.check_lsgan_losses, stub, "not implemented yet")
    fails(exercises.check_lsgan_losses, lambda *a, **k: lsgan(*a, **k, half=1.0), "factor 2.*1/2")
    fails(exercises.check_lsgan_losses, lambda sr, sf, a, b, c: lsgan(sr, sf, b, a, c), "targets swapped")
    fails(exercises.check_lsgan_losses, lambda sr, sf, a, b, c: lsgan(sr, sf, a, b, b), "target is c")
    fails(exercises.check_lsgan_losses, lambda *a, **k: tuple(v.detach() for v in lsgan(*a, **k)), "no gradient")


def hinge(sr, sf):
    return F.relu(1 - sr).mean() + F.relu(1 + sf).mean(), -sf.mean()


def test_hinge_losses():
    assert exercises.check_hinge_losses(hinge)
    fails(exercises.check_hinge_losses, stub, "not implemented yet")
    fails(exercises.check_hinge_losses, lambda sr, sf: ((1 - sr).mean() + (1 + sf).mean(), -sf.mean()), "no hinge")
    fails(exercises.check_hinge_losses, lambda sr, sf: (hinge(sr, sf)[0], F.relu(1 - sf).mean()), "no relu")
    fails(exercises.check_hinge_losses, lambda sr, sf: (hinge(sr, sf)[0], sf.mean()), "sign flipped")
    fails(exercises.check_hinge_losses, lambda sr, sf: hinge(sf, sr), "loss_d is not correct")


# ----------------------------------------------------------------------------------------
# 08
# ----------------------------------------------------------------------------------------
def acgan_term(b):
    return F.cross_entropy(b.aux_real, b.c_real) + F.cross_entropy(b.aux_fake, b.c_fake)


def test_acgan_class_d_term():
    assert exercises.check_acgan_class_d_term(acgan_term)
    assert exercises.check_acgan_class_d_term(gan.aux_class_d_term)
    fails(exercises.check_acgan_class_d_term, stub, "not implemented yet")
    fails(exercises.check_acgan_class_d_term, lambda b: F.cross_entropy(b.aux_real, b.c_real), "fakes' class loss")
    fails(exercises.check_acgan_class_d_term,
          lambda b: F.cross_entropy(b.aux_real, b.c_real) + F.cross_entropy(b.aux_fake, b.c_real), "b.c_fake")
    fails(exercises.check_acgan_class_d_term,
          lambda b: F.cross_entropy(b.aux_real.softmax(1), b.c_real) + F.cross_entropy(b.aux_fake.softmax(1), b.c_fake),
          "do not apply softmax")


def gaussian_nll(c, mu, log_sigma, half=0.5):
    return log_sigma + 0.5 * math.log(2 * math.pi) + half * ((c - mu) / log_sigma.exp()) ** 2


def test_gaussian_nll():
    assert exercises.check_gaussian_nll(gaussian_nll)
    fails(exercises.check_gaussian_nll, stub, "not implemented yet")
    fails(exercises.check_gaussian_nll, lambda c, m, s: gaussian_nll(c, m, s, half=1.0), "the 1/2 is missing")
    fails(exercises.check_gaussian_nll, lambda c, m, s: -gaussian_nll(c, m, s), "sign flipped")
    fails(exercises.check_gaussian_nll, lambda c, m, s: s + 0.5 * math.log(2 * math.pi) + 0.5 * ((c - m) / s) ** 2,
          "divided by log_sigma")
    fails(exercises.check_gaussian_nll, lambda c, m, s: gaussian_nll(c, m, s).mean(), "element-wise")


def unsup(lr, lf):
    return F.softplus(-torch.logsumexp(lr, 1)).mean() + F.softplus(torch.logsumexp(lf, 1)).mean()


def test_unsupervised_loss():
    assert exercises.check_unsupervised_loss(unsup)
    fails(exercises.check_unsupervised_loss, stub, "not implemented yet")
    fails(exercises.check_unsupervised_loss, lambda lr, lf: unsup(lf, lr) * 0 + F.softplus(torch.logsumexp(lr, 1)).mean()
          + F.softplus(-torch.logsumexp(lf, 1)).mean(), "signs swapped")

    def naive(lr, lf):
        zr, zf = lr.exp().sum(1), lf.exp().sum(1)
        return -(zr / (zr + 1)).log().mean() - (1 / (zf + 1)).log().mean()

    fails(exercises.check_unsupervised_loss, naive, "overflows")


# ----------------------------------------------------------------------------------------
# 09
# ----------------------------------------------------------------------------------------
def pyramid(x, levels, sign=1.0):
    out = []
    for _ in range(levels - 1):
        coarse = images.downsample(x, 2, "area")
        out.append(sign * (x - images.upsample(coarse, 2, "bilinear")))
        x = coarse
    return out + [x]


def rebuild(pyr):
    x = pyr[-1]
    for h in reversed(pyr[:-1]):
        x = images.upsample(x, 2, "bilinear") + h
    return x


def test_pyramid_and_rebuild():
    assert exercises.check_pyramid(pyramid)
    assert exercises.check_rebuild(rebuild)
    fails(exercises.check_pyramid, stub, "not implemented yet")
    fails(exercises.check_rebuild, stub, "not implemented yet")
    fails(exercises.check_pyramid, lambda x, n: pyramid(x, n, sign=-1.0), "sign flipped")
    fails(exercises.check_pyramid, lambda x, n: pyramid(x, n)[:-1], "last the coarse image")
    fails(exercises.check_pyramid, lambda x, n: [g - h for g, h in zip(images.gaussian_pyramid(x, n), pyramid(x, n)[:-1])]
          + [pyramid(x, n)[-1]], "the blurred image")
    fails(exercises.check_rebuild, lambda p: rebuild([h * 0 for h in p[:-1]] + [p[-1]]), "bands are dropped")

    def fine_to_coarse(pyr):
        x = pyr[0]
        for h in pyr[1:]:
            x = images.upsample(x, 2, "bilinear") + h
        return x

    fails(exercises.check_rebuild, fine_to_coarse, "raised RuntimeError|coarsest")


def ortho(weight, beta, full=False, mask=True):
    w = weight.reshape(weight.shape[0], -1)
    gram = w @ w.T
    eye = torch.eye(len(gram), device=gram.device, dtype=gram.dtype)
    off = gram - eye if full else (gram * (1 - eye) if mask else gram)
    return beta * (off ** 2).sum()


def test_ortho_reg():
    assert exercises.check_ortho_reg(ortho)
    fails(exercises.check_ortho_reg, stub, "not implemented yet")
    fails(exercises.check_ortho_reg, lambda w, b, full=False: ortho(w, b, full, mask=False), "diagonal is penalised")
    fails(exercises.check_ortho_reg, lambda w, b, full=False: ortho(w.reshape(w.shape[0], -1).T, b, full),
          "Gram matrix of the columns")
    fails(exercises.check_ortho_reg, lambda w, b, full=False: ortho(w, 1.0, full), "beta is missing")
    fails(exercises.check_ortho_reg, lambda w, b, full=False: ortho(w, b, full).detach(), "no gradient")


def adain(x, scale, bias, unbiased=False, dims=(2, 3)):
    mu = x.mean(dims, keepdim=True)
    sigma = (x.var(dims, keepdim=True, unbiased=unbiased) + 1e-5).sqrt()
    return scale[:, :, None, None] * (x - mu) / sigma + bias[:, :, None, None]


def test_adain():
    assert exercises.check_adain(adain)
    fails(exercises.check_adain, stub, "not implemented yet")
    fails(exercises.check_adain, lambda x, s, b: adain(x, s, b, unbiased=True), "unbiased variance")
    fails(exercises.check_adain, lambda x, s, b: adain(x, s, b, dims=(1, 2, 3)), r"over \(C, H, W\)")
    fails(exercises.check_adain, lambda x, s, b: adain(x, s, b, dims=(0, 2, 3)), "batch norm")
    fails(exercises.check_adain, lambda x, s, b: s[:, :, None, None] * (x - x.mean((2, 3), keepdim=True))
          / (x.var((2, 3), keepdim=True, unbiased=False).sqrt() + 1e-5) + b[:, :, None, None], "eps goes inside")


# ----------------------------------------------------------------------------------------
# 10
# ----------------------------------------------------------------------------------------
def fid(f_real, f_fake, sqrtm=True, trace=True):
    mu_r, mu_g = f_real.mean(0), f_fake.mean(0)
    s_r, s_g = np.cov(f_real, rowvar=False), np.cov(f_fake, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_r @ s_g).real if sqrtm else s_r @ s_g
    return float(((mu_r - mu_g) ** 2).sum() + (np.trace(s_r + s_g - 2 * covmean) if trace else 0.0))


def test_fid_from_features():
    assert exercises.check_fid_from_features(fid)
    fails(exercises.check_fid_from_features, stub, "not implemented yet")
    fails(exercises.check_fid_from_features, lambda a, b: fid(a, b, sqrtm=False), "matrix square root")
    fails(exercises.check_fid_from_features, lambda a, b: fid(a, b, trace=False), "only the mean term")


def inception(p, exp=True):
    p_y = p.mean(0, keepdim=True)
    kl = (p * (p.clamp_min(1e-30).log() - p_y.log())).sum(1).mean()
    return float(kl.exp() if exp else kl)


def test_inception_score():
    assert exercises.check_inception_score(inception)
    fails(exercises.check_inception_score, stub, "not implemented yet")
    fails(exercises.check_inception_score, lambda p: inception(p, exp=False), "exponentiate")
    fails(exercises.check_inception_score,
          lambda p: float((p.mean(0, keepdim=True) * (p.mean(0, keepdim=True).log() - p.log())).sum(1).mean().exp()),
          "KL reversed")


def coverage(points, support, k=3, self_included=False):
    p, s = torch.as_tensor(np.asarray(points, np.float64)), torch.as_tensor(np.asarray(support, np.float64))
    r = torch.cdist(s, s).kthvalue(k if self_included else k + 1, dim=1).values
    return float((torch.cdist(p, s) <= r[None, :]).any(1).double().mean())


def test_manifold_coverage():
    assert exercises.check_manifold_coverage(coverage)
    assert exercises.check_manifold_coverage(metrics.manifold_coverage)
    fails(exercises.check_manifold_coverage, stub, "not implemented yet")
    fails(exercises.check_manifold_coverage, lambda p, s, k: coverage(p, s, k, self_included=True), "point itself")
    fails(exercises.check_manifold_coverage, lambda p, s, k: coverage(s, p, k), "swapped")


def mig(mi, h, norm=True):
    top2 = np.sort(mi, axis=0)[::-1][:2]
    return float(((top2[0] - top2[1]) / (h if norm else 1)).mean())


def test_mig_from_mi():
    assert exercises.check_mig_from_mi(mig)
    fails(exercises.check_mig_from_mi, stub, "not implemented yet")
    fails(exercises.check_mig_from_mi, lambda mi, h: mig(mi, h, norm=False), "entropy")
    fails(exercises.check_mig_from_mi, lambda mi, h: mig(mi.T, h), "wrong axis|raised")


def test_reference_gradient_penalty_matches_the_library_on_a_patch_critic():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 1, 3, stride=2)                       # 3 x 3 patch scores per 8 x 8 image
    critic = lambda x: conv(x).flatten()                            # (B * P,) as nets.image2image.PatchScores  # noqa: E731
    xr, xf = torch.randn(4, 3, 8, 8), torch.randn(4, 3, 8, 8)
    lib = losses.gradient_penalty(critic, xr, xf, generator=torch.Generator().manual_seed(1))
    eps = torch.rand((4, 1, 1, 1), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(exercises.reference_gradient_penalty(critic, xr, xf, eps), lib)
