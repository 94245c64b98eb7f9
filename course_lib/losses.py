"""Adversarial losses: every GAN of the course is a pair (discriminator loss, generator loss).

All functions take the *raw* outputs of the discriminator (``logits_real`` = D(x) before any
sigmoid, ``logits_fake`` = D(G(z))), shape (B,) or (B, 1), and return a scalar to *minimise*.
Writing the sigmoid-based losses with ``softplus`` instead of ``log(sigmoid(.))`` keeps them
finite for large logits (``-log sigmoid(t) = softplus(-t)``, ``-log(1 - sigmoid(t)) = softplus(t)``).

=================  ===========================================  ===================================
variant            discriminator / critic loss                  generator loss
=================  ===========================================  ===================================
minimax            :func:`minimax_d_loss`                       :func:`minimax_g_loss` (saturating)
non-saturating     :func:`minimax_d_loss`                       :func:`nonsaturating_g_loss`
Wasserstein        :func:`wasserstein_d_loss` (+ clipping or     :func:`wasserstein_g_loss`
                   :func:`gradient_penalty`)
least squares      :func:`lsgan_d_loss` (a, b)                  :func:`lsgan_g_loss` (c)
hinge              :func:`hinge_d_loss`                         :func:`hinge_g_loss`
=================  ===========================================  ===================================

The theory helpers :func:`gan_value` and :func:`optimal_discriminator` serve the 1-D checks
of notebook 05 (the value at D* equals 2 JS - 2 log 2).

:func:`input_gradient` gives the per-point gradient a generator loss sends back through each sample
(the saturation pictures of notebook 07).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from . import checks


def _flat(t: torch.Tensor, name: str) -> torch.Tensor:
    checks.tensor(t, name)
    if t.ndim == 2 and t.shape[1] == 1:
        return t[:, 0]
    checks.ndim(t, name, 1, "(B,) or (B, 1) (one score per sample)")
    return t


def _pair(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return _flat(logits_real, "logits_real"), _flat(logits_fake, "logits_fake")


# ----------------------------------------------------------------------------------------
# Minimax GAN (Goodfellow et al. 2014)
# ----------------------------------------------------------------------------------------
def minimax_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    r"""Discriminator loss of the original GAN (binary cross-entropy, real = 1, fake = 0).

    $$J^{(D)} = -\mathbb{E}_x[\log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))],\quad D = \sigma(\text{logits})$$

    Minimising it maximises the value V(D, G). Also the D loss of the non-saturating GAN.

    Args:
        logits_real: (B,) or (B, 1) raw D outputs on data.
        logits_fake: (B,) or (B, 1) raw D outputs on generated samples.

    Returns:
        Scalar loss (nats).

    Reference:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, Eq. (1).
    """
    r, f = _pair(logits_real, logits_fake)
    return F.softplus(-r).mean() + F.softplus(f).mean()


def minimax_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    r"""Saturating generator loss: G minimises the second term of V.

    $$J^{(G)} = \mathbb{E}_z[\log(1 - D(G(z)))] = -\mathbb{E}_z[\mathrm{softplus}(\ell)]$$

    Its gradient vanishes when D confidently rejects fakes (D(G(z)) -> 0), early in training.

    Args:
        logits_fake: (B,) or (B, 1) raw D outputs on generated samples.

    Returns:
        Scalar loss (nats; always <= 0).

    Reference:
        Goodfellow et al. 2014, Eq. (1); Goodfellow, "NIPS 2016 Tutorial: GANs", arXiv:1701.00160, Sec. 3.2.2.
    """
    f = _flat(logits_fake, "logits_fake")
    return -F.softplus(f).mean()


def nonsaturating_g_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    r"""Non-saturating generator loss: maximise log D(G(z)) instead of minimising log(1 - D(G(z))).

    $$J^{(G)} = -\mathbb{E}_z[\log D(G(z))] = \mathbb{E}_z[\mathrm{softplus}(-\ell)]$$

    Same fixed point as the minimax game but strong gradients when D rejects the fakes.

    Args:
        logits_fake: (B,) or (B, 1) raw D outputs on generated samples.

    Returns:
        Scalar loss (nats, >= 0).

    Reference:
        Goodfellow et al. 2014, Sec. 3 (the "-log D trick"); Goodfellow 2016 tutorial, Eq. (13).
    """
    f = _flat(logits_fake, "logits_fake")
    return F.softplus(-f).mean()


nonsaturating_d_loss = minimax_d_loss


def gan_value(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    r"""The value of the minimax game, V(D, G) = E log D(x) + E log(1 - D(G(z))) = -J^{(D)}.

    Args:
        logits_real, logits_fake: (B,) or (B, 1) raw D outputs.

    Returns:
        Scalar V (nats); at the optimal D it equals 2 JS(p_data || p_g) - 2 log 2.

    Reference:
        Goodfellow et al. 2014, Eq. (1) and Theorem 1.
    """
    return -minimax_d_loss(logits_real, logits_fake)


def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    r"""The optimal discriminator for a fixed generator, from the two densities.

    $$D^*(x) = \frac{p_\text{data}(x)}{p_\text{data}(x) + p_g(x)}$$

    Args:
        p_data: densities of the data at some points, any shape, >= 0.
        p_g: generator densities at the same points (same shape).

    Returns:
        D*(x) in [0, 1], the shape of the inputs (1/2 where both densities are 0).

    Reference:
        Goodfellow et al. 2014, Proposition 1, Eq. (2).
    """
    checks.tensor(p_data, "p_data")
    checks.tensor(p_g, "p_g")
    if p_data.shape != p_g.shape:
        raise ValueError(f"p_data and p_g must have the same shape, got {tuple(p_data.shape)} and {tuple(p_g.shape)}")
    if (p_data < 0).any() or (p_g < 0).any():
        raise ValueError("p_data and p_g are densities and must be >= 0")
    denom = p_data + p_g
    return torch.where(denom > 0, p_data / torch.where(denom > 0, denom, 1.0), 0.5)


# ----------------------------------------------------------------------------------------
# Wasserstein GAN (Arjovsky et al. 2017; Gulrajani et al. 2017)
# ----------------------------------------------------------------------------------------
def wasserstein_d_loss(scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
    r"""Critic loss of the WGAN: minus the Kantorovich-Rubinstein estimate of W1.

    $$L^{(C)} = \mathbb{E}_z[f(G(z))] - \mathbb{E}_x[f(x)],\qquad W_1 \approx -L^{(C)}$$

    The critic f must be (close to) 1-Lipschitz: weight clipping (a callback of the engine) or
    :func:`gradient_penalty`.

    Args:
        scores_real: (B,) or (B, 1) critic outputs on data (no sigmoid).
        scores_fake: (B,) or (B, 1) critic outputs on generated samples.

    Returns:
        Scalar loss; ``-loss`` is the critic's estimate of the Wasserstein-1 distance.

    Reference:
        Arjovsky, Chintala & Bottou, "Wasserstein GAN", ICML 2017, arXiv:1701.07875, Eq. (3), Algorithm 1.
    """
    r, f = _pair(scores_real, scores_fake)
    return f.mean() - r.mean()


def wasserstein_g_loss(scores_fake: torch.Tensor) -> torch.Tensor:
    r"""Generator loss of the WGAN: $L^{(G)} = -\mathbb{E}_z[f(G(z))]$.

    Args:
        scores_fake: (B,) or (B, 1) critic outputs on generated samples.

    Returns:
        Scalar loss.

    Reference:
        Arjovsky et al. 2017, Algorithm 1, line 10.
    """
    return -_flat(scores_fake, "scores_fake").mean()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor, x_fake: torch.Tensor,
                     target: float = 1.0, generator: torch.Generator | None = None,
                     eps: torch.Tensor | None = None) -> torch.Tensor:
    r"""The WGAN-GP penalty on random interpolates between real and generated samples.

    $$\Omega = \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} f(\hat x) \rVert_2 - 1)^2\big],
      \quad \hat x = \epsilon x + (1 - \epsilon) \tilde x,\ \epsilon \sim U[0, 1]$$

    Args:
        critic: maps a batch (B, ...) to scores (B,) or (B, 1) -- or, for a PatchGAN critic, to P scores per
            image ((B, P) or flattened (B * P,)): then $f$ is each image's *mean* patch score, the function whose
            expectation the Wasserstein loss estimates (the gradient of the *sum* of P patch scores would be P
            times its slope, and the penalty would hold the critic to 1/P of the slope it is meant to have).
        x_real: (B, ...) data batch.
        x_fake: (B, ...) generated batch, same shape (detached or not; it is detached here).
        target: the gradient norm aimed at (1 for WGAN-GP).
        generator: optional RNG for epsilon (tests).
        eps: (B, 1, ..., 1) mixing weights in [0, 1] to use instead of drawing them (the exercise reference of
            notebook 07 passes them in).

    Returns:
        Scalar penalty (multiply by lambda = 10 in the critic loss). Differentiable w.r.t. the
        critic's parameters (double back-propagation).

    Raises:
        ValueError: the shapes of ``x_real`` and ``x_fake`` differ, ``eps`` has the wrong shape or comes with a
            ``generator``, or the critic's number of scores is not a multiple of the batch size.

    Reference:
        Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017, arXiv:1704.00028, Eq. (3).
    """
    checks.tensor(x_real, "x_real")
    checks.tensor(x_fake, "x_fake")
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real and x_fake must have the same shape, got {tuple(x_real.shape)} "
                         f"and {tuple(x_fake.shape)}")
    b = x_real.shape[0]
    eps_shape = (b,) + (1,) * (x_real.ndim - 1)
    if eps is None:
        eps = torch.rand(eps_shape, device=x_real.device, dtype=x_real.dtype, generator=generator)
    elif generator is not None:
        raise ValueError("pass either eps or a generator to draw it with, not both")
    elif eps.shape != eps_shape:
        raise ValueError(f"eps must have shape (B, 1, ..., 1) = {eps_shape}, got {tuple(eps.shape)}")
    x_hat = (eps * x_real.detach() + (1 - eps) * x_fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    if scores.numel() % b:
        raise ValueError(f"the critic must give one score per image ((B,) or (B, 1)) or P patch scores per image "
                         f"((B, P) or (B * P,)) for B = {b} images, got {scores.numel()} scores of shape "
                         f"{tuple(scores.shape)}")
    per_image = scores.reshape(b, -1).mean(1)          # a PatchGAN critic: each image's mean patch score
    (grad,) = torch.autograd.grad(per_image.sum(), x_hat, create_graph=True)
    norms = grad.reshape(b, -1).norm(2, dim=1)
    return ((norms - target) ** 2).mean()


def input_gradient(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    r"""Per-sample gradient $\nabla_x J(x_i)$ of a per-sample quantity with respect to the input points.

    For a generator loss written per sample, $J(x) = g(D(x))$ (``fn = lambda x: F.softplus(-D(x))``),
    ``input_gradient(fn, x_fake)[i]`` is the signal $\partial J / \partial x_i$ that reaches the generator
    through sample $i$: near zero where the loss has saturated. The samples must not interact inside ``fn``
    (no batch norm in training mode, no minibatch statistics); then the gradient of the sum is the
    per-sample gradient.

    Args:
        fn: maps points (N, ...) to one value per point, shape (N,) or (N, 1).
        x: (N, ...) floating-point points; left untouched (a detached copy is differentiated).

    Returns:
        (N, ...) gradients, detached, shaped like ``x``.

    Reference:
        Arjovsky & Bottou, "Towards Principled Methods for Training GANs", ICLR 2017, arXiv:1701.04862,
        Fig. 2; Arjovsky et al. 2017, Fig. 2; Mao et al. 2017, arXiv:1611.04076, Fig. 1.
    """
    checks.tensor(x, "x")
    if not x.is_floating_point() or x.ndim < 1 or len(x) == 0:
        raise ValueError(f"x must be a non-empty floating-point batch (N, ...), got dtype {x.dtype} and shape "
                         f"{tuple(x.shape)}")
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        out = fn(x)
    if not isinstance(out, torch.Tensor) or out.shape not in ((len(x),), (len(x), 1)):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(f"fn must return one value per point, shape ({len(x)},) or ({len(x)}, 1), got {got}")
    if not out.requires_grad:
        raise ValueError("fn's output does not depend on x (no gradient to take); was it computed under no_grad?")
    (grad,) = torch.autograd.grad(out.sum(), x)
    return grad


# ----------------------------------------------------------------------------------------
# Least squares GAN (Mao et al. 2017)
# ----------------------------------------------------------------------------------------
def lsgan_d_loss(scores_real: torch.Tensor, scores_fake: torch.Tensor, a: float = 0.0, b: float = 1.0) -> torch.Tensor:
    r"""Least-squares discriminator loss: push real scores to b and fake scores to a.

    $$L^{(D)} = \tfrac12\mathbb{E}_x[(D(x) - b)^2] + \tfrac12\mathbb{E}_z[(D(G(z)) - a)^2]$$

    Args:
        scores_real, scores_fake: (B,) or (B, 1) raw D outputs (no sigmoid).
        a: target for fakes; b: target for data (0-1 coding: a=0, b=1; Eq. (9) coding: a=-1, b=1).

    Returns:
        Scalar loss.

    Reference:
        Mao et al., "Least Squares Generative Adversarial Networks", ICCV 2017, arXiv:1611.04076, Eq. (2).
    """
    r, f = _pair(scores_real, scores_fake)
    return 0.5 * ((r - b) ** 2).mean() + 0.5 * ((f - a) ** 2).mean()


def lsgan_g_loss(scores_fake: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    r"""Least-squares generator loss: $L^{(G)} = \tfrac12\mathbb{E}_z[(D(G(z)) - c)^2]$.

    With b - c = 1 and b - a = 2 (e.g. a=-1, b=1, c=0) the game minimises the Pearson
    chi^2 divergence between p_data + p_g and 2 p_g (Mao et al., Theorem 1).

    Args:
        scores_fake: (B,) or (B, 1) raw D outputs on generated samples.
        c: the value G wants D to believe for fakes (usually c = b = 1).

    Returns:
        Scalar loss.

    Reference:
        Mao et al. 2017, Eq. (2).
    """
    return 0.5 * ((_flat(scores_fake, "scores_fake") - c) ** 2).mean()


# ----------------------------------------------------------------------------------------
# Hinge GAN (Lim & Ye 2017; Miyato et al. 2018)
# ----------------------------------------------------------------------------------------
def hinge_d_loss(scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
    r"""Hinge discriminator loss: $\mathbb{E}_x[\max(0, 1 - D(x))] + \mathbb{E}_z[\max(0, 1 + D(G(z)))]$.

    Args:
        scores_real, scores_fake: (B,) or (B, 1) raw D outputs.

    Returns:
        Scalar loss (>= 0; 0 once every real score >= 1 and every fake score <= -1).

    Reference:
        Lim & Ye, "Geometric GAN", arXiv:1705.02894; Miyato et al., "Spectral Normalization for GANs",
        ICLR 2018, Eq. (16).
    """
    r, f = _pair(scores_real, scores_fake)
    return F.relu(1 - r).mean() + F.relu(1 + f).mean()


def hinge_g_loss(scores_fake: torch.Tensor) -> torch.Tensor:
    r"""Hinge generator loss: $-\mathbb{E}_z[D(G(z))]$ (as in the WGAN).

    Args:
        scores_fake: (B,) or (B, 1) raw D outputs on generated samples.

    Returns:
        Scalar loss.

    Reference:
        Miyato et al. 2018, Eq. (17).
    """
    return -_flat(scores_fake, "scores_fake").mean()


# ----------------------------------------------------------------------------------------
# Image losses for the applications (super-resolution, restoration, style, aging)
# ----------------------------------------------------------------------------------------
def total_variation(x: torch.Tensor, squared: bool = False) -> torch.Tensor:
    r"""Total-variation regulariser of an image batch (mean over pixels and batch).

    Anisotropic (default): $\mathrm{TV}(x) = \operatorname{mean}|x_{i+1,j} - x_{i,j}| + \operatorname{mean}|x_{i,j+1} - x_{i,j}|$;
    ``squared=True`` uses squared differences (SRGAN's $l_{TV}$ as implemented in most code).

    Args:
        x: (B, C, H, W) images (any range), H, W >= 2.
        squared: squared instead of absolute differences.

    Returns:
        Scalar.

    Reference:
        Rudin, Osher & Fatemi 1992; Ledig et al., "Photo-Realistic Single Image Super-Resolution Using a GAN",
        CVPR 2017, arXiv:1609.04802 (regularisation term); Zhang et al., CAAE, arXiv:1702.08423, Eq. (5).
    """
    checks.image_batch(x, "x")
    if min(x.shape[-2:]) < 2:
        raise ValueError(f"total_variation needs H, W >= 2, got {tuple(x.shape[-2:])}")
    dh, dw = x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]
    f = torch.square if squared else torch.abs
    return f(dh).mean() + f(dw).mean()


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    r"""Gram matrices $G_{cc'} = \frac{1}{HW} \sum_{p} F_{c p} F_{c' p}$ of feature maps.

    Args:
        features: (B, C, H, W) feature maps.

    Returns:
        (B, C, C).

    Reference:
        Gatys, Ecker & Bethge, "Image Style Transfer Using CNNs", CVPR 2016, Eq. (3) (normalised by the number of
        positions, as in SRNTT's texture loss).
    """
    checks.ndim(features, "features", 4, "(B, C, H, W)")
    f = features.flatten(2)
    return f @ f.transpose(1, 2) / f.shape[-1]


def texture_loss(features_fake: torch.Tensor, features_target: torch.Tensor,
                 weight: torch.Tensor | None = None) -> torch.Tensor:
    r"""Gram-matrix texture loss $\lVert G(\phi(x) \odot S) - G(\phi(t) \odot S) \rVert_F^2$ (mean over entries).

    Args:
        features_fake, features_target: (B, C, H, W) feature maps of the output and the texture target.
        weight: optional (B, 1, H, W) map S multiplied into both (SRNTT's weight map of reference similarity).

    Returns:
        Scalar.

    Reference:
        Zhang et al., "Image Super-Resolution by Neural Texture Transfer" (SRNTT), CVPR 2019, arXiv:1903.00834,
        Eq. (5); Gatys et al. 2016.
    """
    checks.ndim(features_fake, "features_fake", 4, "(B, C, H, W)")
    if features_fake.shape != features_target.shape:
        raise ValueError(f"feature maps must have the same shape, got {tuple(features_fake.shape)} and "
                         f"{tuple(features_target.shape)}")
    if weight is not None:
        checks.ndim(weight, "weight", 4, "(B, 1, H, W)")
        features_fake, features_target = features_fake * weight, features_target * weight
    return F.mse_loss(gram_matrix(features_fake), gram_matrix(features_target))


def perceptual(x: torch.Tensor, target: torch.Tensor, net: Callable, layer: str) -> torch.Tensor:
    r"""Content (perceptual) loss $\frac{1}{W H C}\lVert \phi(x) - \phi(y) \rVert^2$ on one layer of a feature net.

    Args:
        x: (B, 3, H, W) images in [0, 1] (gradients flow into ``x``).
        target: (B, 3, H, W) images in [0, 1] (no gradient).
        net: a frozen ``features.FeatureNet`` (``net(x, layers)`` returns ``{layer: (B, C, h, w)}``).
        layer: the tap, e.g. ``net.default_low`` (SRGAN's VGG22) or ``net.default_high`` (VGG54).

    Returns:
        Scalar.

    Reference:
        Johnson et al. 2016, arXiv:1603.08155, Eq. (2); Ledig et al. 2017 (SRGAN), Eq. (5).
    """
    if x.shape != target.shape:
        raise ValueError(f"x and target must have the same shape, got {tuple(x.shape)} and {tuple(target.shape)}")
    fx = net(x, [layer])[layer]
    with torch.no_grad():
        ft = net(target, [layer])[layer]
    return F.mse_loss(fx, ft)
