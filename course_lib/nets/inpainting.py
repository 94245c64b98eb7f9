"""Inpainting networks: Pathak's context encoder and PG-GAN's two-headed discriminator.

* :class:`ChannelWiseFC` -- a fully connected layer *per feature map*: every channel's h*w
  activations are mapped to h*w outputs by that channel's own matrix, with no weights across
  channels (``C (hw)^2`` parameters instead of ``(C hw)^2``). It lets every bottleneck position
  see the whole context, which a stack of small convolutions at this depth cannot.
* :class:`ContextEncoder` -- Pathak et al.'s encoder - channel-wise FC - decoder that predicts
  the missing centre square; ``forward`` pastes the prediction into the known context.
* :class:`Composite` -- wraps any image-to-image generator (e.g. ``image2image.ResNetGenerator``)
  so that its output keeps the known pixels and only fills the hole: ``m * G(c) + (1 - m) * x``;
  with ``residual=True`` G predicts a correction to :func:`smooth_fill`, a smooth fill from the border.
* :func:`smooth_fill` -- learning-free smooth filling (pull-push pyramid + relaxation, a membrane fill):
  a base whose colours come from the hole's own border, so a generator that predicts a correction to it
  does not drift to the training set's mean colour (the tint of an under-trained fill).
* :func:`biharmonic_fill` -- the smoothest surface through the known pixels (minimum squared Laplacian),
  solved exactly for the hole pixels of a whole batch at once in torch: the other base of ``Composite``.
* :class:`TwoHeadDiscriminator` / :func:`pg_discriminator` -- PG-GAN's discriminator: shared first
  layers, then a *global* head (one score per image) and a *PatchGAN* head (a score per patch),
  built from ``image2image.PatchDiscriminator``.
* :class:`EngineHeads` -- adapts a (multi-)head discriminator to the adversarial engine: the first
  head's scores for the engine's diagnostics and every head by name for the loss terms.

Inputs follow :func:`course_lib.inpainting.masked_input`: ``c = cat([x * (1 - m) + fill * m, m])``
(B, C + 1, H, W), image channels first, the hole mask (1 = missing) last. Networks know nothing of
losses (those are in :mod:`course_lib.inpainting`).

References:
    Pathak, Krähenbühl, Donahue, Darrell & Efros, "Context Encoders: Feature Learning by Inpainting",
    CVPR 2016, arXiv:1604.07379 (Sec. 3.1, Fig. 2).
    Demir & Unal, "Patch-Based Image Inpainting with Generative Adversarial Networks", arXiv:1803.07422 (Sec. 3).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks
from . import image2image as i2i


def _power_of_two(v: int, name: str, minimum: int) -> int:
    checks.positive_int(v, name)
    if v < minimum or v & (v - 1):
        raise ValueError(f"{name} must be a power of two >= {minimum}, got {v}")
    return v


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of the 4 neighbours of every pixel, borders replicated (no flux across the image border): the
    stencil of :func:`smooth_fill`'s relaxation and of :func:`_laplacian`."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return p[..., :-2, 1:-1] + p[..., 2:, 1:-1] + p[..., 1:-1, :-2] + p[..., 1:-1, 2:]


def smooth_fill(x: torch.Tensor, mask: torch.Tensor, iterations: int = 8, eps: float = 1e-6) -> torch.Tensor:
    r"""Fill the holes smoothly from their border (no learning, differentiable, any device).

    A multigrid membrane fill. *Pull*: average the known pixels and their weights $w = 1 - m$ down a
    pyramid (2x2 area averages) to 1x1. *Push*: from the coarsest level up, upsample the estimate and
    relax it ``iterations`` times towards the solution of Laplace's equation, keeping each cell's own
    average in proportion to how much of it is known:
    $$\hat x_l \leftarrow w_l\,\frac{(x w)_l}{w_l} + (1 - w_l)\,\tfrac14\textstyle\sum_{4\text{ neighbours}} \hat x_l.$$
    At full resolution $w \in \{0, 1\}$: the known pixels are kept exactly and the hole gets a smooth
    surface through its border colours (``iterations=0`` is the plain pull-push fill, which mixes in
    colours from far away; 8 comes within about 1 dB of the biharmonic fill at a few ms per batch).

    Args:
        x: (B, C, H, W) images (any range; the hole content is ignored).
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.
        iterations: Jacobi relaxations per pyramid level (>= 0).
        eps: guard of the normalisation where a whole cell is missing.

    Returns:
        (B, C, H, W) in x's dtype: x outside the holes, the smooth fill inside.

    Reference:
        Gortler, Grzeszczuk, Szeliski & Cohen, "The Lumigraph", SIGGRAPH 1996, Sec. 3.4 (pull-push);
        Briggs, Henson & McCormick, "A Multigrid Tutorial", SIAM 2000 (relaxation on a pyramid).
    """
    checks.image_batch(x, "x")
    checks.image_batch(mask, "mask", channels=1)
    if tuple(mask.shape[-2:]) != tuple(x.shape[-2:]) or len(mask) not in (1, len(x)):
        raise ValueError(f"mask must be (B, 1, H, W) or (1, 1, H, W) for images {tuple(x.shape)}, "
                         f"got {tuple(mask.shape)}")
    if not (isinstance(iterations, int) and iterations >= 0):
        raise ValueError(f"iterations must be an int >= 0, got {iterations!r}")
    x32 = x.float()
    w = 1 - mask.to(device=x.device, dtype=torch.float32).expand(len(x), 1, *x.shape[-2:])
    xs, ws = [x32 * w], [w]
    while max(xs[-1].shape[-2:]) > 1:                             # pull: H x W -> ... -> 1 x 1
        size = tuple(math.ceil(s / 2) for s in xs[-1].shape[-2:])
        xs.append(F.adaptive_avg_pool2d(xs[-1], size))
        ws.append(F.adaptive_avg_pool2d(ws[-1], size))
    est = xs[-1] / ws[-1].clamp_min(eps)
    for xl, wl in zip(reversed(xs[:-1]), reversed(ws[:-1])):      # push: coarse estimates, relaxed per level
        own = xl / wl.clamp_min(eps)                              # the cell's average of its known pixels
        est = F.interpolate(est, size=xl.shape[-2:], mode="bilinear", align_corners=False)
        est = wl * own + (1 - wl) * est
        for _ in range(iterations):
            neighbours = 0.25 * _neighbour_sum(est)
            est = wl * own + (1 - wl) * neighbours
    return (x32 * w + est * (1 - w)).to(x.dtype)


@functools.lru_cache(maxsize=16)
def _bilaplacian(h: int, w: int, device: str = "cpu", dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """$M = L^T L$ ((hw, hw), cached per device and dtype) for the 5-point Laplacian $L$ with replicated
    (no-flux) image borders."""
    if (device, dtype) != ("cpu", torch.float64):
        return _bilaplacian(h, w).to(device=device, dtype=dtype)
    n = h * w
    eye = torch.eye(n, dtype=torch.float64).reshape(n, 1, h, w)
    return _bilaplacian_apply(eye).reshape(n, n)          # row j = M e_j (M is symmetric): no dense product


_DENSE_PIXELS = 64 * 64      # images up to this many pixels are solved whole (a dense (HW)^2 operator)


def _biharmonic_dense(x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """The batched exact solve of :func:`biharmonic_fill` on small images; ``missing`` (B, H*W) bool."""
    b, c, h, w = x.shape
    n = int(missing.sum(1).max())
    if n == 0:
        return x
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    op = _bilaplacian(h, w, str(x.device), dtype)
    known = x.to(dtype).reshape(b, c, h * w) * (~missing)[:, None].to(dtype)
    order = torch.argsort((~missing).to(torch.int8), dim=1, stable=True)[:, :n]   # missing pixels first
    valid = torch.gather(missing, 1, order)                                        # (B, n): padding is False
    a = op[order[:, :, None], order[:, None, :]]                                    # (B, n, n) = M_hh
    both = valid[:, :, None] & valid[:, None, :]
    a = torch.where(both, a, torch.diag_embed((~valid).to(dtype)))                  # padding rows: identity
    idx = order[:, None, :].expand(b, c, n)
    rhs = -torch.gather(_bilaplacian_apply(known.reshape(b, c, h, w)).reshape(b, c, h * w), 2, idx)
    rhs = (rhs * valid[:, None, :]).transpose(1, 2)                                 # -(M x_k)_h, (B, n, C)
    u = torch.cholesky_solve(rhs, torch.linalg.cholesky(a)).transpose(1, 2)         # M_hh is SPD; (B, C, n)
    out = known.scatter(2, idx, torch.where(valid[:, None, :], u, torch.gather(known, 2, idx)))
    return out.reshape(b, c, h, w).to(x.dtype)


def _laplacian(x: torch.Tensor) -> torch.Tensor:
    """The 5-point Laplacian with replicated borders, the L of :func:`_bilaplacian`, as tensor operations."""
    return _neighbour_sum(x) - 4 * x


def _bilaplacian_apply(x: torch.Tensor) -> torch.Tensor:
    """$L^T L x$ for (B, C, H, W) x without the dense matrix: $L^T$ is the gradient of $<L z, L x>$ in z."""
    with torch.enable_grad():
        z = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad((_laplacian(z) * _laplacian(x.detach())).sum(), z)
    return grad


def biharmonic_fill(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    r"""Fill the holes with the smoothest surface through the known pixels (no learning, any device).

    For each image and channel the hole values $u$ minimise the squared discrete Laplacian over the whole
    image, with the known pixels $x_k$ fixed:
    $$\min_u \lVert L_h u + L_k x_k \rVert^2 \;\Rightarrow\; (L_h^T L_h)\, u = -L_h^T L_k x_k ,$$
    a linear system with one unknown per missing pixel ($L^T L$ is the biharmonic operator $\Delta^2$).
    Unlike the membrane fill (:func:`smooth_fill`, $\Delta u = 0$), which averages the border's colours, it
    continues the border's gradients into the hole -- the classical biharmonic inpainting
    (``course_lib.inpainting.biharmonic`` uses scikit-image, per image on the CPU; the two differ only in how
    the stencil meets the hole's border).

    Images up to 64x64 are solved whole, the batch at once (about 7 ms for 16 holes of 16x16 on two CPU
    cores). Larger images are solved per group of nearby holes, each in a window 2 px larger than the group:
    the rows of $L$ that touch a hole reach 2 px beyond it, so the windowed solve is the whole-image one.

    Args:
        x: (B, C, H, W) images (any range; the hole content is ignored).
        mask: (B, 1, H, W) or (1, 1, H, W), 1 = missing.

    Returns:
        (B, C, H, W) in x's dtype: x outside the holes, the biharmonic fill inside.

    Raises:
        ValueError: for a group of touching holes whose window exceeds 64x64 pixels (use :func:`smooth_fill`).

    Reference:
        Damelin & Hoang, "On Surface Completion and Image Inpainting by Biharmonic Functions", 2018.
    """
    checks.image_batch(x, "x")
    checks.image_batch(mask, "mask", channels=1)
    b, c, h, w = x.shape
    if tuple(mask.shape[-2:]) != (h, w) or len(mask) not in (1, b):
        raise ValueError(f"mask must be (B, 1, H, W) or (1, 1, H, W) for images {tuple(x.shape)}, "
                         f"got {tuple(mask.shape)}")
    missing = (mask.to(x.device) > 0.5).expand(b, 1, h, w)
    if h * w <= _DENSE_PIXELS:
        return _biharmonic_dense(x, missing.reshape(b, h * w))
    from scipy import ndimage

    out = x.clone()
    for i in range(b):
        m = missing[i, 0].cpu().numpy()
        groups, _ = ndimage.label(ndimage.binary_dilation(m, iterations=2))      # holes within 4 px: one system
        for k, box in enumerate(ndimage.find_objects(groups), start=1):
            r0, r1 = max(box[0].start - 2, 0), min(box[0].stop + 2, h)
            c0, c1 = max(box[1].start - 2, 0), min(box[1].stop + 2, w)
            if (r1 - r0) * (c1 - c0) > _DENSE_PIXELS:
                raise ValueError(f"biharmonic_fill solves each group of touching holes in its own window; one "
                                 f"needs {r1 - r0}x{c1 - c0} px, more than 64x64 (use smooth_fill)")
            own = torch.from_numpy((groups[r0:r1, c0:c1] == k) & m[r0:r1, c0:c1]).to(x.device)
            out[i:i + 1, :, r0:r1, c0:c1] = _biharmonic_dense(out[i:i + 1, :, r0:r1, c0:c1], own.reshape(1, -1))
    return out


class ChannelWiseFC(nn.Module):
    r"""A fully connected layer applied to each channel separately (Pathak et al. 2016, Sec. 3.1).

    $$y_{b,c,:} = W_c\, x_{b,c,:} + b_c, \qquad W_c \in \mathbb{R}^{hw \times hw}$$

    with $x_{b,c,:}$ the flattened $h \times w$ feature map of channel $c$. No information moves
    between channels (the paper follows it with a stride-1 convolution for that).

    Args:
        channels: C.
        size: h = w of the feature maps.
    """

    def __init__(self, channels: int, size: int):
        super().__init__()
        self.channels, self.size = checks.positive_int(channels, "channels"), checks.positive_int(size, "size")
        n = size * size
        self.weight = nn.Parameter(torch.randn(channels, n, n) / math.sqrt(n))   # (C, out hw, in hw)
        self.bias = nn.Parameter(torch.zeros(channels, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x", channels=self.channels)
        if tuple(x.shape[-2:]) != (self.size, self.size):
            raise ValueError(f"ChannelWiseFC was built for {self.size}x{self.size} maps, got {tuple(x.shape[-2:])}")
        b = len(x)
        flat = x.reshape(b, self.channels, -1)                              # (B, C, hw)
        y = torch.einsum("bcn,cmn->bcm", flat, self.weight) + self.bias     # each channel its own W_c
        return y.reshape(b, self.channels, self.size, self.size)


class ContextEncoder(nn.Module):
    """Pathak's context encoder: (B, C + 1, S, S) masked input -> (B, C, S, S) with the centre filled.

    Encoder: stride-2 4x4 convolutions (BN, LeakyReLU 0.2) from S x S down to 4 x 4 with channels
    width, 2 width, ...; a channel-wise FC layer at 4 x 4; a stride-1 1x1 convolution mixing the
    channels; decoder: stride-2 transposed convolutions (BN, ReLU) from 4 x 4 up to the hole size,
    tanh. :meth:`centre` returns the predicted centre (B, C, hole, hole) in [-1, 1]; :meth:`forward`
    pastes it into the known context (the image channels of the input).

    Args:
        in_channels: channels of the input (C + 1 with the mask channel, or C).
        out_channels: C.
        image_size: S, a power of two >= 8.
        hole: side of the centre square (a power of two with 8 <= hole < S; S / 2 in the paper).
        width: channels after the first layer (64 in the paper), doubled per layer up to 8 width.
    """

    def __init__(self, in_channels: int = 4, out_channels: int = 3, image_size: int = 32, hole: int = 16,
                 width: int = 64):
        super().__init__()
        checks.positive_int(in_channels, "in_channels")
        checks.positive_int(out_channels, "out_channels")
        checks.positive_int(width, "width")
        _power_of_two(image_size, "image_size", 8)
        _power_of_two(hole, "hole", 8)
        if hole >= image_size:
            raise ValueError(f"hole ({hole}) must be smaller than image_size ({image_size})")
        if in_channels < out_channels:
            raise ValueError(f"in_channels ({in_channels}) must hold the {out_channels} image channels (+ the mask)")
        self.in_channels, self.out_channels, self.image_size, self.hole = in_channels, out_channels, image_size, hole
        n_down, n_up = int(math.log2(image_size // 4)), int(math.log2(hole // 4))
        enc: list[nn.Module] = []
        c = in_channels
        for i in range(n_down):                                   # S -> S/2 -> ... -> 4
            w = min(width * 2 ** i, 8 * width)
            enc += [nn.Conv2d(c, w, 4, 2, 1), *([nn.BatchNorm2d(w)] if i > 0 else []), nn.LeakyReLU(0.2)]
            c = w
        self.encoder = nn.Sequential(*enc)
        self.bottleneck = nn.Sequential(ChannelWiseFC(c, 4), nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU())
        dec: list[nn.Module] = []
        for i in range(n_up):                                     # 4 -> 8 -> ... -> hole
            last = i == n_up - 1
            w = out_channels if last else max(c // 2, width)
            dec += [nn.ConvTranspose2d(c, w, 4, 2, 1)] + ([nn.Tanh()] if last else [nn.BatchNorm2d(w), nn.ReLU()])
            c = w
        self.decoder = nn.Sequential(*dec)
        a = (image_size - hole) // 2
        m = torch.zeros(1, 1, image_size, image_size)
        m[..., a:a + hole, a:a + hole] = 1
        self.register_buffer("centre_mask", m, persistent=False)

    def centre(self, c: torch.Tensor) -> torch.Tensor:
        """The predicted centre: (B, in_channels, S, S) -> (B, out_channels, hole, hole) in [-1, 1]."""
        checks.image_batch(c, "c", channels=self.in_channels)
        if tuple(c.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(f"ContextEncoder was built for {self.image_size}x{self.image_size} inputs, "
                             f"got {tuple(c.shape[-2:])}")
        return self.decoder(self.bottleneck(self.encoder(c)))

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        centre = self.centre(c)
        a = (self.image_size - self.hole) // 2
        full = F.pad(centre, (a, a, a, a))                        # the centre at its place, zeros around
        return c[:, :self.out_channels] * (1 - self.centre_mask) + full * self.centre_mask


class Composite(nn.Module):
    """Keep the known pixels, take the generator's output in the hole: ``m * G(c) + (1 - m) * x_known``.

    With ``residual=True`` the hole is first filled by a learning-free base (``base``: :func:`smooth_fill`, a
    membrane through the border colours, or :func:`biharmonic_fill`), G sees that filled image and the mask,
    and its output is a correction:
    ``m * clamp(base + G([base, m]), -1, 1) + (1 - m) * x_known``. G's last convolution starts at zero,
    so training starts from the smooth fill; a generator that has not learned the colours yet returns
    the border's colours, not the training set's mean colour (an under-trained fill's tint).

    Args:
        generator: (B, C + 1, H, W) -> (B, C, H, W), e.g. ``image2image.ResNetGenerator(C + 1, C)``.
        residual: predict a correction to the smooth fill (True) or the pixels themselves (False).
        iterations: relaxations per pyramid level of :func:`smooth_fill` (``base="membrane"`` only).
        base: the fill G corrects (``residual=True`` only): ``"membrane"`` (:func:`smooth_fill`, fast, takes
            the border's colours and averages them) or ``"biharmonic"`` (:func:`biharmonic_fill`, an exact
            solve per batch, continues the border's gradients).

    The input ``c`` is :func:`course_lib.inpainting.masked_input`'s: image channels then the mask.
    """

    BASES = ("membrane", "biharmonic")

    def __init__(self, generator: nn.Module, residual: bool = False, iterations: int = 8, base: str = "membrane"):
        super().__init__()
        checks.one_of(base, "base", self.BASES)
        self.generator = generator
        self.residual, self.iterations, self.base = bool(residual), iterations, base
        if self.residual:                                         # the correction starts at 0
            last = [m for m in generator.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
            if not last:
                raise ValueError(f"residual=True zeroes the generator's output convolution, but "
                                 f"{type(generator).__name__} has no Conv2d/ConvTranspose2d layer")
            with torch.no_grad():
                last[-1].weight.zero_()
                if last[-1].bias is not None:
                    last[-1].bias.zero_()

    def forward(self, c: torch.Tensor) -> torch.Tensor:
        checks.image_batch(c, "c")
        if c.shape[1] < 2:
            raise ValueError(f"c must hold the image channels and the mask channel (B, C + 1, H, W), got "
                             f"{tuple(c.shape)}")
        m, known = c[:, -1:], c[:, :-1]
        if not self.residual:
            return m * self.generator(c) + (1 - m) * known
        if self.base == "biharmonic":
            base = biharmonic_fill(known, m)
        else:
            base = smooth_fill(known, m, self.iterations)
        out = (base + self.generator(torch.cat([base, m], 1))).clamp(-1, 1)
        return m * out + (1 - m) * known


class TwoHeadDiscriminator(nn.Module):
    """PG-GAN's discriminator: shared layers, then a global head and a PatchGAN head.

    ``forward(x) -> (global_scores (B,), patch_scores (B, 1, h, w))`` (raw logits).

    Args:
        trunk: the shared layers (nn.Identity() for two separate discriminators).
        global_head: trunk features -> (B, 1, 1, 1) or (B, 1) (one score per image).
        patch_head: trunk features -> (B, 1, h, w) (one score per patch).
    """

    def __init__(self, trunk: nn.Module, global_head: nn.Module, patch_head: nn.Module):
        super().__init__()
        self.trunk, self.global_head, self.patch_head = trunk, global_head, patch_head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        checks.image_batch(x, "x")
        h = self.trunk(x)
        return self.global_head(h).reshape(len(x)), self.patch_head(h)


def pg_discriminator(channels: int = 3, image_size: int = 32, width: int = 64, norm: str = "instance"
                     ) -> TwoHeadDiscriminator:
    """PG-GAN's discriminator from the library's PatchGAN pieces (Demir & Unal 2018, Sec. 3, Fig. 3).

    The shared trunk is the first stride-2 layer of a 16x16 PatchGAN (``PatchDiscriminator(n_layers=1)``);
    its remaining layers are the patch head (so the patch branch keeps the 16-pixel receptive field), and
    a full-image discriminator (``global_pool=True``) on the trunk's S/2 x S/2 features is the global head.

    Args:
        channels: image channels.
        image_size: S (a power of two >= 16).
        width: channels of the shared layer (heads start at 2 width).
        norm: normalisation of the heads (``"instance"``, ``"batch"`` or ``"none"``).

    Returns:
        A :class:`TwoHeadDiscriminator` returning (global (B,), patch (B, 1, S/2 - 2, S/2 - 2)).
    """
    _power_of_two(image_size, "image_size", 16)
    patch = i2i.PatchDiscriminator(channels, n_layers=1, width=width, norm=norm)
    trunk, patch_head = patch.net[:2], patch.net[2:]       # conv 4x4 s2 + LeakyReLU | the rest of the PatchGAN
    global_head = i2i.PatchDiscriminator(width, width=2 * width, norm=norm, image_size=image_size // 2,
                                         global_pool=True)
    return TwoHeadDiscriminator(trunk, global_head, patch_head)


class EngineHeads(nn.Module):
    """Adapt a discriminator with one or more heads to the adversarial engine (``course_lib.gan``).

    ``forward(*args) -> (scores, {name: head output})``: the engine's diagnostics (``d_acc``) and its own
    adversarial loss (off in :func:`course_lib.inpainting.objective`, whose ``adv_weight`` is 0) see ``scores``
    -- the first head's outputs flattened to one score per row -- and the loss terms see every head by name
    in ``batch.aux_real`` / ``batch.aux_fake``.

    Args:
        discriminator: returns one tensor or a tuple of tensors (one per head).
        names: a name per head, e.g. ``("global", "patch")``.
    """

    def __init__(self, discriminator: nn.Module, names: Sequence[str] = ("adv",)):
        super().__init__()
        if isinstance(names, str) or not names:
            raise ValueError(f"names must be a non-empty sequence of head names, got {names!r}")
        self.discriminator, self.names = discriminator, tuple(names)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out = self.discriminator(*args)
        out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
        if len(out) != len(self.names):
            raise ValueError(f"the discriminator returned {len(out)} heads but names has {len(self.names)}: "
                             f"{self.names}")
        return out[0].reshape(-1), dict(zip(self.names, out))
