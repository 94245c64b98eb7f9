"""course_lib.images: resampling."""

from __future__ import annotations

import pytest
import torch

from course_lib import images, quality


def test_downsample_averages_blocks_of_a_constant_and_keeps_the_range():
    x = torch.rand(2, 3, 32, 32)
    lr = images.downsample(x, 4)
    assert lr.shape == (2, 3, 8, 8) and 0 <= lr.min() and lr.max() <= 1
    assert torch.allclose(images.downsample(torch.full((1, 1, 8, 8), 0.25), 2), torch.full((1, 1, 4, 4), 0.25))
    with pytest.raises(ValueError, match="divisible"):
        images.downsample(x[..., :23, :23], 4)


def test_upsample_is_exact_on_a_constant_and_close_on_a_smooth_ramp():
    assert torch.allclose(images.upsample(torch.full((1, 1, 4, 4), 0.7), 4), torch.full((1, 1, 16, 16), 0.7))
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 3, 32, 32).contiguous()
    up = images.upsample(images.downsample(smooth, 4), 4)
    assert up.shape == smooth.shape and quality.psnr(up, smooth, shave=4) > 35
