"""Linear subspaces: PCA, reconstruction from k components, principal angles, ZCA whitening.

Data are (N, D) tensors, one example per row (flatten images with ``x.flatten(1)``).
PCA is the optimum of the *linear* autoencoder (Baldi & Hornik 1989), so these functions
are the yardstick of the autoencoder notebook and the pre-processing of the sparse-coding one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from . import checks


@dataclass
class PCA:
    """A fitted PCA: ``mean`` (D,), ``components`` (k, D) orthonormal rows sorted by variance,
    ``variances`` (k,) the eigenvalues of the covariance, ``total_variance`` (sum over all D)."""

    mean: torch.Tensor
    components: torch.Tensor
    variances: torch.Tensor
    total_variance: float

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (N, k) = (x - mean) U_k^T."""
        checks.ndim(x, "x", 2, "(N, D)")
        return (x - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Reconstructions (N, D) = mean + z U_k."""
        checks.ndim(z, "z", 2, "(N, k)")
        return self.mean + z @ self.components

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Projection of x onto the affine principal subspace, (N, D)."""
        return self.decode(self.encode(x))


def pca(x: torch.Tensor, k: int) -> PCA:
    """Principal component analysis by the SVD of the centred data.

    Args:
        x: data (N, D).
        k: number of components (1 <= k <= min(N, D)).

    Returns:
        A :class:`PCA` with the top-k principal directions.

    Reference:
        Pearson 1901; Hotelling 1933. Sign convention: the largest-|.| entry of each component is positive.
    """
    checks.ndim(x, "x", 2, "(N, D)")
    checks.floating(x, "x")
    checks.positive_int(k, "k")
    n, d = x.shape
    if k > min(n, d):
        raise ValueError(f"k={k} components need k <= min(N, D) = {min(n, d)}")
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    comps = vh[:k]
    sign = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * sign
    var = s ** 2 / max(n - 1, 1)
    return PCA(mean, comps, var[:k], float(var.sum()))


def orthonormal_basis(a: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (D, r) of the column space of ``a`` (D, r) (reduced QR)."""
    checks.ndim(a, "a", 2, "(D, r)")
    q, _ = torch.linalg.qr(a.double())
    return q


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of ``a`` and ``b``.

    ``cos(theta_i)`` are the singular values of ``Q_a^T Q_b`` with ``Q`` orthonormal bases.
    Uses the sine formulation for small angles (as ``scipy.linalg.subspace_angles``),
    which is accurate near 0 where ``arccos`` is not.

    Args:
        a: (D, p) spanning vectors as columns.
        b: (D, q) spanning vectors as columns.

    Returns:
        (min(p, q),) float64 angles in [0, pi/2], smallest first.

    Reference:
        Bjorck & Golub 1973, Numerical methods for computing angles between linear subspaces.
    """
    checks.ndim(a, "a", 2, "(D, p)")
    checks.ndim(b, "b", 2, "(D, q)")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"a and b must live in the same space: got D={a.shape[0]} and D={b.shape[0]} rows "
                         f"(pass spanning vectors as columns)")
    qa, qb = orthonormal_basis(a), orthonormal_basis(b)
    if qa.shape[1] < qb.shape[1]:
        qa, qb = qb, qa
    cos = torch.linalg.svdvals(qa.T @ qb).clamp(0, 1)                 # descending cosines
    # sines from the component of qb orthogonal to qa (accurate for small angles)
    resid = qb - qa @ (qa.T @ qb)
    sin = torch.linalg.svdvals(resid).clamp(0, 1)                       # descending sines
    sin = sin.flip(0)                                                   # ascending, pairs with cos
    angles = torch.where(cos ** 2 >= 0.5, torch.arcsin(sin), torch.arccos(cos))
    return angles.sort().values


def zca_whitening(x: torch.Tensor, eps: float = 1e-2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """ZCA whitening: decorrelate and equalise variances while staying close to the pixel basis.

    ``W = U diag(1 / sqrt(lambda + eps * mean(lambda))) U^T`` so that ``(x - mean) W`` has an
    approximately identity covariance; ``eps`` damps the smallest (noisiest) directions, like the
    low-pass roll-off of Olshausen & Field's whitening filter.

    Args:
        x: data (N, D), e.g. flattened image patches.
        eps: regulariser relative to the mean eigenvalue (> 0).

    Returns:
        ``(x_white (N, D), W (D, D) symmetric, mean (D,))``.

    Reference:
        Bell & Sejnowski 1997 (ZCA); Olshausen & Field 1996/1997 (whitened natural images).
    """
    checks.ndim(x, "x", 2, "(N, D)")
    checks.floating(x, "x")
    if eps <= 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / max(x.shape[0] - 1, 1)
    lam, u = torch.linalg.eigh(cov)
    lam = lam.clamp_min(0)
    w = u @ torch.diag(1.0 / torch.sqrt(lam + eps * lam.mean())) @ u.T
    return xc @ w, w, mean
