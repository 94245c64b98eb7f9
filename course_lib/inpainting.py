r"""Image inpainting: hole masks, masked inputs, losses restricted to the hole, and hole metrics.

A hole mask ``m`` (B, 1, H, W) is 1 where pixels are missing. The generator sees the masked image
and the mask as one more channel, ``c = [x \odot (1 - m) + \text{fill}\cdot m,\ m]`` (B, C + 1, H, W),
and (through :class:`course_lib.nets.inpainting.Composite` or the context encoder) returns an image
that keeps the known pixels. Adversarial training goes through the engine (``course_lib.gan``) with
the objective as *data*::

    from course_lib import gan, inpainting
    from course_lib.nets import image2image as i2i, inpainting as inets

    G = inets.Composite(i2i.ResNetGenerator(4, 3, width=16, n_blocks=2), residual=True)  # a correction to a smooth fill
    D = inets.EngineHeads(inets.pg_discriminator(3, 32, width=16), ("global", "patch"))
    v = inpainting.objective(rec=(0.995, "l1"), adversarial={"global": 0.0025, "patch": 0.0025})  # PG-GAN
    trainer = gan.Trainer(G, D, v, x_pm1, None, 32, cond=inpainting.RandomMasker("squares", 32, hole=16),
                          discriminator_input=lambda x, c: (x,))
    run = gan.load_or_train("14-pggan", trainer, 500)

Every adversarial head is a loss *term* with its weight next to the reconstruction weight, so
$L = \lambda_1 L_{rec} + \lambda_2 L_{g,adv} + \lambda_3 L_{p,adv}$ holds exactly with the weights
visible; the variant's ``adv_weight`` is 0, so the engine computes no adversarial loss of its own. Without
any adversarial head the objective is not a GAN: :func:`fit_reconstruction` trains the generator on
$L_{rec}$ alone (no discriminator), with the batches, masks and Adam settings of the engine::

    fit = inpainting.fit_reconstruction("14-rec", G, x_pm1, inpainting.RandomMasker("squares", 32, hole=16),
                                        500, rec="l1", batch_size=32)

References:
    Pathak et al., "Context Encoders: Feature Learning by Inpainting", CVPR 2016, arXiv:1604.07379.
    Demir & Unal, "Patch-Based Image Inpainting with Generative Adversarial Networks", arXiv:1803.07422.
    Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019, arXiv:1806.03589 (free-form
    stroke masks).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping

import numpy as np
import torch

from . import checks, env, gan, images, losses, quality, train

MASKS = ("centre", "squares", "strokes")
# PSNR of an error as small as 8-bit quantisation (MSE = 1 / (12 * 255^2)): the cap for holes filled exactly
PSNR_CAP = float(10 * np.log10(12 * 255.0 ** 2))


# ----------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------
def _rng(seed: int | torch.Generator) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def _check_hole(size: int, hole: int) -> None:
    checks.positive_int(size, "size")
    checks.positive_int(hole, "hole")
    if hole >= size:
        raise ValueError(f"hole ({hole}) must be smaller than the image size ({size})")


def centre_mask(n: int, size: int, hole: int) -> torch.Tensor:
    """The centre square hole of Pathak et al.: (n, 1, size, size), 1 in the central hole x hole square.

    Args:
        n: number of masks.
        size: image side.
        hole: side of the square (size / 2 in the paper: a quarter of the pixels).

    Returns:
        (n, 1, size, size) float tensor of 0/1.
    """
    checks.positive_int(n, "n")
    _check_hole(size, hole)
    a = (size - hole) // 2
    m = torch.zeros(n, 1, size, size)
    m[..., a:a + hole, a:a + hole] = 1
    return m


def random_squares(n: int, size: int, hole: int, count: int = 1, seed: int | torch.Generator = 0) -> torch.Tensor:
    """``count`` hole x hole squares at uniformly random positions per image (they may overlap).

    Args:
        n: number of masks.
        size: image side.
        hole: side of each square.
        count: squares per image.
        seed: an int, or a torch.Generator to continue a random stream.

    Returns:
        (n, 1, size, size) float tensor of 0/1.
    """
    checks.positive_int(n, "n")
    _check_hole(size, hole)
    checks.positive_int(count, "count")
    g = _rng(seed)
    pos = torch.randint(size - hole + 1, (n, count, 2), generator=g)
    r = torch.arange(size)
    rows = (r.view(1, 1, size) >= pos[..., :1]) & (r.view(1, 1, size) < pos[..., :1] + hole)   # (n, count, size)
    cols = (r.view(1, 1, size) >= pos[..., 1:]) & (r.view(1, 1, size) < pos[..., 1:] + hole)
    m = (rows[..., :, None] & cols[..., None, :]).any(1)                                        # (n, size, size)
    return m[:, None].float()


def random_strokes(n: int, size: int, strokes: int = 3, width: float = 3.0, length: float | None = None,
                   seed: int | torch.Generator = 0) -> torch.Tensor:
    """Free-form brush-stroke holes: each stroke a random walk of straight segments drawn with a round brush.

    Every stroke starts at a uniform random point and takes 4 segments of length ~ U(0.5, 1) * length
    in random directions (turning by up to +-90 degrees), clipped to the image; pixels within
    ``width / 2`` of the path are missing (the free-form masks of Yu et al. 2019, Alg. 1, simplified).

    Args:
        n: number of masks.
        size: image side.
        strokes: strokes per image.
        width: brush diameter in pixels.
        length: segment length in pixels (default size / 4).
        seed: an int, or a torch.Generator.

    Returns:
        (n, 1, size, size) float tensor of 0/1.
    """
    checks.positive_int(n, "n")
    checks.positive_int(size, "size")
    checks.positive_int(strokes, "strokes")
    if not 0 < width < size:
        raise ValueError(f"width must be in (0, size={size}), got {width}")
    length = size / 4 if length is None else float(length)
    if not length > 0:
        raise ValueError(f"length must be > 0, got {length}")
    g = _rng(seed)
    n_seg, per_seg = 4, max(2, math.ceil(length) * 2)
    start = torch.rand(n, strokes, 2, generator=g) * (size - 1)
    angle = torch.rand(n, strokes, 1, generator=g) * 2 * math.pi
    turns = (torch.rand(n, strokes, n_seg, generator=g) - 0.5) * math.pi
    lengths = (0.5 + 0.5 * torch.rand(n, strokes, n_seg, generator=g)) * length
    angles = angle + turns.cumsum(-1)
    steps = torch.stack([angles.sin(), angles.cos()], -1) * lengths[..., None]       # (n, strokes, seg, 2)
    vertices = torch.cat([start[:, :, None], start[:, :, None] + steps.cumsum(2)], 2).clamp(0, size - 1)
    t = torch.linspace(0, 1, per_seg).view(1, 1, 1, per_seg, 1)
    pts = vertices[:, :, :-1, None] + t * (vertices[:, :, 1:, None] - vertices[:, :, :-1, None])
    pts = pts.reshape(n, -1, 2)                                                         # (n, P, 2) (row, col)
    grid = torch.stack(torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij"), -1).float()
    chunk = max(1, 2 ** 22 // (pts.shape[1] * size * size))                       # bound the (n, P, size^2) buffer
    d2 = torch.cat([((grid.view(1, 1, size * size, 2) - pts[i:i + chunk, :, None]) ** 2).sum(-1).min(1).values
                    for i in range(0, n, chunk)])                                  # (n, size^2) squared distances
    m = (d2 <= (width / 2) ** 2).view(n, 1, size, size)
    return m.float()


def masks(kind: str, n: int, size: int, seed: int | torch.Generator = 0, **kw) -> torch.Tensor:
    """Hole masks by name: ``"centre"`` (needs ``hole``), ``"squares"`` (``hole``, ``count``), ``"strokes"``.

    Returns:
        (n, 1, size, size) float tensor of 0/1 (1 = missing).
    """
    checks.one_of(kind, "mask kind", MASKS)
    if kind == "centre":
        return centre_mask(n, size, **kw)
    if kind == "squares":
        return random_squares(n, size, seed=seed, **kw)
    return random_strokes(n, size, seed=seed, **kw)


def _check_mask(mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    checks.ndim(mask, "mask", 4, "(B, 1, H, W)")
    if mask.shape[1] != 1 or tuple(mask.shape[-2:]) != tuple(x.shape[-2:]) or len(mask) not in (1, len(x)):
        raise ValueError(f"mask must have shape (B, 1, H, W) or (1, 1, H, W) matching the images "
                         f"{tuple(x.shape)}, got {tuple(mask.shape)}")
    return mask.to(device=x.device, dtype=x.dtype)


def masked_input(x: torch.Tensor, mask: torch.Tensor, fill: float = 0.0) -> torch.Tensor:
    r"""The generator's input: the known pixels, ``fill`` in the hole, and the mask as one more channel.

    $$c = [\,x \odot (1 - m) + \text{fill}\cdot m,\ m\,]$$

    Args:
        x: (B, C, H, W) images (any range, e.g. [-1, 1]).
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.
        fill: value written into the hole (0 = mid-gray for [-1, 1] images; Pathak et al. fill the mean).

    Returns:
        (B, C + 1, H, W).
    """
    checks.image_batch(x, "x")
    m = _check_mask(mask, x).expand(len(x), 1, *x.shape[-2:])
    return torch.cat([x * (1 - m) + fill * m, m], 1)


def mask_of(c: torch.Tensor) -> torch.Tensor:
    """The hole mask (B, 1, H, W): the last channel of a :func:`masked_input`."""
    checks.image_batch(c, "c")
    return c[:, -1:]


class RandomMasker:
    """``cond=`` for the engine: a fresh random mask per real batch, ``x -> masked_input(x, mask)``.

    Args:
        kind: one of :data:`MASKS`.
        size: image side.
        seed: seed of the mask stream (reproducible runs).
        fill: hole value (see :func:`masked_input`).
        **kw: passed to :func:`masks` (``hole``, ``count``, ``strokes``, ``width``).
    """

    def __init__(self, kind: str, size: int, seed: int = 0, fill: float = 0.0, **kw):
        checks.one_of(kind, "mask kind", MASKS)
        self.kind, self.size, self.fill, self.kw = kind, size, fill, kw
        self.generator = torch.Generator().manual_seed(seed)
        masks(kind, 1, size, seed=0, **kw)                      # fail early on bad arguments

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        m = masks(self.kind, len(x), self.size, seed=self.generator, **self.kw).to(x.device)
        return masked_input(x, m, self.fill)

    def __repr__(self) -> str:
        return f"RandomMasker({self.kind!r}, size={self.size}, {self.kw})"


# ----------------------------------------------------------------------------------------
# Losses restricted to the hole, and the objectives as engine terms
# ----------------------------------------------------------------------------------------
def hole_loss(x_fake: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, p: int = 2) -> torch.Tensor:
    r"""Mean p-error over the missing pixels only (Pathak et al. 2016, Eq. (1), normalised).

    $$L_{rec} = \frac{\lVert m \odot (x - \hat x) \rVert_p^p}{C \sum m}$$

    Args:
        x_fake: (B, C, H, W) the completed images.
        x: (B, C, H, W) the ground truth.
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.
        p: 2 (L2, Pathak) or 1 (L1, PG-GAN).

    Returns:
        Scalar; pixels outside the hole do not contribute.
    """
    checks.image_batch(x_fake, "x_fake")
    checks.image_batch(x, "x")
    if x_fake.shape != x.shape:
        raise ValueError(f"x_fake {tuple(x_fake.shape)} and x {tuple(x.shape)} must have the same shape")
    if p not in (1, 2):
        raise ValueError(f"p must be 1 (L1) or 2 (L2), got {p!r}")
    m = _check_mask(mask, x).expand(len(x), 1, *x.shape[-2:])
    err = (x_fake - x).abs() if p == 1 else (x_fake - x) ** 2
    return (err * m).sum() / (m.sum() * x.shape[1]).clamp_min(1.0)


def hole_l2_term(b: gan.Batch) -> torch.Tensor:
    """Engine G term: :func:`hole_loss` with p = 2, the mask read from the condition ``b.c_fake``."""
    return hole_loss(b.x_fake, b.x_real, mask_of(b.c_fake), p=2)


def hole_l1_term(b: gan.Batch) -> torch.Tensor:
    """Engine G term: :func:`hole_loss` with p = 1 (PG-GAN's reconstruction loss)."""
    return hole_loss(b.x_fake, b.x_real, mask_of(b.c_fake), p=1)


def _head(aux: object, name: str, which: str) -> torch.Tensor:
    if not isinstance(aux, Mapping) or name not in aux:
        raise ValueError(f"the adversarial term {name!r} needs a discriminator wrapped in nets.inpainting.EngineHeads "
                         f"with a head named {name!r}; the {which} batch gave {type(aux).__name__}")
    return aux[name].reshape(-1)


def adversarial_d_term(name: str) -> Callable[[gan.Batch], torch.Tensor]:
    """Engine D term: the non-saturating GAN loss of head ``name`` (every patch score counts as a sample)."""
    def term(b: gan.Batch) -> torch.Tensor:
        return losses.minimax_d_loss(_head(b.aux_real, name, "real").float(), _head(b.aux_fake, name, "fake").float())
    term.__name__ = f"adversarial_d_term_{name}"
    return term


def adversarial_g_term(name: str) -> Callable[[gan.Batch], torch.Tensor]:
    """Engine G term: $-\\log D_\\text{name}(G(c))$ averaged over the head's scores (non-saturating)."""
    def term(b: gan.Batch) -> torch.Tensor:
        return losses.nonsaturating_g_loss(_head(b.aux_fake, name, "fake").float())
    term.__name__ = f"adversarial_g_term_{name}"
    return term


def objective(rec: tuple[float, str] = (0.999, "l2"), adversarial: Mapping[str, float] | None = None,
              lr_d: float = 2e-4, lr_g: float = 2e-4, **changes) -> gan.Variant:
    r"""An inpainting objective as an engine variant: $L_G = \lambda_{rec} L_{rec} + \sum_k \lambda_k L_{k,adv}$.

    The reconstruction term (in the hole) and one non-saturating adversarial term per discriminator head
    are ``g_terms`` with the weights given here, logged as ``g_rec`` and ``g_<head>``; each head with a
    positive weight also trains D through a ``d_terms`` entry (weight 1, logged ``d_<head>``). Heads with
    weight 0 are left out on both sides. The variant is the non-saturating one with ``adv_weight=0``: the
    engine computes no adversarial loss of its own (its single score per sample), only these terms.

    * Context encoder (Pathak et al. 2016, Eq. (3)): ``objective((0.999, "l2"), {"adv": 0.001})``.
    * PG-GAN (Demir & Unal 2018, Eq. (4)): ``objective((l1, "l1"), {"global": l2, "patch": l3})``.

    At least one head needs a positive weight: without one nothing is adversarial and there is no D to
    train, so the reconstruction-only baseline is :func:`fit_reconstruction`, not a GAN.

    Args:
        rec: (weight, ``"l2"`` or ``"l1"``) of the reconstruction loss in the hole.
        adversarial: {head name: weight}; names match the discriminator's :class:`course_lib.nets.inpainting.EngineHeads` names.
        lr_d, lr_g: Adam learning rates (beta1 = 0.5).
        **changes: other :class:`course_lib.gan.Variant` fields (not ``adv_weight``: the heads carry the weights).

    Returns:
        A :class:`course_lib.gan.Variant`.

    Raises:
        ValueError: a negative weight, an unknown reconstruction loss, or no head with a positive weight.
    """
    if not (isinstance(rec, tuple) and len(rec) == 2):
        raise TypeError(f"rec must be a pair (weight, 'l2' | 'l1'), got {rec!r}")
    w_rec, kind = rec
    rec_term = _rec_term(kind)
    adversarial = dict(adversarial or {})
    for k, w in [("rec", w_rec), *adversarial.items()]:
        if not (isinstance(w, (int, float)) and w >= 0):
            raise ValueError(f"weight of {k!r} must be a number >= 0, got {w!r}")
    if "rec" in adversarial:
        raise ValueError("'rec' is the reconstruction term; name the discriminator heads otherwise")
    if "adv_weight" in changes:
        raise ValueError("the adversarial weights are the heads' (adversarial={head: weight}); the engine's own "
                         "adversarial loss stays off (adv_weight=0)")
    g_terms = {"rec": (float(w_rec), rec_term)}
    d_terms = {}
    for name, w in adversarial.items():
        if w > 0:
            g_terms[name] = (float(w), adversarial_g_term(name))
            d_terms[name] = (1.0, adversarial_d_term(name))
    if not d_terms:
        raise ValueError(f"no adversarial head with a positive weight (adversarial={adversarial}): reconstruction "
                         f"alone is not a GAN; train it without a discriminator with inpainting.fit_reconstruction")
    label = "+".join(["rec", *d_terms])
    v = gan.variant("ns", adv_weight=0.0, lr_d=lr_d, lr_g=lr_g, g_terms=g_terms, d_terms=d_terms).replace(name=label)
    return v.replace(**changes) if changes else v


def _rec_term(kind: str) -> gan.Term:
    checks.one_of(kind, "reconstruction loss", ("l2", "l1"))
    return hole_l2_term if kind == "l2" else hole_l1_term


def fit_reconstruction(name: str | None, generator: torch.nn.Module, x: torch.Tensor,
                       masker: Callable[[torch.Tensor], torch.Tensor], num_steps: int, rec: str = "l1",
                       batch_size: int = 64, lr: float = 2e-4, betas: tuple[float, float] = (0.5, 0.999),
                       seed: int = 0, device: torch.device | str | None = None, **checkpoint_kw) -> train.FitResult:
    r"""The reconstruction-only baseline: $\min_G L_{rec}$ in the hole, with no discriminator (not a GAN).

    Adam on :func:`hole_loss` of ``generator(masker(x_batch))``, cached and resumable by ``name``
    (:func:`course_lib.train.fit_loss`). The batches (``batch_size`` rows drawn with replacement by a
    generator seeded with ``seed``), the masks (``masker``'s stream, one call per batch) and Adam's settings
    are those ``gan.Trainer(..., seed=seed)`` uses with :func:`objective`, so the run is the
    $\lambda_{adv} = 0$ end of an ablation of the adversarial heads.

    Args:
        name: checkpoint name (the budget is appended), e.g. ``"14-pggan-photos-rec-only"``; None: no checkpoint.
        generator: ``c -> x`` for a :func:`masked_input` ``c`` (Composite, ContextEncoder); trained in place.
        x: (N, C, H, W) training images in the generator's range ([-1, 1] for Tanh).
        masker: ``masker(x_batch) -> c``, e.g. a :class:`RandomMasker`.
        num_steps: Adam steps.
        rec: ``"l1"`` or ``"l2"`` in the hole (the weight of a lone loss only rescales it).
        batch_size: rows per batch (at most N).
        lr, betas: Adam settings (those of :func:`objective`'s generator by default).
        seed: seed of the batch draws.
        device: where to train (default :func:`course_lib.env.device`, as the engine).
        **checkpoint_kw: ``retrain``, ``every_s``, ``verbose``, ... for :func:`course_lib.checkpoints.trained`.

    Returns:
        A :class:`course_lib.train.FitResult`; its history logs the hole loss per step as ``"rec"``.
    """
    rec_term = _rec_term(rec)
    checks.image_batch(x, "x")
    checks.positive_int(batch_size, "batch_size")
    if not callable(masker):
        raise TypeError(f"masker must be a function x_batch -> masked input, got {type(masker).__name__}")

    def loss_fn(batch: tuple[torch.Tensor]) -> torch.Tensor:
        x_real = batch[0]
        c = masker(x_real)
        return rec_term(gan.Batch(x_real, generator(c), c, c))

    return train.fit_loss(name, {"generator": generator}, loss_fn, x, num_steps=num_steps, lr=lr, betas=betas,
                          batch_size=min(batch_size, len(x)), seed=seed, replacement=True, loss_name="rec",
                          device=device if device is not None else env.device(), **checkpoint_kw)


# ----------------------------------------------------------------------------------------
# Using a trained generator, baselines and metrics in the hole
# ----------------------------------------------------------------------------------------
def inpaint(generator: torch.nn.Module, x: torch.Tensor, mask: torch.Tensor, fill: float = 0.0,
            batch_size: int = 256, batch_statistics: bool = False) -> torch.Tensor:
    """Fill the holes of images in [0, 1] with a generator trained on [-1, 1] masked inputs.

    Args:
        generator: (B, C + 1, H, W) -> (B, C, H, W) in [-1, 1] that keeps the known pixels (Composite,
            ContextEncoder).
        x: (B, C, H, W) ground-truth images in [0, 1] (only the known pixels reach the generator).
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.
        fill: hole value of the training inputs.
        batch_size: rows per forward pass.
        batch_statistics: False (default): eval mode, batch norm with its running averages. True: a copy
            of the generator in train mode, batch norm with the statistics of each batch of ``batch_size``
            test images (a diagnosis: does a fill change when normalised as in training?); the generator's
            own running averages are untouched.

    Returns:
        (B, C, H, W) completed images in [0, 1]; outside the hole equal to x.
    """
    checks.image_batch(x, "x", lo=0.0, hi=1.0)
    checks.positive_int(batch_size, "batch_size")
    c = masked_input(images.to_pm1(x), mask, fill)
    if batch_statistics:
        net = copy.deepcopy(generator).train()
        dev = next(iter(net.parameters()), c).device
        with torch.no_grad():
            out = torch.cat([net(cb.to(dev)).to(x.device)
                             for cb in torch.tensor_split(c, -(-len(c) // batch_size))])   # nearly equal batches
        out = images.to_unit(out)
    else:
        out = images.to_unit(train.predict(generator, c, batch_size=batch_size))
    m = _check_mask(mask, x)
    return (m * out + (1 - m) * x).clamp(0, 1)


def biharmonic(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Classical (learning-free) inpainting: a biharmonic surface through the known pixels, per channel.

    Args:
        x: (B, C, H, W) images in [0, 1] (the hole content is ignored).
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.

    Returns:
        (B, C, H, W) completed images in [0, 1] (``skimage.restoration.inpaint_biharmonic``).

    Reference:
        Damelin & Hoang, "On Surface Completion and Image Inpainting by Biharmonic Functions", 2018.
    """
    from skimage.restoration import inpaint_biharmonic

    checks.image_batch(x, "x", lo=0.0, hi=1.0)
    m = _check_mask(mask, x).expand(len(x), 1, *x.shape[-2:]) > 0.5
    out = []
    for xi, mi in zip(x.detach().cpu().numpy(), m.cpu().numpy()):
        out.append(inpaint_biharmonic(np.moveaxis(xi, 0, -1), mi[0], channel_axis=-1))
    return torch.from_numpy(np.moveaxis(np.stack(out), -1, 1)).float().clamp(0, 1).to(x.device)


def bounding_box(mask: torch.Tensor) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the pixels where a (1, H, W) or (H, W) mask is 1 (bottom/right exclusive)."""
    m = mask.reshape(mask.shape[-2:]) > 0.5
    if not m.any():
        raise ValueError("the mask has no missing pixel")
    rows, cols = m.any(1).nonzero()[:, 0], m.any(0).nonzero()[:, 0]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _hole_weights(x_fake: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Checked inputs of a hole measure: the mask as float64 weights (B, 1, H, W), 1 = missing."""
    checks.image_batch(x_fake, "x_fake", lo=0.0, hi=1.0)
    checks.image_batch(x, "x", lo=0.0, hi=1.0)
    if x_fake.shape != x.shape:
        raise ValueError(f"x_fake {tuple(x_fake.shape)} and x {tuple(x.shape)} must have the same shape")
    m = _check_mask(mask, x).double().expand(len(x), 1, *x.shape[-2:])
    if not m.any():
        raise ValueError("the mask has no missing pixel")
    return m


def hole_psnr(x_fake: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> float:
    r"""PSNR of all missing values of a batch together: $10\log_{10}(1 / \mathrm{MSE})$ over every hole pixel.

    $$\mathrm{MSE} = \frac{\sum_{b} \lVert m_b \odot (\hat x_b - x_b) \rVert_2^2}{C \sum_b \sum m_b}$$

    The squared error that the L2 reconstruction loss minimises, pooled over the images; unlike a mean of
    per-image PSNRs it is not dominated by the few holes a method fills exactly (a plain white centre of
    an emoji has an infinite PSNR, capped at :data:`PSNR_CAP`).

    Args:
        x_fake: (B, C, H, W) completed images in [0, 1].
        x: (B, C, H, W) ground truth in [0, 1].
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.

    Returns:
        dB, at most :data:`PSNR_CAP`.
    """
    m = _hole_weights(x_fake, x, mask)
    mse = (((x_fake.double() - x.double()) ** 2) * m).sum() / (m.sum() * x.shape[1])
    return float(min(PSNR_CAP, 10 * math.log10(1.0 / max(float(mse), 1e-300))))


def colour_shift(x_fake: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> float:
    r"""The tint of the fills: the largest per-channel mean difference fill - truth over all missing pixels.

    $$s = \max_c \Big|\frac{\sum_{b,i} m_{b,i}\,(\hat x_{b,c,i} - x_{b,c,i})}{\sum_{b,i} m_{b,i}}\Big|$$

    A colour cast common to the fills (every fill a little too orange) adds up over the images; errors
    of a fill that is sometimes too dark and sometimes too bright cancel. Images in [0, 1]: 0.02 is
    about 5 of 255 grey levels.

    Args:
        x_fake: (B, C, H, W) completed images in [0, 1].
        x: (B, C, H, W) ground truth in [0, 1].
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.

    Returns:
        s in [0, 1].
    """
    m = _hole_weights(x_fake, x, mask)
    per_channel = ((x_fake.double() - x.double()) * m).sum((0, 2, 3)) / m.sum()
    return float(per_channel.abs().max())


def interior(mask: torch.Tensor) -> torch.Tensor:
    """The missing pixels whose 4 neighbours are missing too: where a 3x3 Laplacian sees only the fill.

    Args:
        mask: (B, 1, H, W), 1 = missing.

    Returns:
        (B, 1, H, W) float 0/1, a subset of the mask (pixels on the image border count as interior when
        their neighbours inside the image are missing).
    """
    checks.image_batch(mask, "mask", channels=1)
    m = (mask > 0.5).float()
    p = torch.nn.functional.pad(m, (1, 1, 1, 1), value=1.0)
    return m * p[..., :-2, 1:-1] * p[..., 2:, 1:-1] * p[..., 1:-1, :-2] * p[..., 1:-1, 2:]


def hole_metrics(x_fake: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> dict[str, float]:
    """PSNR over the missing pixels, SSIM on the hole's bounding box, sharpness and colour cast of the fills.

    Args:
        x_fake: (B, C, H, W) completed images in [0, 1].
        x: (B, C, H, W) ground truth in [0, 1].
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.

    Returns:
        ``"PSNR"``: :func:`hole_psnr`, all missing pixels of the batch together (dB). ``"PSNR per image"``:
        the mean of per-image PSNRs, each capped at :data:`PSNR_CAP` (58.9 dB, the 8-bit quantisation error) so
        that an exactly filled hole (a white corner of an emoji) does not make it infinite. ``"SSIM"``
        (scikit-image, via :mod:`course_lib.quality`): averaged over images on the smallest rectangle around each
        hole, at least 3x3 pixels. ``"sharpness"``: :func:`course_lib.quality.detail_ratio` (fine detail, fake /
        truth) on the hole's :func:`interior`, so that a step where a fill of the wrong colour meets its border
        does not count as detail (the whole hole if some image has no interior pixel). ``"colour shift"``:
        :func:`colour_shift`.
    """
    checks.image_batch(x_fake, "x_fake", lo=0.0, hi=1.0)
    checks.image_batch(x, "x", lo=0.0, hi=1.0)
    m = _check_mask(mask, x).expand(len(x), 1, *x.shape[-2:])
    psnr_each = float(quality.psnr_per_image(x_fake, x, mask=m).clamp(max=PSNR_CAP).mean())
    ssims = []
    for xf, xr, mi in zip(x_fake, x, m):
        t, b, l, r = bounding_box(mi)
        h, w = x.shape[-2:]
        if b - t < 3:                                         # SSIM needs at least 3x3 pixels
            t, b = max(0, min(t, h - 3)), max(0, min(t, h - 3)) + 3
        if r - l < 3:
            l, r = max(0, min(l, w - 3)), max(0, min(l, w - 3)) + 3
        box = (t, b, l, r)
        ssims.append(float(quality.ssim_per_image(images.crop(xf, box)[None], images.crop(xr, box)[None])[0]))
    inner = interior(m)
    inner = inner if bool(inner[..., 1:-1, 1:-1].flatten(1).any(1).all()) else m
    return {"PSNR": hole_psnr(x_fake, x, m), "PSNR per image": psnr_each, "SSIM": float(np.mean(ssims)),
            "sharpness": quality.detail_ratio(x_fake, x, inner), "colour shift": colour_shift(x_fake, x, m)}
