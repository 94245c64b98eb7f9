"""Checks for the exercises of notebooks 00-05, re-exported by :mod:`course_lib.exercises`.

Every check takes the student's function or class, runs it on small random inputs against the course's
version and names the symptom of a wrong answer: it compares the result with the results of the usual
mistakes (a missing 1/2, a flipped sign, a mean where a sum belongs, a type-B mask where A is needed) and
says which one it matches. A stub that still raises ``NotImplementedError`` fails with "not implemented yet".
The checks that build networks draw their random numbers inside :func:`torch.random.fork_rng`, so calling a
check (or :func:`course_lib.exercises.or_reference`) never changes the notebook's random stream.

The ``reference_*`` functions are the course's versions of the build exercises whose code is not already a
library function; ``or_reference`` falls back to them until the student's version passes its check.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    # 00
    "reference_bernoulli_log_likelihood", "reference_em_step",
    "check_bernoulli_log_likelihood", "check_em_step", "check_bits_per_dim",
    # 01
    "check_ista", "check_dictionary_update", "check_lambda_max",
    # 02
    "reference_denoising_loss",
    "check_bce", "check_principal_angles", "check_masking_noise", "check_denoising_loss",
    # 03
    "check_conv_mask", "check_masked_conv", "check_nll_and_bpd",
    # 04
    "reference_negative_elbo", "check_kl_normal", "check_negative_elbo", "check_iwae",
    # 05
    "reference_gan_step", "check_optimal_d", "check_gan_step", "check_count_modes",
]


# --------------------------------------------------------------------------------------
# helpers: run the student's code, compare with the answer and with the usual mistakes
# --------------------------------------------------------------------------------------
def _errors():
    from . import ExerciseError, _ok, check_close
    return ExerciseError, _ok, check_close


def _graph_hint(err: Exception) -> str | None:
    """A hint for the two autograd errors of a hand-written GAN step."""
    if "backward through the graph a second time" in str(err):
        return "D's step must use x_fake.detach(), so that G's graph is still there for G's step"
    if "modified by an inplace operation" in str(err):
        return ("opt.step() changed the parameters that an earlier output depends on: compute D(x_fake) "
                "for G's step after opt_d.step()")
    return None


def _call(fn: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
    """Run the student's code (:func:`course_lib.exercises.run_student`, with the GAN step's autograd hints)."""
    from . import run_student
    return run_student(fn, *args, what=what, crash_hint=_graph_hint, **kwargs)


def _tensor(value: Any) -> torch.Tensor | None:
    try:
        v = value.detach() if isinstance(value, torch.Tensor) else value
        return torch.as_tensor(v, dtype=torch.float64).cpu()
    except (TypeError, ValueError, RuntimeError):
        return None


def _close(value: Any, expected: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    v, e = _tensor(value), _tensor(expected)
    if v is None or e is None or v.shape != e.shape:
        return False
    return bool(torch.allclose(v, e, rtol=rtol, atol=atol, equal_nan=True))


def _expect(value: Any, expected: Any, what: str, mistakes: Sequence[tuple[str, Any]] = (), hint: str | None = None,
            rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Return quietly if ``value`` matches; else raise naming the first mistake it matches, else the difference."""
    ExerciseError, _, check_close = _errors()
    if _close(value, expected, rtol, atol):
        return
    for symptom, wrong in mistakes:
        if _close(value, wrong, rtol, atol):
            raise ExerciseError(f"{what}: {symptom}")
    with contextlib.redirect_stdout(io.StringIO()):
        check_close(value, expected, what, rtol=rtol, atol=atol, hint=hint)
    raise ExerciseError(f"{what} is not correct" + (f". Hint: {hint}" if hint else ""))  # pragma: no cover


def _finite(value: Any, what: str, hint: str) -> None:
    ExerciseError, _, _ = _errors()
    v = _tensor(value)
    if v is not None and not torch.isfinite(v).all():
        raise ExerciseError(f"{what} contains NaN or inf: {hint}")


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _fork() -> contextlib.AbstractContextManager:
    """Global random numbers used inside a check do not change the notebook's stream."""
    return torch.random.fork_rng(devices=[])


# --------------------------------------------------------------------------------------
# 00 introduction: the Bernoulli log-likelihood, one EM step, bits per dimension
# --------------------------------------------------------------------------------------
def reference_bernoulli_log_likelihood(x: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:
    """log p(x) in nats of each row of ``x`` (N, D) in {0, 1} under independent Bernoulli(mu (D,)).

    ``log p(x) = sum_d x_d log mu_d + (1 - x_d) log(1 - mu_d)``, with ``mu`` clamped to [1e-6, 1 - 1e-6].
    """
    if x.ndim != 2 or mu.ndim != 1 or x.shape[1] != mu.shape[0]:
        raise ValueError(f"expected x (N, D) and mu (D,), got {tuple(x.shape)} and {tuple(mu.shape)}")
    mu = mu.clamp(1e-6, 1 - 1e-6)
    return (x * mu.log() + (1 - x) * (1 - mu).log()).sum(-1)


def check_bernoulli_log_likelihood(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x (N, D), mu (D,)) -> (N,)`` log-likelihoods in nats, including pixels with mu = 0 or 1."""
    _, ok, _ = _errors()
    what = "bernoulli_log_likelihood"
    g = _gen(0)
    x = torch.bernoulli(torch.full((6, 20), 0.5), generator=g)
    mu = torch.rand(20, generator=g)
    mu[0], mu[1] = 0.0, 1.0                                   # pixels that are never / always on
    x[:, 0], x[:, 1] = 1.0, 0.0                               # ... and images that contradict them
    out = _call(fn, x, mu, what=what)
    _finite(out, what, "log 0 at a pixel with mu = 0 or 1: clamp mu to [1e-6, 1 - 1e-6] first")
    ref = reference_bernoulli_log_likelihood(x, mu)
    m = mu.clamp(1e-6, 1 - 1e-6)
    _expect(out, ref, what, [
        ("sign flipped: log p(x) is a log-probability (<= 0); you returned the negative log-likelihood", -ref),
        ("averaged over the pixels: log p(x) SUMS the D pixel terms (independent pixels multiply)", ref / 20),
        ("x and 1 - x swapped: a pixel that is on (x = 1) contributes log mu",
         ((1 - x) * m.log() + x * (1 - m).log()).sum(-1)),
    ], hint="sum over pixels of x log mu + (1 - x) log(1 - mu), one value per image (shape (N,))")
    return ok(what)


def _mixture_log_likelihood(x: torch.Tensor, log_pi: torch.Tensor, mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu = mu.clamp(1e-6, 1 - 1e-6)
    joint = x @ mu.log().T + (1 - x) @ (1 - mu).log().T + log_pi      # (N, K)
    log_px = torch.logsumexp(joint, 1)
    return log_px, (joint - log_px[:, None]).exp()


def reference_em_step(x: torch.Tensor, log_pi: torch.Tensor, mu: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One EM iteration of a mixture of K Bernoullis (notebook 00).

    E-step ``r_nk = pi_k p(x_n | mu_k) / sum_j pi_j p(x_n | mu_j)``; M-step ``pi_k = N_k / N`` and the smoothed
    ``mu_k = (sum_n r_nk x_n + 1) / (N_k + 2)`` with ``N_k = sum_n r_nk``.

    Args:
        x: (N, D) binary images; log_pi: (K,) log mixing weights; mu: (K, D) pixel probabilities.

    Returns:
        ``(log_pi_new (K,), mu_new (K, D), mean log p(x) (scalar) under the parameters before the step)``.
    """
    if x.ndim != 2 or mu.ndim != 2 or log_pi.ndim != 1 or mu.shape != (len(log_pi), x.shape[1]):
        raise ValueError(f"expected x (N, D), log_pi (K,), mu (K, D), got {tuple(x.shape)}, "
                         f"{tuple(log_pi.shape)}, {tuple(mu.shape)}")
    log_px, r = _mixture_log_likelihood(x, log_pi, mu)
    nk = r.sum(0) + 1e-8
    return (nk / len(x)).log(), (r.T @ x + 1) / (nk[:, None] + 2), log_px.mean()


def check_em_step(fn: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> bool:
    """Check one EM step ``fn(x, log_pi, mu) -> (log_pi, mu, mean log p(x))`` and that five never lower log p(x)."""
    ExerciseError, ok, _ = _errors()
    what = "em_step"
    g = _gen(0)
    x = torch.bernoulli(torch.full((60, 12), 0.4), generator=g)
    mu0 = 0.25 + 0.5 * torch.rand(3, 12, generator=g)
    log_pi0 = torch.log_softmax(torch.randn(3, generator=g), 0)
    out = _call(fn, x, log_pi0.clone(), mu0.clone(), what=what)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise ExerciseError(f"{what} should return three things: (log_pi, mu, mean log p(x)); got {type(out).__name__}")
    log_pi, mu, mean_log_px = out
    ref_pi, ref_mu, ref_lp = reference_em_step(x, log_pi0, mu0)
    log_px, r = _mixture_log_likelihood(x, log_pi0, mu0)
    joint = (r * log_px.exp()[:, None])                       # unnormalised responsibilities pi_k p(x | k)
    nk_u = joint.sum(0) + 1e-8
    nk = r.sum(0) + 1e-8
    _expect(log_pi, ref_pi, "log_pi after the step", [
        ("these are pi, not log pi: return the LOG mixing weights", ref_pi.exp()),
        ("pi_k = N_k / N: divide the summed responsibilities by the number of images", nk.log()),
        ("responsibilities not normalised: r_nk = pi_k p(x_n|k) / sum_j pi_j p(x_n|j) (subtract the logsumexp over k)",
         (nk_u / len(x)).log()),
    ], hint="pi_k = N_k / N with N_k = sum_n r_nk")
    _expect(mu, ref_mu, "mu after the step", [
        ("mu not smoothed: mu_k = (sum_n r_nk x_n + 1) / (N_k + 2), one pseudo-count each way", (r.T @ x) / nk[:, None]),
        ("mu divided by N instead of N_k: each component averages the images it is responsible for",
         (r.T @ x + 1) / (len(x) + 2)),
        ("responsibilities not normalised: r_nk = pi_k p(x_n|k) / sum_j pi_j p(x_n|j)", (joint.T @ x + 1) / (nk_u[:, None] + 2)),
    ], hint="mu_k = (r^T x + 1) / (N_k + 2), shape (K, D)")
    after, _ = _mixture_log_likelihood(x, ref_pi, ref_mu)
    _expect(mean_log_px, ref_lp, "mean log p(x)", [
        ("that is log p(x) under the NEW parameters: report the E-step's log p(x) (before the update)", after.mean()),
        ("summed over the images: report the mean", log_px.sum()),
    ], hint="the mean over images of logsumexp_k (log pi_k + log p(x | mu_k)) before the M-step")
    curve, (lp_, mu_) = [], (log_pi0.clone(), mu0.clone())
    for _ in range(5):                                        # the measured outcome: EM never lowers log p(x)
        lp_, mu_, v = _call(fn, x, lp_, mu_, what=what)
        curve.append(float(v))
    if any(b < a - 1e-6 for a, b in itertools.pairwise(curve)):
        raise ExerciseError(f"{what}: log p(x) went down during EM ({[round(c, 3) for c in curve]}); EM never lowers it")
    return ok(f"{what} (log p(x) per image {curve[0]:.2f} -> {curve[-1]:.2f} nats in 5 steps)")


def check_bits_per_dim(fn: Callable[[float, int], float]) -> bool:
    """Check the conversion of an NLL in nats per image to bits per dimension."""
    _, ok, _ = _errors()
    what = "bits_per_dim"
    for nll, d in ((543.5, 784), (100.0, 10), (2.0, 3)):
        out = _call(fn, nll, d, what=what)
        ref = nll / (d * math.log(2))
        _expect(out, ref, f"{what}({nll}, {d})", [
            ("multiplied by ln 2: bits = nats / ln 2", nll * math.log(2) / d),
            ("nats per dimension: divide by ln 2 as well to turn nats into bits", nll / d),
            ("bits per IMAGE: divide by the number of dimensions D", nll / math.log(2)),
            ("divided by ln 10: bits use log base 2 (divide by ln 2)", nll / (d * math.log(10))),
        ], hint="nll / (D ln 2)", rtol=1e-6)
    return ok(what)


# --------------------------------------------------------------------------------------
# 01 sparse coding: ISTA, the dictionary update, lambda_max
# --------------------------------------------------------------------------------------
def _sparse_problem(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    phi = torch.randn(10, 16, generator=g, dtype=torch.float64)
    phi = phi / phi.norm(dim=1, keepdim=True)
    x = torch.randn(6, 16, generator=g, dtype=torch.float64)
    return x, phi


def _ista_variant(x, phi, lam, num_iters, grad_factor=2.0, thresh=None, threshold=True):
    from .. import sparse
    L = sparse.lipschitz(phi)
    t = lam / L if thresh is None else thresh
    a = torch.zeros(x.shape[0], phi.shape[0], dtype=x.dtype)
    for _ in range(num_iters):
        z = a - grad_factor * (a @ phi - x) @ phi.T / L
        a = sparse.soft_threshold(z, t) if threshold else z
    return a


def check_ista(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ISTA ``fn(x (N, D), phi (K, D), lam, num_iters) -> codes (N, K)``: codes, and the energy it reaches."""
    from .. import sparse
    ExerciseError, ok, _ = _errors()
    what = "my_ista"
    x, phi = _sparse_problem()
    lam, n = 1.0, 60
    zero = _call(fn, x, phi, lam, 0, what=what)
    _expect(zero, torch.zeros(6, 10, dtype=torch.float64), f"{what} after 0 iterations", [],
            hint="start from the zero code, shape (N, K)")
    out = _call(fn, x, phi, lam, n, what=what)
    ref = sparse.ista(x, phi, lam, num_iters=n)
    _expect(out, ref, f"{what} codes", [
        ("the gradient is missing its factor 2: grad f(a) = 2 (a phi - x) phi^T", _ista_variant(x, phi, lam, n, 1.0)),
        ("threshold lam instead of lam / L: the proximal step of size 1/L shrinks by lam / L",
         _ista_variant(x, phi, lam, n, thresh=lam)),
        ("no soft threshold: without it the codes are dense least squares; apply sparse.soft_threshold",
         _ista_variant(x, phi, lam, n, threshold=False)),
    ], hint="a <- soft_threshold(a - grad / L, lam / L) with grad = 2 (a phi - x) phi^T", atol=1e-6)
    energies = [float(sparse.objective(x, phi, _call(fn, x, phi, lam, k, what=what), lam)["total"]) for k in (1, 2, 5, 20, n)]
    if any(b > a + 1e-9 for a, b in itertools.pairwise(energies)):
        raise ExerciseError(f"{what}: the energy rose with more iterations ({[round(e, 3) for e in energies]})")
    return ok(f"{what} (energy {energies[0]:.2f} after 1 iteration -> {energies[-1]:.2f} after {n})")


def check_dictionary_update(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check the least-squares dictionary update ``fn(x (N, D), a (N, K)) -> phi (K, D)`` with unit-norm rows."""
    _, ok, _ = _errors()
    what = "my_update atoms"
    g = _gen(1)
    x = torch.randn(40, 12, generator=g, dtype=torch.float64)
    a = torch.randn(40, 5, generator=g, dtype=torch.float64) * (torch.rand(40, 5, generator=g) < 0.6)
    out = _call(fn, x, a, what=what)
    phi = torch.linalg.solve(a.T @ a, a.T @ x)
    ref = phi / phi.norm(dim=1, keepdim=True)
    _expect(out, ref, what, [
        ("atoms are not unit norm: divide each row phi_k by its norm", phi),
        ("normalised the columns (norm over dim 0): each atom is a ROW of phi (K, D), use norm(dim=1)",
         phi / phi.norm(dim=0, keepdim=True)),
        ("used a^T x without solving with a^T a: the least-squares atoms are (a^T a)^-1 a^T x",
         (a.T @ x) / (a.T @ x).norm(dim=1, keepdim=True)),
    ], hint="solve (a^T a) phi = a^T x, then divide every row by its norm", atol=1e-6)
    return ok(what)


def check_lambda_max(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(x (N, D), phi (K, D)) -> (N,)`` and that FISTA's codes vanish just above it and not below."""
    from .. import sparse
    ExerciseError, ok, _ = _errors()
    what = "lambda_max"
    x, phi = _sparse_problem(2)
    out = _call(fn, x, phi, what=what)
    c = x @ phi.T
    ref = 2 * c.abs().amax(1)
    _expect(out, ref, what, [
        ("off by a factor 2: the gradient of ||x - a phi||^2 at a = 0 is -2 x phi^T", c.abs().amax(1)),
        ("negative correlations count too: take |x phi^T| before the max", 2 * c.amax(1)),
        ("summed over the atoms: the condition is on the LARGEST |gradient| entry (the inf-norm)", 2 * c.abs().sum(1)),
    ], hint="2 * max_k |<x, phi_k>|, one value per row of x")
    for i in range(len(x)):
        above = sparse.fista(x[i:i + 1], phi, float(out[i]) * 1.001, 200)
        below = sparse.fista(x[i:i + 1], phi, float(out[i]) * 0.9, 200)
        if (above != 0).any() or not (below != 0).any():
            raise ExerciseError(f"{what}: the codes should be all zero just above lambda_max and not below it")
    return ok(f"{what} (codes vanish just above it, not below)")


# --------------------------------------------------------------------------------------
# 02 autoencoders: cross-entropy, principal angles, masking noise, the denoising loss
# --------------------------------------------------------------------------------------
def check_bce(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check the cross-entropy from logits ``fn(logits (B, ...), x) -> scalar`` (sum over pixels, mean over batch)."""
    from .. import autoencoding
    ExerciseError, ok, _ = _errors()
    what = "my_bce"
    g = _gen(0)
    logits = torch.randn(4, 1, 5, 5, generator=g) * 5
    x = torch.rand(4, 1, 5, 5, generator=g)
    out = _call(fn, logits, x, what=what)
    ref = autoencoding.reconstruction_loss(logits, x, "bce")
    _expect(out, ref, what, [
        ("averaged over the pixels: sum over the pixels of each image, then take the mean over the batch", ref / 25),
        ("summed over the batch too: take the mean over the batch", ref * 4),
        ("sign flipped: the cross-entropy -[x log s + (1 - x) log(1 - s)] is >= 0", -ref),
    ], hint="sum over pixels, mean over the batch; log sigma(o) = -softplus(-o), log(1 - sigma(o)) = -softplus(o)",
        rtol=1e-5)
    big = logits * 40                                        # |logits| up to a few hundred
    out_big = _call(fn, big, x, what=what)
    _finite(out_big, f"{what} at large |logits|",
            "sigmoid saturates to 0 or 1 and log gives -inf: use log sigma(o) = -softplus(-o)")
    _expect(out_big, autoencoding.reconstruction_loss(big, x, "bce"), f"{what} at large |logits|", [],
            hint="not stable for large |logits|: log sigma(o) = -softplus(-o), log(1 - sigma(o)) = -softplus(o)",
            rtol=1e-4)
    if not isinstance(out, torch.Tensor) or out.ndim != 0:
        raise ExerciseError(f"{what} should return a scalar tensor")
    return ok(what)


def check_principal_angles(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(a (D, p), b (D, q)) -> angles (min(p, q),)`` in radians, ascending, against scipy."""
    import numpy as np
    import scipy.linalg
    _, ok, _ = _errors()
    what = "my_principal_angles"
    g = _gen(0)
    a = torch.randn(20, 3, generator=g, dtype=torch.float64)
    b = torch.cat([a[:, :2] @ torch.randn(2, 2, generator=g, dtype=torch.float64)
                   + 0.3 * torch.randn(20, 2, generator=g, dtype=torch.float64),
                   torch.randn(20, 2, generator=g, dtype=torch.float64)], 1)        # (20, 4): two near directions
    out = _call(fn, a, b, what=what)
    ref = torch.from_numpy(np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy())))
    qa, qb = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
    cos = torch.linalg.svdvals(qa.T @ qb)
    _expect(out, ref, what, [
        ("these are degrees: return radians (np.degrees is only for display)", torch.rad2deg(ref)),
        ("these are the cosines: take the arccos of the singular values", cos.sort().values),
        ("these are the cosines: take the arccos of the singular values", cos),
        ("sorted descending: return the smallest angle first", ref.flip(0)),
        ("columns not orthonormalised: apply torch.linalg.qr to both a and b first",
         torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(-1, 1)).sort().values),
    ], hint="arccos of the singular values of Q_a^T Q_b, sorted ascending", atol=1e-5)
    return ok(what)


def check_masking_noise(fn: Callable[[torch.Tensor, float, torch.Generator], torch.Tensor]) -> bool:
    """Check masking noise ``fn(x, fraction, generator)``: the zeroed fraction, kept values, reproducibility."""
    from .. import autoencoding
    ExerciseError, ok, _ = _errors()
    what = "my_masking_noise"
    ones = torch.ones(200, 1, 10, 10)
    out = _call(fn, ones, 0.3, _gen(0), what=what)
    if not isinstance(out, torch.Tensor) or out.shape != ones.shape:
        raise ExerciseError(f"{what} should return a tensor of the input's shape {tuple(ones.shape)}")
    zeros = float((out == 0).float().mean())
    if abs(zeros - 0.7) < 0.02:
        raise ExerciseError(f"{what}: {zeros:.2f} of the pixels are zeroed instead of 0.3: zero a pixel where rand < fraction"
                            " (keep it where rand >= fraction)")
    if abs(zeros - 0.3) > 0.02:
        raise ExerciseError(f"{what}: {zeros:.2f} of the pixels are zeroed, expected about 0.3")
    kept = out[out != 0]
    if not torch.allclose(kept, torch.ones_like(kept)):
        if torch.allclose(kept, torch.full_like(kept, 1 / 0.7)):
            raise ExerciseError(f"{what}: kept pixels are rescaled by 1 / (1 - fraction): that is dropout; masking "
                                "noise leaves the kept pixels unchanged")
        raise ExerciseError(f"{what}: the pixels that are not zeroed must keep their value")
    x = torch.rand(4, 1, 6, 6, generator=_gen(3))
    a, b = _call(fn, x, 0.5, _gen(7), what=what), _call(fn, x, 0.5, _gen(7), what=what)
    if not torch.equal(a, b):
        raise ExerciseError(f"{what}: two calls with generators of the same seed differ: pass generator= to torch.rand")
    ref = autoencoding.masking_noise(x, 0.5, _gen(7))
    if not torch.equal(a, ref):
        raise ExerciseError(f"{what}: a different mask than the course's for the same generator: draw "
                            "torch.rand(x.shape, generator=generator) once and zero x where it is < fraction")
    return ok(what)


def reference_denoising_loss(net: nn.Module, x: torch.Tensor, fraction: float,
                             generator: torch.Generator | None = None) -> torch.Tensor:
    """The denoising autoencoder's loss: cross-entropy between ``net(masked x)`` (logits) and the CLEAN ``x``.

    ``L = BCE(net(x~), x)`` with ``x~ = masking_noise(x, fraction)`` (Vincent et al. 2008); ``x`` (B, C, H, W) in [0, 1].
    """
    from .. import autoencoding
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    return autoencoding.reconstruction_loss(net(autoencoding.masking_noise(x, fraction, generator)), x, "bce")


def check_denoising_loss(fn: Callable[..., torch.Tensor]) -> bool:
    """Check ``fn(net, x, fraction, generator) -> scalar`` against the course's DAE loss (value and gradients)."""
    from .. import autoencoding
    from ..nets import autoencoders
    ExerciseError, ok, _ = _errors()
    what = "denoising_loss"
    with _fork():
        torch.manual_seed(0)
        net = autoencoders.MLPAutoencoder((36, 16, 4), activation="relu", output="logits", image_shape=(1, 6, 6))
    x = torch.rand(8, 1, 6, 6, generator=_gen(1))
    out = _call(fn, net, x, 0.5, _gen(5), what=what)
    if not isinstance(out, torch.Tensor) or out.ndim != 0:
        raise ExerciseError(f"{what} should return a scalar tensor (the mean over the batch)")
    ref = reference_denoising_loss(net, x, 0.5, _gen(5))
    x_noisy = autoencoding.masking_noise(x, 0.5, _gen(5))
    with torch.no_grad():
        _expect(out, ref, what, [
            ("the target is the corrupted input: a denoising autoencoder reconstructs the CLEAN x",
             autoencoding.reconstruction_loss(net(x_noisy), x_noisy, "bce")),
            ("the input is not corrupted: feed net the masked x (masking_noise(x, fraction, generator))",
             autoencoding.reconstruction_loss(net(x), x, "bce")),
            ("squared error: this notebook's networks output logits and use the cross-entropy reconstruction_loss(..., 'bce')",
             autoencoding.reconstruction_loss(net(x_noisy), x, "mse")),
            ("sigmoid applied twice: the network returns logits, pass them to the loss as they are",
             autoencoding.reconstruction_loss(torch.sigmoid(net(x_noisy)), x, "bce")),
        ], hint="loss = reconstruction_loss(net(masking_noise(x, fraction, generator)), x, 'bce')", rtol=1e-5)
    if not out.requires_grad:
        raise ExerciseError(f"{what}: the loss has no gradient: do not compute it under torch.no_grad() or detach it")
    grads = torch.autograd.grad(out, list(net.parameters()), allow_unused=True)
    grads_ref = torch.autograd.grad(ref, list(net.parameters()))
    if any(gr is None or not torch.allclose(gr, gref, rtol=1e-4, atol=1e-6) for gr, gref in zip(grads, grads_ref)):
        raise ExerciseError(f"{what}: the right value but other gradients: is part of the computation detached?")
    return ok(what)


# --------------------------------------------------------------------------------------
# 03 autoregressive: the mask, the masked convolution, nats and bits per dimension
# --------------------------------------------------------------------------------------
def check_conv_mask(fn: Callable[[int, str], torch.Tensor]) -> bool:
    """Check ``fn(kernel_size, mask_type) -> (k, k)`` PixelCNN masks of type A and B for k = 3, 5, 7."""
    from ..nets import autoregressive as ar
    _, ok, _ = _errors()
    for k in (3, 5, 7):
        c = k // 2
        for t in ("A", "B"):
            what = f"my_conv_mask({k}, {t!r})"
            out = _call(fn, k, t, what=what)
            ref = ar.conv_mask(k, t)[0, 0]
            other = ar.conv_mask(k, "B" if t == "A" else "A")[0, 0]
            row = ref.clone()
            row[c, c + 1:] = 1
            _expect(out, ref, what, [
                ("the centre pixel sees itself: a type-A mask excludes the centre" if t == "A" else
                 "the centre is masked: type B includes it (a feature at i may use features computed at i)", other),
                ("the pixels right of the centre in its row come later in raster order: keep only those left of it", row),
                ("transposed: the past is the rows ABOVE the centre and the pixels LEFT of it (raster order)", ref.T),
                ("the rows below the centre are the future: zero them", ref + (torch.arange(k)[:, None] > c).float()),
            ], hint="ones on the rows above the centre and left of the centre; the centre only for type B", atol=0)
    return ok("my_conv_mask (A and B, 3x3, 5x5, 7x7)")


def check_masked_conv(cls: Callable[..., nn.Module]) -> bool:
    """Check a masked convolution ``cls(in_channels, out_channels, kernel_size, mask_type)``.

    Its receptive field by gradients (no later pixel, the centre only for type B, every earlier pixel in the
    kernel), its output against the course's ``ar.masked_conv`` with the same weights, and its state (a buffer
    ``mask`` of the weight's shape, so the course's checkpoints load into it).
    """
    from ..nets import autoregressive as ar
    ExerciseError, ok, _ = _errors()
    H, pos, k = 9, (4, 4), 5
    past = ar.causal_past(H, H, pos)
    window = torch.zeros(H, H, dtype=torch.bool)
    window[pos[0] - k // 2: pos[0] + k // 2 + 1, pos[1] - k // 2: pos[1] + k // 2 + 1] = True
    for t in ("A", "B"):
        what = f"MaskedConv2d(2, 3, {k}, {t!r})"
        with _fork():
            torch.manual_seed(0)
            m = _call(cls, 2, 3, k, t, what=what)
        if not isinstance(m, nn.Module):
            raise ExerciseError(f"{what} should be an nn.Module, got {type(m).__name__}")
        x = torch.rand(2, 2, H, H, generator=_gen(1))
        y = _call(m, x, what=f"{what}.forward")
        if not isinstance(y, torch.Tensor) or tuple(y.shape) != (2, 3, H, H):
            shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
            raise ExerciseError(f"{what} maps (2, 2, {H}, {H}) to {shape}, expected (2, 3, {H}, {H}): "
                                f"pad by kernel_size // 2 ('same' convolution)")
        rf = ar.receptive_field(m, (1, 2, H, H), pos)
        later = ~past
        later[pos] = False                                   # the centre: tested below by type
        if (rf[later] > 0).any():
            i, j = (int(v) for v in torch.nonzero(rf * later)[0])
            raise ExerciseError(f"{what}: the output at {pos} depends on the later pixel ({i}, {j}): the rows below "
                                "and the pixels right of the centre must be masked")
        if t == "A" and rf[pos] > 0:
            raise ExerciseError(f"{what}: the centre pixel sees itself: a type-A mask excludes the centre")
        if t == "B" and rf[pos] == 0:
            raise ExerciseError(f"{what}: the centre is masked: type B includes it (the layers after the first may "
                                "use the features computed at the pixel itself)")
        if not (rf[past & window] > 0).all():
            raise ExerciseError(f"{what}: the mask hides earlier pixels inside the kernel: keep every row above the "
                                "centre and the pixels left of it")
        buffers = dict(m.named_buffers())
        weight = getattr(m, "weight", None)
        if "mask" not in buffers or weight is None or buffers["mask"].shape != weight.shape:
            raise ExerciseError(f"{what}: register the mask with self.register_buffer('mask', ...) with the weight's "
                                "shape (out, in, k, k), so it moves with .to(device) and the course's checkpoints load")
        ref = ar.masked_conv(2, 3, k, t)
        with torch.no_grad():
            full = torch.randn(weight.shape, generator=_gen(2))          # a weight with every entry non-zero,
            m.weight.copy_(full)                                           # as after training steps
            ref.weight.copy_(full)
            ref.bias.copy_(m.bias if m.bias is not None else torch.zeros(3))
            _expect(m(x), ref(x), f"{what} output with the course's weights", [],
                    hint="multiply weight * mask inside forward (masking the weight once in __init__ is undone "
                         "by training), then F.conv2d(x, weight * mask, bias, padding=k // 2)", rtol=1e-4, atol=1e-5)
        if set(m.state_dict()) != {"weight", "bias", "mask"}:
            raise ExerciseError(f"{what}: its state holds {sorted(m.state_dict())}; the course's checkpoints hold "
                                "weight, bias and mask")
    return ok("masked convolution (type A and B: receptive field by gradients, outputs)")


def check_nll_and_bpd(fn: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> bool:
    """Check ``fn(logits, x) -> (nll (B,) nats, bits/dim (B,))`` for Bernoulli pixels."""
    from .. import likelihood
    ExerciseError, ok, _ = _errors()
    what = "my_nll_and_bpd"
    g = _gen(0)
    logits = torch.randn(4, 1, 6, 6, generator=g) * 3
    x = torch.bernoulli(torch.full((4, 1, 6, 6), 0.3), generator=g)
    out = _call(fn, logits, x, what=what)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise ExerciseError(f"{what} should return (nll, bits_per_dim)")
    nll, bpd = out
    ref = likelihood.bernoulli_nll(logits, x)
    _expect(nll, ref, "NLL per image (nats)", [
        ("averaged over the pixels: the NLL of an image sums its D pixel terms", ref / 36),
        ("sign flipped: the NLL is -log p(x) >= 0", -ref),
    ], hint="sum the per-pixel binary cross-entropy over C, H, W: one value per image (B,)", rtol=1e-4)
    d = 36
    _expect(bpd, ref / (d * math.log(2)), "bits/dim", [
        ("nats per dimension: divide by ln 2 as well to turn nats into bits", ref / d),
        ("bits per IMAGE: divide by the number of dimensions D of one image", ref / math.log(2)),
        ("divided by the size of the whole batch: D counts the dimensions of ONE image (x[0].numel())",
         ref / (4 * d * math.log(2))),
    ], hint="nll / (D ln 2)", rtol=1e-4)
    return ok(what)


# --------------------------------------------------------------------------------------
# 04 VAE: the KL, the reparameterised negative ELBO, the IWAE bound
# --------------------------------------------------------------------------------------
def check_kl_normal(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(mu (B, D), logvar (B, D)) -> KL(N(mu, sigma^2) || N(0, I))`` per row against torch.distributions."""
    from torch import distributions as dist
    _, ok, _ = _errors()
    what = "KL(q || N(0, I))"
    g = _gen(0)
    mu, logvar = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    out = _call(fn, mu, logvar, what=what)
    ref = dist.kl_divergence(dist.Normal(mu, (0.5 * logvar).exp()), dist.Normal(0.0, 1.0)).sum(-1)
    _expect(out, ref, what, [
        ("off by a factor 2: did you forget the 1/2?", 2 * ref),
        ("sign flipped: a KL divergence is >= 0", -ref),
        ("logvar is log sigma^2, not log sigma: sigma^2 = exp(logvar)",
         0.5 * (mu ** 2 + (2 * logvar).exp() - 1 - 2 * logvar).sum(-1)),
        ("averaged over the latent dimensions: the KL of independent dimensions is their SUM", ref / 3),
    ], hint="0.5 * sum_j (mu^2 + exp(logvar) - 1 - logvar), one value per row (B,)")
    return ok(what)


def reference_negative_elbo(net: nn.Module, x: torch.Tensor, y: torch.Tensor | None = None, beta: float = 1.0
                            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (beta-)VAE loss of notebook 04 with the reparameterisation trick.

    ``z = mu + exp(logvar / 2) * eps`` (``z = mu`` when ``net.deterministic``),
    ``loss = mean_batch[-log p(x | z) + beta * KL(q(z | x) || N(0, I))]``.

    Args:
        net: a :class:`course_lib.nets.vae.VAE` (``encode``, ``decode``, ``deterministic``).
        x: (B, C, H, W) binary images; y: (B,) labels for a conditional VAE, else None.
        beta: weight of the KL.

    Returns:
        ``(loss scalar, recon (B,) nats, kl (B,) nats)``.
    """
    from .. import likelihood
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    logits, mu, logvar, _ = net(x, y)
    recon, kl = likelihood.bernoulli_nll(logits, x), likelihood.kl_normal(mu, logvar)
    return (recon + beta * kl).mean(), recon, kl


def _elbo_variant(net, x, y, beta, sigma="half", noise=True, beta_on="kl", kl_sign=1.0, batch="mean", pixels="sum",
                  respect_deterministic=True):
    from .. import likelihood
    mu, logvar = net.encode(x, y)
    eps = torch.randn_like(mu)
    std = (0.5 * logvar).exp() if sigma == "half" else logvar.exp()
    z = mu + std * eps if noise and not (net.deterministic and respect_deterministic) else mu
    logits = net.decode(z, y)
    recon = likelihood.bernoulli_nll(logits, x)
    if pixels == "mean":
        recon = recon / x[0].numel()
    kl = likelihood.kl_normal(mu, logvar)
    per = recon + kl_sign * beta * kl if beta_on == "kl" else beta * recon + kl
    if beta_on == "none":
        per = recon + kl_sign * kl
    return (per.mean() if batch == "mean" else per.sum()), recon, kl


def check_negative_elbo(fn: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> bool:
    """Check ``fn(net, x, y=None, beta=1.0) -> (loss, recon (B,), kl (B,))``: values with the same random draw,
    the gradients (reparameterisation), beta, the autoencoder (``net.deterministic``) and a conditional VAE."""
    from ..nets import vae
    ExerciseError, ok, _ = _errors()
    what = "negative_elbo"
    with _fork():
        torch.manual_seed(0)
        nets = {"VAE": vae.VAE(latent_dim=3, in_shape=(1, 4, 4), hidden=8),
                "conditional VAE": vae.VAE(latent_dim=3, in_shape=(1, 4, 4), hidden=8, num_classes=3),
                "autoencoder (net.deterministic)": vae.VAE(latent_dim=3, in_shape=(1, 4, 4), hidden=8, deterministic=True)}
        x = torch.bernoulli(torch.full((6, 1, 4, 4), 0.4), generator=_gen(1))
        y = torch.arange(6) % 3
        cases = [("VAE", None, 1.0), ("VAE", None, 2.5), ("conditional VAE", y, 1.0),
                 ("autoencoder (net.deterministic)", None, 0.0)]
        for name, yy, beta in cases:
            net = nets[name]
            label = f"{what} on a {name}, beta={beta:g}"
            torch.manual_seed(3)
            out = _call(fn, net, x, yy, beta, what=label)
            if not isinstance(out, (tuple, list)) or len(out) != 3:
                raise ExerciseError(f"{what} should return (loss, recon, kl): the mean loss and the per-image terms")
            torch.manual_seed(3)
            ref = reference_negative_elbo(net, x, yy, beta)

            def variant(net=net, yy=yy, beta=beta, **kw):
                torch.manual_seed(3)
                with torch.no_grad():
                    return _elbo_variant(net, x, yy, beta, **kw)

            loss, recon, kl = out
            _expect(kl, ref[2], f"{label}: kl", [
                ("off by a factor 2: did you forget the 1/2?", 2 * ref[2]),
                ("averaged over the latent dimensions: the KL sums them", ref[2] / 3),
            ], hint="the closed-form KL per image (B,): likelihood.kl_normal(mu, logvar) or your my_kl")
            if name.startswith("autoencoder"):
                sampling = [("net.deterministic is True (the autoencoder): use z = mu, no sampling",
                             variant(respect_deterministic=False)[1])]
            else:
                sampling = [("z drawn with sigma = exp(logvar): the standard deviation is exp(logvar / 2)",
                             variant(sigma="full")[1]),
                            (("z = mu: the VAE samples z = mu + sigma * eps, eps ~ N(0, I) (z = mu only when "
                              "net.deterministic)"), variant(noise=False)[1])]
            _expect(recon, ref[1], f"{label}: recon", sampling + [
                ("averaged over the pixels: -log p(x | z) sums the D pixels", ref[1] / x[0].numel()),
            ], hint="z = mu + exp(0.5 logvar) * torch.randn_like(mu); recon = likelihood.bernoulli_nll(net.decode(z, y), x)"
                    + ("; pass y to net.encode and net.decode" if yy is not None else "")
                    + ("; net.deterministic: z = mu" if name.startswith("autoencoder") else ""), rtol=1e-4)
            _expect(loss, ref[0], f"{label}: loss", [
                ("beta is ignored: loss = recon + beta * KL", variant(beta_on="none")[0]),
                ("beta multiplies the reconstruction: it weights the KL", variant(beta_on="recon")[0]),
                ("KL sign flipped: the negative ELBO ADDS the KL to the reconstruction", variant(kl_sign=-1.0)[0]),
                ("summed over the batch: return the mean over the batch", variant(batch="sum")[0]),
            ], hint="loss = (recon + beta * kl).mean()", rtol=1e-4)
            if name == "VAE" and beta == 1.0:
                params = list(net.encoder.parameters())
                g_out = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=False) if loss.requires_grad else None
                g_ref = torch.autograd.grad(ref[0], params)
                if g_out is None or any(a is None or not torch.allclose(a, b, rtol=1e-4, atol=1e-6)
                                        for a, b in zip(g_out, g_ref)):
                    raise ExerciseError(f"{what}: the right value but not the right gradient for the encoder: sample "
                                        "z = mu + exp(0.5 logvar) * eps so that gradients flow through mu and logvar "
                                        "(reparameterisation); no detach, no torch.normal, no torch.no_grad")
    return ok(f"{what} (values, gradients, beta, conditional, autoencoder)")


def check_iwae(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(log_px_z, log_pz, log_qz) -> (B,)``, each input (B, K), against ``log mean_k exp(log w)``."""
    from .. import likelihood
    _, ok, _ = _errors()
    what = "IWAE estimate of log p(x)"
    g = _gen(0)
    log_px_z = -800 + 3 * torch.randn(4, 20, generator=g, dtype=torch.float64)   # exp underflows even in float64
    log_pz = -3 + torch.randn(4, 20, generator=g, dtype=torch.float64)
    log_qz = -2 + torch.randn(4, 20, generator=g, dtype=torch.float64)
    out = _call(fn, log_px_z, log_pz, log_qz, what=what)
    _finite(out, what, "the weights are about e^-800 and exp underflows to 0: use torch.logsumexp(log_w, dim=1) - log K")
    lw = log_px_z + log_pz - log_qz
    ref = likelihood.log_mean_exp(lw, 1)
    _expect(out, ref, what, [
        ("that is the log of the SUM of the weights: subtract log K to average them", torch.logsumexp(lw, 1)),
        ("that is the mean of log w (the ELBO): the IWAE bound is the log of the MEAN of w", lw.mean(1)),
        ("sign of log q flipped: log w = log p(x|z) + log p(z) - log q(z|x)",
         likelihood.log_mean_exp(log_px_z + log_pz + log_qz, 1)),
    ], hint="log w = log p(x|z) + log p(z) - log q(z|x); torch.logsumexp(log_w, dim=1) - log K", rtol=1e-6, atol=1e-6)
    return ok(what)


# --------------------------------------------------------------------------------------
# 05 GAN: the optimal discriminator, one training step, counting modes
# --------------------------------------------------------------------------------------
def check_optimal_d(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> bool:
    """Check ``fn(log_p_data, log_p_g) -> D*(x)``, also far in the tails where both densities underflow."""
    from torch import distributions as dist
    _, ok, _ = _errors()
    what = "optimal_d"
    grid = torch.linspace(-40.0, 40.0, 801, dtype=torch.float64)
    lp_data = dist.Normal(4.0, 0.5).log_prob(grid)
    lp_g = dist.Normal(2.5, 1.0).log_prob(grid)
    out = _call(fn, lp_data, lp_g, what=what)
    _finite(out, what, "far from both means exp(log p) underflows to 0 and 0 / 0 = NaN: compute D* from the "
            "log-densities, D* = sigmoid(log p_data - log p_g)")
    ref = torch.sigmoid(lp_data - lp_g)
    _expect(out, ref, what, [
        ("swapped: D*(x) is the probability that x is REAL, p_data / (p_data + p_g)", 1 - ref),
        ("that is the logit log p_data - log p_g: D* is its sigmoid", lp_data - lp_g),
    ], hint="D* = p_data / (p_data + p_g) = 1 / (1 + exp(log p_g - log p_data))", rtol=1e-6, atol=1e-9)
    return ok(what)


def reference_gan_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                       x_real: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One D step then one G step of the non-saturating GAN (Goodfellow et al. 2014, Algorithm 1).

    (1) D: minimise ``-[log D(x) + log(1 - D(G(z)))]`` (``losses.minimax_d_loss``, ``x_fake`` detached);
    (2) G: minimise ``-log D(G(z))`` (``losses.nonsaturating_g_loss``) with the updated D.

    Returns:
        ``(loss_d, loss_g)`` detached scalars.
    """
    return _gan_step(G, D, opt_g, opt_d, x_real, z)


def _gan_step(G, D, opt_g, opt_d, x_real, z, saturating=False, zero_grad=True, swap=False, g_first=False):
    from .. import losses
    if len(x_real) != len(z):
        raise ValueError(f"x_real and z must have the same batch size, got {len(x_real)} and {len(z)}")
    x_fake = G(z)

    def d_step():
        real, fake = D(x_real), D(x_fake.detach())
        loss = losses.minimax_d_loss(fake, real) if swap else losses.minimax_d_loss(real, fake)
        if zero_grad:
            opt_d.zero_grad()
        loss.backward()
        opt_d.step()
        return loss

    def g_step(logits):
        loss = (losses.minimax_g_loss if saturating else losses.nonsaturating_g_loss)(logits)
        if zero_grad:
            opt_g.zero_grad()
        loss.backward()
        opt_g.step()
        return loss

    if g_first:
        loss_g = g_step(D(x_fake))
        x_fake = G(z)
        loss_d = d_step()
    else:
        loss_d = d_step()
        loss_g = g_step(D(x_fake))
    return loss_d.detach(), loss_g.detach()


def check_gan_step(fn: Callable[..., Any]) -> bool:
    """Check ``fn(G, D, opt_g, opt_d, x_real, z) -> (loss_d, loss_g)``: three steps on copies of small 1-D
    networks must move G and D exactly as the course's step does."""
    from ..nets import mlp
    ExerciseError, ok, _ = _errors()
    what = "gan_step"
    with _fork():
        torch.manual_seed(0)
        G0, D0 = mlp.generator(1, 1, (8,)), mlp.discriminator(1, (8,))
    g = _gen(1)
    batches = [(4 + 0.5 * torch.randn(16, 1, generator=g), torch.randn(16, 1, generator=g)) for _ in range(3)]

    def run(step, **kw):
        G, D = copy.deepcopy(G0), copy.deepcopy(D0)
        opt_g = torch.optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
        outs = [step(G, D, opt_g, opt_d, x, z, **kw) for x, z in batches]
        flat = lambda m: torch.cat([p.detach().flatten() for p in m.parameters()])
        return flat(G), flat(D), outs[0]

    with _fork():
        g_out, d_out, first = run(lambda *a: _call(fn, *a, what=what))
        g_ref, d_ref, first_ref = run(_gan_step)
        g_init = torch.cat([p.detach().flatten() for p in G0.parameters()])
        d_init = torch.cat([p.detach().flatten() for p in D0.parameters()])
        if torch.equal(d_out, d_init):
            raise ExerciseError(f"{what}: D did not change: loss_d.backward() then opt_d.step()")
        if torch.equal(g_out, g_init):
            raise ExerciseError(f"{what}: G did not change: G's loss must reach G through D(G(z)) (no detach in the "
                                "G step), then opt_g.step()")
        both = torch.cat([g_out, d_out])
        mistakes = [
            (("G moved as under the saturating loss log(1 - D(G(z))): use the non-saturating -log D(G(z)) "
              "(losses.nonsaturating_g_loss)"), {"saturating": True}),
            ("gradients accumulate across steps: call opt.zero_grad() before each backward", {"zero_grad": False}),
            (("D's update runs the wrong way: real samples are labelled 1, fakes 0 "
              "(losses.minimax_d_loss(D(x_real), D(x_fake)))"), {"swap": True}),
            ("G was updated before D: step (1) updates D, step (2) G", {"g_first": True}),
        ]
        if not _close(both, torch.cat([g_ref, d_ref]), rtol=1e-4, atol=1e-6):
            for symptom, kw in mistakes:
                gv, dv, _ = run(_gan_step, **kw)
                if _close(both, torch.cat([gv, dv]), rtol=1e-4, atol=1e-6):
                    raise ExerciseError(f"{what}: {symptom}")
            if not _close(d_out, d_ref, rtol=1e-4, atol=1e-6):
                raise ExerciseError(f"{what}: D's parameters differ from the course's after 3 steps: D step = "
                                    "minimax_d_loss(D(x_real), D(x_fake.detach())), zero_grad, backward, step")
            raise ExerciseError(f"{what}: G's parameters differ from the course's after 3 steps: G step = "
                                "nonsaturating_g_loss(D(x_fake)) with the updated D, zero_grad, backward, step")
    if not isinstance(first, (tuple, list)) or len(first) != 2:
        raise ExerciseError(f"{what} should return (loss_d, loss_g)")
    _expect(first[0], first_ref[0], f"{what}: returned loss_d", [], hint="return the D loss of the step", rtol=1e-4)
    _expect(first[1], first_ref[1], f"{what}: returned loss_g", [], hint="return the G loss of the step", rtol=1e-4)
    return ok(f"{what} (G and D after 3 steps match the course's step)")


def _count_modes_variant(samples, modes, std, n_std=3.0, min_fraction=0.1, quality=True, nearest=True):
    dist = torch.cdist(samples.double(), modes.double())
    k = len(modes)
    thr = max(1.0, min_fraction * len(samples) / k) if min_fraction else 1.0
    if nearest:
        dmin, idx = dist.min(1)
        keep = dmin < n_std * std if quality else torch.ones_like(dmin, dtype=torch.bool)
        counts = torch.bincount(idx[keep], minlength=k)
    else:
        counts = (dist < n_std * std).sum(0)
    return int((counts >= thr).sum())


def check_count_modes(fn: Callable[[torch.Tensor, torch.Tensor, float], int]) -> bool:
    """Check ``fn(samples (N, 2), modes (K, 2), std) -> int`` on sample sets built to expose each usual mistake."""
    from .. import data, metrics
    ExerciseError, ok, _ = _errors()
    what = "count_modes"
    modes, std = data.mixture_modes().double(), 0.05
    g = _gen(0)

    def around(i, n, radius):                                # n points at `radius` (in std) from mode i
        angle = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
        return modes[i] + radius * std * torch.stack([angle.cos(), angle.sin()], 1)

    sets = {
        "radius": torch.cat([around(0, 300, 0.5), around(1, 300, 2.0), around(2, 200, 0.5)]),
        "share": torch.cat([around(0, 700, 0.5), around(1, 50, 0.5), around(2, 8, 0.5), around(3, 42, 0.5)]),
        "quality": torch.cat([around(0, 400, 0.5), around(4, 300, 5.0), 0.2 * torch.randn(100, 2, generator=g,
                                                                                            dtype=torch.float64)]),
    }
    variants = [
        ("counted only the samples within 1 std: a sample is high quality within 3 * std of its centre",
         {"n_std": 1.0}),
        ("a mode needs only 10% of its expected share: at least 0.1 * N / K samples, not N / K", {"min_fraction": 1.0}),
        ("a mode with a few stray samples is not covered: it needs at least 0.1 * N / K of them",
         {"min_fraction": 0.0}),
        ("samples far from every centre are not high quality: keep only those within 3 * std of their NEAREST centre",
         {"quality": False}),
    ]
    got = {}
    for name, s in sets.items():
        out = _call(fn, s.float(), modes.float(), std, what=what)
        try:
            got[name] = int(out)
        except (TypeError, ValueError):
            raise ExerciseError(f"{what} should return an int (the number of covered modes), got {type(out).__name__}") from None
    want = {name: metrics.mode_coverage(s, modes, std=std)["modes_covered"] for name, s in sets.items()}
    if got != want:
        for symptom, kw in variants:
            if all(got[n] == _count_modes_variant(s, modes, std, **kw) for n, s in sets.items()):
                raise ExerciseError(f"{what}: {symptom}")
        name = next(n for n in sets if got[n] != want[n])
        raise ExerciseError(f"{what} gives {got[name]} covered modes on a sample set where the answer is {want[name]}. "
                            "Hint: torch.cdist then .min(1); keep dmin < 3 * std; torch.bincount(..., minlength=K); "
                            "count the modes with at least max(1, 0.1 * N / K) samples")
    return ok(what)
