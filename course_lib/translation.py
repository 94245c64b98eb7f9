"""Data, loss terms and measures for image-to-image translation (notebooks 15 and 16).

Paired tasks for pix2pix are built from the embedded emoji sets, whose Twitter and Google
styles are aligned file by file::

    from course_lib import translation
    pairs = translation.emoji_pairs("train", image_size=32)          # .twitter, .google, .names
    x_in, y = translation.task_pairs("edges", pairs)                 # (N, 1, H, W) edges, (N, 3, H, W) image
    labels, images = translation.scenes(512, 32)                     # procedural label maps and renderings

CycleGAN runs through the shared engine with the two generators and the two discriminators
packed as one module each (``course_lib.nets.translation.CycleGenerator`` /
``CycleDiscriminator``); its extra generator terms are data::

    G = nets.translation.CycleGenerator(g_ab, g_ba)
    v = gan.variant("lsgan", g_terms={"cycle": (10.0, translation.cycle_term(G)),
                                      "identity": (5.0, translation.identity_term(G))})

The ablation measures *correspondence*, which an unpaired method never sees: PSNR/SSIM of
G(a) against the true paired image in the other style, and whether G(a) retrieves its own
partner among all target-style images (:func:`retrieval_accuracy`).

References:
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017, arXiv:1611.07004.
    Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019, arXiv:1903.07291.
    Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks", ICCV 2017,
    arXiv:1703.10593.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checks, data, images, quality, train
from .nets import translation as nets_translation

TASKS = ("edges", "colour", "style")
SCENE_CLASSES = ("sky", "ground", "sun", "tree", "house", "roof")
SCENE_PALETTE = torch.tensor([[0.55, 0.75, 0.95], [0.35, 0.6, 0.25], [1.0, 0.85, 0.2], [0.1, 0.4, 0.15],
                              [0.85, 0.8, 0.7], [0.65, 0.2, 0.15]])   # label colours for display


# ----------------------------------------------------------------------------------------
# Paired data
# ----------------------------------------------------------------------------------------
@dataclass
class EmojiPairs:
    """The same emoji in two styles, row by row.

    Attributes:
        twitter: (N, 3, H, W) in [0, 1], Twemoji style.
        google: (N, 3, H, W) in [0, 1], Noto style (row i is the same emoji as twitter row i).
        names: N captions ("grinning face", "waving hand sign: dark skin tone", ...).
    """

    twitter: torch.Tensor
    google: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.twitter)


def emoji_pairs(split: str = "train", image_size: int | None = 32, n: int | None = None, seed: int = 0) -> EmojiPairs:
    """Aligned Twitter/Google emoji (``data.load("emoji-twitter")`` and its ``paired`` attribute).

    Args:
        split: ``train`` or ``test`` (split by base emoji: skin-tone variants stay on one side).
        image_size: resize to this size (None: 64x64).
        n: a seeded random subset of n pairs.
        seed: seed of the subset.

    Returns:
        :class:`EmojiPairs` with images in [0, 1].
    """
    ds = data.load("emoji-twitter", split, n=n, image_size=image_size, seed=seed)
    return EmojiPairs(ds.x, ds.attrs["paired"].clamp(0, 1), list(ds.attrs["name"]))


def edges(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Canny edge maps: (B, C, H, W) images in [0, 1] -> (B, 1, H, W) binary maps in {0, 1} (1 = edge).

    Colour images are converted to luma first. The edges -> image task of pix2pix used HED
    edges; Canny (scikit-image) is the classic stand-in.

    Args:
        x: images in [0, 1], 1 or 3 channels.
        sigma: width of Canny's Gaussian smoothing, in pixels.

    Reference:
        Canny, "A Computational Approach to Edge Detection", TPAMI 1986; Isola et al. 2017, Sec. 4.
    """
    from skimage.feature import canny

    checks.image_batch(x, "x", channels=(1, 3), lo=0.0, hi=1.0)
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    g = images.luma(x)                                       # gray images stay as they are
    a = g[:, 0].detach().cpu().double().numpy()
    out = np.stack([canny(img, sigma=sigma) for img in a]).astype(np.float32)
    return torch.from_numpy(out)[:, None].to(x.device)


def task_pairs(task: str, pairs: EmojiPairs) -> tuple[torch.Tensor, torch.Tensor]:
    """Input and target of a paired task, both in [0, 1].

    Args:
        task: ``edges`` (edge map -> Twemoji image), ``colour`` (grayscale -> colour, colourisation)
            or ``style`` (Twemoji -> Noto, the same emoji in the other style).
        pairs: from :func:`emoji_pairs`.

    Returns:
        ``(inputs, targets)``: (N, 1 or 3, H, W) and (N, 3, H, W).
    """
    checks.one_of(task, "task", TASKS)
    if task == "edges":
        return edges(pairs.twitter), pairs.twitter
    if task == "colour":
        return images.luma(pairs.twitter), pairs.twitter
    return pairs.twitter, pairs.google


@torch.no_grad()
def translate(generator: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Run a generator in eval mode over x in batches (no gradients); restores its training mode.

    Args:
        generator: (B, C_in, H, W) -> (B, C_out, H, W).
        x: inputs as the generator expects them (e.g. in [-1, 1]).
        batch_size: rows per forward pass.

    Returns:
        The outputs, concatenated, on x's device.
    """
    checks.tensor(x, "x")
    checks.positive_int(batch_size, "batch_size")
    if len(x) == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)}): nothing to translate")
    return train.predict(generator, x, batch_size=batch_size)   # a parameter-free map runs where x is


# ----------------------------------------------------------------------------------------
# Procedural scenes for semantic image synthesis
# ----------------------------------------------------------------------------------------
def scenes(n: int, size: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Procedural landscapes: label maps and their renderings (a stand-in for Cityscapes/COCO-Stuff).

    Each scene has sky above a random horizon, ground below, sometimes a sun, 0-3 trees and 0-2
    houses with roofs, drawn as shapes; the class map says which class owns each pixel. The
    rendering adds what the label map does not say: a sky gradient, ground texture, a sun glow,
    shaded tree crowns with brown trunks, one of three wall colours, windows and a door.

    Args:
        n: number of scenes.
        size: H = W in pixels (shapes scale with it).
        seed: seed of the scene draw.

    Returns:
        ``(labels, images)``: (n, size, size) long class indices into :data:`SCENE_CLASSES`, and
        (n, 3, size, size) float images in [0, 1].
    """
    checks.positive_int(n, "n")
    if not (isinstance(size, int) and size >= 8):
        raise ValueError(f"size must be an int >= 8, got {size!r}")
    rng = np.random.default_rng(seed)
    yy, xx = np.meshgrid((np.arange(size) + 0.5) / size, (np.arange(size) + 0.5) / size, indexing="ij")
    labels = np.zeros((n, size, size), np.int64)
    images = np.zeros((n, size, size, 3), np.float32)
    walls = np.array([[0.9, 0.85, 0.7], [0.8, 0.55, 0.4], [0.75, 0.78, 0.82]])
    for i in range(n):
        lab = np.zeros((size, size), np.int64)
        horizon = rng.uniform(0.45, 0.7) + 0.05 * np.sin(2 * np.pi * (xx * rng.uniform(0.5, 1.5) + rng.uniform()))
        ground = yy > horizon
        lab[ground] = 1
        t = np.clip(yy / 0.7, 0, 1)[..., None]                       # sky: deep blue -> pale at the horizon
        img = (1 - t) * np.array([0.2, 0.45, 0.9]) + t * np.array([0.75, 0.88, 1.0])
        tex = rng.normal(0, 0.04, (size, size, 1))
        green = np.array([0.3, 0.6, 0.2]) + rng.uniform(-0.05, 0.05, 3)
        img = np.where(ground[..., None], green * (0.8 + 0.5 * (yy - horizon))[..., None] + tex, img)
        if rng.random() < 0.6:                                        # the sun, in the sky
            cx, cy, r = rng.uniform(0.1, 0.9), rng.uniform(0.08, 0.3), rng.uniform(0.06, 0.1)
            d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
            glow = np.clip(1 - (d - r) / (1.5 * r), 0, 1)[..., None] * (~ground)[..., None]
            img = img + 0.25 * glow * (np.array([1.0, 0.9, 0.5]) - img)
            sun = (d < r) & ~ground
            lab[sun] = 2
            img[sun] = np.array([1.0, 0.85, 0.2])
        objs = [("tree", k) for k in range(rng.integers(0, 4))] + [("house", k) for k in range(rng.integers(0, 3))]
        order = rng.permutation(len(objs))
        for j in order:
            kind = objs[j][0]
            cx = rng.uniform(0.1, 0.9)
            base = float(np.interp(cx, xx[0], horizon[0])) + rng.uniform(0.02, 0.15)
            if kind == "tree":
                r = rng.uniform(0.07, 0.12)
                cy = base - rng.uniform(0.12, 0.2)
                trunk = (np.abs(xx - cx) < 0.02 + 0.15 * r) & (yy > cy) & (yy < base)
                d = np.sqrt((xx - cx) ** 2 + ((yy - cy) / 1.2) ** 2)
                crown = d < r
                lab[trunk | crown] = 3
                img[trunk] = np.array([0.4, 0.25, 0.1])
                shade = np.clip(0.8 + 1.5 * ((cx - xx) + (cy - yy)), 0.5, 1.2)[..., None]
                img = np.where(crown[..., None], np.array([0.1, 0.42, 0.15]) * shade, img)
            else:
                w, h = rng.uniform(0.12, 0.2), rng.uniform(0.1, 0.16)
                wall = (np.abs(xx - cx) < w / 2) & (yy > base - h) & (yy < base)
                top = base - h
                roof = (yy <= top) & (yy > top - 0.6 * w) & (np.abs(xx - cx) < (yy - (top - 0.6 * w)) / 0.6 * 0.55)
                lab[wall] = 4
                lab[roof] = 5
                img[wall] = walls[rng.integers(0, 3)]
                img[roof] = np.array([0.65, 0.2, 0.15]) * rng.uniform(0.8, 1.1)
                for wx in (-w / 4, w / 4):                           # two windows and a door
                    win = wall & (np.abs(xx - cx - wx) < w / 10) & (np.abs(yy - (top + h / 3)) < h / 8)
                    img[win] = np.array([0.25, 0.35, 0.5])
                door = wall & (np.abs(xx - cx) < w / 10) & (yy > base - h / 2.5)
                img[door] = np.array([0.35, 0.2, 0.1])
        labels[i], images[i] = lab, img
    return torch.from_numpy(labels), torch.from_numpy(images).permute(0, 3, 1, 2).clamp(0, 1).contiguous()


def _check_labels(labels: torch.Tensor, num_classes: int) -> None:
    checks.ndim(labels, "labels", 3, "(B, H, W)")
    if labels.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise ValueError(f"labels must be integer class indices, got dtype {labels.dtype}")
    checks.positive_int(num_classes, "num_classes")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must be in [0, {num_classes}), got values in [{int(labels.min())}, "
                         f"{int(labels.max())}]")


def one_hot(labels: torch.Tensor, num_classes: int = len(SCENE_CLASSES)) -> torch.Tensor:
    """Class maps (B, H, W) long in [0, K) -> one-hot label maps (B, K, H, W) float in {0, 1}."""
    _check_labels(labels, num_classes)
    return F.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).float()


def colorize_labels(labels: torch.Tensor) -> torch.Tensor:
    """Class maps (B, H, W) -> (B, 3, H, W) images in [0, 1] in the :data:`SCENE_PALETTE` colours (for display)."""
    _check_labels(labels, len(SCENE_PALETTE))
    return SCENE_PALETTE.to(labels.device)[labels.long()].permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------
# CycleGAN
# ----------------------------------------------------------------------------------------
class UnpairedLoader:
    """Endless-able iterable of unpaired batches ``pack(a[i], b[j])`` with independent shuffles.

    One pass yields ``min(len(a), len(b)) // batch_size`` batches (B, 2C, H, W): row k holds a
    random A image and an unrelated random B image, so no correspondence can leak into training.

    Args:
        a: (N_a, C, H, W) domain A images (in the generators' range, e.g. [-1, 1]).
        b: (N_b, C, H, W) domain B images.
        batch_size: rows per batch.
        seed: seed of the shuffles (each pass draws new permutations).
    """

    def __init__(self, a: torch.Tensor, b: torch.Tensor, batch_size: int, seed: int = 0):
        checks.image_batch(a, "a")
        checks.image_batch(b, "b")
        if a.shape[1:] != b.shape[1:]:
            raise ValueError(f"a and b must have images of the same shape, got {tuple(a.shape[1:])} and "
                             f"{tuple(b.shape[1:])}")
        self.a, self.b = a, b
        self.batch_size = checks.positive_int(batch_size, "batch_size")
        if self.batch_size > min(len(a), len(b)):
            raise ValueError(f"batch_size={batch_size} is larger than the smaller domain ({min(len(a), len(b))})")
        self._rng = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return min(len(self.a), len(self.b)) // self.batch_size

    def __iter__(self) -> Iterator[torch.Tensor]:
        pa = torch.randperm(len(self.a), generator=self._rng)
        pb = torch.randperm(len(self.b), generator=self._rng)
        for k in range(len(self)):
            s = slice(k * self.batch_size, (k + 1) * self.batch_size)
            yield nets_translation.pack(self.a[pa[s]], self.b[pb[s]])


def cycle_consistency(g_ab: Callable[[torch.Tensor], torch.Tensor], g_ba: Callable[[torch.Tensor], torch.Tensor],
                      a: torch.Tensor, b: torch.Tensor, fake_b: torch.Tensor | None = None,
                      fake_a: torch.Tensor | None = None) -> torch.Tensor:
    r"""CycleGAN's cycle-consistency loss (mean absolute error per pixel).

    $$\mathcal{L}_\text{cyc}(G, F) = \mathbb{E}_x \lVert F(G(x)) - x\rVert_1 + \mathbb{E}_y \lVert G(F(y)) - y\rVert_1$$

    with G = ``g_ab`` and F = ``g_ba``.

    Args:
        g_ab, g_ba: the two mappings (B, C, H, W) -> (B, C, H, W).
        a, b: (B, C, H, W) real batches of the two domains.
        fake_b, fake_a: G(a) and F(b) if already computed (saves a forward pass; gradients flow through them).

    Returns:
        A scalar tensor; zero when ``g_ba`` inverts ``g_ab`` and vice versa.

    Reference:
        Zhu et al. 2017, arXiv:1703.10593, Eq. (2).
    """
    _check_domains(a, b)
    fake_b = g_ab(a) if fake_b is None else fake_b
    fake_a = g_ba(b) if fake_a is None else fake_a
    return (g_ba(fake_b) - a).abs().mean() + (g_ab(fake_a) - b).abs().mean()


def identity_loss(g_ab: Callable[[torch.Tensor], torch.Tensor], g_ba: Callable[[torch.Tensor], torch.Tensor],
                  a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""CycleGAN's identity loss: a generator fed an image of its *target* domain should leave it alone.

    $$\mathcal{L}_\text{identity}(G, F) = \mathbb{E}_y \lVert G(y) - y\rVert_1 + \mathbb{E}_x \lVert F(x) - x\rVert_1$$

    Args:
        g_ab, g_ba: the two mappings G = ``g_ab`` (A -> B) and F = ``g_ba`` (B -> A), (B, C, H, W) -> (B, C, H, W).
        a, b: (B, C, H, W) real batches of the two domains.

    Returns:
        A scalar tensor; zero when G leaves B images and F leaves A images unchanged.

    Reference:
        Zhu et al. 2017, arXiv:1703.10593, Sec. 5.2 ("photo generation from paintings"), after Taigman et al. 2017.
    """
    _check_domains(a, b)
    return (g_ab(b) - b).abs().mean() + (g_ba(a) - a).abs().mean()


def _check_domains(a: torch.Tensor, b: torch.Tensor) -> None:
    checks.image_batch(a, "a")
    checks.image_batch(b, "b")
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"a and b must hold images of the same (C, H, W) (both generators map C channels to C), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}")


def _cycle_generator(generator: nn.Module) -> nets_translation.CycleGenerator:
    if not isinstance(generator, nets_translation.CycleGenerator):
        raise TypeError(f"expected a nets.translation.CycleGenerator (holding g_ab and g_ba), got "
                        f"{type(generator).__name__}")
    return generator


def cycle_term(generator: nets_translation.CycleGenerator) -> Callable:
    """The engine term ``fn(batch)`` of :func:`cycle_consistency` for a packed CycleGAN batch.

    ``batch.x_real`` is ``pack(a, b)`` and ``batch.x_fake`` is ``pack(F(b), G(a))`` (the
    :class:`~course_lib.nets.translation.CycleGenerator` layout); use as
    ``g_terms={"cycle": (10.0, translation.cycle_term(G))}`` (lambda = 10 in the paper).
    """
    g = _cycle_generator(generator)

    def term(batch) -> torch.Tensor:
        a, b = nets_translation.unpack(batch.x_real, g.channels)
        fake_a, fake_b = nets_translation.unpack(batch.x_fake, g.channels)
        return cycle_consistency(g.g_ab, g.g_ba, a, b, fake_b=fake_b, fake_a=fake_a)

    return term


def identity_term(generator: nets_translation.CycleGenerator) -> Callable:
    """The engine term ``fn(batch)`` of :func:`identity_loss` (weight 0.5 lambda = 5 in the paper's code)."""
    g = _cycle_generator(generator)

    def term(batch) -> torch.Tensor:
        a, b = nets_translation.unpack(batch.x_real, g.channels)
        return identity_loss(g.g_ab, g.g_ba, a, b)

    return term


# ----------------------------------------------------------------------------------------
# Measures
# ----------------------------------------------------------------------------------------
def retrieval_accuracy(queries: torch.Tensor, gallery: torch.Tensor, k: int = 1) -> float:
    """Fraction of queries whose own partner (same row index) is among their k nearest gallery images.

    Distances are Euclidean in pixel space. For a translation G(a_i) against all true target
    images b_j, a high value means G kept *which* emoji it was given; chance is k / len(gallery).

    Args:
        queries: (N, C, H, W) e.g. translated images.
        gallery: (N, C, H, W) candidates; row i is query i's true partner.
        k: neighbours considered.

    Returns:
        Top-k accuracy in [0, 1].
    """
    checks.image_batch(queries, "queries")
    checks.image_batch(gallery, "gallery")
    if queries.shape != gallery.shape:
        raise ValueError(f"queries and gallery must have the same shape (row i of the gallery is query i's partner), "
                         f"got {tuple(queries.shape)} and {tuple(gallery.shape)}")
    checks.positive_int(k, "k")
    q = queries.detach().float().flatten(1).cpu()
    g = gallery.detach().float().flatten(1).cpu()
    nn_idx = torch.cdist(q, g).topk(min(k, len(g)), largest=False).indices          # (N, k)
    return float((nn_idx == torch.arange(len(q))[:, None]).any(1).float().mean())


def correspondence(fake: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """How well translations match their true partners: PSNR, SSIM and top-1 retrieval.

    Args:
        fake: (N, 3, H, W) translated images in [0, 1].
        target: (N, 3, H, W) the true paired images in the target style, in [0, 1].

    Returns:
        ``{"PSNR": dB, "SSIM": ..., "retrieval@1": fraction, "chance": 1 / N}``.
    """
    return {"PSNR": quality.psnr(fake, target), "SSIM": quality.ssim(fake, target),
            "retrieval@1": retrieval_accuracy(fake, target), "chance": 1.0 / len(target)}


def colour_histogram_intersection(fake: torch.Tensor, real: torch.Tensor, bins: int = 32) -> dict[str, float]:
    r"""Histogram intersection of the L, a and b channels (CIE Lab) of two image sets.

    $$\cap(p, q) = \sum_k \min(p_k, q_k)$$ for normalised histograms p, q over all pixels of each set;
    1 means identical colour distributions. pix2pix uses it to show that the L1 loss alone produces
    greyish, too-narrow colour distributions while the cGAN matches the data's (Fig. 7, Table 6).

    Args:
        fake: (N, 3, H, W) generated images in [0, 1].
        real: (M, 3, H, W) ground-truth images in [0, 1].
        bins: histogram bins per channel (L over [0, 100], a and b over [-100, 100]).

    Returns:
        ``{"L": ..., "a": ..., "b": ...}`` intersections in [0, 1].

    Reference:
        Isola et al. 2017, arXiv:1611.07004, Sec. 4.5, Fig. 7 and Table 6.
    """
    from skimage.color import rgb2lab

    checks.image_batch(fake, "fake", channels=3, lo=0.0, hi=1.0)
    checks.image_batch(real, "real", channels=3, lo=0.0, hi=1.0)
    checks.positive_int(bins, "bins")

    def lab(x: torch.Tensor) -> np.ndarray:
        return rgb2lab(x.detach().cpu().clamp(0, 1).permute(0, 2, 3, 1).double().numpy()).reshape(-1, 3)

    lf, lr = lab(fake), lab(real)
    out = {}
    for i, (name, lo, hi) in enumerate((("L", 0.0, 100.0), ("a", -100.0, 100.0), ("b", -100.0, 100.0))):
        p = np.histogram(lf[:, i], bins=bins, range=(lo, hi))[0].astype(np.float64)
        q = np.histogram(lr[:, i], bins=bins, range=(lo, hi))[0].astype(np.float64)
        out[name] = float(np.minimum(p / p.sum(), q / q.sum()).sum())
    return out
