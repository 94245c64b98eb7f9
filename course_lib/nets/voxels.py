"""The 3D-GAN generator and discriminator (Wu et al. 2016) and a small voxel classifier.

3D-GAN is DCGAN with one more spatial dimension: z in R^200 is reshaped to (B, 200, 1, 1, 1)
and grown by 3-D transposed convolutions (kernel 4, stride 2) into a voxel grid of occupancy
probabilities; the discriminator mirrors it with strided 3-D convolutions::

    G: z (200) -> 512 x 4^3 -> 256 x 8^3 -> 128 x 16^3 -> 64 x 32^3 -> 1 x 64^3   (paper, Sec. 3.1)
    D: 1 x 64^3 -> 64 x 32^3 -> 128 x 16^3 -> 256 x 8^3 -> 512 x 4^3 -> score

Batch norm and ReLU between G's layers, a sigmoid at its output (occupancies in [0, 1]);
batch norm and LeakyReLU(0.2) in D, which returns raw logits (the loss adds the sigmoid).
Grids of side 16, 32 and 64 are supported (start 4^3, then one x2 up/down-sampling per layer);
``width`` is the channel count of G's last hidden layer, doubled towards the latent (64 in the paper).

Reference:
    Wu, Zhang, Xue, Freeman & Tenenbaum, "Learning a Probabilistic Latent Space of Object Shapes via
    3D Generative-Adversarial Modeling", NeurIPS 2016, arXiv:1610.07584, Sec. 3.1 and Fig. 1.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .. import checks
from . import dcgan

SIZES = (16, 32, 64)
LATENT_DIM = 200                                   # paper, Sec. 3.1
PAPER = {"lr_g": 0.0025, "lr_d": 1e-5, "betas": (0.5, 0.999), "batch_size": 100, "d_acc_max": 0.8}  # Sec. 3.1


def num_layers(size: int) -> int:
    """x2 up-samplings from the 4^3 start to a grid of side ``size`` (16 -> 2, 32 -> 3, 64 -> 4)."""
    if size not in SIZES:
        raise ValueError(f"voxel grid size must be one of {SIZES}, got {size!r}")
    return round(math.log2(size // 4))


def convt3d_out(side: int, kernel: int, stride: int, padding: int) -> int:
    """Side of a ConvTranspose3d output: ``(side - 1) * stride - 2 * padding + kernel``.

    Reference:
        Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", arXiv:1603.07285,
        relationship 14 (applied per axis).
    """
    return (side - 1) * stride - 2 * padding + kernel


def _check_voxels(x: torch.Tensor, size: int) -> torch.Tensor:
    checks.ndim(x, "voxels", 5, f"(B, 1, {size}, {size}, {size})")
    if tuple(x.shape[1:]) != (1, size, size, size):
        raise ValueError(f"voxels must be (B, 1, {size}, {size}, {size}), got {tuple(x.shape)}")
    return x


class Generator(nn.Module):
    """z (B, latent_dim) -> occupancy probabilities (B, 1, size, size, size) in [0, 1].

    Args:
        latent_dim: size of z (200 in the paper).
        size: grid side, 16, 32 or 64.
        width: channels of the last hidden layer (64 in the paper; the first has width * 2**(n - 1)).
        init_occupancy: the output layer's bias starts at logit(init_occupancy), so a fresh G fills
            about this fraction of the grid. 0.5 (bias 0) is the paper's network; the data's mean
            occupancy (~0.08) saves the first few hundred steps of un-filling a half-full grid.

    Reference:
        Wu et al. 2016, arXiv:1610.07584, Sec. 3.1 / Fig. 1.
    """

    def __init__(self, latent_dim: int = LATENT_DIM, size: int = 64, width: int = 64, init_occupancy: float = 0.5):
        super().__init__()
        checks.positive_int(latent_dim, "latent_dim")
        checks.positive_int(width, "width")
        if not 0 < init_occupancy < 1:
            raise ValueError(f"init_occupancy must be in (0, 1), got {init_occupancy}")
        n = num_layers(size)
        self.latent_dim, self.size = latent_dim, size
        c = width * 2 ** (n - 1)
        layers: list[nn.Module] = [   # (B, latent_dim, 1, 1, 1) -> (B, c, 4, 4, 4)
            nn.ConvTranspose3d(latent_dim, c, 4, 1, 0, bias=False), nn.BatchNorm3d(c), nn.ReLU(True)]
        for _ in range(n - 1):        # each layer doubles the side: 4 -> 8 -> ...
            layers += [nn.ConvTranspose3d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm3d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose3d(c, 1, 4, 2, 1), nn.Sigmoid()]   # occupancy in [0, 1]
        self.net = nn.Sequential(*layers)
        init_weights(self)
        nn.init.constant_(self.net[-2].bias, math.log(init_occupancy / (1 - init_occupancy)))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", (2, 5), f"(B, {self.latent_dim})")
        return self.net(z.reshape(z.shape[0], self.latent_dim, 1, 1, 1))


class Discriminator(nn.Module):
    """voxels (B, 1, size, size, size) in [0, 1] -> one raw score (logit) per shape (B,).

    Args:
        size: grid side, 16, 32 or 64.
        width: channels of the first layer (doubled at each down-sampling; 64 in the paper).
        batch_norm: batch norm after every convolution but the first.

    Reference:
        Wu et al. 2016, arXiv:1610.07584, Sec. 3.1 ("a mirrored version of the generator").
    """

    def __init__(self, size: int = 64, width: int = 64, batch_norm: bool = True):
        super().__init__()
        checks.positive_int(width, "width")
        n = num_layers(size)
        self.size = size
        self.features = _encoder(n, width, batch_norm)
        self.head = nn.Conv3d(width * 2 ** (n - 1), 1, 4, 1, 0, bias=False)   # over the whole 4^3 map
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_voxels(x, self.size)
        return self.head(self.features(x)).reshape(x.shape[0])


class Classifier(nn.Module):
    """voxels (B, 1, size, size, size) -> class logits (B, num_classes): the D body with a class head.

    Used to measure which shape class a generated sample looks like (class coverage). Larger grids
    whose side is a multiple of ``size`` are average-pooled down to ``size`` first (a 16^3 classifier
    tells the procedural classes apart at a fraction of the cost of a 32^3 or 64^3 one).

    Args:
        num_classes: number of shape classes.
        size: grid side the network works at, 16, 32 or 64.
        width: channels of the first layer.
    """

    def __init__(self, num_classes: int, size: int = 32, width: int = 8):
        super().__init__()
        checks.positive_int(num_classes, "num_classes")
        checks.positive_int(width, "width")
        n = num_layers(size)
        self.size, self.num_classes = size, num_classes
        self.features = _encoder(n, width, True)
        self.head = nn.Linear(width * 2 ** (n - 1), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.ndim(x, "voxels", 5, f"(B, 1, {self.size}k, {self.size}k, {self.size}k)")
        side = x.shape[-1]
        if side > self.size and side % self.size == 0 and x.shape[-3:] == (side, side, side):
            x = nn.functional.avg_pool3d(x, side // self.size)   # e.g. 32^3 -> 16^3
        _check_voxels(x, self.size)
        return self.head(self.features(x).mean((2, 3, 4)))   # global average pool over the 4^3 map


def _encoder(n: int, width: int, batch_norm: bool) -> nn.Sequential:
    """n strided 3-D convolutions (side / 2 each) with LeakyReLU(0.2); no batch norm on the input layer."""
    c = width
    layers: list[nn.Module] = [nn.Conv3d(1, c, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for _ in range(n - 1):
        layers += [nn.Conv3d(c, c * 2, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm3d(c * 2)] if batch_norm else []
        layers += [nn.LeakyReLU(0.2, True)]
        c *= 2
    return nn.Sequential(*layers)


init_weights = dcgan.init_weights  # the same DCGAN initialisation (it covers 3-D layers)
