"""Voxel shapes: a fast shaded renderer, overlap metrics and the 3D-GAN training rule.

Rendering (:func:`render`, :func:`render_views`) is a tiny ray caster in torch, batched and
fast enough to draw hundreds of shapes per second on a CPU (matplotlib's ``voxels`` takes
seconds per shape): the grid is resampled into the camera's frame with ``grid_sample``, the
first occupied cell along each ray gives a depth map, and the surface is shaded by the
Lambert law with normals from the occupancy gradient::

    occupancy (B, 1, D, D, D) --rotate--> camera grid --first hit--> depth, normal --> (B, 3, S, S)

Metrics compare binarised grids: :func:`iou` (intersection over union), :func:`nearest_iou` (the
best IoU of each shape against a reference set: a memorisation check when the reference is the
training set, and a nearest-neighbour class), :func:`occupancy` (filled fraction) and
:func:`class_histogram` (class coverage). The paper's rule "update D only while its accuracy on the
batch is at most 80%" is the engine's callback :class:`course_lib.gan.SkipDIfAccurate`. Sampling for
figures goes through :func:`decode`, which moves latents to the generator's device (a seeded CPU latent
fed to a generator on a GPU fails otherwise).

Conventions: voxel tensors are (B, 1, D, D, D) indexed (z, y, x) with z up, as made by
:func:`course_lib.data.voxel_shapes`; values are occupancies or probabilities in [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checks, train

COLOR = (0.35, 0.55, 0.85)      # surface colour (RGB)
VIEWS = ((25.0, 40.0), (25.0, 130.0), (60.0, 220.0))   # (elevation, azimuth) in degrees


def _voxels(x: torch.Tensor, name: str = "voxels") -> torch.Tensor:
    x = checks.tensor(x, name)
    if x.ndim == 4:
        x = x[:, None]
    checks.ndim(x, name, 5, "(B, 1, D, H, W)")
    if x.shape[1] != 1:
        raise ValueError(f"{name} must have one channel (occupancy), got shape {tuple(x.shape)}")
    return x.float()


# ----------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------
def camera(elevation: float, azimuth: float) -> torch.Tensor:
    """The (3, 3) rotation whose rows are the camera's right, up and forward axes in world (x, y, z-up).

    Args:
        elevation: degrees above the horizontal plane (90 looks straight down).
        azimuth: degrees around the vertical axis.
    """
    e, a = math.radians(elevation), math.radians(azimuth)
    eye = torch.tensor([math.cos(e) * math.cos(a), math.cos(e) * math.sin(a), math.sin(e)])
    forward = -eye                                         # the camera looks at the origin
    up_world = torch.tensor([0.0, 0.0, 1.0]) if abs(elevation) < 89.9 else torch.tensor([-math.cos(a), -math.sin(a), 0.0])
    right = torch.linalg.cross(forward, up_world)
    right = right / right.norm()
    up = torch.linalg.cross(right, forward)
    return torch.stack([right, up, forward])


@torch.no_grad()
def render(voxels: torch.Tensor, elevation: float = 25.0, azimuth: float = 40.0, image_size: int = 64,
           threshold: float = 0.5, extent: float = 1.2, mode: str = "nearest", color: Sequence[float] = COLOR,
           light: Sequence[float] = (-0.45, 0.7, -0.55)) -> torch.Tensor:
    """Shaded images of voxel grids seen from one viewpoint (orthographic ray casting).

    Args:
        voxels: (B, 1, D, D, D) occupancies or probabilities in [0, 1], indexed (z, y, x), z up.
        elevation, azimuth: the viewpoint in degrees.
        image_size: pixels per side (also the number of samples along each ray).
        threshold: a cell is solid where the resampled value exceeds it.
        extent: half-width of the view volume in grid units (the grid spans [-1, 1]).
        mode: ``"nearest"`` (blocky voxels, keeps one-voxel-thin parts) or ``"bilinear"`` (smooth).
        color: RGB of the surface.
        light: direction towards the light in camera coordinates (right, up, forward).

    Returns:
        (B, 3, image_size, image_size) images in [0, 1] on a white background; brightness is
        Lambert shading (ambient 0.3) times a depth cue (nearer is brighter).
    """
    x = _voxels(voxels)
    checks.positive_int(image_size, "image_size")
    checks.one_of(mode, "mode", ("nearest", "bilinear"))
    b, s = x.shape[0], image_size
    R = camera(elevation, azimuth).to(x)                    # rows: right, up, forward
    t = torch.linspace(-extent, extent, s, device=x.device, dtype=x.dtype)
    # camera-grid coordinates: depth k (near -> far), row i (top -> bottom), column j (left -> right)
    dk, di, dj = torch.meshgrid(t, -t, t, indexing="ij")
    world = dj[..., None] * R[0] + di[..., None] * R[1] + dk[..., None] * R[2]   # (s, s, s, 3) as (x, y, z)
    grid = world.expand(b, s, s, s, 3)                      # grid_sample wants (x, y, z) = (W, H, D) order
    vol = F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=True)  # (B, 1, s, s, s)
    solid = vol[:, 0] > threshold                           # (B, k, i, j)
    hit = solid.any(1)                                      # (B, i, j)
    k = solid.float().argmax(1)                             # first solid sample along each ray
    # surface normal from the (slightly blurred) depth map z(i, j): n ~ (-dz/dx, -dz/dy, -1) in camera axes
    z = torch.where(hit, k.float(), torch.full_like(k, float(s), dtype=torch.float))[:, None]
    z = F.avg_pool2d(F.pad(z, (1, 1, 1, 1), mode="replicate"), 3, 1)[:, 0]
    gi, gj = torch.gradient(z, dim=(1, 2))                  # per pixel; one depth sample = one pixel
    n = torch.stack([-gj, gi, -torch.ones_like(gj)], 1)     # (right, up, forward); i grows downwards
    n = n / n.norm(dim=1, keepdim=True)
    L = torch.tensor(light, dtype=x.dtype, device=x.device)
    L = L / L.norm()
    lambert = (n * L[None, :, None, None]).sum(1).clamp_min(0)
    depth = k.float() / max(1, s - 1)
    shade = (0.3 + 0.7 * lambert) * (1.15 - 0.5 * depth)
    rgb = shade[:, None] * torch.tensor(color, dtype=x.dtype, device=x.device)[None, :, None, None]
    return torch.where(hit[:, None], rgb.clamp(0, 1), torch.ones_like(rgb))


@torch.no_grad()
def render_views(voxels: torch.Tensor, views: Sequence[tuple[float, float]] = VIEWS, image_size: int = 48,
                 pad: int = 1, **kw: Any) -> torch.Tensor:
    """Each shape from several viewpoints, side by side in one image (for ``viz.show_grid``).

    Args:
        voxels: (B, 1, D, D, D) in [0, 1].
        views: (elevation, azimuth) pairs in degrees.
        image_size: pixels per view.
        pad: white pixels between views.
        **kw: passed to :func:`render`.

    Returns:
        (B, 3, image_size, V * image_size + (V - 1) * pad) images in [0, 1].
    """
    if not views:
        raise ValueError("views is empty: pass (elevation, azimuth) pairs")
    imgs = [render(voxels, e, a, image_size, **kw) for e, a in views]
    if pad:
        white = torch.ones(*imgs[0].shape[:3], pad, dtype=imgs[0].dtype, device=imgs[0].device)
        imgs = [t for im in imgs for t in (im, white)][:-1]
    return torch.cat(imgs, -1)


# ----------------------------------------------------------------------------------------
# Metrics
# ----------------------------------------------------------------------------------------
def binarize(voxels: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Occupancy probabilities -> {0, 1} float grid (``> threshold``)."""
    return (_voxels(voxels) > threshold).float()


def occupancy(voxels: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Filled fraction of each grid: (B, 1, D, D, D) -> (B,) in [0, 1]."""
    return binarize(voxels, threshold).flatten(1).mean(1)


def iou(a: torch.Tensor, b: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of pairs of binarised grids.

    $$\\mathrm{IoU}(A, B) = \\frac{|A \\cap B|}{|A \\cup B|}$$ (1 for two empty grids).

    Args:
        a, b: (B, 1, D, D, D) occupancies or probabilities in [0, 1] (same shape, or one with B = 1).
        threshold: binarisation threshold.

    Returns:
        (B,) IoU in [0, 1].

    Reference:
        The standard voxel metric of 3-D reconstruction, e.g. Choy et al. 2016 (3D-R2N2), arXiv:1604.00449.
    """
    a, b = binarize(a, threshold).bool(), binarize(b, threshold).bool()
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(f"grids must have the same size, got {tuple(a.shape)} and {tuple(b.shape)}")
    inter = (a & b).flatten(1).sum(1).float()
    union = (a | b).flatten(1).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


@torch.no_grad()
def nearest_iou(x: torch.Tensor, reference: torch.Tensor, threshold: float = 0.5, chunk: int = 256
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each shape, the highest IoU with any shape of a reference set, and which one.

    With the training set as reference this is the memorisation check of generative models of
    shapes: values near 1 mean copies of training shapes; lower values, new shapes (or bad ones).
    Computed with matrix products, |A ∩ B| = a·b for flattened 0/1 vectors.

    Args:
        x: (N, 1, D, D, D) in [0, 1].
        reference: (M, 1, D, D, D) in [0, 1].
        threshold: binarisation threshold.
        chunk: rows of ``x`` per matrix product.

    Returns:
        (best IoU (N,), index into ``reference`` (N,)).
    """
    a, r = binarize(x, threshold).flatten(1), binarize(reference, threshold).flatten(1)
    if a.shape[1] != r.shape[1]:
        raise ValueError(f"x and reference must have the same grid size, got {tuple(x.shape)} and {tuple(reference.shape)}")
    if len(r) == 0:
        raise ValueError("reference is empty")
    size_r = r.sum(1)
    best, arg = [], []
    for i in range(0, len(a), checks.positive_int(chunk, "chunk")):
        ai = a[i:i + chunk]
        inter = ai @ r.T                                       # (n, M)
        union = ai.sum(1, keepdim=True) + size_r[None] - inter
        v = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
        m = v.max(1)
        best.append(m.values)
        arg.append(m.indices)
    return torch.cat(best), torch.cat(arg)


def class_histogram(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Fraction of samples per class: labels (N,) ints -> (num_classes,) summing to 1."""
    labels = checks.tensor(labels, "labels")
    if labels.numel() == 0:
        raise ValueError("labels is empty")
    return torch.bincount(labels.long().flatten(), minlength=checks.positive_int(num_classes, "num_classes")
                          ).float() / labels.numel()


def tv_distance(p: torch.Tensor, q: torch.Tensor) -> float:
    """Total-variation distance 0.5 * sum |p - q| between two class histograms (0 same, 1 disjoint)."""
    if p.shape != q.shape:
        raise ValueError(f"histograms must have the same length, got {tuple(p.shape)} and {tuple(q.shape)}")
    return 0.5 * float((p - q).abs().sum())


def predict(classifier: nn.Module, voxels: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Class index (N,) of each grid by a voxel classifier (eval mode, batched; the training flag is restored)."""
    return train.predict(classifier, _voxels(voxels), batch_size=batch_size).argmax(1).cpu()


def train_classifier(name: str, classifier: nn.Module, voxels: torch.Tensor, labels: torch.Tensor, num_steps: int,
                     batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> dict[str, list[float]]:
    """Fit a voxel classifier with cross-entropy and Adam, cached as checkpoint ``name`` (``train.fit_loss``).

    Args:
        name: checkpoint name (the budget is appended), e.g. ``"voxel-classifier32-16"``; the
            classifier is saved as ``"net"``.
        classifier: (B, 1, D, D, D) -> logits (B, K), e.g. ``nets.voxels.Classifier``.
        voxels: (N, 1, D, D, D) training grids; labels: (N,) class indices.
        num_steps: optimiser steps; batch_size (drawn with replacement), lr: as usual.
        seed: seed of the minibatch draws.

    Returns:
        The history (``loss``, ``acc`` per step).
    """
    x, y = _voxels(voxels), checks.tensor(labels, "labels").long()
    if len(x) != len(y):
        raise ValueError(f"got {len(x)} grids but {len(y)} labels")
    dev = next(classifier.parameters()).device

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        xb, yb = batch
        logits = classifier(xb)
        return F.cross_entropy(logits, yb), {"acc": (logits.argmax(1) == yb).float().mean()}

    return train.fit_loss(name, {"net": classifier}, loss_fn, (x, y), num_steps=num_steps, lr=lr,
                          batch_size=min(batch_size, len(x)), seed=seed, replacement=True, device=dev,
                          desc="voxel classifier").history


# ----------------------------------------------------------------------------------------
# Sampling
# ----------------------------------------------------------------------------------------
def decode(generator: nn.Module, z: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Voxel grids G(z) for latents made anywhere: z goes to the generator's device, the grids come back to z's.

    A latent drawn with a CPU ``torch.Generator`` (a fixed seed for a figure) cannot be fed to a generator on
    a GPU as it is; this moves it, runs G in eval mode without gradients, in batches, and restores G's
    training flag (``train.predict``).

    Args:
        generator: z (B, latent_dim) -> occupancies (B, 1, D, D, D) in [0, 1], e.g. ``nets.voxels.Generator``.
        z: (B, latent_dim) latents on any device.
        batch_size: latents per forward pass.

    Returns:
        (B, 1, D, D, D) float occupancies in [0, 1] on ``z``'s device.

    Reference:
        Wu et al. 2016, arXiv:1610.07584, Sec. 4 (sampling and the latent walks of Fig. 4).
    """
    z = checks.tensor(z, "z")
    checks.ndim(z, "z", 2, "(B, latent_dim)")
    return train.predict(generator, z, batch_size=batch_size).float()


def walk_endpoints(scores: torch.Tensor, labels: torch.Tensor) -> tuple[int, int]:
    """Two samples to walk between: the best-scoring sample of each of the two best classes.

    For a latent walk *between two shapes* (Wu et al., Fig. 4) rather than between two random codes: with
    ``scores`` the nearest-neighbour IoU of generated samples and ``labels`` the class of their nearest
    training shape, the walk starts at the cleanest sample of one class and ends at the cleanest of another.
    With a single class present, the two best samples of that class.

    Args:
        scores: (N,) a quality score per sample (higher is better), N >= 2.
        labels: (N,) integer class per sample.

    Returns:
        (i0, i1): two distinct indices into the samples, i0 the better one.
    """
    scores, labels = checks.tensor(scores, "scores").flatten(), checks.tensor(labels, "labels").flatten()
    if len(scores) != len(labels) or len(scores) < 2:
        raise ValueError(f"scores and labels must have the same length >= 2, got {len(scores)} and {len(labels)}")
    best = [int(torch.where(labels == k, scores.float(), -math.inf).argmax()) for k in labels.unique()]
    best.sort(key=lambda i: -float(scores[i]))
    if len(best) >= 2:
        return best[0], best[1]
    order = scores.argsort(descending=True).tolist()
    return order[0], order[1]


# ----------------------------------------------------------------------------------------
# Figure
# ----------------------------------------------------------------------------------------
def plot_class_coverage(histograms: dict[str, torch.Tensor], classes: Sequence[str], title: str | None = None) -> Any:
    """Grouped bars: the fraction of shapes per class for several sets (e.g. training vs generated).

    Args:
        histograms: ``{label: (K,) fractions}`` (from :func:`class_histogram`).
        classes: the K class names.
        title: figure title.

    Returns:
        A ``viz.Shown`` figure.
    """
    import matplotlib.pyplot as plt

    from . import viz

    if not histograms:
        raise ValueError("histograms is empty: pass {'training': h_real, 'generated': h_fake}")
    k, m = len(classes), len(histograms)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * k + 1), 2.8))
    w = 0.8 / m
    for j, (label, h) in enumerate(histograms.items()):
        if len(h) != k:
            raise ValueError(f"histogram {label!r} has {len(h)} entries for {k} classes")
        ax.bar([i + (j - (m - 1) / 2) * w for i in range(k)], [float(v) for v in h], w, label=label)
    ax.set_xticks(range(k), list(classes))
    ax.set_ylabel("fraction of shapes")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return viz.Shown(fig)
