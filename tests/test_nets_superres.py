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


def test_icnr_starts_as_convolution_then_nearest_neighbour_upsampling():
    torch.manual_seed(0)
    up = srnets.Upsample2x(4, icnr=True)
    x = torch.randn(2, 4, 5, 6)
    y = up.shuffle(up.conv(x))
    base = torch.nn.functional.conv2d(x, up.conv.weight[::4], up.conv.bias[::4], padding=1)
    assert torch.allclose(y, torch.nn.functional.interpolate(base, scale_factor=2, mode="nearest"), atol=1e-6)
    with pytest.raises(ValueError, match="divisible by r"):
        srnets.icnr_(torch.nn.Conv2d(3, 6, 3), 2)


def test_hold_filter_removes_the_checkerboard_of_a_subpixel_layer():
    torch.manual_seed(0)
    flat = torch.full((1, 3, 24, 24), 0.4)
    for hold in (False, True):
        net = srnets.SRResNet(n_blocks=1, width=8, scale=4, norm=False, hold=hold)
        with torch.no_grad():
            for m in net.modules():                   # random sub-kernels: the four phases of a stage differ
                if isinstance(m, srnets.Upsample2x):
                    m.conv.weight.normal_(0, 0.3)
            inner = net(flat)[..., 44:-44, 44:-44]     # away from the zero-padded border
        spread = float(inner.amax(dim=(-2, -1)).sub(inner.amin(dim=(-2, -1))).max())
        if hold:
            assert spread < 1e-5                       # a flat image stays flat: no period-2/4 pattern is possible
        else:
            assert spread > 1e-3                       # the plain sub-pixel layer turns it into a grid pattern
    cell = torch.tensor([[1.0, -1.0], [-1.0, 1.0]]).repeat(4, 4).view(1, 1, 8, 8)
    assert srnets.HoldFilter()(cell)[..., 1:-1, 1:-1].abs().max() < 1e-6


def test_zero_reference_net_ignores_the_reference_and_a_no_reference_run_keeps_it_so():
    torch.manual_seed(0)
    net = srnets.TextureTransferNet(feat_channels=5, width=8, n_blocks=1, zero_reference=True, icnr=True)
    lr, pre = torch.rand(2, 3, 4, 4), torch.rand(2, 3, 16, 16)
    a = net(lr, torch.randn(2, 5, 8, 8), torch.rand(2, 3, 16, 16), pre, torch.rand(2, 1, 8, 8))
    b = net(lr, torch.randn(2, 5, 8, 8), torch.rand(2, 3, 16, 16), pre, torch.rand(2, 1, 8, 8))
    assert torch.equal(a, b)                            # the reference inputs have no effect at initialisation
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    zeros = (torch.zeros(2, 5, 8, 8), torch.zeros(2, 3, 16, 16), pre, torch.zeros(2, 1, 8, 8))
    for _ in range(3):                                  # trained without a reference ...
        loss = (net(lr, *zeros) - torch.rand(2, 3, 16, 16)).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert net.fuse1[0].weight[:, 8:].abs().max() == 0  # ... the weights on the reference inputs stay zero
    assert net.fuse2[0].weight[:, 8:11].abs().max() == 0 and net.fuse2[0].weight[:, 14:].abs().max() == 0
    assert net.fuse2[0].weight[:, 11:14].abs().max() > 0     # the pre-SR input is not a reference input
