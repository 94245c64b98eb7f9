"""Tests of course_lib.restore (motion kernels, classical baselines, multi-scale loss, HDR) and course_lib.nets.restore.

Blur, noise, crops and pyramids are course_lib.images (tests/test_images.py)."""

import pytest
import torch

from course_lib import data, images, quality, restore
from course_lib.nets import restore as rnets


@pytest.fixture(scope="module")
def photo():
    return images.crop_to_multiple(data.photo("astronaut", max_size=64), 4)[None]


# ----------------------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_kernel_sums_to_one_and_is_nonnegative(seed):
    k = restore.random_motion_kernel(13, seed)
    assert k.shape == (13, 13)
    assert torch.isclose(k.sum(), torch.tensor(1.0), atol=1e-5)
    assert (k >= 0).all() and (k > 0.005).sum() > 5          # a trajectory, not a single dot


def test_line_kernel_direction():
    k = restore.line_kernel(9, 7, 0.0)                        # horizontal
    assert torch.isclose(k.sum(), torch.tensor(1.0), atol=1e-5)
    assert k[4].sum() > 0.99                                  # all mass on the centre row
    assert torch.allclose(restore.line_kernel(9, 7, 90.0), k.T, atol=1e-6)
    assert torch.allclose(restore.line_kernel(5, 1, 30.0)[2, 2], torch.tensor(1.0))   # length 1: identity


def test_shorter_exposure_gives_shorter_blur():
    def extent(k):
        nz = (k > 1e-6).nonzero()
        return int((nz.max(0).values - nz.min(0).values).max())
    for seed in range(5):
        assert extent(restore.random_motion_kernel(13, seed)) >= 11              # the whole path spans the kernel
        assert extent(restore.random_motion_kernel(13, seed, exposure=0.2)) < extent(restore.random_motion_kernel(13, seed))


def test_motion_blur_pairs_use_one_kernel_per_image_and_bad_kernels(photo):
    y, ks = restore.motion_blur_pairs(photo.expand(2, -1, -1, -1), 9, seed=0)
    assert ks.shape == (2, 9, 9) and not torch.equal(ks[0], ks[1])
    assert torch.allclose(y[1], images.blur(photo, ks[1])[0].clamp(0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="size must be odd"):
        restore.random_motion_kernel(8)
    with pytest.raises(ValueError, match="length"):
        restore.line_kernel(5, 9, 0)


# ----------------------------------------------------------------------------------------- noise
def test_estimate_sigma_close(photo):
    y = images.add_noise(photo, 25 / 255, seed=0, clip=False).clamp(-0, 1)
    assert abs(float(restore.estimate_sigma(y)[0]) * 255 - 25) < 6


# ----------------------------------------------------------------------------------------- classical baselines
@pytest.mark.parametrize("name", ["TV", "wavelet", "NLM"])
def test_classical_denoisers_improve_psnr(photo, name):
    y = images.add_noise(photo, 25 / 255, seed=0)
    out = restore.classical_denoisers()[name](y)
    assert out.shape == y.shape and out.min() >= 0 and out.max() <= 1
    assert quality.psnr(out, photo) > quality.psnr(y, photo) + 1.0


def test_nlm_with_the_known_sigma_beats_the_white_noise_estimate_on_camera_noise(photo):
    """The MAD estimator assumes white noise: on correlated camera noise it underestimates sigma, and NLM with the
    std measured on clean/noisy pairs removes more of it."""
    y = restore.camera_noise(photo, seed=0)
    true_std = float((y - photo).std())
    assert float(restore.estimate_sigma(y)[0]) < 0.8 * true_std
    assert quality.psnr(restore.denoise_nlm(y, sigma=true_std), photo) > quality.psnr(restore.denoise_nlm(y), photo)
    with pytest.raises(ValueError, match="sigma must be a noise std"):
        restore.denoise_nlm(y, sigma=25)


def test_richardson_lucy_improves_psnr(photo):
    y, ks = restore.motion_blur_pairs(photo, 9, seed=0)
    assert ks.shape == (1, 9, 9)
    assert quality.psnr(restore.richardson_lucy(y, ks, 10), photo) > quality.psnr(y, photo)


def test_classical_bad_input():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        restore.denoise_nlm(torch.rand(1, 3, 16, 16) * 2)
    with pytest.raises(ValueError, match="num_iter"):
        restore.richardson_lucy(torch.rand(1, 1, 16, 16), torch.ones(3, 3) / 9, 0)
    with pytest.raises(ValueError, match=r"kernel must be \(k, k\) or \(B=2"):
        restore.richardson_lucy(torch.rand(2, 1, 16, 16), torch.ones(3, 3, 3) / 9)      # 3 kernels for 2 images
    with pytest.raises(ValueError, match="weight must be > 0"):
        restore.denoise_tv(torch.rand(1, 1, 16, 16), weight=-0.1)


# ----------------------------------------------------------------------------------------- multi-scale
def test_multiscale_loss_is_half_the_mean_of_the_per_scale_mse():
    x = torch.rand(2, 3, 16, 24)
    pyr = images.gaussian_pyramid(x, 3)[::-1]                      # coarse to fine, as the network's outputs
    assert [p.shape[-2:] for p in pyr] == [(4, 6), (8, 12), (16, 24)]
    assert restore.multiscale_content_loss(pyr, pyr) == 0
    y = [p + 0.1 for p in pyr]
    assert torch.isclose(restore.multiscale_content_loss(y, pyr), torch.tensor(0.01 * 3 / 6), atol=1e-6)
    with pytest.raises(ValueError, match="same number"):
        restore.multiscale_content_loss(pyr[:2], pyr)


def test_multiscale_net_shapes_and_overfit():
    torch.manual_seed(0)
    net = rnets.MultiScaleDeblur(3, width=8, n_blocks=1, n_scales=3)
    x = torch.rand(2, 3, 16, 16)
    outs = net(x)
    assert [o.shape[-1] for o in outs] == [4, 8, 16]
    target = images.gaussian_pyramid(images.blur(x, restore.line_kernel(5, 5, 45.0)), 3)[::-1]   # learnable: a blur
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    first = float(restore.multiscale_content_loss(net(x), target).detach())
    for _ in range(60):
        loss = restore.multiscale_content_loss(net(x), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.3 * first
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.rand(1, 3, 10, 10))


def test_dncnn_residual_and_bad_input():
    torch.manual_seed(0)
    net = rnets.DnCNN(1, width=8, depth=3)
    y = torch.rand(2, 1, 12, 12)
    assert torch.allclose(net(y), y - net.net(y))
    with pytest.raises(ValueError, match="channels"):
        net(torch.rand(2, 3, 12, 12))
    with pytest.raises(ValueError, match="depth"):
        rnets.DnCNN(1, depth=1)


def test_drop_batch_norm_keeps_the_weights_and_makes_the_output_batch_independent():
    torch.manual_seed(0)
    net = rnets.DnCNN(1, width=8, depth=4).train()
    convs = [m.weight.clone() for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    y = torch.rand(4, 1, 12, 12)
    assert not torch.allclose(net(y)[:1], net(y[:1]))          # batch norm: an image depends on its batch
    assert rnets.drop_batch_norm(net) is net
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert sum(isinstance(m, torch.nn.Identity) for m in net.net) == 2
    assert all(torch.equal(a, m.weight) for a, m in zip(convs, (m for m in net.modules()
                                                                 if isinstance(m, torch.nn.Conv2d))))
    assert torch.allclose(net(y)[:1], net(y[:1]), atol=1e-6)   # now one image at a time
    with pytest.raises(ValueError, match="no batch-norm layer"):
        rnets.drop_batch_norm(net)


# ----------------------------------------------------------------------------------------- HDR
def test_exposure_stack_and_merge(photo):
    radiance = restore.radiance_from_photo(photo, 8)
    assert radiance.min() >= 2 ** -8 - 1e-6 and radiance.max() <= 1
    stack, times = restore.exposure_stack(radiance, (1.0, 8.0), bits=0)
    assert stack.shape == (1, 2, 3) + photo.shape[-2:]
    assert torch.allclose(stack[:, 0], radiance ** (1 / restore.GAMMA), atol=1e-6)   # short exposure: no clipping
    assert (stack[:, 1] == 1).float().mean() > 0.05                                    # long exposure clips
    merged = restore.merge_radiance(stack, times)
    assert quality.psnr(images.tonemap(merged), images.tonemap(radiance)) > 40
    assert torch.allclose(images.tonemap(torch.tensor([0.0, 1.0])), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="at least 2"):
        restore.exposure_stack(radiance, (1.0,))
    with pytest.raises(ValueError, match="need 2 positive exposure times"):
        restore.merge_radiance(stack, torch.tensor([1.0, 8.0, 64.0]))


def test_fusion_weights_sum_to_one(photo):
    stack, _ = restore.exposure_stack(restore.radiance_from_photo(photo), noise=0.01)
    w = restore.mertens_weights(stack)
    assert w.shape == (1, 3, 1) + photo.shape[-2:] and (w >= 0).all()
    assert torch.allclose(w.sum(1), torch.ones(1), atol=1e-5)
    torch.manual_seed(0)
    net = rnets.HDRFusion(3, 3, width=8, depth=2)
    rad = restore.ldr_to_radiance(stack, torch.tensor([1.0, 16.0, 256.0]))
    assert torch.allclose(net.weights(stack, rad).sum(1), torch.ones(1), atol=1e-5)
    assert net(stack, rad).shape == photo.shape
    with pytest.raises(ValueError, match=r"\(B, 3, 3, H, W\)"):
        net(stack[:, :2], rad[:, :2])


def test_fusion_of_identical_exposures_returns_them_at_any_size():
    x = torch.rand(2, 3, 20, 28)                                  # not a multiple of 2**(levels - 1) = 8: padded
    stack = x[:, None].expand(-1, 3, -1, -1, -1)
    assert torch.allclose(restore.exposure_fusion(stack, levels=4), x, atol=1e-5)   # weights sum to 1
    assert torch.allclose(restore.exposure_fusion(stack, pyramid=False), x, atol=1e-6)


def test_scores_of_lists_match_restoration(photo):
    a, b = photo[0], images.add_noise(photo, 0.05, seed=0)[0]
    small_a, small_b = a[:, :32, :48], b[:, :32, :48]
    got = restore.scores([b, small_b], [a, small_a])
    ref = (quality.psnr(b, a) + quality.psnr(small_b, small_a)) / 2
    assert abs(got["PSNR"] - ref) < 1e-9 and 0 < got["SSIM"] < 1
    with pytest.raises(ValueError, match="as many outputs"):
        restore.scores([a], [a, a])


# ------------------------------------------------------------------------------------- training pairs without padding
def test_kernel_bank_matches_motion_blur_pairs(photo):
    bank = restore.kernel_bank(3, 9, seed=4)
    _, ks = restore.motion_blur_pairs(photo.expand(3, -1, -1, -1), 9, seed=4)
    assert torch.equal(bank, ks)                                    # the same kernels, seed for seed
    assert torch.allclose(bank.sum((1, 2)), torch.ones(3), atol=1e-5)
    short = restore.kernel_bank(3, 9, seed=4, exposure=(0.1, 0.1))
    assert (short > 1e-6).sum() < (bank > 1e-6).sum()               # a shorter exposure: a shorter path
    with pytest.raises(ValueError, match="exposure"):
        restore.kernel_bank(2, 9, exposure=(0.5, 1.5))


def test_valid_blur_is_the_unpadded_convolution(photo):
    torch.manual_seed(0)
    x = photo[..., :40, :44].expand(2, -1, -1, -1).contiguous()
    ks = restore.kernel_bank(2, 7, seed=1)
    sharp, blurred = restore.valid_blur(x, ks)
    assert sharp.shape == blurred.shape == (2, 3, 34, 38)
    assert torch.equal(sharp, x[..., 3:-3, 3:-3])
    for i in range(2):                                              # oracle: conv2d without padding, flipped kernel
        ref = torch.nn.functional.conv2d(x[i:i + 1].transpose(0, 1), ks[i].flip(-1, -2)[None, None]).transpose(0, 1)
        assert torch.allclose(blurred[i:i + 1], ref, atol=1e-5)
    # blurring the small patch with padding is wrong near its border, where it smears reflected content in
    padded = images.blur(sharp, ks)
    assert not torch.allclose(padded[..., :3, :], blurred[..., :3, :], atol=1e-3)
    assert torch.allclose(padded[..., 3:-3, 3:-3], blurred[..., 3:-3, 3:-3], atol=1e-5)   # the same inside
    noisy = restore.valid_blur(x, ks, noise=0.05, seed=0)[1]
    assert 0.03 < float((noisy - blurred).std()) < 0.07
    with pytest.raises(ValueError, match="no valid centre"):
        restore.valid_blur(x[..., :6, :6], ks)
    with pytest.raises(ValueError, match="kernels must be"):
        restore.valid_blur(x, ks[:1].expand(3, -1, -1))


# ----------------------------------------------------------------------------------------- realistic noise
def test_noise_level_curve_of_white_noise_is_flat():
    x = torch.linspace(0.15, 0.9, 64).view(1, 1, 1, 64).expand(4, 3, 64, 64).contiguous()
    y = images.add_noise(x, 0.1, seed=0, clip=False)
    centres, std = restore.noise_level_curve(x, y, bins=8)
    assert torch.allclose(centres, (torch.arange(8) + 0.5).double() / 8)
    ok = ~std.isnan()
    assert ok.sum() >= 6 and torch.allclose(std[ok], torch.full_like(std[ok], 0.1), rtol=0.1)
    assert std[0].isnan()                                           # no pixel below 0.125: an empty bin
    with pytest.raises(ValueError, match="same shape"):
        restore.noise_level_curve(x, y[:1])


def test_camera_noise_is_signal_dependent_and_correlated():
    ramp = torch.linspace(0.05, 0.95, 96).view(1, 1, 1, 96).expand(8, 3, 96, 96).contiguous()
    y = restore.camera_noise(ramp, seed=0)
    assert torch.equal(y, restore.camera_noise(ramp, seed=0)) and y.min() >= 0 and y.max() <= 1
    _, std = restore.noise_level_curve(ramp, y, bins=4)
    assert std[1] > 1.2 * std[3]                                    # read noise through the gamma: noisier shadows
    corr = restore.noise_correlation(ramp, y)
    assert corr["neighbour"] > 0.3                                  # demosaicking: correlated neighbours
    assert corr["channels"] < -0.2                                  # the colour matrix mixes the channels
    white = restore.noise_correlation(ramp, restore.camera_noise(ramp, correlation=0.0, seed=0))
    assert abs(white["neighbour"]) < 0.05
    assert torch.allclose(restore.camera_noise(ramp, shot=0.0, read=0.0), ramp, atol=1e-5)
    assert restore.camera_noise(ramp[:, :1], seed=0).shape == (8, 1, 96, 96)
    with pytest.raises(ValueError, match="C = 1 or 3"):
        restore.camera_noise(torch.rand(1, 2, 8, 8))
    with pytest.raises(ValueError, match=">= 0"):
        restore.camera_noise(ramp, shot=-1.0)


def test_noise_correlation_of_white_and_of_smoothed_noise():
    torch.manual_seed(0)
    x = torch.full((4, 3, 48, 48), 0.5)
    white = restore.noise_correlation(x, x + 0.05 * torch.randn_like(x))
    assert abs(white["neighbour"]) < 0.03 and abs(white["channels"]) < 0.03
    n = 0.05 * torch.randn(4, 1, 48, 48)
    shared = restore.noise_correlation(x, x + torch.cat([n, n, -n], 1))          # the same noise in every channel
    assert abs(shared["channels"] - (1 - 1 - 1) / 3) < 1e-6
    smooth = images.blur(0.05 * torch.randn(4, 3, 48, 48), torch.full((3, 3), 1 / 9))
    assert abs(restore.noise_correlation(x, x + smooth)["neighbour"] - 2 / 3) < 0.05   # a 3x3 box shares 6 of 9 taps
    assert torch.isnan(torch.tensor(restore.noise_correlation(x[:, :1], x[:, :1] + n)["channels"]))


# ------------------------------------------------------------------------------------- GAN wrappers, noise generator
def test_multiscale_zero_init_starts_as_the_identity_and_wraps_as_a_generator():
    torch.manual_seed(0)
    net = rnets.MultiScaleDeblur(3, width=8, n_blocks=1)
    x = torch.rand(2, 3, 16, 16)
    for out, b in zip(net(x), images.gaussian_pyramid(x, 3)[::-1]):
        assert torch.allclose(out, b, atol=1e-6)
    assert not torch.allclose(rnets.MultiScaleDeblur(3, 8, 1, zero_init=False)(x)[-1], x, atol=1e-3)
    g = rnets.DeblurGenerator(net)
    assert torch.allclose(g(images.to_pm1(x)), images.to_pm1(x), atol=1e-6)       # [-1, 1] in and out
    assert next(g.parameters()) is next(net.parameters())                          # shares, does not copy
    net.train()
    assert torch.allclose(net.deblur(x), x, atol=1e-6) and net.training            # deblur restores the mode
    with pytest.raises(TypeError, match="MultiScaleDeblur"):
        rnets.DeblurGenerator(rnets.DnCNN(3))


def test_tonemapped_fusion(photo):
    stack, times = restore.exposure_stack(restore.radiance_from_photo(photo))
    rad = restore.ldr_to_radiance(stack, times)
    net = rnets.HDRFusion(3, 3, width=8, depth=2)
    out = rnets.ToneMapped(net)(stack, rad)
    assert torch.allclose(out, images.tonemap(net(stack, rad))) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(TypeError, match="HDRFusion"):
        rnets.ToneMapped(rnets.DnCNN(3))


def test_noise_generator_starts_white_and_learns_a_signal_dependent_level():
    torch.manual_seed(0)
    gen = rnets.NoiseGenerator(3, width=8, init_level=0.05)
    x = torch.full((4, 3, 32, 32), 0.5)
    with torch.no_grad():
        n = gen.noise(x)
    assert abs(float(n.std()) - 0.05) < 0.005                       # the initial level, white noise
    assert not torch.equal(gen(x), gen(x))                          # a fresh draw per call
    assert gen(x).min() >= 0 and gen(x).max() <= 1
    # maximum likelihood of heteroscedastic noise (std 0.02 + 0.1 x) through the level network: it must learn it
    ramp = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(8, 3, 32, 32).contiguous()
    opt = torch.optim.Adam(gen.level.parameters(), 3e-2)
    for _ in range(150):
        r = (0.02 + 0.1 * ramp) * torch.randn_like(ramp)
        s = torch.nn.functional.softplus(gen.level(ramp))
        loss = (torch.log(s) + 0.5 * (r / s) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        s = torch.nn.functional.softplus(gen.level(ramp))[0, 0, 16]
    truth = 0.02 + 0.1 * ramp[0, 0, 16]
    assert float(s[-3]) > 3 * float(s[2])                           # learned: the noise grows with the signal
    assert ((s[2:-2] - truth[2:-2]).abs() / truth[2:-2]).max() < 0.3
    with pytest.raises(ValueError, match="odd"):
        rnets.NoiseGenerator(3, kernel_size=4)
    with pytest.raises(ValueError, match="channels"):
        gen(torch.rand(1, 1, 8, 8))
