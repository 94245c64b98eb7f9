import pytest
import torch

from course_lib.nets import image2image as i2i


def _measured_rf(D, size=96, channels=3):
    """Side of the input region that reaches the centre output, from gradients."""
    x = torch.randn(1, channels, size, size, requires_grad=True)
    D.eval()
    out = D(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    rows = (x.grad.abs().sum((0, 1, 3)) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("n_layers,rf", [(0, 1), (1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_fields(n_layers, rf):
    torch.manual_seed(0)
    D = i2i.PatchDiscriminator(3, n_layers=n_layers, width=8)
    assert i2i.receptive_field(D) == rf
    assert _measured_rf(D, size=160) == rf


def test_full_image_discriminator_sees_everything():
    D = i2i.PatchDiscriminator(3, 3, width=8, image_size=32, global_pool=True)
    x, c = torch.randn(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    assert D(x, c).shape == (2, 1, 1, 1)
    assert i2i.receptive_field(D) >= 32
    x.requires_grad_(True)
    D(x, c)[0].sum().backward()
    assert (x.grad[0].abs().sum(0) > 0).all()


def test_unet_shapes_skips_and_range():
    torch.manual_seed(0)
    for skips in (True, False):
        G = i2i.UNet(1, 3, depth=5, width=8, skips=skips)
        y = G(torch.randn(2, 1, 32, 32))
        assert y.shape == (2, 3, 32, 32) and y.abs().max() <= 1
    # the corner output depends on the input (through the bottleneck and the skips)
    G = i2i.UNet(3, 3, depth=3, width=8, dropout=0.0).eval()
    x = torch.randn(1, 3, 16, 16, requires_grad=True)
    G(x)[0, :, 0, 0].sum().backward()
    assert x.grad.abs().sum() > 0


def test_resnet_generator_global_skip():
    torch.manual_seed(0)
    G = i2i.ResNetGenerator(3, 3, width=8, n_blocks=2, global_skip=True)
    for p in G.net[-2].parameters():            # zero the last conv: the output is exactly the input
        torch.nn.init.zeros_(p)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.allclose(G(x), x)
    assert i2i.ResNetGenerator(1, 3, width=8, n_blocks=1)(torch.randn(1, 1, 16, 16)).shape == (1, 3, 16, 16)


def test_overfit_one_pair():
    torch.manual_seed(0)
    G = i2i.UNet(1, 1, depth=3, width=8, dropout=0.0)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    y = -x                                        # invert the image
    opt = torch.optim.Adam(G.parameters(), 3e-3)
    for _ in range(150):
        opt.zero_grad()
        loss = (G(x) - y).abs().mean()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1


def test_bad_input():
    D = i2i.PatchDiscriminator(3, cond_channels=1, n_layers=1, width=8)
    with pytest.raises(ValueError, match="D\\(x, c\\)"):
        D(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="match x"):
        D(torch.randn(1, 3, 32, 32), torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="divisible by 32"):
        i2i.UNet(3, 3, depth=5, width=8)(torch.randn(1, 3, 48, 40))
    with pytest.raises(ValueError, match="3-channel"):
        i2i.UNet(3, 3, depth=2, width=8)(torch.randn(1, 1, 16, 16))
    with pytest.raises(ValueError, match="norm"):
        i2i.ResNetGenerator(norm="layer")
    with pytest.raises(ValueError, match="global_skip"):
        i2i.ResNetGenerator(1, 3, global_skip=True)
    with pytest.raises(ValueError, match="power of two"):
        i2i.PatchDiscriminator(3, global_pool=True, image_size=30)
    with pytest.raises(ValueError, match="built for 32x32"):
        i2i.PatchDiscriminator(3, width=8, global_pool=True, image_size=32)(torch.randn(1, 3, 64, 64))
