"""Networks of the conditional GAN family on 28x28 MNIST (notebook 08); they know nothing of losses.

Every discriminator here shares one small DCGAN-style trunk (:class:`Trunk`, 28 -> 14 -> 7) and
differs only in its inputs and heads::

    G = conditional.ConditionalGenerator(latent_dim=64, num_classes=10)      # G(z, y), Mirza & Osindero
    D = conditional.ConditionalDiscriminator(num_classes=10)                 # D(x, y)
    D = conditional.HeadsDiscriminator({"class": 10})                        # AC-GAN: (source, class logits)
    D = conditional.HeadsDiscriminator({"code": 12})                         # (source, Q(c|x) params) on the trunk
    G, D = conditional.InfoGenerator(74), conditional.InfoDiscriminator(12)  # InfoGAN's MNIST nets (FC layers)
    E, D = conditional.Encoder(64), conditional.JointDiscriminator(64)       # BiGAN / ALI: E(x), D(x, z)
    G, E, D = conditional.MLPGenerator(50), conditional.MLPEncoder(50), conditional.MLPJointDiscriminator(50)
                                                                             # BiGAN, fully connected (its MNIST nets)
    D = conditional.SemiSupervisedDiscriminator(10)                          # K logits -> (log Z, logits, feats)
    D = conditional.MLPSemiSupervisedDiscriminator(10)                       # the same, Salimans et al.'s MNIST MLP

Images are in [-1, 1] (Tanh generators); labels are integer class indices (B,).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from . import dcgan


def one_hot(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Integer labels (B,) in [0, num_classes) -> float one-hot vectors (B, num_classes).

    Raises a clear error for labels of the wrong shape, type or range.
    """
    checks.ndim(y, "y", 1, "(B,) integer class labels")
    if y.dtype.is_floating_point:
        raise TypeError(f"y must hold integer class labels (torch.long), got dtype {y.dtype}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got values in [{int(y.min())}, {int(y.max())}]")
    return F.one_hot(y.long(), num_classes).float()


def _positive(value: float, name: str) -> float:
    if not (isinstance(value, (int, float)) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _check_28(x: torch.Tensor, channels: int) -> None:
    checks.image_batch(x, "x", channels=channels)
    if tuple(x.shape[-2:]) != (28, 28):
        raise ValueError(f"x must be 28x28 images in [-1, 1], got shape {tuple(x.shape)}")


class Trunk(nn.Module):
    """x (B, C, 28, 28) -> features (B, 2 * width * 7 * 7): conv(4, /2) - LReLU - conv(4, /2) - [BN] - LReLU.

    Args:
        channels: input channels (image channels plus any label maps).
        width: channels of the first conv (the second has 2 * width).
        batch_norm: batch norm after the second conv (DCGAN guideline 2).
        dropout: dropout after each block (ALI and the semi-supervised GAN use it instead of batch norm).
    """

    def __init__(self, channels: int = 1, width: int = 32, batch_norm: bool = True, dropout: float = 0.0):
        super().__init__()
        checks.positive_int(channels, "channels")
        checks.positive_int(width, "width")
        self.channels, self.feature_dim = channels, 2 * width * 7 * 7
        drop = [nn.Dropout(dropout)] if dropout > 0 else []
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True), *drop,                   # 28 -> 14
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm),                             # 14 -> 7
            *([nn.BatchNorm2d(2 * width)] if batch_norm else []), nn.LeakyReLU(0.2, True), *drop,
            nn.Flatten())                                                                          # (B, 2w * 49)
        dcgan.init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# ----------------------------------------------------------------------------------------
# Conditional GAN (Mirza & Osindero 2014)
# ----------------------------------------------------------------------------------------
class ConditionalGenerator(nn.Module):
    """G(z, y): the label enters as a one-hot vector (or a learned embedding) concatenated to z.

    Args:
        latent_dim: size of z.
        num_classes: K.
        width: width of the DCGAN generator (``nets.dcgan.Generator``, 7 -> 14 -> 28).
        embedding_dim: None: one-hot (K); else a learned ``nn.Embedding(K, embedding_dim)``.
        label_scale: the one-hot is multiplied by this. With z ~ N(0, I) of 62 dimensions and a 0/1
            one-hot, y is 1 of 63 units of input variance at the first layer: G hears it faintly and learns
            to follow it slowly (notebook 08 measures it); a scale of 3 gives y a share of 9/71.

    Shapes:
        z (B, latent_dim), y (B,) long -> x (B, 1, 28, 28) in [-1, 1].

    Reference:
        Mirza & Osindero, "Conditional Generative Adversarial Nets", arXiv:1411.1784, Sec. 3.2 (Fig. 1).
    """

    def __init__(self, latent_dim: int = 64, num_classes: int = 10, width: int = 32, embedding_dim: int | None = None,
                 label_scale: float = 1.0):
        super().__init__()
        self.latent_dim = checks.positive_int(latent_dim, "latent_dim")
        self.num_classes = checks.positive_int(num_classes, "num_classes")
        self.label_scale = _positive(label_scale, "label_scale")
        self.embed = nn.Embedding(num_classes, embedding_dim) if embedding_dim else None
        label_dim = embedding_dim or num_classes
        self.net = dcgan.Generator(latent_dim + label_dim, 1, 28, width)

    def label_vector(self, y: torch.Tensor) -> torch.Tensor:
        """(B,) labels -> (B, K) one-hot times ``label_scale``, or (B, embedding_dim) embedding."""
        if self.embed is None:
            return self.label_scale * one_hot(y, self.num_classes)
        one_hot(y, self.num_classes)                       # validates the labels
        return self.embed(y.long())

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        if len(y) != len(z):
            raise ValueError(f"z has {len(z)} rows but y has {len(y)}: one label per latent")
        return self.net(torch.cat([z, self.label_vector(y).to(z)], 1))


class ConditionalDiscriminator(nn.Module):
    """D(x, y): the one-hot label is broadcast to K constant maps concatenated to the image channels.

    Args:
        num_classes: K.
        width: trunk width.
        channels: image channels.
        projection: also add the inner product of a label embedding with the features to the score
            (Miyato & Koyama 2018): a stronger way of feeding y to D.
        label_scale: value of the "on" label map (the others are 0). Through the first convolution a
            constant map is a class-dependent bias; its size sets how fast D can start to use y.

    Shapes:
        x (B, 1, 28, 28) in [-1, 1], y (B,) long -> raw scores (B,).

    Reference:
        Mirza & Osindero 2014, Sec. 3.2; the label-map concatenation of Radford et al. 2016 / Reed et al. 2016;
        Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018, arXiv:1802.05637, Eq. (3).
    """

    def __init__(self, num_classes: int = 10, width: int = 32, channels: int = 1, projection: bool = False,
                 label_scale: float = 1.0):
        super().__init__()
        self.num_classes, self.channels = checks.positive_int(num_classes, "num_classes"), channels
        self.label_scale = _positive(label_scale, "label_scale")
        self.trunk = Trunk(channels + num_classes, width)
        self.head = nn.Linear(self.trunk.feature_dim, 1)
        self.embed = nn.Embedding(num_classes, self.trunk.feature_dim) if projection else None
        if projection:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        _check_28(x, self.channels)
        if len(y) != len(x):
            raise ValueError(f"x has {len(x)} images but y has {len(y)} labels")
        maps = (self.label_scale * one_hot(y, self.num_classes)).to(x)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
        h = self.trunk(torch.cat([x, maps], 1))                  # (B, F)
        score = self.head(h).reshape(len(x))
        if self.embed is not None:                               # + <embed(y), h>  (projection)
            score = score + (self.embed(y.long()).to(h) * h).sum(1)
        return score


# ----------------------------------------------------------------------------------------
# AC-GAN and InfoGAN: one trunk, a source head and extra heads
# ----------------------------------------------------------------------------------------
class HeadsDiscriminator(nn.Module):
    """D(x) -> (source scores (B,), extra head outputs): AC-GAN's class head or InfoGAN's Q head.

    All heads share the convolutional trunk, as in both papers (Q shares all conv layers with D).

    Args:
        heads: ``{name: out_dim}``, e.g. ``{"class": 10}`` (AC-GAN) or ``{"code": 10 + 2 * 2}`` (InfoGAN:
            categorical logits, then a mean and a log-std per continuous code). One head -> D returns
            ``(scores, out)``; several -> ``(scores, out_1, out_2, ...)`` in the dict's order.
        width: trunk width.
        hidden: width of a hidden layer in front of each extra head (InfoGAN's Q uses one); 0: none.
        channels: image channels.
        batch_norm, dropout: passed to :class:`Trunk`.

    Reference:
        Odena et al., "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML 2017,
        arXiv:1610.09585, Sec. 3; Chen et al., "InfoGAN", NeurIPS 2016, arXiv:1606.03657, Sec. 6 / App. C.
    """

    def __init__(self, heads: Mapping[str, int], width: int = 32, hidden: int = 0, channels: int = 1,
                 batch_norm: bool = True, dropout: float = 0.0):
        super().__init__()
        if not heads:
            raise ValueError("give at least one extra head, e.g. heads={'class': 10}")
        self.channels = channels
        self.trunk = Trunk(channels, width, batch_norm, dropout)
        f = self.trunk.feature_dim
        self.source = nn.Linear(f, 1)
        self.heads = nn.ModuleDict()
        for name, k in heads.items():
            checks.positive_int(k, f"heads[{name!r}]")
            self.heads[name] = (nn.Sequential(nn.Linear(f, hidden), nn.LeakyReLU(0.2, True), nn.Linear(hidden, k))
                                if hidden else nn.Linear(f, k))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        _check_28(x, self.channels)
        h = self.trunk(x)
        return (self.source(h).reshape(len(x)), *(head(h) for head in self.heads.values()))


class InfoGenerator(nn.Module):
    """InfoGAN's MNIST generator: two fully connected layers, then two transposed convolutions.

    input - FC ``hidden`` - BN - ReLU - FC 7x7x(2 width) - BN - ReLU - upconv(4, x2) ``width`` - BN - ReLU -
    upconv(4, x2) 1 - Tanh. The paper's sizes are hidden 1024, width 64; the first FC layer lets every input unit
    (each value of the categorical code) reach the whole image at once.

    Args:
        in_dim: size of G's input (noise + codes).
        width: channels at 14x14 (2 width at 7x7).
        hidden: units of the first FC layer.

    Shapes:
        (B, in_dim) -> (B, 1, 28, 28) in [-1, 1].

    Reference:
        Chen et al., "InfoGAN", NeurIPS 2016, arXiv:1606.03657, App. C, Table 1 (MNIST).
    """

    def __init__(self, in_dim: int, width: int = 64, hidden: int = 1024):
        super().__init__()
        self.latent_dim = checks.positive_int(in_dim, "in_dim")
        self.width = checks.positive_int(width, "width")
        checks.positive_int(hidden, "hidden")
        self.fc = nn.Sequential(
            nn.Linear(in_dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * width * 49, bias=False), nn.BatchNorm1d(2 * width * 49), nn.ReLU(True))
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),  # 7 -> 14
            nn.ConvTranspose2d(width, 1, 4, 2, 1), nn.Tanh())                                                 # 14 -> 28
        dcgan.init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.ndim(x, "input", 2, f"(B, {self.latent_dim})")
        if x.shape[1] != self.latent_dim:
            raise ValueError(f"InfoGenerator was built for inputs of size {self.latent_dim}, got {tuple(x.shape)}")
        return self.up(self.fc(x).reshape(len(x), 2 * self.width, 7, 7))


class InfoDiscriminator(nn.Module):
    """InfoGAN's MNIST D and Q: one body, a source output and a Q head -> (scores (B,), q (B, q_dim)).

    Body: conv(4, /2) ``width`` - LReLU - conv(4, /2) 2 width - BN - LReLU - FC ``hidden`` - BN - LReLU; D: FC 1;
    Q: FC ``q_hidden`` - BN - LReLU - FC q_dim (Q shares every layer of D but the last, as in the paper).

    Args:
        q_dim: outputs of Q (``InfoCodes.q_dim``).
        width: channels of the first conv.
        hidden: units of the shared FC layer (1024 in the paper).
        q_hidden: units of Q's hidden layer (128 in the paper).

    Shapes:
        x (B, 1, 28, 28) in [-1, 1] -> (scores (B,), q (B, q_dim)).

    Reference:
        Chen et al., "InfoGAN", NeurIPS 2016, arXiv:1606.03657, Sec. 6 and App. C, Table 1 (MNIST).
    """

    def __init__(self, q_dim: int, width: int = 64, hidden: int = 1024, q_hidden: int = 128):
        super().__init__()
        checks.positive_int(q_dim, "q_dim")
        checks.positive_int(width, "width")
        checks.positive_int(hidden, "hidden")
        checks.positive_int(q_hidden, "q_hidden")
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2, True),                                            # 28 -> 14
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, True),  # -> 7
            nn.Flatten(), nn.Linear(2 * width * 49, hidden, bias=False), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True))
        self.source = nn.Linear(hidden, 1)
        self.q = nn.Sequential(nn.Linear(hidden, q_hidden, bias=False), nn.BatchNorm1d(q_hidden),
                               nn.LeakyReLU(0.2, True), nn.Linear(q_hidden, q_dim))
        dcgan.init_weights(self)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_28(x, 1)
        h = self.body(x)
        return self.source(h).reshape(len(x)), self.q(h)


# ----------------------------------------------------------------------------------------
# BiGAN / ALI
# ----------------------------------------------------------------------------------------
class Encoder(nn.Module):
    """E(x): images (B, 1, 28, 28) in [-1, 1] -> latents (B, latent_dim) (deterministic, as in BiGAN).

    Batch norm in the trunk (as BiGAN's encoders): without it, D told (x, E(x)) from (G(z), z) perfectly
    within a few hundred steps in our MNIST runs (d_acc -> 1) and training stalled.

    Reference:
        Donahue et al., "Adversarial Feature Learning", ICLR 2017, arXiv:1605.09782, Sec. 3.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, channels: int = 1, batch_norm: bool = True):
        super().__init__()
        self.latent_dim, self.channels = checks.positive_int(latent_dim, "latent_dim"), channels
        self.trunk = Trunk(channels, width, batch_norm=batch_norm)
        self.head = nn.Linear(self.trunk.feature_dim, latent_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_28(x, self.channels)
        return self.head(self.trunk(x))


class BiGANGenerator(nn.Module):
    """"The generator" of a BiGAN for the engine: holds G and E so that one optimiser trains both.

    ``forward(z) = G(z)``; ``encode(x) = E(x)``. The engine's generator optimiser covers the
    parameters of both networks (BiGAN's min over G and E) and the checkpoint saves both.
    """

    def __init__(self, generator: nn.Module, encoder: nn.Module):
        super().__init__()
        self.generator, self.encoder = generator, encoder

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator(z)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)


class JointDiscriminator(nn.Module):
    """D(x, z) on joint pairs: a conv trunk on x, an MLP on z, an MLP on both (with dropout, as in ALI).

    Args:
        latent_dim: size of z.
        width: trunk width.
        hidden: width of the z branch and of the joint layer.
        dropout: dropout in every branch (ALI uses 0.2; notebook 08 uses 0.5: it keeps D from winning outright).
        channels: image channels.

    Shapes:
        x (B, 1, 28, 28) in [-1, 1], z (B, latent_dim) -> raw scores (B,).

    Reference:
        Donahue et al. 2017, arXiv:1605.09782, Sec. 3; Dumoulin et al., "Adversarially Learned Inference",
        ICLR 2017, arXiv:1606.00704, App. A (D_x, D_z, D_xz).
    """

    def __init__(self, latent_dim: int = 64, width: int = 32, hidden: int = 256, dropout: float = 0.2,
                 channels: int = 1):
        super().__init__()
        self.latent_dim, self.channels = checks.positive_int(latent_dim, "latent_dim"), channels
        self.trunk = Trunk(channels, width, batch_norm=False, dropout=dropout)
        self.z_net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2, True), nn.Dropout(dropout))
        self.joint = nn.Sequential(nn.Linear(self.trunk.feature_dim + hidden, hidden), nn.LeakyReLU(0.2, True),
                                   nn.Dropout(dropout), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        _check_28(x, self.channels)
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        if len(z) != len(x):
            raise ValueError(f"x has {len(x)} images but z has {len(z)} rows: D scores (x, z) pairs")
        return self.joint(torch.cat([self.trunk(x), self.z_net(z)], 1)).reshape(len(x))


class MLPEncoder(nn.Module):
    """E(x) as an MLP: images (B, 1, 28, 28) in [-1, 1] -> latents (B, latent_dim), deterministic.

    784 - hidden - LReLU - hidden - BN - LReLU - latent_dim (the MNIST encoder of BiGAN, narrower).

    Reference:
        Donahue et al., "Adversarial Feature Learning", ICLR 2017, arXiv:1605.09782, Sec. 4.2 (permutation-invariant
        MNIST: fully connected G, E and D, latent dimension 50).
    """

    def __init__(self, latent_dim: int = 50, hidden: int = 512, channels: int = 1):
        super().__init__()
        self.latent_dim, self.channels = checks.positive_int(latent_dim, "latent_dim"), channels
        checks.positive_int(hidden, "hidden")
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(channels * 784, hidden), nn.LeakyReLU(0.2, True),
                                 nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2, True),
                                 nn.Linear(hidden, latent_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_28(x, self.channels)
        return self.net(x)


class MLPGenerator(nn.Module):
    """G(z) as an MLP: latents (B, latent_dim) -> images (B, 1, 28, 28) in [-1, 1].

    latent_dim - hidden - BN - act - hidden - BN - act - 784 - Tanh.

    Args:
        latent_dim: size of z.
        hidden: width of both hidden layers.
        channels: image channels.
        activation: ``"relu"`` (BiGAN) or ``"softplus"`` (the semi-supervised GAN of Salimans et al.).
        weight_norm: weight normalisation on the output layer (Salimans et al.'s MNIST generator).

    Reference:
        Donahue et al. 2017, arXiv:1605.09782, Sec. 4.2 (fully connected MNIST generator with batch norm);
        Salimans et al. 2016, arXiv:1606.03498, Sec. 5 and their released ``train_mnist_feature_matching.py``
        (500 - 500 softplus units with batch norm, weight-normalised output).
    """

    def __init__(self, latent_dim: int = 50, hidden: int = 512, channels: int = 1, activation: str = "relu",
                 weight_norm: bool = False):
        super().__init__()
        self.latent_dim, self.channels = checks.positive_int(latent_dim, "latent_dim"), channels
        checks.positive_int(hidden, "hidden")
        act = {"relu": lambda: nn.ReLU(True), "softplus": nn.Softplus}[checks.one_of(activation, "activation",
                                                                                    ("relu", "softplus"))]
        out = nn.Linear(hidden, channels * 784)
        self.net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.BatchNorm1d(hidden), act(),
                                 nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), act(),
                                 nn.utils.parametrizations.weight_norm(out) if weight_norm else out, nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        return self.net(z).reshape(len(z), self.channels, 28, 28)


class MLPJointDiscriminator(nn.Module):
    """D(x, z) with fully connected paths: x -> hidden, z -> hidden, joined late by an MLP (dropout everywhere).

    Args:
        latent_dim: size of z.
        hidden: width of the x path, the z path and the joint layer.
        dropout: dropout on the input image and after every hidden layer (keeps D from winning outright).
        channels: image channels.

    Shapes:
        x (B, 1, 28, 28) in [-1, 1], z (B, latent_dim) -> raw scores (B,).

    Reference:
        Donahue et al. 2017, arXiv:1605.09782, Sec. 4.2; Dumoulin et al., "Adversarially Learned Inference",
        ICLR 2017, arXiv:1606.00704, App. A (separate D_x and D_z joined by D_xz, dropout).
    """

    def __init__(self, latent_dim: int = 50, hidden: int = 512, dropout: float = 0.2, channels: int = 1):
        super().__init__()
        self.latent_dim, self.channels = checks.positive_int(latent_dim, "latent_dim"), channels
        checks.positive_int(hidden, "hidden")
        self.x_net = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels * 784, hidden),
                                   nn.LeakyReLU(0.2, True), nn.Dropout(dropout))
        self.z_net = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2, True), nn.Dropout(dropout))
        self.joint = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.2, True), nn.Dropout(dropout),
                                   nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        _check_28(x, self.channels)
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        if len(z) != len(x):
            raise ValueError(f"x has {len(x)} images but z has {len(z)} rows: D scores (x, z) pairs")
        return self.joint(torch.cat([self.x_net(x), self.z_net(z)], 1)).reshape(len(x))


# ----------------------------------------------------------------------------------------
# Semi-supervised GAN (Salimans et al. 2016)
# ----------------------------------------------------------------------------------------
class SemiSupervisedDiscriminator(nn.Module):
    """A K-class classifier read as a K+1-class one: returns (log Z(x), logits (B, K), features (B, F)).

    With the fake class's logit fixed at 0, $D(x) = Z(x) / (Z(x) + 1)$, $Z(x) = \\sum_k \\exp l_k(x)$, so
    the GAN's real/fake logit is $\\log Z(x) = \\mathrm{logsumexp}_k\\, l_k(x)$: the engine's adversarial loss
    sees it as the score; the class logits and the penultimate features (for feature matching) follow.

    Args:
        num_classes: K.
        width: trunk width.
        hidden: width of the penultimate layer (the feature-matching features).
        dropout: dropout in the trunk (Salimans et al. use dropout and no batch norm in D).
        noise_std: std of Gaussian noise added to the input in training mode (the paper adds it to every layer).
        channels: image channels.

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498, Sec. 5.
    """

    def __init__(self, num_classes: int = 10, width: int = 32, hidden: int = 128, dropout: float = 0.3,
                 noise_std: float = 0.0, channels: int = 1):
        super().__init__()
        self.num_classes, self.channels = checks.positive_int(num_classes, "num_classes"), channels
        self.noise_std = float(noise_std)
        self.trunk = Trunk(channels, width, batch_norm=False, dropout=dropout)
        self.features = nn.Sequential(nn.Linear(self.trunk.feature_dim, hidden), nn.LeakyReLU(0.2, True))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [-1, 1] -> class logits (B, K)."""
        return self.forward(x)[1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_28(x, self.channels)
        if self.training and self.noise_std > 0:
            x = x + self.noise_std * torch.randn_like(x)
        h = self.features(self.trunk(x))
        logits = self.classifier(h)
        return torch.logsumexp(logits.float(), 1), logits, h


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise in training mode; the identity in eval mode (Salimans et al.'s D regulariser)."""

    def __init__(self, std: float):
        super().__init__()
        if not (isinstance(std, (int, float)) and std >= 0):
            raise ValueError(f"std must be a number >= 0, got {std!r}")
        self.std = float(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.std * torch.randn_like(x) if self.training and self.std > 0 else x

    def extra_repr(self) -> str:
        return f"std={self.std}"


class MLPSemiSupervisedDiscriminator(nn.Module):
    """Salimans et al.'s MNIST D: a K-class MLP with Gaussian noise on every layer, read as K+1 classes.

    noise(0.3) - [FC - ReLU - noise(0.5)] per hidden layer - FC K, every FC weight-normalised; returns
    ``(log Z(x) (B,), logits (B, K), features (B, hidden[-1]))`` like :class:`SemiSupervisedDiscriminator`
    (the features, before the last noise, are what feature matching compares).

    Args:
        num_classes: K.
        hidden: widths of the hidden layers (the paper: 1000, 500, 250, 250, 250).
        noise_input, noise_hidden: std of the Gaussian noise on the input and after each hidden layer (0.3, 0.5).
        weight_norm: weight-normalise every layer (Salimans & Kingma 2016; the paper's D uses it).
        channels: image channels.

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498, Sec. 5 and
        App. / released code ``train_mnist_feature_matching.py``.
    """

    def __init__(self, num_classes: int = 10, hidden: tuple[int, ...] = (1000, 500, 250, 250, 250),
                 noise_input: float = 0.3, noise_hidden: float = 0.5, weight_norm: bool = True, channels: int = 1):
        super().__init__()
        self.num_classes, self.channels = checks.positive_int(num_classes, "num_classes"), channels
        if not hidden or any(not isinstance(h, int) or h <= 0 for h in hidden):
            raise ValueError(f"hidden must be a non-empty tuple of positive widths, got {hidden!r}")
        wn = nn.utils.parametrizations.weight_norm if weight_norm else (lambda m: m)
        layers: list[nn.Module] = [nn.Flatten(), GaussianNoise(noise_input)]
        d = channels * 784
        for i, h in enumerate(hidden):
            layers += [wn(nn.Linear(d, h)), nn.ReLU(True)] + ([GaussianNoise(noise_hidden)] if i < len(hidden) - 1 else [])
            d = h
        self.body = nn.Sequential(*layers)                   # -> features (B, hidden[-1])
        self.head = nn.Sequential(GaussianNoise(noise_hidden), wn(nn.Linear(d, num_classes)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) in [-1, 1] -> class logits (B, K)."""
        return self.forward(x)[1]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        _check_28(x, self.channels)
        h = self.body(x)
        logits = self.head(h)
        return torch.logsumexp(logits.float(), 1), logits, h

