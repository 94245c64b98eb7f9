"""The DCGAN generator and discriminator (Radford, Metz & Chintala 2016), as code.

The paper's architecture guidelines, each visible below:

1. no pooling: strided convolutions in D, fractionally strided (transposed) convolutions in G;
2. batch norm in both networks (not on G's output layer nor D's input layer);
3. no fully connected hidden layers: z is reshaped to (B, latent_dim, 1, 1) and the last D
   layer is a convolution over the whole 4x4 (or 7x7) map;
4. ReLU in G except Tanh at the output (images in [-1, 1]);
5. LeakyReLU (slope 0.2) in D;
6. weights from N(0, 0.02) (:func:`init_weights`); Adam with lr = 2e-4 and beta1 = 0.5 (``ADAM``).

Image sizes 28, 32 and 64 are supported. 32 and 64 start from 4x4: 4 -> 8 -> 16 -> 32 (-> 64). 28 px has two
plans, chosen by ``start``: ``start=7`` (the default) 7 -> 14 -> 28, two upsamplings in G and two convolutions in
D, cheap; ``start=4`` 4 -> 7 -> 14 -> 28 like the other sizes, the odd step (4 -> 7 in G, 7 -> 4 in D) with a
3x3 kernel instead of 4x4 (same stride 2, padding 1). The deeper plan is far better at the same width and steps
(measured 2026-12-06 on the course MNIST DCGAN, 2,000 steps, width 32: FID / floor 3.9 vs 10.8, recognisable
0.74 vs 0.63) and costs about 1.5x per step: the course DCGAN (``gan.mnist_dcgan``) uses it; notebooks that
train many GANs side by side (07, 08) keep the cheap one. The width doubles at each downsampling of D and
halves at each upsampling of G.

Conditional variants and an encoder on the same plan, shared by attribute editing (IcGAN, notebook 18)
and face aging (CAAE, notebook 19, whose own modules are in :mod:`course_lib.nets.aging`). Attributes /
age labels are float vectors (B, A) (one-hot groups, e.g. skin tone + gender)::

    G = dcgan.AttributeGenerator(latent_dim=64, attr_dim=9)   # G(z, y): y at the input (IcGAN, CAAE)
    D = dcgan.AttributeDiscriminator(attr_dim=9)               # D(x, y): y after the first conv
    E = dcgan.Encoder(64)                                      # x -> (B, 64): IcGAN's E_z / E_y, CAAE's E
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .. import checks

ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}  # guideline 6
SIZES = (28, 32, 64)


def _plan(image_size: int, start: int | None = None) -> list[int]:
    """The resolutions from G's first feature map to ``image_size``: 32 -> [4, 8, 16, 32]; 28 -> [7, 14, 28]
    (``start`` None or 7) or [4, 7, 14, 28] (``start=4``)."""
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES}, got {image_size!r}")
    allowed = (7, 4) if image_size == 28 else (4,)
    start = allowed[0] if start is None else start
    if start not in allowed:
        raise ValueError(f"start must be one of {allowed} for {image_size} px images, got {start!r}")
    sides = [image_size]
    while sides[-1] > start:
        sides.append((sides[-1] + 1) // 2)
    return sides[::-1]


def _kernel(small: int, large: int) -> int:
    """Kernel of the stride-2, padding-1 (transposed) convolution between sides ``small`` and ``large``:
    4 when large = 2 small, 3 when large = 2 small - 1 (the 4 <-> 7 step of 28 px)."""
    return 4 if large == 2 * small else 3


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, image_size, image_size) in [-1, 1].

    Args:
        latent_dim: size of z.
        channels: image channels (1 gray, 3 RGB).
        image_size: 28, 32 or 64.
        width: channels of the last hidden layer (the first has width * 2**(n_up - 1)).
        start: side of the first feature map; 28 px only: 7 (default, two upsamplings) or 4 (three).

    Reference:
        Radford et al., "Unsupervised Representation Learning with Deep Convolutional GANs",
        ICLR 2016, arXiv:1511.06434, Fig. 1.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 32, width: int = 64,
                 start: int | None = None):
        super().__init__()
        checks.positive_int(latent_dim, "latent_dim")
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        sides = _plan(image_size, start)
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        c = width * 2 ** (len(sides) - 2)
        layers: list[nn.Module] = [  # (B, latent_dim, 1, 1) -> (B, c, start, start): a conv, not a linear layer
            nn.ConvTranspose2d(latent_dim, c, sides[0], 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for h, big in itertools.pairwise(sides[:-1]):    # each block doubles the resolution: 4 -> 8 -> ...
            layers += [nn.ConvTranspose2d(c, c // 2, _kernel(h, big), 2, 1, bias=False), nn.BatchNorm2d(c // 2),
                       nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, _kernel(sides[-2], sides[-1]), 2, 1, bias=False),
                   nn.Tanh()]  # no BN at the output
        self.net = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", (2, 4), f"(B, {self.latent_dim})")
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1))


class Discriminator(nn.Module):
    """images (B, channels, image_size, image_size) in [-1, 1] -> one raw score per image (B,).

    Args:
        channels: image channels.
        image_size: 28, 32 or 64.
        width: channels of the first layer (doubled at each downsampling).
        batch_norm: batch norm after every conv but the first (guideline 2). Turn it off for
            WGAN-GP, whose penalty is per sample (Gulrajani et al. 2017 use layer norm or none).
        spectral_norm: divide every conv weight by its largest singular value (Miyato et al. 2018),
            the usual partner of the hinge loss; combine with ``batch_norm=False``.
        start: side of the last feature map (G's first); 28 px only: 7 (default, two convolutions) or 4 (three).

    Reference:
        Radford et al. 2016, Sec. 3; Miyato et al., "Spectral Normalization for GANs", ICLR 2018.
    """

    def __init__(self, channels: int = 1, image_size: int = 32, width: int = 64, batch_norm: bool = True,
                 spectral_norm: bool = False, start: int | None = None):
        super().__init__()
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        sides = _plan(image_size, start)[::-1]         # image_size -> ... -> start
        self.channels, self.image_size = channels, image_size
        c = width
        layers: list[nn.Module] = [nn.Conv2d(channels, c, _kernel(sides[1], sides[0]), 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, True)]  # no BN at the input
        for big, h in itertools.pairwise(sides[1:]):
            layers += [nn.Conv2d(c, c * 2, _kernel(h, big), 2, 1, bias=False)]
            layers += [nn.BatchNorm2d(c * 2)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2, True)]
            c *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 1, sides[-1], 1, 0, bias=False)  # a conv over the whole last map
        init_weights(self)
        if spectral_norm:
            for m in [*self.features, self.head]:
                if isinstance(m, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x", channels=self.channels)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            raise ValueError(f"x must be {self.image_size}x{self.image_size} images, got {tuple(x.shape)}")
        return self.head(self.features(x)).reshape(x.shape[0])


# --------------------------------------------------------------------------------------
# Conditional variants and an encoder (IcGAN, notebook 18; CAAE, notebook 19)
# --------------------------------------------------------------------------------------
def _check_images(x: torch.Tensor, channels: int, size: int, who: str) -> None:
    checks.image_batch(x, "x", channels=channels)
    if tuple(x.shape[-2:]) != (size, size):
        raise ValueError(f"{who} expects {size}x{size} images in [-1, 1], got shape {tuple(x.shape)}")


def _check_attrs(y: torch.Tensor, attr_dim: int, batch: int) -> None:
    checks.ndim(y, "y", 2, f"(B, {attr_dim}) float attribute vector")
    if y.shape[1] != attr_dim or len(y) != batch:
        raise ValueError(f"y must be (B={batch}, {attr_dim}) attribute vectors, got shape {tuple(y.shape)}")
    checks.floating(y, "y")


class AttributeGenerator(nn.Module):
    """G(z, y): the attribute vector is concatenated to z at the input of a DCGAN generator.

    Args:
        latent_dim: size of z.
        attr_dim: size of the attribute vector y (e.g. one-hot skin tone + one-hot gender).
        channels: image channels.
        image_size: 32 or 64.
        width: DCGAN width (channels of the last hidden layer).
        label_repeat: repeat y this many times before concatenating (CAAE duplicates the age label so it
            is not drowned by the many z dimensions).

    Shapes:
        z (B, latent_dim), y (B, attr_dim) -> x (B, channels, image_size, image_size) in [-1, 1].

    Reference:
        Perarnau et al., "Invertible Conditional GANs for image editing", arXiv:1611.06355, Sec. 3.1 and
        Sec. 4.2 (y at the input of G works best); Zhang, Song & Qi, "Age Progression/Regression by
        Conditional Adversarial Autoencoder", CVPR 2017, arXiv:1702.08423, Sec. 3.3 (G(z, l)).
    """

    def __init__(self, latent_dim: int = 64, attr_dim: int = 9, channels: int = 3, image_size: int = 32,
                 width: int = 32, label_repeat: int = 1):
        super().__init__()
        self.latent_dim = checks.positive_int(latent_dim, "latent_dim")
        self.attr_dim = checks.positive_int(attr_dim, "attr_dim")
        self.label_repeat = checks.positive_int(label_repeat, "label_repeat")
        self.channels, self.image_size = channels, image_size
        self.net = Generator(latent_dim + attr_dim * label_repeat, channels, image_size, width)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got shape {tuple(z.shape)}")
        _check_attrs(y, self.attr_dim, len(z))
        return self.net(torch.cat([z, y.to(z).repeat(1, self.label_repeat)], 1))


class AttributeDiscriminator(nn.Module):
    """D(x, y): y is broadcast to constant maps and concatenated to the features after the first conv.

    32 -> 16 (conv, LReLU; concat y maps) -> 8 -> 4 (conv, BN, LReLU) -> score (conv over 4x4).

    Args:
        attr_dim: size of y.
        channels: image channels.
        image_size: 32 or 64.
        width: channels of the first conv (doubled at each downsampling).

    Shapes:
        x (B, channels, S, S) in [-1, 1], y (B, attr_dim) -> raw scores (B,).

    Reference:
        Perarnau et al. 2016, arXiv:1611.06355, Sec. 4.2 (y in the first layer of D is best);
        Zhang et al. 2017 (CAAE), Fig. 3: D_img gets the age label after its first conv layer.
    """

    def __init__(self, attr_dim: int = 9, channels: int = 3, image_size: int = 32, width: int = 32):
        super().__init__()
        self.attr_dim = checks.positive_int(attr_dim, "attr_dim")
        self.channels, self.image_size = channels, image_size
        sides = _plan(image_size)[::-1]
        self.first = nn.Sequential(nn.Conv2d(channels, width, _kernel(sides[1], sides[0]), 2, 1),
                                   nn.LeakyReLU(0.2, True))                                  # S -> S/2
        layers: list[nn.Module] = []
        c_in, c = width + attr_dim, width
        for big, h in itertools.pairwise(sides[1:]):                                           # S/2 -> 4 (or 7)
            layers += [nn.Conv2d(c_in, 2 * c, _kernel(h, big), 2, 1, bias=False), nn.BatchNorm2d(2 * c),
                       nn.LeakyReLU(0.2, True)]
            c_in = c = 2 * c
        self.rest = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 1, sides[-1], 1, 0)
        init_weights(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.channels, self.image_size, "AttributeDiscriminator")
        _check_attrs(y, self.attr_dim, len(x))
        h = self.first(x)
        maps = y.to(h)[:, :, None, None].expand(-1, -1, *h.shape[-2:])
        return self.head(self.rest(torch.cat([h, maps], 1))).reshape(len(x))


class Encoder(nn.Module):
    """x -> a vector: strided convs down to 4x4 (3 for S=32, 4 for 64), a linear layer (IcGAN E_z / E_y, CAAE E).

    Args:
        out_dim: output size (latent_dim for E_z, attribute logits for E_y).
        channels: image channels.
        image_size: 32 or 64.
        width: channels of the first conv (doubled at each downsampling).
        bound: squash the output with Tanh into [-1, 1] (CAAE's encoder: z has a uniform prior).

    Shapes:
        x (B, channels, S, S) in [-1, 1] -> (B, out_dim).

    Reference:
        Perarnau et al. 2016, Sec. 3.2 (encoders E_z, E_y); Zhang et al. 2017, Fig. 3 (E with Tanh output).
    """

    def __init__(self, out_dim: int, channels: int = 3, image_size: int = 32, width: int = 32, bound: bool = False):
        super().__init__()
        self.out_dim = checks.positive_int(out_dim, "out_dim")
        self.channels, self.image_size = channels, image_size
        sides = _plan(image_size)[::-1]
        layers: list[nn.Module] = [nn.Conv2d(channels, width, _kernel(sides[1], sides[0]), 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for big, h in itertools.pairwise(sides[1:]):
            layers += [nn.Conv2d(c, 2 * c, _kernel(h, big), 2, 1, bias=False), nn.BatchNorm2d(2 * c),
                       nn.LeakyReLU(0.2, True)]
            c *= 2
        self.features = nn.Sequential(*layers, nn.Flatten())                 # (B, c * side * side)
        self.head = nn.Linear(c * sides[-1] ** 2, out_dim)
        self.bound = bound
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.channels, self.image_size, "Encoder")
        out = self.head(self.features(x))
        return torch.tanh(out) if self.bound else out


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), bias 0 (2-D and 3-D layers)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
