"""The DCGAN generator and discriminator (Radford, Metz & Chintala 2016), as code.

The paper's architecture guidelines, each visible below:

1. no pooling: strided convolutions in D, fractionally strided (transposed) convolutions in G;
2. batch norm in both networks (not on G's output layer nor D's input layer);
3. no fully connected hidden layers: z is reshaped to (B, latent_dim, 1, 1) and the last D
   layer is a convolution over the whole 4x4 (or 7x7) map;
4. ReLU in G except Tanh at the output (images in [-1, 1]);
5. LeakyReLU (slope 0.2) in D;
6. weights from N(0, 0.02) (:func:`init_weights`); Adam with lr = 2e-4 and beta1 = 0.5 (``ADAM``).

Image sizes 28 (start 7x7), 32 and 64 (start 4x4) are supported; the width doubles at each
downsampling of D and halves at each upsampling of G.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import checks

ADAM = {"lr": 2e-4, "betas": (0.5, 0.999)}  # guideline 6
SIZES = (28, 32, 64)


def _plan(image_size: int) -> tuple[int, int]:
    """(start resolution, number of x2 up/down-samplings) for an image size."""
    if image_size not in SIZES:
        raise ValueError(f"image_size must be one of {SIZES}, got {image_size!r}")
    base = 7 if image_size == 28 else 4
    return base, round(math.log2(image_size // base))


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, channels, image_size, image_size) in [-1, 1].

    Args:
        latent_dim: size of z.
        channels: image channels (1 gray, 3 RGB).
        image_size: 28, 32 or 64.
        width: channels of the last hidden layer (the first has width * 2**(n_up - 1)).

    Reference:
        Radford et al., "Unsupervised Representation Learning with Deep Convolutional GANs",
        ICLR 2016, arXiv:1511.06434, Fig. 1.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 1, image_size: int = 32, width: int = 64):
        super().__init__()
        checks.positive_int(latent_dim, "latent_dim")
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        base, n_up = _plan(image_size)
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        c = width * 2 ** (n_up - 1)
        layers: list[nn.Module] = [  # (B, latent_dim, 1, 1) -> (B, c, base, base): a conv, not a linear layer
            nn.ConvTranspose2d(latent_dim, c, base, 1, 0, bias=False), nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(n_up - 1):    # each block doubles the resolution: base -> 2 base -> ...
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1, bias=False), nn.Tanh()]  # no BN at the output
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

    Reference:
        Radford et al. 2016, Sec. 3; Miyato et al., "Spectral Normalization for GANs", ICLR 2018.
    """

    def __init__(self, channels: int = 1, image_size: int = 32, width: int = 64, batch_norm: bool = True,
                 spectral_norm: bool = False):
        super().__init__()
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        base, n_down = _plan(image_size)
        self.channels, self.image_size = channels, image_size
        c = width
        layers: list[nn.Module] = [nn.Conv2d(channels, c, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]  # no BN at input
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(c, c * 2, 4, 2, 1, bias=False)]
            layers += [nn.BatchNorm2d(c * 2)] if batch_norm else []
            layers += [nn.LeakyReLU(0.2, True)]
            c *= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 1, base, 1, 0, bias=False)  # a conv over the whole base x base map
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


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights ~ N(0, 0.02), batch-norm scale ~ N(1, 0.02), bias 0 (2-D and 3-D layers)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.ConvTranspose3d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm3d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
