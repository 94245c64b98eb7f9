"""course_lib.nets.classifier: the course classifier (the feature network of the MNIST-like metrics)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib.nets import classifier


@pytest.mark.parametrize("channels, size, classes", [(1, 28, 10), (3, 32, 5), (1, 30, 2)])
def test_shapes_for_documented_sizes(channels, size, classes):
    torch.manual_seed(0)
    net = classifier.Classifier(channels=channels, num_classes=classes, image_size=size, feature_dim=32).eval()
    x = torch.rand(4, channels, size, size)
    assert net(x).shape == (4, classes)
    assert net.features(x).shape == net.embedding(x).shape == (4, 32)


def test_parameter_count_closed_form():
    # conv 1->16, 16->32 (BN), 32->32, 32->64 (BN) with 3x3 kernels; fc 64*7*7 -> 128; fc 128 -> 10
    n = (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32 + 64) + (32 * 32 * 9 + 32) + (32 * 64 * 9 + 64 + 128) \
        + (64 * 7 * 7 * 128 + 128) + (128 * 10 + 10)
    assert sum(p.numel() for p in classifier.Classifier().parameters()) == n == 435_562


def test_features_are_the_relu_of_the_embedding():
    torch.manual_seed(0)
    net = classifier.Classifier().eval()
    x = torch.rand(6, 1, 28, 28)
    emb, feats = net.embedding(x), net.features(x)
    assert torch.allclose(feats, emb.clamp_min(0))
    assert (emb < 0).any()                                     # the embedding keeps the negative side


def test_forward_is_deterministic_in_eval_mode_only():
    torch.manual_seed(0)
    net = classifier.Classifier(dropout=0.5)
    x = torch.rand(8, 1, 28, 28)
    net.eval()
    assert torch.equal(net(x), net(x))
    net.train()
    assert not torch.equal(net(x), net(x))                     # dropout draws a new mask per call


def test_gradients_reach_every_parameter():
    torch.manual_seed(0)
    net = classifier.Classifier(feature_dim=16)
    loss = nn.functional.cross_entropy(net(torch.rand(8, 1, 28, 28)), torch.arange(8) % 10)
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_bad_input_errors():
    net = classifier.Classifier()
    with pytest.raises(ValueError, match=r"x must be 28x28 images in \[0, 1\], got shape \(2, 1, 32, 32\); "
                                         r"resize with data.resize\(x, 28\)"):
        net(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="x must have 1 channels"):
        net.features(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\)"):
        net.embedding(torch.rand(28, 28))
    with pytest.raises(TypeError, match="floating-point"):
        net(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        classifier.Classifier(num_classes=0)
