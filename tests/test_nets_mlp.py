"""course_lib.nets.mlp: the fully connected toys' generator and discriminator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.nets import mlp


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_shapes_of_the_documented_toys():
    G = mlp.generator(latent_dim=2, out_dim=2, hidden=(128, 128))
    D = mlp.discriminator(in_dim=2, hidden=(128, 128))
    x = G(torch.randn(7, 2))
    assert x.shape == (7, 2)
    assert D(x).shape == (7,)                                  # one raw score per sample
    assert mlp.MLP(3, 1, (4,)).forward(torch.zeros(5, 3)).shape == (5, 1)   # squeeze only when asked
    assert mlp.MLP(3, 1, ()).forward(torch.zeros(5, 3)).shape == (5, 1)     # no hidden layer: one linear map


def test_parameter_counts_closed_form():
    # (2 -> 128) + (128 -> 128) + (128 -> 1), weights and biases
    assert n_params(mlp.discriminator(2, (128, 128))) == (2 * 128 + 128) + (128 * 128 + 128) + (128 + 1) == 17_025
    # the minibatch-std feature widens the second layer's input by one
    assert n_params(mlp.discriminator(2, (128, 128), minibatch_std=True)) == 17_025 + 128
    assert n_params(mlp.discriminator(2, (16,), minibatch_std=True)) == (2 * 16 + 16) + (17 + 1)


def test_generator_output_is_unbounded_and_activations_chosen():
    G = mlp.generator(1, 1, hidden=(4,))
    with torch.no_grad():
        G.head.bias.fill_(50.0)
    assert G(torch.zeros(2, 1)).min() > 10                     # no output squashing (toy data are unbounded)
    for act, cls in [("relu", nn.ReLU), ("tanh", nn.Tanh), ("elu", nn.ELU), ("leaky_relu", nn.LeakyReLU)]:
        assert isinstance(mlp.MLP(2, 2, (3,), act=act).blocks[0][1], cls)
    assert mlp.discriminator(2).blocks[0][1].negative_slope == 0.2


def test_minibatch_std_couples_the_samples_of_a_batch():
    torch.manual_seed(0)
    x = torch.randn(4, 2)
    x_other = x.clone()
    x_other[1:] *= 5                                           # change every sample but the first
    plain = mlp.discriminator(2, (8, 8))
    assert torch.allclose(plain(x)[0], plain(x_other)[0])     # each score depends on its own sample only
    mbstd = mlp.discriminator(2, (8, 8), minibatch_std=True)
    assert not torch.allclose(mbstd(x)[0], mbstd(x_other)[0])  # sees the batch's spread
    with pytest.raises(ValueError, match="at least 2 samples"):
        mbstd(x[:1])


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    G, D = mlp.generator(2, 2, (8, 8)), mlp.discriminator(2, (8, 8), minibatch_std=True)
    D(G(torch.randn(6, 2))).sum().backward()
    for net in (G, D):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"unknown activation 'gelu'; expected one of: 'relu'"):
        mlp.MLP(2, 2, act="gelu")
    with pytest.raises(ValueError, match="in_dim must be a positive integer"):
        mlp.MLP(0, 2)
    with pytest.raises(ValueError, match="minibatch_std needs at least one hidden layer"):
        mlp.discriminator(2, (), minibatch_std=True)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 2\), got 1-D tensor"):
        mlp.discriminator(2)(torch.zeros(2))
