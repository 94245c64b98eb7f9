"""Super-resolution helpers for notebooks 11 (SRResNet / SRGAN) and 12 (SRNTT).

Data: LR/HR patch pairs cut from the embedded training photos, held-out test photos as centre
crops, and reference patches (a shifted crop of the same photo = a good reference, a crop of
another photo = a bad one)::

    hr, lr = superres.patch_pairs(data.photos("train"), hr_size=64, n=2000, scale=4)
    hr_test = superres.test_crops(size=64, grid=2)                    # (16, 3, 64, 64) held out
    hr_t, refs, bad = superres.test_references(96, shifts=(0.25, 0.5, 0.75), rows=2)   # graded references

SRGAN as data of the shared GAN engine (``gan.Trainer`` with ``latent_dim=None``, ``G(lr)``)::

    v = superres.srgan_variant(superres.feature_content(net, net.default_high))   # l_X + 1e-3 l_Gen + TV
    trainer = gan.Trainer(G, D, v, hr, None, cond=lr, discriminator_input=lambda x, c: (x,))

SRNTT's texture swapping: normalised inner products ``s_ij`` between patches of the pre-SR
image's features and the reference's, ``argmax_j`` swap, and the weight map ``S_i = max_j s_ij``::

    swapped, weight, index = superres.feature_swap(content_feat, ref_feat_blurred, ref_values)

The texture-transfer network and its ablations are data: the same network with the reference inputs
as swapped (``"reference"``), with the weight map replaced by ones (``"no weight map"``) or with no
reference at all (``"no reference"``: single-image SR)::

    m, pix, s = superres.reference_inputs(swaps, "no reference")
    loss, logs = superres.srntt_loss(net, (hr, lr, m, pix, swaps["pre_sr"], s), fnet, layer, tex_weight)
    sr = superres.super_resolve_with_reference(net, lr_test, swaps_test, "reference")

Measures: PSNR/SSIM, fine detail relative to the ground truth (``quality.detail_ratio``, 1 = as much
as the HR image) and the share of it on the upsampling grid (``quality.checkerboard_ratio``) in
:mod:`course_lib.quality`; :func:`feature_distance` here.

References:
    Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a GAN" (SRGAN), CVPR 2017, arXiv:1609.04802.
    Zhang, Wang, Lin & Qi, "Image Super-Resolution by Neural Texture Transfer" (SRNTT), CVPR 2019, arXiv:1903.00834.
    Blau & Michaeli, "The Perception-Distortion Tradeoff", CVPR 2018, arXiv:1711.06077.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import checks, data, gan, images, losses, train

# ----------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------


def patch_pairs(photos: Mapping[str, torch.Tensor], hr_size: int, n: int, scale: int = 4, seed: int = 0
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random HR patches and their bicubic LR versions (gray photos repeated to RGB).

    Args:
        photos: name -> (C, H, W) photos in [0, 1] (``data.photos("train")``).
        hr_size: HR patch side, divisible by ``scale``.
        n: number of pairs.
        scale: downscaling factor.
        seed: seed of the patch positions.

    Returns:
        ``(hr, lr)``: (n, 3, hr_size, hr_size) and (n, 3, hr_size/scale, hr_size/scale) in [0, 1].

    Reference:
        Ledig et al. 2017, Sec. 3.2 (random 96x96 HR sub-images, LR by bicubic downsampling with r = 4).
    """
    checks.positive_int(hr_size, "hr_size")
    checks.positive_int(n, "n")
    checks.positive_int(scale, "scale")
    if hr_size % scale:
        raise ValueError(f"hr_size={hr_size} must be divisible by scale={scale}")
    hr = data.patches(photos, hr_size, n, seed=seed, channels=3)
    return hr, images.downsample(hr, scale)


def test_crops(size: int, split: str = "test", scale: int = 4, grid: int = 1) -> torch.Tensor:
    """Crops of the held-out photos: each downsized so its short side is ``grid * size``, the central square
    cut into grid x grid crops of size x size.

    Args:
        size: side of the crops, divisible by ``scale``.
        split: photo split (``"test"``: astronaut, chelsea, coffee, china; never used for training).
        scale: the SR factor the side must be divisible by.
        grid: crops per side of each photo's central square (2: four crops per photo, 16 in all).

    Returns:
        (N grid^2, 3, size, size) in [0, 1]: photo by photo in the order of ``data.photos(split)``, each
        photo's crops row by row.
    """
    checks.positive_int(size, "size")
    checks.positive_int(scale, "scale")
    checks.positive_int(grid, "grid")
    if size % scale:
        raise ValueError(f"size={size} must be divisible by scale={scale}")
    side = grid * size
    out = []
    for im in data.photos(split).values():
        im = im.expand(3, -1, -1) if im.shape[0] == 1 else im
        h, w = im.shape[-2:]
        f = side / min(h, w)
        if f < 1:
            im = data.resize(im[None], (max(side, round(h * f)), max(side, round(w * f))))[0]
        if min(im.shape[-2:]) < side:
            raise ValueError(f"a {split} photo of size {h}x{w} is too small for {grid}x{grid} crops of {size} px")
        sq = images.center_crop(im, side).clamp(0, 1)
        out += [sq[:, a * size:(a + 1) * size, b * size:(b + 1) * size] for a in range(grid) for b in range(grid)]
    return torch.stack(out)


@torch.no_grad()
def super_resolve(net: nn.Module, lr: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Run an SR network in eval mode on (B, 3, h, w) LR images -> (B, 3, H, W) clamped to [0, 1]."""
    checks.image_batch(lr, "lr")
    checks.positive_int(batch_size, "batch_size")
    return train.predict(net, lr, batch_size=batch_size).float().cpu().clamp(0, 1)


# ----------------------------------------------------------------------------------------
# SRGAN loss terms for the engine's g_terms
# ----------------------------------------------------------------------------------------
def mse_content(b: gan.Batch) -> torch.Tensor:
    r"""Pixel-wise MSE content loss $l^{SR}_{MSE} = \frac{1}{r^2WH}\sum (I^{HR} - G(I^{LR}))^2$ (Eq. 4)."""
    return F.mse_loss(b.x_fake, b.x_real)


def feature_content(net: nn.Module, layer: str, rescale: float = 1.0) -> Callable[[gan.Batch], torch.Tensor]:
    r"""SRGAN's VGG content loss on tap phi_{i,j} as an engine term: ``fn(batch) -> scalar``.

    $$l^{SR}_{VGG/i.j} = \frac{1}{W_{i,j}H_{i,j}}\sum_{x,y}\big(\phi_{i,j}(I^{HR})_{x,y} - \phi_{i,j}(G(I^{LR}))_{x,y}\big)^2$$

    Args:
        net: a frozen ``features.FeatureNet`` (VGG19 or the EfficientNet-Lite0 stand-in).
        layer: the tap, e.g. ``net.default_low`` (VGG22's stride) or ``net.default_high`` (VGG54's).
        rescale: multiply the loss (SRGAN rescales VGG features by 1/12.75, i.e. the loss by 1/12.75^2).

    Reference:
        Ledig et al. 2017, arXiv:1609.04802, Eq. (5).
    """
    if layer not in getattr(net, "layer_names", [layer]):
        raise ValueError(f"unknown layer {layer!r}; the feature network has {net.layer_names}")

    def content(b: gan.Batch) -> torch.Tensor:
        return rescale * losses.perceptual(b.x_fake, b.x_real, net, layer)

    content.__name__ = f"content_{layer}"
    return content


def tv_term(b: gan.Batch) -> torch.Tensor:
    """SRGAN's total-variation regulariser on the generator output (squared differences)."""
    return losses.total_variation(b.x_fake, squared=True)


def srgan_variant(content: Callable[[gan.Batch], torch.Tensor], adv_weight: float = 1e-3, tv_weight: float = 2e-8,
                  lr: float = 1e-4, name: str = "srgan") -> gan.Variant:
    r"""SRGAN's objective as a variant of the engine: $l^{SR} = l_X + 10^{-3} l_{Gen} + 2\cdot10^{-8} l_{TV}$.

    The generator minimises the paper's loss as written, $l_X + a\,l_{Gen} + t\,l_{TV}$: the adversarial
    weight $a$ is the variant's ``adv_weight``, the content and TV losses are ``g_terms`` with weights 1
    and $t$. D's loss is the usual (unweighted) binary cross-entropy; ``l_Gen = -log D(G(I^LR))``
    (non-saturating).

    Args:
        content: the content term ``fn(batch)`` (:func:`mse_content` or :func:`feature_content`).
        adv_weight: weight $a$ of the adversarial loss relative to the content loss (1e-3).
        tv_weight: weight $t$ of the TV term relative to the content loss (2e-8; 0 leaves the term out).
        lr: Adam learning rate of G and D (1e-4; betas (0.9, 0.999)).
        name: label in logs.

    Returns:
        A ``gan.Variant`` with ``adv_weight = a`` and ``g_terms = {"content": (1, content), "tv": (t, tv)}``.

    Reference:
        Ledig et al. 2017, arXiv:1609.04802, Eq. (3) and Sec. 3.2.
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if not adv_weight > 0:
        raise ValueError(f"adv_weight must be > 0 (SRGAN is adversarial; train SRResNet for the content loss "
                         f"alone), got {adv_weight}")
    if tv_weight < 0:
        raise ValueError(f"tv_weight must be >= 0, got {tv_weight}")
    if not callable(content):
        raise TypeError(f"content must be a function of a gan.Batch, got {type(content).__name__}")
    terms = {"content": (1.0, content)}
    if tv_weight > 0:
        terms["tv"] = (tv_weight, tv_term)
    return gan.variant("ns", adv_weight=adv_weight, g_terms=terms, lr_g=lr, lr_d=lr, betas=(0.9, 0.999)).replace(name=name)


# ----------------------------------------------------------------------------------------
# Measures of texture / perceptual quality
# ----------------------------------------------------------------------------------------


@torch.no_grad()
def feature_distance(x: torch.Tensor, reference: torch.Tensor, net: nn.Module, layer: str) -> float:
    """Mean squared distance of feature maps ``phi(x)`` and ``phi(reference)`` (lower = perceptually closer).

    Args:
        x, reference: (B, 3, H, W) in [0, 1].
        net, layer: a ``features.FeatureNet`` and its tap.
    """
    dev = net.device
    return float(losses.perceptual(x.to(dev), reference.to(dev), net, layer))


# ----------------------------------------------------------------------------------------
# SRNTT: patch-wise feature swapping
# ----------------------------------------------------------------------------------------
def extract_patches(f: torch.Tensor, k: int = 3) -> torch.Tensor:
    """All k x k patches of a feature map around every position (zero padding): (B, C, H, W) -> (B, H W, C k k)."""
    checks.ndim(f, "features", 4, "(B, C, H, W)")
    checks.positive_int(k, "k")
    if k % 2 == 0:
        raise ValueError(f"patch size k must be odd (a patch is centred on a position), got {k}")
    return F.unfold(f, k, padding=k // 2).transpose(1, 2)


def similarity(content: torch.Tensor, reference: torch.Tensor, k: int = 3) -> torch.Tensor:
    r"""Normalised inner products $s_{ij} = \langle P_i(\phi(I^{LR\uparrow})) / \lVert\cdot\rVert,\,
    P_j(\phi(I^{Ref\downarrow\uparrow})) / \lVert\cdot\rVert \rangle \in [-1, 1]$ of all patch pairs.

    Args:
        content: (B, C, H, W) features of the pre-SR image.
        reference: (B, C, H', W') features of the (blurred) reference, the same C.
        k: patch size (3 in SRNTT).

    Returns:
        (B, H W, H' W') cosine similarities.

    SRNTT's Eq. (1) normalises only the reference patch; normalising the content patch as well leaves
    $\arg\max_j s_{ij}$ unchanged and makes $s_{ij}$ (hence the weight map) a cosine in [-1, 1].

    Reference:
        Zhang et al. 2019, arXiv:1903.00834, Eq. (1).
    """
    checks.ndim(content, "content", 4, "(B, C, H, W)")
    checks.ndim(reference, "reference", 4, "(B, C, H', W')")
    if content.shape[:2] != reference.shape[:2]:
        raise ValueError(f"content and reference features need the same (B, C), got {tuple(content.shape)} and "
                         f"{tuple(reference.shape)}")
    pc = F.normalize(extract_patches(content, k), dim=-1, eps=1e-8)
    pr = F.normalize(extract_patches(reference, k), dim=-1, eps=1e-8)
    return (pc @ pr.transpose(1, 2)).clamp(-1, 1)


def feature_swap(content: torch.Tensor, reference: torch.Tensor, values: torch.Tensor, k: int = 3
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""SRNTT's texture swap: replace every content patch by the values of its best-matching reference patch.

    $$j^*_i = \arg\max_j s_{ij},\qquad M = \operatorname{fold}\big(P_{j^*_i}(\text{values})\big) / \text{overlap},
    \qquad S_i = \max_j s_{ij}$$

    Matching uses ``reference`` (features of the reference blurred like the LR image, Ref down-up);
    the swapped content comes from ``values`` on the same grid (the sharp reference's features, or its
    pixels after ``pixel_unshuffle``). Overlapping patches are averaged.

    Args:
        content: (B, C, H, W) features of the pre-SR image.
        reference: (B, C, H', W') features of the blurred reference.
        values: (B, C_v, H', W') what to swap in, aligned with ``reference``.
        k: patch size.

    Returns:
        ``(swapped, weight, index)``: (B, C_v, H, W) swapped map M, (B, 1, H, W) weight map S in
        [-1, 1] (the best similarity; low where no reference patch resembles the content), and
        (B, H W) the chosen reference positions j*.

    Reference:
        Zhang et al. 2019, arXiv:1903.00834, Eq. (1)-(3) and Sec. 3.3 (weight map).
    """
    checks.ndim(content, "content", 4, "(B, C, H, W)")
    checks.ndim(reference, "reference", 4, "(B, C, H', W')")
    checks.ndim(values, "values", 4, "(B, C_v, H', W')")
    if values.shape[0] != reference.shape[0] or values.shape[-2:] != reference.shape[-2:]:
        raise ValueError(f"values must lie on the reference grid (B, C_v, {reference.shape[-2]}, "
                         f"{reference.shape[-1]}), got {tuple(values.shape)}")
    b, _, h, w = content.shape
    s = similarity(content, reference, k)                      # (B, HW, H'W')
    weight, index = s.max(dim=2)                               # S_i and j*_i
    pv = extract_patches(values, k)                            # (B, H'W', C_v k k)
    chosen = torch.gather(pv, 1, index.unsqueeze(-1).expand(-1, -1, pv.shape[-1]))   # (B, HW, C_v k k)
    summed = F.fold(chosen.transpose(1, 2), (h, w), k, padding=k // 2)
    overlap = F.fold(torch.ones_like(chosen[:1, :, : k * k]).transpose(1, 2), (h, w), k, padding=k // 2)
    return summed / overlap, weight.view(b, 1, h, w), index


@torch.no_grad()
def srntt_swap(lr: torch.Tensor, ref: torch.Tensor, net: nn.Module, layer: str, scale: int = 4, k: int = 3,
               batch_size: int = 16) -> dict[str, torch.Tensor]:
    """Pre-SR, blur the reference the same way, match in feature space, swap features and pixels.

    The LR image is pre-super-resolved by bicubic upsampling (``pre_sr``); the reference is
    downsampled and upsampled (``Ref down-up``) so both have the same blur, and matched at the
    feature tap ``layer`` (stride s); the sharp reference's features and its pixels (as
    ``pixel_unshuffle(ref, s)``, i.e. s x s pixel blocks per position) are swapped in.

    Args:
        lr: (B, 3, h, w) LR images in [0, 1].
        ref: (B, 3, H', W') reference images in [0, 1] (H', W' divisible by ``scale`` and by the stride).
        net: a frozen ``features.FeatureNet``.
        layer: the matching tap (e.g. ``net.default_low``, stride 2).
        scale: SR factor.
        k: patch size.
        batch_size: images per similarity computation (memory ~ B (hw s^2)^2 / stride^4).

    Returns:
        dict with ``pre_sr`` (B, 3, H, W), ``features`` (B, C, H/s, W/s) swapped features,
        ``pixels`` (B, 3, H, W) swapped reference pixels, ``weight`` (B, 1, H/s, W/s) weight map.

    Reference:
        Zhang et al. 2019, arXiv:1903.00834, Sec. 3.1 and Fig. 2.
    """
    checks.image_batch(lr, "lr", channels=3)
    checks.image_batch(ref, "ref", channels=3)
    if len(lr) != len(ref):
        raise ValueError(f"lr and ref need the same batch size, got {len(lr)} and {len(ref)}")
    if layer not in net.strides:
        raise ValueError(f"unknown layer {layer!r}; the feature network has {list(net.strides)}")
    checks.positive_int(scale, "scale")
    checks.positive_int(batch_size, "batch_size")
    stride = net.strides[layer]
    if (lr.shape[-2] * scale) % stride or (lr.shape[-1] * scale) % stride:
        raise ValueError(f"the pre-SR size {lr.shape[-2] * scale}x{lr.shape[-1] * scale} (LR x scale) must be "
                         f"divisible by the feature stride {stride}")
    if ref.shape[-1] % (scale * stride) or ref.shape[-2] % (scale * stride):
        raise ValueError(f"reference size {tuple(ref.shape[-2:])} must be divisible by scale * stride = "
                         f"{scale * stride}")
    dev = net.device
    out: dict[str, list[torch.Tensor]] = {"pre_sr": [], "features": [], "pixels": [], "weight": []}
    for i in range(0, len(lr), batch_size):
        lr_i, ref_i = lr[i:i + batch_size].to(dev), ref[i:i + batch_size].to(dev)
        pre = images.upsample(lr_i, scale)                                   # LR up (pre-SR)
        ref_blur = images.upsample(images.downsample(ref_i, scale), scale)   # Ref down-up
        f_c, f_rb, f_r = (net(t, [layer])[layer] for t in (pre, ref_blur, ref_i))
        pix = F.pixel_unshuffle(ref_i, stride)                                    # (B, 3 s^2, H'/s, W'/s)
        vals = torch.cat([f_r, pix], 1)
        swapped, weight, _ = feature_swap(f_c, f_rb, vals, k)
        out["pre_sr"].append(pre.cpu())
        out["features"].append(swapped[:, : f_r.shape[1]].cpu())
        out["pixels"].append(F.pixel_shuffle(swapped[:, f_r.shape[1]:], stride).clamp(0, 1).cpu())
        out["weight"].append(weight.cpu())
    return {key: torch.cat(v) for key, v in out.items()}


def reference_crops(images: Mapping[str, torch.Tensor], size: int, n: int, shift: float = 0.5, p_bad: float = 0.5,
                    seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """HR patches with a reference each: a shifted overlapping crop of the same photo, or a crop of another one.

    A *good* reference is the crop moved by ``shift * size`` pixels in one of the 8 directions (so
    ``1 - shift`` of its area shows the same content at full resolution for a horizontal or vertical
    move, ``(1 - shift)^2`` for a diagonal one, the rest similar content nearby); a *bad* reference is
    a random crop of a different photo.

    Args:
        images: name -> (C, H, W) photos in [0, 1]; those smaller than ``size * (1 + 2 shift)`` are skipped
            (at least 2 must remain).
        size: side of HR patch and reference.
        n: number of pairs.
        shift: offset of a good reference as a fraction of ``size`` (0: the patch itself).
        p_bad: probability of a bad reference.
        seed: seed.

    Returns:
        ``(hr, ref, good)``: (n, 3, size, size), (n, 3, size, size), (n,) bool.
    """
    checks.positive_int(size, "size")
    checks.positive_int(n, "n")
    if not 0 <= shift < 1 or not 0 <= p_bad <= 1:
        raise ValueError(f"need 0 <= shift < 1 and 0 <= p_bad <= 1, got shift={shift}, p_bad={p_bad}")
    off = round(shift * size)
    imgs = [im.expand(3, -1, -1) if im.shape[0] == 1 else im for im in images.values()
            if min(im.shape[-2:]) >= size + 2 * off]           # photos too small for a shifted crop are skipped
    if len(imgs) < 2:
        raise ValueError(f"reference_crops needs at least 2 photos with both sides >= size * (1 + 2 shift) = "
                         f"{size + 2 * off} px (bad references come from another photo); got {len(imgs)}")
    g = torch.Generator().manual_seed(seed)
    hr, ref = torch.empty(n, 3, size, size), torch.empty(n, 3, size, size)
    good = torch.rand(n, generator=g) >= p_bad

    def crop(im: torch.Tensor, lo: int = 0) -> tuple[int, int]:
        i = lo + int(torch.randint(im.shape[1] - size - 2 * lo + 1, (1,), generator=g))
        j = lo + int(torch.randint(im.shape[2] - size - 2 * lo + 1, (1,), generator=g))
        return i, j

    for t in range(n):
        a = int(torch.randint(len(imgs), (1,), generator=g))
        im = imgs[a]
        i, j = crop(im, off)
        hr[t] = im[:, i:i + size, j:j + size]
        if good[t]:
            di, dj = [int(v) for v in torch.randint(-1, 2, (2,), generator=g) * off]
            if di == dj == 0:
                dj = off
            ref[t] = im[:, i + di:i + di + size, j + dj:j + dj + size]
        else:
            other = imgs[(a + 1 + int(torch.randint(len(imgs) - 1, (1,), generator=g))) % len(imgs)]
            p, q = crop(other)
            ref[t] = other[:, p:p + size, q:q + size]
    return hr, ref, good


def test_references(size: int, shifts: Sequence[float] = (0.5,), rows: int = 2, split: str = "test",
                    bad_seed: int = 0, scale: int = 4) -> tuple[torch.Tensor, dict[float, torch.Tensor], torch.Tensor]:
    """Held-out HR crops with references of graded similarity and an unrelated reference each.

    Each photo is downsized so that its short side is ``max(rows, 2) * size``; the HR crops are ``rows``
    size x size crops stacked around the centre, in one column. The reference at shift ``t`` is the same
    rows moved right by ``t * size`` pixels (a different view of the same scene: the right ``1 - t`` of
    the HR crop is in it, the rest is nearby content), so smaller shifts are more similar references
    (the graded similarity levels of SRNTT's CUFED5); the *bad* reference is a random crop of a training
    photo (unrelated content). The column is placed so that the largest shift still fits.

    Args:
        size: side of HR crops and references, divisible by ``scale`` (and by the feature stride).
        shifts: offsets of the references as fractions of ``size``, each in [0, 1].
        rows: crops per photo (8 held-out crops from the 4 test photos with ``rows=2``).
        split: photo split of the HR images (``"test"``, held out).
        bad_seed: seed of the bad references' positions.
        scale: SR factor the size must be divisible by.

    Returns:
        ``(hr, refs, bad_ref)``: (N, 3, size, size) HR crops, ``{shift: (N, 3, size, size)}`` references,
        (N, 3, size, size) unrelated references; N = rows x number of photos, photo by photo.

    Reference:
        Zhang et al. 2019, arXiv:1903.00834, Sec. 5 (CUFED5: references at five similarity levels).
    """
    checks.positive_int(size, "size")
    checks.positive_int(rows, "rows")
    if size % scale:
        raise ValueError(f"size={size} must be divisible by scale={scale}")
    shifts = [float(t) for t in shifts]
    if not shifts or not all(0 <= t <= 1 for t in shifts):
        raise ValueError(f"shifts must be fractions of the crop in [0, 1], got {shifts}")
    offs = {t: round(t * size) for t in shifts}
    side = max(rows, 2) * size
    hr: list[torch.Tensor] = []
    refs: dict[float, list[torch.Tensor]] = {t: [] for t in shifts}
    for name, im in data.photos(split).items():
        im = im.expand(3, -1, -1) if im.shape[0] == 1 else im
        h, w = im.shape[-2:]
        f = side / min(h, w)
        if f < 1:
            im = data.resize(im[None], (max(side, round(h * f)), max(side, round(w * f))))[0].clamp(0, 1)
        h, w = im.shape[-2:]
        if min(h, w) < side or w < size + max(offs.values()):
            raise ValueError(f"{split} photo {name!r} ({h}x{w} after resizing) is too small for {rows} rows of "
                             f"{size} px crops with shifts up to {max(shifts)}")
        j = (w - size - max(offs.values())) // 2
        for k in range(rows):
            i = (h - rows * size) // 2 + k * size
            hr.append(im[:, i:i + size, j:j + size])
            for t, off in offs.items():
                refs[t].append(im[:, i:i + size, j + off:j + off + size])
    bad = data.patches(data.photos("train"), size, len(hr), seed=bad_seed, channels=3)
    return torch.stack(hr), {t: torch.stack(v) for t, v in refs.items()}, bad


# ----------------------------------------------------------------------------------------
# SRNTT: training and evaluation of the texture-transfer network, its ablations as data
# ----------------------------------------------------------------------------------------
REFERENCE_MODES = ("reference", "no weight map", "no reference")


def reference_inputs(swaps: Mapping[str, torch.Tensor], mode: str = "reference"
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The reference inputs of the texture-transfer network for one variant: (features M, pixels, weight S).

    Args:
        swaps: the output of :func:`srntt_swap` (``features``, ``pixels``, ``weight``).
        mode: ``"reference"``: SRNTT, S clamped at 0 (a negative similarity is no match);
            ``"no weight map"``: S replaced by ones (every swapped patch trusted, in the input and in the
            texture loss); ``"no reference"``: all three zero, the same network as single-image SR (the
            texture loss vanishes with S = 0).

    Returns:
        ``(features, pixels, weight)`` shaped like ``swaps``' entries.

    Reference:
        Zhang et al. 2019, arXiv:1903.00834, Sec. 3.3 (weight map) and Sec. 5 (ablations).
    """
    checks.one_of(mode, "mode", REFERENCE_MODES)
    missing = {"features", "pixels", "weight"} - set(swaps)
    if missing:
        raise ValueError(f"swaps must be the dict of superres.srntt_swap; missing {sorted(missing)}")
    m, pix, s = swaps["features"], swaps["pixels"], swaps["weight"].clamp_min(0)
    if mode == "no weight map":
        s = torch.ones_like(s)
    elif mode == "no reference":
        m, pix, s = torch.zeros_like(m), torch.zeros_like(pix), torch.zeros_like(s)
    return m, pix, s


def srntt_loss(net: nn.Module, batch: Sequence[torch.Tensor], fnet: nn.Module, layer: str, tex_weight: float
               ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""SRNTT's objective at one layer: $\mathcal{L}_{rec} + \lambda_{tex}\mathcal{L}_{tex}$ on a batch.

    $$\mathcal{L}_{rec} = \lVert I^{HR} - I^{SR}\rVert_1,\qquad
      \mathcal{L}_{tex} = \big\lVert G_r(\phi(I^{SR}) \odot S) - G_r(M \odot S)\big\rVert_F^2$$
    (Gram matrices, :func:`course_lib.losses.texture_loss`); the texture term is skipped when S is zero
    (no reference: it would be zero anyway).

    Args:
        net: a ``nets.superres.TextureTransferNet``.
        batch: ``(hr, lr, features, pixels, pre_sr, weight)`` as (B, ...) tensors on the net's device.
        fnet, layer: the frozen feature network and the tap of the swapped features.
        tex_weight: $\lambda_{tex}$ (>= 0).

    Returns:
        ``(loss, {"rec": ..., "tex": ...})`` for ``train.fit_loss``.

    Reference:
        Zhang et al. 2019, arXiv:1903.00834, Eq. (4)-(5).
    """
    if len(batch) != 6:
        raise ValueError(f"batch must be (hr, lr, features, pixels, pre_sr, weight), got {len(batch)} tensors")
    if tex_weight < 0:
        raise ValueError(f"tex_weight must be >= 0, got {tex_weight}")
    hr, lr, m, pix, pre, s = batch
    out = net(lr, m, pix, pre, s)
    rec = (out - hr).abs().mean()                                              # L_rec
    if tex_weight > 0 and bool(s.any()):
        tex = losses.texture_loss(fnet(out, [layer])[layer], m, weight=s)      # L_tex, Eq. (5)
    else:
        tex = torch.zeros((), device=out.device)
    return rec + tex_weight * tex, {"rec": rec, "tex": tex}


def super_resolve_with_reference(net: nn.Module, lr: torch.Tensor, swaps: Mapping[str, torch.Tensor],
                                 mode: str = "reference", batch_size: int = 16) -> torch.Tensor:
    """Run a texture-transfer network in eval mode on LR images and their swaps -> (B, 3, H, W) in [0, 1].

    Args:
        net: a ``nets.superres.TextureTransferNet``.
        lr: (B, 3, h, w) LR images in [0, 1].
        swaps: :func:`srntt_swap` of ``lr`` and the references (its ``pre_sr`` is the bicubic base).
        mode: which reference inputs (:func:`reference_inputs`).
        batch_size: images per forward pass.
    """
    checks.image_batch(lr, "lr", channels=3)
    if len(swaps["pre_sr"]) != len(lr):
        raise ValueError(f"swaps are for {len(swaps['pre_sr'])} images, lr has {len(lr)}")
    m, pix, s = reference_inputs(swaps, mode)
    out = train.predict(net, (lr, m, pix, swaps["pre_sr"], s), batch_size=batch_size)
    return out.float().cpu().clamp(0, 1)
