"""Image-quality measures shared by the application notebooks (11-19): PSNR, SSIM and fine detail.

PSNR and SSIM come from scikit-image (a trusted implementation), applied per image, so the
numbers in the notebooks are the ones a reader gets with ``skimage.metrics``. :func:`detail` is the
course's one sharpness measure (mean absolute Laplacian of the luma) and :func:`detail_ratio` reads it
against real images::

    from course_lib import quality
    quality.psnr(sr, hr)                     # mean dB over the batch, images in [0, 1]
    quality.ssim(sr, hr)                     # mean SSIM
    quality.psnr(sr, hr, mask=hole)          # only inside a region (inpainting)
    quality.table({"bicubic": bic, "SRResNet": out}, hr)   # {"bicubic": {"PSNR": .., "SSIM": ..}, ...}
    quality.detail_ratio(sr, hr)             # ~1: as much fine detail as the truth; < 1 blurry; > 1 noise/artefacts

Conventions: images are (B, C, H, W) (or (C, H, W)) float tensors in [0, 1]; ``shave`` crops a
border before measuring (super-resolution papers shave ``scale`` pixels); ``y_channel=True``
measures on the luma channel Y of YCbCr (ITU-R BT.601), as the SR papers do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


# --------------------------------------------------------------------------------------
# Fine detail: the one sharpness measure of the course
# --------------------------------------------------------------------------------------
_LAPLACE = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def _images(x: torch.Tensor | Sequence[torch.Tensor], name: str) -> list[torch.Tensor]:
    """A batch (B, C, H, W) or a list of (C, H, W) / (1, C, H, W) images of any sizes -> list of (1, C, H, W)."""
    if isinstance(x, torch.Tensor):
        if x.ndim == 3:
            x = x.unsqueeze(0)
        checks.image_batch(x, name, channels=(1, 3))
        return list(x.split(1))
    if not len(x):
        raise ValueError(f"{name} is empty; pass images (B, C, H, W) or a list of (C, H, W) images")
    return [t for item in x for t in _images(item, name)]


def detail(x: torch.Tensor | Sequence[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
    r"""Fine detail per image: the mean absolute Laplacian of the luma, $\overline{|\Delta Y|}$.

    $\Delta Y_{ij} = Y_{i-1,j} + Y_{i+1,j} + Y_{i,j-1} + Y_{i,j+1} - 4Y_{ij}$ on the interior pixels
    (a valid 3x3 convolution: no border effects), Y the BT.601 luma (:func:`to_y`; gray images as they
    are). A constant image scores 0, a checkerboard $0.5 \pm a$ scores $8a$. Blurry outputs (regression
    to the mean) score low, noise and checkerboard artefacts high: read it against the ground truth with
    :func:`detail_ratio`.

    Args:
        x: (B, C, H, W) images in [0, 1] (C = 1 or 3), or a list of (C, H, W) images of different sizes.
        mask: optional (B, 1, H, W) or (1, 1, H, W), 1 = measure here (e.g. an inpainting hole); only
            for a batch tensor ``x``.

    Returns:
        (B,) float64 tensor.
    """
    imgs = _images(x, "x")
    if mask is not None:
        if not isinstance(x, torch.Tensor):
            raise ValueError("mask needs x as one (B, C, H, W) tensor")
        m = torch.as_tensor(mask, dtype=torch.float64)
        checks.ndim(m, "mask", 4, "(B, 1, H, W)")
        if m.shape[1] != 1 or m.shape[-2:] != imgs[0].shape[-2:] or m.shape[0] not in (1, len(imgs)):
            raise ValueError(f"mask must be (B, 1, H, W) or (1, 1, H, W) for images {tuple(imgs[0].shape[-2:])}, "
                             f"got {tuple(m.shape)}")
        m = m.expand(len(imgs), 1, *m.shape[-2:])[..., 1:-1, 1:-1].cpu()
    out = []
    for i, t in enumerate(imgs):
        if min(t.shape[-2:]) < 3:
            raise ValueError(f"detail needs images of at least 3x3 pixels, got {tuple(t.shape[-2:])}")
        y = to_y(t.detach().double().cpu())
        lap = F.conv2d(y, _LAPLACE.to(y).view(1, 1, 3, 3)).abs()
        if mask is None:
            out.append(lap.mean())
        else:
            if not m[i].any():
                raise ValueError(f"mask selects no interior pixel of image {i}")
            out.append((lap[0] * m[i]).sum() / m[i].sum())
    return torch.stack(out)


def detail_ratio(x: torch.Tensor | Sequence[torch.Tensor], reference: torch.Tensor | Sequence[torch.Tensor],
                 mask: torch.Tensor | None = None) -> float:
    """Fine detail of outputs relative to real images: mean :func:`detail` of ``x`` over that of ``reference``.

    About 1: as much fine detail as the real images (not necessarily the right detail); well below 1:
    blurry; above 1: more high frequencies than real images (noise, checkerboard artefacts).

    Args:
        x: outputs, (B, C, H, W) in [0, 1] or a list of images.
        reference: real images (the ground truth, or any real set), same forms; with ``mask``, the same shape as x.
        mask: optional region (B, 1, H, W), measured in both (an inpainting hole).
    """
    if mask is not None and (not isinstance(reference, torch.Tensor) or not isinstance(x, torch.Tensor)
                             or reference.shape != x.shape):
        raise ValueError("with a mask, x and reference must be tensors of the same shape (B, C, H, W)")
    ref = float(detail(reference, mask).mean())
    if ref <= 0:
        raise ValueError("the reference images have no fine detail (constant images?); detail_ratio needs real images")
    return float(detail(x, mask).mean()) / ref


def _grid_energy(x: torch.Tensor | Sequence[torch.Tensor], period: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: (energy of the Laplacian of the luma on the period x period grid, its total energy)."""
    checks.positive_int(period, "period")
    if period < 2:
        raise ValueError(f"period must be >= 2 pixels (the upsampling factor), got {period}")
    between, total = [], []
    for t in _images(x, "x"):
        h, w = (s - 2 for s in t.shape[-2:])
        if min(h, w) < period:
            raise ValueError(f"the grid measures need images of at least period + 2 = {period + 2} pixels a side, "
                             f"got {tuple(t.shape[-2:])}")
        y = to_y(t.detach().double().cpu())
        r = F.conv2d(y, _LAPLACE.to(y).view(1, 1, 3, 3))[0, 0]                  # (H-2, W-2) Laplacian
        r = r[: h - h % period, : w - w % period]
        r = r - r.mean()
        cells = r.reshape(r.shape[0] // period, period, r.shape[1] // period, period)
        m = cells.mean(dim=(0, 2))                                               # (period, period): m_ab
        between.append((r.numel() / period**2) * (m - m.mean()).square().sum())
        total.append(r.square().sum())
    return torch.stack(between), torch.stack(total)


def grid_share(x: torch.Tensor | Sequence[torch.Tensor], period: int = 4) -> torch.Tensor:
    r"""Share of the fine detail that repeats on a ``period`` x ``period`` pixel grid, per image.

    The Laplacian of the luma $r = \Delta Y$ (as in :func:`detail`) is cropped to a multiple of ``period``
    and averaged over all pixels that sit at the same position $(a, b)$ of the period x period cell,
    $m_{ab} = \operatorname{mean}_{i \equiv a,\, j \equiv b} r_{ij}$. Real detail averages out over the cells;
    a pattern tied to the grid of an upsampling layer (checkerboard artefacts) does not. The share is
    the between-position part of the variance of $r$ (ANOVA's $\eta^2$),
    $$g = \frac{n \sum_{a,b} (m_{ab} - \bar m)^2}{\sum_{i,j} (r_{ij} - \bar r)^2}\in[0, 1],$$
    with $n$ pixels per position: the fraction of the non-constant spectral energy of $r$ at the
    frequencies $k/\text{period}$ cycles per pixel (the period-``period`` grid and its harmonics, e.g.
    periods 4 and 2 for two x2 sub-pixel stages). About $(\text{period}^2 - 1) / \#\text{pixels}$ for
    natural images; 1 for a pure grid pattern.

    Args:
        x: (B, C, H, W) images in [0, 1] (C = 1 or 3), or a list of (C, H, W) images, at least
            ``period + 2`` pixels on each side.
        period: the grid's period in pixels (the upsampling factor; 4 for x4 SR), >= 2.

    Returns:
        (B,) float64 tensor in [0, 1] (0 for a constant image).

    Reference:
        Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016; Aitken et al.,
        "Checkerboard artifact free sub-pixel convolution", arXiv:1707.02937 (the period of sub-pixel layers).
    """
    between, total = _grid_energy(x, period)
    return torch.where(total > 0, between / total.clamp_min(1e-300), torch.zeros_like(total))


def checkerboard_ratio(x: torch.Tensor | Sequence[torch.Tensor], reference: torch.Tensor | Sequence[torch.Tensor],
                       period: int = 4) -> float:
    """Grid-tied share of the fine detail in outputs relative to real images (pooled over the images).

    The share of all images' fine-detail energy that sits on the ``period`` grid (:func:`grid_share`,
    with the energies summed over the images first, so near-constant images do not dominate), for
    ``x`` over that for ``reference``. About 1: the outputs' detail is no more tied to the upsampling
    grid than the real images' (detail, not artefacts); well above 1: a pattern with the period of the
    upsampling layers (checkerboard). Independent of the amount of detail (read that with
    :func:`detail_ratio`).

    Args:
        x: outputs, (B, C, H, W) in [0, 1] or a list of images.
        reference: real images (the ground truth), same forms.
        period: the upsampling factor (4 for x4 SR: two x2 sub-pixel stages give periods 2 and 4).

    Returns:
        ``(sum grid energy / sum detail energy) of x`` over the same for ``reference``.

    Reference:
        Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016.
    """
    b_ref, t_ref = _grid_energy(reference, period)
    b_x, t_x = _grid_energy(x, period)
    if t_ref.sum() <= 0 or b_ref.sum() <= 0:
        raise ValueError("the reference images have no fine detail (constant images?); checkerboard_ratio needs "
                         "real images")
    if t_x.sum() <= 0:
        return 0.0
    return float((b_x.sum() / t_x.sum()) / (b_ref.sum() / t_ref.sum()))
