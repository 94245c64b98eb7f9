import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from course_lib import restoration


def _pair(seed=0, shape=(3, 3, 24, 24), noise=0.05):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(shape, generator=g)
    x = (y + noise * torch.randn(shape, generator=g)).clamp(0, 1)
    return x, y


def test_psnr_matches_closed_form_and_skimage():
    x, y = _pair()
    per = restoration.psnr_per_image(x, y)
    mse = ((x - y) ** 2).flatten(1).mean(1).double()
    assert torch.allclose(per, 10 * torch.log10(1 / mse), atol=1e-4)
    assert per[1].item() == pytest.approx(peak_signal_noise_ratio(y[1].numpy(), x[1].numpy(), data_range=1.0))
    assert restoration.psnr(x, y) == pytest.approx(per.mean().item())
    assert math.isinf(restoration.psnr(y, y))


def test_ssim_identity_and_ordering():
    x, y = _pair(noise=0.02)
    assert restoration.ssim(y, y) == pytest.approx(1.0)
    assert restoration.ssim(x, y) > restoration.ssim((y + 0.2 * torch.randn_like(y)).clamp(0, 1), y)
    ref = structural_similarity(y[0].numpy(), x[0].numpy(), data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False, channel_axis=0)
    assert restoration.ssim_per_image(x, y)[0].item() == pytest.approx(ref)
    small = restoration.ssim(x[..., :8, :8], y[..., :8, :8])     # window shrinks to fit
    assert -1 <= small <= 1


def test_mask_shave_and_y_channel():
    x, y = _pair()
    x = x.clone()
    x[..., :12, :] = y[..., :12, :]                              # top half exact
    top = torch.zeros(1, 1, 24, 24)
    top[..., :12, :] = 1
    assert math.isinf(restoration.psnr(x, y, mask=top))
    assert restoration.psnr(x, y, mask=1 - top) < restoration.psnr(x, y)
    assert restoration.to_y(torch.ones(1, 3, 2, 2)).allclose(torch.full((1, 1, 2, 2), 235 / 255))
    assert restoration.to_y(torch.zeros(1, 3, 2, 2)).allclose(torch.full((1, 1, 2, 2), 16 / 255))
    assert np.isfinite(restoration.psnr(x, y, shave=4, y_channel=True))


def test_table_and_resampling():
    x, y = _pair(shape=(2, 3, 32, 32))
    t = restoration.table({"noisy": x, "same": y}, y)
    assert set(t) == {"noisy", "same"} and t["same"]["SSIM"] == pytest.approx(1.0)
    lr = restoration.downsample(y, 4)
    assert lr.shape == (2, 3, 8, 8) and 0 <= lr.min() and lr.max() <= 1
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32).contiguous()
    up = restoration.upsample(restoration.downsample(smooth, 4), 4)
    assert restoration.psnr(up, smooth, shave=4) > 35                  # a smooth ramp survives bicubic


def test_bad_input():
    x, y = _pair()
    with pytest.raises(ValueError, match="same shape"):
        restoration.psnr(x[:, :, :10], y)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        restoration.psnr(x * 2 - 1, y)
    with pytest.raises(ValueError, match="divisible"):
        restoration.downsample(y[..., :23, :23], 4)
    with pytest.raises(ValueError, match="shave"):
        restoration.psnr(x, y, shave=12)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        restoration.ssim(x[0, 0], y[0, 0])
    with pytest.raises(ValueError, match="no pixel"):
        restoration.psnr(x, y, mask=torch.zeros(1, 1, 24, 24))
