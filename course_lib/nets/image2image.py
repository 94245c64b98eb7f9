"""Image-to-image networks shared by the application notebooks (13-16, 18, 19).

* :class:`UNet` -- pix2pix's generator: an encoder-decoder whose decoder layer i sees the
  encoder layer n-i through a skip connection (``skips=False`` gives the plain encoder-decoder
  of the paper's ablation). Dropout in the innermost decoder layers is the paper's only noise.
* :class:`ResNetGenerator` -- Johnson et al.'s transformer net as used by CycleGAN and
  DeblurGAN: c7s1-w, two stride-2 downsamplings, ``n_blocks`` residual blocks, two
  upsamplings, c7s1-out; ``global_skip=True`` adds the input to the output (DeblurGAN learns
  the residual ``I_S - I_B``).
* :class:`PatchDiscriminator` -- the PatchGAN: a fully convolutional D whose every output
  scores one patch of the input; the patch size is the receptive field, selected by
  ``n_layers`` (0: 1x1 "PixelGAN", 1: 16x16, 3: 70x70 as in pix2pix) or ``global_pool`` for
  one score per image ("ImageGAN"). ``receptive_field(D)`` computes it from the layers;
  :class:`PatchScores` flattens its (B, 1, h, w) score map to (B * h * w,) so the engine's losses
  (one score per row) average over patches, as pix2pix's D loss does.

Networks know nothing of losses; conditional use ``D(x, c)`` concatenates ``c`` to ``x`` on
the channel axis (pix2pix's D sees the input and the output).

References:
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017, arXiv:1611.07004.
    Johnson et al., "Perceptual Losses for Real-Time Style Transfer and Super-Resolution", ECCV 2016, arXiv:1603.08155.
    Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks", ICCV 2017,
    arXiv:1703.10593.
    Kupyn et al., "DeblurGAN", CVPR 2018, arXiv:1711.07064.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import checks

NORMS = ("batch", "instance", "none")


def _norm(kind: str, channels: int) -> nn.Module:
    checks.one_of(kind, "norm", NORMS)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    return nn.Identity()


def _check_input(x: torch.Tensor, channels: int, multiple: int, who: str) -> None:
    checks.image_batch(x, "x")
    if x.shape[1] != channels:
        raise ValueError(f"{who} expects {channels}-channel input (B, {channels}, H, W), got shape {tuple(x.shape)}")
    if x.shape[-1] % multiple or x.shape[-2] % multiple:
        raise ValueError(f"{who} needs H and W divisible by {multiple}, got {tuple(x.shape[-2:])}")


class UNet(nn.Module):
    """pix2pix U-Net: (B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1].

    Args:
        in_channels, out_channels: channels of input and output.
        depth: number of stride-2 downsamplings (H and W must be divisible by 2**depth; pix2pix uses
            8 for 256x256 so that the bottleneck is 1x1; use log2(size) for the same here).
        width: channels after the first layer (doubled per level up to ``max_width``).
        max_width: channel cap (512 in the paper).
        dropout: dropout rate in the innermost ``min(3, depth - 1)`` decoder layers (0.5 in the paper; it
            is the generator's noise, kept at test time by the paper, together with batch statistics:
            ``course_lib.translation.translate_pix2pix`` tests the network that way).
        skips: skip connections (False: the paper's encoder-decoder ablation).
        norm: ``"batch"`` (paper), ``"instance"`` or ``"none"``.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, depth: int = 5, width: int = 64,
                 max_width: int = 512, dropout: float = 0.5, skips: bool = True, norm: str = "batch"):
        super().__init__()
        for v, n in ((in_channels, "in_channels"), (out_channels, "out_channels"), (depth, "depth"),
                     (width, "width"), (max_width, "max_width")):
            checks.positive_int(v, n)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels, self.depth, self.skips = in_channels, depth, skips
        widths = [min(width * 2 ** i, max_width) for i in range(depth)]
        self.down = nn.ModuleList()
        c = in_channels
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(c, w, 4, 2, 1, bias=norm != "batch" or i == 0 or i == depth - 1))
            if 0 < i < depth - 1:                       # no norm on the first layer nor at the 1x1 bottleneck
                layers.append(_norm(norm, w))
            self.down.append(nn.Sequential(*layers))
            c = w
        self.up = nn.ModuleList()
        n_drop = min(3, depth - 1)
        for i in reversed(range(depth)):                # i: the level the decoder layer returns to
            w_in = widths[i] * (2 if (skips and i < depth - 1) else 1)
            w_out = out_channels if i == 0 else widths[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(w_in, w_out, 4, 2, 1, bias=i == 0 or norm != "batch")]
            if i > 0:
                layers.append(_norm(norm, w_out))
                if dropout > 0 and (depth - 1 - i) < n_drop:
                    layers.append(nn.Dropout(dropout))
            else:
                layers.append(nn.Tanh())
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 2 ** self.depth, "UNet")
        feats = []
        h = x
        for layer in self.down:
            h = layer(h)
            feats.append(h)
        h = feats.pop()
        for j, layer in enumerate(self.up):
            if j > 0 and self.skips:
                h = torch.cat([h, feats.pop()], 1)
            h = layer(h)
        return h


class ResidualBlock(nn.Module):
    """x + conv-norm-ReLU-conv-norm(x) with reflection padding (Johnson et al. 2016)."""

    def __init__(self, channels: int, norm: str = "instance", dropout: float = 0.0):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(norm, channels), nn.ReLU(),
            *([nn.Dropout(dropout)] if dropout > 0 else []),
            nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), _norm(norm, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNetGenerator(nn.Module):
    """CycleGAN / DeblurGAN generator: (B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1].

    Args:
        in_channels, out_channels: channels of input and output.
        width: channels of the first layer (64 in the papers); 2x and 4x after the downsamplings.
        n_blocks: residual blocks at 1/4 resolution (6 for 128x128, 9 for 256x256 in CycleGAN).
        n_down: stride-2 downsamplings (2 in the papers).
        norm: ``"instance"`` (papers) or ``"batch"`` / ``"none"``.
        global_skip: add the input to the output and clamp to [-1, 1] (DeblurGAN's residual learning;
            needs in_channels == out_channels).
        dropout: dropout inside the residual blocks (DeblurGAN uses 0.5).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, width: int = 64, n_blocks: int = 6,
                 n_down: int = 2, norm: str = "instance", global_skip: bool = False, dropout: float = 0.0):
        super().__init__()
        for v, n in ((in_channels, "in_channels"), (out_channels, "out_channels"), (width, "width"),
                     (n_blocks, "n_blocks"), (n_down, "n_down")):
            checks.positive_int(v, n)
        if global_skip and in_channels != out_channels:
            raise ValueError(f"global_skip needs in_channels == out_channels, got {in_channels} and {out_channels}")
        self.in_channels, self.n_down, self.global_skip = in_channels, n_down, global_skip
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_channels, width, 7), _norm(norm, width),
                                   nn.ReLU()]
        c = width
        for _ in range(n_down):
            layers += [nn.Conv2d(c, 2 * c, 3, 2, 1), _norm(norm, 2 * c), nn.ReLU()]
            c *= 2
        layers += [ResidualBlock(c, norm, dropout) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(c, c // 2, 3, 2, 1, output_padding=1), _norm(norm, c // 2), nn.ReLU()]
            c //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(c, out_channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 2 ** self.n_down, "ResNetGenerator")
        out = self.net(x)
        return (out + x).clamp(-1, 1) if self.global_skip else out


class PatchDiscriminator(nn.Module):
    """PatchGAN: (B, channels, H, W) [, condition (B, cond_channels, H, W)] -> scores (B, 1, h, w) (raw logits).

    Each output scores one ``receptive_field(D) x receptive_field(D)`` patch; the GAN loss averages
    over them. ``n_layers=0`` is the 1x1 PixelGAN (1x1 convolutions), ``n_layers=1`` the 16x16 and
    ``n_layers=3`` the 70x70 PatchGAN of pix2pix (4x4 convolutions: n_layers stride-2 layers, then
    one stride-1 layer and the stride-1 output layer). ``global_pool=True`` builds the full-image
    discriminator ("ImageGAN"): stride-2 layers down to 4x4 and a 4x4 convolution, one score per
    image that sees every pixel; it needs ``image_size``.

    Args:
        channels: channels of x.
        cond_channels: channels of the condition concatenated to x (0: unconditional, ``D(x)``).
        n_layers: 0, 1, 2, 3, ... (see above).
        width: channels of the first layer (64 in pix2pix), doubled per layer up to 8x.
        norm: ``"batch"`` (pix2pix), ``"instance"`` (CycleGAN) or ``"none"``.
        image_size: with ``global_pool=True``, the input size (a power of two >= 8).
        global_pool: one score per image (the full-image discriminator).
    """

    def __init__(self, channels: int = 3, cond_channels: int = 0, n_layers: int = 3, width: int = 64,
                 norm: str = "batch", image_size: int | None = None, global_pool: bool = False):
        super().__init__()
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        if not (isinstance(n_layers, int) and n_layers >= 0):
            raise ValueError(f"n_layers must be an int >= 0, got {n_layers!r}")
        if not (isinstance(cond_channels, int) and cond_channels >= 0):
            raise ValueError(f"cond_channels must be an int >= 0, got {cond_channels!r}")
        self.channels, self.cond_channels = channels, cond_channels
        c_in = channels + cond_channels
        layers: list[nn.Module] = []
        if global_pool:
            if image_size is None or image_size < 8 or image_size & (image_size - 1):
                raise ValueError(f"global_pool needs image_size, a power of two >= 8, got {image_size!r}")
            n_down = int(math.log2(image_size)) - 2         # down to 4x4, then a 4x4 conv covers the image
            c = c_in
            for i in range(n_down):
                w = min(width * 2 ** i, 8 * width)
                layers += [nn.Conv2d(c, w, 4, 2, 1), *([_norm(norm, w)] if i > 0 else []), nn.LeakyReLU(0.2)]
                c = w
            layers.append(nn.Conv2d(c, 1, 4, 1, 0))
            self.image_size = image_size
        elif n_layers == 0:
            layers = [nn.Conv2d(c_in, width, 1), nn.LeakyReLU(0.2), nn.Conv2d(width, 2 * width, 1),
                      _norm(norm, 2 * width), nn.LeakyReLU(0.2), nn.Conv2d(2 * width, 1, 1)]
            self.image_size = None
        else:
            layers = [nn.Conv2d(c_in, width, 4, 2, 1), nn.LeakyReLU(0.2)]
            c = width
            for i in range(1, n_layers):
                w = min(width * 2 ** i, 8 * width)
                layers += [nn.Conv2d(c, w, 4, 2, 1), _norm(norm, w), nn.LeakyReLU(0.2)]
                c = w
            w = min(width * 2 ** n_layers, 8 * width)
            layers += [nn.Conv2d(c, w, 4, 1, 1), _norm(norm, w), nn.LeakyReLU(0.2), nn.Conv2d(w, 1, 4, 1, 1)]
            self.image_size = None
        self.global_pool = global_pool
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        checks.image_batch(x, "x", channels=self.channels)
        if self.cond_channels:
            if c is None:
                raise ValueError(f"this PatchDiscriminator is conditional: call D(x, c) with c of "
                                 f"{self.cond_channels} channels")
            checks.image_batch(c, "c", channels=self.cond_channels)
            if c.shape[-2:] != x.shape[-2:] or len(c) != len(x):
                raise ValueError(f"condition c {tuple(c.shape)} must match x {tuple(x.shape)} in batch and size")
            x = torch.cat([x, c], 1)
        elif c is not None:
            raise ValueError("this PatchDiscriminator is unconditional (cond_channels=0): call D(x)")
        if self.global_pool and tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"the full-image discriminator was built for {self.image_size}x{self.image_size} "
                             f"inputs, got {tuple(x.shape[-2:])}")
        return self.net(x)


class PatchScores(nn.Module):
    """Wrap a PatchGAN so that its (B, 1, h, w) score map comes out as (B * h * w,) per-patch scores.

    The engine's losses take one score per row; flattening the patches makes the loss the
    average over all patches of all images, which is pix2pix's PatchGAN objective ("we run this
    discriminator convolutionally across the image, averaging all responses", Isola et al. 2017, Sec. 3.2.2).

    Args:
        discriminator: a network returning (B, 1, h, w) (or (B, 1)) scores, called with the same arguments.
    """

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor, *cond: torch.Tensor) -> torch.Tensor:
        return self.discriminator(x, *cond).reshape(-1)


def receptive_field(module: nn.Module) -> int:
    """Receptive field (pixels per side) of one output of a chain of convolutions.

    Walks the ``nn.Conv2d`` layers of ``module`` in order (pointwise layers do not change it):
    ``r <- r + (k - 1) * j`` and ``j <- j * s`` with jump ``j`` the product of earlier strides.
    """
    r, j = 1, 1
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("module has no Conv2d layer")
    for m in convs:
        k, s, d = m.kernel_size[0], m.stride[0], m.dilation[0]
        r += (k - 1) * d * j
        j *= s
    return r
