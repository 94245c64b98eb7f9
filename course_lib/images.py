"""Image operations several chapters use: ranges, luma, crops, resampling, pyramids, degradations.

Images are (B, C, H, W) float tensors (crops and :func:`luma` also take one (C, H, W) image);
operations that keep [0, 1] say so::

    from course_lib import images
    images.to_pm1(x)                        # [0, 1] -> [-1, 1], the range of a Tanh generator
    images.to_unit(G(z))                    # [-1, 1] -> [0, 1], clamped (for metrics and display)
    images.luma(x)                          # BT.601 Y' = 0.299 R + 0.587 G + 0.114 B, one channel
    images.center_crop(x, 32)               # the central 32 x 32 square
    images.downsample(x, 4)                 # bicubic, antialiased (the super-resolution degradation)
    images.laplacian_pyramid(x, 3)          # [h_0, h_1, I_2], fine to coarse; reconstruct_laplacian inverts it
    images.blur(x, 1.5)                     # Gaussian blur, sigma in pixels (or any (k, k) kernel)
    images.add_noise(x, 25 / 255, seed=0)   # AWGN, clipped to [0, 1]
    images.degrade(x, "quantize", 4)        # controlled corruptions of known severity

Pyramids are always listed **fine to coarse** (index 0 is the full-size image); a coarse-to-fine
method (Nah et al.'s multi-scale deblurring, LAPGAN's sampler) reverses the list with ``[::-1]``.
The pyramid's reduce and expand steps are ``downsample(x, 2, "area")`` (2x2 mean) and
``upsample(x, 2, "bilinear")``: the d(.) and u(.) of LAPGAN (Denton et al. 2015).

Not here: PSNR/SSIM and the studio-range Y channel of the SR papers (:mod:`course_lib.quality`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from . import checks

BT601 = (0.299, 0.587, 0.114)      # ITU-R BT.601 luma weights of R, G, B (they sum to 1)
MU = 5000.0                        # mu-law compression of Kalantari & Ramamoorthi 2017, Eq. (3)
DEGRADATIONS = ("noise", "blur", "quantize", "nearest", "bilinear")


def _seeded(seed: int | torch.Generator | None, device: torch.device) -> torch.Generator | None:
    if seed is None or isinstance(seed, torch.Generator):
        return seed
    return torch.Generator(device=device).manual_seed(int(seed))


def _in_unit_range(x: torch.Tensor) -> bool:
    return x.numel() > 0 and float(x.min()) >= 0 and float(x.max()) <= 1


# ----------------------------------------------------------------------------------------
# Ranges and luma
# ----------------------------------------------------------------------------------------
def to_pm1(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> [-1, 1]: ``2 x - 1`` (data for a generator with a Tanh output). Any shape; not clamped."""
    return checks.tensor(x, "x") * 2 - 1


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]: ``(x + 1) / 2``, clamped to [0, 1] (generator outputs for metrics and display). Any shape."""
    return ((checks.tensor(x, "x") + 1) / 2).clamp(0, 1)


def luma(x: torch.Tensor) -> torch.Tensor:
    """Luma of RGB images: $Y' = 0.299 R + 0.587 G + 0.114 B$ (ITU-R BT.601).

    Args:
        x: (B, 3, H, W) or (3, H, W) RGB in [0, 1] (a 1-channel image is returned unchanged).

    Returns:
        (B, 1, H, W) or (1, H, W) in [0, 1]. The map is linear with weights summing to 1, so it also
        works on [-1, 1] images. (PSNR on "the Y channel" uses the studio-range Y of
        :func:`course_lib.quality.to_y` instead.)
    """
    checks.ndim(x, "x", (3, 4), "(B, 3, H, W) or (3, H, W)")
    checks.floating(x, "x")
    c = x.shape[-3]
    if c == 1:
        return x
    if c != 3:
        raise ValueError(f"luma needs RGB images with 3 channels in dim -3, got shape {tuple(x.shape)}")
    r, g, b = x.unbind(-3)
    return (BT601[0] * r + BT601[1] * g + BT601[2] * b).unsqueeze(-3)


# ----------------------------------------------------------------------------------------
# Crops
# ----------------------------------------------------------------------------------------
def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """The central ``size`` x ``size`` square of (B, C, H, W) or (C, H, W) images.

    The top-left corner is ``((H - size) // 2, (W - size) // 2)``, the same square as a centred hole of
    side ``size`` (``inpainting.centre_mask``).
    """
    checks.ndim(x, "x", (3, 4), "(B, C, H, W) or (C, H, W)")
    checks.positive_int(size, "size")
    h, w = x.shape[-2:]
    if min(h, w) < size:
        raise ValueError(f"cannot cut a {size}x{size} crop from images of size {h}x{w}")
    i, j = (h - size) // 2, (w - size) // 2
    return x[..., i:i + size, j:j + size]


def crop(x: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """``x[..., top:bottom, left:right]`` for ``box = (top, bottom, left, right)`` (bottom/right exclusive)."""
    checks.ndim(x, "x", (2, 3, 4), "(B, C, H, W), (C, H, W) or (H, W)")
    t, b, l, r = (int(v) for v in box)
    h, w = x.shape[-2:]
    if not (0 <= t < b <= h and 0 <= l < r <= w):
        raise ValueError(f"box (top, bottom, left, right) = {tuple(box)} is empty or outside the {h}x{w} image")
    return x[..., t:b, l:r]


def crop_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Crop (..., H, W) at the bottom/right so that H and W are multiples of ``multiple`` (for strided nets)."""
    checks.tensor(x, "x")
    checks.positive_int(multiple, "multiple")
    h, w = x.shape[-2] // multiple * multiple, x.shape[-1] // multiple * multiple
    if h == 0 or w == 0:
        raise ValueError(f"image {tuple(x.shape[-2:])} is smaller than {multiple} pixels")
    return x[..., :h, :w]


# ----------------------------------------------------------------------------------------
# Resampling
# ----------------------------------------------------------------------------------------
def downsample(x: torch.Tensor, scale: int = 2, mode: str = "bicubic") -> torch.Tensor:
    """Downsample by an integer ``scale``: (B, C, H, W) -> (B, C, H/scale, W/scale).

    Args:
        x: images; H and W divisible by ``scale``.
        scale: the factor.
        mode: ``bicubic`` (antialiased: the degradation of the SR papers; clamped to [0, 1] when x is in
            [0, 1]) or ``area`` (the mean of each scale x scale block: the pyramid's reduce step d(.)).
    """
    checks.image_batch(x, "x")
    checks.positive_int(scale, "scale")
    checks.one_of(mode, "downsample mode", ("bicubic", "area"))
    h, w = x.shape[-2:]
    if h % scale or w % scale:
        raise ValueError(f"image size {h}x{w} must be divisible by scale={scale}")
    if mode == "area":
        return F.avg_pool2d(x, scale)
    y = F.interpolate(x, size=(h // scale, w // scale), mode="bicubic", antialias=True, align_corners=False)
    return y.clamp(0, 1) if _in_unit_range(x) else y


def upsample(x: torch.Tensor, scale: int = 2, mode: str = "bicubic", size: tuple[int, int] | None = None
             ) -> torch.Tensor:
    """Upsample by an integer ``scale`` (or to ``size``): (B, C, H, W) -> (B, C, H * scale, W * scale).

    Args:
        x: images.
        scale: the factor (ignored when ``size`` is given).
        mode: ``bicubic`` (the classical SR baseline; clamped to [0, 1] when x is in [0, 1], as bicubic
            overshoots) or ``bilinear`` (the pyramid's expand step u(.); stays in x's range).
        size: ``(H', W')`` output size instead of a factor.
    """
    checks.image_batch(x, "x")
    checks.one_of(mode, "upsample mode", ("bicubic", "bilinear"))
    if size is None:
        checks.positive_int(scale, "scale")
        size = (x.shape[-2] * scale, x.shape[-1] * scale)
    y = F.interpolate(x, size=tuple(size), mode=mode, align_corners=False)
    return y.clamp(0, 1) if mode == "bicubic" and _in_unit_range(x) else y


# ----------------------------------------------------------------------------------------
# Gaussian and Laplacian pyramids (fine to coarse)
# ----------------------------------------------------------------------------------------
def gaussian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    r"""The Gaussian pyramid $[I_0, I_1, \dots, I_{K}]$, fine to coarse: $I_0 = x$, $I_{k+1} = d(I_k)$.

    Args:
        x: (B, C, H, W) images (any range); H and W divisible by ``2 ** (levels - 1)``.
        levels: number of entries K + 1 >= 1.

    Returns:
        ``levels`` tensors, entry k of size (H / 2**k, W / 2**k); d(.) is the 2x2 mean.

    Reference:
        Burt & Adelson, "The Laplacian Pyramid as a Compact Image Code", IEEE Trans. Comm. 1983.
    """
    checks.image_batch(x, "x")
    checks.positive_int(levels, "levels")
    f = 2 ** (levels - 1)
    if x.shape[-1] % f or x.shape[-2] % f:
        raise ValueError(f"{levels} pyramid levels need H and W divisible by {f}, got shape {tuple(x.shape)}")
    pyramid = [x]
    for _ in range(levels - 1):
        pyramid.append(downsample(pyramid[-1], 2, "area"))
    return pyramid


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    r"""The Laplacian pyramid $[h_0, \dots, h_{K-1}, I_K]$, fine to coarse.

    $$I_{k+1} = d(I_k), \qquad h_k = I_k - u(I_{k+1}), \qquad I_0 = x$$

    Args:
        x: (B, C, H, W) images (any range); H and W divisible by ``2 ** (levels - 1)``.
        levels: number of entries K + 1 >= 1 (1: just ``[x]``).

    Returns:
        ``levels`` tensors: the band-pass images h_0 (H x W), h_1 (H/2 x W/2), ... and last the
        low-pass residual I_K; :func:`reconstruct_laplacian` inverts it exactly.

    Reference:
        Burt & Adelson 1983; Denton et al., "Deep Generative Image Models using a Laplacian Pyramid of
        Adversarial Networks" (LAPGAN), NeurIPS 2015, arXiv:1506.05751, Eq. (3).
    """
    g = gaussian_pyramid(x, levels)
    return [fine - upsample(coarse, 2, "bilinear") for fine, coarse in itertools.pairwise(g)] + [g[-1]]


def reconstruct_laplacian(pyramid: Sequence[torch.Tensor]) -> torch.Tensor:
    r"""Invert :func:`laplacian_pyramid`: $I_k = u(I_{k+1}) + h_k$, from the coarsest level up.

    Args:
        pyramid: ``[h_0, ..., h_{K-1}, I_K]``, fine to coarse, each entry half the size of the previous one.

    Returns:
        (B, C, H, W) the image I_0 (exact up to float rounding).

    Reference:
        Denton et al. 2015, Eq. (4) (with generated h_k it is the LAPGAN sampler).
    """
    if len(pyramid) == 0:
        raise ValueError("pyramid is empty: expected [h_0, ..., h_{K-1}, I_K] from laplacian_pyramid")
    image = checks.image_batch(pyramid[-1], "pyramid[-1]")
    for k in range(len(pyramid) - 2, -1, -1):
        h = checks.image_batch(pyramid[k], f"pyramid[{k}]")
        if h.shape[-2:] != (2 * image.shape[-2], 2 * image.shape[-1]):
            raise ValueError(f"pyramid[{k}] must be twice the size of pyramid[{k + 1}] "
                             f"({2 * image.shape[-2]}x{2 * image.shape[-1]}), got {tuple(h.shape)}")
        image = upsample(image, 2, "bilinear") + h
    return image


# ----------------------------------------------------------------------------------------
# Degradations
# ----------------------------------------------------------------------------------------
def gaussian_kernel1d(sigma: float) -> torch.Tensor:
    r"""The sampled, normalised Gaussian $k_t \propto \exp(-t^2 / 2\sigma^2)$, $|t| \le \lceil 3\sigma \rceil$ (at least 3 taps)."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    return (k / k.sum()).float()


def blur(x: torch.Tensor, sigma_or_kernel: float | torch.Tensor) -> torch.Tensor:
    r"""Blur every channel: $y = k * x$ (true convolution, reflect padding; weights sum to 1, so a constant stays).

    Args:
        x: (B, C, H, W) images (any range).
        sigma_or_kernel: a float sigma > 0 (Gaussian blur in pixels, separable, radius ceil(3 sigma); 0 returns x),
            or a (k, k) kernel for the whole batch, or (B, k, k) one per image (odd k, e.g. a motion-blur
            trajectory); the kernel radius must be smaller than H and W.

    Returns:
        (B, C, H, W) blurred images.

    Reference:
        Nah et al. 2017, arXiv:1612.02177, Eq. (1) (the uniform blur model).
    """
    checks.image_batch(x, "x")
    b, c, h, w = x.shape
    if not isinstance(sigma_or_kernel, torch.Tensor):
        sigma = float(sigma_or_kernel)
        if sigma == 0:
            return x
        k1 = gaussian_kernel1d(sigma).to(x)
        r = len(k1) // 2
        if r >= min(h, w):
            raise ValueError(f"a blur with sigma={sigma} (radius {r}) is too wide for {h}x{w} images")
        y = F.conv2d(F.pad(x, (r, r, 0, 0), mode="reflect"), k1.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(F.pad(y, (0, 0, r, r), mode="reflect"), k1.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
    kernel = sigma_or_kernel
    if kernel.ndim == 2:
        kernel = kernel.expand(b, -1, -1)
    checks.ndim(kernel, "kernel", 3, "(k, k) or (B, k, k)")
    if kernel.shape[0] != b or kernel.shape[1] != kernel.shape[2] or kernel.shape[1] % 2 == 0:
        raise ValueError(f"kernel must be (k, k) or (B={b}, k, k) with odd k, got {tuple(kernel.shape)}")
    p = kernel.shape[-1] // 2
    if p >= min(h, w):
        raise ValueError(f"kernel of size {kernel.shape[-1]} is too large for {h}x{w} images")
    weight = kernel.flip(-1, -2).to(x).repeat_interleave(c, 0)[:, None]     # flip: convolution, not correlation
    xp = F.pad(x.reshape(1, b * c, h, w), (p, p, p, p), mode="reflect")
    return F.conv2d(xp, weight, groups=b * c).reshape(b, c, h, w)


def add_noise(x: torch.Tensor, sigma: float | torch.Tensor, seed: int | torch.Generator | None = None,
              clip: bool = True) -> torch.Tensor:
    r"""Additive white Gaussian noise $y = x + \sigma n$, $n \sim \mathcal{N}(0, I)$.

    Args:
        x: (B, C, H, W) images in [0, 1].
        sigma: standard deviation in image units (e.g. 25 / 255), a float or a (B,) tensor (one per image).
        seed: an int (a fresh generator on x's device), a ``torch.Generator``, or None (the global stream).
        clip: clip the result to [0, 1] (as a stored 8-bit image would be; the DnCNN benchmarks do not clip).

    Returns:
        (B, C, H, W) noisy images.

    Reference:
        Zhang et al., "Beyond a Gaussian Denoiser" (DnCNN), IEEE TIP 2017, arXiv:1608.03981, Sec. III.
    """
    checks.image_batch(x, "x")
    s = torch.as_tensor(sigma, dtype=x.dtype, device=x.device)
    if (s < 0).any():
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    if s.ndim == 1:
        if len(s) != len(x):
            raise ValueError(f"a per-image sigma needs {len(x)} values, got {len(s)}")
        s = s.view(-1, 1, 1, 1)
    y = x + s * torch.randn(x.shape, generator=_seeded(seed, x.device), device=x.device, dtype=x.dtype)
    return y.clamp(0, 1) if clip else y


def degrade(x: torch.Tensor, kind: str, amount: float, seed: int = 0) -> torch.Tensor:
    """A controlled corruption of images in [0, 1] (to make 'models' of known quality).

    Args:
        x: (B, C, H, W) in [0, 1].
        kind: ``noise`` (:func:`add_noise` with sigma = amount, clipped), ``blur`` (:func:`blur`, Gaussian,
            sigma = amount pixels), ``quantize`` (round to ``amount`` gray levels, like a coarse JPEG/palette),
            ``nearest`` / ``bilinear`` (downsample by the factor ``amount`` and upsample back with that
            interpolation).
        amount: strength (0 returns ``x`` unchanged for noise and blur).
        seed: noise seed.

    Returns:
        (B, C, H, W) in [0, 1].
    """
    checks.image_batch(x, "x")
    checks.one_of(kind, "kind", DEGRADATIONS)
    if amount < 0:
        raise ValueError(f"amount must be >= 0, got {amount}")
    if kind == "noise":
        return add_noise(x.cpu(), float(amount), seed=seed).to(x.device)      # CPU noise: the same on any device
    if kind == "blur":
        return blur(x, float(amount))
    if kind == "quantize":
        levels = int(amount)
        if levels < 2:
            raise ValueError(f"quantize needs amount >= 2 gray levels, got {amount}")
        return torch.round(x * (levels - 1)) / (levels - 1)
    # nearest / bilinear: down by `amount`, back up with the chosen interpolation
    if amount < 1:
        raise ValueError(f"{kind} needs a downsampling factor amount >= 1, got {amount}")
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, round(h / amount)), max(1, round(w / amount))), mode="area")
    if kind == "nearest":
        return F.interpolate(small, size=(h, w), mode="nearest")
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).clamp(0, 1)


def tonemap(radiance: torch.Tensor, mu: float = MU) -> torch.Tensor:
    r"""$\mu$-law tone mapping $T(H) = \log(1 + \mu H) / \log(1 + \mu)$ for H in [0, 1] (clamped first).

    Reference:
        Kalantari & Ramamoorthi, "Deep High Dynamic Range Imaging of Dynamic Scenes", SIGGRAPH 2017, Eq. (3).
    """
    checks.tensor(radiance, "radiance")
    return torch.log1p(mu * radiance.clamp(0, 1)) / math.log1p(mu)
