"""Variational autoencoders: encoders/decoders, the (conditional) VAE, and the VQ-VAE quantiser.

The networks return distribution parameters (``mu``, ``logvar``, decoder logits) and know
nothing of losses; the ELBO, KL and importance-weighted bounds live in
:mod:`course_lib.likelihood`. Images are ``(B, C, H, W)`` in [0, 1]; decoders return Bernoulli
logits of the same shape.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw ``z = mu + sigma * eps`` with ``eps ~ N(0, I)``: a sample that gradients flow through.

    Args:
        mu, logvar: (B, D) mean and log-variance of q(z|x).
        generator: optional seeded CPU generator for eps.

    Returns:
        (B, D) sample z.

    Reference:
        Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114, Sec. 2.4.
    """
    checks.floating(mu, "mu")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    eps = torch.randn(mu.shape, generator=generator).to(mu) if generator is not None else torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


def _one_hot(y: torch.Tensor | None, num_classes: int | None, batch: int) -> torch.Tensor | None:
    if num_classes is None:
        if y is not None:
            raise ValueError("this network is unconditional (num_classes=None) but got labels y")
        return None
    if y is None:
        raise ValueError("this network is conditional (a CVAE): pass labels y (B,)")
    checks.ndim(y, "y", 1, "(B,)")
    if len(y) != batch:
        raise ValueError(f"y must have one label per example ({batch}), got {len(y)}")
    return F.one_hot(y.long(), num_classes).float()


class MLPEncoder(nn.Module):
    """q(z | x [, y]): flatten -> MLP -> (mu, logvar).

    Args:
        in_shape: ``(C, H, W)`` of the images.
        hidden: hidden units (two layers).
        latent_dim: D of z.
        num_classes: if given, the one-hot label is concatenated to the input (CVAE).

    Shapes:
        ``forward(x (B, C, H, W), y (B,) | None) -> (mu (B, D), logvar (B, D))``.
    """

    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), hidden: int = 512, latent_dim: int = 2,
                 num_classes: int | None = None):
        super().__init__()
        self.in_shape, self.num_classes = tuple(in_shape), num_classes
        d_in = math.prod(in_shape) + (num_classes or 0)
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        self.mu = nn.Linear(hidden, checks.positive_int(latent_dim, "latent_dim"))
        self.logvar = nn.Linear(hidden, latent_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        checks.image_batch(x, "x")
        if tuple(x.shape[1:]) != self.in_shape:
            raise ValueError(f"x must be (B, {', '.join(map(str, self.in_shape))}), got {tuple(x.shape)}")
        h = x.flatten(1)
        c = _one_hot(y, self.num_classes, len(x))
        if c is not None:
            h = torch.cat([h, c], 1)
        h = self.net(h)
        return self.mu(h), self.logvar(h)


class MLPDecoder(nn.Module):
    """p(x | z [, y]): MLP -> Bernoulli logits of shape ``(B, C, H, W)``."""

    def __init__(self, latent_dim: int = 2, hidden: int = 512, out_shape: tuple[int, int, int] = (1, 28, 28),
                 num_classes: int | None = None):
        super().__init__()
        self.out_shape, self.num_classes, self.latent_dim = tuple(out_shape), num_classes, latent_dim
        self.net = nn.Sequential(nn.Linear(latent_dim + (num_classes or 0), hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, math.prod(out_shape)))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        checks.ndim(z, "z", 2, "(B, latent_dim)")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must have latent_dim={self.latent_dim} in dim 1, got shape {tuple(z.shape)}")
        c = _one_hot(y, self.num_classes, len(z))
        h = z if c is None else torch.cat([z, c], 1)
        return self.net(h).reshape(len(z), *self.out_shape)


class VAE(nn.Module):
    """A (conditional) VAE with MLP encoder and decoder; ``deterministic=True`` makes it a plain autoencoder.

    Args:
        latent_dim: D.
        in_shape: ``(C, H, W)``.
        hidden: hidden units.
        num_classes: labels for a conditional VAE (Sohn et al. 2015), or None.
        deterministic: use ``z = mu`` (an autoencoder; no sampling, logvar ignored).

    Shapes:
        ``forward(x, y=None) -> (logits (B, C, H, W), mu (B, D), logvar (B, D), z (B, D))``.

    Reference:
        Kingma & Welling 2014, arXiv:1312.6114; Sohn, Lee & Yan 2015, "Learning Structured Output
        Representation using Deep Conditional Generative Models" (CVAE).
    """

    def __init__(self, latent_dim: int = 2, in_shape: tuple[int, int, int] = (1, 28, 28), hidden: int = 512,
                 num_classes: int | None = None, deterministic: bool = False):
        super().__init__()
        self.latent_dim, self.num_classes, self.deterministic = latent_dim, num_classes, deterministic
        self.encoder = MLPEncoder(in_shape, hidden, latent_dim, num_classes)
        self.decoder = MLPDecoder(latent_dim, hidden, in_shape, num_classes)

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.encoder(x, y)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(z, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, y)
        z = mu if self.deterministic else reparameterize(mu, logvar)
        return self.decode(z, y), mu, logvar, z


# --------------------------------------------------------------------------------------
# VQ-VAE
# --------------------------------------------------------------------------------------
class ResBlock(nn.Module):
    """x + conv1x1(relu(conv3x3(relu(x)))) (the VQ-VAE residual block)."""

    def __init__(self, channels: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or channels
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(channels, hidden, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


class ConvEncoder(nn.Module):
    """Images (B, C, H, W) -> feature map (B, out_dim, H/4, W/4): two stride-2 convs and a residual block."""

    def __init__(self, in_channels: int = 1, hidden: int = 64, out_dim: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, hidden // 2, 4, 2, 1), nn.ReLU(),    # 28x28 -> 14x14
            nn.Conv2d(hidden // 2, hidden, 4, 2, 1),                     # 14x14 -> 7x7
            ResBlock(hidden), nn.ReLU(),
            nn.Conv2d(hidden, out_dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x")
        return self.net(x)


class ConvDecoder(nn.Module):
    """Feature map (B, in_dim, h, w) -> logits (B, C, 4h, 4w): a residual block and two transposed convs."""

    def __init__(self, in_dim: int = 16, hidden: int = 64, out_channels: int = 1):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_dim, hidden, 3, padding=1), ResBlock(hidden), nn.ReLU(),
            nn.ConvTranspose2d(hidden, hidden // 2, 4, 2, 1), nn.ReLU(),  # 7x7 -> 14x14
            nn.ConvTranspose2d(hidden // 2, out_channels, 4, 2, 1))       # 14x14 -> 28x28

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 4, "(B, D, h, w)")
        return self.net(z)


@dataclass
class VQOutput:
    """What :class:`VectorQuantizer` returns.

    Attributes:
        z_q: (B, D, h, w) quantised map with the straight-through gradient ``z_e + sg(z_q - z_e)``.
        codes: (B, h, w) long indices of the nearest codebook vectors.
        codebook_loss: ``||sg(z_e) - e||^2`` (moves the codes to the encoder outputs), a scalar.
        commitment_loss: ``||z_e - sg(e)||^2`` (keeps the encoder near its codes), a scalar.
    """

    z_q: torch.Tensor
    codes: torch.Tensor
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor


class VectorQuantizer(nn.Module):
    """Nearest-neighbour vector quantisation with a learned codebook of K vectors in R^D.

    $$ z_q(x) = e_k,\\quad k = \\arg\\min_j \\lVert z_e(x) - e_j \\rVert_2 $$

    Gradients pass *straight through* the (non-differentiable) lookup: ``z_e + (z_q - z_e).detach()``.
    The layer counts how often each code is chosen in training mode (``usage``), so dead codes can
    be reported and restarted (:meth:`restart_dead_codes`).

    Args:
        num_codes: K.
        code_dim: D.

    Reference:
        van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning",
        arXiv:1711.00937, Eq. (1)-(3).
    """

    def __init__(self, num_codes: int = 32, code_dim: int = 16):
        super().__init__()
        self.num_codes = checks.positive_int(num_codes, "num_codes")
        self.code_dim = checks.positive_int(code_dim, "code_dim")
        self.codebook = nn.Embedding(num_codes, code_dim)
        nn.init.uniform_(self.codebook.weight, -1.0 / num_codes, 1.0 / num_codes)
        self.register_buffer("usage", torch.zeros(num_codes))

    def nearest(self, z_e: torch.Tensor) -> torch.Tensor:
        """(B, D, h, w) -> (B, h, w) indices of the nearest codebook vectors (squared L2)."""
        checks.ndim(z_e, "z_e", 4, "(B, D, h, w)")
        if z_e.shape[1] != self.code_dim:
            raise ValueError(f"z_e must have code_dim={self.code_dim} channels, got shape {tuple(z_e.shape)}")
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, self.code_dim)                     # (N, D)
        e = self.codebook.weight
        d2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)[None]  # (N, K)
        b, _, h, w = z_e.shape
        return d2.argmin(1).reshape(b, h, w)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, h, w) long indices -> (B, D, h, w) codebook vectors."""
        checks.ndim(codes, "codes", 3, "(B, h, w)")
        return self.codebook(codes.long()).permute(0, 3, 1, 2)

    def forward(self, z_e: torch.Tensor) -> VQOutput:
        codes = self.nearest(z_e)
        e = self.lookup(codes)
        if self.training:
            self.usage += torch.bincount(codes.flatten(), minlength=self.num_codes).to(self.usage)
        return VQOutput(z_q=z_e + (e - z_e).detach(), codes=codes,
                        codebook_loss=F.mse_loss(e, z_e.detach()), commitment_loss=F.mse_loss(z_e, e.detach()))

    def reset_usage(self) -> None:
        self.usage.zero_()

    def dead_codes(self) -> torch.Tensor:
        """Indices of the codes never chosen since the last :meth:`reset_usage`."""
        return torch.nonzero(self.usage == 0).flatten()

    @torch.no_grad()
    def restart_dead_codes(self, z_e: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """Move every dead code onto a random encoder output from ``z_e`` (B, D, h, w); reset the counts.

        Returns:
            The number of codes restarted.
        """
        dead = self.dead_codes()
        if len(dead):
            flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, self.code_dim)
            pick = torch.randint(len(flat), (len(dead),), generator=generator).to(flat.device)
            self.codebook.weight[dead] = flat[pick]
        self.reset_usage()
        return len(dead)


def code_perplexity(codes: torch.Tensor, num_codes: int) -> float:
    """Perplexity ``exp(H(p))`` of the code histogram: the effective number of codes in use (1 ... K).

    Args:
        codes: long indices of any shape, values in ``[0, num_codes)``.
        num_codes: K.

    Reference:
        van den Oord et al. 2017 (codebook usage); the perplexity is a common VQ-VAE diagnostic.
    """
    checks.tensor(codes, "codes")
    checks.positive_int(num_codes, "num_codes")
    if codes.is_floating_point():
        raise TypeError(f"codes must be integer indices, got dtype {codes.dtype}")
    p = torch.bincount(codes.flatten().long(), minlength=num_codes).double()
    p = p / p.sum()
    h = -(p[p > 0] * p[p > 0].log()).sum()
    return float(h.exp())


class VQVAE(nn.Module):
    """VQ-VAE: conv encoder -> vector quantiser -> conv decoder (Bernoulli logits).

    Args:
        in_channels: image channels.
        hidden: conv channels.
        num_codes: codebook size K.
        code_dim: D of each code.

    Shapes:
        ``forward(x (B, C, 28, 28)) -> (logits (B, C, 28, 28), VQOutput)`` with a 7x7 code map.
        ``decode_codes(codes (B, 7, 7)) -> logits``.

    Reference:
        van den Oord, Vinyals & Kavukcuoglu 2017, arXiv:1711.00937.
    """

    def __init__(self, in_channels: int = 1, hidden: int = 64, num_codes: int = 32, code_dim: int = 16):
        super().__init__()
        self.encoder = ConvEncoder(in_channels, hidden, code_dim)
        self.quantizer = VectorQuantizer(num_codes, code_dim)
        self.decoder = ConvDecoder(code_dim, hidden, in_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, VQOutput]:
        vq = self.quantizer(self.encoder(x))
        return self.decoder(vq.z_q), vq

    def encode_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> (B, h, w) code indices."""
        return self.quantizer.nearest(self.encoder(x))

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, h, w) code indices -> logits (B, C, H, W)."""
        return self.decoder(self.quantizer.lookup(codes))
