"""Small fully connected networks: the generators and discriminators of the 1-D and 2-D toys.

    G = mlp.generator(latent_dim=2, out_dim=2, hidden=(128, 128))    # z (B, 2) -> x (B, 2)
    D = mlp.discriminator(in_dim=2, hidden=(128, 128))                # x (B, 2) -> logits (B,)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from .. import checks

_ACTS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh, "elu": nn.ELU}


class MLP(nn.Module):
    """Linear layers with an activation between them.

    Args:
        in_dim: input features.
        out_dim: output features.
        hidden: widths of the hidden layers.
        act: ``relu``, ``leaky_relu`` (slope 0.2), ``tanh`` or ``elu``.
        squeeze: return (B,) when ``out_dim == 1`` (a discriminator's scores).
        minibatch_std: append the batch standard deviation of the first hidden layer's features as one
            extra feature (the "minibatch standard deviation" of Karras et al. 2018, a cheap
            relative of minibatch discrimination that lets D see sample diversity).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (128, 128), act: str = "relu",
                 squeeze: bool = False, minibatch_std: bool = False):
        super().__init__()
        checks.positive_int(in_dim, "in_dim")
        checks.positive_int(out_dim, "out_dim")
        checks.one_of(act, "activation", _ACTS)
        if minibatch_std and not hidden:
            raise ValueError("minibatch_std needs at least one hidden layer")
        self.in_dim, self.minibatch_std = in_dim, minibatch_std
        self.squeeze = squeeze and out_dim == 1
        widths = [in_dim, *hidden]
        blocks = []
        for i, (a, b) in enumerate(itertools.pairwise(widths)):
            a += 1 if (minibatch_std and i == 1) else 0          # the std feature enters the 2nd layer
            blocks.append(nn.Sequential(nn.Linear(a, b), _ACTS[act]()))
        self.blocks = nn.ModuleList(blocks)
        last = widths[-1] + (1 if minibatch_std and len(hidden) == 1 else 0)
        self.head = nn.Linear(last, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim), or (B,) with ``squeeze``."""
        checks.ndim(x, "x", 2, f"(B, {self.in_dim})")
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h)
            if self.minibatch_std and i == 0:          # one scalar: mean over features of the batch std
                if h.shape[0] < 2:
                    raise ValueError("minibatch standard deviation needs a batch of at least 2 samples "
                                     f"(got {h.shape[0]}); it also couples the samples of a batch, so do not "
                                     "combine it with a per-sample gradient penalty (WGAN-GP)")
                h = torch.cat([h, h.std(0).mean().expand(h.shape[0], 1)], 1)
        out = self.head(h)
        return out[:, 0] if self.squeeze else out


def generator(latent_dim: int, out_dim: int, hidden: Sequence[int] = (128, 128), act: str = "relu") -> MLP:
    """z (B, latent_dim) -> x (B, out_dim), no output activation (toy data are unbounded)."""
    return MLP(latent_dim, out_dim, hidden, act)


def discriminator(in_dim: int, hidden: Sequence[int] = (128, 128), act: str = "leaky_relu",
                  minibatch_std: bool = False) -> MLP:
    """x (B, in_dim) -> one raw score (logit) per sample, shape (B,)."""
    return MLP(in_dim, 1, hidden, act, squeeze=True, minibatch_std=minibatch_std)
