"""Checks for the exercises of notebooks 06-10, re-exported by :mod:`course_lib.exercises`.

Each ``check_*`` takes the student's function (or module factory), runs it on random inputs against the
course's implementation, and raises :class:`~course_lib.exercises.ExerciseError` naming the symptom of
the mistake when it can recognise it (a missing 1/2, ``norm(dim=1)`` on images, a ReLU where D needs a
LeakyReLU, ...). The recognised mistakes are computed here as "wrong references" and compared with the
student's result; anything else gets the largest difference and a hint.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import scipy.linalg
import torch
import torch.nn.functional as F
from torch import nn

from . import ExerciseError, _ok, check_close, run_student

__all__ = [  # noqa: RUF022 - grouped by notebook
    # 06 DCGAN
    "check_convt_out", "check_generator_block", "check_discriminator_block", "check_slerp",
    # 07 WGAN / LSGAN / hinge
    "check_gradient_penalty", "reference_gradient_penalty", "random_eps_penalty", "check_lsgan_losses",
    "check_hinge_losses",
    # 08 conditional GANs
    "check_acgan_class_d_term", "check_gaussian_nll", "check_unsupervised_loss",
    # 09 scaling GANs
    "check_pyramid", "check_rebuild", "check_ortho_reg", "check_adain",
    # 10 evaluation
    "check_fid_from_features", "check_inception_score", "check_manifold_coverage", "check_mig_from_mi",
]


# ----------------------------------------------------------------------------------------
# Shared machinery
# ----------------------------------------------------------------------------------------
def _call(fn: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
    """Run the student's code (:func:`course_lib.exercises.run_student`)."""
    return run_student(fn, *args, what=what, **kwargs)


def _as64(x: Any) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64))


def _close(value: Any, expected: Any, rtol: float, atol: float) -> bool:
    try:
        v, e = _as64(value), _as64(expected)
    except (TypeError, ValueError, RuntimeError):
        return False
    return v.shape == e.shape and bool(torch.allclose(v, e, rtol=rtol, atol=atol, equal_nan=True))


def _diagnose(value: Any, expected: Any, what: str, mistakes: Mapping[str, Any] | None = None, rtol: float = 1e-4,
              atol: float = 1e-5, hint: str | None = None) -> None:
    """Pass silently if ``value`` matches ``expected``; else name the recognised mistake, else the difference."""
    if value is None:
        raise ExerciseError(f"{what} is None: did you forget to return it?")
    if _close(value, expected, rtol, atol):
        return
    for symptom, wrong in (mistakes or {}).items():
        if wrong is not None and _close(value, wrong, rtol, atol):
            raise ExerciseError(f"{what} is not correct: {symptom}")
    if isinstance(value, torch.Tensor) and not torch.isfinite(value.detach()).all() and \
            torch.isfinite(_as64(expected)).all():
        raise ExerciseError(f"{what} contains inf or NaN" + (f". Hint: {hint}" if hint else ""))
    with contextlib.redirect_stdout(io.StringIO()):
        check_close(value, expected, what, rtol=rtol, atol=atol, hint=hint)
    raise ExerciseError(f"{what} is not correct" + (f". Hint: {hint}" if hint else ""))  # pragma: no cover


def _scalar_tensor(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should be a torch.Tensor (keep it a tensor so it can be backpropagated), "
                            f"got {type(value).__name__}")
    if value.numel() != 1:
        raise ExerciseError(f"{what} should be a scalar (a mean over the batch), got shape {tuple(value.shape)}")
    return value.reshape(())


def _grads_match(value: torch.Tensor, expected: torch.Tensor, wrt: list[torch.Tensor], what: str,
                 detached_hint: str) -> None:
    """The gradient of the student's scalar w.r.t. ``wrt`` equals the reference's."""
    if not value.requires_grad:
        raise ExerciseError(f"{what} carries no gradient: {detached_hint}")
    got = torch.autograd.grad(value, wrt, retain_graph=True, allow_unused=True)
    want = torch.autograd.grad(expected, wrt, retain_graph=True, allow_unused=True)
    for g, w in zip(got, want):
        if g is None and w is not None:
            raise ExerciseError(f"{what}: no gradient reaches an input it depends on: {detached_hint}")
        if g is not None and w is not None and not torch.allclose(g, w, rtol=1e-3, atol=1e-6):
            raise ExerciseError(f"{what}: the value is right but its gradient is not (largest difference "
                                f"{(g - w).abs().max().item():.3g}): {detached_hint}")


def _own_rng(check: Callable) -> Callable:
    """Run a check with its own copy of torch's CPU random state: a check never shifts the notebook's random numbers."""

    @functools.wraps(check)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with torch.random.fork_rng(devices=[]):
            return check(*args, **kwargs)

    return wrapped


def _seed(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------
# 06 DCGAN
# ----------------------------------------------------------------------------------------
@_own_rng
def check_convt_out(fn: Callable[[int, int, int, int], int]) -> bool:
    """Check ``convt_out(h, k, s, p)`` (the output side of a ConvTranspose2d) against PyTorch itself."""
    cases = [(1, 7, 1, 0), (7, 4, 2, 1), (4, 4, 2, 1), (5, 3, 2, 1), (3, 5, 3, 2), (6, 4, 1, 0)]
    for h, k, s, p in cases:
        got = _call(fn, h, k, s, p, what="convt_out")
        want = nn.ConvTranspose2d(1, 1, k, s, p)(torch.zeros(1, 1, h, h)).shape[-1]
        mistakes = {"that is the size formula of a (forward) convolution, (h + 2p - k) / s + 1; a transposed "
                    "convolution inverts it": (h + 2 * p - k) // s + 1,
                    "the padding is ignored: a transposed convolution removes 2p": (h - 1) * s + k,
                    "the padding should be subtracted twice (once per side): -2p": (h - 1) * s - p + k,
                    "off by the stride: the first input pixel contributes k, each further one s more: (h - 1) s": h * s - 2 * p + k}
        _diagnose(torch.tensor(float(got)) if isinstance(got, (int, float)) else got, float(want),
                  f"convt_out(h={h}, k={k}, s={s}, p={p})", mistakes, hint="(h - 1) * s - 2 * p + k")
    return _ok("convt_out (checked against nn.ConvTranspose2d on 6 layer shapes)")


def _leaves(block: nn.Module) -> list[nn.Module]:
    return [m for m in block.modules() if not list(m.children())]


def _block_check(fn: Callable[[int, int], nn.Module], reference: nn.Module, in_ch: int, out_ch: int, side: int,
                 out_side: int, what: str, conv_type: type, act_check: Callable[[list[nn.Module]], None],
                 order: str, size_hint: str) -> None:
    block = _call(fn, in_ch, out_ch, what=what)
    if not isinstance(block, nn.Module):
        raise ExerciseError(f"{what} should return an nn.Module (e.g. nn.Sequential(...)), got {type(block).__name__}")
    leaves = _leaves(block)
    convs = [m for m in leaves if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    if not any(isinstance(m, conv_type) for m in convs):
        other = "nn.Conv2d" if conv_type is nn.ConvTranspose2d else "nn.ConvTranspose2d"
        hint = (f"found {other}: " if convs else "") + f"the block needs one nn.{conv_type.__name__}"
        raise ExerciseError(f"{what}: {hint} ({order})")
    if not any(isinstance(m, nn.BatchNorm2d) for m in leaves):
        raise ExerciseError(f"{what}: no nn.BatchNorm2d: DCGAN's hidden blocks use batch norm (guideline 2; {order})")
    act_check(leaves)
    x = torch.randn(4, in_ch, side, side, generator=_seed(0))
    block.train()
    out = _call(block, x, what=f"{what}(in_channels={in_ch}, out_channels={out_ch}) on a (4, {in_ch}, {side}, {side}) batch")
    want_shape = (4, out_ch, out_side, out_side)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want_shape:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ExerciseError(f"{what} should map (4, {in_ch}, {side}, {side}) to {want_shape}, got {got}. Hint: {size_hint}")
    conv = next(m for m in convs if isinstance(m, conv_type))
    if conv.bias is not None:
        raise ExerciseError(f"{what}: the convolution has a bias: batch norm right after it subtracts the mean, so the "
                            f"bias does nothing; use bias=False (as nets.dcgan does)")
    n_ref = sum(p.numel() for p in reference.parameters())
    n_got = sum(p.numel() for p in block.parameters())
    if n_got != n_ref:
        raise ExerciseError(f"{what} has {n_got} parameters, nets.dcgan's block {n_ref}: one convolution "
                            f"(kernel 4) and one batch norm over the {out_ch} output channels")
    names = [type(m).__name__ for m in leaves if not isinstance(m, (nn.Identity, nn.Dropout))]
    ref_names = [type(m).__name__ for m in _leaves(reference)]
    if names != ref_names:
        raise ExerciseError(f"{what}: layers {' -> '.join(names)}; the DCGAN order is {order}")
    ref_conv = next(m for m in _leaves(reference) if isinstance(m, conv_type))
    ref_bn = next(m for m in _leaves(reference) if isinstance(m, nn.BatchNorm2d))
    bn = next(m for m in leaves if isinstance(m, nn.BatchNorm2d))
    with torch.no_grad():
        if conv.weight.shape != ref_conv.weight.shape:
            raise ExerciseError(f"{what}: convolution weight {tuple(conv.weight.shape)}, expected "
                                f"{tuple(ref_conv.weight.shape)}: kernel 4, stride 2, padding 1")
        conv.weight.copy_(ref_conv.weight)
        bn.weight.copy_(ref_bn.weight)
        bn.bias.copy_(ref_bn.bias)
    reference.train()
    got, want = block(x), reference(x)
    _diagnose(got, want, f"{what}'s output with nets.dcgan's weights", atol=1e-5,
              hint=f"the layers and their settings should be those of nets.dcgan: {order}")


@_own_rng
def check_generator_block(fn: Callable[[int, int], nn.Module]) -> bool:
    """Check ``generator_block(in_channels, out_channels)``: ConvTranspose2d(4, 2, 1) -> BatchNorm2d -> ReLU.

    Compared with a block of ``nets.dcgan.Generator`` (8 -> 4 channels) after copying its weights in:
    shapes (the side doubles), parameter count, layer kinds and order, outputs.
    """
    from ..nets import dcgan

    torch.manual_seed(0)
    ref = dcgan.Generator(8, 1, 32, width=4).net[6:9]            # the 8 -> 4 channel block, 8x8 -> 16x16
    with torch.no_grad():
        ref[1].weight.uniform_(0.5, 1.5)
        ref[1].bias.normal_(0, 0.3)

    def act(leaves: list[nn.Module]) -> None:
        if any(isinstance(m, nn.LeakyReLU) for m in leaves):
            raise ExerciseError("generator_block: LeakyReLU is the discriminator's; the generator's hidden blocks "
                                "use ReLU (guideline 4)")
        if any(isinstance(m, nn.Tanh) for m in leaves):
            raise ExerciseError("generator_block: Tanh belongs only to G's output layer; hidden blocks use ReLU "
                                "(guideline 4)")
        if not any(isinstance(m, nn.ReLU) for m in leaves):
            raise ExerciseError("generator_block: no nn.ReLU: the generator's hidden blocks end with ReLU (guideline 4)")

    _block_check(fn, ref, 8, 4, 8, 16, "generator_block", nn.ConvTranspose2d, act,
                 "ConvTranspose2d -> BatchNorm2d -> ReLU",
                 "pick k, s, p with (h - 1) s - 2p + k = 2h for every h (your convt_out): k = 4, s = 2, p = 1")
    return _ok("generator_block (shapes, parameters, layers, outputs with nets.dcgan's weights)")


@_own_rng
def check_discriminator_block(fn: Callable[[int, int], nn.Module]) -> bool:
    """Check ``discriminator_block(in_channels, out_channels)``: Conv2d(4, 2, 1) -> BatchNorm2d -> LeakyReLU(0.2).

    Compared with a block of ``nets.dcgan.Discriminator`` (4 -> 8 channels) after copying its weights in.
    """
    from ..nets import dcgan

    torch.manual_seed(0)
    ref = dcgan.Discriminator(1, 32, width=4).features[2:5]       # the 4 -> 8 channel block, 16x16 -> 8x8
    with torch.no_grad():
        ref[1].weight.uniform_(0.5, 1.5)
        ref[1].bias.normal_(0, 0.3)

    def act(leaves: list[nn.Module]) -> None:
        lrelu = [m for m in leaves if isinstance(m, nn.LeakyReLU)]
        if not lrelu:
            found = "ReLU" if any(isinstance(m, nn.ReLU) for m in leaves) else "no activation"
            raise ExerciseError(f"discriminator_block: {found}; D uses LeakyReLU with slope 0.2 (guideline 5), so "
                                f"fakes get a gradient where a ReLU would be flat")
        if abs(lrelu[0].negative_slope - 0.2) > 1e-9:
            raise ExerciseError(f"discriminator_block: LeakyReLU slope {lrelu[0].negative_slope:g}; DCGAN uses 0.2 "
                                f"(nn.LeakyReLU's default is 0.01)")

    _block_check(fn, ref, 4, 8, 16, 8, "discriminator_block", nn.Conv2d, act,
                 "Conv2d -> BatchNorm2d -> LeakyReLU(0.2)",
                 "a strided convolution halves the side: kernel 4, stride 2, padding 1 ((h + 2 - 4) / 2 + 1 = h / 2)")
    return _ok("discriminator_block (shapes, parameters, layers, outputs with nets.dcgan's weights)")


@_own_rng
def check_slerp(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """Check ``slerp(z0, z1, t)`` against ``viz.interpolate(..., spherical=True)`` at several t."""
    from .. import viz

    g = _seed(3)
    z0, z1 = torch.randn(16, generator=g), 2 * torch.randn(16, generator=g)
    for t in (0.0, 0.3, 0.5, 1.0):
        got = _call(fn, z0.clone(), z1.clone(), t, what=f"slerp(z0, z1, t={t})")
        want = viz.interpolate(z0, z1, torch.tensor([t]), spherical=True)[0]
        cos = torch.dot(z0 / z0.norm(), z1 / z1.norm())
        omega_raw = torch.arccos(torch.dot(z0, z1).clamp(-1, 1))
        mistakes = {
            "that is linear interpolation (1 - t) z0 + t z1: its midpoints are shorter than typical latents; "
            "weight by sin((1 - t) Omega) / sin Omega and sin(t Omega) / sin Omega": (1 - t) * z0 + t * z1,
            "z0 and z1 swapped: t = 0 should give z0": viz.interpolate(z1, z0, torch.tensor([t]), spherical=True)[0],
            "cos Omega is the dot product of the *unit* vectors z0 / |z0| and z1 / |z1|":
                (torch.sin((1 - t) * omega_raw) * z0 + torch.sin(t * omega_raw) * z1) / torch.sin(omega_raw),
            "Omega is the angle itself, arccos of the cosine, not the cosine":
                (math.sin((1 - t) * cos) * z0 + math.sin(t * cos) * z1) / math.sin(cos),
        }
        _diagnose(got, want, f"slerp(z0, z1, t={t})", mistakes, hint="Omega = arccos of the cosine between z0 and z1")
    return _ok("slerp (t = 0, 0.3, 0.5, 1)")


# ----------------------------------------------------------------------------------------
# 07 WGAN-GP, LSGAN, hinge
# ----------------------------------------------------------------------------------------
def reference_gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor,
                               x_fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    r"""The course's gradient penalty at given mixing weights: ``losses.gradient_penalty`` with ``eps`` passed in.

    $$\frac1B\sum_i\big(\lVert\nabla_{\hat x} f(\hat x_i)\rVert_2 - 1\big)^2,\qquad
      \hat x_i = \epsilon_i x_i + (1 - \epsilon_i)\tilde x_i$$

    Args:
        critic: maps (B, ...) to scores (B,) or (B, 1) (a patch critic's P scores per image are averaged per
            image, as in ``losses.gradient_penalty``).
        x_real, x_fake: (B, ...) batches of the same shape.
        eps: (B, 1, ..., 1) mixing weights in [0, 1], one per sample.

    Returns:
        The scalar penalty, differentiable w.r.t. the critic's parameters.

    Reference:
        Gulrajani et al. 2017, arXiv:1704.00028, Eq. (3).
    """
    from .. import losses

    return losses.gradient_penalty(critic, x_real, x_fake, eps=eps)


def random_eps_penalty(gp: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A :class:`gan.Variant` penalty ``(critic, x_real, x_fake) -> scalar`` from ``gp(critic, x_real, x_fake, eps)``.

    Draws ``eps ~ U[0, 1]`` of shape (B, 1, ..., 1) exactly as ``losses.gradient_penalty`` does, so with the
    course's ``gp`` the training is the same, number for number, as with ``losses.gradient_penalty``.
    """
    if not callable(gp):
        raise ValueError(f"gp should be a function gp(critic, x_real, x_fake, eps), got {type(gp).__name__}")  # noqa: TRY004

    def penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor, x_fake: torch.Tensor
                ) -> torch.Tensor:
        eps = torch.rand((x_real.shape[0],) + (1,) * (x_real.ndim - 1), device=x_real.device, dtype=x_real.dtype)
        return gp(critic, x_real, x_fake, eps)

    return penalty


def _gp_variant(critic: Callable, x_real: torch.Tensor, x_fake: torch.Tensor, eps: torch.Tensor, *, dim1: bool = False,
                target: float = 1.0, power: int = 2, swap: bool = False, at_real: bool = False, reduce: str = "mean"
                ) -> torch.Tensor:
    """The penalty with one classic mistake switched on (the check's wrong references)."""
    a, b = (x_fake, x_real) if swap else (x_real, x_fake)
    x_hat = x_real.detach().clone() if at_real else (eps * a + (1 - eps) * b).detach()
    x_hat.requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    norms = grad.norm(2, dim=1) if dim1 else grad.reshape(len(grad), -1).norm(2, dim=1)
    dev = norms - target
    dev = dev ** 2 if power == 2 else dev.abs()
    return dev.sum() if reduce == "sum" else dev.mean()


@_own_rng
def check_gradient_penalty(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``gradient_penalty(critic, x_real, x_fake, eps)`` on vectors (B, 2) and images (B, C, H, W).

    Values and the gradient w.r.t. the critic's weights (double back-propagation) against the course's
    :func:`reference_gradient_penalty`; names the classic mistakes (``norm(dim=1)`` on images, target 0,
    missing square, real and fake swapped, gradient at x_real, a sum over the batch, no ``create_graph``).
    """
    torch.manual_seed(0)
    g = _seed(7)
    vec_critic = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
    img_critic = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 5 * 5, 1))
    probes = [("vectors (6, 2)", vec_critic, torch.randn(6, 2, generator=g), 3 * torch.randn(6, 2, generator=g),
               torch.rand(6, 1, generator=g)),
              ("images (6, 3, 5, 5)", img_critic, torch.randn(6, 3, 5, 5, generator=g),
               torch.randn(6, 3, 5, 5, generator=g) + 1, torch.rand(6, 1, 1, 1, generator=g))]
    for name, critic, xr, xf, eps in probes:
        what = f"gradient_penalty on {name}"
        got = _call(fn, critic, xr, xf, eps.clone(), what=what)
        got = _scalar_tensor(got, what)
        want = reference_gradient_penalty(critic, xr, xf, eps)
        mistakes = {
            "the target norm is 1: penalise (||grad|| - 1)^2, not ||grad||^2": _gp_variant(critic, xr, xf, eps, target=0.0),
            "the deviation should be squared: (||grad|| - 1)^2": _gp_variant(critic, xr, xf, eps, power=1),
            "real and fake swapped: x_hat = eps * x_real + (1 - eps) * x_fake": _gp_variant(critic, xr, xf, eps, swap=True),
            "the gradient is taken at x_real; take it at the interpolates x_hat": _gp_variant(critic, xr, xf, eps, at_real=True),
            "summed over the batch: take the mean over the B samples": _gp_variant(critic, xr, xf, eps, reduce="sum"),
        }
        if xr.ndim > 2:
            mistakes = {"norm taken over dim=1 only (the channels): for images flatten each sample's gradient first, "
                        "grad.reshape(B, -1).norm(2, dim=1)": _gp_variant(critic, xr, xf, eps, dim1=True), **mistakes}
        _diagnose(got, want, what, mistakes, rtol=1e-4, atol=1e-6,
                  hint="x_hat = eps * x_real + (1 - eps) * x_fake; the norm of each sample's whole gradient")
        _grads_match(got, want, list(critic.parameters()), f"{what} (w.r.t. the critic's weights)",
                     "the critic is trained on the penalty, so the gradient must be differentiable: pass "
                     "create_graph=True to torch.autograd.grad")
    return _ok("gradient_penalty (vectors and images; values and gradients w.r.t. the critic)")


@_own_rng
def check_lsgan_losses(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """Check ``lsgan_losses(scores_real, scores_fake, a, b, c) -> (loss_d, loss_g)`` against ``losses.lsgan_*``."""
    from .. import losses

    g = _seed(1)
    sr, sf = torch.randn(32, generator=g).requires_grad_(True), torch.randn(32, generator=g).requires_grad_(True)
    a, b, c = -1.0, 1.0, 0.0
    out = _call(fn, sr, sf, a=a, b=b, c=c, what="lsgan_losses")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseError(f"lsgan_losses should return a pair (loss_d, loss_g), got {type(out).__name__}")
    loss_d, loss_g = (_scalar_tensor(v, f"lsgan_losses' {n}") for v, n in zip(out, ("loss_d", "loss_g")))
    want_d, want_g = losses.lsgan_d_loss(sr, sf, a=a, b=b), losses.lsgan_g_loss(sf, c=c)
    half = "off by a factor 2: did you forget the 1/2 in front of each mean squared distance?"
    _diagnose(loss_d, want_d, "loss_d (a = -1, b = 1)", {
        half: 2 * want_d,
        "real and fake targets swapped: real scores go to b, fakes to a": losses.lsgan_d_loss(sr, sf, a=b, b=a),
        "summed over the batch: take the means": 0.5 * ((sr - b) ** 2).sum() + 0.5 * ((sf - a) ** 2).sum()},
        hint="0.5 * mean (D(x) - b)^2 + 0.5 * mean (D(G(z)) - a)^2")
    _diagnose(loss_g, want_g, "loss_g (c = 0)", {
        half: 2 * want_g,
        "G's target is c (what G wants D to say), not b": losses.lsgan_g_loss(sf, c=b),
        "G's target is c, not a (that is D's target for fakes)": losses.lsgan_g_loss(sf, c=a),
        "summed over the batch: take the mean": 0.5 * ((sf - c) ** 2).sum()},
        hint="0.5 * mean (D(G(z)) - c)^2")
    _grads_match(loss_d, want_d, [sr, sf], "loss_d", "did you use .item(), .detach() or numpy?")
    _grads_match(loss_g, want_g, [sf], "loss_g", "did you use .item(), .detach() or numpy?")
    return _ok("lsgan_losses (values and gradients, a = -1, b = 1, c = 0)")


@_own_rng
def check_hinge_losses(fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """Check ``hinge_losses(scores_real, scores_fake) -> (loss_d, loss_g)`` against ``losses.hinge_*``."""
    from .. import losses

    g = _seed(2)
    sr = (1.5 * torch.randn(32, generator=g)).requires_grad_(True)
    sf = (1.5 * torch.randn(32, generator=g)).requires_grad_(True)
    out = _call(fn, sr, sf, what="hinge_losses")
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseError(f"hinge_losses should return a pair (loss_d, loss_g), got {type(out).__name__}")
    loss_d, loss_g = (_scalar_tensor(v, f"hinge_losses' {n}") for v, n in zip(out, ("loss_d", "loss_g")))
    want_d, want_g = losses.hinge_d_loss(sr, sf), losses.hinge_g_loss(sf)
    _diagnose(loss_d, want_d, "loss_d", {
        "no hinge: clamp at 0, relu(1 - D(x)) and relu(1 + D(G(z))); without it this is a shifted WGAN loss":
            (1 - sr).mean() + (1 + sf).mean(),
        "signs flipped: D pushes real scores above +1 (relu(1 - D(x))) and fake scores below -1 (relu(1 + D(G(z))))":
            F.relu(1 + sr).mean() + F.relu(1 - sf).mean(),
        "the margin is 1: relu(1 - D(x)), not relu(-D(x))": F.relu(-sr).mean() + F.relu(sf).mean()},
        hint="mean relu(1 - D(x)) + mean relu(1 + D(G(z)))")
    _diagnose(loss_g, want_g, "loss_g", {
        "G's hinge loss has no relu: it is -mean D(G(z)) (Lim & Ye 2017; Miyato et al. 2018)": F.relu(1 - sf).mean(),
        "sign flipped: G wants D(G(z)) large, so it minimises -mean D(G(z))": sf.mean()},
        hint="-mean D(G(z))")
    _grads_match(loss_d, want_d, [sr, sf], "loss_d", "did you use .item(), .detach() or numpy?")
    _grads_match(loss_g, want_g, [sf], "loss_g", "did you use .item(), .detach() or numpy?")
    return _ok("hinge_losses (values and gradients)")


# ----------------------------------------------------------------------------------------
# 08 conditional GANs
# ----------------------------------------------------------------------------------------
@_own_rng
def check_acgan_class_d_term(fn: Callable[[Any], torch.Tensor]) -> bool:
    """Check AC-GAN's class term for D, ``fn(b: gan.Batch) -> scalar``, against ``gan.aux_class_d_term``.

    Values and gradients w.r.t. D's class logits on both batches.
    """
    from .. import gan

    g = _seed(4)
    cr_logits = (2 * torch.randn(8, 10, generator=g)).requires_grad_(True)
    cf_logits = (2 * torch.randn(8, 10, generator=g)).requires_grad_(True)
    c_real, c_fake = torch.randint(10, (8,), generator=g), torch.randint(10, (8,), generator=g)
    batch = gan.Batch(x_real=torch.zeros(8, 1, 28, 28), x_fake=torch.zeros(8, 1, 28, 28), c_real=c_real, c_fake=c_fake,
                      z=torch.zeros(8, 4), aux_real=cr_logits, aux_fake=cf_logits)
    got = _scalar_tensor(_call(fn, batch, what="acgan_class_d_term"), "acgan_class_d_term")
    want = gan.aux_class_d_term(batch)
    ce = F.cross_entropy
    mistakes = {
        "the fakes' class loss is missing: D also learns to give G's samples their class (L_C has a real and a "
        "fake term)": ce(cr_logits, c_real),
        "the real batch's class loss is missing: L_C covers the real digits too": ce(cf_logits, c_fake),
        "the fakes are scored against the real batch's labels: use b.c_fake for b.aux_fake": ce(cr_logits, c_real)
        + ce(cf_logits, c_real),
        "F.cross_entropy takes raw logits (it applies log_softmax itself): do not apply softmax first":
            ce(cr_logits.softmax(1), c_real) + ce(cf_logits.softmax(1), c_fake),
        "summed over the batch: average (F.cross_entropy's default)":
            ce(cr_logits, c_real, reduction="sum") + ce(cf_logits, c_fake, reduction="sum"),
        "sign flipped: D minimises -L_C, the cross-entropy (a positive number)": -want,
    }
    _diagnose(got, want, "acgan_class_d_term", mistakes,
              hint="F.cross_entropy(b.aux_real, b.c_real) + F.cross_entropy(b.aux_fake, b.c_fake)")
    _grads_match(got, want, [cr_logits, cf_logits], "acgan_class_d_term", "did you use .item(), .detach() or argmax?")
    return _ok("acgan_class_d_term (value and gradients w.r.t. both batches' class logits)")


@_own_rng
def check_gaussian_nll(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``gaussian_nll(c, mu, log_sigma)`` (element-wise) against ``torch.distributions.Normal``."""
    g = _seed(0)
    c = torch.rand(6, 2, generator=g) * 2 - 1
    mu, ls = torch.randn(6, 2, generator=g), (0.7 * torch.randn(6, 2, generator=g)).requires_grad_(True)
    got = _call(fn, c, mu, ls, what="gaussian_nll")
    if not isinstance(got, torch.Tensor):
        raise ExerciseError(f"gaussian_nll should return a tensor, got {type(got).__name__}")
    want = -torch.distributions.Normal(mu, ls.exp()).log_prob(c)
    sig, half_log2pi = ls.exp(), 0.5 * math.log(2 * math.pi)
    mistakes = {
        "element-wise please: one NLL per entry, shape (B, n_codes), no mean or sum": want.mean(),
        "sign flipped: return the negative log-density": -want,
        "sigma is exp(log_sigma): you divided by log_sigma": ls + half_log2pi + 0.5 * ((c - mu) / ls) ** 2,
        "the quadratic term is (c - mu)^2 / (2 sigma^2): the 1/2 is missing": ls + half_log2pi + ((c - mu) / sig) ** 2,
        "the denominator is 2 sigma^2 (the variance), not 2 sigma": ls + half_log2pi + (c - mu) ** 2 / (2 * sig),
        "the constant log(2 pi) / 2 is missing": ls + 0.5 * ((c - mu) / sig) ** 2,
        "the normaliser is log sigma, not log sigma^2 = 2 log sigma": 2 * ls + half_log2pi + 0.5 * ((c - mu) / sig) ** 2,
    }
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        raise ExerciseError("gaussian_nll is not correct: element-wise please: one NLL per entry, shape "
                            f"{tuple(want.shape)}, no mean or sum")
    _diagnose(got, want, "gaussian_nll", mistakes, hint="log sigma + log(2 pi) / 2 + (c - mu)^2 / (2 sigma^2)")
    return _ok("gaussian_nll")


@_own_rng
def check_unsupervised_loss(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``unsupervised_loss(logits_real, logits_fake)`` against an explicit K+1-class softmax, and its stability."""
    g = _seed(0)
    lr_, lf_ = 4 * torch.randn(16, 10, generator=g), 4 * torch.randn(16, 10, generator=g)

    def explicit(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        p_fake_real = F.softmax(torch.cat([a, torch.zeros(len(a), 1)], 1).double(), 1)[:, -1]
        p_fake_fake = F.softmax(torch.cat([b, torch.zeros(len(b), 1)], 1).double(), 1)[:, -1]
        return -torch.log1p(-p_fake_real).mean() - p_fake_fake.log().mean()

    got = _scalar_tensor(_call(fn, lr_, lf_, what="unsupervised_loss"), "unsupervised_loss")
    lzr, lzf = torch.logsumexp(lr_, 1), torch.logsumexp(lf_, 1)
    mistakes = {
        "signs swapped: real digits should get a large log Z (softplus(-log Z)), fakes a small one (softplus(log Z))":
            F.softplus(lzr).mean() + F.softplus(-lzf).mean(),
        "log Z is the logsumexp of the K logits, not their max": F.softplus(-lr_.max(1).values).mean()
        + F.softplus(lf_.max(1).values).mean(),
        "log Z is the logsumexp of the K logits, not their sum": F.softplus(-lr_.sum(1)).mean() + F.softplus(lf_.sum(1)).mean(),
        "summed over the batch: take the means": F.softplus(-lzr).sum() + F.softplus(lzf).sum(),
    }
    _diagnose(got, explicit(lr_, lf_), "unsupervised_loss", mistakes,
              hint="log Z = torch.logsumexp(logits, 1); -log(Z/(Z+1)) = softplus(-log Z), -log(1/(Z+1)) = softplus(log Z)")
    big_r, big_f = 30 * lr_, 30 * lf_                                 # logits of +-300: exp overflows in float32
    got_big = _scalar_tensor(_call(fn, big_r, big_f, what="unsupervised_loss on large logits"),
                             "unsupervised_loss on large logits")
    if not torch.isfinite(got_big):
        raise ExerciseError("unsupervised_loss is inf/NaN for logits of a few hundred: exp(logits) overflows; use "
                            "torch.logsumexp and F.softplus instead of exp and log")
    _diagnose(got_big, explicit(big_r, big_f), "unsupervised_loss on large logits", rtol=1e-4, atol=1e-3,
              hint="use torch.logsumexp and F.softplus: they are stable")
    return _ok("unsupervised_loss (values, and finite for logits of +-300)")


# ----------------------------------------------------------------------------------------
# 09 scaling GANs
# ----------------------------------------------------------------------------------------
@_own_rng
def check_pyramid(fn: Callable[[torch.Tensor, int], list]) -> bool:
    """Check ``pyramid(x, levels)`` against ``images.laplacian_pyramid`` (3 and 4 levels)."""
    from .. import images

    x = torch.rand(4, 1, 32, 32, generator=_seed(5)) * 2 - 1
    for levels in (3, 4):
        got = _call(fn, x.clone(), levels, what=f"pyramid(x, {levels})")
        want, gauss = images.laplacian_pyramid(x, levels), images.gaussian_pyramid(x, levels)
        if not isinstance(got, (list, tuple)):
            raise ExerciseError(f"pyramid should return a list [h_0, ..., h_(K-1), I_K], got {type(got).__name__}")
        if len(got) != levels:
            raise ExerciseError(f"pyramid(x, {levels}) returned {len(got)} entries, expected {levels}: the bands h_0 .. "
                                f"h_{levels - 2} and last the coarse image I_{levels - 1}")
        for k, (a, b) in enumerate(zip(got, want)):
            if k < levels - 1:
                mistakes = {
                    "sign flipped: h_k = I_k - u(d(I_k)) (the detail the coarser level cannot give)": -b,
                    "the band is I_k - u(d(I_k)): you returned u(d(I_k)), the blurred image": gauss[k] - b,
                }
            else:
                mistakes = {"the last entry is the coarse image I_K itself, not a band I_K - u(d(I_K))":
                            b - images.upsample(images.downsample(b, 2, "area"), 2, "bilinear")}
            _diagnose(a, b, f"pyramid(x, {levels}) entry {k}", mistakes, atol=1e-5,
                      hint="I_(k+1) = downsample(I_k, 2, 'area'); h_k = I_k - upsample(I_(k+1), 2, 'bilinear')")
    return _ok("pyramid (3 and 4 levels)")


@_own_rng
def check_rebuild(fn: Callable[[list], torch.Tensor]) -> bool:
    """Check ``rebuild(pyr)`` inverts ``images.laplacian_pyramid`` (3 and 4 levels)."""
    from .. import images

    x = torch.rand(4, 1, 32, 32, generator=_seed(6)) * 2 - 1
    for levels in (3, 4):
        pyr = images.laplacian_pyramid(x, levels)
        got = _call(fn, [p.clone() for p in pyr], what=f"rebuild(pyramid with {levels} levels)")
        mistakes = {"the bands are dropped: I_k = u(I_(k+1)) + h_k adds each band back":
                    _up_n(pyr[-1], levels - 1),
                    "only the finest band was added back: add every h_k, coarse to fine":
                    _up_n(pyr[-1], levels - 1) + pyr[0]}
        if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(x.shape):
            raise ExerciseError(f"rebuild returned shape {tuple(got.shape)}, expected {tuple(x.shape)}: start from the "
                                f"coarsest I_K = pyr[-1] and go up to h_0, upsampling once per level")
        _diagnose(got, x, f"rebuild(pyramid(x, {levels}))", mistakes, atol=1e-5,
                  hint="x = pyr[-1]; for h in reversed(pyr[:-1]): x = upsample(x, 2, 'bilinear') + h")
    return _ok("rebuild (inverts the pyramid, 3 and 4 levels)")


def _up_n(x: torch.Tensor, n: int) -> torch.Tensor:
    from .. import images

    for _ in range(n):
        x = images.upsample(x, 2, "bilinear")
    return x


@_own_rng
def check_ortho_reg(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``ortho_reg(weight, beta, full=False)`` against ``scaling.orthogonal_regularisation``.

    Conv (out, in, k, k) and linear weights, both forms, orthogonal filters, and the gradient (it trains G).
    """
    from .. import scaling

    g = _seed(0)
    w_conv = torch.randn(6, 3, 3, 3, generator=g).requires_grad_(True)
    w_lin = torch.randn(5, 8, generator=g)

    def wrong(w: torch.Tensor, beta: float, *, gram_cols: bool = False, diag: bool = False, square: bool = True,
              beta_on: bool = True) -> torch.Tensor:
        m = w.reshape(w.shape[0], -1)
        gram = m.T @ m if gram_cols else m @ m.T
        eye = torch.eye(len(gram))
        off = gram if diag else gram * (1 - eye)
        val = (off ** 2).sum() if square else off.abs().sum()
        return beta * val if beta_on else val

    for w, name in ((w_conv, "conv weight (6, 3, 3, 3)"), (w_lin, "linear weight (5, 8)")):
        for beta, full in ((1e-2, False), (0.5, True)):
            what = f"ortho_reg({name}, beta={beta:g}, full={full})"
            got = _scalar_tensor(_call(fn, w, beta, full=full, what=what), what)
            want = scaling.orthogonal_regularisation(w, beta, full=full)
            mistakes = {} if full else {
                "the diagonal is penalised: mask it with (1 - I), only pairs of distinct filters count (full=False)":
                    wrong(w, beta, diag=True),
                "the Gram matrix of the columns (W^T W): the filters are the rows, use W W^T after reshaping to (out, -1)":
                    wrong(w, beta, gram_cols=True),
                "sum the *squares* of the off-diagonal entries": wrong(w, beta, square=False),
                "beta is missing": wrong(w, beta, beta_on=False),
            }
            if full:
                m = w.reshape(w.shape[0], -1)
                mistakes = {"full=True penalises W W^T - I (the diagonal too)": scaling.orthogonal_regularisation(w, beta),
                            "full=True subtracts the identity: ||W W^T - I||^2, not ||W W^T||^2":
                                beta * ((m @ m.T) ** 2).sum()}
            _diagnose(got, want, what, mistakes, rtol=1e-5, atol=1e-7,
                      hint="w = weight.reshape(out, -1); gram = w @ w.T; beta * ((gram * (1 - I)) ** 2).sum()")
    got = _call(fn, w_conv, 1e-2, what="ortho_reg")
    _grads_match(got, scaling.orthogonal_regularisation(w_conv, 1e-2), [w_conv], "ortho_reg",
                 "it is a training term of G: keep it a differentiable torch expression (no .item(), numpy or detach)")
    q = torch.linalg.qr(torch.randn(27, 6, generator=g))[0].T
    val = float(_call(fn, 5 * q, 1.0, what="ortho_reg"))
    if not val < 1e-6:
        raise ExerciseError(f"ortho_reg of orthogonal filters (of norm 5) is {val:.3g}, expected 0: with full=False only "
                            f"the off-diagonal entries count, the filters' norms are free")
    return _ok("ortho_reg (conv and linear weights, both forms, gradient, orthogonal filters -> 0)")


@_own_rng
def check_adain(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``adain(x, scale, bias)`` against ``nets.scaling.adain``, with maps of small variance (eps visible)."""
    from ..nets import scaling as snets

    g = _seed(0)
    for spread, what in ((3.0, "AdaIN"), (0.01, "AdaIN on maps of std 0.01 (where eps matters)")):
        x = spread * torch.randn(3, 4, 6, 6, generator=g) + 1
        ys, yb = torch.rand(3, 4, generator=g) + 0.5, torch.randn(3, 4, generator=g)
        got = _call(fn, x, ys, yb, what=what)
        want = snets.adain(x, ys, yb)

        def norm(dims: tuple[int, ...], unbiased: bool = False, eps_out: bool = False, x: torch.Tensor = x,
                 ys: torch.Tensor = ys, yb: torch.Tensor = yb) -> torch.Tensor:
            mu = x.mean(dims, keepdim=True)
            var = x.var(dims, keepdim=True, unbiased=unbiased)
            sd = var.sqrt() + 1e-5 if eps_out else (var + 1e-5).sqrt()
            return ys[:, :, None, None] * (x - mu) / sd + yb[:, :, None, None]

        mistakes = {
            "unbiased variance: instance norm uses the biased one, x.var(..., unbiased=False)": norm((2, 3), unbiased=True),
            "eps goes inside the square root: sqrt(var + 1e-5), not std + 1e-5": norm((2, 3), eps_out=True),
            "statistics over (C, H, W): AdaIN normalises each channel separately, over (H, W) only": norm((1, 2, 3)),
            "statistics over the batch (that is batch norm): AdaIN normalises each sample's maps over (H, W)": norm((0, 2, 3)),
            "scale and bias swapped: y_s multiplies, y_b is added":
                yb[:, :, None, None] * (x - x.mean((2, 3), keepdim=True)) / (x.var((2, 3), keepdim=True, unbiased=False)
                                                                         + 1e-5).sqrt() + ys[:, :, None, None],
        }
        _diagnose(got, want, what, mistakes, atol=1e-4, rtol=1e-4, hint="statistics per sample and channel over (H, W)")
    return _ok("AdaIN (per-map statistics, biased variance, eps inside the root)")


# ----------------------------------------------------------------------------------------
# 10 evaluation
# ----------------------------------------------------------------------------------------
@_own_rng
def check_fid_from_features(fn: Callable[[np.ndarray, np.ndarray], float]) -> bool:
    """Check ``fid_from_features(f_real, f_fake)`` against ``metrics.frechet_distance`` on random features."""
    from .. import metrics

    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6))
    b = 0.7 * rng.normal(size=(150, 6)) @ rng.normal(size=(6, 6)) + 0.5
    got = _call(fn, a, b, what="fid_from_features")
    try:
        got = float(np.real(got))
    except (TypeError, ValueError):
        raise ExerciseError(f"fid_from_features should return a number, got {type(got).__name__}") from None
    mu_a, s_a = metrics.feature_statistics(a)
    mu_b, s_b = metrics.feature_statistics(b)
    want = metrics.frechet_distance(mu_a, s_a, mu_b, s_b)
    mean_term = float(((mu_a - mu_b) ** 2).sum())
    sq = scipy.linalg.sqrtm(s_a @ s_b).real
    mistakes = {
        "the cross term needs the matrix square root (Sigma_r Sigma_g)^(1/2) (scipy.linalg.sqrtm), not the product":
            mean_term + np.trace(s_a + s_b - 2 * s_a @ s_b),
        "np.sqrt is element-wise: the cross term needs the matrix square root, scipy.linalg.sqrtm":
            mean_term + np.trace(s_a + s_b - 2 * np.sqrt(np.abs(s_a @ s_b))),
        "only the mean term: FID also compares the covariances, + tr(Sigma_r + Sigma_g - 2 (Sigma_r Sigma_g)^(1/2))":
            mean_term,
        "the trace term is missing its factor 2: - 2 tr((Sigma_r Sigma_g)^(1/2))": mean_term + np.trace(s_a + s_b - sq),
        "the mean term is the *squared* distance ||mu_r - mu_g||^2": math.sqrt(mean_term) + np.trace(s_a + s_b - 2 * sq),
        "covariances over the wrong axis: np.cov(f, rowvar=False) treats rows as samples": None,
    }
    _diagnose(got, want, "fid_from_features", mistakes, rtol=1e-4, atol=1e-6,
              hint="||mu_r - mu_g||^2 + tr(S_r + S_g - 2 sqrtm(S_r @ S_g))")
    return _ok("fid_from_features")


@_own_rng
def check_inception_score(fn: Callable[[torch.Tensor], float]) -> bool:
    """Check ``inception_score(p_yx)`` from class probabilities (N, K) against exp E KL(p(y|x) || p(y))."""
    g = _seed(0)
    p = F.softmax(3 * torch.randn(40, 10, generator=g, dtype=torch.float64), 1)
    got = _call(fn, p.clone(), what="inception_score")
    try:
        got = float(got)
    except (TypeError, ValueError, RuntimeError):
        raise ExerciseError(f"inception_score should return a number, got {type(got).__name__}") from None
    p_y = p.mean(0, keepdim=True)
    kl = (p * (p.log() - p_y.log())).sum(1)
    want = float(kl.mean().exp())
    mistakes = {
        "you returned the mean KL, log IS: exponentiate it": float(kl.mean()),
        "KL reversed: KL(p(y|x) || p(y)) = sum_y p(y|x) log(p(y|x) / p(y))":
            float((p_y * (p_y.log() - p.log())).sum(1).mean().exp()),
        "p(y) is the mean of p(y|x) over the samples (dim 0), not over the classes":
            float((p * (p.log() - p.mean(1, keepdim=True).log())).sum(1).mean().exp()),
        "exp of the mean KL, not the mean of exp(KL)": float(kl.exp().mean()),
    }
    _diagnose(np.float64(got), want, "inception_score", mistakes, rtol=1e-6, atol=1e-8,
              hint="exp( mean_x sum_y p(y|x) (log p(y|x) - log p(y)) ), p(y) = mean_x p(y|x)")
    one = F.one_hot(torch.arange(40) % 10, 10).double()
    val = float(_call(fn, one * (1 - 1e-12) + 1e-13, what="inception_score"))
    if not abs(val - 10) < 1e-3:
        raise ExerciseError(f"inception_score of confident predictions spread evenly over 10 classes is {val:.4g}, "
                            f"expected 10")
    return _ok("inception_score (random probabilities; 10 for confident, balanced predictions)")


@_own_rng
def check_manifold_coverage(fn: Callable[[Any, Any, int], float]) -> bool:
    """Check ``manifold_coverage(points, support, k)`` against ``metrics.manifold_coverage`` on random features."""
    from .. import metrics

    rng = np.random.default_rng(1)
    support = rng.normal(size=(60, 3))
    points = np.concatenate([rng.normal(size=(30, 3)), 2.5 * rng.normal(size=(30, 3)) + 1])
    for k in (1, 3):
        got = _call(fn, points.copy(), support.copy(), k, what=f"manifold_coverage(k={k})")
        try:
            got = float(got)
        except (TypeError, ValueError, RuntimeError):
            raise ExerciseError(f"manifold_coverage should return a fraction (a float), got {type(got).__name__}") from None
        want = metrics.manifold_coverage(points, support, k)
        d_ss = np.linalg.norm(support[:, None] - support[None], axis=-1)
        d_ps = np.linalg.norm(points[:, None] - support[None], axis=-1)
        r_self = np.sort(d_ss, 1)[:, k - 1]
        mistakes = {
            "the k-th neighbour of a support point must not be the point itself (distance 0): take the (k+1)-th "
            "smallest distance": float((d_ps <= r_self[None]).any(1).mean()),
            "points and support swapped: the balls are around the support points, and the fraction is over the "
            "points": metrics.manifold_coverage(support, points, k),
            "a point counts when it lies in *any* ball (.any over the support), not in all of them":
                float((d_ps <= np.sort(d_ss, 1)[:, k][None]).all(1).mean()),
        }
        _diagnose(np.float64(got), want, f"manifold_coverage(k={k})", mistakes, rtol=0, atol=1e-9,
                  hint="r_j = distance from support_j to its k-th nearest *other* support point; a point is covered "
                       "if its distance to some support_j is <= r_j")
    return _ok("manifold_coverage (k = 1 and 3)")


@_own_rng
def check_mig_from_mi(fn: Callable[[np.ndarray, np.ndarray], float]) -> bool:
    """Check ``mig_from_mi(mi, h)`` for (L, K) mutual informations and (K,) entropies."""
    rng = np.random.default_rng(0)
    for shape in ((6, 4), (5, 5)):
        mi, h = rng.uniform(0, 1, size=shape), rng.uniform(1, 3, size=shape[1])
        got = _call(fn, mi.copy(), h.copy(), what=f"mig_from_mi on a {shape} matrix")
        try:
            got = float(got)
        except (TypeError, ValueError):
            raise ExerciseError(f"mig_from_mi should return a number, got {type(got).__name__}") from None
        top = np.sort(mi, axis=0)[::-1]
        want = float(((top[0] - top[1]) / h).mean())
        mistakes = {
            "normalise each factor's gap by its entropy H(v_k)": float((top[0] - top[1]).mean()),
            "the gap is between the largest and the *second* largest MI, not the smallest":
                float(((top[0] - top[-1]) / h).mean()),
        }
        if shape[0] == shape[1]:
            top_r = np.sort(mi, axis=1)[:, ::-1]
            mistakes["sorted along the wrong axis: for each factor k (a column) compare the latents j (axis 0)"] = \
                float(((top_r[:, 0] - top_r[:, 1]) / h).mean())
        _diagnose(np.float64(got), want, f"mig_from_mi on a {shape} matrix", mistakes, rtol=1e-9, atol=1e-12,
                  hint="sort each column, take the top two, divide the gap by H(v_k), average over factors")
    return _ok("mig_from_mi")
