"""Sparse coding: the objective, ISTA/FISTA inference, dictionary learning, Gabor fits of atoms.

Conventions (those of scikit-learn): a *dictionary* ``phi`` is a (K, D) tensor whose rows are
the K atoms (basis functions) phi_k of dimension D; *codes* ``a`` are (N, K); a batch of
signals ``x`` is (N, D) and is reconstructed as ``a @ phi`` (x_n ~ sum_k a_nk phi_k).

The objective of Olshausen & Field (1996), in the form used throughout::

    E(a, phi) = sum_n ||x_n - a_n phi||^2  +  lam * sum_n ||a_n||_1
                \\_____ reconstruction ____/     \\____ sparsity ____/

Relation to scikit-learn (mind the scalings):

* ``sklearn.linear_model.Lasso(alpha)`` minimises ``1/(2 n) ||y - X w||^2 + alpha ||w||_1`` with
  ``n = D`` rows, so one code of ``E`` is ``Lasso(alpha=lam / (2 D)).fit(phi.T, x_n)``.
* ``SparseCoder(transform_alpha)`` and ``MiniBatchDictionaryLearning(alpha)`` minimise
  ``1/2 ||x - a phi||^2 + alpha ||a||_1`` per sample, i.e. ``alpha = lam / 2``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
import torch

from . import checks, env, viz


# --------------------------------------------------------------------------------------
# Objective
# --------------------------------------------------------------------------------------
def _check_problem(x: torch.Tensor, dictionary: torch.Tensor, lam: float) -> None:
    checks.ndim(x, "x", 2, "(N, D)")
    checks.ndim(dictionary, "dictionary", 2, "(K, D)")
    checks.floating(x, "x")
    if x.shape[1] != dictionary.shape[1]:
        raise ValueError(f"x has D={x.shape[1]} features but the dictionary atoms have D={dictionary.shape[1]} "
                         f"(dictionary must be (K, D) with one atom per row)")
    if not (isinstance(lam, (int, float)) and lam >= 0):
        raise ValueError(f"lam must be a number >= 0, got {lam!r}")


def objective(x: torch.Tensor, dictionary: torch.Tensor, codes: torch.Tensor, lam: float,
              reduction: str = "sum") -> dict[str, torch.Tensor]:
    """The sparse-coding energy split into its two terms.

    Args:
        x: signals (N, D).
        dictionary: atoms as rows (K, D).
        codes: coefficients (N, K).
        lam: sparsity weight lambda >= 0.
        reduction: ``"sum"`` over the batch (the paper's E) or ``"mean"`` per signal.

    Returns:
        ``{"reconstruction": sum ||x - a phi||^2, "sparsity": lam * sum |a|, "total": both}``
        (0-d tensors).

    Reference:
        Olshausen & Field 1996, Nature 381, Eq. (2)-(4).
    """
    _check_problem(x, dictionary, lam)
    checks.ndim(codes, "codes", 2, "(N, K)")
    if codes.shape != (x.shape[0], dictionary.shape[0]):
        raise ValueError(f"codes must have shape (N, K) = {(x.shape[0], dictionary.shape[0])}, "
                         f"got {tuple(codes.shape)}")
    checks.one_of(reduction, "reduction", ("sum", "mean"))
    rec = ((x - codes @ dictionary) ** 2).sum()
    spa = lam * codes.abs().sum()
    if reduction == "mean":
        rec, spa = rec / x.shape[0], spa / x.shape[0]
    return {"reconstruction": rec, "sparsity": spa, "total": rec + spa}


def soft_threshold(z: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """The proximal operator of ``t * |.|_1``: ``sign(z) * max(|z| - t, 0)``.

    Args:
        z: any tensor.
        t: threshold >= 0 (scalar or broadcastable tensor).

    Reference:
        Daubechies, Defrise & De Mol 2004, Eq. (1.5) (the shrinkage S_w).
    """
    checks.tensor(z, "z")
    return torch.sign(z) * torch.clamp(z.abs() - t, min=0)


def lipschitz(dictionary: torch.Tensor) -> float:
    """Lipschitz constant of the gradient of ``||x - a phi||^2`` in ``a``: ``2 * sigma_max(phi)^2``.

    Args:
        dictionary: (K, D).

    Reference:
        Beck & Teboulle 2009, Sec. 2 (L(f) = 2 lambda_max(A^T A) for the least-squares f).
    """
    checks.ndim(dictionary, "dictionary", 2, "(K, D)")
    return 2.0 * float(torch.linalg.matrix_norm(dictionary.double(), ord=2)) ** 2


# --------------------------------------------------------------------------------------
# Inference: ISTA and FISTA
# --------------------------------------------------------------------------------------
def _prox_grad_setup(x, dictionary, lam, codes0, prior, prior_weight):
    _check_problem(x, dictionary, lam)
    n, k = x.shape[0], dictionary.shape[0]
    if prior_weight < 0:
        raise ValueError(f"prior_weight must be >= 0, got {prior_weight}")
    if prior is not None and prior.shape != (n, k):
        raise ValueError(f"prior must have shape (N, K) = {(n, k)}, got {tuple(prior.shape)}")
    gram = dictionary @ dictionary.T                      # (K, K)
    xphi = x @ dictionary.T                               # (N, K)
    lip = lipschitz(dictionary) + 2.0 * prior_weight
    a = torch.zeros(n, k, dtype=x.dtype, device=x.device) if codes0 is None else codes0.clone()
    if prior is not None and codes0 is None:
        a = prior.clone()

    def grad(c: torch.Tensor) -> torch.Tensor:
        # d/da ||x - a phi||^2 = -2 (x - a phi) phi^T = 2 (a G - x phi^T)
        g = 2.0 * (c @ gram - xphi)
        if prior is not None and prior_weight > 0:
            g = g + 2.0 * prior_weight * (c - prior)      # PSD's prediction term
        return g

    return a, grad, lip


def _energy(x, dictionary, a, lam, prior, prior_weight) -> float:
    e = objective(x, dictionary, a, lam)["total"]
    if prior is not None and prior_weight > 0:
        e = e + prior_weight * ((a - prior) ** 2).sum()
    return float(e)


def ista(x: torch.Tensor, dictionary: torch.Tensor, lam: float, num_iters: int = 200, tol: float = 0.0,
         codes0: torch.Tensor | None = None, prior: torch.Tensor | None = None, prior_weight: float = 0.0,
         return_history: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[float]]:
    """Sparse codes by ISTA (iterative shrinkage-thresholding), a proximal gradient method.

    ``a <- S_{lam/L}(a - grad/L)`` with ``grad = 2 (a phi - x) phi^T`` and ``L = 2 sigma_max(phi)^2``.

    Args:
        x: signals (N, D).
        dictionary: atoms as rows (K, D).
        lam: sparsity weight lambda >= 0 of ``||x - a phi||^2 + lam |a|_1``.
        num_iters: maximum iterations.
        tol: stop when ``max |a_new - a| <= tol`` (0: run all iterations).
        codes0: warm start (N, K); default zeros (or ``prior``).
        prior: optional (N, K) codes predicted by an encoder; adds ``prior_weight * ||a - prior||^2``
            (the inference step of predictive sparse decomposition).
        prior_weight: weight of that term (alpha in Kavukcuoglu et al. 2008).
        return_history: also return the energy after every iteration.

    Returns:
        Codes (N, K), or ``(codes, history)``.

    Reference:
        Daubechies, Defrise & De Mol 2004, Eq. (3.7); Beck & Teboulle 2009, Eq. (1.4).
    """
    checks.positive_int(num_iters, "num_iters")
    a, grad, lip = _prox_grad_setup(x, dictionary, lam, codes0, prior, prior_weight)
    history: list[float] = []
    for _ in range(num_iters):
        a_new = soft_threshold(a - grad(a) / lip, lam / lip)
        done = tol > 0 and float((a_new - a).abs().max()) <= tol
        a = a_new
        if return_history:
            history.append(_energy(x, dictionary, a, lam, prior, prior_weight))
        if done:
            break
    return (a, history) if return_history else a


def fista(x: torch.Tensor, dictionary: torch.Tensor, lam: float, num_iters: int = 200, tol: float = 0.0,
          codes0: torch.Tensor | None = None, prior: torch.Tensor | None = None, prior_weight: float = 0.0,
          return_history: bool = False) -> torch.Tensor | tuple[torch.Tensor, list[float]]:
    """Sparse codes by FISTA: ISTA plus Nesterov momentum, O(1/t^2) instead of O(1/t).

    ``a_k = S_{lam/L}(y_k - grad(y_k)/L)``, ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``,
    ``y_{k+1} = a_k + (t_k - 1)/t_{k+1} (a_k - a_{k-1})``.

    Args and Returns: as :func:`ista`.

    Reference:
        Beck & Teboulle 2009, SIAM J. Imaging Sciences 2(1), FISTA with constant step, Eq. (4.1)-(4.3).
    """
    checks.positive_int(num_iters, "num_iters")
    a, grad, lip = _prox_grad_setup(x, dictionary, lam, codes0, prior, prior_weight)
    y, t = a.clone(), 1.0
    history: list[float] = []
    for _ in range(num_iters):
        a_new = soft_threshold(y - grad(y) / lip, lam / lip)            # Eq. (4.1)
        t_new = (1.0 + math.sqrt(1.0 + 4.0 * t * t)) / 2.0              # Eq. (4.2)
        y = a_new + ((t - 1.0) / t_new) * (a_new - a)                   # Eq. (4.3)
        done = tol > 0 and float((a_new - a).abs().max()) <= tol
        a, t = a_new, t_new
        if return_history:
            history.append(_energy(x, dictionary, a, lam, prior, prior_weight))
        if done:
            break
    return (a, history) if return_history else a


# --------------------------------------------------------------------------------------
# Dictionary learning
# --------------------------------------------------------------------------------------
def normalize_atoms(dictionary: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Rescale every atom (row) to unit Euclidean norm (removes the a -> 0, phi -> inf degeneracy)."""
    checks.ndim(dictionary, "dictionary", 2, "(K, D)")
    return dictionary / dictionary.norm(dim=1, keepdim=True).clamp_min(eps)


def update_dictionary(x: torch.Tensor, codes: torch.Tensor, dictionary: torch.Tensor, method: str = "lstsq",
                      ridge: float = 1e-6, lr: float | None = None, num_steps: int = 1) -> torch.Tensor:
    """One dictionary update with the codes fixed; atoms come back with unit norm.

    * ``"lstsq"`` (method of optimal directions): ``phi = argmin ||x - a phi||^2 = (a^T a + ridge I)^-1 a^T x``,
      then every row is renormalised; atoms no code uses keep their old value.
    * ``"pgd"`` (projected gradient, as Olshausen & Field's learning rule plus the norm constraint):
      ``phi <- P(phi + lr * 2 a^T (x - a phi))`` with ``P`` the projection onto unit-norm rows.

    Args:
        x: signals (N, D).
        codes: fixed codes (N, K).
        dictionary: current atoms (K, D) (start of the gradient steps; fallback for unused atoms).
        method: ``"lstsq"`` or ``"pgd"``.
        ridge: Tikhonov term added to ``a^T a`` (relative to its mean diagonal).
        lr: gradient step; default ``1 / L`` with ``L = 2 sigma_max(a)^2``.
        num_steps: gradient steps for ``"pgd"``.

    Returns:
        The new dictionary (K, D) with unit-norm rows.

    Reference:
        Engan, Aase & Husoy 1999 (MOD); Olshausen & Field 1996, Eq. (5) (gradient rule).
    """
    _check_problem(x, dictionary, 0.0)
    checks.ndim(codes, "codes", 2, "(N, K)")
    if codes.shape != (x.shape[0], dictionary.shape[0]):
        raise ValueError(f"codes must have shape (N, K) = {(x.shape[0], dictionary.shape[0])}, "
                         f"got {tuple(codes.shape)}")
    checks.one_of(method, "method", ("lstsq", "pgd"))
    ata = codes.T @ codes                                    # (K, K)
    atx = codes.T @ x                                        # (K, D)
    used = ata.diagonal() > 1e-10
    if method == "lstsq":
        scale = float(ata.diagonal().mean().clamp_min(1e-12))
        eye = torch.eye(ata.shape[0], dtype=ata.dtype, device=ata.device)
        new = torch.linalg.solve(ata + ridge * scale * eye, atx)
    else:
        checks.positive_int(num_steps, "num_steps")
        step = lr if lr is not None else 1.0 / max(2.0 * float(torch.linalg.matrix_norm(ata, ord=2)), 1e-12)
        new = dictionary.clone()
        for _ in range(num_steps):
            new = normalize_atoms(new - step * 2.0 * (ata @ new - atx))
    new = torch.where(used[:, None], new, dictionary)
    return normalize_atoms(new)


def learn_dictionary(x: torch.Tensor, n_atoms: int, lam: float, num_steps: int, batch_size: int | None = None,
                     method: str = "lstsq", inner_iters: int = 50, forget: float = 0.9, seed: int = 0,
                     dictionary0: torch.Tensor | None = None, progress: bool = True,
                     callback: Callable[[int, torch.Tensor], None] | None = None,
                     ) -> tuple[torch.Tensor, dict[str, list[float]]]:
    """Alternating minimisation of the sparse-coding energy over codes and atoms.

    Each step: (1) fix the atoms, infer codes of a mini-batch with :func:`fista`;
    (2) fix the codes, update the atoms with :func:`update_dictionary` (unit-norm rows).
    With ``batch_size=None`` every step uses all signals (warm-started codes); with a mini-batch
    the least-squares statistics ``a^T a`` and ``a^T x`` are averaged over past batches with
    decay ``forget`` (an online version in the spirit of Mairal et al. 2009).

    Args:
        x: training signals (N, D), e.g. whitened image patches.
        n_atoms: K.
        lam: sparsity weight of ``||x - a phi||^2 + lam |a|_1``.
        num_steps: alternation steps.
        batch_size: signals per step (None: all).
        method: dictionary update, ``"lstsq"`` or ``"pgd"``.
        inner_iters: FISTA iterations per step.
        forget: decay of the accumulated statistics in mini-batch mode (0: only the current batch).
        seed: seed of the initial atoms (random signals) and of the batches.
        dictionary0: initial atoms (K, D) instead of random signals.
        progress: show a progress bar.
        callback: ``callback(step, dictionary)`` after every step.

    Returns:
        ``(dictionary (K, D), history)`` with per-step ``reconstruction``, ``sparsity`` (per signal,
        on the batch) and ``nonzero`` (mean fraction of non-zero coefficients).

    Reference:
        Olshausen & Field 1996 (alternating inference and learning); Mairal, Bach, Ponce & Sapiro 2009,
        Algorithm 1 (online statistics).
    """
    _check_problem(x, x[:1].new_zeros(1, x.shape[1]), lam)
    checks.positive_int(n_atoms, "n_atoms")
    checks.positive_int(num_steps, "num_steps")
    checks.positive_int(inner_iters, "inner_iters")
    checks.one_of(method, "method", ("lstsq", "pgd"))
    if not 0.0 <= forget < 1.0:
        raise ValueError(f"forget must be in [0, 1), got {forget}")
    n = x.shape[0]
    g = torch.Generator().manual_seed(seed)
    if dictionary0 is None:
        init = x[torch.randperm(n, generator=g)[:n_atoms]]
        if init.shape[0] < n_atoms:
            init = torch.cat([init, torch.randn(n_atoms - init.shape[0], x.shape[1], generator=g).to(x)])
        phi = normalize_atoms(init + 1e-3 * torch.randn(init.shape, generator=g).to(x))
    else:
        if dictionary0.shape != (n_atoms, x.shape[1]):
            raise ValueError(f"dictionary0 must have shape (n_atoms, D) = {(n_atoms, x.shape[1])}, "
                             f"got {tuple(dictionary0.shape)}")
        phi = normalize_atoms(dictionary0.to(x).clone())
    history: dict[str, list[float]] = {"reconstruction": [], "sparsity": [], "nonzero": []}
    codes_all = None
    ata = atx = None
    steps = range(env.capped(num_steps))       # the device check's COURSE_MAX_STEPS (normally no cap)
    if progress:
        from .train import progress as bar

        steps = bar(steps, desc="dictionary learning")
    for step in steps:
        if batch_size is None:                                            # full batch, warm start
            xb = x
            codes_all = fista(x, phi, lam, inner_iters, codes0=codes_all)
            a = codes_all
            phi = update_dictionary(x, a, phi, method=method)
        else:
            idx = torch.randint(n, (min(batch_size, n),), generator=g)
            xb = x[idx]
            a = fista(xb, phi, lam, inner_iters)
            b_ata, b_atx = a.T @ a / len(idx), a.T @ xb / len(idx)
            ata = b_ata if ata is None else forget * ata + (1 - forget) * b_ata
            atx = b_atx if atx is None else forget * atx + (1 - forget) * b_atx
            phi = _update_from_stats(ata, atx, phi, method)
        e = objective(xb, phi, a, lam, reduction="mean")
        history["reconstruction"].append(float(e["reconstruction"]))
        history["sparsity"].append(float(e["sparsity"]))
        history["nonzero"].append(float((a != 0).float().mean()))
        if callback is not None:
            callback(step + 1, phi)
    return phi, history


def _update_from_stats(ata: torch.Tensor, atx: torch.Tensor, phi: torch.Tensor, method: str) -> torch.Tensor:
    """Dictionary update from averaged statistics (a^T a, a^T x); as :func:`update_dictionary`."""
    used = ata.diagonal() > 1e-10
    if method == "lstsq":
        scale = float(ata.diagonal().mean().clamp_min(1e-12))
        eye = torch.eye(ata.shape[0], dtype=ata.dtype, device=ata.device)
        new = torch.linalg.solve(ata + 1e-6 * scale * eye, atx)
    else:
        step = 1.0 / max(2.0 * float(torch.linalg.matrix_norm(ata, ord=2)), 1e-12)
        new = normalize_atoms(phi - step * 2.0 * (ata @ phi - atx))
    return normalize_atoms(torch.where(used[:, None], new, phi))


def top_atoms(code: torch.Tensor, k: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` atoms with the largest |coefficient| in one code.

    Args:
        code: (K,) coefficients of one signal.
        k: how many.

    Returns:
        ``(indices (k,), coefficients (k,))`` sorted by decreasing |coefficient|.
    """
    checks.ndim(code, "code", 1, "(K,)")
    checks.positive_int(k, "k")
    if k > code.shape[0]:
        raise ValueError(f"k={k} exceeds the number of atoms K={code.shape[0]}")
    idx = code.abs().argsort(descending=True)[:k]
    return idx, code[idx]


# --------------------------------------------------------------------------------------
# Gabor fits: are the atoms localised, oriented, band-pass "edge detectors"?
# --------------------------------------------------------------------------------------
GABOR_PARAMS = ("x0", "y0", "theta", "freq", "sigma_x", "sigma_y", "phase", "amplitude")


def gabor(size: int, x0: float, y0: float, theta: float, freq: float, sigma_x: float, sigma_y: float,
          phase: float = 0.0, amplitude: float = 1.0) -> np.ndarray:
    """A 2-D Gabor function sampled on a ``size x size`` pixel grid.

    ``g = A exp(-(u^2 / 2 sx^2 + v^2 / 2 sy^2)) cos(2 pi f u + phase)`` with
    ``u = (c - x0) cos(theta) + (r - y0) sin(theta)``, ``v = -(c - x0) sin(theta) + (r - y0) cos(theta)``
    (``c``/``r`` the column/row index): a plane wave of frequency ``freq`` (cycles/pixel) across
    orientation ``theta`` under a Gaussian envelope centred at ``(x0, y0)``.

    Returns:
        (size, size) float64 array.

    Reference:
        Daugman 1985 (2-D Gabor model of simple cells); Jones & Palmer 1987.
    """
    checks.positive_int(size, "size")
    r, c = np.mgrid[0:size, 0:size].astype(np.float64)
    u = (c - x0) * np.cos(theta) + (r - y0) * np.sin(theta)
    v = -(c - x0) * np.sin(theta) + (r - y0) * np.cos(theta)
    env = np.exp(-(u ** 2 / (2 * sigma_x ** 2) + v ** 2 / (2 * sigma_y ** 2)))
    return amplitude * env * np.cos(2 * np.pi * freq * u + phase)


@functools.lru_cache(maxsize=4)
def _gabor_grid(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quadrature pairs (cos, sin carriers) over a parameter grid: returns (params (M, 6), C (M, P), S (M, P))."""
    step = 1.0 if size <= 12 else 2.0
    centres = np.arange(0.5, size - 0.5, step)
    thetas = np.linspace(0, np.pi, 12, endpoint=False)
    freqs = np.array([0.06, 0.1, 0.15, 0.22, 0.32, 0.45])
    sigmas = np.array([0.8, 1.3, 2.0, 3.0]) * size / 8.0
    aspects = np.array([1.0, 2.0])
    r, c = np.mgrid[0:size, 0:size].astype(np.float64)
    r, c = r.ravel(), c.ravel()
    params, cos_b, sin_b = [], [], []
    for th in thetas:
        ct, st = np.cos(th), np.sin(th)
        for y0 in centres:
            for x0 in centres:
                u = (c - x0) * ct + (r - y0) * st
                v = -(c - x0) * st + (r - y0) * ct
                for s in sigmas:
                    for asp in aspects:
                        sy = s * asp                           # longer along the edge
                        env = np.exp(-(u ** 2 / (2 * s ** 2) + v ** 2 / (2 * sy ** 2)))
                        for f in freqs:
                            if f * s < 0.12:                   # less than ~1/8 cycle under the envelope
                                continue
                            params.append((x0, y0, th, f, s, sy))
                            cos_b.append(env * np.cos(2 * np.pi * f * u))
                            sin_b.append(env * np.sin(2 * np.pi * f * u))
    return np.array(params), np.array(cos_b), np.array(sin_b)


def fit_gabor(atoms: torch.Tensor | np.ndarray, refine: bool = True) -> dict[str, np.ndarray]:
    """Fit a 2-D Gabor to every atom: grid search with linear phase/amplitude, then least-squares refinement.

    For every grid point (centre, orientation, frequency, envelope width and aspect) the best
    amplitude and phase follow linearly from the cos/sin quadrature pair; the best grid point
    starts ``scipy.optimize.least_squares`` over all 8 parameters.

    Args:
        atoms: (K, H, W) with H == W (or (K, 1, H, W)).
        refine: run the nonlinear refinement (else grid only).

    Returns:
        ``{"params": (K, 8) in the order of GABOR_PARAMS, "r2": (K,) coefficient of determination
        1 - SS_res / SS_tot (SS_tot about the atom's mean), "fit": (K, H, W)}``.

    Reference:
        Jones & Palmer 1987 (Gabor fits of simple-cell receptive fields); the fraction of well-fit
        atoms follows e.g. Rehn & Sommer 2007.
    """
    from scipy.optimize import least_squares

    a = atoms.detach().cpu().double().numpy() if isinstance(atoms, torch.Tensor) else np.asarray(atoms, float)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise ValueError(f"atoms must have shape (K, H, W) with H == W, got {a.shape}")
    k, size = a.shape[0], a.shape[1]
    flat = a.reshape(k, -1)
    grid, cb, sb = _gabor_grid(size)
    # best amplitude/phase per grid point: 2x2 least squares for every (atom, grid point)
    cc, ss, cs = (cb * cb).sum(1), (sb * sb).sum(1), (cb * sb).sum(1)       # (M,)
    det = np.maximum(cc * ss - cs ** 2, 1e-12)
    out_params = np.zeros((k, 8))
    out_r2 = np.zeros(k)
    out_fit = np.zeros_like(a)
    tot = ((flat - flat.mean(1, keepdims=True)) ** 2).sum(1)
    pc, ps = flat @ cb.T, flat @ sb.T                                          # (K, M)
    alpha = (ss * pc - cs * ps) / det
    beta = (cc * ps - cs * pc) / det
    explained = alpha * pc + beta * ps                                         # ||projection||^2
    best = explained.argmax(1)
    for i in range(k):
        j = best[i]
        x0, y0, th, f, sx, sy = grid[j]
        # alpha cos + beta sin = A cos(phi - phase) with A = |(alpha, beta)|, phase = -atan2(beta, alpha)
        amp, ph = float(np.hypot(alpha[i, j], beta[i, j])), float(-np.arctan2(beta[i, j], alpha[i, j]))
        p0 = np.array([x0, y0, th, f, sx, sy, ph, amp])
        if refine:
            def resid(p, target=a[i]):
                return (gabor(size, *p) - target).ravel()

            lo = [-1, -1, th - np.pi / 2, 0.01, 0.3, 0.3, -np.inf, -np.inf]
            hi = [size, size, th + np.pi / 2, 0.5, 2.0 * size, 2.0 * size, np.inf, np.inf]
            p0c = np.clip(p0, np.array(lo) + 1e-9, np.array(hi) - 1e-9)
            p = least_squares(resid, p0c, bounds=(lo, hi), max_nfev=200).x
        else:
            p = p0
        fit = gabor(size, *p)
        out_params[i], out_fit[i] = p, fit
        out_r2[i] = 1.0 - ((a[i] - fit) ** 2).sum() / max(tot[i], 1e-300)
    return {"params": out_params, "r2": out_r2, "fit": out_fit}


# --------------------------------------------------------------------------------------
# Pictures of atoms and codes
# --------------------------------------------------------------------------------------
def atom_images(dictionary: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Atoms as images for :func:`course_lib.viz.show_grid`: each scaled by its max |value|, 0 -> mid-gray.

    Args:
        dictionary: (K, D) atoms as rows.
        shape: image shape of one atom with D = prod(shape), e.g. ``(1, 10, 10)``.

    Returns:
        (K, *shape) float tensor in [0, 1].
    """
    checks.ndim(dictionary, "dictionary", 2, "(K, D)")
    if math.prod(shape) != dictionary.shape[1]:
        raise ValueError(f"shape {tuple(shape)} has {math.prod(shape)} values but atoms have D={dictionary.shape[1]}")
    d = dictionary.detach().float().cpu()
    d = d / d.abs().amax(1, keepdim=True).clamp_min(1e-12)
    return (0.5 + 0.5 * d).reshape(-1, *shape)


def stem_codes(codes: dict[str, torch.Tensor], title: str | None = None, top: int = 0):
    """Stem plot of one or more code vectors (K,) on shared axes; the ``top`` largest of the first are labelled.

    Args:
        codes: ``{"label": (K,) tensor}``, e.g. ``{"FISTA": a, "encoder": f}``.
        title: axes title.
        top: annotate the indices of this many largest |coefficients| of the first code.

    Returns:
        The figure (a :class:`course_lib.viz.Shown`, displayed once in Jupyter).
    """
    import matplotlib.pyplot as plt

    if not codes:
        raise ValueError("codes is empty: pass {'label': (K,) tensor}")
    fig, ax = plt.subplots(figsize=(7, 2.4))
    markers = ["o", "x", "s", "^"]
    for i, (label, c) in enumerate(codes.items()):
        checks.ndim(c, f"codes[{label!r}]", 1, "(K,)")
        v = c.detach().float().cpu().numpy()
        ml, sl, _ = ax.stem(np.arange(len(v)) + 0.25 * i, v, label=f"{label} ({int((v != 0).sum())} non-zero)",
                             markerfmt=f"C{i}{markers[i % 4]}", linefmt=f"C{i}-", basefmt="k-")
        plt.setp(sl, linewidth=0.8)
        plt.setp(ml, markersize=3)
        if i == 0 and top:
            for j in np.argsort(-np.abs(v))[:top]:
                ax.annotate(f"{j}", (j, v[j]), textcoords="offset points", xytext=(0, 4 if v[j] >= 0 else -10),
                            ha="center", fontsize=8)
    ax.set_xlabel("atom index k")
    ax.set_ylabel("coefficient a_k")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return viz.Shown(fig)


def plot_tradeoff(lams, nonzero, error, mark: float | None = None, title: str | None = None):
    """The lambda trade-off: mean non-zero coefficients vs relative reconstruction error.

    Args:
        lams: the lambda values (L,).
        nonzero: mean number of non-zero coefficients per signal (L,).
        error: relative squared reconstruction error ||x - a phi||^2 / ||x||^2 (L,).
        mark: a lambda to highlight (e.g. the one used for learning).

    Returns:
        The figure as a :class:`course_lib.viz.Shown` (left: both against lambda; right: error against sparsity).
    """
    import matplotlib.pyplot as plt

    lams, nonzero, error = (np.asarray(v, dtype=float) for v in (lams, nonzero, error))
    if not (lams.shape == nonzero.shape == error.shape) or lams.ndim != 1:
        raise ValueError(f"lams, nonzero and error must be 1-D of equal length, got {lams.shape}, "
                         f"{nonzero.shape}, {error.shape}")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 2.8))
    a1.semilogx(lams, error, "o-", color="C3", label="rel. reconstruction error")
    a1.set_xlabel("lambda")
    a1.set_ylabel("rel. error", color="C3")
    b1 = a1.twinx()
    b1.semilogx(lams, nonzero, "s-", color="C0")
    b1.set_ylabel("non-zeros per patch", color="C0")
    a2.plot(nonzero, error, "o-", color="k")
    for lam_, nz, er in zip(lams, nonzero, error):
        a2.annotate(f"{lam_:.2g}", (nz, er), textcoords="offset points", xytext=(3, 3), fontsize=7)
    if mark is not None:
        i = int(np.argmin(np.abs(np.log(lams) - np.log(mark))))
        a1.axvline(lams[i], color="gray", ls=":")
        a2.plot(nonzero[i], error[i], "o", color="C2", markersize=9, label=f"lambda = {lams[i]:.2g}")
        a2.legend(fontsize=8)
    a2.set_xlabel("non-zero coefficients per patch")
    a2.set_ylabel("rel. reconstruction error")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return viz.Shown(fig)
