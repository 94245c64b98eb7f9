"""Networks for attribute editing (IcGAN, notebook 18) and face aging (CAAE, notebook 19).

They know nothing of losses. Images are (B, C, S, S) in [-1, 1] with S in {32, 64} (Tanh generators);
attributes / age labels are float vectors (B, A) (one-hot groups, e.g. skin tone + gender)::

    G = editing.AttributeGenerator(latent_dim=64, attr_dim=9)        # G(z, y): y at the input (IcGAN)
    D = editing.AttributeDiscriminator(attr_dim=9)                    # D(x, y): y after the first conv
    E_z = editing.Encoder(64)                                         # x -> z   (trained on G's pairs)
    E_y = editing.Encoder(9)                                          # x -> attribute logits (real data)
    caae = editing.CAAE(editing.Encoder(50, bound=True), editing.AttributeGenerator(50, 4))
    D = editing.CAAEDiscriminator(editing.AttributeDiscriminator(4), editing.LatentDiscriminator(50))
"""

from __future__ import annotations

import torch
from torch import nn

from .. import checks
from . import dcgan


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
        self.net = dcgan.Generator(latent_dim + attr_dim * label_repeat, channels, image_size, width)

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
        base, n_down = dcgan._plan(image_size)
        self.first = nn.Sequential(nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True))  # S -> S/2
        layers: list[nn.Module] = []
        c_in, c = width + attr_dim, width
        for _ in range(n_down - 1):                                                          # S/2 -> base
            layers += [nn.Conv2d(c_in, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2, True)]
            c_in = c = 2 * c
        self.rest = nn.Sequential(*layers)
        self.head = nn.Conv2d(c, 1, base, 1, 0)
        dcgan.init_weights(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.channels, self.image_size, "AttributeDiscriminator")
        _check_attrs(y, self.attr_dim, len(x))
        h = self.first(x)
        maps = y.to(h)[:, :, None, None].expand(-1, -1, *h.shape[-2:])
        return self.head(self.rest(torch.cat([h, maps], 1))).reshape(len(x))


class Encoder(nn.Module):
    """x -> a vector: three strided convs (S -> S/8) and a linear layer (IcGAN's E_z / E_y, CAAE's E).

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
        base, n_down = dcgan._plan(image_size)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        c = width
        for _ in range(n_down - 1):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2, True)]
            c *= 2
        self.features = nn.Sequential(*layers, nn.Flatten())                 # (B, c * base * base)
        self.head = nn.Linear(c * base * base, out_dim)
        self.bound = bound
        dcgan.init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x, self.channels, self.image_size, "Encoder")
        out = self.head(self.features(x))
        return torch.tanh(out) if self.bound else out


class LatentDiscriminator(nn.Module):
    """D_z: z (B, latent_dim) -> raw score (B,): real for prior samples z* ~ U[-1, 1], fake for E(x).

    Reference:
        Zhang et al. 2017 (CAAE), Sec. 3.2 and Fig. 3 (fully connected 64-32-16-1, BN + ReLU).
    """

    def __init__(self, latent_dim: int = 50, hidden: tuple[int, ...] = (64, 32, 16)):
        super().__init__()
        self.latent_dim = checks.positive_int(latent_dim, "latent_dim")
        layers: list[nn.Module] = []
        d = latent_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.BatchNorm1d(h), nn.ReLU(True)]
            d = h
        self.net = nn.Sequential(*layers, nn.Linear(d, 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got shape {tuple(z.shape)}")
        return self.net(z).reshape(len(z))


class CAAE(nn.Module):
    """The CAAE "generator" for the adversarial engine: x, l -> G(E(x), l), remembering z = E(x).

    The engine calls the generator once per step; ``last_z`` keeps that call's code (with its graph) so
    that the prior-matching terms (D_z) can use it without encoding the batch again.

    Args:
        encoder: E, x -> z in [-1, 1] (an :class:`Encoder` with ``bound=True``).
        generator: G(z, l) (an :class:`AttributeGenerator` with ``attr_dim`` = number of age groups).

    Shapes:
        x (B, C, S, S) in [-1, 1], l (B, n_ages) one-hot -> (B, C, S, S) in [-1, 1].

    Reference:
        Zhang, Song & Qi 2017, arXiv:1702.08423, Fig. 3 and Eq. (5).
    """

    def __init__(self, encoder: nn.Module, generator: nn.Module):
        super().__init__()
        self.encoder, self.generator = encoder, generator
        self.last_z: torch.Tensor | None = None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def decode(self, z: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
        return self.generator(z, l)

    def forward(self, x: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        self.last_z = z
        return self.generator(z, l)


class DecoupledCAAE(CAAE):
    """AE//GAN: the output is an autoencoder image plus an adversarial residual, on separate gradient paths.

    ``x_out = G_ae(z, l) + s * G_adv(z, l)``. The reconstruction loss is put on G_ae's image alone (kept as
    ``last_ae``) and trains E and G_ae; the adversarial loss sees ``x_out`` but its gradient reaches only the
    residual path G_adv (G_ae's image and z enter it as constants). No weight between the two losses is
    needed: each network has one loss.

    Args:
        encoder: E.
        generator: G_ae(z, l) (Tanh output).
        residual: G_adv(z, l) producing the residual (its Tanh output is scaled by ``residual_scale``).
        residual_scale: bound of the residual (images live in [-1, 1]).

    Reference:
        Zhang, Song & Qi, "Decoupled Learning for Conditional Adversarial Networks", WACV 2018,
        arXiv:1801.06790, Sec. 3 (Fig. 2: the AE//GAN structure).
    """

    def __init__(self, encoder: nn.Module, generator: nn.Module, residual: nn.Module, residual_scale: float = 0.2):
        super().__init__(encoder, generator)
        self.residual = residual
        self.residual_scale = float(residual_scale)
        self.last_ae: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        self.last_z = z
        x_ae = self.generator(z, l)
        self.last_ae = x_ae
        r = self.residual_scale * self.residual(z.detach(), l)
        # adversarial gradients reach only the residual path: G_ae's image enters as a constant
        return (x_ae.detach() + r).clamp(-1, 1)


class CAAEDiscriminator(nn.Module):
    """Both CAAE discriminators in one module (one optimiser): D_img(x, l) scores; D_z kept as ``.d_z``.

    The engine sees only D_img's scores; D_z's loss enters as a discriminator term
    (:func:`course_lib.aging.prior_d_term`).
    """

    def __init__(self, d_img: nn.Module, d_z: nn.Module):
        super().__init__()
        self.d_img, self.d_z = d_img, d_z

    def forward(self, x: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
        return self.d_img(x, l)
