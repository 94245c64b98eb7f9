"""Likelihoods of the explicit-density models: NLL in nats and bits/dim, KL, ELBO, IWAE, sampling.

Every function returns one value *per example* (shape ``(B,)``), summed over the data
dimensions, so a mean over the batch is the usual "test NLL in nats". Conversions::

    bits/dim = nats / (D * ln 2)        # D = C * H * W dimensions per example

The autoregressive sampling loop (:func:`sample_autoregressive`) works for any model that maps
a partially filled image to per-pixel logits (PixelCNN, Gated PixelCNN, a PixelCNN prior over
VQ-VAE codes); :func:`to_levels` / :func:`from_levels` convert images to the integer levels of a
256-way softmax and back; :func:`seconds_per_sample` times a sampler.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checks, train

LN2 = math.log(2.0)


# --------------------------------------------------------------------------------------
# Units
# --------------------------------------------------------------------------------------
def to_levels(x: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Images in [0, 1] -> integer levels ``round(x (K - 1))`` in ``[0, K)`` (long): the targets of a K-way softmax.

    Args:
        x: (B, ...) floats in [0, 1] (8-bit images stored as ``k / 255`` come back exactly as ``k``).
        levels: K (256 for 8-bit gray levels).

    Returns:
        Long tensor of the same shape with values in ``[0, K)``.

    Reference:
        van den Oord et al. 2016, "Pixel Recurrent Neural Networks", arXiv:1601.06759, Sec. 3.4 (pixels as
        discrete values, one 256-way softmax per pixel).
    """
    checks.floating(x, "x")
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    checks.value_range(x, "x", 0.0, 1.0)
    return (x * (levels - 1)).round().long().clamp_(0, levels - 1)


def from_levels(k: torch.Tensor, levels: int = 256) -> torch.Tensor:
    """Integer levels in ``[0, K)`` -> float images ``k / (K - 1)`` in [0, 1] (the inverse of :func:`to_levels`)."""
    checks.tensor(k, "k")
    if k.is_floating_point():
        raise TypeError(f"k must hold integer levels (long), got dtype {k.dtype}")
    if levels < 2:
        raise ValueError(f"levels must be >= 2, got {levels}")
    return k.float() / (levels - 1)


def bits_per_dim(nats: torch.Tensor | float, num_dims: int) -> torch.Tensor | float:
    """Convert a negative log-likelihood per example from nats to bits per dimension.

    Args:
        nats: NLL per example in nats (a number or a tensor of any shape).
        num_dims: dimensions per example D (``C * H * W``; 784 for MNIST).

    Returns:
        ``nats / (D ln 2)``, same type as ``nats``.

    Reference:
        van den Oord et al. 2016, "Pixel Recurrent Neural Networks", arXiv:1601.06759, Sec. 5.
    """
    checks.positive_int(num_dims, "num_dims")
    return nats / (num_dims * LN2)


def nats_from_bits_per_dim(bpd: torch.Tensor | float, num_dims: int) -> torch.Tensor | float:
    """Inverse of :func:`bits_per_dim`: ``bpd * D * ln 2`` nats per example."""
    checks.positive_int(num_dims, "num_dims")
    return bpd * num_dims * LN2


def num_dims(x: torch.Tensor) -> int:
    """Dimensions per example D of a batch ``(B, ...)`` (``C * H * W`` for images)."""
    checks.tensor(x, "x")
    if x.ndim < 2:
        raise ValueError(f"x must be a batch (B, ...) with at least 2 dims, got shape {tuple(x.shape)}")
    return int(x[0].numel())


# --------------------------------------------------------------------------------------
# Negative log-likelihoods
# --------------------------------------------------------------------------------------
def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood per example, in nats.

    $$ -\\log p(x) = -\\sum_d x_d \\log \\sigma(l_d) + (1 - x_d) \\log(1 - \\sigma(l_d)) $$

    Args:
        logits: (B, ...) unnormalised log-odds of each dimension being 1.
        x: (B, ...) targets in [0, 1] (binary data, or probabilities), same shape.

    Returns:
        (B,) NLL in nats, summed over all non-batch dimensions.
    """
    checks.floating(logits, "logits")
    checks.floating(x, "x")
    if logits.shape != x.shape:
        raise ValueError(f"logits and x must have the same shape, got {tuple(logits.shape)} and {tuple(x.shape)}")
    checks.value_range(x, "x", 0.0, 1.0)
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def categorical_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Categorical (softmax) negative log-likelihood per example, in nats.

    Args:
        logits: (B, K, ...) scores for K values of each dimension (PixelCNN: (B, K, C, H, W)).
        x: (B, ...) integer targets in ``[0, K)`` (long), shape of ``logits`` without dim 1.

    Returns:
        (B,) NLL in nats summed over all dimensions.

    Reference:
        van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Sec. 3.4 (discrete softmax).
    """
    checks.floating(logits, "logits")
    checks.tensor(x, "x")
    if x.is_floating_point():
        raise TypeError(f"x must hold integer class indices (long), got dtype {x.dtype}; use (x * (K-1)).round().long()")
    if logits.ndim != x.ndim + 1 or logits.shape[:1] + logits.shape[2:] != x.shape:
        raise ValueError(f"logits must be (B, K, ...) with x (B, ...); got {tuple(logits.shape)} and {tuple(x.shape)}")
    k = logits.shape[1]
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= k):
        raise ValueError(f"x must be in [0, {k}) for {k} logits, got values in [{int(x.min())}, {int(x.max())}]")
    return F.cross_entropy(logits, x.long(), reduction="none").flatten(1).sum(1)


def nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """NLL per example of a Bernoulli (logits shaped like x) or categorical (logits (B, K, ...)) model.

    Args:
        logits: (B, ...) Bernoulli logits, or (B, K, ...) categorical logits.
        x: (B, ...) binary floats in [0, 1], or long indices in ``[0, K)``.

    Returns:
        (B,) NLL in nats (see :func:`bernoulli_nll`, :func:`categorical_nll`).
    """
    checks.tensor(logits, "logits")
    checks.tensor(x, "x")
    if logits.ndim == x.ndim + 1:
        return categorical_nll(logits, x)
    return bernoulli_nll(logits, x)


@torch.no_grad()
def evaluate_nll(model: Callable[..., torch.Tensor], x: torch.Tensor, y: torch.Tensor | None = None,
                 batch_size: int = 250) -> torch.Tensor:
    """NLL per example (nats) of an autoregressive model over a whole data set, in batches.

    Args:
        model: ``model(x)`` or ``model(x, y)`` -> logits (see :func:`nll`); it runs in eval mode (its
            training flag is restored afterwards).
        x: (N, C, H, W) binary floats or long indices.
        y: optional (N,) labels for a class-conditional model.
        batch_size: examples per forward pass.

    Returns:
        (N,) NLL in nats on the model's device moved to the CPU; ``.mean()`` is the test NLL.
    """
    checks.ndim(x, "x", 4, "(N, C, H, W)")
    checks.positive_int(batch_size, "batch_size")
    device = next(model.parameters()).device if hasattr(model, "parameters") else torch.device("cpu")
    out = []
    with train.eval_mode(*([model] if isinstance(model, nn.Module) else [])):
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size].to(device)
            logits = model(xb) if y is None else model(xb, y[i:i + batch_size].to(device))
            out.append(nll(logits, xb).cpu())
    return torch.cat(out)


def independent_categorical_nll(x_train: torch.Tensor, x: torch.Tensor, num_classes: int, per_position: bool = True,
                                pseudocount: float = 1.0) -> torch.Tensor:
    r"""NLL per example (nats) under an *independent* categorical model fitted to ``x_train``.

    The baseline an autoregressive prior must beat: every position is drawn on its own, from the smoothed
    frequencies of the training data (no position looks at another),

    $$ p(k_i = j) = \frac{n_{ij} + \alpha}{\sum_{j'} n_{ij'} + K\alpha}, \qquad
       -\log p(x) = -\sum_i \log p(k_i = x_i), $$

    with $n_{ij}$ the count of value $j$ at position $i$ (``per_position=True``) or at any position
    (``per_position=False``: one shared histogram), and $\alpha$ the ``pseudocount`` (1 = Laplace), so a
    value never seen in training still has a finite NLL. With uniform counts it is $D\log K$.

    Args:
        x_train: (N, ...) long values in ``[0, num_classes)`` that fit the frequencies (e.g. VQ-VAE code maps).
        x: (B, ...) long values to score, same shape as ``x_train`` after the batch dimension.
        num_classes: K.
        per_position: one histogram per position (True) or one for all positions.
        pseudocount: alpha > 0 added to every count.

    Returns:
        (B,) NLL in nats summed over the positions.

    Reference:
        van den Oord et al. 2017, "Neural Discrete Representation Learning", arXiv:1711.00937, Sec. 3.2
        (the prior is uniform while the VQ-VAE trains; an autoregressive prior over the codes is fit afterwards).
    """
    checks.positive_int(num_classes, "num_classes")
    if not pseudocount > 0:
        raise ValueError(f"pseudocount must be > 0 (it keeps unseen values finite), got {pseudocount}")
    for t, name in ((x_train, "x_train"), (x, "x")):
        checks.tensor(t, name)
        if t.is_floating_point():
            raise TypeError(f"{name} must hold integer values (long), got dtype {t.dtype}")
        if t.ndim < 2:
            raise ValueError(f"{name} must be (N, ...) with at least one position, got shape {tuple(t.shape)}")
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= num_classes):
            raise ValueError(f"{name} must be in [0, {num_classes}), got values in [{int(t.min())}, {int(t.max())}]")
    if x_train.shape[1:] != x.shape[1:]:
        raise ValueError(f"x_train {tuple(x_train.shape)} and x {tuple(x.shape)} differ after the batch dimension")
    tr, xs = x_train.flatten(1).long().cpu(), x.flatten(1).long().cpu()
    d = tr.shape[1]
    if per_position:                                     # counts[i, j]: value j at position i
        counts = torch.zeros(d, num_classes, dtype=torch.float64)
        counts.scatter_add_(1, tr.t(), torch.ones(d, len(tr), dtype=torch.float64))
    else:
        counts = torch.bincount(tr.flatten(), minlength=num_classes).double().expand(d, -1)
    log_p = (counts + pseudocount).log() - (counts.sum(1, keepdim=True) + num_classes * pseudocount).log()  # (D, K)
    return -log_p.gather(1, xs.t()).sum(0)             # (B,)


def log_normal(z: torch.Tensor, mu: torch.Tensor | float = 0.0, logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Log density of a diagonal Gaussian, summed over the last dimension.

    Args:
        z: (..., D) points.
        mu, logvar: (..., D) mean and log-variance (broadcast; 0 for the standard normal).

    Returns:
        (...,) ``log N(z; mu, diag(exp(logvar)))`` in nats.
    """
    checks.floating(z, "z")
    mu = torch.as_tensor(mu, dtype=z.dtype, device=z.device)
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return -0.5 * (math.log(2 * math.pi) + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


# --------------------------------------------------------------------------------------
# KL and ELBO
# --------------------------------------------------------------------------------------
def kl_normal(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor | float = 0.0,
              logvar_p: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Closed-form KL( N(mu, diag e^logvar) || N(mu_p, diag e^logvar_p) ) per example.

    With the standard-normal prior (defaults) this is Kingma & Welling's Appendix B:

    $$ D_{KL} = \\tfrac12 \\sum_j (\\mu_j^2 + \\sigma_j^2 - 1 - \\log \\sigma_j^2) $$

    Args:
        mu, logvar: (B, D) parameters of q(z|x).
        mu_p, logvar_p: (B, D) or scalars, parameters of the prior.

    Returns:
        (B,) KL in nats (>= 0).

    Reference:
        Kingma & Welling 2014, "Auto-Encoding Variational Bayes", arXiv:1312.6114, Appendix B.
    """
    checks.ndim(mu, "mu", 2, "(B, D)")
    checks.floating(mu, "mu")
    if logvar.shape != mu.shape:
        raise ValueError(f"mu and logvar must have the same shape (B, D), got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    mu_p = torch.as_tensor(mu_p, dtype=mu.dtype, device=mu.device)
    logvar_p = torch.as_tensor(logvar_p, dtype=mu.dtype, device=mu.device)
    return 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p) ** 2) * torch.exp(-logvar_p) - 1).sum(-1)


def elbo(recon_nll: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Evidence lower bound per example: ``ELBO = E_q[log p(x|z)] - beta * KL(q(z|x) || p(z))``.

    Args:
        recon_nll: (B,) reconstruction term ``-log p(x|z)`` in nats (one sample of z).
        kl: (B,) KL term in nats.
        beta: weight of the KL (1 = the VAE bound; beta-VAE uses beta > 1).

    Returns:
        (B,) ELBO in nats (a lower bound on log p(x) when beta = 1); minimise ``-elbo(...).mean()``.

    Reference:
        Kingma & Welling 2014, Eq. (3); Higgins et al. 2017, "beta-VAE", Eq. (4).
    """
    checks.tensor(recon_nll, "recon_nll")
    checks.tensor(kl, "kl")
    if recon_nll.shape != kl.shape:
        raise ValueError(f"recon_nll and kl must both be (B,), got {tuple(recon_nll.shape)} and {tuple(kl.shape)}")
    if beta < 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    return -(recon_nll + beta * kl)


def log_mean_exp(log_w: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable ``log( mean_k exp(log_w_k) )`` along ``dim``."""
    checks.floating(log_w, "log_w")
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


@torch.no_grad()
def importance_log_px(x: torch.Tensor, encode: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                      decode: Callable[[torch.Tensor], torch.Tensor], num_samples: int = 100,
                      batch_size: int = 100, generator: torch.Generator | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Importance-weighted estimate of log p(x) (the IWAE bound) and the ELBO, per example.

    $$ \\log p(x) \\gtrsim \\log \\frac1K \\sum_{k=1}^K \\frac{p(x|z_k)\\,p(z_k)}{q(z_k|x)},
       \\quad z_k \\sim q(z|x) $$

    The bound tightens as K grows; K = 1 gives the ELBO in expectation. The decoder is a
    Bernoulli likelihood (logits), the prior is N(0, I).

    Args:
        x: (N, C, H, W) binary data in [0, 1].
        encode: ``x -> (mu, logvar)``, each (B, D).
        decode: ``z (B, D) -> logits`` of x's shape ``(B, C, H, W)``.
        num_samples: K importance samples per example.
        batch_size: examples per forward chunk (memory: batch_size * K decodes at once).
        generator: optional seeded generator for the noise.

    Returns:
        ``(log_px, elbo)``: two (N,) tensors in nats; ``-log_px.mean()`` is the test NLL.

    Reference:
        Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", arXiv:1509.00519, Eq. (8).
    """
    checks.ndim(x, "x", (2, 3, 4), "(N, ...)")
    checks.positive_int(num_samples, "num_samples")
    checks.positive_int(batch_size, "batch_size")
    log_px, elbos = [], []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        mu, logvar = encode(xb)
        b, d = mu.shape
        eps = torch.randn(b, num_samples, d, generator=generator, device="cpu").to(mu)
        z = mu[:, None] + eps * torch.exp(0.5 * logvar)[:, None]                 # (b, K, d)
        logits = decode(z.reshape(b * num_samples, d))
        xr = xb[:, None].expand(b, num_samples, *xb.shape[1:]).reshape(b * num_samples, *xb.shape[1:])
        log_px_z = -bernoulli_nll(logits, xr).reshape(b, num_samples)
        log_w = log_px_z + log_normal(z) - log_normal(z, mu[:, None], logvar[:, None])   # (b, K)
        log_px.append(log_mean_exp(log_w, 1))
        elbos.append(log_w.mean(1))
    return torch.cat(log_px), torch.cat(elbos)


# --------------------------------------------------------------------------------------
# Sampling pixel by pixel
# --------------------------------------------------------------------------------------
@torch.no_grad()
def sample_autoregressive(model: Callable[[torch.Tensor], torch.Tensor], shape: Sequence[int],
                          levels: int | None = None, num_frames: int = 0, temperature: float = 1.0,
                          generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                          context_rows: int | None = None, pass_top: bool = False
                          ) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Draw samples from an autoregressive image model one pixel (and channel) at a time.

    For every position in raster order (row by row, left to right, channels R -> G -> B inside
    a pixel) the model is run on the partial image and the value of that position is drawn
    from its conditional ``p(x_i | x_<i)``; later positions are still 0 and are ignored by a
    causal model. A categorical model's value is drawn from its K-way softmax
    (``torch.multinomial``); a Bernoulli model's from the sigmoid of its logit.

    With ``context_rows = R`` the model runs only on the rows ``i - R ... i`` of the current row i
    (fewer at the top). For a causal convolutional network whose receptive field reaches R rows up
    (``net.context_rows`` of :class:`course_lib.nets.autoregressive.PixelCNN`) the conditionals, and so
    the samples for the same random numbers, are those of the full image: the rows further up and the
    rows below cannot change them. It does about ``H / (R + 1)`` times less work.

    Args:
        model: ``x -> logits``; Bernoulli models (``levels=None``) take float x (B, C, H, W) and
            return logits (B, C, H, W); categorical models take long x and return (B, K, C, H, W).
        shape: ``(B, C, H, W)`` of the batch to sample.
        levels: None for binary (Bernoulli) pixels, else K for values in ``[0, K)``.
        num_frames: also return this many partial samples, evenly spaced in time (for a strip).
        temperature: divide logits by this (< 1: sharper, > 1: more random).
        generator: optional seeded CPU generator.
        device: where to run the model.
        context_rows: None (run on the whole image) or R >= 0, the rows above a pixel the model can see.
        pass_top: call ``model(window, top=r)`` with the window's first row r on the canvas (0 without
            ``context_rows``): for a model whose conditionals depend on where the window is, such as a
            PixelCNN with a class map.

    Returns:
        ``(x, frames)``: the samples (float {0,1} or long indices) and a list of partial samples.

    Reference:
        van den Oord et al. 2016, "Pixel Recurrent Neural Networks", Sec. 2 (generation pixel by pixel).
    """
    if len(shape) != 4:
        raise ValueError(f"shape must be (B, C, H, W), got {tuple(shape)}")
    for s, n in zip(shape, "BCHW"):
        checks.positive_int(int(s), f"shape {n}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if context_rows is not None and (isinstance(context_rows, bool) or not isinstance(context_rows, int)
                                     or context_rows < 0):
        raise ValueError(f"context_rows must be None or an int >= 0 (the rows above a pixel the model sees, "
                         f"e.g. net.context_rows), got {context_rows!r}")
    b, c, h, w = (int(s) for s in shape)
    x = torch.zeros(b, c, h, w, device=device, dtype=torch.float32 if levels is None else torch.long)
    total = c * h * w
    marks = {round(t) for t in torch.linspace(0, total, num_frames + 1)[1:].tolist()} if num_frames else set()
    frames: list[torch.Tensor] = []
    t = 0
    for i in range(h):
        top = 0 if context_rows is None else max(0, i - context_rows)
        r = i - top                                     # row i inside the window the model sees
        for j in range(w):
            for ch in range(c):
                window = x if context_rows is None else x[:, :, top:i + 1]
                logits = model(window, top=top) if pass_top else model(window)
                if levels is None:
                    p = torch.sigmoid(logits[:, ch, r, j] / temperature)
                    u = torch.rand(b, generator=generator).to(p)
                    x[:, ch, i, j] = (u < p).float()
                else:
                    probs = torch.softmax(logits[:, :, ch, r, j] / temperature, dim=1)
                    x[:, ch, i, j] = torch.multinomial(probs.cpu(), 1, generator=generator)[:, 0].to(x.device)
                t += 1
                if t in marks:
                    frames.append(x.clone().cpu())
    return x, frames


def seconds_per_sample(sample: Callable[[int], Any], n: int, repeats: int = 1, warmup: bool = False
                       ) -> tuple[float, Any]:
    """Wall-clock seconds per sample of a sampler: the median time of ``sample(n)`` divided by n.

    Used to compare the cost of one image: pixel-by-pixel sampling (D network passes) against a decoder
    that maps a latent code to all pixels in one pass.

    Args:
        sample: ``sample(n)`` draws a batch of n samples (a CUDA queue is synchronised before the clock stops).
        n: batch size of each call.
        repeats: timed calls (the median is taken).
        warmup: make one untimed call first (allocations, lazy initialisation).

    Returns:
        ``(seconds per sample, output of the last call)``.
    """
    checks.positive_int(n, "n")
    checks.positive_int(repeats, "repeats")
    if not callable(sample):
        raise TypeError(f"sample must be callable (n -> samples), got {type(sample).__name__}")

    def sync() -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    if warmup:
        sample(n)
        sync()
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = sample(n)
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / n, out
