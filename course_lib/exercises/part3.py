"""Checks for the exercises of notebooks 11-15, re-exported by :mod:`course_lib.exercises`.

Every check takes the student's function or class, runs it on random inputs against the course's
version, and names the symptom of a known mistake when the result matches that mistake.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import io
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import ExerciseError, NotDone, _ok, check_close, run_student

__all__: list[str] = [
    "check_blur",
    "check_channel_wise_fc",
    "check_context_bottleneck",
    "check_dncnn",
    "check_multiscale_content_loss",
    "check_patch_similarity",
    "check_patchgan",
    "check_periodic_shuffle",
    "check_pggan_g_loss",
    "check_pix2pix_g_loss",
    "check_spade",
    "check_srgan_g_loss",
    "check_subpixel_upsample",
    "check_texture_swap",
    "check_weighted_texture_loss",
    "check_well_exposedness",
]


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------
def _call(fn: Callable[..., Any], *args: Any, what: str, crash_hint: str | None = None, **kw: Any) -> Any:
    """Run the student's code (:func:`course_lib.exercises.run_student`)."""
    return run_student(fn, *args, what=what, crash_hint=crash_hint, **kw)


def _keeps_rng(check: Callable[..., bool]) -> Callable[..., bool]:
    """Run a check without moving the global CPU random state, so a notebook's later cells draw as before."""

    @functools.wraps(check)
    def wrapped(*args: Any, **kw: Any) -> bool:
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kw)

    return wrapped


def _same(a: Any, b: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    return (isinstance(a, torch.Tensor) and a.shape == b.shape
            and torch.allclose(a.detach().double(), b.detach().double(), rtol=rtol, atol=atol))


def _close(value: Any, expected: torch.Tensor, what: str, wrong: Sequence[tuple[torch.Tensor, str]] = (),
           hint: str | None = None, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    """Quiet check_close that first names the symptom when ``value`` equals a known wrong answer."""
    if not _same(value, expected, rtol, atol):
        for alt, symptom in wrong:
            if _same(value, alt, rtol, atol):
                raise ExerciseError(f"{what}: {symptom}")
    with contextlib.redirect_stdout(io.StringIO()):
        check_close(value, expected, what, rtol=rtol, atol=atol, hint=hint)


def _source(obj: Any) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


def _build(cls: Any, *args: Any, what: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = _call(cls, *args, what=what)
    if not isinstance(net, nn.Module):
        raise ExerciseError(f"{what} should be an nn.Module (a class deriving from torch.nn.Module), "
                            f"got {type(net).__name__}")
    return net


def _state_shapes(net: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def _check_layout(net: nn.Module, expected: dict[str, tuple[int, ...]], what: str,
                  symptoms: Callable[[dict[str, tuple[int, ...]]], str | None] | None = None) -> None:
    """The student's parameters and buffers have the course's names and shapes (so its weights load)."""
    got = _state_shapes(net)
    if got == expected:
        return
    symptom = symptoms(got) if symptoms else None
    n_got = sum(p.numel() for p in net.parameters())
    n_exp = sum(int(torch.tensor(s).prod()) if s else 1 for k, s in expected.items()
                if not k.endswith(("running_mean", "running_var")))
    lines = [f"{k}: {s}" for k, s in expected.items()]
    raise ExerciseError(f"{what}: " + (symptom + ". " if symptom else "")
                        + f"parameters and buffers should be {{{', '.join(lines)}}} ({n_exp} parameters), "
                        f"got {got} ({n_got} parameters)")


def _load(net: nn.Module, state: dict[str, torch.Tensor]) -> None:
    net.load_state_dict(state, strict=False)


# ----------------------------------------------------------------------------------------
# 11 · super-resolution
# ----------------------------------------------------------------------------------------
@_keeps_rng
def check_periodic_shuffle(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    r"""Exercise 11 (periodic shuffle): ``fn(t, r)`` is $\mathcal{PS}$, (B, C r^2, H, W) -> (B, C, H r, W r).

    Compared with ``torch.nn.PixelShuffle`` for r = 2 and r = 3; names swapped sub-pixel rows and
    columns, the channel index varying fastest instead of slowest, and a reshape without a permute.
    """
    src = _source(fn)
    if "pixel_shuffle" in src.replace("PixelShuffle", "pixel_shuffle"):
        raise ExerciseError("periodic_shuffle: write it with reshape and permute; PixelShuffle is what it is "
                            "checked against")
    for shape, r in (((2, 12, 3, 5), 2), ((1, 18, 2, 4), 3)):
        torch.manual_seed(r)
        t = torch.randn(*shape)
        b, c, h, w = shape
        co = c // (r * r)
        what = f"periodic_shuffle(t of shape {shape}, r={r})"
        r3 = "it works for r=2 but not r=3: is r hard-coded?" if r == 3 else None
        out = _call(fn, t.clone(), r, what=what, crash_hint=r3)
        expected = F.pixel_shuffle(t, r)
        wrong = [
            (t.reshape(b, co, r, r, h, w).permute(0, 1, 4, 3, 5, 2).reshape(b, co, h * r, w * r),
             ("rows and columns of each r x r block are swapped: channel offset i*r + j goes to row y*r + i "
             "and column x*r + j (i is the row)")),
            (t.reshape(b, r, r, co, h, w).permute(0, 3, 4, 1, 5, 2).reshape(b, co, h * r, w * r),
             ("the channels are grouped the wrong way: output channel c takes the r^2 consecutive input channels "
             "c*r^2 ... c*r^2 + r^2 - 1 (reshape to (B, C, r, r, H, W), channel first)")),
            (t.reshape(b, co, h * r, w * r),
             ("a reshape alone does not interleave the sub-pixels: permute (B, C, i, j, H, W) to (B, C, H, i, W, j) "
             "before the last reshape")),
        ]
        _close(out, expected, what, wrong,
               hint=r3 or "PS(T)[c, y*r + i, x*r + j] = T[c*r*r + i*r + j, y, x]")
    return _ok("periodic_shuffle (r = 2 and r = 3, against torch.nn.PixelShuffle)")


def _subpixel_reference(x: torch.Tensor, state: dict[str, torch.Tensor], r: int) -> torch.Tensor:
    y = F.pixel_shuffle(F.conv2d(x, state["conv.weight"], state["conv.bias"], padding=1), r)
    return F.prelu(y, state["act.weight"])


@_keeps_rng
def check_subpixel_upsample(cls: Callable[..., nn.Module]) -> bool:
    r"""Exercise 11 (build): ``cls(width, r)`` is one sub-pixel stage: conv3x3 to $r^2 C$ channels, $\mathcal{PS}_r$, PReLU(C).

    Checks the parameter names and shapes (``conv``, ``act`` as in ``nets.superres.Upsample2x``, so the
    course's weights load), the output shape for r = 2 and 3, and the output with random weights loaded
    into both against conv -> pixel shuffle -> PReLU.
    """
    for width, r in ((8, 2), (4, 3)):
        what = f"SubPixelUpsample({width}, r={r})"
        net = _build(cls, width, r, what=what)
        c2 = r * r * width
        expected = {"conv.weight": (c2, width, 3, 3), "conv.bias": (c2,), "act.weight": (width,)}

        def symptoms(got: dict[str, tuple[int, ...]], width: int = width, r: int = r) -> str | None:
            cw = got.get("conv.weight")
            if cw and cw[0] == r * width and r * width != r * r * width:
                return f"the conv makes r*C = {r * width} channels; the shuffle needs r^2*C = {r * r * width}"
            if cw and cw[0] == width:
                return f"the conv keeps C = {width} channels: a sub-pixel conv makes r^2*C = {r * r * width}"
            if cw and cw[-1] != 3:
                return f"the conv has a {cw[-2]}x{cw[-1]} kernel; use 3x3 with padding=1"
            if got.get("act.weight") == (r * r * width,):
                return "PReLU acts on the r^2*C channels before the shuffle: apply PReLU(C) after it"
            if "act.weight" not in got:
                return "no PReLU named `act` (ReLU has no parameter: SRResNet uses PReLU(C))"
            return None

        _check_layout(net, expected, what, symptoms)
        torch.manual_seed(1)
        state = {"conv.weight": torch.randn(c2, width, 3, 3) * 0.3, "conv.bias": torch.randn(c2) * 0.1,
                 "act.weight": torch.rand(width) * 0.4 + 0.05}
        _load(net, state)
        x = torch.randn(2, width, 5, 6)
        with torch.no_grad():
            out = _call(net, x, what=f"{what}(x)")
            ref = _subpixel_reference(x, state, r)
            conv = F.conv2d(x, state["conv.weight"], state["conv.bias"], padding=1)
        wrong = [(F.pixel_shuffle(conv, r), "no activation after the shuffle: end with PReLU(C)"),
                 (F.relu(F.pixel_shuffle(conv, r)), ("negative values are zeroed: the activation is PReLU "
                                                     "(a learned slope), not ReLU")),
                 (F.pixel_shuffle(F.prelu(conv, state["act.weight"].repeat(r * r)), r),
                  "the activation comes before the shuffle")]
        _close(out, ref, f"{what}(x) with the same weights", wrong, hint="forward: act(shuffle(conv(x)))")
    return _ok("SubPixelUpsample (r = 2 and 3: parameters, shapes, outputs with the same weights)")


class _TinyFeatures(nn.Module):
    """A stand-in feature network with FeatureNet's interface: ``net(x, [layer])[layer]``."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(7)
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(6, 8, 3, stride=2, padding=1)
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        fa = torch.tanh(self.a(x))
        out = {"a": fa, "b": torch.tanh(self.b(fa))}
        return {k: out[k] for k in layers}


def _tv_sq(x: torch.Tensor) -> torch.Tensor:
    return (x[..., 1:, :] - x[..., :-1, :]).square().mean() + (x[..., :, 1:] - x[..., :, :-1]).square().mean()


@_keeps_rng
def check_srgan_g_loss(fn: Callable[..., torch.Tensor]) -> bool:
    r"""Exercise 11: ``fn(logits_fake, x_fake, x_real, net, layer, rescale, adv_weight, tv_weight)`` is $l^{SR}$.

    $l^{SR} = \text{rescale}\cdot\operatorname{mean}(\phi(x_{fake}) - \phi(x_{real}))^2
    + w_{adv}\operatorname{mean}\,\mathrm{softplus}(-\text{logits}) + w_{TV}\, l_{TV}$, on a small stand-in
    feature network, with weights large enough that every term counts; then no gradient may reach ``x_real``.
    """
    net = _TinyFeatures()
    torch.manual_seed(0)
    logits = torch.randn(4, 1)
    x_fake, x_real = torch.rand(4, 3, 16, 16), torch.rand(4, 3, 16, 16)
    rescale, aw, tw, layer = 0.5, 0.1, 0.05, "b"
    xf, xr, lf = x_fake.clone().requires_grad_(), x_real.clone().requires_grad_(), logits.clone().requires_grad_()
    out = _call(fn, lf, xf, xr, net, layer, rescale=rescale, adv_weight=aw, tv_weight=tw,
                what="srgan_g_loss")
    with torch.no_grad():
        f_f, f_r = net(x_fake, [layer])[layer], net(x_real, [layer])[layer]
        content = (f_f - f_r).square().mean()
        adv = F.softplus(-logits).mean()
        tv = _tv_sq(x_fake)
        dv = (x_fake[..., 1:, :] - x_fake[..., :-1, :]).square().mean()
        dh = (x_fake[..., :, 1:] - x_fake[..., :, :-1]).square().mean()
        tv_abs = (x_fake[..., 1:, :] - x_fake[..., :-1, :]).abs().mean() + \
            (x_fake[..., :, 1:] - x_fake[..., :, :-1]).abs().mean()
        expected = rescale * content + aw * adv + tw * tv
        wrong = [
            (rescale * content + aw * F.softplus(logits).mean() + tw * tv,
             "the adversarial term has the wrong sign: l_Gen = -log D(G(x)) = softplus(-logits)"),
            (rescale * content - aw * F.softplus(logits).mean() + tw * tv,
             "that is the saturating minimax term log(1 - D(G(x))); SRGAN minimises -log D(G(x)) = softplus(-logits)"),
            (rescale * content + aw * F.softplus(-logits).sum() + tw * tv,
             "l_Gen is summed over the batch: take the mean"),
            (content + aw * adv + tw * tv, "the content loss is not multiplied by `rescale`"),
            (rescale * (x_fake - x_real).square().mean() + aw * adv + tw * tv,
             "the content loss compares pixels: compare the feature maps net(x, [layer])[layer]"),
            (rescale * (f_f - f_r).square().sum() + aw * adv + tw * tv,
             "the content loss is summed: take the mean squared feature difference"),
            (rescale * content + aw * adv + tw * dv, "l_TV has only the vertical differences: add the horizontal ones"),
            (rescale * content + aw * adv + tw * dh, "l_TV has only the horizontal differences: add the vertical ones"),
            (rescale * content + aw * adv + tw * tv_abs, "l_TV uses absolute differences: square them"),
            (rescale * content + 1e-3 * adv + 2e-8 * tv,
             "adv_weight and tv_weight are ignored (hard-coded 1e-3 and 2e-8?): use the arguments"),
            (rescale * content + adv + tv, "the adversarial and TV terms are not weighted by adv_weight, tv_weight"),
        ]
    _close(out, expected, "srgan_g_loss", wrong,
           hint="rescale * mean feature MSE + adv_weight * softplus(-logits).mean() + tv_weight * l_TV")
    if not out.requires_grad:
        raise ExerciseError("srgan_g_loss: the loss has no gradient (did you detach x_fake or use .item()?)")
    out.backward()
    if xr.grad is not None and xr.grad.abs().max() > 0:
        raise ExerciseError("srgan_g_loss: a gradient flows into x_real: compute the target's features under "
                            "torch.no_grad() (or .detach() them): the HR image is data, not a variable")
    if xf.grad is None or xf.grad.abs().max() == 0:
        raise ExerciseError("srgan_g_loss: no gradient reaches x_fake: the generator would not learn")
    return _ok("srgan_g_loss (value of each term, no gradient into the target)")


# ----------------------------------------------------------------------------------------
# 12 · reference-based super-resolution
# ----------------------------------------------------------------------------------------
def _patches(f: torch.Tensor) -> torch.Tensor:
    return F.unfold(f, 3, padding=1)                                   # (B, 9C, HW)


@_keeps_rng
def check_patch_similarity(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    r"""Exercise 12: ``fn(content, reference)`` is $s_{ij}$, cosine similarities of all 3x3 patch pairs, (B, HW, H'W').

    Against ``superres.similarity``; names missing normalisation, normalisation over positions instead of
    per patch, only the reference patch normalised, and the transposed matrix.
    """
    from course_lib import superres

    torch.manual_seed(0)
    fc, fr = torch.randn(2, 4, 5, 6) + 0.5, torch.randn(2, 4, 7, 3) + 0.5
    out = _call(fn, fc.clone(), fr.clone(), what="patch_similarity")
    expected = superres.similarity(fc, fr)
    pc, pr = _patches(fc), _patches(fr)
    nr = F.normalize(pr, dim=1)
    wrong = [
        (pc.transpose(1, 2) @ pr, ("values outside [-1, 1]: the patches are not normalised; divide each patch "
                                  "(each column of the unfolded map, dim=1) by its length")),
        (F.normalize(pc, dim=2).transpose(1, 2) @ F.normalize(pr, dim=2),
         "normalised over positions (dim=2): normalise each patch, i.e. each column of the unfolded map (dim=1)"),
        (pc.transpose(1, 2) @ nr, ("only the reference patch is normalised (SRNTT's Eq. 1): normalise the content "
                                  "patch too, so that s_ij is a cosine in [-1, 1]")),
    ]
    if isinstance(out, torch.Tensor) and tuple(out.shape) == (2, 7 * 3, 5 * 6):
        raise ExerciseError("patch_similarity: the matrix is transposed: rows are content positions i (H W), "
                            "columns reference positions j (H' W')")
    _close(out, expected, "patch_similarity", wrong,
           hint="P = F.normalize(F.unfold(f, 3, padding=1), dim=1) for both; s = P_c^T P_r (batched)")
    return _ok("patch_similarity (cosines of 3x3 patches, (B, HW, H'W'))")


@_keeps_rng
def check_texture_swap(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> bool:
    r"""Exercise 12 (build): ``fn(content, reference, values)`` returns ``(swapped, weight)``.

    $j^*_i = \arg\max_j s_{ij}$, swapped = overlapping 3x3 patches of ``values`` at $j^*_i$ folded back and
    averaged (B, C_v, H, W), weight $S_i = \max_j s_{ij}$ (B, 1, H, W); against ``superres.feature_swap``.
    """
    from course_lib import superres

    torch.manual_seed(0)
    fc, fr, vals = torch.randn(2, 4, 5, 6), torch.randn(2, 4, 7, 5), torch.randn(2, 3, 7, 5)
    fc[:, :, 1:4, 1:4] = fr[:, :, 2:5, 0:3]                            # a region that the reference contains
    out = _call(fn, fc.clone(), fr.clone(), vals.clone(), what="texture_swap")
    if not (isinstance(out, tuple | list) and len(out) == 2):
        raise ExerciseError(f"texture_swap should return a pair (swapped, weight), got {type(out).__name__}"
                            + (f" of length {len(out)}" if isinstance(out, tuple | list) else ""))
    swapped, weight = out
    exp_swapped, exp_weight, index = superres.feature_swap(fc, fr, vals)
    s = superres.similarity(fc, fr)
    b, _, h, w = fc.shape
    if isinstance(weight, torch.Tensor) and tuple(weight.shape) == (b, h * w):
        raise ExerciseError(f"texture_swap: the weight map has shape {tuple(weight.shape)}: reshape it to the "
                            f"content grid (B, 1, H, W) = {(b, 1, h, w)}")
    if isinstance(weight, torch.Tensor) and weight.numel() == b * 7 * 5:
        raise ExerciseError("texture_swap: the weight map has one value per reference position: take the max over "
                            "the reference positions j (dim=2 of s), one value per content position i")
    _close(weight, exp_weight, "texture_swap: weight map S", [
        (s.mean(2).view(b, 1, h, w), "the weight map is the mean similarity: it is the best one, max_j s_ij"),
    ], hint="S_i = max_j s_ij, viewed as (B, 1, H, W)")
    pv = _patches(vals).transpose(1, 2)                                # (B, H'W', C_v 9)
    chosen = torch.gather(pv, 1, index.unsqueeze(-1).expand(-1, -1, pv.shape[-1]))
    summed = F.fold(chosen.transpose(1, 2), (h, w), 3, padding=1)
    pr_vals = _patches(fr).transpose(1, 2)
    chosen_r = torch.gather(pr_vals, 1, index.unsqueeze(-1).expand(-1, -1, pr_vals.shape[-1]))
    ones = F.fold(torch.ones_like(chosen[:1, :, :9]).transpose(1, 2), (h, w), 3, padding=1)
    centre = vals.flatten(2).gather(2, index.unsqueeze(1).expand(-1, vals.shape[1], -1)).view(b, -1, h, w)
    _close(swapped, exp_swapped, "texture_swap: swapped map", [
        (summed, ("overlapping patches are summed: divide by the number of patches covering each position "
                 "(F.fold of ones: 9 inside, fewer at the border)")),
        (summed / 9, "divided by 9 everywhere: at the border fewer patches overlap (divide by F.fold of ones)"),
        (F.fold(chosen_r.transpose(1, 2), (h, w), 3, padding=1) / ones,
         "the swapped map is made of the matching features (`reference`): take the patches of `values`"),
        (centre, ("only the centre value of each best patch is copied: fold the whole 3x3 patches back and "
                 "average the overlaps")),
    ], hint="gather the 3x3 patches of `values` at j*_i, F.fold them onto (H, W), divide by the overlap count")
    return _ok("texture_swap (weight map S = max_j s_ij, swapped map averaged over overlapping patches)")


@_keeps_rng
def check_weighted_texture_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    r"""Exercise 12: ``fn(f_sr, m, s)`` is mean $(G(f_{sr} \odot s) - G(m \odot s))^2$, $G(F) = F F^T / (HW)$.

    Value and gradient against ``losses.texture_loss(f_sr, m, weight=s)``; names a Gram without 1/(HW),
    with 1/(CHW), the weight on one map only, and a sum instead of a mean.
    """
    from course_lib import losses

    torch.manual_seed(0)
    fa, fm, ws = torch.randn(2, 5, 6, 7), torch.randn(2, 5, 6, 7), torch.rand(2, 1, 6, 7)
    x = fa.clone().requires_grad_()
    out = _call(fn, x, fm.clone(), ws.clone(), what="weighted_texture_loss")
    expected = losses.texture_loss(fa, fm, weight=ws)

    def gram(f: torch.Tensor, norm: float) -> torch.Tensor:
        f = f.flatten(2)
        return f @ f.transpose(1, 2) / norm

    hw, c = 6 * 7, 5
    a, b = fa * ws, fm * ws
    wrong = [
        ((gram(a, 1) - gram(b, 1)).square().mean(), "the Gram matrices are not divided by H W"),
        ((gram(a, c * hw) - gram(b, c * hw)).square().mean(), "the Gram matrices are divided by C H W: divide by H W"),
        ((gram(a, hw) - gram(fm, hw)).square().mean(), "the weight map multiplies only f_sr: weight m as well"),
        ((gram(fa, hw) - gram(fm, hw)).square().mean(), "the weight map s is not used: multiply both maps by s"),
        ((gram(a, hw) - gram(b, hw)).square().sum(), "summed over the Gram entries: take the mean"),
        ((gram(a, hw) - gram(b, hw)).abs().mean(), "absolute differences: the loss is the mean *squared* difference"),
    ]
    _close(out, expected, "weighted_texture_loss", wrong,
           hint="G = F F^T / (H W) with F = (f * s).flatten(2); mean of (G_sr - G_m)^2")
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        raise ExerciseError("weighted_texture_loss: the loss has no gradient w.r.t. f_sr (.item() or detach?)")
    out.backward()
    ref = fa.clone().requires_grad_()
    losses.texture_loss(ref, fm, weight=ws).backward()
    _close(x.grad, ref.grad, "weighted_texture_loss: gradient w.r.t. f_sr")
    return _ok("weighted_texture_loss (value and gradient)")


# ----------------------------------------------------------------------------------------
# 13 · deblurring, denoising, HDR
# ----------------------------------------------------------------------------------------
@_keeps_rng
def check_blur(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    r"""Exercise 13: ``fn(x, k)`` is $k * x$ per channel: flipped kernel (a convolution), reflect padding, groups = C.

    Against ``images.blur`` with an asymmetric kernel; names a correlation (kernel not flipped), zero or
    replicate padding, channels mixed by a convolution without groups, and a kernel flipped in one axis only.
    """
    from course_lib import images

    torch.manual_seed(0)
    x = torch.rand(2, 3, 12, 13)
    k = torch.rand(5, 5)
    k[0, 1], k[3, 4] = 3.0, 2.0                                        # asymmetric: flips show
    k = k / k.sum()
    out = _call(fn, x.clone(), k.clone(), what="blur(x, k)")
    expected = images.blur(x, k)

    def conv(kernel: torch.Tensor, mode: str = "reflect", groups: bool = True) -> torch.Tensor:
        xp = F.pad(x, (2,) * 4, mode=mode) if mode != "zeros" else F.pad(x, (2,) * 4)
        if groups:
            return F.conv2d(xp, kernel.expand(3, 1, -1, -1), groups=3)
        return F.conv2d(xp, kernel.expand(3, 3, -1, -1))

    kf = k.flip(-1, -2)
    wrong = [
        (conv(k), "the kernel is not flipped: F.conv2d computes a correlation; a convolution flips k in both axes"),
        (conv(k.flip(-1)), "the kernel is flipped in one axis only: flip both (k.flip(-1, -2))"),
        (conv(k.flip(-2)), "the kernel is flipped in one axis only: flip both (k.flip(-1, -2))"),
        (conv(kf, "zeros"), "the border is wrong: pad by reflection (mode='reflect'), not with zeros"),
        (conv(kf, "replicate"), "the border is wrong: pad by reflection (mode='reflect'), not by replication"),
        (conv(kf, groups=False), "the channels are mixed: one filter per channel (weight (C, 1, k, k), groups=C)"),
    ]
    _close(out, expected, "blur(x, k)", wrong, hint="F.conv2d(F.pad(x, (p,)*4, mode='reflect'), "
                                                     "k.flip(-1, -2).expand(C, 1, -1, -1), groups=C)")
    return _ok("blur (a true convolution, reflect padding, one filter per channel)")


@_keeps_rng
def check_multiscale_content_loss(fn: Callable[[list, list], torch.Tensor]) -> bool:
    r"""Exercise 13: ``fn(outputs, targets)`` is $\frac{1}{2K}\sum_k \operatorname{mean}(L_k - S_k)^2$ (Nah et al., Eq. 2).

    Value (K = 3 scales of different sizes) and gradient against ``restore.multiscale_content_loss``.
    """
    from course_lib import restore

    torch.manual_seed(0)
    targets = [torch.rand(2, 3, s, s) for s in (4, 8, 16)]
    outputs = [t + 0.1 * torch.randn_like(t) * (i + 1) for i, t in enumerate(targets)]
    leaves = [o.clone().requires_grad_() for o in outputs]
    out = _call(fn, leaves, [t.clone() for t in targets], what="multiscale_content_loss")
    expected = restore.multiscale_content_loss(outputs, targets)
    mse = [F.mse_loss(o, t) for o, t in zip(outputs, targets)]
    sse = [F.mse_loss(o, t, reduction="sum") for o, t in zip(outputs, targets)]
    wrong = [
        (sum(mse) / 3, "off by a factor 2: did you forget the 1/2 of 1/(2K)?"),
        (sum(mse) / 2, "not divided by the number of scales K: the loss is 1/(2K) times the sum"),
        (sum(mse), "the sum over scales is not divided by 2K"),
        (sum(sse) / 6, "each scale's squared error is summed: divide it by c_k w_k h_k (and the batch): a mean"),
        (mse[-1] / 2, "only the finest scale counts: sum the mean squared errors of all K scales"),
        (sum(F.l1_loss(o, t) for o, t in zip(outputs, targets)) / 6, "absolute errors: the loss is squared"),
    ]
    _close(out, expected, "multiscale_content_loss", wrong, hint="sum_k mean((L_k - S_k)^2) / (2K)")
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        raise ExerciseError("multiscale_content_loss: no gradient reaches the outputs (.item() or detach?)")
    out.backward()
    for i, (leaf, o, t) in enumerate(zip(leaves, outputs, targets)):
        if leaf.grad is None:
            raise ExerciseError(f"multiscale_content_loss: scale {i} gets no gradient: every scale is supervised")
        _close(leaf.grad, 2 * (o - t) / o.numel() / 6, f"multiscale_content_loss: gradient at scale {i}")
    return _ok("multiscale_content_loss (value and gradient at every scale)")


@_keeps_rng
def check_dncnn(cls: Callable[..., nn.Module]) -> bool:
    r"""Exercise 13 (build): ``cls(channels, width, depth)`` is DnCNN: y -> y - R(y) (residual learning).

    R = conv-ReLU, (depth - 2) x conv(no bias)-BN-ReLU, conv, all 3x3 with padding 1, in ``self.net``
    (the layout of ``nets.restore.DnCNN``, so the course's weights load). Checks the parameter names and
    shapes, then loads the same weights into both and compares the outputs in train and eval mode.
    """
    from course_lib.nets import restore as rnets

    for channels, width, depth in ((3, 8, 4), (1, 6, 3)):
        what = f"DnCNN({channels}, {width}, {depth})"
        net = _build(cls, channels, width, depth, what=what)
        torch.manual_seed(3)
        ref = rnets.DnCNN(channels, width, depth)
        with torch.no_grad():                                          # non-trivial BN statistics and weights
            for m in ref.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
        expected = _state_shapes(ref)

        def symptoms(got: dict[str, tuple[int, ...]], width: int = width,
                     expected: dict[str, tuple[int, ...]] = expected) -> str | None:
            if not any("running_mean" in k for k in got):
                return "no batch normalisation: the middle layers are conv-BN-ReLU"
            if len([k for k in got if k.endswith("bias") and got[k] == (width,)]) > \
                    len([k for k in expected if k.endswith("bias") and expected[k] == (width,)]):
                return "the middle convolutions have a bias: BN follows them, so use bias=False"
            if not all(k.startswith("net.") for k in got):
                return "keep the layers in one nn.Sequential named `net` (so the course's weights load)"
            return None

        _check_layout(net, expected, what, symptoms)
        net.load_state_dict(ref.state_dict())
        y = torch.rand(2, channels, 10, 9)
        for mode in ("train", "eval"):
            net.train(mode == "train")
            ref.train(mode == "train")
            with torch.no_grad():
                out = _call(net, y, what=f"{what}(y)")
                r = ref.net(y)
            _close(out, y - r, f"{what}(y) in {mode} mode, with the same weights", [
                (r, "it returns R(y), the predicted noise: the clean estimate is y - R(y)"),
                (y + r, "sign flipped: R predicts the noise v = y - x, so return y - R(y)"),
            ], hint="forward: y - self.net(y)")
    return _ok("DnCNN (layers, outputs y - R(y) with the same weights, train and eval mode)")


@_keeps_rng
def check_well_exposedness(fn: Callable[..., torch.Tensor]) -> bool:
    r"""Exercise 13: ``fn(stack, sigma)`` is Mertens' well-exposedness, normalised over the N exposures: (B, N, 1, H, W)."""
    from course_lib import restore

    torch.manual_seed(0)
    stack = torch.rand(2, 3, 3, 6, 5)
    out = _call(fn, stack.clone(), what="well_exposedness(stack)")
    expected = restore.mertens_weights(stack, w_contrast=0.0, w_saturation=0.0)
    g = torch.exp(-((stack - 0.5) ** 2) / (2 * 0.2 ** 2))
    wrong = [
        (g.prod(2, keepdim=True), "not normalised over the exposures: divide by the sum over N (dim 1)"),
        ((g.sum(2, keepdim=True)) / g.sum(2, keepdim=True).sum(1, keepdim=True),
         "the colour channels are summed: E is the product over c"),
        ((g.mean(2, keepdim=True)) / g.mean(2, keepdim=True).sum(1, keepdim=True),
         "the colour channels are averaged: E is the product over c"),
    ]
    e1 = torch.exp(-((stack - 0.5) ** 2) / (0.2 ** 2)).prod(2, keepdim=True)
    wrong.append((e1 / e1.sum(1, keepdim=True), "the Gaussian misses the 2 in 2 sigma^2"))
    _close(out, expected, "well_exposedness", wrong,
           hint="product over the colour axis (dim 2), then divide by the sum over exposures (dim 1)")
    return _ok("well_exposedness")


# ----------------------------------------------------------------------------------------
# 14 · inpainting
# ----------------------------------------------------------------------------------------
@_keeps_rng
def check_channel_wise_fc(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    r"""Exercise 14: ``fn(x, weight, bias)`` is $y_{b,c,:} = W_c x_{b,c,:} + b_c$ (row = output position).

    Against ``nets.inpainting.ChannelWiseFC``; names a transposed weight, a missing bias, and a
    column-major flattening of the map.
    """
    from course_lib.nets import inpainting as inets

    torch.manual_seed(0)
    layer = inets.ChannelWiseFC(6, 4)
    with torch.no_grad():
        layer.bias.normal_()
    x = torch.randn(5, 6, 4, 4)
    w, b = layer.weight.detach(), layer.bias.detach()
    out = _call(fn, x.clone(), w.clone(), b.clone(), what="channel_wise_fc")
    with torch.no_grad():
        expected = layer(x)
        flat = x.reshape(5, 6, 16)
        wrong = [
            ((torch.einsum("bcn,cnm->bcm", flat, w) + b).reshape(x.shape),
             ("the weight is used transposed: row m of W_c is output position m, column n input position n "
             "(y_c = W_c x_c)")),
            (torch.einsum("bcn,cmn->bcm", flat, w).reshape(x.shape), "the bias b_c is missing"),
            ((torch.einsum("bcn,cmn->bcm", x.transpose(-1, -2).reshape(5, 6, 16), w) + b)
             .reshape(5, 6, 4, 4).transpose(-1, -2),
             "the map is flattened column by column: flatten with reshape (row-major), as the weights expect"),
        ]
    _close(out, expected, "channel_wise_fc", wrong,
           hint="flatten to (B, C, hw); y[b, c] = weight[c] @ x[b, c] + bias[c]; reshape back")
    return _ok("channel_wise_fc")


@_keeps_rng
def check_context_bottleneck(cls: Callable[..., nn.Module]) -> bool:
    r"""Exercise 14 (build): ``cls(channels, size)``: channel-wise FC, 1x1 conv, BatchNorm, ReLU (Pathak et al. Sec. 3.1).

    Layers named ``fc`` (a ``ChannelWiseFC``: ``fc.weight`` (C, hw, hw), ``fc.bias`` (C, hw)), ``mix`` and
    ``norm``. Checks names and shapes, outputs with the same weights as the course's bottleneck in train
    and eval mode, and by gradients that one output sees every input channel at every position.
    """
    from course_lib.nets import inpainting as inets

    c, size = 6, 4
    what = f"ContextBottleneck({c}, {size})"
    net = _build(cls, c, size, what=what)
    n = size * size
    expected = {"fc.weight": (c, n, n), "fc.bias": (c, n), "mix.weight": (c, c, 1, 1), "mix.bias": (c,),
                "norm.weight": (c,), "norm.bias": (c,), "norm.running_mean": (c,), "norm.running_var": (c,)}

    def symptoms(got: dict[str, tuple[int, ...]]) -> str | None:
        mw = got.get("mix.weight")
        if mw and mw[1] == 1 and c > 1:
            return "the 1x1 convolution is depthwise (groups=C): it must mix the channels"
        if mw and mw[-1] != 1:
            return f"`mix` has a {mw[-2]}x{mw[-1]} kernel: a 1x1 conv mixes channels without spreading positions"
        if "fc.weight" not in got:
            return "no channel-wise FC layer named `fc` (inets.ChannelWiseFC(channels, size))"
        if "norm.running_mean" not in got:
            return "no BatchNorm2d named `norm` after the 1x1 convolution"
        return None

    _check_layout(net, expected, what, symptoms)
    torch.manual_seed(5)
    ref = nn.Sequential(inets.ChannelWiseFC(c, size), nn.Conv2d(c, c, 1), nn.BatchNorm2d(c), nn.ReLU())
    with torch.no_grad():
        ref[0].bias.normal_(0, 0.3)
        ref[2].running_mean.uniform_(-0.3, 0.3)
        ref[2].running_var.uniform_(0.5, 1.5)
        ref[2].weight.uniform_(0.5, 1.5)
        ref[2].bias.uniform_(-0.3, 0.3)
    names = {"0.": "fc.", "1.": "mix.", "2.": "norm."}
    net.load_state_dict({names[k[:2]] + k[2:]: v for k, v in ref.state_dict().items()})
    x = torch.randn(4, c, size, size)
    for mode in ("train", "eval"):
        net.train(mode == "train")
        ref.train(mode == "train")
        with torch.no_grad():
            out = _call(net, x, what=f"{what}(x)")
            alt = copy.deepcopy(ref)                                   # the same BN statistics as ref before
            expected_out = ref(x)
            wrong = [(alt[:3](x), "no ReLU at the end"),
                     (F.relu(alt[1](alt[0](x))), "no batch normalisation after the 1x1 convolution")]
        _close(out, expected_out, f"{what}(x) in {mode} mode, with the same weights", wrong,
               hint="forward: relu(norm(mix(fc(x))))")
    net.eval()
    xg = x[:1].clone().requires_grad_()
    y = _call(net, xg, what=f"{what}(x)")
    y[0, y[0, :, 0, 0].argmax(), 0, 0].backward()                     # the largest output at (0, 0): ReLU lets it through
    seen = float((xg.grad[0].abs() > 0).float().mean())
    if seen < 1.0:
        raise ExerciseError(f"{what}: an output at position (0, 0) sees only {seen:.0%} of the input values: "
                            "the FC layer spreads each channel over all positions, the 1x1 conv mixes the channels")
    return _ok(f"{what} (layers, outputs with the same weights; one output sees all {c} channels x {n} positions)")


@_keeps_rng
def check_pggan_g_loss(fn: Callable[..., torch.Tensor]) -> bool:
    r"""Exercise 14: ``fn(x_fake, x, m, logits_global, logits_patch, l1, l2, l3)`` is PG-GAN's generator loss.

    $\lambda_1 \frac{\sum m \odot |x - \hat x|}{C \sum m} + \lambda_2\,\mathrm{mean}\,\mathrm{softplus}(-s_g)
    + \lambda_3\,\mathrm{mean}\,\mathrm{softplus}(-s_p)$, value and gradient, with weights large enough that every term counts.
    """
    from course_lib import inpainting

    torch.manual_seed(0)
    m = inpainting.random_squares(4, 16, 8, seed=0)
    x = torch.rand(4, 3, 16, 16)
    xf = x + (0.1 + 0.5 * m) * torch.randn(4, 3, 16, 16)             # errors larger in the hole than outside
    lg, lp = torch.randn(4), torch.randn(4, 1, 5, 5)
    w1, w2, w3 = 0.7, 0.2, 0.1
    leaf = xf.clone().requires_grad_()
    out = _call(fn, leaf, x.clone(), m.clone(), lg.clone(), lp.clone(), l1=w1, l2=w2, l3=w3, what="pggan_g_loss")
    err = (xf - x).abs()
    rec = (err * m).sum() / (m.sum() * 3)
    ga, pa = F.softplus(-lg).mean(), F.softplus(-lp).mean()
    expected = w1 * rec + w2 * ga + w3 * pa
    wrong = [
        (w1 * err.mean() + w2 * ga + w3 * pa, ("the L1 term is averaged over all pixels: average over the missing "
                                              "values only (divide by C * sum(m))")),
        (w1 * (err * m).mean() + w2 * ga + w3 * pa, ("the L1 term is divided by all the values, not by the "
                                                   "C * sum(m) missing ones")),
        (w1 * (err * m).sum() / m.sum() + w2 * ga + w3 * pa, ("the L1 term is divided by sum(m) only: each missing "
                                                            "pixel has C values (divide by C * sum(m))")),
        (w1 * (err * (1 - m)).sum() / ((1 - m).sum() * 3) + w2 * ga + w3 * pa,
         "the L1 term is taken over the known pixels: the mask m is 1 in the hole"),
        (w1 * rec + w2 * F.softplus(lg).mean() + w3 * F.softplus(lp).mean(),
         "the adversarial terms have the wrong sign: -log D(x_fake) = softplus(-logits)"),
        (w1 * rec + w2 * ga + w3 * F.softplus(-lp).flatten(1).sum(1).mean(),
         "the patch term is summed over the patches: average over them (1/hw)"),
        (w1 * rec + w2 * pa + w3 * ga, "the weights of the global and the patch term are swapped"),
        (0.99 * rec + 0.005 * ga + 0.005 * pa, "l1, l2, l3 are ignored (hard-coded?): use the arguments"),
    ]
    _close(out, expected, "pggan_g_loss", wrong,
           hint="L1 summed over the hole / (C * number of hole pixels); softplus(-logits).mean() per head")
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        raise ExerciseError("pggan_g_loss: no gradient reaches x_fake (.item() or detach?)")
    out.backward()
    if leaf.grad[(m.expand_as(leaf) == 0)].abs().max() > 0:
        raise ExerciseError("pggan_g_loss: known pixels get a gradient from the reconstruction term: only the hole counts")
    return _ok("pggan_g_loss (value of each term; gradient only in the hole)")


# ----------------------------------------------------------------------------------------
# 15 · image-to-image translation
# ----------------------------------------------------------------------------------------
@_keeps_rng
def check_pix2pix_g_loss(fn: Callable[..., torch.Tensor]) -> bool:
    r"""Exercise 15: ``fn(logits_fake, y_fake, y, lam)`` is $\mathrm{mean}\,\mathrm{softplus}(-s) + \lambda\,\mathrm{mean}|y - G(x)|$.

    Value (with lam = 10, so that a hard-coded 100 shows) and gradient; names a flipped sign, the saturating
    minimax loss, L2 instead of L1, a sum over the patches, and an unweighted or hard-coded L1 term.
    """
    torch.manual_seed(0)
    lf, yf, y = torch.randn(4, 1, 6, 6), torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    lam = 10.0
    leaf = yf.clone().requires_grad_()
    out = _call(fn, lf.clone(), leaf, y.clone(), lam=lam, what="pix2pix_g_loss")
    adv, l1 = F.softplus(-lf).mean(), (yf - y).abs().mean()
    expected = adv + lam * l1
    wrong = [
        (F.softplus(lf).mean() + lam * l1, "the adversarial term has the wrong sign: -log D(x, G(x)) = softplus(-logits)"),
        (-F.softplus(lf).mean() + lam * l1, ("that is the saturating minimax term log(1 - D(x, G(x))); the generator "
                                            "minimises -log D(x, G(x)) = softplus(-logits)")),
        (adv + lam * (yf - y).square().mean(), "the reconstruction term is squared (L2): pix2pix uses L1, |y - G(x)|"),
        (F.softplus(-lf).flatten(1).sum(1).mean() + lam * l1, ("the adversarial term is summed over the patches: "
                                                              "average over every patch (each is one 'sample')")),
        (adv + l1, "the L1 term is not weighted by lam"),
        (adv + 100.0 * l1, "lam is hard-coded to 100: use the argument"),
        (lam * adv + l1, "lam weights the adversarial term: it weights the L1 term"),
        (adv + lam * (yf - y).abs().sum(), "the L1 term is summed: take the mean absolute error"),
    ]
    _close(out, expected, "pix2pix_g_loss", wrong,
           hint="softplus(-logits_fake).mean() over all patches + lam * (y_fake - y).abs().mean()")
    if not (isinstance(out, torch.Tensor) and out.requires_grad):
        raise ExerciseError("pix2pix_g_loss: no gradient reaches y_fake (.item() or detach?)")
    out.backward()
    _close(leaf.grad, lam * torch.sign(yf - y) / yf.numel(), "pix2pix_g_loss: gradient w.r.t. y_fake")
    return _ok("pix2pix_g_loss (value and gradient)")


def _rf_by_gradient(net: nn.Module, channels: int, size: int = 128) -> int:
    """Receptive field of the central output, measured: the rows of the input whose gradient is not zero."""
    x = torch.randn(1, channels, size, size, requires_grad=True)
    out = net(x)
    h, w = out.shape[-2:]
    out[0, 0, h // 2, w // 2].backward()
    rows = (x.grad[0].abs().sum((0, 2)) > 0).nonzero()
    cols = (x.grad[0].abs().sum((0, 1)) > 0).nonzero()
    return max(int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)) if len(rows) else 0


@_keeps_rng
def check_patchgan(cls: Callable[..., nn.Module]) -> bool:
    r"""Exercise 15 (build): ``cls(channels, n_layers, width)`` is pix2pix's PatchGAN (raw logits (B, 1, h, w)).

    C_width (no norm) - ... doubling to at most 8 width, 4x4 stride-2 convs, then a 4x4 stride-1 conv-BN-LeakyReLU
    and a 4x4 stride-1 conv to one channel, padding 1, in ``self.net`` (the layout of
    ``nets.image2image.PatchDiscriminator``). Checks names and shapes, the receptive field *measured by gradients*
    (16, 34 and 70 px for 1, 2, 3 layers), and the outputs with the same weights.
    """
    from course_lib.nets import image2image as i2i

    fields = {}
    for channels, n_layers, width in ((3, 1, 4), (2, 2, 4), (3, 3, 4)):
        what = f"PatchGAN({channels}, n_layers={n_layers}, width={width})"
        net = _build(cls, channels, n_layers, width, what=what)
        torch.manual_seed(1)
        ref = i2i.PatchDiscriminator(channels, 0, n_layers=n_layers, width=width)
        target = i2i.receptive_field(ref)
        net.eval()
        try:
            rf = _rf_by_gradient(net, channels)
        except NotImplementedError:
            raise NotDone(f"{what}: not implemented yet (replace `raise NotImplementedError()`)") from None
        except Exception as err:  # noqa: BLE001
            raise ExerciseError(f"{what} on a (1, {channels}, 128, 128) input raised {type(err).__name__}: {err}") from None
        if rf != target:
            hint = ("too large: is the second-to-last conv stride 2? Only the n_layers downsampling convs have stride 2"
                    if rf > target else "too small: the convolutions are 4x4 (padding 1)")
            raise ExerciseError(f"{what}: one output sees {rf}x{rf} input pixels (measured by gradients), the "
                                f"{target}x{target} PatchGAN should: {hint}")
        fields[n_layers] = rf

        def symptoms(got: dict[str, tuple[int, ...]], width: int = width) -> str | None:
            if "net.1.running_mean" in got:
                return "the first layer has a normalisation: pix2pix's first layer C64 has none"
            if not all(k.startswith("net.") for k in got):
                return "keep the layers in one nn.Sequential named `net` (so the course's weights load)"
            if not any("running_mean" in k for k in got):
                return "no BatchNorm2d after the inner convolutions"
            return None

        _check_layout(net, _state_shapes(ref), what, symptoms)
        with torch.no_grad():
            for m in ref.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
        net.load_state_dict(ref.state_dict())
        x = torch.randn(2, channels, 32, 32)
        for mode in ("train", "eval"):
            net.train(mode == "train")
            ref.train(mode == "train")
            with torch.no_grad():
                out = _call(net, x, what=f"{what}(x)")
                expected = ref(x)
            _close(out, expected, f"{what}(x) in {mode} mode, with the same weights",
                   [(torch.sigmoid(expected), "the output went through a sigmoid: return raw logits")],
                   hint="conv-LeakyReLU(0.2), [conv-BN-LeakyReLU(0.2)] x (n_layers - 1), conv(stride 1)-BN-LeakyReLU, "
                        "conv(stride 1) to 1 channel")
    return _ok(f"PatchGAN (layers, outputs with the same weights; receptive fields measured by gradients: "
               f"{', '.join(f'{n} layers {r} px' for n, r in fields.items())})")


@_keeps_rng
def check_spade(fn: Callable[..., torch.Tensor]) -> bool:
    r"""Exercise 15: ``fn(h, gamma, beta, eps)`` is $(1 + \gamma)\,\frac{h - \mu_c}{\sqrt{\sigma_c^2 + \epsilon}} + \beta$, batch statistics.

    Against the SPADE layer's formula; names per-sample (instance) statistics, the unbiased variance,
    a missing 1 + of gamma, and statistics over the channels too.
    """
    torch.manual_seed(0)
    h = torch.randn(4, 5, 6, 6) * 3 + 1
    gamma, beta = torch.randn(4, 5, 6, 6) * 0.5, torch.randn(4, 5, 6, 6) * 0.5
    out = _call(fn, h.clone(), gamma.clone(), beta.clone(), what="spade(h, gamma, beta)")

    def norm(dims: tuple[int, ...], unbiased: bool = False, eps: float = 1e-5) -> torch.Tensor:
        mu = h.mean(dims, keepdim=True)
        return (h - mu) / torch.sqrt(h.var(dims, unbiased=unbiased, keepdim=True) + eps)

    hat = norm((0, 2, 3))
    expected = hat * (1 + gamma) + beta
    wrong = [
        (norm((2, 3)) * (1 + gamma) + beta, ("the statistics are per sample (instance norm): SPADE uses batch "
                                            "statistics over (B, H, W), dims (0, 2, 3)")),
        (norm((1, 2, 3)) * (1 + gamma) + beta, ("the statistics mix the channels: one mean and variance per channel "
                                               "over (B, H, W)")),
        (norm((0, 2, 3), unbiased=True) * (1 + gamma) + beta, ("the variance is unbiased (divides by n - 1): "
                                                               "batch norm uses the biased one (unbiased=False)")),
        (hat * gamma + beta, "gamma multiplies h_hat directly: the authors' code predicts it as an offset, (1 + gamma)"),
        ((h - h.mean((0, 2, 3), keepdim=True)) * (1 + gamma) + beta, ("h is centred but not divided by its standard "
                                                                     "deviation")),
    ]
    _close(out, expected, "spade(h, gamma, beta)", wrong, rtol=1e-4, atol=1e-4,
           hint="batch statistics over dims (0, 2, 3), biased variance, then (1 + gamma) * h_hat + beta")
    return _ok("spade (batch statistics per channel, (1 + gamma) h_hat + beta)")
