"""Tests of course_lib.nets.autoregressive: masks, causality by gradients, blind spot, training."""

import pytest
import torch

from course_lib import likelihood
from course_lib.nets import autoregressive as ar


# --------------------------------------------------------------------------------------
# Masks
# --------------------------------------------------------------------------------------
def test_conv_mask_5x5_type_a_and_b_as_on_the_slide():
    a = ar.conv_mask(5, "A")[0, 0]
    b = ar.conv_mask(5, "B")[0, 0]
    expected_a = torch.tensor([[1, 1, 1, 1, 1],
                               [1, 1, 1, 1, 1],
                               [1, 1, 0, 0, 0],
                               [0, 0, 0, 0, 0],
                               [0, 0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(a, expected_a)
    expected_b = expected_a.clone()
    expected_b[2, 2] = 1
    assert torch.equal(b, expected_b)


def test_colour_mask_centre_is_r_then_g_then_b():
    # 3 input channels (R, G, B) -> 6 outputs (2 per colour)
    a = ar.conv_mask(3, "A", 3, 6, color_channels=3)[:, :, 1, 1]
    b = ar.conv_mask(3, "B", 6, 6, color_channels=3)[:, :, 1, 1]
    assert torch.equal(a, torch.tensor([[0, 0, 0]] * 2 + [[1, 0, 0]] * 2 + [[1, 1, 0]] * 2, dtype=torch.float32))
    groups = torch.arange(6) // 2
    assert torch.equal(b, (groups[:, None] >= groups[None, :]).float())
    # the spatial past is shared by all channel pairs
    assert (ar.conv_mask(3, "A", 3, 6, color_channels=3)[:, :, 0, :] == 1).all()


def test_mask_bad_inputs():
    with pytest.raises(ValueError, match="odd"):
        ar.conv_mask(4, "A")
    with pytest.raises(ValueError, match="mask_type"):
        ar.conv_mask(3, "C")
    with pytest.raises(ValueError, match="divisible by color_channels"):
        ar.conv_mask(3, "B", 4, 4, color_channels=3)
    with pytest.raises(ValueError, match="mask must be"):
        ar.MaskedConv2d(2, 3, torch.ones(2, 2, 3, 3))


def test_gated_stack_masks():
    assert torch.equal(ar.vertical_mask(3, False), torch.tensor([[1., 1, 1], [0, 0, 0], [0, 0, 0]]))
    assert torch.equal(ar.vertical_mask(3, True), torch.tensor([[1., 1, 1], [1, 1, 1], [0, 0, 0]]))
    assert torch.equal(ar.horizontal_mask(5, False), torch.tensor([[1., 1, 0, 0, 0]]))
    assert torch.equal(ar.horizontal_mask(5, True), torch.tensor([[1., 1, 1, 0, 0]]))


# --------------------------------------------------------------------------------------
# MADE
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("order_seed", [None, 3])
def test_made_jacobian_is_autoregressive(order_seed):
    torch.manual_seed(0)
    d = 10
    order = None if order_seed is None else torch.randperm(d, generator=torch.Generator().manual_seed(order_seed))
    net = ar.MADE(d, (64, 64), order=order, seed=1)
    x = torch.rand(1, d)
    jac = torch.autograd.functional.jacobian(lambda v: net(v), x)[0, :, 0, :]      # (out d, in d)
    deg = net.degrees
    forbidden = deg[None, :] >= deg[:, None]            # input j not strictly earlier than output i
    assert (jac[forbidden] == 0).all()
    # not vacuous: the last output in the ordering depends on the earlier inputs
    last = int(deg.argmax())
    assert (jac[last][deg < deg[last]].abs() > 0).sum() >= d // 2


def test_made_bad_inputs():
    with pytest.raises(ValueError, match="permutation"):
        ar.made_masks(4, (8,), order=torch.tensor([0, 0, 1, 2]))
    with pytest.raises(ValueError, match="5 features"):
        ar.MADE(5)(torch.zeros(2, 4))


# --------------------------------------------------------------------------------------
# Causality: the output at position i must not depend on inputs at positions >= i
# --------------------------------------------------------------------------------------
def _dependency(fn, x, out_index):
    """|d out[out_index] / d x| for a float input x."""
    x = x.clone().requires_grad_(True)
    fn(x)[out_index].sum().backward()
    return x.grad.abs()


def _check_causal(fn, c, h, w, levels=None, self_allowed=False, color=True):
    """Check every output (i, j, channel): inputs after it in raster (and R->G->B) order are unused."""
    torch.manual_seed(0)
    k = levels or 1
    x = torch.rand(2, c * k, h, w)
    seen_past = 0
    for i in range(h):
        for j in range(w):
            for ch in range(c):
                idx = (slice(None), slice(None), ch, i, j) if levels else (slice(None), ch, i, j)
                grad = _dependency(fn, x, idx).sum(0).reshape(c, k, h, w).sum(1)      # (c, h, w)
                pos = torch.arange(h)[:, None] * w + torch.arange(w)[None]
                later = (pos > i * w + j)[None].expand(c, h, w).clone()
                same = (pos == i * w + j)[None].expand(c, h, w)
                cidx = torch.arange(c)[:, None, None]
                if color:
                    same_bad = same & ((cidx > ch) if self_allowed else (cidx >= ch))
                else:
                    same_bad = same & torch.tensor(not self_allowed)
                bad = later | same_bad
                assert (grad[bad] == 0).all(), f"output ({ch}, {i}, {j}) sees a future input"
                seen_past += int((grad[~bad] > 0).any())
    # not vacuous: almost every output depends on something in its past
    assert seen_past >= c * h * w - 1


def test_masked_conv_type_a_and_b_causal():
    torch.manual_seed(0)
    conv_a = ar.masked_conv(1, 1, 5, "A")
    conv_b = ar.masked_conv(1, 1, 5, "B")
    _check_causal(conv_a, 1, 5, 5)
    _check_causal(conv_b, 1, 5, 5, self_allowed=True)
    # type B really does use the centre pixel
    assert _dependency(conv_b, torch.rand(1, 1, 5, 5), (slice(None), 0, 2, 2))[0, 0, 2, 2] > 0


def test_colour_masked_conv_causal():
    torch.manual_seed(0)
    _check_causal(ar.masked_conv(3, 3, 3, "A", color_channels=3), 3, 4, 4)
    _check_causal(ar.masked_conv(3, 3, 3, "B", color_channels=3), 3, 4, 4, self_allowed=True)


def test_pixelcnn_binary_causal():
    torch.manual_seed(0)
    net = ar.PixelCNN(1, None, hidden=8, num_layers=3, kernel_size=5)
    _check_causal(net, 1, 6, 6)


def test_pixelcnn_colour_categorical_causal():
    torch.manual_seed(0)
    net = ar.PixelCNN(3, levels=4, hidden=12, num_layers=2, kernel_size=3)
    assert net(torch.randint(0, 4, (2, 3, 5, 5))).shape == (2, 4, 3, 5, 5)
    _check_causal(net, 3, 4, 4, levels=4)


def test_gated_pixelcnn_causal_and_vertical_stack_sees_only_rows_above():
    torch.manual_seed(0)
    net = ar.GatedPixelCNN(1, None, hidden=8, num_layers=3, kernel_size=3, first_kernel=3)
    _check_causal(net, 1, 6, 6)
    x = torch.rand(1, 1, 6, 6)
    for i in range(6):
        grad = _dependency(lambda v: net.stacks(v)[0], x, (slice(None), slice(None), i, 3))[0, 0]
        assert (grad[i:] == 0).all(), f"vertical stack at row {i} sees row >= {i}"
        if i > 0:
            assert (grad[:i] > 0).any()
    # the horizontal stack alone is causal too
    _check_causal(lambda v: net.stacks(v)[1][:, :1], 1, 5, 5)


def test_conditional_networks_causal_and_use_the_label():
    torch.manual_seed(0)
    y = torch.tensor([3, 7])
    p = ar.PixelCNN(1, None, hidden=8, num_layers=2, kernel_size=3, num_classes=10)
    g = ar.GatedPixelCNN(1, 4, hidden=8, num_layers=2, num_classes=10, first_kernel=3)
    _check_causal(lambda v: p(v, y), 1, 5, 5)
    _check_causal(lambda v: g(v, y), 1, 5, 5, levels=4)
    x = torch.rand(2, 1, 5, 5)
    assert not torch.allclose(p(x, y), p(x, torch.tensor([0, 0])))
    with pytest.raises(ValueError, match="pass labels"):
        p(x)
    with pytest.raises(ValueError, match="unconditional"):
        ar.PixelCNN(1, None, hidden=8, num_layers=1)(x, y)


def test_network_bad_inputs():
    with pytest.raises(ValueError, match="one data channel"):
        ar.GatedPixelCNN(3)
    with pytest.raises(ValueError, match="levels"):
        ar.PixelCNN(1, levels=1)
    with pytest.raises(ValueError, match="2 channels"):
        ar.PixelCNN(2, hidden=8, num_layers=1)(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        ar.PixelCNN(1, hidden=8, num_layers=1)(torch.rand(4, 4))


# --------------------------------------------------------------------------------------
# Receptive field: PixelCNN has a blind spot, the gated stacks do not
# --------------------------------------------------------------------------------------
def test_blind_spot_of_pixelcnn_and_none_for_gated():
    torch.manual_seed(0)
    h = w = 11
    pos = (8, 5)
    pix = ar.PixelCNN(1, None, hidden=8, num_layers=3, kernel_size=3, layer_kernel=3)
    gated = ar.GatedPixelCNN(1, None, hidden=8, num_layers=3, kernel_size=3, first_kernel=3)
    past = ar.causal_past(h, w, pos)
    rf_p = ar.receptive_field(pix, (1, 1, h, w), pos) > 0
    rf_g = ar.receptive_field(gated, (1, 1, h, w), pos) > 0
    assert not (rf_p & ~past).any() and not (rf_g & ~past).any()
    # 4 layers of 3x3 reach 4 rows up; PixelCNN misses the upper-right (e.g. 2 rows up, 3 right)
    assert not rf_p[pos[0] - 2, pos[1] + 3]
    assert rf_g[pos[0] - 2, pos[1] + 3]
    assert rf_g.sum() > rf_p.sum()


def test_pixelcnn_overfits_one_batch():
    torch.manual_seed(0)
    x = (torch.rand(8, 1, 8, 8) < 0.3).float()
    net = ar.PixelCNN(1, None, hidden=16, num_layers=2, kernel_size=3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        loss = likelihood.bernoulli_nll(net(x), x).mean()
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_colour_pixelcnn_uses_the_allowed_channels_of_its_own_pixel():
    torch.manual_seed(0)
    net = ar.PixelCNN(3, None, hidden=30, num_layers=2, kernel_size=3)
    x = torch.rand(1, 3, 6, 6, requires_grad=True)
    dep = torch.zeros(3, 3, dtype=torch.int)
    for c in range(3):
        (grad,) = torch.autograd.grad(net(x)[0, c, 3, 3], x)
        dep[c] = (grad[0, :, 3, 3] != 0).int()
    # R <- nothing, G <- R, B <- R, G (strictly lower triangular)
    assert torch.equal(dep, torch.tensor([[0, 0, 0], [1, 0, 0], [1, 1, 0]], dtype=torch.int))


# --------------------------------------------------------------------------------------
# Context rows, scaled gray-level input, warm-started conditional copies
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, expected", [
    (lambda: ar.PixelCNN(1, None, hidden=8, num_layers=3, kernel_size=5), 2 + 3),
    (lambda: ar.PixelCNN(1, None, hidden=8, num_layers=2, kernel_size=7, layer_kernel=5), 3 + 2 * 2),
    (lambda: ar.GatedPixelCNN(1, None, hidden=8, num_layers=3, kernel_size=3, first_kernel=5), 2 + 3),
    (lambda: ar.GatedPixelCNN(1, None, hidden=8, num_layers=2, kernel_size=5, first_kernel=3), 1 + 2 * 2),
])
def test_context_rows_is_the_measured_height_of_the_receptive_field(make, expected):
    torch.manual_seed(0)
    net = make()
    assert net.context_rows == expected
    h, w = 16, 9
    pos = (h - 1, w // 2)
    rf = ar.receptive_field(net, (1, 1, h, w), pos)
    rows_used = (rf > 0).any(1).nonzero().flatten()
    assert int(rows_used.min()) == pos[0] - expected          # reaches exactly context_rows rows up


def test_scaled_input_pixelcnn_is_causal_and_matches_one_hot_shapes():
    torch.manual_seed(0)
    net = ar.PixelCNN(1, levels=256, hidden=8, num_layers=2, kernel_size=3, one_hot_input=False)
    assert net.first.in_channels == 1                        # one scaled channel, not 256 one-hot channels
    x = torch.randint(0, 256, (2, 1, 5, 5))
    logits = net(x)
    assert logits.shape == (2, 256, 1, 5, 5)
    assert torch.allclose(net(x.float() / 255), logits)      # float input = already scaled levels
    mix = torch.randn(256)[None, :, None, None, None]          # a random mix of the K logits of each position
    _check_causal(lambda v: (net(v) * mix).sum(1), 1, 5, 5)  # float input in [0, 1], one channel per pixel
    colour = ar.PixelCNN(3, levels=4, hidden=12, num_layers=1, kernel_size=3, one_hot_input=False)
    assert colour(torch.randint(0, 4, (1, 3, 4, 4))).shape == (1, 4, 3, 4, 4)
    _check_causal(lambda v: (colour(v) * mix[:, :4]).sum(1), 3, 4, 4)
    with pytest.raises(ValueError, match="pass the integer levels"):
        net(x.float())                                       # 0..255 as floats: ambiguous, refused


def test_conditional_copy_starts_unconditional_and_learns_the_label():
    torch.manual_seed(0)
    for net in (ar.PixelCNN(1, None, hidden=8, num_layers=2, kernel_size=3),
                ar.GatedPixelCNN(1, None, hidden=8, num_layers=2, first_kernel=3)):
        cond = ar.conditional_copy(net, 10)
        assert cond.num_classes == 10 and net.num_classes is None
        x = (torch.rand(4, 1, 6, 6) < 0.3).float()
        y = torch.tensor([0, 3, 7, 9])
        assert torch.equal(cond(x, y), net(x))                # zero embedding: p(x | y) = p(x)
        _check_causal(lambda v, cond=cond, y=y: cond(v, y[:2]), 1, 5, 5)
        # a few steps on two classes with different images make the label matter
        x2 = torch.stack([torch.zeros(1, 6, 6), torch.ones(1, 6, 6)]).repeat(4, 1, 1, 1)
        y2 = torch.tensor([0, 1]).repeat(4)
        opt = torch.optim.Adam(cond.parameters(), lr=1e-2)
        for _ in range(30):
            loss = likelihood.bernoulli_nll(cond(x2, y2), x2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert not torch.allclose(cond(x2, y2), cond(x2, 1 - y2))
        assert torch.equal(ar.conditional_copy(net, 10)(x, y), net(x))   # the original is untouched
    with pytest.raises(ValueError, match="already class-conditional"):
        ar.conditional_copy(ar.PixelCNN(1, None, hidden=8, num_layers=1, num_classes=10), 10)
    with pytest.raises(TypeError, match="PixelCNN or GatedPixelCNN"):
        ar.conditional_copy(ar.MADE(4), 10)


def _random_maps(net: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        net.class_map.normal_(0, 0.3)                          # small: no gate saturates
    return net


def test_class_map_is_a_causal_location_dependent_bias():
    torch.manual_seed(0)
    for make in (lambda **k: ar.PixelCNN(1, None, hidden=8, num_layers=2, kernel_size=3, **k),
                 lambda **k: ar.GatedPixelCNN(1, None, hidden=8, num_layers=2, first_kernel=3, **k)):
        net = _random_maps(make(class_map_size=3, image_size=6))
        assert net.class_map.shape[:2] == (1, net.class_map.shape[1])
        _check_causal(net, 1, 6, 6)                            # a bias: the receptive field is unchanged
        x = torch.zeros(1, 1, 6, 6)
        with torch.no_grad():
            out = net(x)                                       # same input everywhere, different logits per place
            assert out[0, 0].std() > 1e-3 and not torch.allclose(out[..., 1, :], out[..., 4, :])
            plain = make()
            flat = plain(x)[0, 0]                              # without a map: the border alone varies
            assert torch.allclose(flat[2:4, 2:4], flat[2:4, 2:4].mean().expand(2, 2), atol=1e-6)
            # a window of rows 2 ... 5 with top=2 gives those rows of the whole canvas
            xr = (torch.rand(2, 1, 6, 6) < 0.5).float()
            whole = net(xr)
            assert not torch.allclose(net(xr[:, :, 2:])[..., -1, :], whole[..., -1, :])   # top matters
            if isinstance(net, ar.PixelCNN):
                assert torch.allclose(net(xr[:, :, 6 - net.context_rows - 1:], top=6 - net.context_rows - 1)[..., -1, :],
                                      whole[..., -1, :], atol=1e-5)
        with pytest.raises(ValueError, match="rows top"):
            net(xr[:, :, 2:], top=3)                           # the window would leave the canvas
        with pytest.raises(ValueError, match="translation-equivariant"):
            plain(xr, top=1)
    with pytest.raises(ValueError, match="needs image_size"):
        ar.PixelCNN(1, None, hidden=8, num_layers=1, class_map_size=3)
    with pytest.raises(ValueError, match="give class_map_size too"):
        ar.PixelCNN(1, None, hidden=8, num_layers=1, image_size=6)


def test_conditional_copy_gives_every_class_the_position_map():
    torch.manual_seed(0)
    net = _random_maps(ar.PixelCNN(1, None, hidden=8, num_layers=2, kernel_size=3, class_map_size=3, image_size=6))
    cond = ar.conditional_copy(net, 4)
    assert cond.class_map.shape[0] == 4 and cond.image_size == 6
    x = (torch.rand(4, 1, 6, 6) < 0.3).float()
    with torch.no_grad():
        assert torch.allclose(cond(x, torch.arange(4)), net(x), atol=1e-6)   # p(x | y) = p(x) at first
        cond.class_map[2].add_(1.0)                                          # each class has its own copy
        assert not torch.allclose(cond(x, torch.full((4,), 2)), net(x))
        assert torch.allclose(cond(x, torch.full((4,), 1)), net(x), atol=1e-6)
    with pytest.raises(ValueError, match="class map already"):
        ar.conditional_copy(net, 4, class_map_size=3, image_size=6)
    fresh = ar.conditional_copy(ar.GatedPixelCNN(1, None, hidden=8, num_layers=1, first_kernel=3), 4,
                                class_map_size=3, image_size=6)
    assert fresh.class_map.shape == (4, 16, 3, 3) and float(fresh.class_map.detach().abs().sum()) == 0.0
