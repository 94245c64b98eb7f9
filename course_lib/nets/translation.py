"""Networks specific to image-to-image translation (notebooks 15 and 16); the shared pix2pix blocks
(U-Net, ResNet generator, PatchGAN and ``PatchScores``) are in :mod:`course_lib.nets.image2image`.

* :class:`SPADE` -- spatially-adaptive (de)normalisation: a parameter-free batch norm whose
  scale and shift are *maps* predicted from the label map, so the semantic layout survives
  normalisation (Park et al. 2019, Eq. (1)).
* :class:`SPADEResBlock` and :class:`SPADEGenerator` -- a small SPADE generator: a
  downsampled label map at 4x4, then upsampling residual blocks, each modulated by the label
  map at its own resolution.
* :class:`CycleGenerator` / :class:`CycleDiscriminator` -- CycleGAN's two generators and two
  discriminators packed as *one* generator and *one* discriminator, so the shared adversarial
  engine (``course_lib.gan``) trains CycleGAN unchanged. A batch of the two domains is one
  6-channel tensor ``cat([a, b], 1)`` (:func:`pack`); the generator maps it to
  ``cat([G_BA(b), G_AB(a)], 1)`` (fake A first, fake B second, matching the real batch), and
  the discriminator scores the A half with D_A and the B half with D_B.

Networks know nothing of losses (cycle and identity terms live in ``course_lib.translation``).

References:
    Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019, arXiv:1903.07291.
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017, arXiv:1611.07004.
    Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks", ICCV 2017,
    arXiv:1703.10593.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks


class SPADE(nn.Module):
    r"""Spatially-adaptive normalisation of x (B, C, H, W) by a label map m (B, K, H', W').

    $$\text{SPADE}(h, m)_{c,y,x} = \gamma_{c,y,x}(m)\,\frac{h_{c,y,x} - \mu_c}{\sigma_c} + \beta_{c,y,x}(m)$$

    with $\mu_c, \sigma_c$ the batch statistics of channel c (a batch norm without affine
    parameters) and $\gamma, \beta$ predicted per pixel from the label map (resized to x's size
    by nearest neighbour, so it stays one-hot) by a shared conv + ReLU and two convs. As in the
    authors' code the scale is parameterised as $1 + \gamma$ (identity at initialisation).

    Args:
        channels: C, channels of the normalised activations.
        label_channels: K, channels of the label map (classes, one-hot).
        hidden: channels of the shared conv (128 in the paper).
        kernel_size: kernel of the three convs (3 in the paper; 1 makes the modulation per pixel).

    Reference:
        Park et al. 2019, arXiv:1903.07291, Eq. (1) and Fig. 2.
    """

    def __init__(self, channels: int, label_channels: int, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        for v, n in ((channels, "channels"), (label_channels, "label_channels"), (hidden, "hidden"),
                     (kernel_size, "kernel_size")):
            checks.positive_int(v, n)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd (same-size convolutions), got {kernel_size}")
        self.channels, self.label_channels = channels, label_channels
        p = kernel_size // 2
        self.norm = nn.BatchNorm2d(channels, affine=False)             # parameter-free
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel_size, padding=p), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, kernel_size, padding=p)
        self.beta = nn.Conv2d(hidden, channels, kernel_size, padding=p)

    def modulation(self, label_map: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(gamma, beta), each (B, C, *size): the per-pixel scale (without the 1 +) and shift."""
        m = F.interpolate(label_map, size=size, mode="nearest")
        h = self.shared(m)
        return self.gamma(h), self.beta(h)

    def forward(self, x: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x", channels=self.channels)
        checks.image_batch(label_map, "label_map", channels=self.label_channels)
        if len(label_map) != len(x):
            raise ValueError(f"label_map has {len(label_map)} rows but x has {len(x)}")
        gamma, beta = self.modulation(label_map, tuple(x.shape[-2:]))
        return self.norm(x) * (1 + gamma) + beta                    # Eq. (1)


class SPADEResBlock(nn.Module):
    """SPADE residual block: [SPADE, LeakyReLU, 3x3 conv] x 2 plus a (learned, if C changes) shortcut.

    Reference:
        Park et al. 2019, arXiv:1903.07291, Fig. 10 (spectral norm left out at this scale).
    """

    def __init__(self, in_channels: int, out_channels: int, label_channels: int, hidden: int = 64):
        super().__init__()
        mid = min(in_channels, out_channels)
        self.norm1 = SPADE(in_channels, label_channels, hidden)
        self.conv1 = nn.Conv2d(in_channels, mid, 3, padding=1)
        self.norm2 = SPADE(mid, label_channels, hidden)
        self.conv2 = nn.Conv2d(mid, out_channels, 3, padding=1)
        self.learned_shortcut = in_channels != out_channels
        if self.learned_shortcut:
            self.norm_s = SPADE(in_channels, label_channels, hidden)
            self.conv_s = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor, label_map: torch.Tensor) -> torch.Tensor:
        s = self.conv_s(self.norm_s(x, label_map)) if self.learned_shortcut else x
        h = self.conv1(F.leaky_relu(self.norm1(x, label_map), 0.2))
        h = self.conv2(F.leaky_relu(self.norm2(h, label_map), 0.2))
        return s + h


class SPADEGenerator(nn.Module):
    """A small SPADE generator: label map (B, K, H, W) one-hot -> image (B, out_channels, H, W) in [-1, 1].

    It starts from the label map downsampled to 4x4 (the paper's variant without an image
    encoder feeds a downsampled label map, like pix2pixHD, instead of z), then
    ``log2(H / 4)`` times: a SPADE residual block and 2x nearest upsampling; a last SPADE block,
    LeakyReLU, 3x3 conv and tanh. Every block sees the label map at its own resolution -- the
    layout is injected at every scale instead of only at the input.

    Args:
        label_channels: K classes.
        out_channels: image channels.
        image_size: H = W, a power of two >= 8.
        width: channels at 4x4 (halved per upsampling, at least ``width // 4``).
        hidden: channels of each SPADE's shared conv.

    Reference:
        Park et al. 2019, arXiv:1903.07291, Sec. 3 and Fig. 4 (no VAE encoder, no spectral norm).
    """

    def __init__(self, label_channels: int, out_channels: int = 3, image_size: int = 32, width: int = 128,
                 hidden: int = 64):
        super().__init__()
        for v, n in ((label_channels, "label_channels"), (out_channels, "out_channels"), (width, "width"),
                     (hidden, "hidden")):
            checks.positive_int(v, n)
        if not (isinstance(image_size, int) and image_size >= 8 and image_size & (image_size - 1) == 0):
            raise ValueError(f"image_size must be a power of two >= 8, got {image_size!r}")
        self.label_channels, self.image_size = label_channels, image_size
        n_up = int(math.log2(image_size)) - 2
        self.head = nn.Conv2d(label_channels, width, 3, padding=1)     # from the 4x4 label map
        widths = [max(width // 2 ** i, max(width // 4, 1)) for i in range(n_up + 1)]
        self.blocks = nn.ModuleList(SPADEResBlock(widths[i], widths[i + 1], label_channels, hidden)
                                    for i in range(n_up))
        self.final = SPADEResBlock(widths[-1], widths[-1], label_channels, hidden)
        self.out = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    def forward(self, label_map: torch.Tensor) -> torch.Tensor:
        checks.image_batch(label_map, "label_map", channels=self.label_channels)
        if tuple(label_map.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"SPADEGenerator was built for {self.image_size}x{self.image_size} label maps, got "
                             f"{tuple(label_map.shape[-2:])}")
        h = self.head(F.interpolate(label_map, size=(4, 4), mode="nearest"))   # (B, width, 4, 4)
        for block in self.blocks:
            h = F.interpolate(block(h, label_map), scale_factor=2, mode="nearest")   # 4 -> 8 -> ... -> H
        h = self.final(h, label_map)
        return torch.tanh(self.out(F.leaky_relu(h, 0.2)))


def pack(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Two same-shaped batches of domains A and B (B, C, H, W) -> one (B, 2C, H, W) tensor, A first."""
    checks.image_batch(a, "a")
    checks.image_batch(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape (B, C, H, W), got {tuple(a.shape)} and {tuple(b.shape)}")
    return torch.cat([a, b], 1)


def unpack(x: torch.Tensor, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of :func:`pack`: (B, 2C, H, W) -> (a, b), each (B, C, H, W)."""
    checks.image_batch(x, "x", channels=2 * channels)
    return x[:, :channels], x[:, channels:]


class CycleGenerator(nn.Module):
    """CycleGAN's two mappings as one module: ``cat([a, b], 1)`` -> ``cat([G_BA(b), G_AB(a)], 1)``.

    The output has the layout of the input -- domain A channels first -- so fake A images sit where
    real A images sit and one :class:`CycleDiscriminator` scores both.

    Args:
        g_ab: generator A -> B, (B, C, H, W) -> (B, C, H, W) in [-1, 1].
        g_ba: generator B -> A.
        channels: C, channels of one domain's images.
    """

    def __init__(self, g_ab: nn.Module, g_ba: nn.Module, channels: int = 3):
        super().__init__()
        self.g_ab, self.g_ba, self.channels = g_ab, g_ba, checks.positive_int(channels, "channels")

    def forward(self, ab: torch.Tensor) -> torch.Tensor:
        a, b = unpack(ab, self.channels)
        return torch.cat([self.g_ba(b), self.g_ab(a)], 1)       # (fake A, fake B)


class CycleDiscriminator(nn.Module):
    """CycleGAN's two discriminators as one module: ``cat([x_a, x_b], 1)`` -> scores of D_A and D_B, concatenated.

    Returns the flattened patch scores ``cat([D_A(x_a).flatten(), D_B(x_b).flatten()])``; the engine's
    loss averages over them, i.e. the sum of the two discriminators' losses (halved), Zhu et al. Eq. (1) for each.

    Args:
        d_a: discriminator of domain A images; d_b: of domain B images.
        channels: C, channels of one domain's images.
    """

    def __init__(self, d_a: nn.Module, d_b: nn.Module, channels: int = 3):
        super().__init__()
        self.d_a, self.d_b, self.channels = d_a, d_b, checks.positive_int(channels, "channels")

    def forward(self, ab: torch.Tensor) -> torch.Tensor:
        a, b = unpack(ab, self.channels)
        return torch.cat([self.d_a(a).reshape(-1), self.d_b(b).reshape(-1)])
