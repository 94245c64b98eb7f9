"""The course classifier: a small CNN trained once per dataset, used as the feature network of
FID / Inception-score style metrics on MNIST-like data (see :func:`course_lib.metrics.course_classifier`).

    net = classifier.Classifier(channels=1, num_classes=10, image_size=28)
    logits = net(x)              # x (B, 1, 28, 28) in [0, 1] -> (B, 10)
    feats = net.features(x)      # (B, feature_dim), the penultimate layer (after its ReLU)
    emb = net.embedding(x)       # (B, feature_dim), the same layer before its ReLU: the FID features
"""

from __future__ import annotations

import torch
from torch import nn

from .. import checks


class Classifier(nn.Module):
    """conv(16) - conv(32, /2) - conv(32) - conv(64, /2) - fc(feature_dim) - fc(classes).

    Args:
        channels: image channels.
        num_classes: number of labels.
        image_size: side of the square input images.
        feature_dim: width of the penultimate layer (the FID features).
        dropout: dropout before the last layer.
    """

    def __init__(self, channels: int = 1, num_classes: int = 10, image_size: int = 28, feature_dim: int = 128,
                 dropout: float = 0.3):
        super().__init__()
        for v, n in ((channels, "channels"), (num_classes, "num_classes"), (image_size, "image_size"),
                     (feature_dim, "feature_dim")):
            checks.positive_int(v, n)
        self.channels, self.num_classes, self.image_size, self.feature_dim = channels, num_classes, image_size, feature_dim
        self.body = nn.Sequential(
            nn.Conv2d(channels, 16, 3, 1, 1), nn.ReLU(True),
            nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(True),      # H -> H/2
            nn.Conv2d(32, 32, 3, 1, 1), nn.ReLU(True),
            nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(True),      # H/2 -> H/4
            nn.Flatten(),                                                       # (B, 64 * ceil(H/4)^2)
            nn.Linear(64 * ((image_size + 3) // 4) ** 2, feature_dim), nn.ReLU(True))
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(feature_dim, num_classes))

    def _check(self, x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x", channels=self.channels)
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"x must be {self.image_size}x{self.image_size} images in [0, 1], got shape "
                             f"{tuple(x.shape)}; resize with data.resize(x, {self.image_size})")
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, feature_dim) penultimate activations."""
        return self.body(self._check(x))

    def embedding(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, feature_dim) penultimate pre-activations.

        The FID features: after the ReLU some units are zero for every input ("dead"), which
        makes the feature covariance rank-deficient; before it every unit varies.
        """
        return self.body[:-1](self._check(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) in [0, 1] -> (B, num_classes) logits."""
        return self.head(self.features(x))
