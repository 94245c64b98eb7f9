"""Image-quality measures and degradations shared by the restoration notebooks (11-14, 18).

PSNR and SSIM come from scikit-image (a trusted implementation), applied per image, so the
numbers in the notebooks are the ones a reader gets with ``skimage.metrics``::

    from course_lib import restoration
    restoration.psnr(sr, hr)                 # mean dB over the batch, images in [0, 1]
    restoration.ssim(sr, hr)                 # mean SSIM
    restoration.psnr(sr, hr, mask=hole)      # only inside a region (inpainting)
    restoration.table({"bicubic": bic, "SRResNet": out}, hr)   # {"bicubic": {"PSNR": .., "SSIM": ..}, ...}

Conventions: images are (B, C, H, W) (or (C, H, W)) float tensors in [0, 1]; ``shave`` crops a
border before measuring (super-resolution papers shave ``scale`` pixels); ``y_channel=True``
measures on the luma channel Y of YCbCr (ITU-R BT.601), as the SR papers do.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from . import checks

# ITU-R BT.601 luma for inputs in [0, 1] -> Y in [16/255, 235/255]
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


def _prepare(x: torch.Tensor, y: torch.Tensor, shave: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(x, torch.Tensor) and x.ndim == 3:
        x = x.unsqueeze(0)
    if isinstance(y, torch.Tensor) and y.ndim == 3:
        y = y.unsqueeze(0)
    checks.image_batch(x, "x")
    checks.image_batch(y, "reference")
    if x.shape != y.shape:
        raise ValueError(f"x and reference must have the same shape (B, C, H, W), got {tuple(x.shape)} and "
                         f"{tuple(y.shape)}")
    for t, name in ((x, "x"), (y, "reference")):
        lo, hi = float(t.min()), float(t.max())
        if np.isnan(lo) or lo < -0.05 or hi > 1.05:
            raise ValueError(f"{name} must be images in [0, 1] (map [-1, 1] outputs with (x + 1) / 2), got values "
                             f"in [{lo:.3g}, {hi:.3g}]")
    x, y = x.detach().float().cpu().clamp(0, 1), y.detach().float().cpu().clamp(0, 1)
    if shave:
        checks.positive_int(shave, "shave")
        if 2 * shave >= min(x.shape[-2:]):
            raise ValueError(f"shave={shave} leaves nothing of {tuple(x.shape[-2:])} images")
        x, y = x[..., shave:-shave, shave:-shave], y[..., shave:-shave, shave:-shave]
    if y_channel:
        x, y = to_y(x), to_y(y)
    return x.numpy(), y.numpy()


def to_y(x: torch.Tensor) -> torch.Tensor:
    """Luma Y of YCbCr (BT.601, as MATLAB's ``rgb2ycbcr``) of (B, 3, H, W) RGB in [0, 1] -> (B, 1, H, W) in [0, 1].

    Gray images (B, 1, H, W) are returned unchanged.
    """
    checks.image_batch(x, "x", channels=(1, 3))
    if x.shape[1] == 1:
        return x
    w = torch.tensor(_Y_WEIGHTS, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True) + 16.0 / 255.0


def psnr_per_image(x: torch.Tensor, reference: torch.Tensor, shave: int = 0, y_channel: bool = False,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Peak signal-to-noise ratio per image, $10 \log_{10}(1 / \mathrm{MSE})$ dB for images in [0, 1].

    Args:
        x: (B, C, H, W) restored images in [0, 1].
        reference: (B, C, H, W) ground truth in [0, 1].
        shave: pixels cropped from every border first.
        y_channel: measure on the luma channel (SR convention).
        mask: optional (B, 1, H, W) or (1, 1, H, W) bool/0-1 mask: MSE only where the mask is 1
            (e.g. the hole of an inpainting task); not combined with ``shave``.

    Returns:
        (B,) float64 tensor of dB (``skimage.metrics.peak_signal_noise_ratio`` with ``data_range=1``;
        inf for identical images).
    """
    from skimage.metrics import peak_signal_noise_ratio

    if mask is not None:
        if shave:
            raise ValueError("use either shave or mask, not both")
        xs, ys = _prepare(x, reference, 0, y_channel)
        m = torch.as_tensor(mask).float()
        if m.ndim == 3:
            m = m.unsqueeze(0)
        checks.ndim(m, "mask", 4, "(B, 1, H, W)")
        m = m.expand(xs.shape[0], xs.shape[1], *xs.shape[2:]).numpy() > 0.5
        out = []
        for xi, yi, mi in zip(xs, ys, m):
            if not mi.any():
                raise ValueError("mask selects no pixel of an image")
            mse = float(((xi[mi] - yi[mi]) ** 2).mean())
            out.append(float("inf") if mse == 0 else 10 * np.log10(1.0 / mse))
        return torch.tensor(out, dtype=torch.float64)
    xs, ys = _prepare(x, reference, shave, y_channel)
    with np.errstate(divide="ignore"):
        return torch.tensor([peak_signal_noise_ratio(yi, xi, data_range=1.0) for xi, yi in zip(xs, ys)],
                            dtype=torch.float64)


def ssim_per_image(x: torch.Tensor, reference: torch.Tensor, shave: int = 0, y_channel: bool = False
                   ) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004) via ``skimage.metrics.structural_similarity``.

    Gaussian-weighted 11x11 windows with sigma 1.5 as in the paper (``gaussian_weights=True``,
    ``use_sample_covariance=False``), ``data_range=1``, channel-averaged for colour images.
    Images smaller than 11 pixels use the largest odd window that fits.

    Args:
        x, reference: (B, C, H, W) in [0, 1].
        shave, y_channel: as :func:`psnr_per_image`.

    Returns:
        (B,) float64 tensor in [-1, 1].

    Reference:
        Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to structural
        similarity", IEEE TIP 2004.
    """
    from skimage.metrics import structural_similarity

    xs, ys = _prepare(x, reference, shave, y_channel)
    side = min(xs.shape[-2:])
    if side < 3:
        raise ValueError(f"SSIM needs images of at least 3x3 pixels, got {xs.shape[-2:]}")
    kw = {"data_range": 1.0, "gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False,
          "channel_axis": 0}
    if side < 11:
        kw["win_size"] = side if side % 2 else side - 1
    return torch.tensor([structural_similarity(yi, xi, **kw) for xi, yi in zip(xs, ys)], dtype=torch.float64)


def psnr(x: torch.Tensor, reference: torch.Tensor, shave: int = 0, y_channel: bool = False,
         mask: torch.Tensor | None = None) -> float:
    """Mean PSNR (dB) over a batch; see :func:`psnr_per_image`."""
    return float(psnr_per_image(x, reference, shave, y_channel, mask).mean())


def ssim(x: torch.Tensor, reference: torch.Tensor, shave: int = 0, y_channel: bool = False) -> float:
    """Mean SSIM over a batch; see :func:`ssim_per_image`."""
    return float(ssim_per_image(x, reference, shave, y_channel).mean())


def table(outputs: Mapping[str, torch.Tensor], reference: torch.Tensor, shave: int = 0,
          y_channel: bool = False) -> dict[str, dict[str, float]]:
    """PSNR and SSIM of several methods against one reference: ``{method: {"PSNR": dB, "SSIM": s}}``."""
    if not outputs:
        raise ValueError("outputs is empty; pass {method name: images}")
    return {k: {"PSNR": psnr(v, reference, shave, y_channel), "SSIM": ssim(v, reference, shave, y_channel)}
            for k, v in outputs.items()}


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
