"""Image operations several chapters use: resampling (more to come: range conversion, luma, crops, pyramids).

Images are (B, C, H, W) float tensors; operations that keep [0, 1] say so.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import checks


def downsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic (antialiased) downsampling by an integer ``scale``: (B, C, H, W) -> (B, C, H/scale, W/scale).

    H and W must be divisible by ``scale``. Output clamped to [0, 1] when the input is in [0, 1].
    """
    checks.image_batch(x, "x")
    checks.positive_int(scale, "scale")
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} must be divisible by scale={scale}")
    y = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return y.clamp(0, 1) if float(x.min()) >= 0 and float(x.max()) <= 1 else y


def upsample(x: torch.Tensor, scale: int) -> torch.Tensor:
    """Bicubic upsampling by an integer ``scale`` (the classical baseline), clamped to [0, 1]."""
    checks.image_batch(x, "x")
    checks.positive_int(scale, "scale")
    return F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
