"""Networks of face aging (CAAE and AE//GAN, notebook 19); they know nothing of losses.

The encoder, the conditional generator and the image discriminator are the DCGAN variants of
:mod:`course_lib.nets.dcgan` (shared with notebook 18's IcGAN); this module holds what is CAAE's own:
the latent discriminator D_z and the wrappers that present E, G and the two discriminators to the
adversarial engine. Images are (B, C, S, S) in [-1, 1] with S in {32, 64}; age labels are one-hot (B, A)::

    caae = aging.CAAE(dcgan.Encoder(50, bound=True), dcgan.AttributeGenerator(50, 4))
    D = aging.CAAEDiscriminator(dcgan.AttributeDiscriminator(4), aging.LatentDiscriminator(50))
"""

from __future__ import annotations

import torch
from torch import nn

from .. import checks


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
        encoder: E, x -> z in [-1, 1] (a :class:`course_lib.nets.dcgan.Encoder` with ``bound=True``).
        generator: G(z, l) (a :class:`course_lib.nets.dcgan.AttributeGenerator` with ``attr_dim`` = number of
            age groups).

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
