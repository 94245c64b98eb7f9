import pytest
import torch

from course_lib.nets import superres as srnets


def test_pixel_shuffle_matches_torch():
    x = torch.randn(2, 12, 5, 7)
    for r in (1, 2):
        c = 12 if r == 2 else 3
        xi = x[:, :c] if r == 1 else x
        assert torch.equal(srnets.pixel_shuffle(xi, r), torch.nn.PixelShuffle(r)(xi))
    y = torch.randn(1, 27, 2, 3)
    assert torch.equal(srnets.pixel_shuffle(y, 3), torch.nn.functional.pixel_shuffle(y, 3))
    with pytest.raises(ValueError, match="divisible by r"):
        srnets.pixel_shuffle(torch.randn(1, 5, 2, 2), 2)


def test_srresnet_shapes_range_and_errors():
    torch.manual_seed(0)
    net = srnets.SRResNet(n_blocks=2, width=8, scale=4)
    out = net(torch.rand(3, 3, 6, 5))
    assert out.shape == (3, 3, 24, 20)
    assert 0 <= out.min() and out.max() <= 1
    assert srnets.SRResNet(n_blocks=1, width=4, scale=2)(torch.rand(1, 3, 4, 4)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="power of 2"):
        srnets.SRResNet(scale=3)
    with pytest.raises(ValueError, match="3-channel"):
        net(torch.rand(1, 1, 6, 6))


def test_srresnet_overfits_one_batch():
    torch.manual_seed(0)
    net = srnets.SRResNet(n_blocks=1, width=8, scale=2)
    lr, hr = torch.rand(4, 3, 4, 4), torch.rand(4, 3, 8, 8)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    first = None
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(net(lr), hr)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first


def test_discriminator_layers_and_size_check():
    D = srnets.SRDiscriminator(image_size=32, width=4, hidden=16)
    convs = [m for m in D.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [4, 4, 8, 8, 16, 16, 32, 32]
    assert [c.stride[0] for c in convs] == [1, 2] * 4
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.features) == 7
    assert D(torch.rand(5, 3, 32, 32)).shape == (5, 1)
    with pytest.raises(ValueError, match="built for 32x32"):
        D(torch.rand(1, 3, 48, 48))
    with pytest.raises(ValueError, match="divisible by 16"):
        srnets.SRDiscriminator(image_size=40)


def test_texture_transfer_net_shapes_and_errors():
    net = srnets.TextureTransferNet(feat_channels=5, width=8, n_blocks=1)
    lr = torch.rand(2, 3, 4, 4)
    out = net(lr, torch.randn(2, 5, 8, 8), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.rand(2, 1, 8, 8))
    assert out.shape == (2, 3, 16, 16) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="swapped_features must have shape"):
        net(lr, torch.randn(2, 4, 8, 8), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="weight must have shape"):
        net(lr, torch.randn(2, 5, 8, 8), torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.rand(2, 1, 16, 16))


def test_residual_srresnet_starts_at_bicubic():
    from course_lib import images

    torch.manual_seed(0)
    net = srnets.SRResNet(n_blocks=1, width=4, scale=4, residual=True)
    lr = torch.rand(2, 3, 5, 5)
    assert torch.allclose(net(lr), images.upsample(lr, 4), atol=1e-6)
