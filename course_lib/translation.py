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
    gan.Trainer(G, D, v, translation.UnpairedLoader(a, b, 8), None, cond=lambda x: x,
                discriminator_input=lambda x, c: (x,), callbacks=[translation.ImagePool(50)])

:class:`ImagePool` is the paper's history of 50 generated images, a callback on the engine's
``fakes_for_d`` hook; :func:`start_as_copy` makes a residual generator start as the identity map.

The ablation measures *correspondence*, which an unpaired method never sees: PSNR/SSIM of
G(a) against the true paired image in the other style, whether G(a) retrieves its own
partner among all target-style images (:func:`retrieval_accuracy`), and whether the outputs
depend on their inputs at all (:func:`output_spread`). Whether G(a) is drawn in the target
style is judged by ``metrics.style_classifier`` (trained on real emoji only).

References:
    Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017, arXiv:1611.07004.
    Park et al., "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019, arXiv:1903.07291.
    Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks", ICCV 2017,
    arXiv:1703.10593.
    Shrivastava et al., "Learning from Simulated and Unsupervised Images through Adversarial Training", CVPR 2017,
    arXiv:1612.07828.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checks, data, gan, images, quality, train
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


class ImagePool(gan.Callback):
    r"""CycleGAN's history of generated images: D is trained on a mix of this step's fakes and earlier ones.

    A callback for the engine's ``fakes_for_d`` hook (G still learns from its fresh fakes). For each fake
    image x of a D update: while the pool holds fewer than ``size`` images, x is stored and used as it is;
    once it is full, with probability ``p`` x takes the place of a random stored image and that stored
    image is shown to D instead of x, otherwise x is shown (the authors' ``ImagePool.query``). D so keeps
    rejecting what G produced a few hundred images ago, and G cannot win by hopping between modes
    that the latest D happens to forget. For the packed CycleGAN batch one pool holds (fake A, fake B)
    pairs: D_A and D_B see their histories at the same indices (the authors keep one pool per domain;
    each discriminator sees the same mix).

    Args:
        size: images kept (50 in the paper; 0 turns the pool off).
        p: probability of answering with a stored image once the pool is full (0.5 in the paper).
        seed: seed of the draws (a private generator: the training random stream is left alone).

    Attributes:
        images: (n, ...) the stored fakes (n <= size), on the fakes' device; None before the first batch.
        count: n.
        served_from_history: how many fakes D was shown from the pool so far.

    Reference:
        Shrivastava et al., "Learning from Simulated and Unsupervised Images through Adversarial Training",
        CVPR 2017, arXiv:1612.07828, Sec. 2.3 (history of refined images); Zhu et al. 2017, arXiv:1703.10593,
        Sec. 4 ("we keep an image buffer that stores the 50 previously created images").
    """

    def __init__(self, size: int = 50, p: float = 0.5, seed: int = 0):
        if not (isinstance(size, int) and size >= 0):
            raise ValueError(f"size must be an int >= 0 (images kept; 0 = no pool), got {size!r}")
        if not 0 <= p <= 1:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        self.size, self.p = size, float(p)
        self._rng = torch.Generator().manual_seed(seed)
        self.images: torch.Tensor | None = None
        self.count = 0
        self.served_from_history = 0

    def __repr__(self) -> str:
        return f"ImagePool(size={self.size}, p={self.p}; {self.count} stored)"

    @torch.no_grad()
    def query(self, x_fake: torch.Tensor) -> torch.Tensor:
        """The fakes to show D for this batch (B, ...), updating the pool.

        Args:
            x_fake: (B, ...) this step's generated images (gradients are not kept).

        Returns:
            (B, ...) on x_fake's device and dtype: row i is x_fake[i] or a stored earlier fake.
        """
        checks.tensor(x_fake, "x_fake")
        x = x_fake.detach()
        if self.size == 0 or len(x) == 0:
            return x
        if self.images is None:
            self.images = torch.empty(self.size, *x.shape[1:], dtype=x.dtype, device=x.device)
        elif self.images.shape[1:] != x.shape[1:]:
            raise ValueError(f"the pool holds images of shape {tuple(self.images.shape[1:])}, got a batch "
                             f"{tuple(x.shape)}: one pool per kind of fake")
        out = x.clone()
        for i in range(len(x)):
            if self.count < self.size:                              # filling up: store and show x
                self.images[self.count] = x[i]
                self.count += 1
            elif float(torch.rand((), generator=self._rng)) < self.p:   # show an old fake, keep the new one
                j = int(torch.randint(self.size, (), generator=self._rng))
                out[i] = self.images[j]
                self.images[j] = x[i]
                self.served_from_history += 1
        return out

    def fakes_for_d(self, trainer: gan.Trainer, x_fake: torch.Tensor) -> torch.Tensor:
        """The engine hook: D is trained on :meth:`query` of this update's fakes."""
        return self.query(x_fake)

    def state(self) -> dict[str, Any]:
        """The stored fakes, the draw's random state and the count (kept in the checkpoint: a resumed run continues)."""
        if self.images is None:
            return {}
        return {"image_pool": self.images[:self.count].cpu(), "image_pool_rng": self._rng.get_state(),
                "image_pool_served": self.served_from_history}

    def load_state(self, extra: Mapping[str, Any]) -> None:
        """Restore what :meth:`state` returned (nothing to do before the first save)."""
        if "image_pool" not in extra:
            return
        stored = extra["image_pool"]
        self.images = torch.empty(self.size, *stored.shape[1:], dtype=stored.dtype)
        self.count = min(len(stored), self.size)
        self.images[:self.count] = stored[:self.count]
        self._rng.set_state(extra["image_pool_rng"])
        self.served_from_history = int(extra["image_pool_served"])

    def on_begin(self, trainer: gan.Trainer) -> None:
        if self.images is not None:                                 # a restored pool lives where the fakes are
            self.images = self.images.to(trainer.device)


def start_as_copy(generator: nn.Module) -> nn.Module:
    r"""Make a residual generator start as the identity map, G(x) = x, by zeroing its output convolution.

    For ``nets.image2image.ResNetGenerator(..., global_skip=True)``, whose output is
    $\operatorname{clip}(x + \tanh(\text{conv}(h)), -1, 1)$: with the last convolution at zero the residual
    is 0 and G copies its input; training then learns only the *change* from one style to the other
    (every run of an ablation starts from the same copy). The gradient of that convolution is not zero,
    so the residual grows from the first step.

    Args:
        generator: a module with ``global_skip = True`` and at least one ``nn.Conv2d`` (the last one is the output).

    Returns:
        The same generator, changed in place.

    Reference:
        He et al., "Deep Residual Learning", CVPR 2016 (residual learning); Goyal et al. 2017, arXiv:1706.02677,
        Sec. 2.3 (zero-initialised last layer of a residual branch); Kupyn et al. 2018, arXiv:1711.07064 (DeblurGAN's
        global skip).
    """
    if not getattr(generator, "global_skip", False):
        raise ValueError(f"start_as_copy needs a residual generator (output = input + residual), e.g. "
                         f"nets.image2image.ResNetGenerator(..., global_skip=True); got {type(generator).__name__} "
                         f"without global_skip=True")
    convs = [m for m in generator.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(generator).__name__} has no nn.Conv2d output layer to zero")
    with torch.no_grad():
        convs[-1].weight.zero_()
        if convs[-1].bias is not None:
            convs[-1].bias.zero_()
    return generator


def output_spread(x: torch.Tensor, reference: torch.Tensor) -> float:
    """How much outputs vary across inputs, relative to real images: mean per-pixel std of x over std of reference.

    A generator that ignores its input (mode collapse) gives about 0; real images of the target domain 1.

    Args:
        x: (N, C, H, W) outputs for N different inputs.
        reference: (M, C, H, W) real images of the target domain (same range as x).

    Returns:
        ``mean_pixels std_N(x) / mean_pixels std_M(reference)``.
    """
    checks.image_batch(x, "x")
    checks.image_batch(reference, "reference")
    if x.shape[1:] != reference.shape[1:] or len(x) < 2 or len(reference) < 2:
        raise ValueError(f"x and reference must hold >= 2 images of the same (C, H, W), got {tuple(x.shape)} and "
                         f"{tuple(reference.shape)}")
    return float(x.float().std(0).mean() / reference.float().std(0).mean())


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


# ----------------------------------------------------------------------------------------
# pix2pix at test time
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def translate_pix2pix(generator: nn.Module, x: torch.Tensor, batch_size: int = 16, seed: int = 0) -> torch.Tensor:
    """Run a pix2pix generator as the paper does at test time: dropout on, batch normalisation with batch statistics.

    pix2pix keeps dropout as the generator's only noise and applies "batch normalization using the
    statistics of the test batch" (Isola et al. 2017, Sec. 3.3). In eval mode instead, batch norm uses
    running averages collected *with* dropout active, whose variances do not match the dropout-free
    activations (the dropout/batch-norm variance shift): the outputs get blotches that the network never
    produced in training. Here a copy of the generator runs in train mode, so the original's running
    statistics and training flag are untouched; the dropout masks are seeded (the same call gives the same
    outputs) and x is cut into nearly equal batches of at most ``batch_size`` rows (no tiny last batch
    whose statistics would be noise).

    Args:
        generator: (B, C_in, H, W) -> (B, C_out, H, W), e.g. ``nets.image2image.UNet``.
        x: (N, C_in, H, W) inputs as the generator expects them (e.g. in [-1, 1]).
        batch_size: rows per forward pass (the training batch size keeps the statistics comparable).
        seed: seed of the dropout masks.

    Returns:
        (N, C_out, H, W) outputs on x's device.

    Reference:
        Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017,
        arXiv:1611.07004, Sec. 3.3 ("at inference time, we run the generator net in exactly the same manner as
        during the training phase"); Li et al., "Understanding the Disharmony between Dropout and Batch
        Normalization by Variance Shift", CVPR 2019, arXiv:1801.05134.
    """
    import copy

    if not isinstance(generator, nn.Module):
        raise TypeError(f"generator must be an nn.Module, got {type(generator).__name__}")
    checks.image_batch(x, "x")
    checks.positive_int(batch_size, "batch_size")
    if len(x) == 0:
        raise ValueError(f"x is empty (shape {tuple(x.shape)}): nothing to translate")
    params = list(generator.parameters())
    dev = params[0].device if params else x.device
    net = copy.deepcopy(generator).train()                   # its running statistics may change; the original's not
    chunks = torch.tensor_split(x, -(-len(x) // batch_size))  # ceil(N / batch_size) nearly equal batches
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        outs = [net(xb.to(dev)).to(x.device) for xb in chunks]
    return torch.cat(outs)
