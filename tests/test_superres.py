import pytest
import torch
import torch.nn.functional as F

from course_lib import data, gan, images, quality, superres


def test_patch_pairs_and_test_crops():
    hr, lr = superres.patch_pairs(data.photos("train"), hr_size=16, n=10, scale=4)
    assert hr.shape == (10, 3, 16, 16) and lr.shape == (10, 3, 4, 4)
    assert torch.allclose(lr, images.downsample(hr, 4))
    with pytest.raises(ValueError, match="divisible by scale"):
        superres.patch_pairs(data.photos("train"), hr_size=18, n=2)
    t = superres.test_crops(64)
    assert t.shape == (4, 3, 64, 64) and 0 <= t.min() and t.max() <= 1
    g = superres.test_crops(32, grid=2)                 # the same central squares, cut into 2 x 2 crops
    assert g.shape == (16, 3, 32, 32)
    assert torch.equal(g[4 * 1 + 3], t[1, :, 32:, 32:]) and torch.equal(g[0], t[0, :, :32, :32])


def test_similarity_is_cosine_in_range():
    torch.manual_seed(0)
    a, b = torch.randn(2, 4, 5, 6), torch.randn(2, 4, 3, 7)
    s = superres.similarity(a, b)
    assert s.shape == (2, 30, 21)
    assert s.min() >= -1 and s.max() <= 1
    pa = F.unfold(a, 3, padding=1)[0, :, 7]
    pb = F.unfold(b, 3, padding=1)[0, :, 11]
    assert s[0, 7, 11].item() == pytest.approx(F.cosine_similarity(pa, pb, dim=0).item(), abs=1e-5)
    assert torch.allclose(superres.similarity(a, a).diagonal(dim1=1, dim2=2), torch.ones(2, 30), atol=1e-5)
    with pytest.raises(ValueError, match="same"):
        superres.similarity(a, torch.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match="odd"):
        superres.extract_patches(a, 2)


def test_swap_picks_identical_patch_when_reference_contains_content():
    torch.manual_seed(0)
    ref = torch.randn(1, 8, 12, 12)
    content = ref[:, :, 2:8, 3:10]                      # the content sits inside the reference
    swapped, weight, index = superres.feature_swap(content, ref, ref)
    # interior positions (whose 3x3 patch is not cut by zero padding) match their own patch exactly
    inner = weight[0, 0, 1:-1, 1:-1]
    assert torch.allclose(inner, torch.ones_like(inner), atol=1e-5)
    ii, jj = torch.meshgrid(torch.arange(1, 5), torch.arange(1, 6), indexing="ij")
    expected = (ii + 2) * 12 + (jj + 3)
    assert torch.equal(index[0].view(6, 7)[1:-1, 1:-1], expected)
    assert torch.allclose(swapped[..., 2:-2, 2:-2], content[..., 2:-2, 2:-2], atol=1e-5)


def test_weight_map_is_low_for_unrelated_reference():
    torch.manual_seed(0)
    ref = torch.randn(1, 8, 12, 12)
    good = superres.feature_swap(ref[:, :, :6, :6], ref, ref)[1]
    bad = superres.feature_swap(torch.randn(1, 8, 6, 6), ref, ref)[1]
    assert good.mean() > 0.9 and bad.mean() < 0.6


def test_swap_bad_inputs():
    with pytest.raises(ValueError, match="reference grid"):
        superres.feature_swap(torch.randn(1, 2, 4, 4), torch.randn(1, 2, 5, 5), torch.randn(1, 3, 4, 4))


def test_srntt_swap_with_identical_reference_returns_it():
    class Identity(torch.nn.Module):                   # a stride-1 "feature net"
        def __init__(self):
            super().__init__()
            self.strides, self.device = {"id": 1}, torch.device("cpu")

        def forward(self, x, layers):
            return {"id": x}

    hr = superres.test_crops(32)[:2]
    out = superres.srntt_swap(images.downsample(hr, 4), hr, Identity(), "id")
    assert out["pixels"].shape == hr.shape and out["features"].shape == hr.shape
    assert out["weight"].shape == (2, 1, 32, 32)
    # pre-SR and the blurred reference coincide, so every patch finds itself: the sharp HR comes back
    assert out["weight"][..., 1:-1, 1:-1].min() > 0.999
    assert torch.allclose(out["pixels"], hr, atol=1e-4) and torch.allclose(out["features"], hr, atol=1e-4)
    assert quality.psnr(out["pre_sr"], hr) < 30          # ... while the pre-SR input is blurred
    with pytest.raises(ValueError, match="same batch size"):
        superres.srntt_swap(images.downsample(hr, 4), hr[:1], Identity(), "id")


def test_reference_crops_good_overlap_and_bad_other_photo():
    photos = data.photos("train")
    hr, ref, good = superres.reference_crops(photos, 32, 40, shift=0.5, seed=1)
    assert hr.shape == ref.shape == (40, 3, 32, 32) and good.any() and (~good).any()

    def overlaps(h, r, off=16):                        # ref = the crop moved by (di, dj), di, dj in {-off, 0, off}
        for di in (-off, 0, off):
            for dj in (-off, 0, off):
                if (di, dj) == (0, 0):
                    continue
                a = h[:, max(di, 0):32 + min(di, 0), max(dj, 0):32 + min(dj, 0)]
                b = r[:, max(-di, 0):32 + min(-di, 0), max(-dj, 0):32 + min(-dj, 0)]
                if torch.equal(a, b):
                    return True
        return False

    assert all(overlaps(hr[t], ref[t]) for t in range(40) if good[t])
    assert not any(overlaps(hr[t], ref[t]) for t in range(40) if not good[t])
    with pytest.raises(ValueError, match="at least 2"):
        superres.reference_crops({"a": torch.rand(3, 64, 64)}, 16, 2)


def test_srgan_variant_is_the_papers_loss():
    v = superres.srgan_variant(superres.mse_content, adv_weight=2e-3, tv_weight=3e-8, name="x")
    assert v.adv_weight == pytest.approx(2e-3)                  # a weights the adversarial loss, not 1/a the rest
    assert v.g_terms["content"] == (1.0, superres.mse_content)
    assert v.g_terms["tv"] == (pytest.approx(3e-8), superres.tv_term)
    assert v.d_terms == {} and v.name == "x"
    assert v.lr_g == v.lr_d == 1e-4 and v.betas == (0.9, 0.999)
    assert v.g_loss is gan.variant("ns").g_loss and v.d_loss is gan.variant("ns").d_loss
    assert set(superres.srgan_variant(superres.mse_content, tv_weight=0).g_terms) == {"content"}
    with pytest.raises(ValueError, match="adv_weight"):
        superres.srgan_variant(superres.mse_content, adv_weight=0)
    b = gan.Batch(torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4))
    assert superres.mse_content(b).item() == pytest.approx(1.0)
    assert superres.tv_term(b).item() == 0


def test_test_references_graded_overlap():
    hr, refs, bad = superres.test_references(32, shifts=(0.25, 0.5, 1.0), rows=2)
    assert hr.shape == bad.shape == refs[0.5].shape == (8, 3, 32, 32) and set(refs) == {0.25, 0.5, 1.0}
    assert torch.equal(hr[..., 16:], refs[0.5][..., :16])     # the right half of HR is the left half of the reference
    assert torch.equal(hr[..., 8:], refs[0.25][..., :24])     # a smaller shift: more of HR in the reference
    assert not torch.equal(hr[0], hr[1])                      # two rows per photo
    assert torch.equal(superres.test_references(32, shifts=(1.0,), rows=2)[0], hr)   # the column is set by the largest shift
    one = superres.test_references(32, shifts=(0.5,), rows=1)[0]
    assert one.shape == (4, 3, 32, 32)
    with pytest.raises(ValueError, match="shifts"):
        superres.test_references(32, shifts=(1.5,))


def test_reference_inputs_modes():
    swaps = {"features": torch.randn(2, 4, 3, 3), "pixels": torch.rand(2, 3, 6, 6),
             "weight": torch.tensor([-0.2, 0.7]).view(2, 1, 1, 1).expand(2, 1, 3, 3), "pre_sr": torch.rand(2, 3, 6, 6)}
    m, pix, s = superres.reference_inputs(swaps)
    assert torch.equal(m, swaps["features"]) and torch.equal(pix, swaps["pixels"])
    assert s[0].max() == 0 and torch.allclose(s[1], torch.full((1, 3, 3), 0.7))   # negative similarity = no match
    assert torch.equal(superres.reference_inputs(swaps, "no weight map")[2], torch.ones(2, 1, 3, 3))
    assert all(t.abs().max() == 0 for t in superres.reference_inputs(swaps, "no reference"))
    with pytest.raises(ValueError, match="mode"):
        superres.reference_inputs(swaps, "none")
    with pytest.raises(ValueError, match="missing"):
        superres.reference_inputs({"features": swaps["features"]})


class _Tiny(torch.nn.Module):                          # a stride-2 "feature net" with one tap
    def __init__(self):
        super().__init__()
        self.strides, self.device = {"id": 2}, torch.device("cpu")

    def forward(self, x, layers):
        return {"id": x[:, :2, ::2, ::2]}


def test_srntt_loss_and_prediction():
    from course_lib.nets import superres as srnets

    torch.manual_seed(0)
    net = srnets.TextureTransferNet(feat_channels=2, width=4, n_blocks=1)
    hr = torch.rand(2, 3, 16, 16)
    lr = images.downsample(hr, 4)
    swaps = {"features": torch.rand(2, 2, 8, 8), "pixels": torch.rand(2, 3, 16, 16), "weight": torch.rand(2, 1, 8, 8),
             "pre_sr": images.upsample(lr, 4)}
    batch = (hr, lr, *superres.reference_inputs(swaps)[:2], swaps["pre_sr"], swaps["weight"])
    loss, logs = superres.srntt_loss(net, batch, _Tiny(), "id", tex_weight=0.5)
    out = net(lr, *batch[2:])
    assert logs["rec"].item() == pytest.approx((out - hr).abs().mean().item())
    assert logs["tex"].item() > 0
    assert loss.item() == pytest.approx(logs["rec"].item() + 0.5 * logs["tex"].item())
    none = (hr, lr, *superres.reference_inputs(swaps, "no reference")[:2], swaps["pre_sr"],
            superres.reference_inputs(swaps, "no reference")[2])
    loss0, logs0 = superres.srntt_loss(net, none, _Tiny(), "id", tex_weight=0.5)
    assert logs0["tex"].item() == 0 and loss0.item() == pytest.approx(logs0["rec"].item())
    with pytest.raises(ValueError, match="tex_weight"):
        superres.srntt_loss(net, batch, _Tiny(), "id", tex_weight=-1)
    net.train()
    sr = superres.super_resolve_with_reference(net, lr, swaps)
    assert net.training                                 # the training flag is restored
    assert sr.shape == hr.shape and torch.allclose(sr, net(lr, *batch[2:]).clamp(0, 1), atol=1e-6)
    with pytest.raises(ValueError, match="swaps are for"):
        superres.super_resolve_with_reference(net, lr[:1], swaps)


def test_bad_inputs_raise_early():
    with pytest.raises(ValueError, match="content"):
        superres.feature_swap(torch.randn(2, 4, 4), torch.randn(1, 2, 4, 4), torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match="lr must be > 0"):
        superres.srgan_variant(superres.mse_content, lr=0)

    class Stride2(torch.nn.Module):                    # a stride-2 "feature net"
        def __init__(self):
            super().__init__()
            self.strides, self.device = {"s2": 2}, torch.device("cpu")

        def forward(self, x, layers):
            return {"s2": x[..., ::2, ::2]}

    lr, ref = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 16, 16)
    with pytest.raises(ValueError, match="unknown layer"):
        superres.srntt_swap(lr, ref, Stride2(), "relu3_1")
    with pytest.raises(ValueError, match="divisible by the feature stride"):
        superres.srntt_swap(torch.rand(1, 3, 5, 5), ref, Stride2(), "s2", scale=1)
    out = superres.srntt_swap(lr, ref, Stride2(), "s2")
    assert out["pixels"].shape == (1, 3, 16, 16) and out["features"].shape == (1, 3, 8, 8)
