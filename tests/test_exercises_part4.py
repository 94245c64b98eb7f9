"""Checks of notebooks 16-20 (course_lib.exercises.part4): the right answer passes, the stub and known
mistakes fail with a message that names the mistake."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import exercises, images


def stub(*args, **kwargs):
    raise NotImplementedError()


def fails(check, answer, match: str) -> None:
    with pytest.raises(exercises.ExerciseError, match=match):
        check(answer)


# ----------------------------------------------------------------------------------------- 16
def cycle_right(G, F_, a, b):
    return (F_(G(a)) - a).abs().mean() + (G(F_(b)) - b).abs().mean()


def identity_right(G, F_, a, b):
    return (G(b) - b).abs().mean() + (F_(a) - a).abs().mean()


def retrieval_right(queries, gallery):
    d = torch.cdist(queries.flatten(1), gallery.flatten(1))
    return float((d.argmin(1) == torch.arange(len(queries))).float().mean())


def test_cycle_loss(capsys):
    assert exercises.check_cycle_loss(cycle_right)
    assert "✔ cycle_loss" in capsys.readouterr().out
    fails(exercises.check_cycle_loss, stub, "not implemented yet")
    fails(exercises.check_cycle_loss, lambda G, F_, a, b: (F_(G(a)) - a).abs().mean(), "only the A -> B -> A cycle")
    fails(exercises.check_cycle_loss, lambda G, F_, a, b: (G(F_(a)) - a).abs().mean() + (F_(G(b)) - b).abs().mean(),
          "wrong order")
    fails(exercises.check_cycle_loss, lambda G, F_, a, b: (F_(G(a)) - a).pow(2).mean() + (G(F_(b)) - b).pow(2).mean(),
          "L1 loss")
    fails(exercises.check_cycle_loss, lambda G, F_, a, b: 0.5 * cycle_right(G, F_, a, b), "factor 2")
    fails(exercises.check_cycle_loss, identity_right, "identity loss")
    fails(exercises.check_cycle_loss, lambda G, F_, a, b: cycle_right(G, F_, a, b).detach(), "no gradient")
    fails(exercises.check_cycle_loss,
          lambda G, F_, a, b: (F_(G(a).detach()) - a).abs().mean() + (G(F_(b)) - b).abs().mean(), "gradients")


def test_identity_loss():
    assert exercises.check_identity_loss(identity_right)
    fails(exercises.check_identity_loss, stub, "not implemented yet")
    fails(exercises.check_identity_loss, lambda G, F_, a, b: (G(a) - a).abs().mean() + (F_(b) - b).abs().mean(),
          "source")
    fails(exercises.check_identity_loss, lambda G, F_, a, b: (G(b) - b).abs().mean(), "only G's term")
    fails(exercises.check_identity_loss, cycle_right, "that is the cycle loss")
    fails(exercises.check_identity_loss, lambda G, F_, a, b: (G(b) - b).abs().sum() + (F_(a) - a).abs().sum(),
          "summed over the pixels")


def test_retrieval_at_1():
    assert exercises.check_retrieval_at_1(retrieval_right)
    fails(exercises.check_retrieval_at_1, stub, "not implemented yet")

    def argmax(q, g):
        return float((torch.cdist(q.flatten(1), g.flatten(1)).argmax(1) == torch.arange(len(q))).float().mean())

    def dim0(q, g):
        return float((torch.cdist(q.flatten(1), g.flatten(1)).argmin(0) == torch.arange(len(q))).float().mean())

    def count(q, g):
        return float((torch.cdist(q.flatten(1), g.flatten(1)).argmin(1) == torch.arange(len(q))).sum())

    fails(exercises.check_retrieval_at_1, argmax, "argmin")
    fails(exercises.check_retrieval_at_1, dim0, "dim 0")
    fails(exercises.check_retrieval_at_1, count, "count")


# ----------------------------------------------------------------------------------------- 17
def colour_right(x, palette, white_threshold=0.12):
    pix = x.permute(0, 2, 3, 1).reshape(len(x), -1, 3)
    drawn = ((1 - pix).amax(-1) > white_threshold).float()
    nearest = ((pix[:, :, None, :] - palette) ** 2).sum(-1).argmin(-1)
    counts = (F.one_hot(nearest, len(palette)).float() * drawn[..., None]).sum(1)
    return counts / counts.sum(1, keepdim=True).clamp_min(1)


def test_colour_fractions():
    assert exercises.check_colour_fractions(colour_right)
    fails(exercises.check_colour_fractions, stub, "not implemented yet")

    def no_clamp(x, palette, white_threshold=0.12):
        pix = x.permute(0, 2, 3, 1).reshape(len(x), -1, 3)
        drawn = ((1 - pix).amax(-1) > white_threshold).float()
        nearest = ((pix[:, :, None, :] - palette) ** 2).sum(-1).argmin(-1)
        counts = (F.one_hot(nearest, len(palette)).float() * drawn[..., None]).sum(1)
        return counts / counts.sum(1, keepdim=True)

    def with_background(x, palette, white_threshold=0.12):
        return colour_right(x, palette, white_threshold=-1.0)

    def all_channels(x, palette, white_threshold=0.12):
        pix = x.permute(0, 2, 3, 1).reshape(len(x), -1, 3)
        drawn = ((1 - pix).amin(-1) > white_threshold).float()
        nearest = ((pix[:, :, None, :] - palette) ** 2).sum(-1).argmin(-1)
        counts = (F.one_hot(nearest, len(palette)).float() * drawn[..., None]).sum(1)
        return counts / counts.sum(1, keepdim=True).clamp_min(1)

    fails(exercises.check_colour_fractions, no_clamp, "NaN")
    fails(exercises.check_colour_fractions, with_background, "background is counted")
    fails(exercises.check_colour_fractions, all_channels, "some")


def cls_right(D, x_real, x_fake, h):
    from course_lib import text2image
    s_r, s_w = torch.sigmoid(D(x_real, h)), torch.sigmoid(D(x_real, text2image.mismatch(h)))
    s_f = torch.sigmoid(D(x_fake, h))
    return -(torch.log(s_r) + 0.5 * (torch.log(1 - s_w) + torch.log(1 - s_f))).mean()


def test_gan_cls_d_loss():
    from course_lib import text2image
    assert exercises.check_gan_cls_d_loss(cls_right)
    fails(exercises.check_gan_cls_d_loss, stub, "not implemented yet")
    sp = F.softplus

    def no_wrong(D, x, xf, h):
        return sp(-D(x, h)).mean() + 0.5 * sp(D(xf, h)).mean()

    def wrong_weight_1(D, x, xf, h):
        return sp(-D(x, h)).mean() + sp(D(x, text2image.mismatch(h))).mean() + 0.5 * sp(D(xf, h)).mean()

    def fake_with_wrong_text(D, x, xf, h):
        return sp(-D(x, h)).mean() + 0.5 * (sp(D(xf, text2image.mismatch(h))).mean() + sp(D(xf, h)).mean())

    fails(exercises.check_gan_cls_d_loss, no_wrong, "wrong-text term is missing")
    fails(exercises.check_gan_cls_d_loss, wrong_weight_1, "weight 1")
    fails(exercises.check_gan_cls_d_loss, fake_with_wrong_text, "uses the fake image")
    fails(exercises.check_gan_cls_d_loss, lambda D, x, xf, h: -cls_right(D, x, xf, h), "sign flipped")
    fails(exercises.check_gan_cls_d_loss, lambda D, x, xf, h: cls_right(D, x, xf, h).detach(), "no gradient")


def test_style_loss():
    assert exercises.check_style_loss(lambda z, z_hat: ((z - z_hat) ** 2).sum(1).mean())
    fails(exercises.check_style_loss, stub, "not implemented yet")
    fails(exercises.check_style_loss, lambda z, z_hat: F.mse_loss(z_hat, z), "latent dimensions too")
    fails(exercises.check_style_loss, lambda z, z_hat: (z - z_hat).norm(dim=1).mean(), "squared")
    fails(exercises.check_style_loss, lambda z, z_hat: ((z - z_hat) ** 2).sum(), "summed over the batch")


# ----------------------------------------------------------------------------------------- 18
def ez_right(E_z, G, z, y):
    with torch.no_grad():
        x = G(z, y)
    return F.mse_loss(E_z(x), z)


def test_ez_loss():
    assert exercises.check_ez_loss(ez_right)
    fails(exercises.check_ez_loss, stub, "not implemented yet")
    fails(exercises.check_ez_loss, lambda E_z, G, z, y: F.mse_loss(E_z(G(z, y)), z), "reaches G")
    fails(exercises.check_ez_loss, lambda E_z, G, z, y: ez_right(E_z, G, z, y).detach(), "no gradient reaches E_z")
    fails(exercises.check_ez_loss, lambda E_z, G, z, y: ((E_z(G(z, y).detach()) - z) ** 2).sum(1).mean(),
          "summed over the latent dimensions")


def project_right(decode, x, w0, num_steps, lr, optimizer=torch.optim.Adam, zero_grad=True, extra=0, detach=True):
    from course_lib import inversion
    w = w0.detach().clone().requires_grad_(True)
    opt = optimizer([w], lr=lr)
    for _ in range(num_steps + extra):
        loss = inversion.reconstruction_loss(decode(w), x)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach() if detach else w


def test_project():
    assert exercises.check_project(project_right)
    fails(exercises.check_project, stub, "not implemented yet")
    fails(exercises.check_project, lambda *a: project_right(*a, optimizer=torch.optim.SGD), "SGD")
    fails(exercises.check_project, lambda *a: project_right(*a, zero_grad=False), "zero_grad")
    fails(exercises.check_project, lambda *a: project_right(*a, extra=1), "one step too many")
    fails(exercises.check_project, lambda *a: project_right(*a, detach=False), "detach")
    fails(exercises.check_project, lambda decode, x, w0, n, lr: w0.clone(), "did not move")

    def in_place(decode, x, w0, n, lr):
        w = w0.requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        from course_lib import inversion
        for _ in range(n):
            loss = inversion.reconstruction_loss(decode(w), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return w.detach()

    fails(exercises.check_project, in_place, "in place")


def test_data_consistent():
    assert exercises.check_data_consistent(lambda obs, g, op: (obs + g - op(g)).clamp(-1, 1))
    fails(exercises.check_data_consistent, stub, "not implemented yet")
    fails(exercises.check_data_consistent, lambda obs, g, op: (obs - g + op(g)).clamp(-1, 1), "sign flipped")
    fails(exercises.check_data_consistent, lambda obs, g, op: (obs + g).clamp(-1, 1), "all of G")
    fails(exercises.check_data_consistent, lambda obs, g, op: obs + g - op(g), "clamp")


# ----------------------------------------------------------------------------------------- 19
def tv_right(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def test_tv():
    assert exercises.check_tv(tv_right)
    fails(exercises.check_tv, stub, "not implemented yet")
    fails(exercises.check_tv, lambda x: (x[..., 1:, :] - x[..., :-1, :]).abs().mean(), "only the vertical")
    fails(exercises.check_tv, lambda x: (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
          + (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean(), "squared")
    fails(exercises.check_tv, lambda x: (x.roll(-1, 2) - x).abs().mean() + (x.roll(-1, 3) - x).abs().mean(),
          "wraps around")
    fails(exercises.check_tv, lambda x: (x[:, 1:] - x[:, :-1]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean(),
          "channel axis")
    fails(exercises.check_tv, lambda x: tv_right(x).detach(), "no gradient")


LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)


def detail_right(x_hat, x):
    def energy(imgs):
        return float(F.conv2d(images.luma(imgs), LAPLACE).abs().mean())
    return energy(x_hat) / energy(x)


def test_detail_ratio():
    assert exercises.check_detail_ratio(detail_right)
    fails(exercises.check_detail_ratio, stub, "not implemented yet")
    fails(exercises.check_detail_ratio, lambda x_hat, x: detail_right(x, x_hat), "inverted")
    fails(exercises.check_detail_ratio, lambda x_hat, x: float(F.conv2d(images.luma(x_hat), LAPLACE).mean()
                                                                / F.conv2d(images.luma(x), LAPLACE).mean()),
          "absolute value")
    fails(exercises.check_detail_ratio, lambda x_hat, x: float(F.conv2d(x_hat, LAPLACE.repeat(1, 3, 1, 1)).abs().mean()
                                                                / F.conv2d(x, LAPLACE.repeat(1, 3, 1, 1)).abs().mean()),
          "detail_ratio")


def test_decoder_input():
    assert exercises.check_decoder_input(lambda z, l, r: torch.cat([z, l.repeat(1, r)], 1))
    fails(exercises.check_decoder_input, stub, "not implemented yet")
    fails(exercises.check_decoder_input, lambda z, l, r: torch.cat([z, l.repeat_interleave(r, 1)], 1),
          "repeat_interleave")
    fails(exercises.check_decoder_input, lambda z, l, r: torch.cat([l.repeat(1, r), z], 1), "label comes first")
    fails(exercises.check_decoder_input, lambda z, l, r: torch.cat([z, l], 1), "not tiled")


# ----------------------------------------------------------------------------------------- 20
def test_convt3d_out():
    assert exercises.check_convt3d_out(lambda d, k, s, p: (d - 1) * s - 2 * p + k)
    fails(exercises.check_convt3d_out, stub, "not implemented yet")
    fails(exercises.check_convt3d_out, lambda d, k, s, p: (d - 1) * s - p + k, "padding counted once")
    fails(exercises.check_convt3d_out, lambda d, k, s, p: d * s - 2 * p + k, r"\(d - 1\) \* s apart")
    fails(exercises.check_convt3d_out, lambda d, k, s, p: (d + 2 * p - k) // s + 1, "forward")


def iou_right(a, b):
    a, b = a > 0.5, b > 0.5
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def test_iou():
    assert exercises.check_iou(iou_right)
    fails(exercises.check_iou, stub, "not implemented yet")
    fails(exercises.check_iou, lambda a, b: (a * b).flatten(1).sum(1) / (a + b - a * b).flatten(1).sum(1),
          "not binarised")
    fails(exercises.check_iou, lambda a, b: ((a > 0.5) & (b > 0.5)).flatten(1).sum(1).float()
          / ((a > 0.5) | (b > 0.5)).flatten(1).sum(1).float(), "NaN")
    fails(exercises.check_iou, lambda a, b: ((a > 0.5) & (b > 0.5)).sum().float() / ((a > 0.5) | (b > 0.5)).sum(),
          "per pair")

    def over_a(a, b):
        a, b = a > 0.5, b > 0.5
        inter, union = (a & b).flatten(1).sum(1).float(), (a | b).flatten(1).sum(1).float()
        return torch.where(union > 0, inter / a.flatten(1).sum(1).clamp_min(1), torch.ones_like(union))

    fails(exercises.check_iou, over_a, r"divided by \|A\|")


def block_right(c_in, c_out):
    return nn.Sequential(nn.ConvTranspose3d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(True))


def test_up_block3d():
    assert exercises.check_up_block3d(block_right)
    fails(exercises.check_up_block3d, stub, "not implemented yet")
    fails(exercises.check_up_block3d, lambda i, o: nn.Sequential(nn.Conv3d(i, o, 4, 2, 1, bias=False),
                                                                 nn.BatchNorm3d(o), nn.ReLU()), "Conv3d")
    fails(exercises.check_up_block3d, lambda i, o: nn.Sequential(nn.ConvTranspose3d(i, o, 4, 2, 1),
                                                                 nn.BatchNorm3d(o), nn.ReLU()), "bias")
    fails(exercises.check_up_block3d, lambda i, o: nn.Sequential(nn.ConvTranspose3d(i, o, 4, 2, 1, bias=False),
                                                                 nn.ReLU()), "no batch norm")
    fails(exercises.check_up_block3d, lambda i, o: nn.Sequential(nn.ConvTranspose3d(i, o, 4, 2, 1, bias=False),
                                                                 nn.BatchNorm3d(o), nn.LeakyReLU(0.2)), "LeakyReLU")
    fails(exercises.check_up_block3d, lambda i, o: nn.Sequential(nn.ConvTranspose3d(i, o, 4, 1, 1, bias=False),
                                                                 nn.BatchNorm3d(o), nn.ReLU()), "stride 2")
    fails(exercises.check_up_block3d, lambda i, o: nn.Sequential(nn.ConvTranspose3d(i, o, 4, 2, 0, bias=False),
                                                                 nn.BatchNorm3d(o), nn.ReLU()), "padding 1")


def test_checks_leave_the_random_stream_alone():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    exercises.check_cycle_loss(cycle_right)
    exercises.check_up_block3d(block_right)
    assert torch.equal(torch.rand(3), expected)
