"""Networks that scale GANs up: LAPGAN levels, progressive growing, a small StyleGAN.

* :class:`CoarseGenerator` / :class:`CoarseDiscriminator`: MLPs for the coarsest LAPGAN level (8x8)
  (G with batch norm, D with a minibatch-standard-deviation feature).
* :class:`LevelGenerator` / :class:`LevelDiscriminator`: one LAPGAN level, conditioned on the
  upsampled coarser image l; G predicts the band h and returns ``l + h``, D scores ``(x - l, l)``.
* :class:`ProgressiveGenerator` / :class:`ProgressiveDiscriminator`: every resolution's layers exist from
  the start; ``stage`` picks the highest one in use and ``alpha`` fades it in (toRGB / fromRGB blending).
  Outputs and inputs stay at ``image_size`` (G upsamples, D average-pools), so one trainer and one data
  tensor serve every stage. The paper's three stabilisers (Sec. 3-4) are here: equalised learning rate
  (:class:`EqualizedConv2d`, :class:`EqualizedLinear`), pixel norm in G (:class:`PixelNorm`) and the
  minibatch standard deviation in D (:class:`MinibatchStd`). The full-resolution D is also StyleGAN's.
* :class:`StyleGenerator`: mapping MLP z -> w (learning-rate multiplier 0.01), a learned constant input,
  per-layer noise with learned scales, AdaIN per layer (:func:`adain`), equalised convolutions, style
  mixing by passing one w per layer.

The networks know nothing of losses (see course_lib.scaling and course_lib.gan).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks


def _check_size(x: torch.Tensor, name: str, channels: int, size: int) -> None:
    checks.image_batch(x, name, channels=channels)
    if x.shape[-2:] != (size, size):
        raise ValueError(f"{name} must be {size}x{size} images, got shape {tuple(x.shape)}")


# ----------------------------------------------------------------------------------------
# LAPGAN
# ----------------------------------------------------------------------------------------
class CoarseGenerator(nn.Module):
    """z (B, latent_dim) -> coarse images (B, channels, size, size) in [-1, 1]: an MLP, as LAPGAN's 8x8 level.

    Two hidden ReLU layers, each with batch norm (``batch_norm=True``, DCGAN's guideline): without it our
    8x8 MNIST generator stayed speckled and covered few digits (the full 8 -> 32 pyramid after 3000 coarse steps:
    FID 1270 vs 781, recognisable rate 0.17 vs 0.37; with :class:`CoarseDiscriminator`'s minibatch std too:
    700 and 0.42; measured on 2026-12-05, 4000 digits, one CPU thread).

    Args:
        latent_dim: size of z.
        channels, size: output images (B, channels, size, size).
        hidden: width of the two hidden layers.
        batch_norm: batch norm after each hidden linear layer.

    Reference:
        Denton et al. 2015, arXiv:1506.05751, Sec. 4 (the CIFAR-10 8x8 generator is fully connected).
    """

    def __init__(self, latent_dim: int = 32, channels: int = 1, size: int = 8, hidden: int = 256,
                 batch_norm: bool = True):
        super().__init__()
        for v, n in ((latent_dim, "latent_dim"), (channels, "channels"), (size, "size"), (hidden, "hidden")):
            checks.positive_int(v, n)
        self.latent_dim, self.channels, self.size = latent_dim, channels, size
        norm = (lambda: nn.BatchNorm1d(hidden)) if batch_norm else nn.Identity
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), norm(), nn.ReLU(True),
                                 nn.Linear(hidden, hidden), norm(), nn.ReLU(True),
                                 nn.Linear(hidden, channels * size * size), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        return self.net(z).reshape(-1, self.channels, self.size, self.size)


class CoarseDiscriminator(nn.Module):
    """coarse images (B, channels, size, size) -> raw scores (B,): an MLP with LeakyReLU.

    With ``minibatch_std`` the batch's feature standard deviation after the first layer enters the second
    as one extra feature (Karras et al. 2018, Sec. 3), so D can see a batch that lacks variety.

    Args:
        channels, size: input images (B, channels, size, size).
        hidden: width of the two hidden layers.
        minibatch_std: append the minibatch standard deviation (batches of >= 2).
        dropout: dropout after the first layer (0: none).

    Reference:
        Denton et al. 2015, arXiv:1506.05751, Sec. 4; Karras et al. 2018, arXiv:1710.10196, Sec. 3.
    """

    def __init__(self, channels: int = 1, size: int = 8, hidden: int = 256, minibatch_std: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.channels, self.size = checks.positive_int(channels, "channels"), checks.positive_int(size, "size")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.minibatch_std = minibatch_std
        self.first = nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.LeakyReLU(0.2, True),
                                   nn.Dropout(dropout) if dropout else nn.Identity())
        self.rest = nn.Sequential(nn.Linear(hidden + int(minibatch_std), hidden), nn.LeakyReLU(0.2, True),
                                  nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_size(x, "x", self.channels, self.size)
        h = self.first(x)
        if self.minibatch_std:                                          # one feature: the mean std over the batch
            if len(h) < 2:
                raise ValueError(f"minibatch_std needs a batch of at least 2 images, got {len(h)}")
            h = torch.cat([h, h.std(0).mean().expand(len(h), 1)], 1)
        return self.rest(h).reshape(-1)


class LevelGenerator(nn.Module):
    r"""One LAPGAN level: $\tilde I = l + G(z, l)$ with l the upsampled coarser image.

    z is a noise plane (B, noise_channels, H, W) stacked with l as extra input channels, as in the paper.
    The last convolution is linear (the band h is signed) and starts at zero, so an untrained level
    returns l itself.

    Args:
        channels: image channels.
        noise_channels: channels of the z plane.
        width: hidden channels.
        num_layers: 3x3 convolutions (>= 2).

    Reference:
        Denton et al. 2015, arXiv:1506.05751, Sec. 3.2-4: $\tilde h_k = G_k(z_k, u(I_{k+1}))$.
    """

    def __init__(self, channels: int = 1, noise_channels: int = 1, width: int = 32, num_layers: int = 3):
        super().__init__()
        self.channels = checks.positive_int(channels, "channels")
        self.noise_channels = checks.positive_int(noise_channels, "noise_channels")
        if checks.positive_int(num_layers, "num_layers") < 2:
            raise ValueError(f"num_layers must be >= 2, got {num_layers}")
        layers: list[nn.Module] = []
        c_in = channels + noise_channels
        for _ in range(num_layers - 1):
            layers += [nn.Conv2d(c_in, width, 3, 1, 1), nn.BatchNorm2d(width), nn.ReLU(True)]
            c_in = width
        last = nn.Conv2d(width, channels, 3, 1, 1)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def band(self, z: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        """The predicted band-pass image h (B, channels, H, W)."""
        checks.image_batch(low, "low", channels=self.channels)
        checks.image_batch(z, "z", channels=self.noise_channels)
        if z.shape[-2:] != low.shape[-2:] or len(z) != len(low):
            raise ValueError(f"z {tuple(z.shape)} must match low {tuple(low.shape)} in batch and size")
        return self.net(torch.cat([z, low], 1))

    def forward(self, z: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        return low + self.band(z, low)


class LevelDiscriminator(nn.Module):
    r"""One LAPGAN level's D: scores $(h, l) = (x - l, l)$ -- the band and its condition.

    Args:
        channels: image channels.
        size: image size (H = W).
        width: channels of the first conv (doubled after it).

    Reference:
        Denton et al. 2015, arXiv:1506.05751, Eq. (2): $D_k(h_k, l_k)$.
    """

    def __init__(self, channels: int = 1, size: int = 16, width: int = 32):
        super().__init__()
        self.channels, self.size = checks.positive_int(channels, "channels"), checks.positive_int(size, "size")
        if size % 4:
            raise ValueError(f"size must be divisible by 4, got {size}")
        self.net = nn.Sequential(
            nn.Conv2d(2 * channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True),             # size -> size/2
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2, True),                # -> size/4
            nn.Flatten(), nn.Dropout(0.2), nn.Linear(2 * width * (size // 4) ** 2, 1))

    def forward(self, x: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        _check_size(x, "x", self.channels, self.size)
        _check_size(low, "low", self.channels, self.size)
        return self.net(torch.cat([x - low, low], 1)).reshape(-1)


# ----------------------------------------------------------------------------------------
# Progressive growing
# ----------------------------------------------------------------------------------------
class PixelNorm(nn.Module):
    r"""$b = a / \sqrt{\frac1C\sum_j a_j^2 + \epsilon}$ per pixel (Karras et al. 2018, Sec. 4.2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(1, keepdim=True) + 1e-8)


class EqualizedConv2d(nn.Conv2d):
    r"""A convolution with a run-time weight scale (equalised learning rate): $y = (c\,W) * x + b$, $W \sim \mathcal N(0, 1)$.

    ``c = gain / sqrt(in_channels * k * k)`` is He's constant applied at every forward pass instead of once at
    initialisation, so every weight has unit variance and Adam (whose steps do not depend on the gradient's
    scale) changes every layer at the same relative speed. An ``nn.Conv2d`` subclass: the engine's bf16 autocast
    and weight regularisers treat it as a convolution.

    Args:
        in_channels, out_channels, kernel_size, padding: as ``nn.Conv2d`` (stride 1).
        gain: sqrt(2) before a (Leaky)ReLU, 1 before a linear output (toRGB).

    Reference:
        Karras et al. 2018, arXiv:1710.10196, Sec. 4.1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, padding: int = 0,
                 gain: float = math.sqrt(2)):
        super().__init__(in_channels, out_channels, kernel_size, 1, padding)
        nn.init.normal_(self.weight)
        nn.init.zeros_(self.bias)
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.scale, self.bias)


class MinibatchStd(nn.Module):
    r"""Append one feature map: the standard deviation over a group of samples, averaged over channels and pixels.

    The batch is split into groups of ``group_size`` (the largest divisor of the batch size up to it);
    for each group the std of every feature over its members is averaged into one number, broadcast as an
    extra (H, W) map to each member. A generator that emits too little variety gives itself away.

    Args:
        group_size: samples per group (4 in the paper).

    Shapes:
        (B, C, H, W) -> (B, C + 1, H, W).

    Reference:
        Karras et al. 2018, arXiv:1710.10196, Sec. 3.
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        self.group_size = checks.positive_int(group_size, "group_size")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x")
        b, c, h, w = x.shape
        g = min(self.group_size, b)
        while b % g:                                                   # a group size that divides the batch
            g -= 1
        y = x.float().reshape(g, b // g, c, h, w)                      # sample i*(b/g) + m is in group m
        std = (y.var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # (b/g,): one number per group
        return torch.cat([x, std.repeat(g)[:, None, None, None].expand(b, 1, h, w).to(x.dtype)], 1)


def _resolutions(image_size: int, start: int) -> list[int]:
    checks.positive_int(image_size, "image_size")
    checks.positive_int(start, "start")
    n = math.log2(image_size / start)
    if n < 0 or n != int(n):
        raise ValueError(f"image_size ({image_size}) must be start ({start}) times a power of 2")
    return [start * 2 ** k for k in range(int(n) + 1)]


class _Growing(nn.Module):
    """``stage`` (index into ``resolutions``) and ``alpha`` (fade-in weight of the newest stage)."""

    resolutions: list[int]

    @property
    def num_stages(self) -> int:
        return len(self.resolutions)

    @property
    def stage(self) -> int:
        return self._stage

    @stage.setter
    def stage(self, s: int) -> None:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < self.num_stages:
            raise ValueError(f"stage must be an int in [0, {self.num_stages - 1}] (resolutions {self.resolutions}), "
                             f"got {s!r}")
        self._stage = s

    @property
    def alpha(self) -> float:
        return self._alpha

    @alpha.setter
    def alpha(self, a: float) -> None:
        if not 0.0 <= float(a) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {a}")
        self._alpha = float(a)

    @property
    def resolution(self) -> int:
        """The resolution of the current stage."""
        return self.resolutions[self._stage]


class ProgressiveGenerator(_Growing):
    r"""z (B, latent_dim) -> images (B, channels, image_size, image_size) in [-1, 1], grown stage by stage.

    At stage s with fade-in weight alpha the image is
    $$x = \tanh\big((1 - \alpha)\,u(\text{toRGB}_{s-1}(h_{s-1})) + \alpha\,\text{toRGB}_s(h_s)\big)$$
    at resolution ``resolutions[s]``, then nearest-upsampled to ``image_size`` (so the data never changes).
    Pixel norm after every conv, no batch norm, equalised learning rate in every layer
    (Karras et al. 2018, Sec. 4.1-4.2): train it with Adam(lr ~1e-3, betas (0, 0.99)).

    Args:
        latent_dim: size of z.
        channels: image channels.
        image_size: final resolution.
        start: first resolution (4 in the paper).
        width: channels of every block.

    Reference:
        Karras et al., ICLR 2018, arXiv:1710.10196, Fig. 2, Sec. 4 and Table 2.
    """

    def __init__(self, latent_dim: int = 32, channels: int = 1, image_size: int = 32, start: int = 4, width: int = 32):
        super().__init__()
        self.latent_dim = checks.positive_int(latent_dim, "latent_dim")
        self.channels, self.image_size = checks.positive_int(channels, "channels"), image_size
        self.resolutions = _resolutions(image_size, start)
        self.width = checks.positive_int(width, "width")
        act = lambda: nn.LeakyReLU(0.2, True)
        conv = lambda: EqualizedConv2d(width, width, 3, 1)
        self.input = EqualizedLinear(latent_dim, width * start * start, gain=math.sqrt(2) / 4)  # z -> (width, 4, 4)
        self.blocks = nn.ModuleList([nn.Sequential(act(), PixelNorm(), conv(), act(), PixelNorm())])
        for _ in self.resolutions[1:]:                                   # r -> 2r
            self.blocks.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             conv(), act(), PixelNorm(), conv(), act(), PixelNorm()))
        self.to_rgb = nn.ModuleList([EqualizedConv2d(width, channels, 1, gain=1.0) for _ in self.resolutions])
        self.stage, self.alpha = self.num_stages - 1, 1.0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        s0 = self.resolutions[0]
        h = self.blocks[0](self.input(PixelNorm()(z)).reshape(-1, self.width, s0, s0))
        prev = None
        for k in range(1, self.stage + 1):
            prev = h
            h = self.blocks[k](h)
        rgb = self.to_rgb[self.stage](h)
        if self.stage > 0 and self.alpha < 1.0:                         # fade the new resolution in
            old = F.interpolate(self.to_rgb[self.stage - 1](prev), scale_factor=2, mode="nearest")
            rgb = torch.lerp(old, rgb, self.alpha)
        x = torch.tanh(rgb)
        factor = self.image_size // self.resolution
        return F.interpolate(x, scale_factor=factor, mode="nearest") if factor > 1 else x


class ProgressiveDiscriminator(_Growing):
    r"""images (B, channels, image_size, image_size) -> raw scores (B,), grown stage by stage (mirror of G).

    At stage s the input is average-pooled to ``resolutions[s]`` (the real images of that stage) and
    $$h = (1 - \alpha)\,\text{fromRGB}_{s-1}(d(x)) + \alpha\,\text{block}_s(\text{fromRGB}_s(x))$$
    then the lower blocks and the head at ``start`` x ``start``: minibatch standard deviation
    (:class:`MinibatchStd`), a 3x3 conv and a linear score. Equalised learning rate in every layer. At its
    last stage it is also StyleGAN's discriminator (Karras et al. 2019 keep PGGAN's D).

    Args:
        channels: image channels.
        image_size: final resolution.
        start: first resolution.
        width: channels of every block.
        minibatch_std: the minibatch-std feature map before the head (Sec. 3 of the paper).

    Reference:
        Karras et al. 2018, arXiv:1710.10196, Fig. 2 (b), Sec. 3 and Table 2.
    """

    def __init__(self, channels: int = 1, image_size: int = 32, start: int = 4, width: int = 32,
                 minibatch_std: bool = True):
        super().__init__()
        self.channels, self.image_size = checks.positive_int(channels, "channels"), image_size
        self.resolutions = _resolutions(image_size, start)
        checks.positive_int(width, "width")
        act = lambda: nn.LeakyReLU(0.2, True)
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(channels, width, 1), act())
                                       for _ in self.resolutions])
        self.blocks = nn.ModuleList([nn.Identity()])                     # block k: 2r -> r (k >= 1)
        for _ in self.resolutions[1:]:
            self.blocks.append(nn.Sequential(EqualizedConv2d(width, width, 3, 1), act(),
                                             EqualizedConv2d(width, width, 3, 1), act(), nn.AvgPool2d(2)))
        extra = int(minibatch_std)
        self.head = nn.Sequential(*([MinibatchStd()] if minibatch_std else []),
                                  EqualizedConv2d(width + extra, width, 3, 1), act(), nn.Flatten(),
                                  EqualizedLinear(width * start * start, 1))
        self.stage, self.alpha = self.num_stages - 1, 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_size(x, "x", self.channels, self.image_size)
        factor = self.image_size // self.resolution
        x = F.avg_pool2d(x, factor) if factor > 1 else x
        h = self.from_rgb[self.stage](x)
        if self.stage > 0:
            h = self.blocks[self.stage](h)
            if self.alpha < 1.0:                                         # fade the new resolution in
                old = self.from_rgb[self.stage - 1](F.avg_pool2d(x, 2))
                h = torch.lerp(old, h, self.alpha)
        for k in range(self.stage - 1, 0, -1):
            h = self.blocks[k](h)
        return self.head(h).reshape(-1)


# ----------------------------------------------------------------------------------------
# StyleGAN
# ----------------------------------------------------------------------------------------
def adain(x: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    r"""Adaptive instance normalisation: $\text{AdaIN}(x_i, y) = y_{s,i}\,\frac{x_i - \mu(x_i)}{\sigma(x_i)} + y_{b,i}$.

    Args:
        x: (B, C, H, W) feature maps.
        scale, bias: (B, C) the style y = (y_s, y_b).
        eps: added to the variance.

    Returns:
        (B, C, H, W): each map with mean y_b and standard deviation |y_s| (over H, W).

    Reference:
        Huang & Belongie, "Arbitrary Style Transfer in Real-time with AdaIN", ICCV 2017, Eq. (8);
        Karras et al. 2019, arXiv:1812.04948, Eq. (1).
    """
    checks.image_batch(x, "x")
    for name, t in (("scale", scale), ("bias", bias)):
        checks.ndim(t, name, 2, f"(B, C) = {tuple(x.shape[:2])}")
        if t.shape != x.shape[:2]:
            raise ValueError(f"{name} must have shape (B, C) = {tuple(x.shape[:2])}, got {tuple(t.shape)}")
    # (x - mu) / sqrt(var + eps) per map, biased variance: F.instance_norm (one fused op; written out as mean,
    # var, sub, mul, rsqrt it took about a quarter of the small StyleGAN generator's forward and backward on a CPU)
    return scale[:, :, None, None] * F.instance_norm(x, eps=eps) + bias[:, :, None, None]


class EqualizedLinear(nn.Module):
    r"""A linear layer with a run-time weight scale: $y = (c\,\lambda\,W) x + \lambda b$, $W \sim \mathcal N(0, 1/\lambda^2)$.

    ``c = gain/sqrt(in_features)`` is He's constant (gain sqrt(2) before a LeakyReLU) applied at run time
    (equalised learning rate); ``lr_mul``
    ($\lambda$) scales the effective learning rate of an Adam-trained layer by $\lambda$ (StyleGAN's mapping
    network uses 0.01).

    Reference:
        Karras et al. 2018, arXiv:1710.10196, Sec. 4.1; Karras et al. 2019, arXiv:1812.04948, Appendix C.
    """

    def __init__(self, in_features: int, out_features: int, lr_mul: float = 1.0, gain: float = 1.0):
        super().__init__()
        if not lr_mul > 0:
            raise ValueError(f"lr_mul must be > 0, got {lr_mul}")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.scale, self.lr_mul = gain * lr_mul / math.sqrt(in_features), lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class MappingNetwork(nn.Module):
    """z (B, latent_dim) -> w (B, w_dim): pixel norm, then an MLP with LeakyReLU (8 layers in the paper).

    The layers are :class:`EqualizedLinear` with ``lr_mul`` (0.01 in the paper: the mapping learns 100x slower).

    Reference:
        Karras et al. 2019, arXiv:1812.04948, Sec. 2, Fig. 1 (b) and Appendix C.
    """

    def __init__(self, latent_dim: int = 32, w_dim: int = 32, num_layers: int = 4, lr_mul: float = 0.01):
        super().__init__()
        self.latent_dim = checks.positive_int(latent_dim, "latent_dim")
        layers: list[nn.Module] = []
        d = latent_dim
        for _ in range(checks.positive_int(num_layers, "num_layers")):
            layers += [EqualizedLinear(d, w_dim, lr_mul, gain=math.sqrt(2)), nn.LeakyReLU(0.2, True)]
            d = w_dim
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        return self.net(PixelNorm()(z))                                # normalise z, then the MLP


class StyleLayer(nn.Module):
    """conv (optionally after a 2x upsampling) -> + per-channel scaled noise -> LeakyReLU -> AdaIN(w).

    The convolution has an equalised learning rate (:class:`EqualizedConv2d`), as every StyleGAN layer.

    ``conv=False`` skips the convolution (the first layer acts on the learned constant).
    The noise scales start at 0 (as in the paper); the affine map A of w starts at y_s = 1, y_b = 0.

    Reference:
        Karras et al. 2019, arXiv:1812.04948, Fig. 1 (b): "A" (learned affine) and "B" (noise scales).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, upsample: bool = False, conv: bool = True):
        super().__init__()
        self.upsample = upsample
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, 1) if conv else None   # equalised lr
        self.noise_scale = nn.Parameter(torch.zeros(out_channels))     # "B": per-channel scaling of the noise
        self.affine = EqualizedLinear(w_dim, 2 * out_channels)         # "A": w -> style (y_s, y_b), unit-variance init
        with torch.no_grad():
            self.affine.bias[:out_channels] = 1.0
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.conv is not None:
            x = self.conv(x)
        if noise is not None:
            x = x + self.noise_scale[None, :, None, None] * noise
        x = F.leaky_relu(x, 0.2)
        scale, bias = self.affine(w).chunk(2, dim=1)
        return adain(x, scale, bias)


class StyleGenerator(nn.Module):
    r"""A small StyleGAN: z -> w (mapping), constant 4x4 input, two style layers per resolution.

    $$w = f(z), \qquad y^{(\ell)} = A_\ell(w), \qquad x^{(\ell)} = \text{AdaIN}(\text{act}(\text{conv}(x^{(\ell-1)}) + B_\ell\,n_\ell),\ y^{(\ell)})$$

    Layer ℓ gets its own w (``ws[:, ℓ]``): coarse layers (4x4, 8x8) set pose and shape, fine ones
    (16x16, 32x32) texture and stroke. During training, with probability ``mixing_prob`` a sample's
    layers from a random crossover on use the w of a second z (mixing regularisation, Sec. 3.1).
    ``w_avg`` tracks the mean w (for :func:`course_lib.scaling.truncate_w`).

    Args:
        latent_dim, w_dim: sizes of z and w.
        channels, image_size: output images (B, channels, image_size, image_size) in [-1, 1].
        width: channels of every layer, or one count per resolution (4x4 first), as the paper's channels fall
            with the resolution (512 up to 32x32, then halving): the coarse layers are the cheap ones.
        mapping_layers: depth of the mapping MLP.
        mixing_prob: probability of style mixing per training sample.
        mapping_lr_mul: learning-rate multiplier of the mapping's layers (:class:`EqualizedLinear`); the paper's
            0.01 suits its 25 M training images, a short run may need the mapping to learn faster.

    Reference:
        Karras et al., "A Style-Based Generator Architecture for Generative Adversarial Networks",
        CVPR 2019, arXiv:1812.04948, Fig. 1 (b), Sec. 2-3.
    """

    def __init__(self, latent_dim: int = 32, w_dim: int = 32, channels: int = 1, image_size: int = 32,
                 width: int | Sequence[int] = 32, mapping_layers: int = 4, mixing_prob: float = 0.9,
                 mapping_lr_mul: float = 0.01):
        super().__init__()
        self.latent_dim, self.w_dim = checks.positive_int(latent_dim, "latent_dim"), checks.positive_int(w_dim, "w_dim")
        self.channels = checks.positive_int(channels, "channels")
        self.resolutions = _resolutions(image_size, 4)
        if not 0.0 <= mixing_prob <= 1.0:
            raise ValueError(f"mixing_prob must be in [0, 1], got {mixing_prob}")
        self.mixing_prob = mixing_prob
        self.mapping = MappingNetwork(latent_dim, w_dim, mapping_layers, lr_mul=mapping_lr_mul)
        widths = list(width) if isinstance(width, Sequence) else [width] * len(self.resolutions)
        if len(widths) != len(self.resolutions):
            raise ValueError(f"width must be one int or {len(self.resolutions)} ints (one per resolution "
                             f"{self.resolutions}), got {width!r}")
        for c in widths:
            checks.positive_int(c, "width")
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))     # the learned constant input
        self.layers = nn.ModuleList()
        for k, c in enumerate(widths):
            self.layers.append(StyleLayer(widths[max(k - 1, 0)], c, w_dim, upsample=k > 0, conv=k > 0))
            self.layers.append(StyleLayer(c, c, w_dim))
        self.to_rgb = EqualizedConv2d(widths[-1], channels, 1, gain=1.0)
        g = torch.Generator().manual_seed(0)
        for i, r in enumerate(self.layer_resolutions):                 # fixed noise for noise="const"
            self.register_buffer(f"noise_const_{i}", torch.randn(1, 1, r, r, generator=g))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @property
    def num_layers(self) -> int:
        """Number of style inputs (2 per resolution)."""
        return len(self.layers)

    @property
    def layer_resolutions(self) -> list[int]:
        """The resolution each style layer works at."""
        return [r for r in self.resolutions for _ in range(2)]

    def synthesis(self, ws: torch.Tensor, noise: str = "random") -> torch.Tensor:
        """Images from per-layer styles.

        Args:
            ws: (B, num_layers, w_dim) one w per layer (or (B, w_dim): the same w everywhere).
            noise: ``"random"`` (fresh noise), ``"const"`` (fixed per-layer noise) or ``"none"``.

        Returns:
            (B, channels, image_size, image_size) in [-1, 1].
        """
        checks.ndim(ws, "ws", (2, 3), f"(B, {self.num_layers}, {self.w_dim})")
        checks.one_of(noise, "noise", ("random", "const", "none"))
        if ws.ndim == 2:
            ws = ws[:, None].expand(-1, self.num_layers, -1)
        if ws.shape[1:] != (self.num_layers, self.w_dim):
            raise ValueError(f"ws must have shape (B, {self.num_layers}, {self.w_dim}), got {tuple(ws.shape)}")
        x = self.const.expand(len(ws), -1, -1, -1)
        for i, (layer, r) in enumerate(zip(self.layers, self.layer_resolutions)):
            if noise == "random":
                n = torch.randn(len(ws), 1, r, r, device=ws.device, dtype=ws.dtype)
            elif noise == "const":
                n = getattr(self, f"noise_const_{i}")
            else:
                n = None
            x = layer(x, ws[:, i], n)
        return torch.tanh(self.to_rgb(x))

    def forward(self, z: torch.Tensor, noise: str = "random") -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        w = self.mapping(z)
        ws = w[:, None].expand(-1, self.num_layers, -1)
        if self.training:
            with torch.no_grad():                                      # track the mean w (StyleGAN's dlatent_avg)
                self.w_avg.lerp_(w.detach().float().mean(0), 0.005)
            if self.mixing_prob > 0:                                   # mixing regularisation, Sec. 3.1
                w2 = self.mapping(torch.randn_like(z))
                cut = torch.randint(1, self.num_layers, (len(z), 1), device=z.device)
                cut = torch.where(torch.rand(len(z), 1, device=z.device) < self.mixing_prob, cut, self.num_layers)
                use_w1 = (torch.arange(self.num_layers, device=z.device)[None] < cut)[:, :, None]
                ws = torch.where(use_w1, ws, w2[:, None].expand(-1, self.num_layers, -1))
        return self.synthesis(ws, noise)
