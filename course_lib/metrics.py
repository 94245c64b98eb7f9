"""Sample-quality metrics of the GAN notebooks, each computed with a *named* feature network.

* :func:`fid` -- the Frechet distance between Gaussian fits of real and generated features
  (Heusel et al. 2017). The value depends entirely on the feature network, so every metric
  here carries the network's name: print ``metrics.label("FID", net)`` -> ``"FID (course MNIST
  classifier)"``. Three networks are available:

  - :func:`course_classifier` -- a small CNN trained by the course on the dataset itself
    (standard practice for MNIST-like data, where ImageNet features are a poor fit);
  - :func:`imagenet_features` -- the offline ImageNet network of :mod:`course_lib.features`
    (EfficientNet-Lite0; VGG19 when its weights are present). Neither is the paper's Inception-v3,
    so numbers are *not* comparable to published FIDs;
  - :func:`inception_features` -- torchvision's Inception-v3 when its weights are cached (or
    ``allow_download=True`` online), the papers' network; a clear error otherwise.

* :class:`FIDReference` -- reference features cached once; ``.fid(x)`` and ``.floor(n)``, the FID of
  held-out real data at the same sample size, against which every FID is read.
* :func:`recognisable_rate` -- the fraction of samples the course classifier recognises with
  probability >= 0.9, and the share of each class among them (mode coverage);
  :func:`class_probabilities` -- the classifier's softmax (its max is the confidence).
* :func:`precision_recall` -- k-NN manifold precision (fidelity) and recall (coverage) of a sample
  set against real data (Kynkaenniemi et al. 2019): mode dropping lowers recall, blur lowers precision;
  :func:`knn_radii`, :func:`manifold_coverage` are its parts; :func:`distance_to_support` finds the
  points far from a set (the holes of a latent space).
* :func:`kid` -- the kernel inception distance, an *unbiased* MMD^2 estimate (Binkowski et al. 2018).
* :func:`inception_score` -- exp E_x KL(p(y|x) || p(y)) with the network's classifier head.
* :func:`mode_coverage` -- modes covered, fraction of high-quality samples and KL over modes
  for 2-D mixtures with known centres (Srivastava et al. 2017; Metz et al. 2017).
* :func:`kl_divergence`, :func:`js_divergence` -- divergences of densities tabulated on a grid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import checks, data, env, train

# sizes of the course classifier's training run per budget
# (lecture/full: every training digit; MNIST at lecture reaches >= 0.99 on the 10000 test digits)
_CLASSIFIER_SIZES = {"smoke": {"n": 1000, "num_epochs": 2}, "lecture": {"n": None, "num_epochs": 2},
                     "full": {"n": None, "num_epochs": 8}}
_CLASSIFIERS: dict[tuple[str, int | None, str], FeatureNetwork] = {}


@dataclass
class FeatureNetwork:
    """A frozen network that maps images in [0, 1] to features (and optionally class logits).

    Attributes:
        name: printed with every metric, e.g. ``"course MNIST classifier"``.
        features: (B, C, H, W) in [0, 1] -> (B, D).
        logits: (B, C, H, W) in [0, 1] -> (B, K), or None.
        image_size: inputs are resized to this size first (None: any size).
        channels: expected channels (gray is repeated to RGB when 3 are expected).
        test_accuracy: the classifier's accuracy on the test split, when known.
    """

    name: str
    features: Callable[[torch.Tensor], torch.Tensor]
    logits: Callable[[torch.Tensor], torch.Tensor] | None
    image_size: int | None
    channels: int | None
    device: torch.device
    test_accuracy: float | None = None

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Check range (B, C, H, W) in [0, 1], fix channels and size, move to the device."""
        checks.image_batch(x, "x")
        try:
            checks.value_range(x, "x", 0.0, 1.0, tol=1e-3)
        except ValueError as e:
            raise ValueError(f"{e}; {self.name} expects images in [0, 1] (map generator outputs in [-1, 1] "
                             f"with images.to_unit(x))") from None
        x = x.clamp(0, 1).float()
        if self.channels is not None and x.shape[1] != self.channels:
            if x.shape[1] == 1 and self.channels == 3:
                x = x.expand(-1, 3, -1, -1)
            else:
                raise ValueError(f"{self.name} expects {self.channels}-channel images, got shape {tuple(x.shape)}")
        if self.image_size is not None and x.shape[-1] != self.image_size:
            x = data.resize(x, self.image_size)
        return x.to(self.device)

    def __repr__(self) -> str:
        return f"FeatureNetwork({self.name!r})"


def label(metric: str, net: FeatureNetwork) -> str:
    """``"FID (course MNIST classifier)"``: the name under which to print or record a metric."""
    return f"{metric} ({net.name})"


@torch.no_grad()
def compute_features(x: torch.Tensor, net: FeatureNetwork, batch_size: int = 256) -> torch.Tensor:
    """Features (N, D) of images (N, C, H, W) in [0, 1], computed in batches without gradients."""
    checks.image_batch(x, "x")
    checks.positive_int(batch_size, "batch_size")
    return torch.cat([net.features(net.prepare(x[i:i + batch_size])).double().cpu()
                      for i in range(0, len(x), batch_size)])


def feature_statistics(feats: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and covariance (D, D) of features (N, D), in float64."""
    f = np.asarray(feats.detach().cpu() if isinstance(feats, torch.Tensor) else feats, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"features must have shape (N, D) with N >= 2, got {f.shape}")
    return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    r"""Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    $$d^2 = \lVert\mu_1 - \mu_2\rVert^2 + \operatorname{tr}\big(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2}\big)$$

    The trace of the matrix square root is computed stably as the sum of the square roots of
    the eigenvalues of the symmetric matrix sqrt(S1) S2 sqrt(S1) (same spectrum as S1 S2).

    Args:
        mu1, mu2: means (D,).
        sigma1, sigma2: covariances (D, D), symmetric positive semi-definite.

    Returns:
        d^2 (the quantity called FID), >= 0.

    Reference:
        Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
        Equilibrium", NeurIPS 2017, arXiv:1706.08500, Eq. (6); Dowson & Landau 1982.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = len(mu1)
    if mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shapes do not match: mu1 {mu1.shape}, mu2 {mu2.shape}, sigma1 {s1.shape}, sigma2 {s2.shape}")
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    sqrt_s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = sqrt_s1 @ ((s2 + s2.T) / 2) @ sqrt_s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    val = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
    return max(val, 0.0)


def fid(x_real: torch.Tensor, x_fake: torch.Tensor, net: FeatureNetwork, batch_size: int = 256) -> float:
    """FID between two image sets with the feature network ``net``.

    Args:
        x_real: (N, C, H, W) in [0, 1] data images.
        x_fake: (M, C, H, W) in [0, 1] generated images (N, M >= 2; FID is biased upward for small M,
            so compare models at the same M).
        net: :func:`course_classifier` or :func:`imagenet_features`.
        batch_size: images per forward pass.

    Returns:
        The FID (print it as ``metrics.label("FID", net)``).

    Reference:
        Heusel et al. 2017 (with Inception-v3 pool features; here ``net.name``'s features).
    """
    return FIDReference(x_real, net, batch_size=batch_size).fid(x_fake)


@torch.no_grad()
def inception_score(x: torch.Tensor, net: FeatureNetwork, splits: int = 1, batch_size: int = 256
                    ) -> tuple[float, float]:
    r"""Inception-score style metric with the classifier head of ``net``.

    $$\mathrm{IS} = \exp\,\mathbb{E}_x\, \mathrm{KL}\big(p(y \mid x)\,\Vert\, p(y)\big)$$

    between 1 (every image gets the same class distribution) and K (confident and all K classes equally used).

    Args:
        x: (N, C, H, W) images in [0, 1].
        net: a network with ``logits`` (the course classifier; EfficientNet-Lite0's ImageNet head).
        splits: compute on ``splits`` chunks and report mean and std (Salimans et al. use 10).
        batch_size: images per forward pass.

    Returns:
        (mean, std) over splits (std 0 for one split).

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498, Sec. 4.
    """
    if net.logits is None:
        raise ValueError(f"{net.name} has no classifier head; the Inception score needs class probabilities")
    checks.image_batch(x, "x")
    checks.positive_int(splits, "splits")
    logp = torch.cat([F.log_softmax(net.logits(net.prepare(x[i:i + batch_size])).double(), 1).cpu()
                      for i in range(0, len(x), batch_size)])
    scores = []
    for chunk in logp.chunk(splits):
        log_py = torch.logsumexp(chunk, 0) - np.log(len(chunk))
        kl = (chunk.exp() * (chunk - log_py)).sum(1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


# ----------------------------------------------------------------------------------------
# Yardsticks every generator is read against
# ----------------------------------------------------------------------------------------
class FIDReference:
    r"""Reference features of real images, computed once: the FID of any sample set against them.

    FID is biased upward at small sample sizes (the covariance of M samples is noisy), so a number
    is read against the *floor*: the FID of real images that are not in the reference, at the same
    sample size. A generator cannot do better than real data; at ``floor(n)`` it would be perfect.

        ref = metrics.FIDReference(data.load("mnist", "test", n=2000).x, clf,
                                   heldout=data.load("mnist", "valid").x)
        ref.fid(samples), ref.floor(len(samples))

    Args:
        x_ref: (N, C, H, W) real images in [0, 1] (N >= 2).
        net: the feature network (:func:`course_classifier` for digits).
        heldout: real images in [0, 1] disjoint from ``x_ref``, drawn from for :meth:`floor`.
        batch_size: images per forward pass.
    """

    def __init__(self, x_ref: torch.Tensor, net: FeatureNetwork, heldout: torch.Tensor | None = None,
                 batch_size: int = 256):
        checks.image_batch(x_ref, "x_ref")
        if len(x_ref) < 2:
            raise ValueError(f"the reference images need at least 2 for a covariance, got {len(x_ref)}")
        if heldout is not None:
            checks.image_batch(heldout, "heldout")
            if heldout.shape[1:] != x_ref.shape[1:]:
                raise ValueError(f"heldout images {tuple(heldout.shape[1:])} must match x_ref {tuple(x_ref.shape[1:])}")
        self.net, self.n_ref, self.batch_size = net, len(x_ref), batch_size
        self.features = compute_features(x_ref, net, batch_size)        # (N, D): also for precision/recall, KID
        self.mu, self.sigma = feature_statistics(self.features)
        self.heldout = heldout
        self._floors: dict[tuple[int, int, int], list[float]] = {}

    @property
    def label(self) -> str:
        """``"FID (course MNIST classifier)"``."""
        return label("FID", self.net)

    def fid(self, x: torch.Tensor) -> float:
        """FID of images ``x`` (M, C, H, W) in [0, 1] against the reference (compare models at the same M)."""
        checks.image_batch(x, "x")
        if len(x) < 2:
            raise ValueError(f"x needs at least 2 images for a covariance, got {len(x)}")
        return frechet_distance(self.mu, self.sigma, *feature_statistics(compute_features(x, self.net, self.batch_size)))

    def floor(self, n: int, draws: int = 3, seed: int = 0) -> float:
        """FID of ``n`` held-out real images against the reference: the mean over ``draws`` seeded draws.

        One draw is not enough: the mean term of FID varies by a factor ~2 between random subsets of
        1000 digits, so a single fixed subset can look "lucky" (see :meth:`floor_draws`).
        """
        return float(np.mean(self.floor_draws(n, draws, seed)))

    def floor_draws(self, n: int, draws: int = 3, seed: int = 0) -> list[float]:
        """The FIDs of ``draws`` seeded random draws of ``n`` held-out real images (cached)."""
        checks.positive_int(n, "n")
        checks.positive_int(draws, "draws")
        if self.heldout is None:
            raise ValueError("floor() needs held-out real images: FIDReference(x_ref, net, heldout=...)")
        if n > len(self.heldout) or n < 2:
            raise ValueError(f"floor(n) needs 2 <= n <= {len(self.heldout)} (the held-out images), got n={n}")
        key = (n, draws, seed)
        if key not in self._floors:
            g = torch.Generator().manual_seed(seed)
            self._floors[key] = [self.fid(self.heldout[torch.randperm(len(self.heldout), generator=g)[:n]])
                                 for _ in range(draws)]
        return self._floors[key]

    def __repr__(self) -> str:
        held = f", {len(self.heldout)} held-out" if self.heldout is not None else ""
        return f"FIDReference({self.n_ref} reference images{held}; {self.net.name})"


@torch.no_grad()
def class_probabilities(x: torch.Tensor, net: FeatureNetwork, batch_size: int = 256) -> torch.Tensor:
    """The classifier's class probabilities ``softmax(logits)`` of images, in batches.

    ``class_probabilities(x, net).max(1).values`` is the classifier's *confidence*: near 1 for a clear
    digit, near 1/K for an image it cannot place.

    Args:
        x: (N, C, H, W) images in [0, 1].
        net: a network with logits (:func:`course_classifier`).
        batch_size: images per forward pass.

    Returns:
        (N, K) float64 probabilities on the CPU; each row sums to 1.
    """
    if net.logits is None:
        raise ValueError(f"{net.name} has no classifier head; class probabilities need its logits")
    checks.image_batch(x, "x")
    checks.positive_int(batch_size, "batch_size")
    return torch.cat([F.softmax(net.logits(net.prepare(x[i:i + batch_size])).double(), 1).cpu()
                      for i in range(0, len(x), batch_size)])


@torch.no_grad()
def recognisable_rate(x: torch.Tensor, net: FeatureNetwork, threshold: float = 0.9, batch_size: int = 256) -> dict:
    """How many samples the classifier recognises, and which classes they cover.

    A sample is *recognisable* when ``net`` gives some class a probability >= ``threshold``.

    This is a per-sample confidence, not a test of realism: a classifier trained only on real images is
    confident far from them too (the course MNIST classifier gives p >= 0.9 to 99.9% of uniform-noise images,
    nearly all as one digit; notebook 10 measures it). Report it beside a set-level measure -- FID, recall,
    ``classes_covered`` -- that a degenerate generator cannot pass.

    Args:
        x: (N, C, H, W) samples in [0, 1].
        net: a network with logits (:func:`course_classifier`).
        threshold: the confidence that counts as recognised, in (0, 1).
        batch_size: images per forward pass.

    Returns:
        ``{"rate": fraction recognisable, "per_class": (K,) share of the recognisable samples in each
        class (sums to 1 when any is recognisable), "classes_covered": classes holding at least a tenth of
        their fair share 1/K, "n": N}``.
    """
    if net.logits is None:
        raise ValueError(f"{net.name} has no classifier head; recognisable_rate needs class probabilities")
    checks.image_batch(x, "x")
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be a probability in (0, 1), got {threshold}")
    p = class_probabilities(x, net, batch_size)
    conf, cls = p.max(1)
    ok = conf >= threshold
    k = p.shape[1]
    counts = torch.bincount(cls[ok], minlength=k).double()
    share = counts / counts.sum() if ok.any() else counts
    return {"rate": float(ok.double().mean()), "per_class": share, "classes_covered": int((share >= 0.1 / k).sum()),
            "n": len(x)}


ArrayLike = checks.ArrayLike


# ----------------------------------------------------------------------------------------
# Precision and recall on k-NN manifolds
# ----------------------------------------------------------------------------------------
def knn_radii(feats: ArrayLike, k: int = 3) -> np.ndarray:
    """Distance of every point to its k-th nearest neighbour in the same set (itself excluded).

    Args:
        feats: (N, D) features, N > k.
        k: neighbour rank (Kynkaenniemi et al. use k = 3).

    Returns:
        (N,) radii; the union of the balls B(x_i, r_i) is the k-NN estimate of the set's manifold.
    """
    f = checks.feature_matrix(feats, "feats")
    checks.positive_int(k, "k")
    if len(f) <= k:
        raise ValueError(f"need more than k={k} points to estimate k-NN radii, got {len(f)}")
    d = torch.cdist(torch.from_numpy(f), torch.from_numpy(f))
    return d.kthvalue(k + 1, dim=1).values.numpy()                 # the 1st smallest is the point itself (0)


def distance_to_support(points: ArrayLike, support: ArrayLike, batch_size: int = 1024) -> np.ndarray:
    """Euclidean distance from every point to its nearest point of ``support``.

    Large distances mark the *holes* of a set: places no support point is near (e.g. latent points that no
    training image encodes to).

    Args:
        points: (M, D) query points.
        support: (N, D) the set, N >= 1.
        batch_size: query points per distance matrix (memory is ``batch_size * N``).

    Returns:
        (M,) distances, float64; 0 for a point of the support itself.
    """
    p, s = checks.feature_matrix(points, "points"), checks.feature_matrix(support, "support")
    if p.shape[1] != s.shape[1]:
        raise ValueError(f"points are {p.shape[1]}-D but support is {s.shape[1]}-D")
    if len(s) == 0:
        raise ValueError("support is empty; the distance to it is undefined")
    checks.positive_int(batch_size, "batch_size")
    st = torch.from_numpy(s)
    return np.concatenate([torch.cdist(torch.from_numpy(p[i:i + batch_size]), st).min(1).values.numpy()
                           for i in range(0, len(p), batch_size)] or [np.zeros(0)])


def manifold_coverage(points: ArrayLike, support: ArrayLike, k: int = 3) -> float:
    """Fraction of ``points`` that lie inside the k-NN manifold of ``support``.

    Args:
        points: (M, D) query features.
        support: (N, D) features defining the manifold (balls of k-NN radius around each).
        k: neighbour rank.

    Returns:
        Fraction in [0, 1].
    """
    p, s = checks.feature_matrix(points, "points"), checks.feature_matrix(support, "support")
    if p.shape[1] != s.shape[1]:
        raise ValueError(f"points are {p.shape[1]}-D but support is {s.shape[1]}-D")
    r = knn_radii(s, k)
    d = torch.cdist(torch.from_numpy(p), torch.from_numpy(s)).numpy()          # (M, N)
    return float((d <= r[None, :]).any(1).mean())


def precision_recall(real_feats: ArrayLike, fake_feats: ArrayLike, k: int = 3) -> dict[str, float]:
    r"""Improved precision and recall of generated samples (k-NN manifolds).

    $$\mathrm{precision} = \frac1M\sum_{j} \mathbb 1\big[\phi_g^{(j)} \in \mathrm{manifold}(\Phi_r)\big],\quad
      \mathrm{recall} = \frac1N\sum_{i} \mathbb 1\big[\phi_r^{(i)} \in \mathrm{manifold}(\Phi_g)\big],$$
    with $\mathrm{manifold}(\Phi) = \bigcup_{\phi\in\Phi} B(\phi, \lVert\phi - \mathrm{NN}_k(\phi)\rVert)$.

    Precision is the fraction of generated samples that look real (fidelity); recall the fraction of
    real samples the model can produce (coverage: a model dropping modes has low recall).

    Args:
        real_feats: (N, D) features of real images.
        fake_feats: (M, D) features of generated images (use N = M).
        k: neighbour rank (3 in the paper).

    Returns:
        ``{"precision": float, "recall": float}``, each in [0, 1].

    Reference:
        Kynkaanniemi et al., "Improved Precision and Recall Metric for Assessing Generative Models",
        NeurIPS 2019, arXiv:1904.06991, Eq. (1)-(3).
    """
    return {"precision": manifold_coverage(fake_feats, real_feats, k),
            "recall": manifold_coverage(real_feats, fake_feats, k)}


# ----------------------------------------------------------------------------------------
# KID: an unbiased MMD^2 on the same features
# ----------------------------------------------------------------------------------------
def kid(real_feats: ArrayLike, fake_feats: ArrayLike, degree: int = 3) -> float:
    r"""Kernel inception distance: the unbiased MMD^2 estimate with a polynomial kernel.

    $$k(x, y) = \big(x^\top y / d + 1\big)^3,\qquad
      \widehat{\mathrm{MMD}}^2_u = \tfrac{1}{m(m-1)}\sum_{i\ne j}k(x_i,x_j) + \tfrac{1}{n(n-1)}\sum_{i\ne j}k(y_i,y_j)
      - \tfrac{2}{mn}\sum_{i,j}k(x_i,y_j)$$

    Unbiased: its expectation does not depend on the sample size (it can be slightly negative).

    Args:
        real_feats: (N, D), fake_feats: (M, D) features, N, M >= 2.
        degree: polynomial degree (3 in the paper).

    Returns:
        KID (same units as the kernel; 0 for identical distributions in expectation).

    Reference:
        Binkowski et al., "Demystifying MMD GANs", ICLR 2018, arXiv:1801.01401, Sec. 5 (KID);
        Gretton et al. 2012, Lemma 6 (unbiased MMD^2).
    """
    x, y = checks.feature_matrix(real_feats, "real_feats"), checks.feature_matrix(fake_feats, "fake_feats")
    if x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError(f"need (N, D) and (M, D) features with N, M >= 2, got {x.shape} and {y.shape}")
    d = x.shape[1]
    kxx, kyy, kxy = ((a @ b.T / d + 1) ** degree for a, b in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


# ----------------------------------------------------------------------------------------
# Feature networks
# ----------------------------------------------------------------------------------------
def course_classifier(name: str = "mnist", image_size: int | None = None, device: str | torch.device | None = None,
                      verbose: bool = True) -> FeatureNetwork:
    """The course classifier of a dataset: trained once (cached in the checkpoint folder), then frozen.

    A small CNN (``nets.classifier.Classifier``) trained on ``data.load(name)`` with its labels
    (digit for MNIST; category for emoji). Its penultimate layer (before the ReLU, so no unit is
    dead) gives FID features and its logits an Inception-score style metric -- the standard substitute for Inception-v3 on
    MNIST-like data.

    Args:
        name: a labelled dataset of :func:`course_lib.data.load` (``mnist``, ``emoji``, ...).
        image_size: train (and evaluate) at this size (default: the dataset's).
        device: default :func:`course_lib.env.device`.
        verbose: print the test accuracy.

    Returns:
        A :class:`FeatureNetwork` named e.g. ``"course MNIST classifier"``.
    """
    from .nets import classifier as classifier_net

    dev = torch.device(device) if device is not None else env.device()
    key = (name, image_size, str(dev))
    if key in _CLASSIFIERS:
        return _CLASSIFIERS[key]
    sizes = _CLASSIFIER_SIZES[env.budget()]
    train_set = data.load(name, "train", n=sizes["n"], image_size=image_size)
    test_set = data.load(name, "test", image_size=image_size)
    if train_set.y is None:
        raise ValueError(f"dataset {name!r} has no labels; the course classifier needs them")
    c, s = train_set.x.shape[1], train_set.x.shape[-1]
    num_classes = len(train_set.classes) if train_set.classes else int(train_set.y.max()) + 1
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):  # leave the notebook's seed alone
        torch.manual_seed(0)
        net = classifier_net.Classifier(c, num_classes, s).to(dev)

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        x = x + 0.03 * torch.randn_like(x)                 # a little noise: robust to generator artefacts
        return F.cross_entropy(net(x), y)

    loader = train_set.loader(64)
    num_steps = sizes["num_epochs"] * len(loader)
    tag = name + (f"-{image_size}" if image_size else "")
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(0)
        fit = train.fit_loss(f"classifier-{tag}", {"net": net}, loss_fn, loader, num_epochs=sizes["num_epochs"],
                             lr=2e-3, scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, num_steps),
                             extra=lambda: {"test_accuracy": _accuracy(net, test_set, dev)},
                             desc=f"classifier-{name}", verbose=verbose)
    acc = fit.extra.get("test_accuracy")
    acc = float(acc) if acc is not None else _accuracy(net, test_set, dev)
    net.eval().requires_grad_(False)
    pretty = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "lfw": "LFW"}.get(name, name)
    fnet = FeatureNetwork(f"course {pretty} classifier", net.embedding, net, s, c, dev, acc)
    if verbose:
        print(f"{fnet.name}: test accuracy {acc:.4f} on {len(test_set)} held-out images "
              f"(trained on {len(train_set)})")
    _CLASSIFIERS[key] = fnet
    return fnet


def _accuracy(net: torch.nn.Module, ds: data.ImageSet, dev: torch.device) -> float:
    pred = train.predict(net, ds.x, batch_size=512, device=dev).argmax(1)
    return float((pred.cpu() == ds.y).float().mean())


def imagenet_features(name: str = "auto", device: str | torch.device | None = None) -> FeatureNetwork:
    """The offline ImageNet feature network (EfficientNet-Lite0, or VGG19 when its weights exist).

    Features are the global-average-pooled deepest layer (1280-D for EfficientNet-Lite0);
    images smaller than 32x32 are upsampled, gray is repeated to RGB.

    Args:
        name: ``auto``, ``efficientnet-lite0`` or ``vgg19`` (see :func:`course_lib.features.image_features`).
        device: default :func:`course_lib.env.device`.
    """
    from . import features

    net = features.image_features(name, device=device)
    pretty = {"efficientnet-lite0": "EfficientNet-Lite0 ImageNet features", "vgg19": "VGG19 ImageNet features"}
    return FeatureNetwork(pretty[net.name], net.pooled, net.logits if net.has_classifier else None,
                          None, 3, net.device)


# ----------------------------------------------------------------------------------------
# 2-D mixtures and densities
# ----------------------------------------------------------------------------------------
def mode_coverage(samples: torch.Tensor, modes: torch.Tensor, std: float, n_std: float = 3.0,
                  min_fraction: float = 0.1) -> dict:
    """How many modes of a known mixture the samples cover, and how well.

    A sample is *high quality* when it lies within ``n_std`` standard deviations of its nearest
    centre; a mode is *covered* when it receives at least ``min_fraction`` of the high-quality
    samples it would get under the data (``min_fraction * n / K``).

    Args:
        samples: (N, 2) generated points.
        modes: (K, 2) mixture centres (``data.mixture_modes()``).
        std: the components' standard deviation.
        n_std: quality radius in standard deviations (3 as in VEEGAN).
        min_fraction: fraction of the expected count a mode needs to count as covered.

    Returns:
        ``{"modes_covered": int, "high_quality": fraction in [0, 1], "counts": list of K ints,
        "kl_modes": KL(q || uniform) of the high-quality samples' mode histogram q (0 = balanced,
        log K = one mode; nan without high-quality samples)}``.

    Reference:
        Srivastava et al., "VEEGAN", NeurIPS 2017, arXiv:1705.07761, Sec. 5.1; Metz et al., "Unrolled
        GANs", ICLR 2017, arXiv:1611.02163, Sec. 3.1.
    """
    checks.ndim(samples, "samples", 2, "(N, D)")
    checks.ndim(modes, "modes", 2, "(K, D)")
    if samples.shape[1] != modes.shape[1]:
        raise ValueError(f"samples are {samples.shape[1]}-D but modes are {modes.shape[1]}-D")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    s, m = samples.detach().double().cpu(), modes.double().cpu()
    dist = torch.cdist(s, m)
    dmin, nearest = dist.min(1)
    hq = dmin < n_std * std
    k = len(m)
    counts = torch.bincount(nearest[hq], minlength=k)
    covered = int((counts >= max(1.0, min_fraction * len(s) / k)).sum())
    total = int(counts.sum())
    if total:
        q = counts.double() / total
        kl = float((q[q > 0] * (q[q > 0] * k).log()).sum())
    else:
        kl = float("nan")
    return {"modes_covered": covered, "high_quality": float(hq.double().mean()), "counts": counts.tolist(),
            "kl_modes": kl}


def _densities(p: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    checks.tensor(p, "p")
    checks.tensor(q, "q")
    if p.shape != q.shape:
        raise ValueError(f"p and q must be tabulated on the same grid, got {tuple(p.shape)} and {tuple(q.shape)}")
    if (p < 0).any() or (q < 0).any():
        raise ValueError("densities must be >= 0")
    return p.double(), q.double()


def kl_divergence(p: torch.Tensor, q: torch.Tensor, dx: float, eps: float = 1e-300) -> float:
    r"""KL(p || q) = \int p log(p / q) dx for densities tabulated on a regular grid (Riemann sum).

    Args:
        p, q: densities at the same grid points, any shape; ``dx``: cell volume.
        eps: floor of q (KL is infinite where q = 0 < p; the floor gives a large finite value).

    Returns:
        KL in nats.
    """
    p, q = _densities(p, q)
    mask = p > 0
    return float((p[mask] * (p[mask].log() - q[mask].clamp_min(eps).log())).sum() * dx)


def js_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    r"""Jensen-Shannon divergence JS(p || q) = KL(p || m)/2 + KL(q || m)/2, m = (p + q)/2 (nats, <= log 2).

    Reference:
        Goodfellow et al. 2014, Theorem 1: C(G) = -log 4 + 2 JS(p_data || p_g).
    """
    p, q = _densities(p, q)
    m = 0.5 * (p + q)
    return 0.5 * kl_divergence(p, m, dx) + 0.5 * kl_divergence(q, m, dx)


# ----------------------------------------------------------------------------------------
# torchvision Inception-v3 (the papers' feature network), when its weights are cached
# ----------------------------------------------------------------------------------------
INCEPTION_WEIGHTS_FILE = "inception_v3_google-0cc3c7bd.pth"  # torchvision Inception_V3_Weights.IMAGENET1K_V1


def inception_weights_path():
    """Where torchvision caches the Inception-v3 ImageNet weights (``$TORCH_HOME/hub/checkpoints``)."""
    from pathlib import Path

    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def inception_weights_available() -> bool:
    """True when the Inception-v3 weights are in torch's cache (no download is attempted)."""
    return inception_weights_path().is_file()


def inception_features(device: str | torch.device | None = None, allow_download: bool = False) -> FeatureNetwork:
    """torchvision's ImageNet Inception-v3: 2048-D pool features and 1000-class logits at 299x299.

    This is the network of the IS/FID papers in torchvision's port (its weights differ slightly from the
    TensorFlow graph that published FIDs use, so values are close to, not equal to, published ones).

    Args:
        device: default :func:`course_lib.env.device`.
        allow_download: fetch the weights (about 100 MB) when they are not cached; needs network.

    Raises:
        FileNotFoundError: weights not cached and ``allow_download`` is False; the message names the
            file to copy and the offline alternatives.

    Reference: Szegedy et al. (2016), "Rethinking the Inception Architecture", arXiv:1512.00567.
    """
    from torchvision.models import inception_v3

    path = inception_weights_path()
    if not path.is_file():
        if not allow_download:
            raise FileNotFoundError(
                f"Inception-v3 weights are not cached at {path}. Online: metrics.inception_features("
                f"allow_download=True); offline: copy {INCEPTION_WEIGHTS_FILE} there, or use "
                f"metrics.imagenet_features() (offline ImageNet net) or metrics.course_classifier('mnist').")
        from torchvision.models import Inception_V3_Weights

        torch.hub.load_state_dict_from_url(Inception_V3_Weights.IMAGENET1K_V1.url, progress=True, check_hash=True)
    dev = torch.device(device) if device is not None else env.device()
    net = inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    net.aux_logits, net.AuxLogits = False, None
    net.eval().requires_grad_(False).to(dev)
    fc = net.fc
    net.fc = torch.nn.Identity()
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)

    @torch.no_grad()
    def features(x: torch.Tensor) -> torch.Tensor:
        return net((x - mean) / std)  # transform_input maps ImageNet normalisation to Inception's [-1, 1]

    @torch.no_grad()
    def logits(x: torch.Tensor) -> torch.Tensor:
        return fc(features(x))

    return FeatureNetwork("Inception-v3 ImageNet features (torchvision)", features, logits, 299, 3, dev)


# ----------------------------------------------------------------------------------------
# The emoji style judge (Twitter vs Google): one judge for every chapter that translates style
# ----------------------------------------------------------------------------------------
EMOJI_STYLES: tuple[str, ...] = ("twitter", "google")
"""Class order of :func:`style_classifier`: 0 = Twitter (Twemoji), 1 = Google (Noto)."""
# emoji pairs and epochs of the style judge per budget (lecture: every training emoji in both styles, 6990
# images; on 1000 pairs x 3 epochs it reached 0.88 on the held-out emoji at 32 px, 0.90 without the blur, which
# costs 2 points on sharp images and gains 15 on blurred ones)
# lecture: 8 epochs and blur up to 0.6 px give 0.950 held-out accuracy (4 epochs with blur up to 1 px: 0.92;
# 12 and 16 epochs: 0.94-0.95, measured on 2026-12-05); 1 px of blur at 32 px erases the outline that tells the styles apart
_STYLE_CLASSIFIER_SIZES = {"smoke": {"n": 1000, "num_epochs": 3}, "lecture": {"n": None, "num_epochs": 8},
                           "full": {"n": None, "num_epochs": 16}}
_STYLE_MAX_BLUR = 0.6


def style_classifier(image_size: int | None = 32, device: str | torch.device | None = None,
                     verbose: bool = True) -> FeatureNetwork:
    """A judge of the emoji *drawing style*: Twitter (class 0) vs Google (class 1), trained on real emoji only.

    The course classifier CNN (``nets.classifier.Classifier``, two classes) is trained on every training
    emoji drawn in both styles (``data.load("emoji-twitter")`` and its ``paired`` Google images: the same
    emoji in each class, so only the style tells them apart), with a little noise and, on half of the
    batches, a Gaussian blur (sigma 0.3-0.6 px) and horizontal flips, so that it judges the drawing style
    rather than sharpness or orientation. It is trained once per budget and image size (cached as
    ``classifier-emoji-style-blur0.6-<size>``), then frozen; its accuracy on the held-out test emoji (other base
    emoji, both styles) is ``test_accuracy``. It never sees a generated image: an independent judge for
    unpaired translation (CycleGAN, notebook 16) and style transfer (notebook 17).

    Args:
        image_size: train and judge at this size (None: the data's 64 px).
        device: default :func:`course_lib.env.device`.
        verbose: print the held-out accuracy.

    Returns:
        A :class:`FeatureNetwork` with two logits (order :data:`EMOJI_STYLES`); use :func:`style_rate`.

    Reference:
        Zhu et al., "Unpaired Image-to-Image Translation using Cycle-Consistent Adversarial Networks",
        ICCV 2017, arXiv:1703.10593, Sec. 5.1.1 (FCN score: an off-the-shelf classifier judges translated images).
    """
    from . import images
    from .nets import classifier as classifier_net

    if image_size is not None:
        checks.positive_int(image_size, "image_size")
    dev = torch.device(device) if device is not None else env.device()
    key = ("emoji-style", image_size, str(dev))
    if key in _CLASSIFIERS:
        return _CLASSIFIERS[key]
    sizes = _STYLE_CLASSIFIER_SIZES[env.budget()]
    train_set = data.load("emoji-twitter", "train", n=sizes["n"], image_size=image_size)
    test_set = data.load("emoji-twitter", "test", image_size=image_size)

    def both(ds: data.ImageSet) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.cat([ds.x, ds.attrs["paired"].clamp(0, 1)])
        return x, torch.cat([torch.zeros(len(ds)), torch.ones(len(ds))]).long()

    x_train, y_train = both(train_set)
    x_test, y_test = both(test_set)
    s = x_train.shape[-1]
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):  # leave the notebook's seed alone
        torch.manual_seed(0)
        net = classifier_net.Classifier(3, len(EMOJI_STYLES), s).to(dev)
    g = torch.Generator().manual_seed(1)

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, y = batch
        if float(torch.rand((), generator=g)) < 0.5:           # blur half of the batches: style, not sharpness
            x = images.blur(x, 0.3 + (_STYLE_MAX_BLUR - 0.3) * float(torch.rand((), generator=g)))
        if float(torch.rand((), generator=g)) < 0.5:
            x = x.flip(-1)
        x = x + 0.03 * torch.randn_like(x)
        return F.cross_entropy(net(x), y)

    batch_size = 64
    num_steps = sizes["num_epochs"] * (len(x_train) // batch_size)
    tag = f"emoji-style-blur{_STYLE_MAX_BLUR:g}" + (f"-{image_size}" if image_size else "")
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(0)
        fit = train.fit_loss(f"classifier-{tag}", {"net": net}, loss_fn, (x_train, y_train), num_steps=num_steps,
                             lr=2e-3, batch_size=batch_size,
                             scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, num_steps),
                             extra=lambda: {"test_accuracy": _style_accuracy(net, x_test, y_test, dev)},
                             desc="style classifier", verbose=verbose)
    acc = fit.extra.get("test_accuracy")
    acc = float(acc) if acc is not None else _style_accuracy(net, x_test, y_test, dev)
    net.eval().requires_grad_(False)
    fnet = FeatureNetwork("course emoji style classifier (Twitter vs Google)", net.embedding, net, s, 3, dev, acc)
    if verbose:
        print(f"{fnet.name}: test accuracy {acc:.4f} on {len(x_test)} held-out images ({len(test_set)} emoji x 2 "
              f"styles; trained on {len(x_train)})")
    _CLASSIFIERS[key] = fnet
    return fnet


def _style_accuracy(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, dev: torch.device) -> float:
    pred = train.predict(net, x, batch_size=512, device=dev).argmax(1)
    return float((pred.cpu() == y).float().mean())


def judged_styles(x: torch.Tensor, net: FeatureNetwork, batch_size: int = 256) -> torch.Tensor:
    """The style judge's verdict per image: the index into :data:`EMOJI_STYLES` (0 Twitter, 1 Google).

    Args:
        x: (N, 3, H, W) images in [0, 1] (map generator outputs with ``images.to_unit``).
        net: :func:`style_classifier`.
        batch_size: images per forward pass.

    Returns:
        (N,) int64 on the CPU.
    """
    if net.logits is None:
        raise ValueError(f"{net.name} has no classifier head; the style verdict needs metrics.style_classifier()")
    p = class_probabilities(x, net, batch_size)
    if p.shape[1] != len(EMOJI_STYLES):
        raise ValueError(f"{net.name} has {p.shape[1]} classes; the style verdict needs the two-class "
                         f"metrics.style_classifier() (classes {EMOJI_STYLES})")
    return p.argmax(1)


def style_rate(x: torch.Tensor, net: FeatureNetwork, style: str = "google", batch_size: int = 256) -> float:
    """The fraction of images the style judge assigns to ``style`` (its larger probability).

    Args:
        x: (N, 3, H, W) images in [0, 1] (map generator outputs with ``images.to_unit``).
        net: :func:`style_classifier`.
        style: ``"twitter"`` or ``"google"``.
        batch_size: images per forward pass.

    Returns:
        A fraction in [0, 1]: near 1 for real emoji of that style, near 0 for the other style.
    """
    checks.one_of(style, "style", EMOJI_STYLES)
    return float((judged_styles(x, net, batch_size) == EMOJI_STYLES.index(style)).double().mean())


# ----------------------------------------------------------------------------------------
# A judge of one attribute, trained on real labelled images (skin tone, gender: 18; age group: 19)
# ----------------------------------------------------------------------------------------
def image_judge(name: str, x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                classes: tuple[str, ...] | list[str], num_steps: int, batch_size: int = 64, lr: float = 2e-3,
                flip: bool = True, device: str | torch.device | None = None, verbose: bool = True) -> FeatureNetwork:
    """An independent judge of one image attribute: the course classifier CNN trained on real labelled images only.

    The judge of an editing or translation model must not be one of its own networks (an encoder or a
    discriminator trained with it would share its blind spots). This trains ``nets.classifier.Classifier`` on
    real images with their labels -- batches drawn with equal probability per class (attribute values are
    often unbalanced), a little noise, a Gaussian blur (sigma 0.3-1 px) on half of the batches and, with
    ``flip``, horizontal mirrors, so that it judges the attribute rather than sharpness or orientation --
    caches it as checkpoint ``classifier-<name>`` and measures it on held-out images (``test_accuracy``).

    Args:
        name: checkpoint tag, e.g. ``"emoji-age-32"`` (the budget is appended).
        x_train: (N, C, H, W) real images in [0, 1].
        y_train: (N,) class indices into ``classes``.
        x_test, y_test: held-out real images and labels (never trained on).
        classes: the class names (K >= 2).
        num_steps: Adam steps (cosine-annealed learning rate).
        batch_size: images per step.
        lr: initial learning rate.
        flip: mirror half of the images (only for attributes that a mirror does not change).
        device: default :func:`course_lib.env.device`.
        verbose: print the held-out accuracy and N.

    Returns:
        A :class:`FeatureNetwork` named ``"course judge (<name>)"`` with K logits; use
        :func:`class_probabilities` or :func:`target_rate`.

    Reference:
        Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017,
        arXiv:1611.07004, Sec. 4.2 (an off-the-shelf classifier judges generated images: the FCN score);
        Perarnau et al. 2016, arXiv:1611.06355 (attribute edits judged by attribute classifiers).
    """
    from . import images
    from .nets import classifier as classifier_net

    checks.image_batch(x_train, "x_train", lo=0, hi=1)
    checks.image_batch(x_test, "x_test", lo=0, hi=1)
    classes = tuple(classes)
    if len(classes) < 2:
        raise ValueError(f"a judge needs at least two classes, got {classes}")
    y_train, y_test = checks.tensor(y_train, "y_train").long().cpu(), checks.tensor(y_test, "y_test").long().cpu()
    for x, y, what in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        if y.ndim != 1 or len(y) != len(x):
            raise ValueError(f"y_{what} must be (N,) with one label per image: {len(x)} images, shape {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
            raise ValueError(f"y_{what} must hold class indices in [0, {len(classes)}) for {classes}")
    if len(x_test) == 0:
        raise ValueError("x_test is empty: a judge must be measured on held-out images")
    counts = torch.bincount(y_train, minlength=len(classes))
    if (counts == 0).any():
        raise ValueError(f"every class needs training images; counts per class {dict(zip(classes, counts.tolist()))}")
    checks.positive_int(num_steps, "num_steps")
    checks.positive_int(batch_size, "batch_size")
    dev = torch.device(device) if device is not None else env.device()
    c, s = x_train.shape[1], x_train.shape[-1]
    key = (f"judge-{name}", s, str(dev))
    if key in _CLASSIFIERS:
        return _CLASSIFIERS[key]
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):   # leave the notebook's seed alone
        torch.manual_seed(0)
        net = classifier_net.Classifier(c, len(classes), s).to(dev)
    x_all, weights = x_train.float().to(dev), (1.0 / counts.double())[y_train]
    y_all = y_train.to(dev)
    g = torch.Generator().manual_seed(1)

    def loss_fn(_: None) -> torch.Tensor:                 # a class-balanced batch drawn here every step
        idx = torch.multinomial(weights, batch_size, replacement=True, generator=g).to(dev)
        x, y = x_all[idx], y_all[idx]
        if float(torch.rand((), generator=g)) < 0.5:       # blur half of the batches: the attribute, not sharpness
            x = images.blur(x, 0.3 + 0.7 * float(torch.rand((), generator=g)))
        if flip:
            mirror = (torch.rand(len(x), 1, 1, 1, generator=g) < 0.5).to(dev)
            x = torch.where(mirror, x.flip(-1), x)
        x = x + 0.03 * torch.randn(x.shape, generator=g).to(dev)
        return F.cross_entropy(net(x), y)

    def accuracy() -> float:
        return float((train.predict(net, x_test, batch_size=512, device=dev).argmax(1).cpu() == y_test).float().mean())

    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(0)
        fit = train.fit_loss(f"classifier-{name}", {"net": net}, loss_fn, None, num_steps=num_steps, lr=lr,
                             scheduler=lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, num_steps),
                             extra=lambda: {"test_accuracy": accuracy()}, device=dev, desc=f"judge {name}",
                             verbose=verbose)
    acc = fit.extra.get("test_accuracy")
    acc = float(acc) if acc is not None else accuracy()
    net.eval().requires_grad_(False)
    fnet = FeatureNetwork(f"course judge ({name})", net.embedding, net, s, c, dev, acc)
    if verbose:
        print(f"{fnet.name}: test accuracy {acc:.4f} on {len(x_test)} held-out real images "
              f"(trained on {len(x_train)}; classes {', '.join(classes)})")
    _CLASSIFIERS[key] = fnet
    return fnet


def target_rate(x: torch.Tensor, net: FeatureNetwork, target: int | torch.Tensor, batch_size: int = 256) -> float:
    """The fraction of images that a judge assigns to the asked class (its argmax), e.g. edits that took.

    Args:
        x: (N, C, H, W) images in [0, 1] (map generator outputs with ``images.to_unit``).
        net: a judge with logits (:func:`image_judge`, :func:`course_classifier`).
        target: the asked class, one int for all or (N,) per image.
        batch_size: images per forward pass.

    Returns:
        A fraction in [0, 1] (the judge's test accuracy is the rate real images of the class reach).
    """
    p = class_probabilities(x, net, batch_size)
    t = torch.as_tensor(target).long().cpu()
    if t.ndim == 0:
        t = t.expand(len(p))
    if t.shape != (len(p),):
        raise ValueError(f"target must be one class or (N={len(p)},) classes, got shape {tuple(t.shape)}")
    if int(t.min()) < 0 or int(t.max()) >= p.shape[1]:
        raise ValueError(f"target classes must lie in [0, {p.shape[1]}) for {net.name}")
    return float((p.argmax(1) == t).double().mean())
