"""Networks of notebook 13: multi-scale deblurring, a DnCNN-style residual denoiser, an HDR fusion net.

* :class:`MultiScaleDeblur` -- Nah et al.'s coarse-to-fine network: the same kind of residual stack runs at
  1/4, 1/2 and full resolution; each finer scale sees its blurred input concatenated with the upsampled
  estimate of the coarser one; returns the estimates of every scale (for the multi-scale content loss).
* :class:`DnCNN` -- conv-ReLU, (conv-BN-ReLU) x (depth - 2), conv; predicts the *noise* and returns
  ``y - noise`` (residual learning).
* :class:`HDRFusion` -- Kalantari & Ramamoorthi's "weight estimator" (WE) variant, without the optical-flow
  alignment (our stacks are static): a small CNN sees the LDR exposures and their radiance estimates and
  predicts per-pixel blending weights (a softmax over the exposures) of the radiance estimates.

The DeblurGAN generator is ``nets.image2image.ResNetGenerator(global_skip=True)``; networks know nothing of losses.

References:
    Nah, Kim & Lee, "Deep Multi-scale CNN for Dynamic Scene Deblurring", CVPR 2017, arXiv:1612.02177.
    Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
    Denoising", IEEE TIP 2017, arXiv:1608.03981.
    Kalantari & Ramamoorthi, "Deep High Dynamic Range Imaging of Dynamic Scenes", SIGGRAPH 2017.
"""

from __future__ import annotations

import torch
from torch import nn

from .. import checks, images
from .image2image import ResidualBlock


class _ScaleNet(nn.Module):
    """One scale of the multi-scale net: conv 5x5 -> residual blocks -> conv 5x5 (no normalisation, as Nah et al.)."""

    def __init__(self, in_channels: int, out_channels: int, width: int, n_blocks: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(in_channels, width, 5, padding=2),
                                 *[ResidualBlock(width, norm="none") for _ in range(n_blocks)],
                                 nn.Conv2d(width, out_channels, 5, padding=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiScaleDeblur(nn.Module):
    """Coarse-to-fine deblurring: (B, C, H, W) blurred in [0, 1] -> list of K estimates, coarse to fine.

    Scale k (coarsest first) gets ``cat(B_k, up(L_{k+1}))`` (the coarsest gets ``cat(B_K, B_K)``) and
    outputs ``L_k = B_k + net_k(...)`` (an input skip; Nah et al. learn L_k directly, with 19 blocks per
    scale -- the skip makes small nets train faster). Scales do not share weights (as in the paper).
    The upsampling is bilinear (the paper uses an up-convolution).

    Args:
        channels: image channels.
        width: feature channels (64 in the paper).
        n_blocks: residual blocks per scale (19 in the paper).
        n_scales: K (3 in the paper: 1/4, 1/2, 1).

    Reference:
        Nah et al. 2017, arXiv:1612.02177, Sec. 3.2 and Fig. 3.
    """

    def __init__(self, channels: int = 3, width: int = 32, n_blocks: int = 3, n_scales: int = 3):
        super().__init__()
        for v, n in ((channels, "channels"), (width, "width"), (n_blocks, "n_blocks"), (n_scales, "n_scales")):
            checks.positive_int(v, n)
        self.channels, self.n_scales = channels, n_scales
        self.scales = nn.ModuleList(_ScaleNet(2 * channels, channels, width, n_blocks) for _ in range(n_scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        checks.image_batch(x, "x", channels=self.channels)
        pyramid = images.gaussian_pyramid(x, self.n_scales)[::-1]        # B_K, ..., B_1: coarse to fine
        outputs, prev = [], pyramid[0]
        for net, b in zip(self.scales, pyramid):
            if prev.shape[-2:] != b.shape[-2:]:
                prev = images.upsample(prev, 2, "bilinear")
            prev = b + net(torch.cat([b, prev], 1))               # L_k = B_k + f_k(B_k, up(L_{k+1}))
            outputs.append(prev)
        return outputs

    def deblur(self, x: torch.Tensor) -> torch.Tensor:
        """The finest estimate only, clamped to [0, 1], without gradients: (B, C, H, W) on x's device."""
        dev = next(self.parameters()).device
        with torch.no_grad():
            return self(x.to(dev))[-1].clamp(0, 1).to(x.device)


class DnCNN(nn.Module):
    """Residual denoiser: y (B, C, H, W) -> y - R(y), R predicting the noise.

    Args:
        channels: image channels.
        width: feature channels (64 in the paper).
        depth: convolution layers (17 for DnCNN-S, 20 for the blind DnCNN-B).
        residual: False -> return R(y) as the clean image (the plain CNN the paper compares to).

    Reference:
        Zhang et al. 2017, arXiv:1608.03981, Sec. III-A and Fig. 1.
    """

    def __init__(self, channels: int = 3, width: int = 32, depth: int = 8, residual: bool = True):
        super().__init__()
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        if not (isinstance(depth, int) and depth >= 2):
            raise ValueError(f"depth must be an int >= 2, got {depth!r}")
        self.channels, self.residual = channels, residual
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        layers.append(nn.Conv2d(width, channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        checks.image_batch(y, "y", channels=self.channels)
        r = self.net(y)
        return y - r if self.residual else r


class HDRFusion(nn.Module):
    """Per-pixel blending weights for N exposures: (LDR stack, radiance estimates) -> radiance.

    Input ``stack`` (B, N, C, H, W) in [0, 1] and ``radiance`` (B, N, C, H, W) (``Z_i^gamma / t_i``); the net
    sees ``cat(Z_i, T(H_i))`` over all i (T the mu-law) and outputs logits (B, N, C, H, W); the weights are
    their softmax over N (summing to 1), and the result is ``sum_i alpha_i H_i``.

    Args:
        n_exposures: N.
        channels: C.
        width: feature channels.
        depth: 3x3 convolution layers (>= 2).

    Reference:
        Kalantari & Ramamoorthi 2017, Sec. 3.2, "weight estimator (WE)" architecture (4 layers there, on
        aligned exposures).
    """

    def __init__(self, n_exposures: int = 3, channels: int = 3, width: int = 32, depth: int = 4):
        super().__init__()
        checks.positive_int(n_exposures, "n_exposures")
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        if not (isinstance(depth, int) and depth >= 2):
            raise ValueError(f"depth must be an int >= 2, got {depth!r}")
        self.n, self.c = n_exposures, channels
        c_in = 2 * n_exposures * channels
        layers: list[nn.Module] = []
        for i in range(depth - 1):
            layers += [nn.Conv2d(c_in if i == 0 else width, width, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(width, n_exposures * channels, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def weights(self, stack: torch.Tensor, radiance: torch.Tensor) -> torch.Tensor:
        """(B, N, C, H, W) blending weights, softmax over N."""
        checks.ndim(stack, "stack", 5, "(B, N, C, H, W)")
        if stack.shape[1:3] != (self.n, self.c) or radiance.shape != stack.shape:
            raise ValueError(f"HDRFusion expects stack and radiance of shape (B, {self.n}, {self.c}, H, W), got "
                             f"{tuple(stack.shape)} and {tuple(radiance.shape)}")
        b, n, c, h, w = stack.shape
        t = images.tonemap(radiance)
        logits = self.net(torch.cat([stack, t], 2).reshape(b, 2 * n * c, h, w)).reshape(b, n, c, h, w)
        return logits.softmax(1)

    def forward(self, stack: torch.Tensor, radiance: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) fused radiance."""
        return (self.weights(stack, radiance) * radiance).sum(1)
