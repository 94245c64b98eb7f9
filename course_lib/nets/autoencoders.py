"""Autoencoder networks: linear, deep MLP (stackable layer by layer), and the PSD encoder/dictionary.

The networks know nothing of losses: objectives (cross-entropy / squared error, denoising
corruption, the PSD energy) and the greedy layer-wise procedure live in
:mod:`course_lib.autoencoding`. Images enter as (B, C, H, W) or already flat (B, D); the
encoder flattens, the decoder returns the shape it was given (``image_shape``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from .. import checks

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "elu": nn.ELU}


def _flat(x: torch.Tensor, in_dim: int) -> torch.Tensor:
    checks.tensor(x, "x")
    checks.floating(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must be a batch (B, D) or (B, C, H, W), got shape {tuple(x.shape)}")
    flat = x.flatten(1)
    if flat.shape[1] != in_dim:
        raise ValueError(f"x has {flat.shape[1]} values per example but the network expects in_dim={in_dim} "
                         f"(got shape {tuple(x.shape)})")
    return flat


class LinearAutoencoder(nn.Module):
    """``x_hat = W_dec (W_enc x + b_enc) + b_dec``: its optimum spans the top principal subspace.

    Args:
        in_dim: D (784 for MNIST).
        latent_dim: k, the code size.
        image_shape: shape of one example for the output, e.g. ``(1, 28, 28)``; None keeps (B, D).

    Reference:
        Baldi & Hornik 1989, Neural networks and principal component analysis (no local minima;
        the optimum is the PCA subspace up to an invertible map, so W need not be orthogonal).
    """

    def __init__(self, in_dim: int, latent_dim: int, image_shape: Sequence[int] | None = None):
        super().__init__()
        self.in_dim, self.latent_dim = checks.positive_int(in_dim, "in_dim"), checks.positive_int(latent_dim, "latent_dim")
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.encoder = nn.Linear(in_dim, latent_dim)       # D -> k
        self.decoder = nn.Linear(latent_dim, in_dim)       # k -> D

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) or (B, C, H, W) -> codes z (B, k)."""
        return self.encoder(_flat(x, self.in_dim))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, k) -> reconstructions (B, D) or (B, *image_shape)."""
        checks.ndim(z, "z", 2, "(B, latent_dim)")
        out = self.decoder(z)
        return out.view(-1, *self.image_shape) if self.image_shape else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class MLPAutoencoder(nn.Module):
    """A deep fully connected autoencoder ``dims[0] -> ... -> dims[-1] -> ... -> dims[0]``.

    The code layer is linear (as in Hinton & Salakhutdinov 2006); hidden layers use ``activation``;
    the decoder's last layer returns *logits* (``output="logits"``, pair with binary cross-entropy,
    :meth:`reconstruct` applies the sigmoid) or real values (``output="linear"``, squared error).

    ``encoder_layers[i]`` maps ``dims[i] -> dims[i+1]`` and ``decoder_layers[i]`` the reverse
    ``dims[i+1] -> dims[i]``, so layer i of the encoder and of the decoder form the shallow
    autoencoder that greedy layer-wise pretraining trains first (then the stack is "unrolled").

    Args:
        dims: layer widths from input to code, e.g. ``(784, 1000, 500, 250, 30)``.
        activation: ``"relu"``, ``"sigmoid"``, ``"tanh"`` or ``"elu"``.
        output: ``"logits"`` or ``"linear"``.
        image_shape: output shape of one example, e.g. ``(1, 28, 28)``; None keeps (B, D).

    Reference:
        Hinton & Salakhutdinov 2006, Science 313, Fig. 1 (pretraining, unrolling, fine-tuning).
    """

    def __init__(self, dims: Sequence[int], activation: str = "relu", output: str = "logits",
                 image_shape: Sequence[int] | None = None):
        super().__init__()
        dims = [checks.positive_int(int(d), "dims[i]") for d in dims]
        if len(dims) < 2:
            raise ValueError(f"dims needs at least (in_dim, latent_dim), got {dims}")
        checks.one_of(activation, "activation", ACTIVATIONS)
        checks.one_of(output, "output", ("logits", "linear"))
        self.dims, self.activation, self.output = tuple(dims), activation, output
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        self.in_dim, self.latent_dim = dims[0], dims[-1]
        self.encoder_layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.decoder_layers = nn.ModuleList(nn.Linear(b, a) for a, b in itertools.pairwise(dims))
        self.act = ACTIVATIONS[activation]()

    @property
    def depth(self) -> int:
        """Number of encoder layers (= decoder layers)."""
        return len(self.encoder_layers)

    def encode_layer(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """Encoder layer i: ``dims[i] -> dims[i+1]``; nonlinear except the (linear) code layer."""
        h = self.encoder_layers[i](h)
        return h if i == self.depth - 1 else self.act(h)

    def decode_layer(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """Decoder layer i: ``dims[i+1] -> dims[i]``; nonlinear except the output layer (i = 0)."""
        h = self.decoder_layers[i](h)
        return h if i == 0 else self.act(h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) or (B, C, H, W) -> codes z (B, latent_dim)."""
        h = _flat(x, self.in_dim)
        for i in range(self.depth):
            h = self.encode_layer(h, i)
        return h

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, latent_dim) -> logits or values (B, D) or (B, *image_shape)."""
        checks.ndim(z, "z", 2, "(B, latent_dim)")
        h = z
        for i in reversed(range(self.depth)):
            h = self.decode_layer(h, i)
        return h.view(-1, *self.image_shape) if self.image_shape else h

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw decoder output (logits or values) with the output shape."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstructions in data space: sigmoid(logits) for ``output="logits"``, else the values."""
        out = self(x)
        return torch.sigmoid(out) if self.output == "logits" else out


class Dictionary(nn.Module):
    """A linear decoder whose rows are unit-norm atoms: ``x_hat = z @ weight``, weight (K, D).

    The sparse-coding dictionary of :mod:`course_lib.sparse` as a module (so it can be trained
    with an optimiser and saved with :mod:`course_lib.checkpoints`). Call :meth:`renormalize_`
    after every optimiser step to keep the atoms on the unit sphere.

    Args:
        n_atoms: K.
        dim: D.
        seed: seed of the random unit-norm initialisation.
    """

    def __init__(self, n_atoms: int, dim: int, seed: int = 0):
        super().__init__()
        checks.positive_int(n_atoms, "n_atoms")
        checks.positive_int(dim, "dim")
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(n_atoms, dim, generator=g)
        self.weight = nn.Parameter(w / w.norm(dim=1, keepdim=True))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Codes (B, K) -> reconstructions (B, D)."""
        checks.ndim(z, "z", 2, "(B, K)")
        return z @ self.weight

    @torch.no_grad()
    def renormalize_(self) -> Dictionary:
        """Project every atom back to unit norm (in place)."""
        self.weight.div_(self.weight.norm(dim=1, keepdim=True).clamp_min(1e-12))
        return self


class PSDEncoder(nn.Module):
    """The feed-forward predictor of predictive sparse decomposition: ``F(x) = g * tanh(W x + b)``.

    Args:
        in_dim: D.
        n_atoms: K, the code size (matches the dictionary).

    Reference:
        Kavukcuoglu, Ranzato & LeCun 2008, "Fast inference in sparse coding algorithms with
        applications to object recognition", arXiv:1010.3467, Eq. (2) (G a learned diagonal gain).
    """

    def __init__(self, in_dim: int, n_atoms: int):
        super().__init__()
        self.in_dim = checks.positive_int(in_dim, "in_dim")
        checks.positive_int(n_atoms, "n_atoms")
        self.linear = nn.Linear(in_dim, n_atoms)
        self.gain = nn.Parameter(torch.ones(n_atoms))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, D) or (B, C, H, W) -> predicted codes (B, K)."""
        return self.gain * torch.tanh(self.linear(_flat(x, self.in_dim)))
