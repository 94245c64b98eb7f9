"""Evaluating generative models beyond one number: coverage, bias, preference and disentanglement.

Complements :mod:`course_lib.metrics` (FID, Inception score with named feature networks):

(precision/recall on k-NN manifolds and KID, used by notebooks 09 and 10, are in :mod:`course_lib.metrics`)

* :func:`extrapolate_to_infinity` -- FID's sample-size bias removed by fitting
  ``FID(N) = FID_inf + a / N`` (Chong & Forsyth 2020).
* :func:`c2st_accuracy` -- the classifier two-sample test (Lopez-Paz & Oquab 2017): held-out accuracy
  of a classifier separating two sets (0.5 = indistinguishable); :func:`preference_matrix` turns
  per-split distances into pairwise "model i beats model j" frequencies (relative comparison).
* :func:`log_mixture` -- log-likelihood of a mixture model (Theis et al. 2016: 1% good + 99% noise).
* :func:`bernoulli_kernel_log_likelihood` -- a kernel (Parzen) likelihood built from samples, for
  models that have none (a GAN); Theis et al. 2016, Sec. 3.4.
* :func:`discretize`, :func:`discrete_entropy`, :func:`discrete_mutual_info`, :func:`mig` -- the mutual
  information gap of a latent code w.r.t. known factors (Chen et al. 2018).

The controlled image corruptions of notebook 10 (noise, blur, quantisation, resizing) are ``images.degrade``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from . import checks

ArrayLike = checks.ArrayLike


# ----------------------------------------------------------------------------------------
# Sample-size bias: FID extrapolated to N -> infinity (KID is metrics.kid)
# ----------------------------------------------------------------------------------------
def extrapolate_to_infinity(ns: Sequence[int], values: Sequence[float]) -> tuple[float, float]:
    r"""Fit ``value(N) = v_inf + a / N`` by least squares and return ``(v_inf, a)``.

    FID is biased upward by a term that falls like 1/N (the covariance estimates' noise), so the
    intercept at 1/N = 0 is an estimate of the FID of infinitely many samples.

    Args:
        ns: sample sizes (at least two distinct).
        values: the metric at each size.

    Returns:
        ``(v_inf, a)``: intercept (the N -> infinity value) and slope in 1/N.

    Reference:
        Chong & Forsyth, "Effectively Unbiased FID and Inception Score and where to find them",
        CVPR 2020, arXiv:1911.07023, Sec. 3.
    """
    n, v = np.asarray(ns, np.float64), np.asarray(values, np.float64)
    if n.shape != v.shape or n.ndim != 1 or len(np.unique(n)) < 2:
        raise ValueError(f"need matching 1-D ns and values with at least two distinct sizes, got {n.shape}, {v.shape}")
    if (n <= 0).any():
        raise ValueError("sample sizes must be > 0")
    slope, intercept = np.polyfit(1.0 / n, v, 1)
    return float(intercept), float(slope)


# ----------------------------------------------------------------------------------------
# Relative comparison: two-sample tests and pairwise preference
# ----------------------------------------------------------------------------------------
def c2st_accuracy(feats_a: ArrayLike, feats_b: ArrayLike, seed: int = 0, test_fraction: float = 0.5) -> float:
    """Classifier two-sample test: held-out accuracy of logistic regression separating two sets.

    0.5 means the classifier cannot tell the sets apart (the generated set looks like the real one);
    1.0 means they are perfectly separable.

    Args:
        feats_a: (N, D), feats_b: (M, D) features (balanced sizes are best).
        seed: split and classifier seed.
        test_fraction: fraction of each set held out for the accuracy.

    Returns:
        Held-out accuracy in [0, 1].

    Reference:
        Lopez-Paz & Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017, arXiv:1610.06545.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    a, b = checks.feature_matrix(feats_a, "feats_a"), checks.feature_matrix(feats_b, "feats_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feats_a are {a.shape[1]}-D but feats_b are {b.shape[1]}-D")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    x = np.concatenate([a, b])
    y = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_fraction, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(x_tr)
    clf = LogisticRegression(max_iter=2000, C=1.0, random_state=seed).fit(scaler.transform(x_tr), y_tr)
    return float((clf.predict(scaler.transform(x_te)) == y_te).mean())


def preference_matrix(distances: Mapping[str, Sequence[float]]) -> tuple[list[str], np.ndarray]:
    """Pairwise preference: how often model i is closer to the data than model j.

    Each model has a distance to the real data measured on the same S independent splits
    (e.g. FID or two-sample-test accuracy on disjoint real/generated subsets). ``P[i, j]`` is
    the fraction of splits where model i's distance is smaller than model j's (ties count 1/2);
    a relative comparison that needs no absolute scale.

    Args:
        distances: ``{model name: S distances}``, lower is better, the same S for all models.

    Returns:
        ``(names, P)`` with P (K, K), ``P + P.T = 1`` off the diagonal and 0.5 on it.

    Reference:
        Relative model comparison by two-sample tests: Bounliphone et al., "A Test of Relative
        Similarity for Model Selection in Generative Models", ICLR 2016, arXiv:1511.04581.
    """
    names = list(distances)
    if len(names) < 2:
        raise ValueError("need at least two models to compare")
    d = np.asarray([np.asarray(distances[k], np.float64) for k in names])
    if d.ndim != 2 or d.shape[1] < 1:
        raise ValueError(f"every model needs the same number S >= 1 of split distances, got {[len(distances[k]) for k in names]}")
    p = (d[:, None, :] < d[None, :, :]).mean(2) + 0.5 * (d[:, None, :] == d[None, :, :]).mean(2)
    return names, p


# ----------------------------------------------------------------------------------------
# Likelihood of a mixture (Theis et al. 2016)
# ----------------------------------------------------------------------------------------
def log_mixture(log_probs: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    r"""log p(x) of the mixture ``sum_k w_k p_k(x)`` from the components' log-densities.

    $$\log \sum_k w_k p_k(x) \;\ge\; \log w_k + \log p_k(x)\ \ \text{for every } k$$
    so mixing a good model with weight 0.01 into noise costs at most ``log 100 = 4.61`` nats per
    example relative to the good model, whatever the dimension -- while 99% of samples are noise.

    Args:
        log_probs: K tensors of the same shape (N,), log p_k(x) in nats.
        weights: K positive mixture weights summing to 1.

    Returns:
        (N,) log-likelihoods of the mixture in nats.

    Reference:
        Theis, van den Oord & Bethge, "A note on the evaluation of generative models", ICLR 2016,
        arXiv:1511.01844, Sec. 3.2.
    """
    w = torch.as_tensor(weights, dtype=torch.float64)
    if len(log_probs) != len(w) or len(w) == 0:
        raise ValueError(f"need one weight per component, got {len(log_probs)} components and {len(w)} weights")
    if (w <= 0).any() or abs(float(w.sum()) - 1) > 1e-6:
        raise ValueError(f"weights must be positive and sum to 1, got {w.tolist()}")
    lp = torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in log_probs])
    return torch.logsumexp(lp + w.log().reshape(-1, *([1] * (lp.ndim - 1))), 0)


def bernoulli_kernel_log_likelihood(x: torch.Tensor, centers: torch.Tensor, smoothing: float) -> torch.Tensor:
    r"""log p(x) of binary images under a kernel (Parzen) estimate: product Bernoullis centred on samples.

    A GAN gives samples but no likelihood; the usual stand-in is a kernel density estimate on its
    samples. For binary data the kernel is a product of Bernoullis whose means are the samples,
    smoothed towards 1/2 (so no pixel has probability 0):

    $$p(x) = \frac1M \sum_{m=1}^M \prod_i \mathrm{Bern}\big(x_i;\ (1-\lambda)\,c_{m,i} + \lambda/2\big)$$

    It is a proper distribution on binary images, so its log-likelihood is in the same nats as a
    VAE's bound -- but it scores the *estimator* (M samples, one smoothing) as much as the model.

    Args:
        x: (N, ...) binary images with values in {0, 1}, e.g. (N, 1, 28, 28).
        centers: (M, ...) samples of the model with values in [0, 1] (gray values are Bernoulli means),
            the same shape as ``x`` after the batch dimension.
        smoothing: lambda in (0, 1]; 1 gives the uniform distribution, ``-D log 2`` for every x.
            Choose it on held-out data (the Parzen bandwidth).

    Returns:
        (N,) float64 log-likelihoods in nats.

    Reference:
        Theis, van den Oord & Bethge, "A note on the evaluation of generative models", ICLR 2016,
        arXiv:1511.01844, Sec. 3.4 (Parzen window estimates); Goodfellow et al., "Generative
        Adversarial Nets", NeurIPS 2014, Sec. 5 (the Parzen estimate of a GAN's likelihood).
    """
    checks.floating(x, "x")
    checks.floating(centers, "centers")
    if x.ndim < 2 or centers.ndim < 2 or x.shape[1:] != centers.shape[1:]:
        raise ValueError(f"x (N, ...) and centers (M, ...) must have the same shape after the batch dimension, "
                         f"got {tuple(x.shape)} and {tuple(centers.shape)}")
    checks.value_range(centers, "centers", 0.0, 1.0)
    xf = x.detach().flatten(1).double().cpu()
    if not ((xf == 0) | (xf == 1)).all():
        raise ValueError("x must be binary (values in {0, 1}); binarise it first, e.g. data.load('binarized-mnist')")
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
    p = (1 - smoothing) * centers.detach().flatten(1).double().cpu() + smoothing / 2     # (M, D) pixel means
    log_p, log_1mp = p.log(), torch.log1p(-p)
    log_kernel = xf @ (log_p - log_1mp).T + log_1mp.sum(1)                                # (N, M): log Bern(x | c_m)
    return torch.logsumexp(log_kernel, 1) - np.log(len(p))


# ----------------------------------------------------------------------------------------
# Mutual information gap (MIG)
# ----------------------------------------------------------------------------------------
def discretize(codes: ArrayLike, bins: int = 20) -> np.ndarray:
    """Discretise each column of a continuous code into ``bins`` equal-width bins.

    Args:
        codes: (N, L) latent codes.
        bins: bins per dimension (20 as in disentanglement_lib).

    Returns:
        (N, L) integer bin indices in [0, bins).
    """
    c = checks.feature_matrix(codes, "codes")
    checks.positive_int(bins, "bins")
    out = np.zeros(c.shape, dtype=np.int64)
    for j in range(c.shape[1]):
        edges = np.histogram_bin_edges(c[:, j], bins)
        out[:, j] = np.clip(np.digitize(c[:, j], edges[1:-1]), 0, bins - 1)
    return out


def _labels(v: ArrayLike) -> np.ndarray:
    a = np.asarray(v.detach().cpu() if isinstance(v, torch.Tensor) else v)
    if a.ndim != 1:
        raise ValueError(f"expected a 1-D array of discrete labels, got shape {a.shape}")
    return np.unique(a, return_inverse=True)[1]


def discrete_entropy(labels: ArrayLike) -> float:
    """Entropy H(v) in nats of the empirical distribution of discrete labels (N,)."""
    p = np.bincount(_labels(labels)) / len(labels)
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def discrete_mutual_info(a: ArrayLike, b: ArrayLike) -> float:
    r"""Plug-in mutual information I(a; b) in nats of two discrete label arrays (N,).

    $$I(a;b) = \sum_{i,j} p(i,j)\log\frac{p(i,j)}{p(i)\,p(j)}$$
    from the joint histogram (biased upward for few samples per cell).
    """
    ia, ib = _labels(a), _labels(b)
    if len(ia) != len(ib):
        raise ValueError(f"a and b must have the same length, got {len(ia)} and {len(ib)}")
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    joint /= joint.sum()
    pa, pb = joint.sum(1, keepdims=True), joint.sum(0, keepdims=True)
    nz = joint > 0
    return float((joint[nz] * np.log(joint[nz] / (pa @ pb)[nz])).sum())


def mutual_info_matrix(codes: ArrayLike, factors: ArrayLike, bins: int = 20) -> np.ndarray:
    """MI (nats) between every discretised latent dimension and every discrete factor.

    Args:
        codes: (N, L) continuous latent codes (discretised with :func:`discretize`).
        factors: (N, K) discrete ground-truth factors.
        bins: bins per latent dimension.

    Returns:
        (L, K) matrix I(z_j; v_k).
    """
    z = discretize(codes, bins)
    v = np.asarray(factors.detach().cpu() if isinstance(factors, torch.Tensor) else factors)
    if v.ndim != 2 or len(v) != len(z):
        raise ValueError(f"factors must have shape (N, K) with N = {len(z)}, got {v.shape}")
    return np.array([[discrete_mutual_info(z[:, j], v[:, k]) for k in range(v.shape[1])] for j in range(z.shape[1])])


def mig(codes: ArrayLike, factors: ArrayLike, bins: int = 20) -> dict:
    r"""Mutual information gap of a latent code w.r.t. known discrete factors.

    $$\mathrm{MIG} = \frac1K\sum_{k=1}^K \frac{1}{H(v_k)}\Big(I(z_{j^{(k)}}; v_k) - \max_{j\ne j^{(k)}} I(z_j; v_k)\Big),
      \quad j^{(k)} = \arg\max_j I(z_j; v_k)$$

    1 when every factor is captured by exactly one latent and no other latent knows about it;
    near 0 when a factor is spread over (or copied into) two latents.

    Args:
        codes: (N, L) latent codes, L >= 2.
        factors: (N, K) discrete factors (each with at least two values).
        bins: bins per latent dimension for the plug-in MI.

    Returns:
        ``{"mig": float, "per_factor": (K,) gaps / H, "mi": (L, K) MI matrix, "entropy": (K,) H(v_k)}``.

    Reference:
        Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational Autoencoders",
        NeurIPS 2018, arXiv:1802.04942, Eq. (6).
    """
    c = checks.feature_matrix(codes, "codes")
    if c.shape[1] < 2:
        raise ValueError(f"MIG needs at least two latent dimensions, got codes of shape {c.shape}")
    mi = mutual_info_matrix(c, factors, bins)
    v = np.asarray(factors.detach().cpu() if isinstance(factors, torch.Tensor) else factors)
    h = np.array([discrete_entropy(v[:, k]) for k in range(v.shape[1])])
    if (h <= 0).any():
        raise ValueError("every factor needs at least two distinct values (its entropy is 0)")
    top2 = np.sort(mi, axis=0)[::-1][:2]                                       # (2, K)
    per = (top2[0] - top2[1]) / h
    return {"mig": float(per.mean()), "per_factor": per, "mi": mi, "entropy": h}


# ----------------------------------------------------------------------------------------
# Synthetic factors: procedural dSprites-like shapes
# ----------------------------------------------------------------------------------------
def sprite_factors(n: int, num_values: int = 8, seed: int = 0) -> np.ndarray:
    """Random discrete factors (N, 4) for :func:`render_sprites`: shape (3), scale, x, y (``num_values`` each)."""
    checks.positive_int(n, "n")
    checks.positive_int(num_values, "num_values")
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, 3, n)] + [rng.integers(0, num_values, n) for _ in range(3)], 1)


def render_sprites(factors: ArrayLike, size: int = 32, num_values: int = 8) -> torch.Tensor:
    """Render dSprites-like images (N, 1, size, size) in {0, 1} from factors (N, 4).

    Factors: shape (0 square, 1 disc, 2 triangle), scale, x position, y position, each an integer
    in ``[0, num_values)`` (shape in [0, 3)).

    Reference:
        Matthey et al. 2017, dSprites (procedural stand-in, generated here).
    """
    v = np.asarray(factors)
    if v.ndim != 2 or v.shape[1] != 4:
        raise ValueError(f"factors must have shape (N, 4) = (shape, scale, x, y), got {v.shape}")
    n = len(v)
    t = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    r = torch.as_tensor(0.08 + 0.10 * v[:, 1] / max(1, num_values - 1), dtype=torch.float32)[:, None, None]
    cx = torch.as_tensor(0.25 + 0.5 * v[:, 2] / max(1, num_values - 1), dtype=torch.float32)[:, None, None]
    cy = torch.as_tensor(0.25 + 0.5 * v[:, 3] / max(1, num_values - 1), dtype=torch.float32)[:, None, None]
    dx, dy = xx[None] - cx, yy[None] - cy
    square = (dx.abs() <= r) & (dy.abs() <= r)
    disc = dx ** 2 + dy ** 2 <= r ** 2
    tri = (dy <= r) & (dy >= -r) & (dx.abs() <= (dy + r) / 2)
    s = torch.as_tensor(v[:, 0])[:, None, None]
    img = torch.where(s == 0, square, torch.where(s == 1, disc, tri))
    return img.float().reshape(n, 1, size, size)
