"""course_lib.images: ranges, luma, crops, resampling, pyramids, degradations (closed-form values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from course_lib import images, quality


# ----------------------------------------------------------------------------------------- ranges, luma
def test_range_conversions_map_the_end_points_and_to_unit_clamps():
    x = torch.tensor([0.0, 0.25, 0.5, 1.0])
    assert torch.equal(images.to_pm1(x), torch.tensor([-1.0, -0.5, 0.0, 1.0]))
    assert torch.equal(images.to_unit(torch.tensor([-1.0, -0.5, 0.0, 1.0])), x)
    assert torch.equal(images.to_unit(torch.tensor([-3.0, 2.0])), torch.tensor([0.0, 1.0]))    # clamped
    assert torch.equal(images.to_pm1(torch.tensor([2.0])), torch.tensor([3.0]))                # not clamped
    with pytest.raises(TypeError, match="torch.Tensor"):
        images.to_unit(np.zeros(3))


def test_luma_of_primaries_is_the_bt601_weights():
    prim = torch.eye(3).view(3, 3, 1, 1)                                   # pure red, green, blue
    assert torch.allclose(images.luma(prim).flatten(), torch.tensor([0.299, 0.587, 0.114]))
    assert images.luma(torch.ones(3, 4, 5)).shape == (1, 4, 5)             # one (C, H, W) image
    assert torch.allclose(images.luma(torch.full((2, 3, 4, 4), 0.6)), torch.full((2, 1, 4, 4), 0.6))
    gray = torch.rand(2, 1, 4, 4)
    assert images.luma(gray) is gray
    with pytest.raises(ValueError, match="3 channels"):
        images.luma(torch.rand(2, 2, 4, 4))


# ----------------------------------------------------------------------------------------- crops
def test_center_crop_takes_the_middle_square():
    x = torch.arange(6 * 7.0).view(1, 1, 6, 7)
    c = images.center_crop(x, 2)
    assert c.shape == (1, 1, 2, 2)
    assert torch.equal(c[0, 0], torch.tensor([[16.0, 17.0], [23.0, 24.0]]))     # rows 2-3, columns 2-3
    assert images.center_crop(x[0], 6).shape == (1, 6, 6)
    with pytest.raises(ValueError, match="cannot cut a 8x8 crop"):
        images.center_crop(x, 8)


def test_crop_and_crop_to_multiple():
    x = torch.arange(5 * 9.0).view(1, 5, 9)
    assert torch.equal(images.crop(x, (1, 3, 2, 4)), torch.tensor([[[11.0, 12.0], [20.0, 21.0]]]))
    assert images.crop_to_multiple(x, 4).shape == (1, 4, 8)
    assert torch.equal(images.crop_to_multiple(x, 4), x[..., :4, :8])
    with pytest.raises(ValueError, match="empty or outside"):
        images.crop(x, (0, 6, 0, 2))
    with pytest.raises(ValueError, match="smaller than 8"):
        images.crop_to_multiple(x, 8)


# ----------------------------------------------------------------------------------------- resampling
def test_downsample_averages_blocks_of_a_constant_and_keeps_the_range():
    x = torch.rand(2, 3, 32, 32)
    lr = images.downsample(x, 4)
    assert lr.shape == (2, 3, 8, 8) and 0 <= lr.min() and lr.max() <= 1
    assert torch.allclose(images.downsample(torch.full((1, 1, 8, 8), 0.25), 2), torch.full((1, 1, 4, 4), 0.25))
    with pytest.raises(ValueError, match="divisible"):
        images.downsample(x[..., :23, :23], 4)


def test_area_downsampling_is_the_block_mean():
    x = torch.tensor([[1.0, 3.0, 0.0, 0.0], [5.0, 7.0, 0.0, 4.0]]).view(1, 1, 2, 4)
    assert torch.equal(images.downsample(x, 2, "area"), torch.tensor([[[[4.0, 1.0]]]]))
    with pytest.raises(ValueError, match="downsample mode"):
        images.downsample(x, 2, "lanczos")


def test_upsample_is_exact_on_a_constant_and_close_on_a_smooth_ramp():
    assert torch.allclose(images.upsample(torch.full((1, 1, 4, 4), 0.7), 4), torch.full((1, 1, 16, 16), 0.7))
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32).contiguous()
    up = images.upsample(images.downsample(smooth, 4), 4)
    assert up.shape == smooth.shape and quality.psnr(up, smooth, shave=4) > 35


def test_bilinear_upsampling_interpolates_a_ramp_at_quarter_points():
    x = torch.tensor([0.0, 1.0, 2.0, 3.0]).view(1, 1, 1, 4)
    up = images.upsample(x, 2, "bilinear")[0, 0, 0]
    # pixel centres of the 2x grid sit at +-1/4 of an input pixel: 0, 0.25, 0.75, ..., edges clamped
    assert torch.allclose(up, torch.tensor([0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]))
    assert images.upsample(x, mode="bilinear", size=(3, 5)).shape == (1, 1, 3, 5)
    assert images.upsample(-x, 2, "bicubic").min() < -2.9                # [-1, 1]-style input: no [0, 1] clamp


# ----------------------------------------------------------------------------------------- pyramids
def test_gaussian_pyramid_is_fine_to_coarse_block_means():
    x = torch.rand(2, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    g = images.gaussian_pyramid(x, 3)
    assert [p.shape[-2:] for p in g] == [(16, 24), (8, 12), (4, 6)]       # index 0 = full size
    assert g[0] is x
    assert torch.allclose(g[2], F.avg_pool2d(x, 4), atol=1e-6)
    assert torch.allclose(g[2].mean(), x.mean(), atol=1e-6)                # block means keep the mean
    const = images.gaussian_pyramid(torch.full((1, 1, 8, 8), 0.3), 4)
    assert all(torch.allclose(p, torch.full_like(p, 0.3)) for p in const)


def test_laplacian_bands_of_a_constant_vanish_and_the_coarsest_holds_it():
    pyr = images.laplacian_pyramid(torch.full((1, 2, 16, 16), 0.3), 3)
    assert [p.shape[-1] for p in pyr] == [16, 8, 4]
    assert all(float(h.abs().max()) < 1e-6 for h in pyr[:-1])
    assert torch.allclose(pyr[-1], torch.full((1, 2, 4, 4), 0.3))


def test_laplacian_band_of_a_checkerboard_is_the_checkerboard():
    # 2x2 means of a +-1 checkerboard are 0, so the coarse level is 0 and h_0 = x exactly
    y, x = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    board = ((x + y) % 2 * 2 - 1).float().view(1, 1, 8, 8)
    h0, coarse = images.laplacian_pyramid(board, 2)
    assert torch.equal(coarse, torch.zeros(1, 1, 4, 4)) and torch.equal(h0, board)


def test_laplacian_reconstruction_is_exact_and_linear_in_the_bands():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(3, 2, 32, 32, generator=g) * 2 - 1
    pyr = images.laplacian_pyramid(x, 3)
    assert torch.allclose(images.reconstruct_laplacian(pyr), x, atol=1e-6)
    delta = torch.randn(3, 2, 32, 32, generator=g)
    assert torch.allclose(images.reconstruct_laplacian([pyr[0] + delta, *pyr[1:]]), x + delta, atol=1e-6)
    # the coarsest level alone reconstructs to u(u(I_2)), the pyramid's expand step applied twice
    zeros = [torch.zeros_like(p) for p in pyr[:-1]]
    up2 = images.upsample(images.upsample(pyr[-1], 2, "bilinear"), 2, "bilinear")
    assert torch.allclose(images.reconstruct_laplacian([*zeros, pyr[-1]]), up2, atol=1e-6)
    assert images.laplacian_pyramid(x, 1)[0] is x


def test_pyramid_bad_inputs():
    with pytest.raises(ValueError, match="divisible by 4"):
        images.laplacian_pyramid(torch.rand(1, 1, 30, 30), 3)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        images.gaussian_pyramid(torch.rand(1, 32, 32), 2)
    with pytest.raises(ValueError, match="empty"):
        images.reconstruct_laplacian([])
    with pytest.raises(ValueError, match="twice the size"):
        images.reconstruct_laplacian([torch.rand(1, 1, 16, 16), torch.rand(1, 1, 4, 4)])


# ----------------------------------------------------------------------------------------- blur
def test_gaussian_blur_of_an_impulse_is_the_sampled_gaussian():
    sigma = 1.5
    x = torch.zeros(1, 1, 21, 21)
    x[..., 10, 10] = 1
    y = images.blur(x, sigma)[0, 0]
    t = torch.arange(-5, 6, dtype=torch.float64)                          # radius ceil(3 sigma) = 5
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    assert torch.allclose(y[5:16, 5:16].double(), torch.outer(k, k), atol=1e-7)
    assert float(y.sum()) == pytest.approx(1.0, abs=1e-6)                 # the mean is preserved
    var = float((y.double() * (torch.arange(21.0) - 10).double() ** 2).sum())
    assert var == pytest.approx(sigma ** 2, rel=0.02)                      # the spread is sigma^2 per axis


def test_blur_keeps_a_constant_and_the_mean_of_a_centred_image():
    const = torch.full((2, 3, 8, 8), 0.3)
    torch.testing.assert_close(images.blur(const, 2.0), const)
    x = torch.zeros(1, 1, 32, 32)
    x[..., 12:20, 10:22] = torch.rand(8, 12)                              # far from the border: no mass lost
    assert float(images.blur(x, 1.0).mean()) == pytest.approx(float(x.mean()), rel=1e-5)
    assert images.blur(x, 0.0) is x
    with pytest.raises(ValueError, match="too wide"):
        images.blur(torch.rand(1, 1, 4, 4), 2.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        images.blur(x, -1.0)


def test_kernel_blur_of_a_delta_returns_the_kernel_and_matches_scipy():
    g = torch.Generator().manual_seed(0)
    k = torch.rand(7, 7, generator=g)
    k = k / k.sum()
    x = torch.zeros(1, 1, 21, 21)
    x[..., 10, 10] = 1
    assert torch.allclose(images.blur(x, k)[0, 0, 7:14, 7:14], k, atol=1e-6)     # a convolution, not a correlation
    x, k5 = torch.rand(2, 3, 16, 16, generator=g), k[1:6, 1:6] / k[1:6, 1:6].sum()
    ref = ndimage.convolve(x[1, 2].double().numpy(), k5.double().numpy(), mode="mirror")
    assert np.allclose(images.blur(x, k5)[1, 2].numpy(), ref, atol=1e-5)


def test_kernel_blur_per_image_and_bad_kernels():
    x = torch.rand(2, 1, 9, 9)
    ident, shift = torch.zeros(3, 3), torch.zeros(3, 3)
    ident[1, 1], shift[1, 2] = 1, 1
    y = images.blur(x, torch.stack([ident, shift]))
    assert torch.equal(y[0], x[0])
    assert torch.equal(y[1, :, :, 1:], x[1, :, :, :-1])                   # mass right of centre: y(j) = x(j - 1), a convolution
    with pytest.raises(ValueError, match="odd"):
        images.blur(x, torch.ones(4, 4) / 16)
    with pytest.raises(ValueError, match="kernel must be"):
        images.blur(x, torch.ones(3, 5, 5) / 25)
    with pytest.raises(ValueError, match="too large"):
        images.blur(x, torch.ones(19, 19) / 361)


# ----------------------------------------------------------------------------------------- noise, degrade, tonemap
def test_noise_std_is_sigma_and_seeded():
    x = torch.full((2, 3, 64, 64), 0.5)
    y = images.add_noise(x, 25 / 255, seed=0)
    assert abs(float((y - x).std()) - 25 / 255) < 0.003 and abs(float((y - x).mean())) < 0.002
    assert torch.equal(y, images.add_noise(x, 25 / 255, seed=0))
    assert torch.equal(y, images.add_noise(x, 25 / 255, seed=torch.Generator().manual_seed(0)))
    assert not torch.equal(y, images.add_noise(x, 25 / 255, seed=1))
    y2 = images.add_noise(x, torch.tensor([0.0, 0.1]), seed=1, clip=False)
    assert torch.equal(y2[0], x[0]) and abs(float((y2[1] - x[1]).std()) - 0.1) < 0.01
    assert images.add_noise(x, 2.0, seed=0).min() == 0 and images.add_noise(x, 2.0, seed=0).max() == 1   # clipped
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        images.add_noise(x, -0.1)
    with pytest.raises(ValueError, match="per-image sigma"):
        images.add_noise(x, torch.tensor([0.1, 0.1, 0.1]))


def test_degrade_kinds():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(images.degrade(x, "noise", 0.0), x)
    assert torch.equal(images.degrade(x, "noise", 0.1, seed=3), images.add_noise(x, 0.1, seed=3))
    assert torch.equal(images.degrade(x, "blur", 1.0), images.blur(x, 1.0))
    q = images.degrade(x, "quantize", 3)
    assert set(q.unique().tolist()) <= {0.0, 0.5, 1.0} and float((q - x).abs().max()) <= 0.25 + 1e-6
    n = images.degrade(x, "nearest", 2)
    assert torch.equal(n[..., ::2, ::2], n[..., 1::2, 1::2])
    assert torch.allclose(n[..., ::2, ::2], F.avg_pool2d(x, 2))                  # area down, nearest up
    with pytest.raises(ValueError, match="kind"):
        images.degrade(x, "jpeg", 1)
    with pytest.raises(ValueError, match="gray levels"):
        images.degrade(x, "quantize", 1)


def test_tonemap_is_the_mu_law():
    h = torch.tensor([0.0, 0.01, 1.0, 2.0])
    expect = torch.log1p(5000 * h.clamp(0, 1)) / math.log1p(5000)
    assert torch.allclose(images.tonemap(h), expect)
    assert torch.allclose(images.tonemap(torch.tensor([0.0, 1.0])), torch.tensor([0.0, 1.0]))
