"""Motion-blur kernels, classical baselines, the multi-scale loss and HDR helpers of notebook 13 (deblurring, denoising, HDR).

Everything works on (B, C, H, W) float tensors in [0, 1] unless said otherwise; the generic image operations
(blur with a kernel, noise, crops, pyramids, tone mapping) are in :mod:`course_lib.images`::

    from course_lib import images, restore
    k = restore.random_motion_kernel(13, seed=0)            # (13, 13), sums to 1 (DeblurGAN's trajectories)
    y = images.blur(x, k)                                   # true convolution, reflect padding
    y = images.add_noise(x, 25 / 255, seed=0)               # AWGN, clipped to [0, 1]
    restore.denoise_nlm(y)                                  # skimage baselines (TV, wavelet, NLM), sigma estimated
    sharp, blurred = restore.valid_blur(big_patches, restore.kernel_bank(len(big_patches)))   # pairs without padding
    y = restore.camera_noise(x, seed=0)                     # realistic noise: signal-dependent, correlated, gamma
    restore.noise_level_curve(x, y)                         # noise std against the clean intensity
    restore.multiscale_content_loss(outputs, images.gaussian_pyramid(sharp, 3)[::-1])   # Nah et al. 2017, Eq. (2)
    stack, times = restore.exposure_stack(radiance)         # synthetic LDR exposures (camera curve + clipping)
    restore.exposure_fusion(stack)                          # Mertens et al. 2007 with Laplacian-pyramid blending

The classical denoisers wrap ``skimage.restoration`` (Chambolle TV, BayesShrink wavelets, non-local means
with ``estimate_sigma``); Richardson-Lucy is a *non-blind* deconvolution that is handed the true kernel
(an oracle advantage the blind networks do not have).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import checks, images

GAMMA = 2.2          # the display / camera gamma of the synthetic camera response


def _unit_images(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    checks.image_batch(x, name)
    lo, hi = float(x.min()), float(x.max())
    if math.isnan(lo) or lo < -1e-4 or hi > 1 + 1e-4:
        raise ValueError(f"{name} must be images in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    return x


def scores(outputs: Sequence[torch.Tensor], references: Sequence[torch.Tensor]) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM over pairs of images of *different* sizes (whole held-out photos).

    Args:
        outputs: list of (C, H_i, W_i) (or (1, C, H_i, W_i)) restored images in [0, 1].
        references: the ground truths, same shapes pairwise.

    Returns:
        ``{"PSNR": mean dB, "SSIM": mean}`` via :mod:`course_lib.quality` (scikit-image).
    """
    from . import quality

    if len(outputs) != len(references) or not len(outputs):
        raise ValueError(f"need as many outputs as references (>= 1), got {len(outputs)} and {len(references)}")
    p = [float(quality.psnr_per_image(o, r)[0]) for o, r in zip(outputs, references)]
    s = [float(quality.ssim_per_image(o, r)[0]) for o, r in zip(outputs, references)]
    return {"PSNR": float(np.mean(p)), "SSIM": float(np.mean(s))}


# ----------------------------------------------------------------------------------------
# Blur kernels and the blur / noise operators
# ----------------------------------------------------------------------------------------
def _splat(points: torch.Tensor, size: int) -> torch.Tensor:
    """Rasterise (N, 2) sub-pixel (row, col) points centred on 0 into a size x size kernel (bilinear)."""
    p = points.double() + (size - 1) / 2
    base = p.floor()
    k = torch.zeros(size * size, dtype=torch.float64)
    for dr in (0, 1):
        for dq in (0, 1):
            idx = base + torch.tensor([dr, dq], dtype=torch.float64)
            w = (1 - (p - idx).abs()).prod(1)
            ok = ((idx >= 0) & (idx < size)).all(1)
            flat = (idx[ok, 0] * size + idx[ok, 1]).long()
            k.index_add_(0, flat, w[ok])
    return k.view(size, size)


def line_kernel(size: int, length: float, angle: float) -> torch.Tensor:
    """A linear motion-blur kernel: a segment of ``length`` pixels at ``angle`` degrees, centred.

    Args:
        size: odd kernel side.
        length: segment length in pixels (1 gives the identity), at most ``size``.
        angle: direction in degrees (0 = horizontal).

    Returns:
        (size, size) float32 kernel, non-negative, summing to 1.
    """
    checks.positive_int(size, "size")
    if size % 2 == 0:
        raise ValueError(f"size must be odd so that the kernel has a centre, got {size}")
    if not 0 < length <= size:
        raise ValueError(f"length must be in (0, size={size}], got {length}")
    n = max(2, math.ceil(4 * length))
    t = torch.linspace(-(length - 1) / 2, (length - 1) / 2, n, dtype=torch.float64)
    a = math.radians(angle)
    k = _splat(torch.stack([-t * math.sin(a), t * math.cos(a)], 1), size)
    return (k / k.sum()).float()


def random_motion_kernel(size: int = 13, seed: int = 0, anxiety: float = 0.005, impulsive: float = 0.05,
                         exposure: float = 1.0, n_points: int = 200) -> torch.Tensor:
    """A random camera-shake kernel from a random trajectory (Boracchi & Foi 2012, as in DeblurGAN).

    A particle moves with a random, slowly changing velocity; shocks (``impulsive``) flip it abruptly,
    ``anxiety`` scales the Gaussian perturbations. The trajectory is scaled to fit the kernel, integrated up to
    the ``exposure`` fraction of its length and rasterised with bilinear splatting.

    Args:
        size: odd kernel side (the maximal blur extent).
        seed: seed of the trajectory.
        anxiety: strength of the random velocity changes.
        impulsive: probability of a shock per step.
        exposure: fraction in (0, 1] of the trajectory integrated: the whole trajectory is scaled to span the
            kernel, so a shorter exposure gives a shorter blur (1: about ``size`` pixels).
        n_points: trajectory samples.

    Returns:
        (size, size) float32 kernel, non-negative, summing to 1.

    Reference:
        Kupyn et al., "DeblurGAN", CVPR 2018, arXiv:1711.07064, Sec. 4.1 (Algorithm 1); Boracchi & Foi,
        "Modeling the performance of image restoration from motion blur", IEEE TIP 2012.
    """
    checks.positive_int(size, "size")
    if size % 2 == 0 or size < 3:
        raise ValueError(f"size must be odd and >= 3, got {size}")
    if not 0 < exposure <= 1:
        raise ValueError(f"exposure must be in (0, 1], got {exposure}")
    g = np.random.default_rng(seed)
    v = g.normal(size=2)
    v = v / np.linalg.norm(v) * 1.0
    pos = np.zeros((n_points, 2))
    for i in range(1, n_points):
        dv = g.normal(size=2) * anxiety * n_points - 0.1 * pos[i - 1] / n_points
        if g.random() < impulsive:
            dv -= 2 * v * g.random()
        v = v + dv / n_points * 10
        v = v / max(np.linalg.norm(v), 1e-8)
        pos[i] = pos[i - 1] + v
    full = pos - (pos.max(0) + pos.min(0)) / 2                    # the whole trajectory fits the kernel...
    scale = ((size - 1) / 2 - 1e-6) / max(float(np.abs(full).max()), 1e-8)
    pos = pos[: max(2, round(exposure * n_points))]               # ...and the exposure integrates a part of it
    pos = pos - (pos.max(0) + pos.min(0)) / 2                     # centre that part
    k = _splat(torch.from_numpy(pos * scale), size)
    return (k / k.sum()).float()


def motion_blur_pairs(x: torch.Tensor, size: int = 13, noise: float = 0.0, seed: int = 0,
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Blur every image with its own random trajectory kernel (plus optional noise), as DeblurGAN's synthetic set.

    Args:
        x: (B, C, H, W) sharp images in [0, 1].
        size: kernel side (maximal blur extent).
        noise: std of Gaussian noise added after the blur.
        seed: kernels use seeds ``seed * 100003 + i``; exposure fractions are drawn in [0.5, 1] (a shorter
            exposure integrates less of the path, so a shorter blur; see :func:`random_motion_kernel`).

    Returns:
        (blurred (B, C, H, W) in [0, 1], kernels (B, size, size)).
    """
    _unit_images(x)
    ks = kernel_bank(len(x), size, seed)
    y = images.blur(x, ks)
    if noise > 0:
        y = images.add_noise(y, noise, seed=seed)
    return y.clamp(0, 1), ks


def kernel_bank(n: int, size: int = 13, seed: int = 0, exposure: tuple[float, float] = (0.5, 1.0)) -> torch.Tensor:
    """``n`` random camera-shake kernels (:func:`random_motion_kernel`), exposure fractions drawn uniformly.

    Args:
        n: number of kernels.
        size: odd kernel side.
        seed: kernel ``i`` uses the trajectory seed ``seed * 100003 + i`` (as :func:`motion_blur_pairs`).
        exposure: (low, high) range in (0, 1] of the integrated fraction of each trajectory.

    Returns:
        (n, size, size) float32 kernels, each non-negative and summing to 1.

    Reference:
        Kupyn et al., "DeblurGAN", CVPR 2018, arXiv:1711.07064, Sec. 4.1.
    """
    checks.positive_int(n, "n")
    lo, hi = (float(v) for v in exposure)
    if not 0 < lo <= hi <= 1:
        raise ValueError(f"exposure must be a range (low, high) with 0 < low <= high <= 1, got {exposure}")
    g = np.random.default_rng(seed)
    return torch.stack([random_motion_kernel(size, seed * 100003 + i, exposure=float(g.uniform(lo, hi)))
                        for i in range(n)])


def valid_blur(x: torch.Tensor, kernels: torch.Tensor, noise: float = 0.0, seed: int | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Blur patches and keep only the centre that the blur computed from real pixels (no padding).

    A patch blurred with padding is wrong in a border of ``k // 2`` pixels (reflected content is smeared into
    it): 44% of a 48-pixel patch for a 13-pixel kernel. Cutting patches ``k - 1`` pixels larger and keeping the
    "valid" centre gives training pairs whose every pixel obeys $B = k * S + n$.

    Args:
        x: (B, C, H, W) sharp patches in [0, 1], ``k - 1`` pixels larger than the pairs wanted.
        kernels: (k, k) for all, or (B, k, k) one per patch (odd k).
        noise: std of Gaussian noise added to the blurred centre (clipped to [0, 1]).
        seed: seed of the noise.

    Returns:
        (sharp, blurred), both (B, C, H - k + 1, W - k + 1) in [0, 1].

    Reference:
        Nah et al. 2017, arXiv:1612.02177, Eq. (1) (the uniform blur model).
    """
    _unit_images(x)
    checks.tensor(kernels, "kernels")
    ks = kernels.expand(len(x), -1, -1) if kernels.ndim == 2 else kernels
    if ks.ndim != 3 or len(ks) != len(x) or ks.shape[1] != ks.shape[2] or ks.shape[1] % 2 == 0:
        raise ValueError(f"kernels must be (k, k) or (B={len(x)}, k, k) with odd k, got {tuple(kernels.shape)}")
    r = ks.shape[-1] // 2
    h, w = x.shape[-2:]
    if min(h, w) <= 2 * r:
        raise ValueError(f"patches of {h}x{w} leave no valid centre for a {2 * r + 1}x{2 * r + 1} kernel: cut them "
                         f"at least {2 * r + 1} pixels wide")
    y = images.blur(x, ks)[..., r:h - r, r:w - r]
    if noise > 0:
        y = images.add_noise(y, noise, seed=seed)
    return x[..., r:h - r, r:w - r], y.clamp(0, 1)


# ----------------------------------------------------------------------------------------
# Classical baselines (scikit-image)
# ----------------------------------------------------------------------------------------
def _per_image(x: torch.Tensor, fn) -> torch.Tensor:
    out = []
    for xi in x.detach().cpu().double().numpy():
        out.append(np.asarray(fn(xi), dtype=np.float64))
    return torch.from_numpy(np.stack(out)).float().clamp(0, 1).to(x.device)


def estimate_sigma(x: torch.Tensor) -> torch.Tensor:
    """Noise std per image (Donoho's wavelet MAD estimator, ``skimage.restoration.estimate_sigma``), (B,)."""
    from skimage.restoration import estimate_sigma as est

    _unit_images(x)
    return torch.tensor([float(est(xi, channel_axis=0, average_sigmas=True))
                         for xi in x.detach().cpu().double().numpy()])


def denoise_tv(x: torch.Tensor, weight: float | None = None) -> torch.Tensor:
    r"""Total-variation denoising (Chambolle 2004): $\min_u \tfrac12\lVert u - y\rVert^2 + w\,\mathrm{TV}(u)$.

    Args:
        x: (B, C, H, W) noisy images in [0, 1].
        weight: TV weight; default: the estimated noise std of each image (a rule of thumb).

    Returns:
        (B, C, H, W) denoised images in [0, 1].
    """
    from skimage.restoration import denoise_tv_chambolle

    _unit_images(x)
    if weight is not None and not weight > 0:
        raise ValueError(f"weight must be > 0 (or None to use the estimated noise std), got {weight}")
    sig = estimate_sigma(x) if weight is None else torch.full((len(x),), float(weight))
    it = iter(sig.tolist())
    return _per_image(x, lambda xi: denoise_tv_chambolle(xi, weight=next(it), channel_axis=0))


def denoise_wavelet(x: torch.Tensor) -> torch.Tensor:
    """Wavelet denoising with BayesShrink soft thresholds (noise std estimated), in YCbCr for colour images.

    Args:
        x: (B, C, H, W) noisy images in [0, 1].

    Returns:
        (B, C, H, W) denoised images in [0, 1].

    Reference:
        Chang, Yu & Vetterli, "Adaptive wavelet thresholding for image denoising", IEEE TIP 2000.
    """
    from skimage.restoration import denoise_wavelet as dw

    _unit_images(x)
    color = x.shape[1] == 3
    return _per_image(x, lambda xi: dw(xi, method="BayesShrink", mode="soft", rescale_sigma=True,
                                       channel_axis=0, convert2ycbcr=color))


def denoise_nlm(x: torch.Tensor, h_factor: float = 0.8, patch_size: int = 5, patch_distance: int = 6,
                sigma: float | None = None) -> torch.Tensor:
    r"""Non-local means (Buades et al. 2005) with the noise std estimated per image (or given).

    $$\hat u(i) = \sum_j w_{ij}\, y(j),\quad w_{ij} \propto \exp(-\lVert P_i - P_j\rVert^2 / h^2),\quad h = h_\text{factor}\,\hat\sigma$$

    Args:
        x: (B, C, H, W) noisy images in [0, 1].
        h_factor: filter strength relative to the estimated sigma (0.8 as in scikit-image's example).
        patch_size, patch_distance: patch side and search radius.
        sigma: the noise std in [0, 1] units, when it is known (e.g. measured on a few clean/noisy pairs);
            default: estimated per image by :func:`estimate_sigma`, which assumes white noise and
            underestimates spatially correlated (camera) noise.

    Returns:
        (B, C, H, W) denoised images in [0, 1].

    Reference:
        Buades, Coll & Morel, "A non-local algorithm for image denoising", CVPR 2005.
    """
    from skimage.restoration import denoise_nl_means

    _unit_images(x)
    if sigma is not None and not (isinstance(sigma, (int, float)) and not isinstance(sigma, bool) and 0 < sigma < 1):
        raise ValueError(f"sigma must be a noise std in (0, 1) for images in [0, 1], got {sigma!r}")
    it = iter([float(sigma)] * len(x) if sigma is not None else estimate_sigma(x).tolist())

    def one(xi: np.ndarray) -> np.ndarray:
        s = next(it)
        return denoise_nl_means(xi, h=h_factor * s, sigma=s, fast_mode=True, patch_size=patch_size,
                                patch_distance=patch_distance, channel_axis=0)

    return _per_image(x, one)


def classical_denoisers() -> dict[str, object]:
    """``{"TV": denoise_tv, "wavelet": denoise_wavelet, "NLM": denoise_nlm}`` (all estimate the noise level)."""
    return {"TV": denoise_tv, "wavelet": denoise_wavelet, "NLM": denoise_nlm}


def richardson_lucy(x: torch.Tensor, kernel: torch.Tensor, num_iter: int = 20) -> torch.Tensor:
    """Non-blind Richardson-Lucy deconvolution per channel with the *true* kernel (scikit-image).

    Args:
        x: (B, C, H, W) blurred images in [0, 1].
        kernel: (k, k) or (B, k, k).
        num_iter: iterations (more: sharper and noisier).

    Returns:
        (B, C, H, W) deblurred images in [0, 1].

    Reference:
        Richardson 1972; Lucy 1974.
    """
    from skimage.restoration import richardson_lucy as rl

    _unit_images(x)
    checks.positive_int(num_iter, "num_iter")
    checks.tensor(kernel, "kernel")
    ks = kernel.expand(len(x), -1, -1) if kernel.ndim == 2 else kernel
    if ks.ndim != 3 or len(ks) != len(x) or ks.shape[1] != ks.shape[2]:
        raise ValueError(f"kernel must be (k, k) or (B={len(x)}, k, k), got {tuple(kernel.shape)}")
    it = iter(ks.detach().cpu().double().numpy())

    def one(xi: np.ndarray) -> np.ndarray:
        k = next(it)
        p = k.shape[-1]
        padded = np.pad(xi, ((0, 0), (p, p), (p, p)), mode="reflect")
        out = np.stack([rl(ch, k, num_iter=num_iter, clip=False) for ch in padded])
        return out[:, p:-p, p:-p]

    return _per_image(x, one)


# ----------------------------------------------------------------------------------------
# The multi-scale content loss (Nah et al. 2017)
# ----------------------------------------------------------------------------------------
def multiscale_content_loss(outputs: list[torch.Tensor], targets: list[torch.Tensor]) -> torch.Tensor:
    r"""Nah et al.'s multi-scale content loss, coarse to fine:

    $$\mathcal{L}_\text{cont} = \frac{1}{2K}\sum_{k=1}^{K} \frac{1}{c_k w_k h_k}\lVert L_k - S_k \rVert^2$$

    Args:
        outputs: K latent (deblurred) images $L_k$, (B, C, H_k, W_k), coarse to fine.
        targets: K sharp images $S_k$ of the same shapes, coarse to fine:
            ``images.gaussian_pyramid(sharp, K)[::-1]``.

    Returns:
        Scalar (also averaged over the batch).

    Reference:
        Nah, Kim & Lee, "Deep Multi-scale CNN for Dynamic Scene Deblurring", CVPR 2017, arXiv:1612.02177, Eq. (2).
    """
    if not isinstance(outputs, (list, tuple)) or not isinstance(targets, (list, tuple)):
        raise TypeError("outputs and targets must be lists of tensors, coarse to fine")
    if len(outputs) != len(targets) or not outputs:
        raise ValueError(f"need the same number K >= 1 of scales, got {len(outputs)} outputs and {len(targets)} targets")
    total = 0.0
    for k, (o, t) in enumerate(zip(outputs, targets)):
        if o.shape != t.shape:
            raise ValueError(f"scale {k}: output {tuple(o.shape)} and target {tuple(t.shape)} differ")
        total = total + F.mse_loss(o, t)
    return total / (2 * len(outputs))


# ----------------------------------------------------------------------------------------
# HDR: synthetic radiance, exposure stacks, merging and tone mapping
# ----------------------------------------------------------------------------------------
def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Undo a display gamma: ``x ** 2.2`` (x in [0, 1])."""
    return x.clamp(0, 1) ** GAMMA


def radiance_from_photo(x: torch.Tensor, stops: float = 12.0) -> torch.Tensor:
    r"""A synthetic high-dynamic-range radiance map from an LDR photo: $E = 2^{\,s (x - 1)}$ per channel.

    An 8-bit photo has lost its true radiance; this monotone stretch turns it into a scene whose
    radiance spans ``stops`` stops ($E \in [2^{-s}, 1]$), so that no single exposure captures it.

    Args:
        x: (B, C, H, W) photos in [0, 1].
        stops: dynamic range in stops (powers of two).

    Returns:
        (B, C, H, W) radiance in [2**-stops, 1].
    """
    _unit_images(x)
    if not stops > 0:
        raise ValueError(f"stops must be > 0, got {stops}")
    return torch.exp2(stops * (x - 1))


def camera(radiance: torch.Tensor, exposure_time: float, bits: int = 8, gamma: float = GAMMA, noise: float = 0.0,
           seed: int | None = None) -> torch.Tensor:
    r"""A simple camera: $Z = \mathrm{quantise}(\mathrm{clip}((t E)^{1/\gamma} + \sigma n, 0, 1))$ (response + clipping).

    Args:
        radiance: (B, C, H, W) scene radiance >= 0.
        exposure_time: t > 0.
        bits: quantisation (8: 256 levels; 0: none).
        gamma: response exponent.
        noise: std sigma of Gaussian read noise added before clipping (in output units).
        seed: seed of the noise.

    Returns:
        (B, C, H, W) LDR image in [0, 1].

    Reference:
        Debevec & Malik, "Recovering High Dynamic Range Radiance Maps from Photographs", SIGGRAPH 1997 (Z = f(E t)).
    """
    checks.image_batch(radiance, "radiance")
    if not exposure_time > 0:
        raise ValueError(f"exposure_time must be > 0, got {exposure_time}")
    z = (radiance.clamp_min(0) * exposure_time).clamp(0, 1) ** (1 / gamma)
    if noise > 0:
        z = images.add_noise(z, noise, seed=seed)
    if bits:
        levels = 2 ** bits - 1
        z = torch.round(z * levels) / levels
    return z


def exposure_stack(radiance: torch.Tensor, times: tuple[float, ...] = (1.0, 16.0, 256.0), bits: int = 8,
                   noise: float = 0.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The LDR exposures of a scene, short to long.

    Args:
        radiance: (B, C, H, W) radiance in [0, 1] (:func:`radiance_from_photo`).
        times: exposure times (4 stops apart by default; Kalantari's scenes used 2 or 3 stops).
        bits: quantisation of each exposure.
        noise: read-noise std of the camera (:func:`camera`), exposure i seeded with ``seed + i``.
        seed: noise seed.

    Returns:
        (stack (B, N, C, H, W) in [0, 1], times (N,)).
    """
    if len(times) < 2:
        raise ValueError(f"an exposure stack needs at least 2 exposure times, got {times}")
    return torch.stack([camera(radiance, t, bits, noise=noise, seed=seed + i) for i, t in enumerate(times)], 1), torch.tensor(times, dtype=radiance.dtype)


def ldr_to_radiance(stack: torch.Tensor, times: torch.Tensor, gamma: float = GAMMA) -> torch.Tensor:
    r"""Per-exposure radiance estimates $H_i = Z_i^{\gamma} / t_i$ (Kalantari's $H_i$), (B, N, C, H, W)."""
    checks.ndim(stack, "stack", 5, "(B, N, C, H, W)")
    times = torch.as_tensor(times)
    if times.numel() != stack.shape[1] or not (times > 0).all():
        raise ValueError(f"need {stack.shape[1]} positive exposure times (one per exposure), got {times.tolist()}")
    return stack.clamp(0, 1) ** gamma / times.to(stack).view(1, -1, 1, 1, 1)


def hat_weights(stack: torch.Tensor) -> torch.Tensor:
    r"""Debevec-Malik triangle weights $w(Z) = 1 - |2Z - 1|$ (+1e-4), normalised to sum 1 over exposures."""
    checks.ndim(stack, "stack", 5, "(B, N, C, H, W)")
    w = 1 - (2 * stack - 1).abs() + 1e-4
    return w / w.sum(1, keepdim=True)


def merge_radiance(stack: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    r"""Classical HDR merge: $\hat E = \sum_i w(Z_i) Z_i^\gamma / t_i$ with hat weights summing to 1.

    Args:
        stack: (B, N, C, H, W) LDR exposures in [0, 1].
        times: (N,) exposure times.

    Returns:
        (B, C, H, W) radiance estimate.

    Reference:
        Debevec & Malik 1997, Eq. (6), averaged in the linear domain instead of the log domain (as Kalantari &
        Ramamoorthi's merge), with the response curve known.
    """
    return (hat_weights(stack) * ldr_to_radiance(stack, times)).sum(1)


def mertens_weights(stack: torch.Tensor, w_contrast: float = 1.0, w_saturation: float = 1.0,
                    w_exposedness: float = 1.0, sigma: float = 0.2) -> torch.Tensor:
    r"""Mertens et al.'s per-pixel quality weights, normalised over the exposures.

    $$W_{ij,k} = C_{ij,k}^{\omega_C}\, S_{ij,k}^{\omega_S}\, E_{ij,k}^{\omega_E},\qquad
      \hat W_{ij,k} = W_{ij,k} / \textstyle\sum_{k'} W_{ij,k'}$$

    C: absolute Laplacian of the gray image (contrast); S: std over the colour channels (saturation);
    E: $\prod_c \exp(-(I_c - 0.5)^2 / 2\sigma^2)$ (well-exposedness).

    Args:
        stack: (B, N, C, H, W) LDR exposures in [0, 1].
        w_contrast, w_saturation, w_exposedness: the exponents omega.
        sigma: width of the well-exposedness Gaussian (0.2).

    Returns:
        (B, N, 1, H, W) weights summing to 1 over N.

    Reference:
        Mertens, Kautz & Van Reeth, "Exposure Fusion", Pacific Graphics 2007, Eq. (1)-(2).
    """
    checks.ndim(stack, "stack", 5, "(B, N, C, H, W)")
    b, n, c, h, w = stack.shape
    flat = stack.reshape(b * n, c, h, w)
    gray = flat.mean(1, keepdim=True)
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).to(stack).view(1, 1, 3, 3)
    contrast = F.conv2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), lap).abs()
    saturation = flat.std(1, unbiased=False, keepdim=True) if c > 1 else torch.ones_like(gray)
    exposedness = torch.exp(-((flat - 0.5) ** 2) / (2 * sigma ** 2)).prod(1, keepdim=True)
    weights = (contrast ** w_contrast) * (saturation ** w_saturation) * (exposedness ** w_exposedness) + 1e-12
    weights = weights.reshape(b, n, 1, h, w)
    return weights / weights.sum(1, keepdim=True)


def exposure_fusion(stack: torch.Tensor, levels: int = 5, pyramid: bool = True, **weight_kw: float) -> torch.Tensor:
    """Mertens exposure fusion: blend the exposures with their weights in a Laplacian pyramid.

    Args:
        stack: (B, N, C, H, W) LDR exposures in [0, 1].
        levels: pyramid levels (the paper uses the full pyramid; 5 suffices for small images).
        pyramid: False -> the naive per-pixel weighted average (seams and halos, the paper's Fig. 3).
        **weight_kw: passed to :func:`mertens_weights`.

    Returns:
        (B, C, H, W) fused display image in [0, 1] (no radiance estimate: exposure fusion skips HDR).

    Reference:
        Mertens, Kautz & Van Reeth 2007, Sec. 3.2 (Burt & Adelson's multiresolution blending; the pyramids
        of :mod:`course_lib.images`, the images padded at the bottom/right to a multiple of 2**(levels - 1)).
    """
    weights = mertens_weights(stack, **weight_kw)
    if not pyramid:
        return (weights * stack).sum(1).clamp(0, 1)
    h, w = stack.shape[-2:]
    m = 2 ** (levels - 1)                                  # the pyramid halves levels - 1 times

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, -w % m, 0, -h % m), mode="replicate")

    fused = None
    for i in range(stack.shape[1]):
        lp = images.laplacian_pyramid(pad(stack[:, i]), levels)
        gp = images.gaussian_pyramid(pad(weights[:, i]), levels)
        terms = [l * g for l, g in zip(lp, gp)]
        fused = terms if fused is None else [f + t for f, t in zip(fused, terms)]
    return images.reconstruct_laplacian(fused)[..., :h, :w].clamp(0, 1)


# ----------------------------------------------------------------------------------------
# Realistic sensor noise (the noise a DANet-style generator learns)
# ----------------------------------------------------------------------------------------
# A colour-correction matrix of the kind a camera applies after demosaicking (rows sum to 1: grey stays grey);
# it mixes the channels' noise, so the noise of the output channels is correlated.
CCM = torch.tensor([[1.6, -0.4, -0.2], [-0.3, 1.5, -0.2], [-0.1, -0.5, 1.6]])


def camera_noise(x: torch.Tensor, shot: float = 0.01, read: float = 0.004, correlation: float = 0.7,
                 seed: int | None = None) -> torch.Tensor:
    r"""Sensor noise as a camera makes it: heteroscedastic, spatially and cross-channel correlated, gamma-encoded.

    $$L = x^{\gamma},\qquad y = \mathrm{clip}\Big(L + M\big(g * (\sqrt{a L + b^2}\odot n)\big),\,0,\,1\Big)^{1/\gamma},
      \qquad n \sim \mathcal{N}(0, I)$$

    with $a$ = ``shot`` (Poisson photon noise, variance proportional to the signal), $b$ = ``read`` (Gaussian read
    noise), $g$ a Gaussian of std ``correlation`` pixels normalised to $\lVert g\rVert_2 = 1$ (demosaicking
    interpolates neighbours, so neighbouring noise values are correlated; the variance is kept), $M$ the colour
    correction matrix :data:`CCM` (3 channels only) and $\gamma = 2.2$. In the encoded image the noise is stronger
    in the shadows than in the highlights and is no longer white: a denoiser trained on AWGN sees the wrong noise.

    Args:
        x: (B, C, H, W) clean images in [0, 1] (C = 1 or 3).
        shot: a, the signal-dependent variance factor (linear units).
        read: b, the read-noise std (linear units).
        correlation: std in pixels of the spatial correlation (0: white noise).
        seed: noise seed (None: the global stream).

    Returns:
        (B, C, H, W) noisy images in [0, 1].

    Reference:
        Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for single-image raw-data", IEEE TIP
        2008; Brooks et al., "Unprocessing Images for Learned Raw Denoising", CVPR 2019 (noise through the camera
        pipeline); Yue et al., "Dual Adversarial Network: Toward Real-world Noise Removal and Generation", ECCV
        2020, arXiv:2007.05946 (real noise is not AWGN).
    """
    _unit_images(x)
    if x.shape[1] not in (1, 3):
        raise ValueError(f"camera_noise needs gray or RGB images (C = 1 or 3), got C = {x.shape[1]}")
    if shot < 0 or read < 0 or correlation < 0:
        raise ValueError(f"shot, read and correlation must be >= 0, got {shot}, {read}, {correlation}")
    lin = x.clamp(0, 1) ** GAMMA
    gen = torch.Generator(device=x.device).manual_seed(int(seed)) if seed is not None else None
    n = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    n = n * torch.sqrt(shot * lin + read ** 2)
    if correlation > 0:
        k1 = images.gaussian_kernel1d(correlation).to(x)
        k2 = torch.outer(k1, k1)
        n = images.blur(n, k2 / k2.norm())                       # unit L2 norm: the variance is kept
    if x.shape[1] == 3:
        n = torch.einsum("ij,bjhw->bihw", CCM.to(x), n)
    return (lin + n).clamp(0, 1) ** (1 / GAMMA)


def noise_level_curve(clean: torch.Tensor, noisy: torch.Tensor, bins: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """The noise std as a function of the clean intensity: how the noise level depends on the signal.

    Pixels are grouped by the luma of the clean image into ``bins`` equal intervals of [0, 1]; the std of
    ``noisy - clean`` (all channels) is computed in each.

    Args:
        clean: (B, C, H, W) clean images in [0, 1].
        noisy: (B, C, H, W) their noisy versions.
        bins: number of intensity intervals.

    Returns:
        (centres (bins,), std (bins,)); NaN where a bin has fewer than 10 pixels.
    """
    _unit_images(clean, "clean")
    checks.tensor(noisy, "noisy")
    if noisy.shape != clean.shape:
        raise ValueError(f"clean and noisy must have the same shape, got {tuple(clean.shape)} and {tuple(noisy.shape)}")
    checks.positive_int(bins, "bins")
    lum = images.luma(clean.detach().cpu().double()).expand_as(clean)
    res = (noisy - clean).detach().cpu().double()
    idx = (lum * bins).long().clamp(max=bins - 1)
    std = torch.full((bins,), float("nan"), dtype=torch.float64)
    for b in range(bins):
        r = res[idx == b]
        if r.numel() >= 10:
            std[b] = r.std()
    return (torch.arange(bins, dtype=torch.float64) + 0.5) / bins, std


def noise_correlation(clean: torch.Tensor, noisy: torch.Tensor) -> dict[str, float]:
    """How far noise is from white: correlations of the residual ``noisy - clean``.

    Args:
        clean: (B, C, H, W) clean images in [0, 1].
        noisy: (B, C, H, W) their noisy versions.

    Returns:
        ``{"neighbour": r, "channels": r}``: the correlation of horizontally adjacent residual values
        (0 for white noise) and the mean correlation between the residuals of the colour channels
        (pairs of channels; 0 for independent channels, NaN for gray images).
    """
    _unit_images(clean, "clean")
    checks.tensor(noisy, "noisy")
    if noisy.shape != clean.shape:
        raise ValueError(f"clean and noisy must have the same shape, got {tuple(clean.shape)} and {tuple(noisy.shape)}")
    r = (noisy - clean).detach().cpu().double()

    def corr(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])

    c = r.shape[1]
    pairs = [(i, j) for i in range(c) for j in range(i + 1, c)]
    return {"neighbour": corr(r[..., :-1], r[..., 1:]),
            "channels": float(np.mean([corr(r[:, i], r[:, j]) for i, j in pairs])) if pairs else float("nan")}
