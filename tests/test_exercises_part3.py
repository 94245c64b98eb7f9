"""The checks of notebooks 11-15 (course_lib/exercises/part3.py): each passes the solution, fails the stub
(not implemented yet) and fails plausible mistakes with a message that names the symptom."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import exercises


def stub(*args, **kwargs):
    raise NotImplementedError()


class StubModule(nn.Module):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError()


def fails(check, wrong, match: str) -> None:
    with pytest.raises(exercises.ExerciseError, match=match):
        check(wrong)


def test_stub_is_reported_as_not_done_and_or_reference_falls_back(capsys):
    with pytest.raises(exercises.ExerciseError, match="not implemented yet"):
        exercises.check_periodic_shuffle(stub)
    ref = exercises.or_reference(stub, "reference", exercises.check_periodic_shuffle, "the shuffle")
    assert ref == "reference" and "not implemented yet" in capsys.readouterr().out


# ----------------------------------------------------------------------------------------- 11
def shuffle_ok(t, r):
    b, c, h, w = t.shape
    t = t.reshape(b, c // (r * r), r, r, h, w)
    return t.permute(0, 1, 4, 2, 5, 3).reshape(b, c // (r * r), h * r, w * r)


def test_check_periodic_shuffle(capsys):
    assert exercises.check_periodic_shuffle(shuffle_ok)
    assert "✔ periodic_shuffle" in capsys.readouterr().out
    fails(exercises.check_periodic_shuffle, stub, "not implemented yet")

    def swapped(t, r):
        b, c, h, w = t.shape
        return t.reshape(b, c // (r * r), r, r, h, w).permute(0, 1, 4, 3, 5, 2).reshape(b, c // (r * r), h * r, w * r)

    def channel_last(t, r):
        b, c, h, w = t.shape
        return t.reshape(b, r, r, c // (r * r), h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, c // (r * r), h * r, w * r)

    def hard_coded(t, r):
        return shuffle_ok(t, 2)

    fails(exercises.check_periodic_shuffle, swapped, "rows and columns .* swapped")
    fails(exercises.check_periodic_shuffle, channel_last, "channels are grouped the wrong way")
    fails(exercises.check_periodic_shuffle, lambda t, r: t.reshape(t.shape[0], -1, t.shape[2] * r, t.shape[3] * r),
          "reshape alone does not interleave")
    fails(exercises.check_periodic_shuffle, hard_coded, "hard-coded")


class UpOk(nn.Module):
    def __init__(self, width, r=2):
        super().__init__()
        self.conv = nn.Conv2d(width, r * r * width, 3, padding=1)
        self.shuffle = nn.PixelShuffle(r)
        self.act = nn.PReLU(width)

    def forward(self, x):
        return self.act(self.shuffle(self.conv(x)))


class UpReLU(UpOk):
    def forward(self, x):
        return torch.relu(self.shuffle(self.conv(x)))


class UpActFirst(nn.Module):
    def __init__(self, width, r=2):
        super().__init__()
        self.conv = nn.Conv2d(width, r * r * width, 3, padding=1)
        self.act = nn.PReLU(r * r * width)
        self.shuffle = nn.PixelShuffle(r)

    def forward(self, x):
        return self.shuffle(self.act(self.conv(x)))


class UpRC(nn.Module):
    def __init__(self, width, r=2):
        super().__init__()
        self.conv = nn.Conv2d(width, r * width, 3, padding=1)
        self.act = nn.PReLU(width)
        self.r = r

    def forward(self, x):
        return self.act(F.pixel_shuffle(self.conv(x), self.r))


def test_check_subpixel_upsample(capsys):
    assert exercises.check_subpixel_upsample(UpOk)
    assert "✔ SubPixelUpsample" in capsys.readouterr().out
    fails(exercises.check_subpixel_upsample, StubModule, "not implemented yet")
    fails(exercises.check_subpixel_upsample, UpReLU, "not ReLU")
    fails(exercises.check_subpixel_upsample, UpActFirst, "before the shuffle")
    fails(exercises.check_subpixel_upsample, UpRC, r"r\*C = 16 channels; the shuffle needs r\^2\*C = 32")
    # the course's weights load into a correct block, and or_reference hands it over
    assert exercises.or_reference(UpOk, None, exercises.check_subpixel_upsample, "the block") is UpOk


def srgan_ok(logits_fake, x_fake, x_real, net, layer, rescale=1.0, adv_weight=1e-3, tv_weight=2e-8):
    f_fake = net(x_fake, [layer])[layer]
    with torch.no_grad():
        f_real = net(x_real, [layer])[layer]
    content = rescale * (f_fake - f_real).square().mean()
    adversarial = F.softplus(-logits_fake).mean()
    tv = (x_fake[..., 1:, :] - x_fake[..., :-1, :]).square().mean() + \
        (x_fake[..., :, 1:] - x_fake[..., :, :-1]).square().mean()
    return content + adv_weight * adversarial + tv_weight * tv


def test_check_srgan_g_loss(capsys):
    assert exercises.check_srgan_g_loss(srgan_ok)
    assert "✔ srgan_g_loss" in capsys.readouterr().out
    fails(exercises.check_srgan_g_loss, stub, "not implemented yet")

    def sign(lf, xf, xr, net, layer, rescale=1.0, adv_weight=1e-3, tv_weight=2e-8):
        return srgan_ok(-lf, xf, xr, net, layer, rescale, adv_weight, tv_weight)

    def grad_into_target(lf, xf, xr, net, layer, rescale=1.0, adv_weight=1e-3, tv_weight=2e-8):
        content = rescale * (net(xf, [layer])[layer] - net(xr, [layer])[layer]).square().mean()
        return content + srgan_ok(lf, xf, xr, net, layer, 0.0, adv_weight, tv_weight)

    def no_rescale(lf, xf, xr, net, layer, rescale=1.0, adv_weight=1e-3, tv_weight=2e-8):
        return srgan_ok(lf, xf, xr, net, layer, 1.0, adv_weight, tv_weight)

    def hard_coded(lf, xf, xr, net, layer, rescale=1.0, adv_weight=1e-3, tv_weight=2e-8):
        return srgan_ok(lf, xf, xr, net, layer, rescale)

    def tv_one_way(lf, xf, xr, net, layer, rescale=1.0, adv_weight=1e-3, tv_weight=2e-8):
        return srgan_ok(lf, xf, xr, net, layer, rescale, adv_weight, 0.0) + \
            tv_weight * (xf[..., 1:, :] - xf[..., :-1, :]).square().mean()

    fails(exercises.check_srgan_g_loss, sign, "wrong sign")
    fails(exercises.check_srgan_g_loss, grad_into_target, "gradient flows into x_real")
    fails(exercises.check_srgan_g_loss, no_rescale, "not multiplied by `rescale`")
    fails(exercises.check_srgan_g_loss, hard_coded, "ignored")
    fails(exercises.check_srgan_g_loss, tv_one_way, "only the vertical")


# ----------------------------------------------------------------------------------------- 12
def sim_ok(content, reference):
    pc = F.normalize(F.unfold(content, 3, padding=1), dim=1)
    pr = F.normalize(F.unfold(reference, 3, padding=1), dim=1)
    return pc.transpose(1, 2) @ pr


def test_check_patch_similarity(capsys):
    assert exercises.check_patch_similarity(sim_ok)
    assert "✔ patch_similarity" in capsys.readouterr().out
    fails(exercises.check_patch_similarity, stub, "not implemented yet")
    fails(exercises.check_patch_similarity,
          lambda c, r: F.unfold(c, 3, padding=1).transpose(1, 2) @ F.unfold(r, 3, padding=1), "not normalised")
    fails(exercises.check_patch_similarity,
          lambda c, r: F.normalize(F.unfold(c, 3, padding=1), dim=2).transpose(1, 2)
          @ F.normalize(F.unfold(r, 3, padding=1), dim=2), "over positions")
    fails(exercises.check_patch_similarity,
          lambda c, r: F.unfold(c, 3, padding=1).transpose(1, 2) @ F.normalize(F.unfold(r, 3, padding=1), dim=1),
          "only the reference patch")
    fails(exercises.check_patch_similarity, lambda c, r: sim_ok(c, r).transpose(1, 2), "transposed")


def swap_ok(content, reference, values, reduce="mean", average=True):
    b, _, h, w = content.shape
    s = sim_ok(content, reference)
    weight, index = s.max(dim=2)
    if reduce == "mean":
        weight = s.mean(dim=2)
    if reduce == "ok":
        weight = s.max(dim=2).values
    pv = F.unfold(values, 3, padding=1).transpose(1, 2)
    chosen = torch.gather(pv, 1, index.unsqueeze(-1).expand(-1, -1, pv.shape[-1]))
    summed = F.fold(chosen.transpose(1, 2), (h, w), 3, padding=1)
    overlap = F.fold(torch.ones_like(chosen[:1, :, :9]).transpose(1, 2), (h, w), 3, padding=1)
    return (summed / overlap if average else summed), weight.view(b, 1, h, w)


def test_check_texture_swap(capsys):
    assert exercises.check_texture_swap(lambda c, r, v: swap_ok(c, r, v, "ok"))
    assert "✔ texture_swap" in capsys.readouterr().out
    fails(exercises.check_texture_swap, stub, "not implemented yet")
    fails(exercises.check_texture_swap, lambda c, r, v: swap_ok(c, r, v, "mean"), "mean similarity")
    fails(exercises.check_texture_swap, lambda c, r, v: swap_ok(c, r, v, "ok", average=False), "summed")
    fails(exercises.check_texture_swap, lambda c, r, v: swap_ok(c, r, r, "ok"), "take the patches of `values`")
    fails(exercises.check_texture_swap, lambda c, r, v: (swap_ok(c, r, v, "ok")[0], swap_ok(c, r, v, "ok")[1].flatten(1)),
          r"reshape it to the content grid")


def texture_ok(f_sr, m, s, norm=None, weight_m=True):
    a, b = (f_sr * s).flatten(2), ((m * s) if weight_m else m).flatten(2)
    n = a.shape[-1] if norm is None else norm
    return (a @ a.transpose(1, 2) / n - b @ b.transpose(1, 2) / n).square().mean()


def test_check_weighted_texture_loss(capsys):
    assert exercises.check_weighted_texture_loss(texture_ok)
    assert "✔ weighted_texture_loss" in capsys.readouterr().out
    fails(exercises.check_weighted_texture_loss, stub, "not implemented yet")
    fails(exercises.check_weighted_texture_loss, lambda a, m, s: texture_ok(a, m, s, norm=1), "not divided by H W")
    fails(exercises.check_weighted_texture_loss, lambda a, m, s: texture_ok(a, m, s, norm=5 * 42), "divided by C H W")
    fails(exercises.check_weighted_texture_loss, lambda a, m, s: texture_ok(a, m, s, weight_m=False), "only f_sr")
    fails(exercises.check_weighted_texture_loss, lambda a, m, s: texture_ok(a, m, s).detach(), "no gradient")


# ----------------------------------------------------------------------------------------- 13
def blur_ok(x, k, flip=(-1, -2), mode="reflect"):
    p = k.shape[-1] // 2
    weight = (k.flip(*flip) if flip else k).expand(x.shape[1], 1, -1, -1)
    return F.conv2d(F.pad(x, (p,) * 4, mode=mode), weight, groups=x.shape[1])


def test_check_blur(capsys):
    assert exercises.check_blur(blur_ok)
    assert "✔ blur" in capsys.readouterr().out
    fails(exercises.check_blur, stub, "not implemented yet")
    fails(exercises.check_blur, lambda x, k: blur_ok(x, k, flip=()), "not flipped")
    fails(exercises.check_blur, lambda x, k: blur_ok(x, k, flip=(-1,)), "one axis only")
    fails(exercises.check_blur, lambda x, k: blur_ok(x, k, mode="constant"), "not with zeros")
    fails(exercises.check_blur, lambda x, k: F.conv2d(F.pad(x, (2,) * 4, mode="reflect"),
                                                      k.flip(-1, -2).expand(3, 3, -1, -1)), "channels are mixed")


def ms_ok(outputs, targets, half=True):
    per_scale = [((o - t) ** 2).mean() for o, t in zip(outputs, targets)]
    return sum(per_scale) / ((2 if half else 1) * len(per_scale))


def test_check_multiscale_content_loss(capsys):
    assert exercises.check_multiscale_content_loss(ms_ok)
    assert "✔ multiscale_content_loss" in capsys.readouterr().out
    fails(exercises.check_multiscale_content_loss, stub, "not implemented yet")
    fails(exercises.check_multiscale_content_loss, lambda o, t: ms_ok(o, t, half=False), "forget the 1/2")
    fails(exercises.check_multiscale_content_loss,
          lambda o, t: sum(((a - b) ** 2).sum() for a, b in zip(o, t)) / 6, "summed: divide it by c_k w_k h_k")
    fails(exercises.check_multiscale_content_loss, lambda o, t: ((o[-1] - t[-1]) ** 2).mean() / 2, "only the finest")
    fails(exercises.check_multiscale_content_loss, lambda o, t: ms_ok(o, t).detach(), "no gradient")


class DnOk(nn.Module):
    def __init__(self, channels=3, width=32, depth=8, bias=False, bn=True):
        super().__init__()
        layers = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=bias), *([nn.BatchNorm2d(width)] if bn else []),
                       nn.ReLU()]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, y):
        return y - self.net(y)


class DnResidual(DnOk):
    def forward(self, y):
        return self.net(y)


class DnPlus(DnOk):
    def forward(self, y):
        return y + self.net(y)


def test_check_dncnn(capsys):
    from course_lib.nets import restore as rnets

    assert exercises.check_dncnn(DnOk)
    assert exercises.check_dncnn(rnets.DnCNN)
    assert "✔ DnCNN" in capsys.readouterr().out
    fails(exercises.check_dncnn, StubModule, "not implemented yet")
    fails(exercises.check_dncnn, DnResidual, "returns R\\(y\\)")
    fails(exercises.check_dncnn, DnPlus, "sign flipped")
    fails(exercises.check_dncnn, lambda c, w, d: DnOk(c, w, d, bn=False), "no batch normalisation")
    fails(exercises.check_dncnn, lambda c, w, d: DnOk(c, w, d, bias=True), "bias=False")


def we_ok(stack, sigma=0.2):
    e = torch.exp(-((stack - 0.5) ** 2) / (2 * sigma ** 2)).prod(2, keepdim=True)
    return e / e.sum(1, keepdim=True)


def test_check_well_exposedness(capsys):
    assert exercises.check_well_exposedness(we_ok)
    assert "✔ well_exposedness" in capsys.readouterr().out
    fails(exercises.check_well_exposedness, stub, "not implemented yet")
    fails(exercises.check_well_exposedness,
          lambda s, sigma=0.2: torch.exp(-((s - 0.5) ** 2) / (2 * sigma ** 2)).prod(2, keepdim=True),
          "not normalised over the exposures")
    fails(exercises.check_well_exposedness, lambda s, sigma=0.2: we_ok(s, sigma / 2 ** 0.5), "misses the 2")


# ----------------------------------------------------------------------------------------- 14
def cwfc_ok(x, weight, bias):
    b, c, h, w = x.shape
    return (torch.einsum("bcn,cmn->bcm", x.reshape(b, c, h * w), weight) + bias).reshape(b, c, h, w)


def test_check_channel_wise_fc(capsys):
    assert exercises.check_channel_wise_fc(cwfc_ok)
    assert "✔ channel_wise_fc" in capsys.readouterr().out
    fails(exercises.check_channel_wise_fc, stub, "not implemented yet")
    fails(exercises.check_channel_wise_fc, lambda x, w, b: cwfc_ok(x, w.transpose(1, 2), b), "transposed")
    fails(exercises.check_channel_wise_fc, lambda x, w, b: cwfc_ok(x, w, 0 * b), "bias b_c is missing")


class BottleOk(nn.Module):
    def __init__(self, channels, size, groups=1, relu=True):
        super().__init__()
        from course_lib.nets import inpainting as inets

        self.fc = inets.ChannelWiseFC(channels, size)
        self.mix = nn.Conv2d(channels, channels, 1, groups=groups)
        self.norm = nn.BatchNorm2d(channels)
        self.relu = relu

    def forward(self, x):
        y = self.norm(self.mix(self.fc(x)))
        return torch.relu(y) if self.relu else y


class BottleNoFC(BottleOk):
    def forward(self, x):
        return torch.relu(self.norm(self.mix(x)))


def test_check_context_bottleneck(capsys):
    assert exercises.check_context_bottleneck(BottleOk)
    assert "✔ ContextBottleneck" in capsys.readouterr().out
    fails(exercises.check_context_bottleneck, StubModule, "not implemented yet")
    fails(exercises.check_context_bottleneck, lambda c, s: BottleOk(c, s, groups=c), "depthwise")
    fails(exercises.check_context_bottleneck, lambda c, s: BottleOk(c, s, relu=False), "no ReLU")
    fails(exercises.check_context_bottleneck, BottleNoFC, "is not correct")


def pggan_ok(x_fake, x, m, logits_global, logits_patch, l1=0.99, l2=0.005, l3=0.005):
    rec = ((x_fake - x).abs() * m).sum() / (m.sum() * x.shape[1])
    return l1 * rec + l2 * F.softplus(-logits_global).mean() + l3 * F.softplus(-logits_patch).mean()


def test_check_pggan_g_loss_agrees_with_the_library(capsys):
    from course_lib import gan, inpainting

    torch.manual_seed(0)
    xr, xf = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    mm = inpainting.random_squares(4, 32, 16, seed=0)
    heads = {"global": torch.randn(4), "patch": torch.randn(4, 1, 14, 14)}
    v = inpainting.objective((0.99, "l1"), {"global": 0.005, "patch": 0.005})
    b = gan.Batch(xr, xf, inpainting.masked_input(xr, mm), inpainting.masked_input(xr, mm), aux_fake=heads)
    expected = sum(w * fn(b) for w, fn in v.g_terms.values())
    assert torch.allclose(pggan_ok(xf, xr, mm, heads["global"], heads["patch"]), expected, atol=1e-6)
    assert exercises.check_pggan_g_loss(pggan_ok)
    assert "✔ pggan_g_loss" in capsys.readouterr().out
    fails(exercises.check_pggan_g_loss, stub, "not implemented yet")

    def all_pixels(x_fake, x, m, lg, lp, l1=0.99, l2=0.005, l3=0.005):
        return pggan_ok(x_fake, x, torch.ones_like(m), lg, lp, l1, l2, l3)

    def no_channels(x_fake, x, m, lg, lp, l1=0.99, l2=0.005, l3=0.005):
        return pggan_ok(x_fake, x, m, lg, lp, l1 * x.shape[1], l2, l3)

    def sign(x_fake, x, m, lg, lp, l1=0.99, l2=0.005, l3=0.005):
        return pggan_ok(x_fake, x, m, -lg, -lp, l1, l2, l3)

    fails(exercises.check_pggan_g_loss, all_pixels, "averaged over all pixels")
    fails(exercises.check_pggan_g_loss, no_channels, "divided by sum\\(m\\) only")
    fails(exercises.check_pggan_g_loss, sign, "wrong sign")


# ----------------------------------------------------------------------------------------- 15
def p2p_ok(logits_fake, y_fake, y, lam=100.0):
    return F.softplus(-logits_fake).mean() + lam * (y_fake - y).abs().mean()


def test_check_pix2pix_g_loss(capsys):
    assert exercises.check_pix2pix_g_loss(p2p_ok)
    assert "✔ pix2pix_g_loss" in capsys.readouterr().out
    fails(exercises.check_pix2pix_g_loss, stub, "not implemented yet")
    fails(exercises.check_pix2pix_g_loss, lambda lf, yf, y, lam=100.0: p2p_ok(-lf, yf, y, lam), "wrong sign")
    fails(exercises.check_pix2pix_g_loss,
          lambda lf, yf, y, lam=100.0: F.softplus(-lf).mean() + lam * (yf - y).square().mean(), "L2")
    fails(exercises.check_pix2pix_g_loss, lambda lf, yf, y, lam=100.0: p2p_ok(lf, yf, y), "hard-coded")
    fails(exercises.check_pix2pix_g_loss,
          lambda lf, yf, y, lam=100.0: F.softplus(-lf).flatten(1).sum(1).mean() + lam * (yf - y).abs().mean(),
          "summed over the patches")


class PatchOk(nn.Module):
    def __init__(self, channels=3, n_layers=3, width=64, last_stride=1, kernel=4, first_norm=False, sigmoid=False):
        super().__init__()
        layers = [nn.Conv2d(channels, width, kernel, 2, 1), *([nn.BatchNorm2d(width)] if first_norm else []),
                  nn.LeakyReLU(0.2)]
        c = width
        for i in range(1, n_layers):
            w = min(width * 2 ** i, 8 * width)
            layers += [nn.Conv2d(c, w, kernel, 2, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2)]
            c = w
        w = min(width * 2 ** n_layers, 8 * width)
        layers += [nn.Conv2d(c, w, kernel, last_stride, 1), nn.BatchNorm2d(w), nn.LeakyReLU(0.2),
                   nn.Conv2d(w, 1, kernel, 1, 1)]
        self.net = nn.Sequential(*layers)
        self.sigmoid = sigmoid

    def forward(self, x):
        y = self.net(x)
        return torch.sigmoid(y) if self.sigmoid else y


def test_check_patchgan(capsys):
    assert exercises.check_patchgan(PatchOk)
    assert "16 px" in capsys.readouterr().out
    fails(exercises.check_patchgan, StubModule, "not implemented yet")
    fails(exercises.check_patchgan, lambda c, n, w: PatchOk(c, n, w, last_stride=2), "sees 22x22 .* too large")
    fails(exercises.check_patchgan, lambda c, n, w: PatchOk(c, n, w, kernel=3), "too small")
    fails(exercises.check_patchgan, lambda c, n, w: PatchOk(c, n, w, first_norm=True), "first layer has a normal")
    fails(exercises.check_patchgan, lambda c, n, w: PatchOk(c, n, w, sigmoid=True), "raw logits")


def spade_ok(h, gamma, beta, eps=1e-5, dims=(0, 2, 3), unbiased=False, offset=1.0):
    mu = h.mean(dims, keepdim=True)
    var = h.var(dims, unbiased=unbiased, keepdim=True)
    return (h - mu) / torch.sqrt(var + eps) * (offset + gamma) + beta


def test_check_spade(capsys):
    from course_lib import translation
    from course_lib.nets import translation as tnets

    torch.manual_seed(0)
    block = tnets.SPADE(8, len(translation.SCENE_CLASSES), hidden=16)
    h = torch.randn(4, 8, 16, 16) * 3 + 1
    m = translation.one_hot(torch.randint(0, len(translation.SCENE_CLASSES), (4, 16, 16)))
    g_map, b_map = block.modulation(m, (16, 16))
    assert torch.allclose(spade_ok(h, g_map, b_map), block(h, m), atol=1e-4)      # the formula is the layer's
    assert exercises.check_spade(spade_ok)
    assert "✔ spade" in capsys.readouterr().out
    fails(exercises.check_spade, stub, "not implemented yet")
    fails(exercises.check_spade, lambda h, g, b, eps=1e-5: spade_ok(h, g, b, eps, dims=(2, 3)), "instance norm")
    fails(exercises.check_spade, lambda h, g, b, eps=1e-5: spade_ok(h, g, b, eps, unbiased=True), "unbiased")
    fails(exercises.check_spade, lambda h, g, b, eps=1e-5: spade_ok(h, g, b, eps, offset=0.0), "offset")
