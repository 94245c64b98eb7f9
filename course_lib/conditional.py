r"""Loss terms and measurements of the conditional GAN family (notebook 08), all used with :mod:`course_lib.gan`.

Every model of the family is one ``gan.Trainer`` -- the variants differ in data and terms only:

* **cGAN** (Mirza & Osindero 2014): ``cond=labels, sample_cond=conditional.label_sampler(10)``; G(z, y), D(x, y);
  the matching-aware D term :func:`mismatch_term` (Reed et al. 2016) makes D check the label, and
  :func:`label_use` measures whether it does.
* **AC-GAN** (Odena et al. 2017): D returns (source, class logits); ``gan.aux_class_d_term`` /
  ``gan.aux_class_g_term`` add $L_C$ to both players.
* **InfoGAN** (Chen et al. 2016): codes :class:`InfoCodes` are drawn as the fakes' conditions, G sees
  ``(z, c)`` through ``codes.generator_input``, D sees only x (``discriminator_input=lambda x, c: (x,)``) and
  its Q head predicts c: :meth:`InfoCodes.info_term` is $-L_I$ (cross-entropy + Gaussian NLL) for both players.
* **BiGAN / ALI** (Donahue et al. 2017; Dumoulin et al. 2017): "the generator" is
  ``nets.conditional.BiGANGenerator(G, E)``; the latent *is* the fakes' condition (``latent_dim=None``,
  ``sample_cond=gaussian_sampler(d)``, G called as G(z)), the real batch's condition is E(x)
  (``cond=bigan_condition(gen)``), so D sees (x, E(x)) against (G(z), z); E's adversarial update is the
  generator term :func:`bigan_encoder_term`.
* **Semi-supervised GAN** (Salimans et al. 2016): D's K logits give the GAN logit $\log Z(x)$ (K+1 classes
  with the fake logit fixed at 0); the supervised cross-entropy on the few labelled digits is the D term
  :func:`supervised_term`; G uses feature matching (:func:`feature_matching_term`) with no adversarial loss.

Measurements: accuracy of generated samples under the course classifier (:func:`sample_accuracy`),
class-sorted grids (:func:`class_labels`, :func:`grid_by_class`), the matched accuracy of InfoGAN's
categorical code (:func:`matched_accuracy`), stroke slant / thickness (:func:`slant`, :func:`thickness`),
k-NN accuracy of features (:func:`knn_accuracy`) and a supervised baseline (:func:`fit_classifier`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import checks, env, gan, train

# ----------------------------------------------------------------------------------------
# Labels and class-sorted grids
# ----------------------------------------------------------------------------------------


def label_sampler(num_classes: int) -> Callable[[int], torch.Tensor]:
    """``sample(n) -> (n,)`` uniform integer labels in [0, num_classes) (the fakes' conditions of a cGAN)."""
    checks.positive_int(num_classes, "num_classes")
    return lambda n: torch.randint(num_classes, (n,))


def gaussian_sampler(latent_dim: int) -> Callable[[int], torch.Tensor]:
    """``sample(n) -> (n, latent_dim)`` standard normal latents (BiGAN: the latent is the fakes' condition)."""
    checks.positive_int(latent_dim, "latent_dim")
    return lambda n: torch.randn(n, latent_dim)


def class_labels(num_classes: int, n_per_class: int) -> torch.Tensor:
    """(num_classes * n_per_class,) labels 0...0 1...1 ...: a grid with ``nrow=n_per_class`` has one class per row."""
    checks.positive_int(num_classes, "num_classes")
    checks.positive_int(n_per_class, "n_per_class")
    return torch.arange(num_classes).repeat_interleave(n_per_class)


def grid_by_class(x: torch.Tensor, labels: torch.Tensor, num_classes: int, n_per_class: int,
                  fill: float = -1.0) -> torch.Tensor:
    """The first ``n_per_class`` images of each label, class by class (blank ``fill`` images where too few).

    Args:
        x: (N, C, H, W) images.
        labels: (N,) integer labels (true, predicted, or a categorical code).
        num_classes, n_per_class: rows and columns of the grid.
        fill: value of the blank images (the background: -1 for images in [-1, 1]).

    Returns:
        (num_classes * n_per_class, C, H, W), ready for ``viz.show_grid(..., nrow=n_per_class)``.
    """
    checks.image_batch(x, "x")
    checks.ndim(labels, "labels", 1, "(N,)")
    if len(labels) != len(x):
        raise ValueError(f"x has {len(x)} images but labels has {len(labels)}")
    out = torch.full((num_classes * n_per_class, *x.shape[1:]), float(fill), dtype=x.dtype)
    for k in range(num_classes):
        idx = (labels.cpu() == k).nonzero().flatten()[:n_per_class]
        out[k * n_per_class:k * n_per_class + len(idx)] = x[idx].cpu()
    return out


@torch.no_grad()
def classify(x: torch.Tensor, logits: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 500) -> torch.Tensor:
    """Predicted classes (N,) of images x (N, C, H, W) under ``logits(x_batch) -> (B, K)``, in batches."""
    checks.image_batch(x, "x")
    return torch.cat([logits(x[i:i + batch_size]).argmax(1).cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def sample_accuracy(x: torch.Tensor, y: torch.Tensor, clf, value_range: tuple[float, float] = (-1.0, 1.0)) -> float:
    """Accuracy of generated samples: the fraction the course classifier assigns to the class they were asked for.

    Args:
        x: (N, 1, 28, 28) generated images in ``value_range``.
        y: (N,) the requested classes.
        clf: a ``metrics.FeatureNetwork`` with logits (``metrics.course_classifier("mnist")``).
        value_range: range of x (mapped to [0, 1] for the classifier).

    Returns:
        The accuracy in [0, 1].

    Reference:
        Odena et al. 2017, arXiv:1610.09585, Sec. 4.1 (Inception accuracy of AC-GAN samples).
    """
    checks.ndim(y, "y", 1, "(N,)")
    if len(y) != len(x):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)} labels")
    if clf.logits is None:
        raise ValueError(f"{clf.name} has no classifier head; use metrics.course_classifier(...)")
    lo, hi = value_range
    pred = classify((x - lo) / (hi - lo), lambda b: clf.logits(clf.prepare(b.clamp(0, 1))))
    return float((pred == y.cpu()).float().mean())


def wrong_labels(y: torch.Tensor, num_classes: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """For each label a different one, uniform over the other ``num_classes - 1`` classes (same shape, device).

    Args:
        y: (B,) integer labels in [0, num_classes).
        num_classes: K >= 2.
        generator: optional CPU random generator (reproducible draws).

    Returns:
        (B,) labels y' with y' != y everywhere.
    """
    checks.ndim(y, "y", 1, "(B,)")
    if not (isinstance(num_classes, int) and num_classes >= 2):
        raise ValueError(f"num_classes must be an integer >= 2 (a wrong label needs another class), got {num_classes!r}")
    if y.dtype.is_floating_point or (len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes)):
        raise ValueError(f"y must hold integer labels in [0, {num_classes})")
    shift = torch.randint(1, num_classes, y.shape, generator=generator).to(y.device)
    return (y + shift) % num_classes


def mismatch_term(discriminator: nn.Module, num_classes: int) -> gan.Term:
    r"""A D term of the matching-aware discriminator: a *real* image with a *wrong* label counts as fake.

    $$L_\text{mis} = -\mathbb{E}_{x, y \sim p_\text{data},\, y' \neq y}\big[\log\big(1 - D(x \mid y')\big)\big]
      = \mathbb{E}\big[\mathrm{softplus}(s(x, y'))\big]$$

    with $s$ D's logit. In the plain cGAN objective D meets a wrong (x, y) pair only when G fails to follow y,
    and a small D can tell most fakes by their look alone: it learns to ignore y and G's classes drift. This term
    makes "does x show class y?" part of D's job from the first step. G's objective is unchanged.

    Args:
        discriminator: D(x, y) returning raw scores (B,).
        num_classes: K.

    Returns:
        ``fn(batch) -> scalar`` for ``d_terms={"mismatch": (1.0, fn)}`` (the batch's ``c_real`` are the labels).

    Reference:
        Reed et al., "Generative Adversarial Text to Image Synthesis", ICML 2016, arXiv:1605.05396, Sec. 4.2
        (GAN-CLS, the matching-aware discriminator; Alg. 1 weights it 1/2 next to the fake term, here 1).
    """
    checks.positive_int(num_classes, "num_classes")

    def mismatch(b: gan.Batch) -> torch.Tensor:
        if b.c_real is None:
            raise ValueError("the mismatch term needs the real batch's labels: a trainer with cond=labels")
        return F.softplus(discriminator(b.x_real, wrong_labels(b.c_real, num_classes)).float()).mean()

    return mismatch


@torch.no_grad()
def label_use(discriminator: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int = 0,
              batch_size: int = 500) -> float:
    """How often D prefers the true label: the fraction of real images with D(x, y) > D(x, y'), y' a wrong label.

    0.5: D ignores y (a coin flip); 1: D always scores the right label higher. D is put in eval mode and restored.

    Args:
        discriminator: D(x, y) -> raw scores (B,).
        x: (N, C, H, W) real images in D's input range; y: (N,) their labels.
        num_classes: K.
        seed: seed of the wrong labels.
        batch_size: images per forward pass.

    Returns:
        The fraction in [0, 1].
    """
    checks.image_batch(x, "x")
    checks.ndim(y, "y", 1, "(N,)")
    if len(x) != len(y) or not len(x):
        raise ValueError(f"x ({len(x)}) and y ({len(y)}) must be non-empty and aligned")
    y_wrong = wrong_labels(y, num_classes, torch.Generator().manual_seed(seed))
    dev = next(discriminator.parameters()).device
    wins = []
    with train.eval_mode(discriminator):
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(dev)
            s_true = discriminator(xb, y[i:i + batch_size].to(dev)).float()
            s_wrong = discriminator(xb, y_wrong[i:i + batch_size].to(dev)).float()
            wins.append((s_true > s_wrong).cpu())
    return float(torch.cat(wins).float().mean())


def confusion(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Counts of (code, label) pairs: (K, K) long on the CPU, ``out[c, y]`` = samples with code c and label y.

    Args:
        codes: (N,) code values in [0, num_classes).
        labels: (N,) class labels in [0, num_classes), aligned with ``codes``.
        num_classes: K.
    """
    checks.ndim(codes, "codes", 1, "(N,)")
    checks.ndim(labels, "labels", 1, "(N,)")
    if len(codes) != len(labels) or not len(codes):
        raise ValueError(f"codes ({len(codes)}) and labels ({len(labels)}) must be non-empty and aligned")
    conf = torch.zeros(num_classes, num_classes, dtype=torch.long)
    conf.index_put_((codes.long().cpu(), labels.long().cpu()), torch.ones(len(codes), dtype=torch.long), accumulate=True)
    return conf


def matched_accuracy(codes: torch.Tensor, labels: torch.Tensor, num_classes: int) -> tuple[float, torch.Tensor]:
    """Accuracy of an unsupervised categorical code after the best one-to-one code -> class matching.

    The matching maximises the agreement (Hungarian algorithm on the :func:`confusion` matrix); InfoGAN
    reports its 5% MNIST error this way.

    Args:
        codes: (N,) code values in [0, num_classes).
        labels: (N,) class labels in [0, num_classes).
        num_classes: K.

    Returns:
        (accuracy in [0, 1], mapping (K,) with ``mapping[code] = class``).

    Reference:
        Chen et al. 2016, arXiv:1606.03657, Sec. 7.1.
    """
    from scipy.optimize import linear_sum_assignment

    conf = confusion(codes, labels, num_classes)
    rows, cols = linear_sum_assignment(-conf.numpy())
    mapping = torch.as_tensor(cols)[np.argsort(rows)]
    return float(conf[rows, cols].sum()) / len(codes), mapping


# ----------------------------------------------------------------------------------------
# InfoGAN
# ----------------------------------------------------------------------------------------
def gaussian_nll(x: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    r"""Negative log-density of x under $\mathcal{N}(\mu, \sigma^2)$, element-wise (same shapes).

    $$-\log Q(c \mid x) = \log\sigma + \tfrac12\log 2\pi + \frac{(c - \mu)^2}{2\sigma^2}$$

    InfoGAN's continuous codes are predicted by a factored Gaussian Q (Chen et al. 2016, Sec. 5 / 7.2).
    """
    if not (x.shape == mu.shape == log_sigma.shape):
        raise ValueError(f"x, mu and log_sigma must have the same shape, got {tuple(x.shape)}, {tuple(mu.shape)}, "
                         f"{tuple(log_sigma.shape)}")
    return log_sigma + 0.5 * math.log(2 * math.pi) + 0.5 * ((x - mu) * torch.exp(-log_sigma)) ** 2


@dataclass(frozen=True)
class InfoCodes:
    r"""InfoGAN's latent codes: one categorical code (``n_cat`` values) and ``n_cont`` continuous codes ~ U(-1, 1).

    The codes are the fakes' conditions ``c = (cat (B,), cont (B, n_cont))``; G sees ``[z, onehot(cat), cont]``;
    D's Q head outputs ``q_dim`` numbers: categorical logits, then a mean per continuous code and, unless
    ``fixed_std`` is set, a log-std per continuous code.

    Attributes:
        n_cat: values of the categorical code (10 on MNIST).
        n_cont: continuous codes (2 on MNIST: the paper finds rotation/slant and width/thickness).
        weight_cont: $\lambda$ of the continuous part of $L_I$ (the paper uses a smaller weight than for discrete codes).
        log_sigma_min: floor of Q's log-std (keeps the Gaussian NLL bounded); used only when Q learns the std.
        fixed_std: None: Q predicts a mean and a log-std per continuous code; a number: Q predicts only the
            means and the Gaussian has this fixed std (the authors' released code: std 1, so the NLL is
            $\tfrac12 (c - \mu)^2$ + const, a squared error whose scale cannot run away as a learned std shrinks).
        code_scale: G sees ``code_scale * [onehot(cat), cont]`` (Q still predicts the unscaled codes): the codes'
            share of G's input next to 62 noise variables, as the label scale of the cGAN.
        uniform_noise: G's noise is U(-1, 1) as in the authors' code: the trainer's z ~ N(0, 1) is mapped through
            $\mathrm{erf}(z / \sqrt 2)$ (exactly uniform); with N(0, 1) noise the codes are 3x fainter.

    Reference:
        Chen et al., "InfoGAN: Interpretable Representation Learning by Information Maximizing GANs",
        NeurIPS 2016, arXiv:1606.03657, Eq. (5)-(6), Sec. 7.2.
    """

    n_cat: int = 10
    n_cont: int = 2
    weight_cont: float = 0.5
    log_sigma_min: float = -2.5
    fixed_std: float | None = None
    code_scale: float = 1.0
    uniform_noise: bool = False

    def __post_init__(self) -> None:
        checks.positive_int(self.n_cat, "n_cat")
        if not (isinstance(self.n_cont, int) and self.n_cont >= 0):
            raise ValueError(f"n_cont must be an integer >= 0 (continuous codes), got {self.n_cont!r}")
        if self.fixed_std is not None and not self.fixed_std > 0:
            raise ValueError(f"fixed_std must be None (Q learns the std) or a positive number, got {self.fixed_std!r}")
        if not (isinstance(self.code_scale, (int, float)) and self.code_scale > 0):
            raise ValueError(f"code_scale must be a positive number, got {self.code_scale!r}")

    @property
    def dim(self) -> int:
        """Size of the code vector G sees (one-hot + continuous)."""
        return self.n_cat + self.n_cont

    @property
    def q_dim(self) -> int:
        """Outputs of D's Q head: n_cat logits, then n_cont means (and n_cont log-stds unless ``fixed_std``)."""
        return self.n_cat + (1 if self.fixed_std is not None else 2) * self.n_cont

    def sample(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(cat (n,) uniform in [0, n_cat), cont (n, n_cont) uniform in [-1, 1])."""
        checks.positive_int(n, "n")
        return torch.randint(self.n_cat, (n,)), torch.rand(n, self.n_cont) * 2 - 1

    def vector(self, c: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Codes ``(cat (B,), cont (B, n_cont))`` -> (B, n_cat + n_cont) = [onehot(cat), cont]."""
        if not (isinstance(c, (tuple, list)) and len(c) == 2):
            raise TypeError("InfoGAN codes are a pair (cat (B,) long, cont (B, n_cont)) as drawn by InfoCodes.sample")
        cat, cont = c
        checks.ndim(cont, "cont", 2, f"(B, {self.n_cont})")
        if cont.shape[1] != self.n_cont:
            raise ValueError(f"cont must be (B, {self.n_cont}), got {tuple(cont.shape)}")
        if int(cat.min()) < 0 or int(cat.max()) >= self.n_cat:
            raise ValueError(f"cat must lie in [0, {self.n_cat}), got values in [{int(cat.min())}, {int(cat.max())}]")
        return torch.cat([F.one_hot(cat.long(), self.n_cat).to(cont), cont], 1)

    def generator_input(self, z: torch.Tensor, c: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor]:
        """The trainer's ``generator_input``: G sees ``[noise(z), code_scale * onehot(cat), code_scale * cont]``.

        Args:
            z: (B, latent_dim) standard normal latents (the trainer's draw).
            c: the codes (cat (B,), cont (B, n_cont)).

        Returns:
            A 1-tuple with the (B, latent_dim + dim) input of G; ``noise(z) = erf(z / sqrt 2)`` ~ U(-1, 1) when
            ``uniform_noise``, else z.
        """
        checks.ndim(z, "z", 2, "(B, latent_dim)")
        noise = torch.special.erf(z / math.sqrt(2.0)) if self.uniform_noise else z
        return (torch.cat([noise, self.code_scale * self.vector(c).to(z)], 1),)

    def split_q(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q head output (B, q_dim) -> (categorical logits (B, n_cat), mu (B, n_cont), log_sigma (B, n_cont)).

        With ``fixed_std`` the log-std is the constant log(fixed_std).
        """
        checks.ndim(q, "q", 2, f"(B, {self.q_dim})")
        if q.shape[1] != self.q_dim:
            per = "n_cont" if self.fixed_std is not None else "2 n_cont"
            raise ValueError(f"the Q head must output {self.q_dim} = n_cat + {per} numbers, got {q.shape[1]}")
        k, m = self.n_cat, self.n_cont
        if self.fixed_std is not None:
            mu = q[:, k:k + m]
            return q[:, :k], mu, torch.full_like(mu, math.log(self.fixed_std))
        return q[:, :k], q[:, k:k + m], q[:, k + m:].clamp_min(self.log_sigma_min)

    def info_loss(self, q: torch.Tensor, c: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        r"""$-L_I$ up to the constant $H(c)$: $\mathbb{E}[-\log Q(c_\text{cat}|x)] + \lambda\,\mathbb{E}[-\log Q(c_\text{cont}|x)]$.

        Args:
            q: (B, q_dim) Q head outputs on x = G(z, c).
            c: the codes (cat (B,), cont (B, n_cont)) the samples were generated from.

        Returns:
            Scalar: categorical cross-entropy + ``weight_cont`` * Gaussian NLL (summed over the continuous codes).
        """
        logits, mu, log_sigma = self.split_q(q.float())
        cat, cont = c
        ce = F.cross_entropy(logits, cat.long())
        nll = gaussian_nll(cont.float(), mu, log_sigma).sum(1).mean() if self.n_cont else ce.new_zeros(())
        return ce + self.weight_cont * nll

    def info_term(self, b: gan.Batch) -> torch.Tensor:
        """The engine term ``fn(batch)``: :meth:`info_loss` of D's Q output on the fakes and their codes.

        Use it for both players (Eq. (6): $\\min_{G,Q} \\max_D V(D, G) - \\lambda L_I(G, Q)$)::

            v = gan.variant("ns", d_terms={"info": (1.0, codes.info_term)}, g_terms={"info": (1.0, codes.info_term)})
        """
        if b.aux_fake is None:
            raise ValueError("the InfoGAN term needs a discriminator returning (scores, q) with q (B, q_dim)")
        q = b.aux_fake[0] if isinstance(b.aux_fake, tuple) else b.aux_fake
        return self.info_loss(q, b.c_fake)

    def entropy_cat(self) -> float:
        """H(c_cat) = log n_cat (nats): the mutual information I(c_cat; G(z, c)) is at most this."""
        return math.log(self.n_cat)


# ----------------------------------------------------------------------------------------
# Stroke measurements (what InfoGAN's continuous codes control)
# ----------------------------------------------------------------------------------------
def _unit_images(x: torch.Tensor) -> torch.Tensor:
    checks.image_batch(x, "x", channels=1)
    checks.value_range(x, "x", 0.0, 1.0, tol=1e-3)
    return x[:, 0].double().clamp(0, 1)


def slant(x: torch.Tensor) -> torch.Tensor:
    r"""Slant of each digit from its second image moments: horizontal shift per row, $\mu_{11} / \mu_{02}$.

    Positive = the top leans right (like "/"). With $u$ the column, $v$ the row counted *upwards*,
    $\mu_{11} = \sum (u - \bar u)(v - \bar v)\, I$ and $\mu_{02} = \sum (v - \bar v)^2 I$.

    Args:
        x: (B, 1, H, W) images in [0, 1] (ink = 1).

    Returns:
        (B,) slants (0 for an upright stroke; 1 = 45 degrees to the right).

    Reference:
        The moment-based deskewing of MNIST (LeCun et al. 1998; Hu 1962, image moments).
    """
    img = _unit_images(x)
    h, w = img.shape[-2:]
    v = torch.arange(h, dtype=img.dtype).flip(0)[None, :, None]        # rows counted upwards
    u = torch.arange(w, dtype=img.dtype)[None, None, :]
    m = img.sum((1, 2)).clamp_min(1e-8)
    ub, vb = (img * u).sum((1, 2)) / m, (img * v).sum((1, 2)) / m
    du, dv = u - ub[:, None, None], v - vb[:, None, None]
    return ((img * du * dv).sum((1, 2)) / (img * dv * dv).sum((1, 2)).clamp_min(1e-8)).float()


def thickness(x: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Mean stroke width of each digit in pixels: ink area / skeleton length.

    Args:
        x: (B, 1, H, W) images in [0, 1].
        threshold: ink where x > threshold.

    Returns:
        (B,) widths (0 for an empty image).

    Reference:
        Castro et al., "Morpho-MNIST", JMLR 2019, arXiv:1809.10780, Sec. 2 (thickness = area / length).
    """
    from skimage.morphology import skeletonize

    ink = (_unit_images(x) > threshold).numpy()
    out = [float(b.sum()) / max(1, int(skeletonize(b).sum())) if b.any() else 0.0 for b in ink]
    return torch.tensor(out)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two (N,) series (nan if one is constant)."""
    a, b = a.double().flatten(), b.double().flatten()
    if a.shape != b.shape or len(a) < 2:
        raise ValueError(f"need two aligned series of length >= 2, got {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = a - a.mean(), b - b.mean()
    den = float(a.norm() * b.norm())
    return float((a * b).sum()) / den if den > 0 else float("nan")


# ----------------------------------------------------------------------------------------
# BiGAN / ALI
# ----------------------------------------------------------------------------------------
def bigan_condition(gen: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The trainer's ``cond=``: the real batch's condition is its encoding E(x) (no gradient: D's view).

    Args:
        gen: a ``nets.conditional.BiGANGenerator`` (has ``encode``).
    """
    if not hasattr(gen, "encode"):
        raise TypeError(f"expected a BiGANGenerator with .encode(x), got {type(gen).__name__}")

    def cond(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return gen.encode(x)

    return cond


def bigan_encoder_term(gen: nn.Module, discriminator: nn.Module) -> gan.Term:
    r"""E's adversarial loss as a generator term: E wants D to call the real pair (x, E(x)) fake.

    $$\min_{G,E} \max_D\ \mathbb{E}_x[\log D(x, E(x))] + \mathbb{E}_z[\log(1 - D(G(z), z))]$$

    The engine's generator loss covers the (G(z), z) half (non-saturating: $-\log D(G(z), z)$); this term
    is the other half with swapped labels, $-\log(1 - D(x, E(x))) = \mathrm{softplus}(s)$ with $s$ the logit.
    D is frozen during the generator step, so the gradient reaches only E.

    Args:
        gen: a ``nets.conditional.BiGANGenerator``.
        discriminator: the joint D(x, z).

    Returns:
        ``fn(batch) -> scalar`` for ``g_terms={"enc": (1.0, fn)}``.

    Reference:
        Donahue et al., "Adversarial Feature Learning", ICLR 2017, arXiv:1605.09782, Eq. (3) and Sec. 3.4
        (the inverted-label objective); Dumoulin et al. 2017, arXiv:1606.00704, Eq. (1).
    """

    def enc(b: gan.Batch) -> torch.Tensor:
        return F.softplus(discriminator(b.x_real, gen.encode(b.x_real)).float()).mean()

    return enc


@torch.no_grad()
def encode(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """E(x) for x (N, C, H, W) in batches, no gradients -> (N, latent_dim)."""
    checks.image_batch(x, "x")
    dev = next(encoder.parameters()).device if isinstance(encoder, nn.Module) else x.device
    return torch.cat([encoder(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])


def _nearest(queries: torch.Tensor, points: torch.Tensor, k: int, chunk: int = 1024, spare: int = 8) -> torch.Tensor:
    """Indices (M, k) of the k nearest ``points`` of each query, nearest first, in exact (float64) distances.

    Candidates come from float32 distances (matrix products: several times faster than float64 and never more
    than ``chunk`` x N at a time), and the ``k + spare`` best are re-ranked in float64, so that rounding cannot
    swap two neighbours the exact distances tell apart.
    """
    points32, n_cand = points.float(), min(k + spare, len(points))
    out = []
    for i in range(0, len(queries), chunk):
        q = queries[i:i + chunk]
        cand = torch.cdist(q.float(), points32).topk(n_cand, largest=False).indices             # (m, k + spare)
        exact = (q.double()[:, None, :] - points[cand].double()).square().sum(-1)               # (m, k + spare)
        out.append(cand.gather(1, exact.topk(k, largest=False).indices))
    return torch.cat(out)


def knn_accuracy(train_feats: torch.Tensor, train_y: torch.Tensor, test_feats: torch.Tensor, test_y: torch.Tensor,
                 k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier (Euclidean, majority vote, ties to the nearest) on features.

    Args:
        train_feats: (N, D) features of the labelled points; train_y: (N,) labels.
        test_feats: (M, D); test_y: (M,).
        k: neighbours.

    Returns:
        Accuracy in [0, 1] (sklearn's ``KNeighborsClassifier(k)`` agrees up to ties).

    Reference:
        Donahue et al. 2017 evaluate BiGAN features with a 1-NN classifier on MNIST (Table 1).
    """
    checks.ndim(train_feats, "train_feats", 2, "(N, D)")
    checks.ndim(test_feats, "test_feats", 2, "(M, D)")
    checks.positive_int(k, "k")
    if len(train_feats) != len(train_y) or len(test_feats) != len(test_y):
        raise ValueError("features and labels must be aligned")
    idx = _nearest(test_feats, train_feats, min(k, len(train_feats)))    # (M, k), nearest first
    votes = train_y.long()[idx]
    n_cls = int(train_y.max()) + 1
    counts = F.one_hot(votes, n_cls).sum(1).double()
    counts += F.one_hot(votes[:, 0], n_cls).double() * 0.5                  # ties -> the nearest neighbour's class
    return float((counts.argmax(1) == test_y.long()).double().mean())


# ----------------------------------------------------------------------------------------
# Semi-supervised GAN (K+1 classes)
# ----------------------------------------------------------------------------------------
def unsupervised_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    r"""Salimans et al.'s $L_\text{unsupervised}$ written with the K class logits (fake logit fixed at 0).

    $$L_\text{unsup} = -\mathbb{E}_x \log\frac{Z(x)}{Z(x) + 1} - \mathbb{E}_z \log\frac{1}{Z(G(z)) + 1},\qquad
      Z(x) = \sum_{k=1}^K e^{l_k(x)}$$

    which is the ordinary GAN discriminator loss on the logit $\log Z(x)$ (the logsumexp trick): equal to
    ``losses.minimax_d_loss(logsumexp(logits_real), logsumexp(logits_fake))``.

    Args:
        logits_real, logits_fake: (B, K) class logits.

    Reference:
        Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498, Sec. 5.
    """
    checks.ndim(logits_real, "logits_real", 2, "(B, K)")
    checks.ndim(logits_fake, "logits_fake", 2, "(B, K)")
    lse_real, lse_fake = torch.logsumexp(logits_real, 1), torch.logsumexp(logits_fake, 1)
    # -log(Z / (Z + 1)) = softplus(-log Z);  -log(1 / (Z + 1)) = softplus(log Z)
    return F.softplus(-lse_real).mean() + F.softplus(lse_fake).mean()


def supervised_term(discriminator: nn.Module, x_labelled: torch.Tensor, y_labelled: torch.Tensor,
                    batch_size: int | None = None, seed: int = 0) -> gan.Term:
    r"""The D term $L_\text{supervised} = -\mathbb{E}_{x, y \sim \text{labelled}} \log p(y \mid x, y < K + 1)$.

    The cross-entropy of D's K class logits on a minibatch of the few labelled examples (drawn anew at each
    D update; all of them when ``batch_size`` is None).

    Args:
        discriminator: a ``nets.conditional.SemiSupervisedDiscriminator`` (returns (log Z, logits, features)).
        x_labelled: (L, 1, 28, 28) labelled images in [-1, 1] (on the trainer's device).
        y_labelled: (L,) labels.
        batch_size: labelled examples per D update.
        seed: seed of the labelled minibatch draw.

    Returns:
        ``fn(batch) -> scalar`` for ``d_terms={"sup": (1.0, fn)}``.

    Reference:
        Salimans et al. 2016, arXiv:1606.03498, Sec. 5 ($L = L_\text{supervised} + L_\text{unsupervised}$).
    """
    checks.image_batch(x_labelled, "x_labelled")
    checks.ndim(y_labelled, "y_labelled", 1, "(L,)")
    if len(x_labelled) != len(y_labelled):
        raise ValueError(f"{len(x_labelled)} labelled images but {len(y_labelled)} labels")
    n = len(x_labelled)
    rng = torch.Generator().manual_seed(seed)

    def sup(b: gan.Batch) -> torch.Tensor:
        if batch_size is None or batch_size >= n:
            x, y = x_labelled, y_labelled
        else:
            idx = torch.randint(n, (batch_size,), generator=rng)
            x, y = x_labelled[idx], y_labelled[idx]
        return F.cross_entropy(discriminator(x.to(b.x_real.device))[1].float(), y.to(b.x_real.device).long())

    return sup


def feature_matching_term(b: gan.Batch) -> torch.Tensor:
    r"""Feature matching for G: $\lVert \mathbb{E}_x f(x) - \mathbb{E}_z f(G(z)) \rVert_2^2$ on D's penultimate features.

    Needs D returning ``(scores, logits, features)`` (``nets.conditional.SemiSupervisedDiscriminator``);
    the real features are detached in a generator term.

    Reference:
        Salimans et al. 2016, arXiv:1606.03498, Sec. 3.1.
    """
    if not (isinstance(b.aux_fake, tuple) and len(b.aux_fake) >= 2):
        raise ValueError("feature matching needs a discriminator returning (scores, logits, features)")
    f_real, f_fake = b.aux_real[-1].float(), b.aux_fake[-1].float()
    return ((f_real.mean(0) - f_fake.mean(0)) ** 2).sum()


def zero_g_loss(scores_fake: torch.Tensor) -> torch.Tensor:
    """A generator loss of 0 (keeps the graph): G learns from its terms only (feature matching)."""
    return scores_fake.sum() * 0.0


def fit_classifier(name: str, net: nn.Module, logits: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                   y: torch.Tensor, num_steps: int, batch_size: int = 64, lr: float = 2e-4,
                   betas: tuple[float, float] = (0.5, 0.999)) -> tuple[dict[str, list[float]], float]:
    """Train ``net`` as a plain supervised classifier on (x, y) (cached as checkpoint ``name``).

    The baseline of the semi-supervised GAN: the same D, the same labelled examples, the same number
    of updates and optimiser -- only the unlabelled data and the generator are missing.

    Args:
        name: checkpoint name (the budget is appended).
        net: the network (its parameters are optimised).
        logits: ``logits(x_batch) -> (B, K)`` (e.g. ``net.logits``).
        x: (L, C, H, W) labelled images; y: (L,) labels.
        num_steps: optimiser steps.
        batch_size: minibatch size (sampled with replacement).
        lr, betas: Adam settings.

    Returns:
        (the history with ``loss`` and ``acc`` per step, the training wall time in seconds).
    """
    checks.image_batch(x, "x")
    checks.positive_int(num_steps, "num_steps")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    dev = next(net.parameters()).device
    x, y = x.to(dev), y.to(dev).long()

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        xb, yb = batch
        out = logits(xb).float()
        return F.cross_entropy(out, yb), {"acc": (out.argmax(1) == yb).float().mean()}

    fit = train.fit_loss(name, {"net": net}, loss_fn, (x, y), num_steps=num_steps, lr=lr, betas=betas,
                         batch_size=min(batch_size, len(x)), replacement=True, desc=name)
    net.eval()
    return fit.history, fit.seconds


@torch.no_grad()
def accuracy(logits: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
             module: nn.Module | None = None) -> float:
    """Classification accuracy of ``logits`` on (x, y) (``module`` is put in eval mode first, then restored)."""
    with train.eval_mode(*([module] if module is not None else [])):
        dev = next(module.parameters()).device if module is not None else env.device()
        pred = classify(x.to(dev), logits)
    return float((pred == y.cpu()).float().mean())
