"""quality.grid_share and quality.checkerboard_ratio: the share of fine detail on an upsampling grid."""

import pytest
import torch
import torch.nn.functional as F

from course_lib import data, images, quality


def _fft_share(x: torch.Tensor, period: int) -> float:
    """Oracle: the share of the Laplacian's non-DC spectral energy at the frequencies k / period."""
    y = quality.to_y(x.double())
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    r = F.conv2d(y, lap.view(1, 1, 3, 3))[0, 0]
    h, w = r.shape
    r = r[: h - h % period, : w - w % period]
    power = torch.fft.fft2(r).abs().square()
    power[0, 0] = 0
    step_h, step_w = r.shape[0] // period, r.shape[1] // period
    return float(power[::step_h, ::step_w].sum() / power.sum())


def test_grid_share_equals_the_spectral_energy_at_the_grid_frequencies():
    torch.manual_seed(0)
    x = torch.rand(3, 3, 23, 30)                         # sizes not multiples of the period: cropped
    for period in (2, 3, 4):
        share = quality.grid_share(x, period)
        assert share.shape == (3,) and share.dtype == torch.float64
        for i in range(3):
            assert share[i].item() == pytest.approx(_fft_share(x[i:i + 1], period), rel=1e-9, abs=1e-12)


def test_grid_share_of_patterns_and_photos():
    cell = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).repeat(16, 16)
    checker = (0.5 + 0.2 * (cell - 0.5)).expand(1, 3, 32, 32)
    assert quality.grid_share(checker, 2).item() == pytest.approx(1.0)
    assert quality.grid_share(checker, 4).item() == pytest.approx(1.0)       # period 2 is a harmonic of period 4
    assert quality.grid_share(torch.full((1, 3, 16, 16), 0.3), 4).item() == 0     # constant: no detail at all
    hr = data.patches(data.photos("train"), 64, 8, seed=1, channels=3)
    natural = quality.grid_share(hr, 4)
    assert natural.max() < 0.05                          # real detail averages out over the grid positions


def test_checkerboard_ratio_flags_a_grid_pattern_and_not_detail():
    hr = data.patches(data.photos("train"), 64, 16, seed=2, channels=3)
    assert quality.checkerboard_ratio(hr, hr) == pytest.approx(1.0)
    g = torch.Generator().manual_seed(0)
    pattern = (torch.rand(1, 1, 4, 4, generator=g) - 0.5).repeat(1, 1, 16, 16)    # a fixed 4x4 cell, tiled
    gridded = (hr + 0.03 * pattern).clamp(0, 1)
    assert quality.checkerboard_ratio(gridded, hr, 4) > 5
    noisy = (hr + 0.03 * torch.randn(hr.shape, generator=g)).clamp(0, 1)        # more detail, not on the grid
    assert quality.checkerboard_ratio(noisy, hr, 4) < 1.5
    assert quality.detail_ratio(noisy, hr) > 1.2
    bicubic = images.upsample(images.downsample(hr, 4), 4)
    assert quality.checkerboard_ratio(bicubic, hr, 4) < 3


def test_grid_measures_reject_bad_input():
    with pytest.raises(ValueError, match="period must be >= 2"):
        quality.grid_share(torch.rand(1, 3, 8, 8), 1)
    with pytest.raises(ValueError, match="at least period \\+ 2"):
        quality.grid_share(torch.rand(1, 3, 5, 8), 4)
    with pytest.raises(ValueError, match="no fine detail"):
        quality.checkerboard_ratio(torch.rand(2, 3, 8, 8), torch.full((2, 3, 8, 8), 0.5))
