"""course_lib.nets.dcgan: the DCGAN pair for every documented size, its guidelines as code, and the
conditional variants / encoder shared by notebooks 18 (IcGAN) and 19 (CAAE)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.nets import dcgan


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize("size, channels", [(28, 1), (32, 1), (32, 3), (64, 3)])
def test_generator_and_discriminator_shapes(size, channels):
    torch.manual_seed(0)
    G = dcgan.Generator(latent_dim=16, channels=channels, image_size=size, width=8)
    D = dcgan.Discriminator(channels=channels, image_size=size, width=8)
    x = G(torch.randn(5, 16))
    assert x.shape == (5, channels, size, size)
    assert x.abs().max() <= 1                                            # Tanh output
    assert G(torch.randn(5, 16, 1, 1)).shape == x.shape                  # z as (B, latent_dim, 1, 1) too
    assert D(x).shape == (5,)


def test_parameter_counts_closed_form():
    # 32x32, width 64, latent 100: ConvT 100->256 (4x4), 256->128, 128->64, 64->1, all bias-free; BN scale+shift
    g = 100 * 256 * 16 + 256 * 128 * 16 + 128 * 64 * 16 + 64 * 1 * 16 + 2 * (256 + 128 + 64)
    assert n_params(dcgan.Generator(100, 1, 32, 64)) == g == 1_066_880
    # Conv 1->64, 64->128 (BN), 128->256 (BN), head 256->1 over 4x4, bias-free
    d = 1 * 64 * 16 + 64 * 128 * 16 + 128 * 256 * 16 + 256 * 16 + 2 * (128 + 256)
    assert n_params(dcgan.Discriminator(1, 32, 64)) == d == 661_248
    assert n_params(dcgan.Discriminator(1, 32, 64, batch_norm=False)) == d - 2 * (128 + 256)
    # 28x28 starts at 7x7 by default: ConvT 100->128 (7x7), 128->64, 64->1
    assert n_params(dcgan.Generator(100, 1, 28, 64)) == 100 * 128 * 49 + 128 * 64 * 16 + 64 * 16 + 2 * (128 + 64)
    # start=4: ConvT 100->256 (4x4), 256->128 (3x3 kernel: 4 -> 7), 128->64 (14), 64->1 (28)
    assert n_params(dcgan.Generator(100, 1, 28, 64, start=4)) == (100 * 256 * 16 + 256 * 128 * 9 + 128 * 64 * 16 + 64 * 16
                                                         + 2 * (256 + 128 + 64))
    # D: Conv 1->64 (14), 64->128 (7, BN), 128->256 (3x3 kernel: 7 -> 4, BN), head 256->1 over 4x4
    assert n_params(dcgan.Discriminator(1, 28, 64, start=4)) == (64 * 16 + 64 * 128 * 16 + 128 * 256 * 9 + 256 * 16
                                                        + 2 * (128 + 256))


def _sides(layers, h, kind):
    """The side of the feature map after each layer of type ``kind`` when ``h`` runs through ``layers``."""
    sides = []
    for layer in layers:
        h = layer(h)
        if isinstance(layer, kind):
            sides.append(h.shape[-1])
    return sides


def _g_sides(G):
    return _sides(G.net, torch.randn(2, G.latent_dim, 1, 1), nn.ConvTranspose2d)


def test_28px_plans_and_start_errors():
    assert _g_sides(dcgan.Generator(16, 1, 28, 8)) == [7, 14, 28]             # the default, cheap plan
    assert _g_sides(dcgan.Generator(16, 1, 32, 8)) == [4, 8, 16, 32]
    with pytest.raises(ValueError, match="start must be one of"):
        dcgan.Generator(16, 1, 32, 8, start=7)
    with pytest.raises(ValueError, match="start must be one of"):
        dcgan.Discriminator(1, 28, 8, start=5)
    G, D = dcgan.Generator(16, 1, 28, 8, start=4), dcgan.Discriminator(1, 28, 8, start=4)
    assert _g_sides(G) == [4, 7, 14, 28]
    assert _sides(D.features, torch.randn(2, 1, 28, 28), nn.Conv2d) == [14, 7, 4]
    assert D(torch.randn(2, 1, 28, 28)).shape == (2,)


def test_guidelines_no_bias_no_pooling_bn_placement():
    G, D = dcgan.Generator(16, 1, 32, 8), dcgan.Discriminator(1, 32, 8)
    convs = [m for m in [*G.modules(), *D.modules()] if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert convs and all(m.bias is None for m in convs)
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)) for m in [*G.modules(), *D.modules()])
    assert isinstance(G.net[-1], nn.Tanh) and isinstance(G.net[-2], nn.ConvTranspose2d)   # no BN at G's output
    assert isinstance(D.features[1], nn.LeakyReLU) and D.features[1].negative_slope == 0.2  # no BN at D's input


def test_init_weights_normal_002():
    torch.manual_seed(0)
    G = dcgan.Generator(100, 1, 32, 64)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and w.std().item() == pytest.approx(0.02, rel=0.02)
    bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in bn)
    assert torch.cat([m.weight for m in bn]).mean().item() == pytest.approx(1.0, abs=0.01)


def test_spectral_norm_bounds_each_conv():
    torch.manual_seed(0)
    D = dcgan.Discriminator(1, 32, 8, batch_norm=False, spectral_norm=True)
    for _ in range(30):                                                  # power iterations run in train mode
        D(torch.randn(4, 1, 32, 32))
    for m in [*D.features, D.head]:
        if isinstance(m, nn.Conv2d):
            sigma = torch.linalg.matrix_norm(m.weight.reshape(m.weight.shape[0], -1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    G, D = dcgan.Generator(16, 3, 32, 8), dcgan.Discriminator(3, 32, 8)
    D(G(torch.randn(4, 16))).mean().backward()
    for net in (G, D):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_bad_input_errors():
    with pytest.raises(ValueError, match=r"image_size must be one of \(28, 32, 64\), got 48"):
        dcgan.Generator(16, 1, 48)
    with pytest.raises(ValueError, match="latent_dim must be a positive integer"):
        dcgan.Generator(0)
    with pytest.raises(ValueError, match=r"z must have shape \(B, 16\)"):
        dcgan.Generator(16, 1, 32, 8)(torch.randn(4, 16, 1))
    D = dcgan.Discriminator(1, 32, 8)
    with pytest.raises(ValueError, match="x must be 32x32 images, got"):
        D(torch.zeros(2, 1, 28, 28))
    with pytest.raises(ValueError, match="x must have 1 channels"):
        D(torch.zeros(2, 3, 32, 32))


# --------------------------------------------------------------------------------------
# Conditional variants and the encoder (IcGAN, CAAE)
# --------------------------------------------------------------------------------------
def test_attribute_generator_puts_repeated_y_at_the_input():
    torch.manual_seed(0)
    G = dcgan.AttributeGenerator(latent_dim=10, attr_dim=4, width=8, label_repeat=3).eval()
    assert G.net.net[0].in_channels == 10 + 4 * 3
    z = torch.randn(2, 10)
    y0, y1 = torch.eye(4)[[0, 0]], torch.eye(4)[[1, 1]]
    x0, x1 = G(z, y0), G(z, y1)
    assert x0.shape == (2, 3, 32, 32) and x0.abs().max() <= 1
    assert not torch.allclose(x0, x1)                                    # y changes the image
    assert torch.equal(G(z, y0), x0)                                     # deterministic in eval mode
    with pytest.raises(ValueError, match=r"z must be \(B, 10\)"):
        G(torch.randn(2, 9), y0)
    with pytest.raises(ValueError, match=r"y must be \(B=2, 4\) attribute vectors, got shape \(3, 4\)"):
        G(z, torch.eye(4)[:3])
    with pytest.raises(TypeError, match="y must be a floating-point tensor"):
        G(z, torch.zeros(2, 4, dtype=torch.long))


def test_attribute_discriminator_joins_y_after_the_first_conv():
    D = dcgan.AttributeDiscriminator(attr_dim=5, width=8)
    assert D.rest[0].in_channels == 8 + 5                                # y as 5 constant maps beside 8 features
    assert D(torch.zeros(3, 3, 32, 32), torch.zeros(3, 5)).shape == (3,)
    with pytest.raises(ValueError, match="AttributeDiscriminator expects 32x32 images"):
        D(torch.zeros(3, 3, 64, 64), torch.zeros(3, 5))


@pytest.mark.parametrize("size, channels_last", [(32, 8 * 4), (64, 8 * 8)])
def test_encoder_shapes_and_bound(size, channels_last):
    torch.manual_seed(0)
    E = dcgan.Encoder(7, image_size=size, width=8)
    x = torch.rand(4, 3, size, size) * 2 - 1
    assert E(x).shape == (4, 7)
    assert E.head.in_features == channels_last * 4 * 4                   # width doubles per halving, down to 4x4
    Eb = dcgan.Encoder(7, image_size=size, width=8, bound=True)
    with torch.no_grad():
        Eb.head.weight.mul_(100)                                         # large pre-activations
    out = Eb(x)
    assert out.abs().max() <= 1 and out.abs().max() > 0.99               # Tanh-squashed into [-1, 1]
    with pytest.raises(ValueError, match="out_dim must be a positive integer"):
        dcgan.Encoder(0)
