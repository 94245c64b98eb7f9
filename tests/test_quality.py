import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from course_lib import quality


def _pair(seed=0, shape=(3, 3, 24, 24), noise=0.05):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(shape, generator=g)
    x = (y + noise * torch.randn(shape, generator=g)).clamp(0, 1)
    return x, y


def test_psnr_matches_closed_form_and_skimage():
    x, y = _pair()
    per = quality.psnr_per_image(x, y)
    mse = ((x - y) ** 2).flatten(1).mean(1).double()
    assert torch.allclose(per, 10 * torch.log10(1 / mse), atol=1e-4)
    assert per[1].item() == pytest.approx(peak_signal_noise_ratio(y[1].numpy(), x[1].numpy(), data_range=1.0))
    assert quality.psnr(x, y) == pytest.approx(per.mean().item())
    assert math.isinf(quality.psnr(y, y))


def test_ssim_identity_and_ordering():
    x, y = _pair(noise=0.02)
    assert quality.ssim(y, y) == pytest.approx(1.0)
    assert quality.ssim(x, y) > quality.ssim((y + 0.2 * torch.randn_like(y)).clamp(0, 1), y)
    ref = structural_similarity(y[0].numpy(), x[0].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, channel_axis=0)
    assert quality.ssim_per_image(x, y)[0].item() == pytest.approx(ref)
    small = quality.ssim(x[..., :8, :8], y[..., :8, :8])     # window shrinks to fit
    assert -1 <= small <= 1


def test_mask_shave_and_y_channel():
    x, y = _pair()
    x = x.clone()
    x[..., :12, :] = y[..., :12, :]                              # top half exact
    top = torch.zeros(1, 1, 24, 24)
    top[..., :12, :] = 1
    assert math.isinf(quality.psnr(x, y, mask=top))
    assert quality.psnr(x, y, mask=1 - top) < quality.psnr(x, y)
    assert quality.to_y(torch.ones(1, 3, 2, 2)).allclose(torch.full((1, 1, 2, 2), 235 / 255))
    assert quality.to_y(torch.zeros(1, 3, 2, 2)).allclose(torch.full((1, 1, 2, 2), 16 / 255))
    assert np.isfinite(quality.psnr(x, y, shave=4, y_channel=True))


def test_table():
    x, y = _pair(shape=(2, 3, 32, 32))
    t = quality.table({"noisy": x, "same": y}, y)
    assert set(t) == {"noisy", "same"} and t["same"]["SSIM"] == pytest.approx(1.0)


def test_bad_input():
    x, y = _pair()
    with pytest.raises(ValueError, match="same shape"):
        quality.psnr(x[:, :, :10], y)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        quality.psnr(x * 2 - 1, y)
    with pytest.raises(ValueError, match="shave"):
        quality.psnr(x, y, shave=12)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        quality.ssim(x[0, 0], y[0, 0])
    with pytest.raises(ValueError, match="no pixel"):
        quality.psnr(x, y, mask=torch.zeros(1, 1, 24, 24))


# --------------------------------------------------------------------------------------
# detail: closed forms
# --------------------------------------------------------------------------------------
def _checkerboard(a: float, size: int = 8, channels: int = 1) -> torch.Tensor:
    i, j = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    return (0.5 + a * (-1.0) ** (i + j).double()).view(1, 1, size, size).expand(1, channels, size, size).contiguous()


def test_detail_closed_forms():
    # checkerboard 0.5 +- a: each interior Laplacian is 4(0.5 -+ a) - 4(0.5 +- a) = -+8a
    assert float(quality.detail(_checkerboard(0.1))) == pytest.approx(0.8, abs=1e-12)
    # a quadratic ramp c * j^2 has second difference 2c everywhere
    j = torch.arange(10, dtype=torch.float64)
    ramp = (0.005 * j ** 2).view(1, 1, 1, 10).expand(1, 1, 10, 10)
    assert float(quality.detail(ramp)) == pytest.approx(0.01, abs=1e-12)
    assert float(quality.detail(torch.full((2, 1, 6, 6), 0.3)).max()) == 0.0          # constant: no detail
    # colour: the BT.601 luma of a gray image is 219/255 of it (plus an offset the Laplacian removes)
    assert float(quality.detail(_checkerboard(0.1, channels=3))) == pytest.approx(0.8 * 219 / 255, abs=1e-9)
    # images of different sizes, as a list
    assert quality.detail([_checkerboard(0.1)[0], _checkerboard(0.2, 6)[0]]).tolist() == pytest.approx([0.8, 1.6])


def test_detail_ratio_and_masks():
    lo, hi = _checkerboard(0.1), _checkerboard(0.2)
    assert quality.detail_ratio(hi, lo) == pytest.approx(2.0)
    assert quality.detail_ratio(lo, lo) == pytest.approx(1.0)
    # a mask measures only its region: left half checkerboard, right half flat
    half = lo.clone()
    half[..., 4:] = 0.5
    left = torch.zeros(1, 1, 8, 8)
    left[..., :3] = 1                         # interior columns 1-2 see only the checkerboard
    assert float(quality.detail(half, left)) == pytest.approx(0.8)
    assert quality.detail_ratio(half, lo, left) == pytest.approx(1.0)
    assert quality.detail_ratio(half, lo) < 0.6
    with pytest.raises(ValueError, match="no fine detail"):
        quality.detail_ratio(lo, torch.full_like(lo, 0.5))
    with pytest.raises(ValueError, match="at least 3x3"):
        quality.detail(torch.rand(1, 1, 2, 8))
    with pytest.raises(ValueError, match="same shape"):
        quality.detail_ratio(lo, hi[..., :6, :6], left)
    with pytest.raises(ValueError, match="selects no interior pixel"):
        quality.detail(lo, torch.zeros(1, 1, 8, 8))
