"""Networks of text-to-image synthesis (Reed et al. 2016): a text-conditional DCGAN, a char-level
text encoder, an image encoder for the joint embedding and the style encoder S(x).

    G = text2image.Generator(latent_dim=64, embed_dim=384, image_size=32)
    x_fake = G(z, phi_t)                  # z (B, 64), phi_t (B, 384) -> (B, 3, 32, 32) in [-1, 1]
    D = text2image.Discriminator(embed_dim=384, image_size=32)
    logits = D(x, phi_t)                  # (B,) raw scores: "real image AND matching text"
    enc = text2image.CharEncoder(out_dim=128)
    phi = enc(tokens)                     # tokens (B, L) char ids (0 = padding) -> (B, 128), unit norm
    S = text2image.StyleEncoder(latent_dim=64, image_size=32)
    z_hat = S(x)                          # (B, 3, 32, 32) in [-1, 1] -> (B, 64)

The generator and discriminator follow Reed et al., Sec. 4 / Fig. 2: the text embedding phi(t) is
compressed by a fully connected layer + leaky ReLU (128 units in the paper) and concatenated to z in
G; in D it is compressed the same way, replicated spatially over D's last 4x4 feature map,
concatenated depth-wise, and a 1x1 convolution then the final 4x4 convolution give the score. The
convolutional bodies are those of :mod:`course_lib.nets.dcgan`. Networks know nothing of losses
(see :mod:`course_lib.text2image`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from . import dcgan


def _check_embedding(phi: torch.Tensor, embed_dim: int, batch: int | None = None) -> torch.Tensor:
    checks.ndim(phi, "phi_t (the text embedding)", 2, f"(B, {embed_dim})")
    if phi.shape[1] != embed_dim:
        raise ValueError(f"phi_t must have {embed_dim} features (the text encoder's size), got {tuple(phi.shape)}")
    if batch is not None and phi.shape[0] != batch:
        raise ValueError(f"phi_t has {phi.shape[0]} rows but the batch has {batch}: one caption per image")
    return phi


class Projection(nn.Module):
    """The compression of the text embedding: phi(t) (B, embed_dim) -> (B, proj_dim), FC + LeakyReLU(0.2).

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Sec. 4 ("a fully-connected layer to a small dimension (128)
        followed by leaky-ReLU").
    """

    def __init__(self, embed_dim: int, proj_dim: int = 128):
        super().__init__()
        self.embed_dim = checks.positive_int(embed_dim, "embed_dim")
        self.proj_dim = checks.positive_int(proj_dim, "proj_dim")
        self.net = nn.Sequential(nn.Linear(embed_dim, proj_dim), nn.LeakyReLU(0.2, True))

    def forward(self, phi: torch.Tensor) -> torch.Tensor:
        return self.net(_check_embedding(phi, self.embed_dim))


class Generator(nn.Module):
    """G(z, phi(t)): z (B, latent_dim) and a text embedding (B, embed_dim) -> images (B, C, S, S) in [-1, 1].

    ``[z, project(phi(t))]`` (B, latent_dim + proj_dim) is decoded by a DCGAN generator.

    Args:
        latent_dim: size of z (100 in the paper).
        embed_dim: size of the text embedding phi(t) (1024 char-CNN-RNN in the paper; 384 MiniLM here).
        proj_dim: size of the compressed embedding (128 in the paper).
        channels: image channels.
        image_size: 28, 32 or 64 (64 in the paper).
        width: channels of the last hidden layer of the DCGAN body.

    Reference:
        Reed et al., "Generative Adversarial Text to Image Synthesis", ICML 2016, arXiv:1605.05396, Fig. 2.
    """

    def __init__(self, latent_dim: int = 100, embed_dim: int = 384, proj_dim: int = 128, channels: int = 3,
                 image_size: int = 32, width: int = 64):
        super().__init__()
        self.latent_dim = checks.positive_int(latent_dim, "latent_dim")
        self.embed_dim = embed_dim
        self.project = Projection(embed_dim, proj_dim)
        self.body = dcgan.Generator(latent_dim + proj_dim, channels, image_size, width)

    def forward(self, z: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        checks.ndim(z, "z", 2, f"(B, {self.latent_dim})")
        if z.shape[1] != self.latent_dim:
            raise ValueError(f"z must be (B, {self.latent_dim}), got {tuple(z.shape)}")
        phi = _check_embedding(phi, self.embed_dim, len(z))
        return self.body(torch.cat([z, self.project(phi)], 1))      # (B, latent + proj) -> image


class Discriminator(nn.Module):
    """D(x, phi(t)): images (B, C, S, S) in [-1, 1] and text embeddings (B, embed_dim) -> raw scores (B,).

    DCGAN convolutions bring x to a (B, c, 4, 4) map; the compressed embedding (B, proj_dim) is
    replicated to (B, proj_dim, 4, 4) and concatenated; a 1x1 conv (+ BN + LeakyReLU) mixes image and
    text, and a 4x4 conv gives one score.

    Args:
        embed_dim: size of phi(t).
        proj_dim: size of the compressed embedding.
        channels, image_size, width: as :class:`course_lib.nets.dcgan.Discriminator`.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Sec. 4 ("when the spatial dimension of the discriminator is 4x4,
        we replicate the description embedding spatially and perform a depth concatenation").
    """

    def __init__(self, embed_dim: int = 384, proj_dim: int = 128, channels: int = 3, image_size: int = 32,
                 width: int = 64):
        super().__init__()
        self.embed_dim, self.channels, self.image_size = embed_dim, channels, image_size
        body = dcgan.Discriminator(channels, image_size, width)
        self.features = body.features                      # (B, C, S, S) -> (B, c, base, base)
        c, base = body.head.in_channels, body.head.kernel_size[0]
        self.base = base
        self.project = Projection(embed_dim, proj_dim)
        self.joint = nn.Sequential(nn.Conv2d(c + proj_dim, c, 1, 1, 0, bias=False), nn.BatchNorm2d(c),
                                   nn.LeakyReLU(0.2, True))
        self.head = nn.Conv2d(c, 1, base, 1, 0, bias=False)  # (B, c, base, base) -> (B, 1, 1, 1)
        dcgan.init_weights(self)

    def forward(self, x: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x", channels=self.channels)
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"x must be {self.image_size}x{self.image_size} images, got {tuple(x.shape)}")
        phi = _check_embedding(phi, self.embed_dim, len(x))
        h = self.features(x)                                              # (B, c, 4, 4)
        t = self.project(phi)[:, :, None, None].expand(-1, -1, self.base, self.base)   # replicate spatially
        return self.head(self.joint(torch.cat([h, t], 1))).reshape(len(x))


class CharEncoder(nn.Module):
    """A small char-CNN-RNN: character ids (B, L) -> unit-norm text embeddings (B, out_dim).

    Embedding -> two (conv1d + ReLU + max-pool) blocks (L -> L/6) -> a GRU -> the mean of its
    hidden states over the non-padding positions -> linear -> L2 normalisation.

    Args:
        vocab_size: number of character ids (id 0 is padding).
        out_dim: size of the embedding.
        char_dim: size of the character embedding.
        hidden: channels of the convolutions and of the GRU.

    Reference:
        Reed, Akata, Lee & Schiele, "Learning Deep Representations of Fine-grained Visual Descriptions",
        CVPR 2016, arXiv:1605.05395 (char-CNN-RNN); a much smaller version.
    """

    def __init__(self, vocab_size: int, out_dim: int = 128, char_dim: int = 24, hidden: int = 96):
        super().__init__()
        self.vocab_size = checks.positive_int(vocab_size, "vocab_size")
        self.out_dim = checks.positive_int(out_dim, "out_dim")
        self.embed = nn.Embedding(vocab_size, char_dim, padding_idx=0)
        self.conv = nn.Sequential(
            nn.Conv1d(char_dim, hidden, 5, padding="same"), nn.ReLU(True), nn.MaxPool1d(3, ceil_mode=True),  # L -> L/3
            nn.Conv1d(hidden, hidden, 3, padding="same"), nn.ReLU(True), nn.MaxPool1d(2, ceil_mode=True))    # -> L/6
        self.rnn = nn.GRU(hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        checks.ndim(tokens, "tokens", 2, "(B, L) character ids (text2image.encode_chars)")
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens must be integer character ids, got {tokens.dtype}")
        if int(tokens.max()) >= self.vocab_size or int(tokens.min()) < 0:
            raise ValueError(f"tokens must be ids in [0, {self.vocab_size}), got [{int(tokens.min())}, "
                             f"{int(tokens.max())}]")
        h = self.conv(self.embed(tokens).transpose(1, 2))               # (B, hidden, L/6)
        valid = F.max_pool1d((tokens > 0).float()[:, None], 6, ceil_mode=True)[:, 0]   # (B, L/6) 1 = text
        if h.shape[-1] != valid.shape[-1]:
            valid = valid[:, :h.shape[-1]]
        states, _ = self.rnn(h.transpose(1, 2))                         # (B, L/6, hidden)
        mean = (states * valid[..., None]).sum(1) / valid.sum(1, keepdim=True).clamp_min(1)
        return F.normalize(self.out(mean), dim=1)


class ImageEncoder(nn.Module):
    """A small CNN: images (B, C, S, S) in [-1, 1] -> (B, out_dim) (unit norm if ``normalize``).

    Four stride-2 convolutions (BN + LeakyReLU) and a linear layer. Used as the image side of the
    joint text-image embedding, as the caption matcher, and (unnormalised) as the style encoder.

    Args:
        out_dim: output size.
        channels: image channels.
        image_size: side of the input images (a multiple of 16).
        width: channels of the first convolution (doubled at each of the next ones, up to 8 * width).
        normalize: L2-normalise the output (embeddings compared by cosine similarity).
    """

    def __init__(self, out_dim: int = 128, channels: int = 3, image_size: int = 32, width: int = 32,
                 normalize: bool = True):
        super().__init__()
        self.out_dim = checks.positive_int(out_dim, "out_dim")
        self.channels, self.image_size, self.normalize = channels, image_size, normalize
        if image_size % 16:
            raise ValueError(f"image_size must be a multiple of 16, got {image_size}")
        layers: list[nn.Module] = []
        c_in = channels
        for i in range(4):                                                # S -> S/16
            c_out = width * 2 ** min(i, 3)
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0)]
            layers += [nn.BatchNorm2d(c_out)] if i else []
            layers += [nn.LeakyReLU(0.2, True)]
            c_in = c_out
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.out = nn.Linear(c_in * (image_size // 16) ** 2, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x", channels=self.channels)
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"x must be {self.image_size}x{self.image_size} images, got {tuple(x.shape)}")
        h = self.out(self.features(x))
        return F.normalize(h, dim=1) if self.normalize else h


class StyleEncoder(ImageEncoder):
    """S(x): images (B, C, S, S) in [-1, 1] -> the latent z (B, latent_dim) that produced them (style).

    Trained on generated images to invert G's noise input with :func:`course_lib.text2image.style_loss`;
    ``G(S(x), phi(t_new))`` then draws the new caption in the style of x.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Sec. 4.4 (style encoder, Eq. (6)).
    """

    def __init__(self, latent_dim: int = 100, channels: int = 3, image_size: int = 32, width: int = 32):
        super().__init__(latent_dim, channels, image_size, width, normalize=False)
        self.latent_dim = latent_dim
