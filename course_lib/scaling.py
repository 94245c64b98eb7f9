"""Tools for scaling GANs up: Laplacian pyramids, truncation, orthogonal regularisation, fade-in, style mixing.

The networks live in :mod:`course_lib.nets.scaling`; this module holds what is *not* a network:

* **LAPGAN** (Denton et al. 2015): :func:`lapgan_sample` (coarse to fine). The pyramid and its d(.) / u(.)
  are shared image operations: ``images.laplacian_pyramid`` / ``images.reconstruct_laplacian``,
  ``images.downsample(x, 2, "area")`` / ``images.upsample(x, 2, "bilinear")``.
* **Progressive growing** (Karras et al. 2018): :func:`fade_in_schedule` (stage and alpha at a step) and the
  :class:`FadeIn` callback that sets them on growing networks during ``gan.Trainer.fit``.
* **R1** (Mescheder et al. 2018): :func:`r1_penalty`, a ``penalty`` for ``gan.variant`` (StyleGAN's loss is
  the non-saturating one with R1).
* **BigGAN** (Brock et al. 2019): :func:`truncated_normal` (the truncation trick),
  :func:`orthogonal_regularisation` (Eq. 3, off-diagonal; and the full ``||W W^T - I||^2`` form) and
  :func:`orthogonal_term` (a ``g_terms`` entry for the engine); :func:`truncation_sweep` measures a
  generator at several truncations (threshold or psi).
* **StyleGAN** (Karras et al. 2019): :func:`mix_styles` (per-layer w's for style mixing),
  :func:`truncate_w` (truncation in W) and :func:`style_mixing_agreement` (do the coarse styles set the class?).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from . import checks, gan, images


# ----------------------------------------------------------------------------------------
# LAPGAN's sampler (the pyramid itself: images.laplacian_pyramid / reconstruct_laplacian)
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def lapgan_sample(coarse: torch.Tensor, generators: Sequence[nn.Module], noise_channels: int = 1,
                  draws: int = 1, seed: int | None = None) -> torch.Tensor:
    r"""LAPGAN's coarse-to-fine sampler: $\tilde I_k = u(\tilde I_{k+1}) + G_k(z_k, u(\tilde I_{k+1}))$.

    Args:
        coarse: (B, C, h, w) coarsest images $\tilde I_K$ (from the coarsest generator, or real).
        generators: conditional generators, coarse to fine; each is called as ``G(z, l)`` with
            ``l = u(I)`` and a noise plane ``z`` (B, noise_channels, 2h, 2w), and returns the image
            ``l + h`` at the next resolution (see ``nets.scaling.LevelGenerator``).
        noise_channels: channels of each z plane.
        draws: samples per coarse image (the rows repeat each coarse image ``draws`` times).
        seed: seed of the z's (None: the global stream).

    Returns:
        (B * draws, C, h * 2**len(generators), ...) images, image b's draws at rows b*draws ... b*draws + draws - 1.

    Reference:
        Denton et al. 2015, Sec. 3.2, Eq. (4) and Fig. 1 (sampling procedure).
    """
    checks.image_batch(coarse, "coarse")
    checks.positive_int(draws, "draws")
    g = torch.Generator().manual_seed(seed) if seed is not None else None
    image = coarse.repeat_interleave(draws, 0)
    for G in generators:
        low = images.upsample(image, 2, "bilinear")          # u(I_{k+1})
        z = torch.randn(len(low), noise_channels, *low.shape[-2:], generator=g).to(low)
        image = G(z, low)
    return image


# ----------------------------------------------------------------------------------------
# Progressive growing: the fade-in schedule
# ----------------------------------------------------------------------------------------
def fade_in_schedule(step: int, stage_steps: int, fade_steps: int, num_stages: int) -> tuple[int, float]:
    r"""Stage (resolution index) and fade-in weight alpha at a training step.

    Stage 0 trains the lowest resolution for ``stage_steps``; every later stage first fades its new
    layers in over ``fade_steps`` (alpha rises linearly from 0 to 1) and then trains them for the rest
    of its ``stage_steps``; the last stage stays at alpha = 1 forever.

    $$x_\text{out} = (1 - \alpha)\,u(\text{toRGB}_{s-1}(h_{s-1})) + \alpha\,\text{toRGB}_s(h_s)$$

    Args:
        step: completed generator updates (>= 0).
        stage_steps: steps per stage (>= fade_steps).
        fade_steps: steps of the linear fade (>= 1).
        num_stages: number of resolutions.

    Returns:
        ``(stage, alpha)`` with stage in [0, num_stages - 1] and alpha in [0, 1].

    Reference:
        Karras et al., "Progressive Growing of GANs for Improved Quality, Stability, and Variation",
        ICLR 2018, arXiv:1710.10196, Sec. 2 and Fig. 2.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    checks.positive_int(stage_steps, "stage_steps")
    checks.positive_int(fade_steps, "fade_steps")
    checks.positive_int(num_stages, "num_stages")
    if fade_steps > stage_steps:
        raise ValueError(f"fade_steps ({fade_steps}) must not exceed stage_steps ({stage_steps})")
    stage = min(step // stage_steps, num_stages - 1)
    if stage == 0:
        return 0, 1.0
    into = step - stage * stage_steps
    return stage, min(1.0, into / fade_steps)


class FadeIn(gan.Callback):
    """Grow networks during training: set ``stage`` and ``alpha`` of each from :func:`fade_in_schedule`.

    The networks (``nets.scaling.ProgressiveGenerator`` / ``ProgressiveDiscriminator``) hold every
    resolution's layers from the start; the schedule decides which are used. The stage and alpha
    follow from the step alone, so a resumed run continues where it stopped. Logs ``stage`` and ``alpha``.

    Args:
        stage_steps, fade_steps: see :func:`fade_in_schedule`.
        nets: extra networks to grow besides the trainer's generator, discriminator and the generator of any
            ``gan.EMA`` callback (grown too, so EMA samples follow the schedule).

    Reference:
        Karras et al. 2018, arXiv:1710.10196, Sec. 2.
    """

    def __init__(self, stage_steps: int, fade_steps: int, nets: Sequence[nn.Module] = ()):
        self.stage_steps = checks.positive_int(stage_steps, "stage_steps")
        self.fade_steps = checks.positive_int(fade_steps, "fade_steps")
        if fade_steps > stage_steps:
            raise ValueError(f"fade_steps ({fade_steps}) must not exceed stage_steps ({stage_steps})")
        self.extra = list(nets)

    def _nets(self, trainer: gan.Trainer) -> list[nn.Module]:
        emas = [cb.generator for cb in trainer.callbacks if isinstance(cb, gan.EMA) and cb.generator is not None]
        found = [trainer.generator, trainer.discriminator, *emas, *self.extra]
        for net in found:
            if not (hasattr(net, "stage") and hasattr(net, "alpha") and hasattr(net, "num_stages")):
                raise TypeError(f"FadeIn needs growing networks with .stage, .alpha and .num_stages; "
                                f"{type(net).__name__} has not")
        return found

    def set(self, trainer: gan.Trainer, step: int) -> tuple[int, float]:
        """Set stage and alpha for ``step`` on every network; returns them."""
        nets = self._nets(trainer)
        stage, alpha = fade_in_schedule(step, self.stage_steps, self.fade_steps, nets[0].num_stages)
        for net in nets:
            net.stage, net.alpha = stage, alpha
        return stage, alpha

    def on_begin(self, trainer: gan.Trainer) -> None:
        self.set(trainer, trainer.step)

    def after_g_step(self, trainer: gan.Trainer, step: int) -> None:
        self.set(trainer, step)

    def on_log(self, trainer: gan.Trainer, step: int, logs: dict[str, float]) -> None:
        logs["stage"], logs["alpha"] = float(trainer.generator.stage), float(trainer.generator.alpha)


# ----------------------------------------------------------------------------------------
# R1: a gradient penalty on the real data (progressive growing, StyleGAN)
# ----------------------------------------------------------------------------------------
def r1_penalty(critic: Callable[[torch.Tensor], torch.Tensor], x_real: torch.Tensor,
               x_fake: torch.Tensor | None = None) -> torch.Tensor:
    r"""The R1 penalty, $R_1 = \mathbb E_{x \sim p_\text{data}}\big[\lVert \nabla_x D(x) \rVert^2\big]$.

    D is pushed to be flat on the real data, which stops it from overshooting there (Mescheder et al.
    show that the non-saturating GAN with R1 converges locally where the plain one oscillates). Use it as the
    variant's penalty with weight $\gamma / 2$: ``gan.variant("ns", penalty=scaling.r1_penalty,
    penalty_weight=gamma / 2)`` (StyleGAN: $\gamma = 10$ on FFHQ). The fakes are not used (the argument
    is there for the engine's ``penalty(D, x_real, x_fake)`` call).

    Args:
        critic: maps (B, ...) to scores (B,) or (B, 1).
        x_real: (B, ...) real batch.
        x_fake: ignored.

    Returns:
        A scalar >= 0, differentiable with respect to the critic's parameters (double back-propagation).

    Reference:
        Mescheder, Geiger & Nowozin, "Which Training Methods for GANs do actually Converge?", ICML 2018,
        arXiv:1801.04406, Eq. (9); Karras et al. 2019, arXiv:1812.04948, Appendix C.
    """
    checks.tensor(x_real, "x_real")
    x = x_real.detach().requires_grad_(True)
    scores = critic(x)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    return grad.pow(2).reshape(len(x), -1).sum(1).mean()


# ----------------------------------------------------------------------------------------
# BigGAN: truncation trick and orthogonal regularisation
# ----------------------------------------------------------------------------------------
def truncated_normal(shape: Sequence[int] | int, threshold: float | None,
                     generator: torch.Generator | None = None, max_rounds: int = 1000) -> torch.Tensor:
    r"""z ~ N(0, I) truncated to $|z_i| \le$ threshold by resampling the values outside.

    Args:
        shape: output shape, e.g. ``(n, latent_dim)``.
        threshold: truncation threshold > 0; None means no truncation (plain N(0, I)).
        generator: random generator (seeded draws).
        max_rounds: resampling rounds before giving up (never reached for threshold >= 0.05).

    Returns:
        A float tensor of ``shape`` with every |value| <= threshold, on the CPU (the draws do not depend on
        the device): move it to the generator's device, ``truncated_normal(...).to(cfg.device)``.

    Reference:
        Brock et al., "Large Scale GAN Training for High Fidelity Natural Image Synthesis", ICLR 2019,
        arXiv:1809.11096, Sec. 3.1 ("values which fall outside the range are resampled").
    """
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    z = torch.randn(shape, generator=generator)
    if threshold is None:
        return z
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0 (or None for no truncation), got {threshold}")
    for _ in range(max_rounds):
        out = z.abs() > threshold
        if not out.any():
            return z
        z[out] = torch.randn(int(out.sum()), generator=generator)
    raise RuntimeError(f"truncated_normal: values above threshold {threshold} remain after {max_rounds} rounds")


def truncate_w(w: torch.Tensor, w_avg: torch.Tensor, psi: float) -> torch.Tensor:
    r"""StyleGAN's truncation in W: $w' = \bar w + \psi\,(w - \bar w)$.

    Args:
        w: (B, w_dim) or (B, L, w_dim) intermediate latents.
        w_avg: (w_dim,) their mean (estimated from many mapped z).
        psi: 1 = no truncation, 0 = the average image.

    Reference:
        Karras et al., "A Style-Based Generator Architecture for GANs", CVPR 2019, arXiv:1812.04948,
        Appendix B ("Truncation trick in W").
    """
    checks.ndim(w, "w", (2, 3), "(B, w_dim) or (B, L, w_dim)")
    checks.ndim(w_avg, "w_avg", 1, "(w_dim,)")
    if w.shape[-1] != w_avg.shape[0]:
        raise ValueError(f"w has w_dim {w.shape[-1]} but w_avg has {w_avg.shape[0]}")
    return w_avg + psi * (w - w_avg)


@torch.no_grad()
def truncation_sweep(generator: nn.Module, latent_dim: int, values: Sequence[float | None],
                     evaluate: Callable[[torch.Tensor], dict[str, float]], n: int, kind: str = "psi",
                     seed: int = 11, batch_size: int = 500) -> list[dict[str, float | None]]:
    r"""Sample a generator at several truncations of z and measure each sample set.

    ``kind="psi"`` scales the latents towards their mean (0 for $z \sim \mathcal N(0, I)$),
    $z' = \psi z$ -- the form of :func:`truncate_w` in Z; ``kind="threshold"`` draws BigGAN's truncated
    normal (:func:`truncated_normal`, $|z_i| \le$ threshold). The same seed serves every value, so the sets
    differ only by the truncation. The generator samples in ``eval()`` mode (batch norm would otherwise
    re-normalise each batch and undo the truncation); its mode is restored afterwards.

    Args:
        generator: z (B, latent_dim) -> x (B, ...).
        latent_dim: size of z.
        values: psi in [0, 1] or thresholds > 0; None = no truncation.
        evaluate: ``evaluate(x) -> {metric: value}`` for the n samples (e.g. FID, precision, recall).
        n: samples per value.
        kind: ``"psi"`` or ``"threshold"``.
        seed: seed of the latents.
        batch_size: samples per generator call.

    Returns:
        One dict per value, ``{kind: value, **evaluate(x)}``, in the order of ``values``.

    Reference:
        Brock et al. 2019, arXiv:1809.11096, Sec. 3.1 and Fig. 17 (the trade-off curve); Karras et al. 2019,
        arXiv:1812.04948, Appendix B (psi); Kynkaanniemi et al. 2019, arXiv:1904.06991, Sec. 5 (precision and
        recall against truncation).
    """
    checks.positive_int(latent_dim, "latent_dim")
    checks.positive_int(n, "n")
    checks.positive_int(batch_size, "batch_size")
    checks.one_of(kind, "kind", ("psi", "threshold"))
    if not values:
        raise ValueError("values must list at least one psi or threshold (None = no truncation)")
    for v in values:
        if v is not None and not (0 <= v <= 1 if kind == "psi" else v > 0):
            raise ValueError(f"each {kind} must be {'in [0, 1]' if kind == 'psi' else '> 0'} or None, got {v!r}")
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    rows = []
    try:
        for v in values:
            g = torch.Generator().manual_seed(seed)
            if kind == "psi":
                z = torch.randn(n, latent_dim, generator=g) * (1.0 if v is None else v)
            else:
                z = truncated_normal((n, latent_dim), v, g)
            x = torch.cat([generator(z[i:i + batch_size].to(device)).float() for i in range(0, n, batch_size)])
            rows.append({kind: v, **evaluate(x)})
    finally:
        generator.train(was_training)
    return rows


def _as_matrix(weight: torch.Tensor) -> torch.Tensor:
    checks.tensor(weight, "W")
    if weight.ndim < 2:
        raise ValueError(f"W must be a weight matrix or conv kernel (out, in, ...), got shape {tuple(weight.shape)}")
    return weight.reshape(weight.shape[0], -1)        # rows = filters (out channels)


def orthogonal_regularisation(weight: torch.Tensor, beta: float = 1e-4, full: bool = False) -> torch.Tensor:
    r"""BigGAN's orthogonal regularisation of one weight, $R_\beta(W) = \beta\,\lVert W^\top W \odot (\mathbf 1 - I)\rVert_F^2$.

    The weight is reshaped to (out, in * k * k) so each filter is a row; the Gram matrix of the filters
    is penalised off its diagonal only (filters pairwise orthogonal, norms free). ``full=True`` gives
    the original form $\beta\,\lVert W^\top W - I\rVert_F^2$ (Brock et al. 2017), which also pins every
    filter's norm to 1.

    Args:
        weight: (out, in) or (out, in, kh, kw) weight.
        beta: strength (1e-4 in BigGAN).
        full: penalise the diagonal too.

    Returns:
        A scalar tensor >= 0 (differentiable): 0 iff the filters are orthogonal (orthonormal if ``full``).

    Reference:
        Brock et al. 2019, arXiv:1809.11096, Sec. 3.1, Eq. (3); Brock et al., "Neural Photo Editing with
        Introspective Adversarial Networks", ICLR 2017, arXiv:1609.07093, Sec. 3.
    """
    if not beta >= 0:
        raise ValueError(f"beta must be >= 0, got {beta}")
    w = _as_matrix(weight)
    gram = w @ w.T                                    # (out, out): filters' inner products
    eye = torch.eye(len(gram), device=gram.device, dtype=gram.dtype)
    off = gram - eye if full else gram * (1 - eye)    # Eq. (3): mask the diagonal
    return beta * (off ** 2).sum()


def regularised_weights(net: nn.Module) -> list[torch.Tensor]:
    """The weights orthogonal regularisation applies to: every Conv / ConvTranspose / Linear weight of ``net``.

    ConvTranspose weights are stored (in, out, k, k) and are transposed to (out, in, k, k).
    """
    out = []
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            out.append(m.weight)
        elif isinstance(m, nn.ConvTranspose2d):
            out.append(m.weight.transpose(0, 1))
    if not out:
        raise ValueError(f"{type(net).__name__} has no Conv2d / ConvTranspose2d / Linear weights to regularise")
    return out


def orthogonal_term(net: nn.Module, full: bool = False) -> Callable[[gan.Batch], torch.Tensor]:
    """A ``g_terms`` entry: the sum of :func:`orthogonal_regularisation` (beta = 1) over ``net``'s weights.

    Use as ``gan.variant("hinge", g_terms={"ortho": (1e-4, scaling.orthogonal_term(G))})``: the weight of
    the term is BigGAN's beta.

    Reference:
        Brock et al. 2019, arXiv:1809.11096, Sec. 3.1 (beta = 1e-4).
    """
    regularised_weights(net)                          # fail now, not in the loop

    def term(b: gan.Batch) -> torch.Tensor:
        return sum(orthogonal_regularisation(w, 1.0, full) for w in regularised_weights(net))

    return term


def pairwise_diversity(feats: torch.Tensor) -> float:
    """Mean Euclidean distance between the features of distinct samples (a diversity measure).

    Args:
        feats: (N, D) features, N >= 2 (e.g. ``metrics.compute_features(x, net)``).

    Returns:
        The mean over the N (N - 1) ordered pairs i != j of ||f_i - f_j||.
    """
    checks.ndim(feats, "feats", 2, "(N, D)")
    if len(feats) < 2:
        raise ValueError(f"pairwise_diversity needs at least 2 samples, got {len(feats)}")
    d = torch.cdist(feats.double(), feats.double())
    n = len(feats)
    return float(d.sum() / (n * (n - 1)))


# ----------------------------------------------------------------------------------------
# StyleGAN: style mixing
# ----------------------------------------------------------------------------------------
def mix_styles(w1: torch.Tensor, w2: torch.Tensor, crossover: int, num_layers: int) -> torch.Tensor:
    """Per-layer styles for style mixing: w1 for layers < crossover (coarse), w2 from crossover on (fine).

    Args:
        w1, w2: (B, w_dim) intermediate latents (or (B, num_layers, w_dim) per-layer ones).
        crossover: first layer that takes w2, in [0, num_layers] (0: all w2; num_layers: all w1).
        num_layers: number of style inputs of the synthesis network.

    Returns:
        (B, num_layers, w_dim) styles, one row per AdaIN layer.

    Reference:
        Karras et al. 2019, arXiv:1812.04948, Sec. 3.1 and Fig. 3 (coarse 4^2-8^2, middle 16^2-32^2, fine).
    """
    checks.positive_int(num_layers, "num_layers")
    if isinstance(crossover, bool) or not isinstance(crossover, int) or not 0 <= crossover <= num_layers:
        raise ValueError(f"crossover must be an int in [0, {num_layers}], got {crossover!r}")
    ws = []
    for name, w in (("w1", w1), ("w2", w2)):
        checks.ndim(w, name, (2, 3), "(B, w_dim) or (B, L, w_dim)")
        if w.ndim == 2:
            w = w[:, None].expand(-1, num_layers, -1)
        elif w.shape[1] != num_layers:
            raise ValueError(f"{name} has {w.shape[1]} layers, expected {num_layers}")
        ws.append(w)
    if ws[0].shape != ws[1].shape:
        raise ValueError(f"w1 and w2 must have the same shape, got {tuple(w1.shape)} and {tuple(w2.shape)}")
    use_w1 = (torch.arange(num_layers, device=w1.device) < crossover)[None, :, None]
    return torch.where(use_w1, ws[0], ws[1])


@torch.no_grad()
def style_mixing_grid(generator: nn.Module, w_rows: torch.Tensor, w_cols: torch.Tensor, crossover: int,
                      noise: str = "const") -> torch.Tensor:
    """The style-mixing figure: row sources on the left, column sources on top, mixes inside.

    Cell (i, j) takes the coarse styles (layers < crossover) of row source i and the rest from column
    source j, as in Karras et al. 2019, Fig. 3 (there the rows give the fine styles; here ``crossover``
    decides which layers come from whom).

    Args:
        generator: a ``nets.scaling.StyleGenerator`` (``synthesis(ws, noise)``, ``num_layers``).
        w_rows: (R, w_dim) intermediate latents of the row sources.
        w_cols: (C, w_dim) of the column sources.
        crossover: first layer taken from the column source.
        noise: the synthesis noise mode (``"const"``: the same noise in every cell).

    Returns:
        ((R + 1) * (C + 1), channels, H, W) images for ``viz.show_grid(..., nrow=C + 1)``: a blank
        corner (value -1), the column sources, then each row source followed by its C mixes.

    Reference:
        Karras et al. 2019, arXiv:1812.04948, Sec. 3.1, Fig. 3.
    """
    checks.ndim(w_rows, "w_rows", 2, "(R, w_dim)")
    checks.ndim(w_cols, "w_cols", 2, "(C, w_dim)")
    L = generator.num_layers
    src_r, src_c = generator.synthesis(w_rows, noise), generator.synthesis(w_cols, noise)
    R, C = len(w_rows), len(w_cols)
    w1 = w_rows.repeat_interleave(C, 0)                 # (R*C, w_dim): row source of each cell
    w2 = w_cols.repeat(R, 1)                            # its column source
    mixes = generator.synthesis(mix_styles(w1, w2, crossover, L), noise).reshape(R, C, *src_r.shape[1:])
    rows = [torch.cat([-torch.ones_like(src_c[:1]), src_c])]
    rows += [torch.cat([src_r[i:i + 1], mixes[i]]) for i in range(R)]
    return torch.cat(rows)


@torch.no_grad()
def style_mixing_agreement(generator: nn.Module, classify: Callable[[torch.Tensor], torch.Tensor], n_pairs: int,
                           crossover: int | None = None, min_confidence: float = 0.9, seed: int = 0,
                           max_draws: int = 20, noise: str = "const") -> dict[str, float]:
    r"""How often the coarse styles decide what a style-mixed image is, as judged by a classifier.

    Pairs (A, B) of mapped latents $w_A = f(z_A)$, $w_B = f(z_B)$ are drawn; the mix takes the styles of the
    layers before ``crossover`` (the coarse ones) from A and the rest from B (:func:`mix_styles`). Only pairs
    whose A and B the classifier recognises (probability >= ``min_confidence``) as *different* classes
    count; the agreement is the fraction of them whose mix the classifier assigns (argmax) to A's class.
    Pairs are drawn in rounds of ``n_pairs`` until ``n_pairs`` qualify or ``max_draws`` rounds are spent.

    Args:
        generator: a ``nets.scaling.StyleGenerator`` (``mapping``, ``synthesis``, ``num_layers``,
            ``layer_resolutions``, ``latent_dim``).
        classify: images (N, C, H, W) in [-1, 1] -> class probabilities (N, K), e.g.
            ``lambda x: metrics.class_probabilities(images.to_unit(x), clf)``.
        n_pairs: qualifying pairs wanted (the measure uses exactly this many when enough qualify).
        crossover: first layer whose style comes from B; default: every layer at 8x8 or coarser
            (4 for 4x4, 4x4, 8x8, 8x8, ...: the paper's "coarse styles").
        min_confidence: the classifier probability that counts as recognised.
        seed: seed of the latents.
        max_draws: rounds of ``n_pairs`` pairs at most.
        noise: the synthesis noise (``"const"``: A, B and the mix share it).

    Returns:
        ``{"agreement": fraction of qualifying mixes in A's class, "agreement_b": fraction in B's class,
        "n_pairs": qualifying pairs used, "n_drawn": pairs drawn}``; the fractions are NaN when no pair
        qualified (``n_pairs`` 0).

    Reference:
        Karras et al. 2019, arXiv:1812.04948, Sec. 3.1 and Fig. 3 ("coarse styles ... bring high-level aspects
        such as pose, general hair style, face shape").
    """
    checks.positive_int(n_pairs, "n_pairs")
    checks.positive_int(max_draws, "max_draws")
    if not 0 < min_confidence < 1:
        raise ValueError(f"min_confidence must be in (0, 1), got {min_confidence}")
    L = generator.num_layers
    if crossover is None:
        crossover = sum(r <= 8 for r in generator.layer_resolutions)
    if isinstance(crossover, bool) or not isinstance(crossover, int) or not 0 < crossover < L:
        raise ValueError(f"crossover must be an int in [1, {L - 1}] (some layers from A, some from B), got {crossover!r}")
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    g = torch.Generator().manual_seed(seed)
    found, drawn = [], 0
    try:
        for _ in range(max_draws):
            z = torch.randn(2, n_pairs, generator.latent_dim, generator=g).to(device)
            w_a, w_b = generator.mapping(z[0]), generator.mapping(z[1])
            p_a, p_b = classify(generator.synthesis(w_a, noise)), classify(generator.synthesis(w_b, noise))
            p_mix = classify(generator.synthesis(mix_styles(w_a, w_b, crossover, L), noise))
            (conf_a, cls_a), (conf_b, cls_b) = p_a.max(1), p_b.max(1)
            ok = (conf_a >= min_confidence) & (conf_b >= min_confidence) & (cls_a != cls_b)
            found.append(torch.stack([cls_a, cls_b, p_mix.argmax(1)], 1)[ok])
            drawn += n_pairs
            if sum(len(f) for f in found) >= n_pairs:
                break
    finally:
        generator.train(was_training)
    kept = torch.cat(found)[:n_pairs]
    if len(kept) == 0:                               # nothing recognised (an untrained generator): no measure
        return {"agreement": float("nan"), "agreement_b": float("nan"), "n_pairs": 0, "n_drawn": drawn}
    return {"agreement": float((kept[:, 2] == kept[:, 0]).double().mean()),
            "agreement_b": float((kept[:, 2] == kept[:, 1]).double().mean()),
            "n_pairs": len(kept), "n_drawn": drawn}
