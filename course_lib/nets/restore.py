"""Networks of notebook 13: multi-scale deblurring, a DnCNN-style denoiser, HDR fusion, a noise generator.

* :class:`MultiScaleDeblur` -- Nah et al.'s coarse-to-fine network: the same kind of residual stack runs at
  1/4, 1/2 and full resolution; each finer scale sees its blurred input concatenated with the upsampled
  estimate of the coarser one; returns the estimates of every scale (for the multi-scale content loss).
* :class:`DnCNN` -- conv-ReLU, (conv-BN-ReLU) x (depth - 2), conv; predicts the *noise* and returns
  ``y - noise`` (residual learning).
* :class:`HDRFusion` -- Kalantari & Ramamoorthi's "weight estimator" (WE) variant, without the optical-flow
  alignment (our stacks are static): a small CNN sees the LDR exposures and their radiance estimates and
  predicts per-pixel blending weights (a softmax over the exposures) of the radiance estimates.
* :class:`DeblurGenerator` -- a multi-scale net as a GAN generator on [-1, 1] (its finest estimate).
* :class:`ToneMapped` -- an HDR fusion net whose output is tone-mapped, for an adversarial term on it.
* :class:`NoiseGenerator` -- learns realistic (signal-dependent, correlated) noise for clean images, DANet-style.

Networks know nothing of losses.

References:
    Nah, Kim & Lee, "Deep Multi-scale CNN for Dynamic Scene Deblurring", CVPR 2017, arXiv:1612.02177.
    Zhang, Zuo, Chen, Meng & Zhang, "Beyond a Gaussian Denoiser: Residual Learning of Deep CNN for Image
    Denoising", IEEE TIP 2017, arXiv:1608.03981.
    Kalantari & Ramamoorthi, "Deep High Dynamic Range Imaging of Dynamic Scenes", SIGGRAPH 2017.
    Yue, Zhao, Zhang & Meng, "Dual Adversarial Network: Toward Real-world Noise Removal and Generation",
    ECCV 2020, arXiv:2007.05946.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
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
        zero_init: zero the last convolution of every scale, so that the untrained net returns its input
            (the residual starts at 0 instead of a random image; as the "zero-init residual" of Goyal et al. 2017).

    Reference:
        Nah et al. 2017, arXiv:1612.02177, Sec. 3.2 and Fig. 3.
    """

    def __init__(self, channels: int = 3, width: int = 32, n_blocks: int = 3, n_scales: int = 3,
                 zero_init: bool = True):
        super().__init__()
        for v, n in ((channels, "channels"), (width, "width"), (n_blocks, "n_blocks"), (n_scales, "n_scales")):
            checks.positive_int(v, n)
        self.channels, self.n_scales = channels, n_scales
        self.scales = nn.ModuleList(_ScaleNet(2 * channels, channels, width, n_blocks) for _ in range(n_scales))
        if zero_init:                                   # start as the identity L_k = B_k: training only adds
            for scale in self.scales:
                nn.init.zeros_(scale.net[-1].weight)
                nn.init.zeros_(scale.net[-1].bias)

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
        """The finest estimate only, clamped to [0, 1], in eval mode, without gradients: (B, C, H, W) on x's device."""
        dev = next(self.parameters()).device
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return self(x.to(dev))[-1].clamp(0, 1).to(x.device)
        finally:
            self.train(was_training)


class DeblurGenerator(nn.Module):
    """A :class:`MultiScaleDeblur` as the image-to-image generator of a GAN: (B, C, H, W) in [-1, 1] -> its
    finest estimate in [-1, 1] (the engine's range; the net itself works in [0, 1]).

    Args:
        net: the (trained) multi-scale network; its weights are the generator's (not copied).

    Reference:
        Nah et al. 2017, arXiv:1612.02177, Sec. 4 (their multi-scale net trained with an adversarial term);
        Kupyn et al. 2018 (DeblurGAN), arXiv:1711.07064, Eq. (1)-(3).
    """

    def __init__(self, net: MultiScaleDeblur):
        super().__init__()
        if not isinstance(net, MultiScaleDeblur):
            raise TypeError(f"DeblurGenerator wraps a MultiScaleDeblur, got {type(net).__name__}")
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (2 * self.net((x + 1) / 2)[-1] - 1).clamp(-1, 1)


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


def drop_batch_norm(net: nn.Module) -> nn.Module:
    """Replace every batch-norm layer of ``net`` by the identity, in place (e.g. a :class:`DnCNN`).

    Short training of a blind denoiser mixes noise levels 0 ... 55 in batches of a few patches; the batch
    statistics then differ from the running ones used at test time, and the net ends far from what it reaches
    without normalisation. EDSR (Lim et al. 2017, Sec. 3.1) drops batch norm from restoration networks for the
    same reason: it normalises away the range of the features.

    Args:
        net: a module with at least one ``nn.BatchNorm1d/2d/3d``.

    Returns:
        ``net`` itself, its batch-norm layers now ``nn.Identity``.
    """
    found = 0
    for module in net.modules():
        for name, child in module.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, name, nn.Identity())
                found += 1
    if not found:
        raise ValueError(f"{type(net).__name__} has no batch-norm layer to drop")
    return net


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


class ToneMapped(nn.Module):
    r"""An :class:`HDRFusion` net whose output is tone-mapped, $T(\hat H)$ in [0, 1]: the image a discriminator judges.

    Args:
        net: the fusion network (its weights are used, not copied).

    Reference:
        Niu et al., "HDR-GAN: HDR Image Reconstruction from Multi-Exposed LDR Images with Large Motions", IEEE TIP
        2021, arXiv:2007.01628 (the adversarial loss on the tone-mapped result).
    """

    def __init__(self, net: HDRFusion):
        super().__init__()
        if not isinstance(net, HDRFusion):
            raise TypeError(f"ToneMapped wraps an HDRFusion, got {type(net).__name__}")
        self.net = net

    def forward(self, stack: torch.Tensor, radiance: torch.Tensor) -> torch.Tensor:
        return images.tonemap(self.net(stack, radiance))


class NoiseGenerator(nn.Module):
    r"""Realistic noise for clean images: $y = \mathrm{clip}(x + s(x) \odot (m * z))$, $z \sim \mathcal{N}(0, I)$.

    A small structured stand-in for DANet's noise generator: a CNN $s$ maps the clean image to a per-pixel,
    per-channel noise level (softplus), and a learned ``kernel_size`` x ``kernel_size`` convolution $m$ over
    the channels correlates white noise in space and across channels. Trained adversarially against real
    (clean, noisy) pairs, it can learn signal-dependent, correlated noise that the AWGN model lacks. A fresh
    $z$ is drawn at every call (the generator is stochastic; no latent argument).

    Args:
        channels: image channels.
        width: feature channels of the level network.
        kernel_size: odd side of the correlation filter $m$ (initialised to the identity).
        init_level: initial noise std (the level network starts constant).

    Reference:
        Yue, Zhao, Zhang & Meng, "Dual Adversarial Network: Toward Real-world Noise Removal and Generation",
        ECCV 2020, arXiv:2007.05946 (the generator branch); Chen et al., "Image Blind Denoising With Generative
        Adversarial Network Based Noise Modeling" (GCBD), CVPR 2018.
    """

    def __init__(self, channels: int = 3, width: int = 16, kernel_size: int = 5, init_level: float = 0.05):
        super().__init__()
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        checks.positive_int(kernel_size, "kernel_size")
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (a centred filter), got {kernel_size}")
        if not init_level > 0:
            raise ValueError(f"init_level must be > 0, got {init_level}")
        self.channels = channels
        self.level = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(width, channels, 1))
        nn.init.zeros_(self.level[-1].weight)
        nn.init.constant_(self.level[-1].bias, math.log(math.expm1(init_level)))     # softplus^-1(init_level)
        self.mix = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2, padding_mode="reflect",
                             bias=False)
        with torch.no_grad():                           # the identity: white noise to start with
            self.mix.weight.zero_()
            for c in range(channels):
                self.mix.weight[c, c, kernel_size // 2, kernel_size // 2] = 1.0

    def noise(self, x: torch.Tensor) -> torch.Tensor:
        """A fresh noise draw for clean images x (B, C, H, W) in [0, 1], before clipping."""
        checks.image_batch(x, "x", channels=self.channels)
        z = torch.randn_like(x)
        return F.softplus(self.level(x)) * self.mix(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.noise(x)).clamp(0, 1)
