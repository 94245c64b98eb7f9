"""Super-resolution networks (notebooks 11 and 12).

* :class:`SRResNet` -- SRGAN's generator: a 9x9 head, ``n_blocks`` residual blocks
  (conv-BN-PReLU-conv-BN + skip), a long skip over the blocks, and ``log2(scale)`` sub-pixel
  upsampling stages (conv to 4C channels, ``PixelShuffle(2)``, PReLU), then a 9x9 conv to RGB.
  Trained with MSE it is the paper's "SRResNet"; as the generator of a GAN it is "SRGAN".
* :func:`pixel_shuffle` -- the sub-pixel rearrangement (B, C r^2, H, W) -> (B, C, rH, rW)
  written with reshape/permute, equal to ``torch.nn.PixelShuffle`` (tested).
* :func:`icnr_` and :class:`HoldFilter` -- the two remedies for the sub-pixel layer's checkerboard: an
  initialisation that starts as nearest-neighbour upsampling, and a fixed blur that has no response
  at the period-2 frequency (``SRResNet(..., icnr=True, hold=True)``).
* :class:`SRDiscriminator` -- SRGAN's discriminator: 8 conv layers k3n64s1, k3n64s2, k3n128s1,
  k3n128s2, k3n256s1, k3n256s2, k3n512s1, k3n512s2 (BN after all but the first, LeakyReLU 0.2),
  then dense 1024, LeakyReLU, dense 1. The dense layer is sized for ``image_size`` (96 in the paper).
* :class:`TextureTransferNet` -- a small SRNTT texture-transfer network: the LR image is encoded
  by residual blocks, upsampled x2 and fused with the *swapped reference features* (stride 2),
  upsampled x2 again and fused with the swapped reference pixels (stride 1).

Networks know nothing of losses. Images are (B, 3, H, W) in [0, 1]; the generators' outputs stay in
[0, 1] (the range the feature networks expect): ``(tanh + 1) / 2`` by default, a residual on the bicubic
upsampling clamped to [0, 1] for ``SRResNet(residual=True)`` and :class:`TextureTransferNet`.

References:
    Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a Generative Adversarial Network",
    CVPR 2017, arXiv:1609.04802, Fig. 4.
    Shi et al., "Real-Time Single Image and Video Super-Resolution Using an Efficient Sub-Pixel CNN", CVPR 2016,
    arXiv:1609.05158 (sub-pixel convolution).
    Zhang, Wang, Lin & Qi, "Image Super-Resolution by Neural Texture Transfer" (SRNTT), CVPR 2019,
    arXiv:1903.00834, Fig. 3.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks, images


def _check_scale(scale: int) -> int:
    checks.positive_int(scale, "scale")
    if scale & (scale - 1):
        raise ValueError(f"scale must be a power of 2 (x2 sub-pixel stages), got {scale}")
    return scale


def pixel_shuffle(x: torch.Tensor, r: int) -> torch.Tensor:
    """Sub-pixel rearrangement: (B, C r^2, H, W) -> (B, C, H r, W r), as ``torch.nn.PixelShuffle(r)``.

    Output pixel (c, h r + i, w r + j) is input channel c r^2 + i r + j at (h, w): a stride-1/r
    convolution done as a stride-1 convolution with r^2 times the channels plus this reshuffle.

    Reference:
        Shi et al. 2016, arXiv:1609.05158, Eq. (4) (the periodic shuffling operator PS).
    """
    checks.ndim(x, "x", 4, "(B, C*r*r, H, W)")
    checks.positive_int(r, "r")
    b, c, h, w = x.shape
    if c % (r * r):
        raise ValueError(f"pixel_shuffle needs channels divisible by r^2 = {r * r}, got {c}")
    x = x.reshape(b, c // (r * r), r, r, h, w)          # (B, C, i, j, H, W)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(b, c // (r * r), h * r, w * r)   # (B, C, H, i, W, j)


class ResidualBlock(nn.Module):
    """SRResNet block: conv3-BN-PReLU-conv3-BN plus the identity (Ledig et al. Fig. 4, "B residual blocks")."""

    def __init__(self, width: int, norm: bool = True):
        super().__init__()
        bn = (lambda: nn.BatchNorm2d(width)) if norm else nn.Identity
        self.body = nn.Sequential(nn.Conv2d(width, width, 3, padding=1), bn(), nn.PReLU(width),
                                  nn.Conv2d(width, width, 3, padding=1), bn())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def icnr_(conv: nn.Conv2d, r: int = 2) -> nn.Conv2d:
    """ICNR initialisation of the conv before ``PixelShuffle(r)``: the r^2 sub-kernels of each output channel equal.

    The conv then computes ``r^2`` copies of one (Kaiming-initialised) C-channel convolution, so conv +
    pixel shuffle starts as that convolution followed by nearest-neighbour upsampling: no checkerboard at
    initialisation (training may still let the sub-kernels drift apart; :class:`HoldFilter` prevents that).

    Args:
        conv: a ``nn.Conv2d`` with ``out_channels`` divisible by ``r^2`` (modified in place).
        r: the shuffle factor.

    Returns:
        ``conv``.

    Reference:
        Aitken et al., "Checkerboard artifact free sub-pixel convolution", arXiv:1707.02937, Sec. 3.
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"icnr_ needs an nn.Conv2d, got {type(conv).__name__}")
    checks.positive_int(r, "r")
    if conv.out_channels % (r * r):
        raise ValueError(f"icnr_ needs out_channels divisible by r^2 = {r * r}, got {conv.out_channels}")
    c = conv.out_channels // (r * r)
    base = nn.Conv2d(conv.in_channels, c, conv.kernel_size, bias=conv.bias is not None)   # default (Kaiming) init
    with torch.no_grad():
        conv.weight.copy_(base.weight.to(conv.weight).repeat_interleave(r * r, dim=0))   # channel c r^2 + k <- c
        if conv.bias is not None:
            conv.bias.copy_(base.bias.to(conv.bias).repeat_interleave(r * r))
    return conv


class HoldFilter(nn.Module):
    """Fixed depthwise blur [1, 2, 1] x [1, 2, 1] / 16 after a x2 pixel shuffle (replicate padding).

    A x2 sub-pixel layer whose four sub-kernels differ turns a flat input into a period-2 pattern
    (checkerboard): energy at the frequency 1/2 cycle per pixel. [1, 2, 1] / 4 (the zero-order hold
    [1, 1] / 2 applied twice, centred) has zero response there, so the layer can no longer produce
    that pattern, whatever its weights learn; constant inputs give constant outputs.

    Reference:
        Sugawara, Shiota & Kiya, "Super-resolution using convolutional neural networks without any
        checkerboard artifacts", ICIP 2018, and "Checkerboard artifacts free convolutional neural networks",
        APSIPA Trans. Signal Inf. Process. 8, 2019 (a fixed hold kernel after the sub-pixel convolution).
    """

    def __init__(self):
        super().__init__()
        k = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("kernel", (k[:, None] * k[None, :] / 16).view(1, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), self.kernel.to(x.dtype).expand(c, 1, 3, 3),
                        groups=c)


class Upsample2x(nn.Module):
    """conv3 to 4C channels, pixel shuffle x2, PReLU (one sub-pixel stage of SRResNet).

    Args:
        width: channels C.
        icnr: initialise the conv with :func:`icnr_` (starts as conv + nearest-neighbour upsampling).
        hold: blur with :class:`HoldFilter` after the shuffle (no period-2 pattern can be learned).
    """

    def __init__(self, width: int, icnr: bool = False, hold: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(width, 4 * width, 3, padding=1)
        if icnr:
            icnr_(self.conv, 2)
        self.shuffle = nn.PixelShuffle(2)
        self.hold = HoldFilter() if hold else nn.Identity()
        self.act = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.hold(self.shuffle(self.conv(x))))     # (B, C, H, W) -> (B, C, 2H, 2W)


class SRResNet(nn.Module):
    """SRGAN's generator: (B, 3, h, w) LR in [0, 1] -> (B, 3, h s, w s) in [0, 1].

    Args:
        n_blocks: residual blocks B (16 in the paper).
        width: channels (64 in the paper).
        scale: upscaling factor, a power of 2 (4 in the paper: two x2 sub-pixel stages).
        channels: image channels.
        norm: batch norm in the residual blocks (the paper's; EDSR later dropped it).
        residual: predict a correction of the bicubic upsampling, ``clamp(bicubic(lr) + tail, 0, 1)``, with the
            last conv initialised to zero so training starts at the bicubic result (global residual
            learning of VDSR, Kim et al. 2016; the paper's SRResNet ends in ``tanh`` instead). Converges in
            far fewer steps, which short CPU runs need.
        icnr: ICNR initialisation of the sub-pixel convs (:func:`icnr_`; Aitken et al. 2017).
        hold: a fixed :class:`HoldFilter` after each pixel shuffle, so no stage can produce a checkerboard
            (Sugawara et al. 2018); the paper has neither (its outputs can show grid patterns).

    Reference:
        Ledig et al. 2017, arXiv:1609.04802, Fig. 4 (generator) and Sec. 2.2; Kim, Lee & Lee, "Accurate Image
        Super-Resolution Using Very Deep Convolutional Networks" (VDSR), CVPR 2016 (global residual).
    """

    def __init__(self, n_blocks: int = 16, width: int = 64, scale: int = 4, channels: int = 3, norm: bool = True,
                 residual: bool = False, icnr: bool = False, hold: bool = False):
        super().__init__()
        checks.positive_int(n_blocks, "n_blocks")
        checks.positive_int(width, "width")
        checks.positive_int(channels, "channels")
        self.scale, self.channels = _check_scale(scale), channels
        self.head = nn.Sequential(nn.Conv2d(channels, width, 9, padding=4), nn.PReLU(width))  # k9n64s1
        self.blocks = nn.Sequential(*[ResidualBlock(width, norm) for _ in range(n_blocks)])
        self.post = nn.Sequential(nn.Conv2d(width, width, 3, padding=1),
                                  nn.BatchNorm2d(width) if norm else nn.Identity())
        self.up = nn.Sequential(*[Upsample2x(width, icnr, hold) for _ in range(int(math.log2(scale)))])
        self.tail = nn.Conv2d(width, channels, 9, padding=4)                                   # k9n3s1
        self.residual = bool(residual)
        if self.residual:                               # start exactly at the bicubic upsampling
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        checks.image_batch(lr, "lr")
        if lr.shape[1] != self.channels:
            raise ValueError(f"SRResNet expects {self.channels}-channel LR images (B, {self.channels}, h, w), "
                             f"got shape {tuple(lr.shape)}")
        h = self.head(lr)
        h = h + self.post(self.blocks(h))               # long skip over the residual blocks
        out = self.tail(self.up(h))                     # (B, 3, h s, w s)
        if self.residual:
            base = F.interpolate(lr, scale_factor=self.scale, mode="bicubic", align_corners=False)
            return (base + out).clamp(0, 1)
        return images.to_unit(torch.tanh(out))          # in [0, 1]


class SRDiscriminator(nn.Module):
    """SRGAN's discriminator: (B, 3, H, W) in [0, 1] -> (B, 1) raw logits.

    Eight 3x3 conv layers with widths w, w, 2w, 2w, 4w, 4w, 8w, 8w (w = 64 in the paper) and
    strides 1, 2, 1, 2, ...; BatchNorm after all but the first; LeakyReLU(0.2); then dense(1024),
    LeakyReLU, dense(1) (the sigmoid lives in the loss).

    Args:
        image_size: side of the (square) HR patches it will see, divisible by 16 (96 in the paper).
        width: w.
        hidden: units of the first dense layer (1024).
        channels: image channels.

    Reference:
        Ledig et al. 2017, arXiv:1609.04802, Fig. 4 (discriminator).
    """

    def __init__(self, image_size: int = 96, width: int = 64, hidden: int = 1024, channels: int = 3):
        super().__init__()
        for v, n in ((image_size, "image_size"), (width, "width"), (hidden, "hidden"), (channels, "channels")):
            checks.positive_int(v, n)
        if image_size % 16:
            raise ValueError(f"SRDiscriminator needs image_size divisible by 16 (four stride-2 convs), got {image_size}")
        self.image_size = image_size
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(8):
            c_out = width * 2 ** (i // 2)               # 64, 64, 128, 128, 256, 256, 512, 512
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=1 + i % 2, padding=1))
            if i > 0:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
            c_in = c_out
        self.features = nn.Sequential(*layers)          # (B, 8w, H/16, W/16)
        side = image_size // 16
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, hidden), nn.LeakyReLU(0.2),
                                        nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x")
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"SRDiscriminator was built for {self.image_size}x{self.image_size} patches, got "
                             f"{tuple(x.shape[-2:])}; build it with image_size={x.shape[-1]}")
        return self.classifier(self.features(x))


class TextureTransferNet(nn.Module):
    """A small SRNTT texture-transfer network (x4), conditioned on swapped reference textures.

    The LR image is encoded at LR resolution by residual blocks; a x2 sub-pixel stage brings it to
    the grid of the swapped *features* (stride 2 of the HR image), where they are concatenated and
    fused by a residual block; a second x2 stage reaches HR resolution, where the swapped reference
    *pixels* (and the bicubic pre-SR image) are concatenated and fused. The output is the pre-SR
    image plus a learned residual, in [0, 1] (SRNTT conditions at three VGG scales; two here).
    The weight map S enters both fusions as an extra channel, so the network can learn to ignore
    swapped content where the reference matched badly (SRNTT uses S in its texture loss only; a
    small network trained for minutes needs the hint in the forward pass too).

    With ``zero_reference=True`` the weights that read the reference inputs (swapped features, swapped
    pixels, weight map) start at zero: the network then starts as a single-image SR network that ignores
    the reference, and a copy of a network trained *without* a reference (all three inputs zero, so
    those weights get no gradient and stay zero) starts exactly at that baseline.

    Args:
        feat_channels: channels of the swapped feature map (e.g. 16 for EfficientNet ``block1``).
        width: channels of the trunk.
        n_blocks: residual blocks at LR resolution.
        channels: image channels.
        zero_reference: zero-initialise the weights on the reference inputs (see above).
        icnr: ICNR initialisation of the two sub-pixel stages (:func:`icnr_`).

    Forward args:
        lr: (B, 3, h, w) LR image in [0, 1].
        swapped_features: (B, feat_channels, 2h, 2w) swapped reference features M.
        swapped_pixels: (B, 3, 4h, 4w) swapped reference pixels in [0, 1].
        pre_sr: (B, 3, 4h, 4w) pre-SR image in [0, 1] (bicubic), the base the residual is added to.
        weight: (B, 1, 2h, 2w) weight map S (best similarity per position).

    Reference:
        Zhang et al. 2019, arXiv:1903.00834, Sec. 3.2 and Fig. 3 (texture transfer).
    """

    def __init__(self, feat_channels: int, width: int = 32, n_blocks: int = 4, channels: int = 3,
                 zero_reference: bool = False, icnr: bool = False):
        super().__init__()
        for v, n in ((feat_channels, "feat_channels"), (width, "width"), (n_blocks, "n_blocks"),
                     (channels, "channels")):
            checks.positive_int(v, n)
        self.feat_channels, self.channels = feat_channels, channels
        self.head = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU())
        self.blocks = nn.Sequential(*[ResidualBlock(width, norm=False) for _ in range(n_blocks)])
        self.up1 = Upsample2x(width, icnr=icnr)
        # input channels: trunk (width) | swapped features (feat_channels) | weight map (1)
        self.fuse1 = nn.Sequential(nn.Conv2d(width + feat_channels + 1, width, 3, padding=1), nn.ReLU(),
                                   ResidualBlock(width, norm=False))
        self.up2 = Upsample2x(width, icnr=icnr)
        # input channels: trunk (width) | swapped pixels (channels) | pre-SR (channels) | weight map (1)
        self.fuse2 = nn.Sequential(nn.Conv2d(width + 2 * channels + 1, width, 3, padding=1), nn.ReLU(),
                                   ResidualBlock(width, norm=False))
        self.tail = nn.Conv2d(width, channels, 3, padding=1)
        if zero_reference:
            with torch.no_grad():
                self.fuse1[0].weight[:, width:].zero_()                          # swapped features, weight map
                self.fuse2[0].weight[:, width:width + channels].zero_()          # swapped pixels
                self.fuse2[0].weight[:, width + 2 * channels:].zero_()           # weight map

    def forward(self, lr: torch.Tensor, swapped_features: torch.Tensor, swapped_pixels: torch.Tensor,
                pre_sr: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        checks.image_batch(lr, "lr", channels=self.channels)
        b, _, h, w = lr.shape
        want = {"swapped_features": (swapped_features, (b, self.feat_channels, 2 * h, 2 * w)),
                "swapped_pixels": (swapped_pixels, (b, self.channels, 4 * h, 4 * w)),
                "pre_sr": (pre_sr, (b, self.channels, 4 * h, 4 * w)), "weight": (weight, (b, 1, 2 * h, 2 * w))}
        for name, (t, shape) in want.items():
            checks.ndim(t, name, 4, "(B, C, H, W)")
            if tuple(t.shape) != shape:
                raise ValueError(f"{name} must have shape {shape} for LR input {tuple(lr.shape)}, got {tuple(t.shape)}")
        f = self.head(lr)
        f = f + self.blocks(f)                                                  # (B, W, h, w)
        f = self.fuse1(torch.cat([self.up1(f), swapped_features, weight], 1))   # (B, W, 2h, 2w)
        w_hr = F.interpolate(weight, scale_factor=2, mode="nearest")
        f = self.fuse2(torch.cat([self.up2(f), swapped_pixels, pre_sr, w_hr], 1))   # (B, W, 4h, 4w)
        return (pre_sr + self.tail(f)).clamp(0, 1)
