r"""Text-to-image synthesis (Reed et al. 2016): captions, GAN-CLS, GAN-INT, the style encoder.

Everything here is data for the course's adversarial engine (:mod:`course_lib.gan`) or a small
helper around it; the networks live in :mod:`course_lib.nets.text2image`::

    caps = text2image.emoji_captions(names, categories, images)    # "pile of poo, a brown symbol"
    phi = features.sentence_encoder()(caps)                        # (N, 384) text embeddings
    interp = {"interp": (1.0, text2image.interpolation_term(G, D))}   # GAN-INT: G's interpolated-text term
    v = text2image.gan_cls(D, g_terms=interp)                      # GAN-CLS: matching-aware D
    trainer = gan.Trainer(G, D, v, x, latent_dim, cond=phi)
    run = gan.load_or_train("17-gan-int-cls", trainer, num_steps)

**GAN-CLS** (Reed et al. 2016, Algorithm 1). D scores three kinds of pairs: a real image with its
text ($s_r$), a real image with *mismatching* text ($s_w$) and a fake image with the text it was
generated from ($s_f$), and maximises

$$L_D = \log s_r + \tfrac12\big(\log(1 - s_w) + \log(1 - s_f)\big).$$

The engine's D loss covers the real and fake pairs; :func:`cls_d_loss` weights the fake term by 1/2
and :func:`mismatch_term` is the wrong-text term, a ``d_term`` of weight 1/2, so that
``d_loss + 0.5 * d_mismatch`` $= -L_D$ exactly. :func:`cls_control` is the same D loss without the
wrong-text term: GAN-CLS minus its control isolates the matching-aware discriminator.

**GAN-INT** (Sec. 4.3): the generator is also trained on fakes generated from interpolated embeddings
$\beta\,t_1 + (1-\beta)\,t_2$ of two training captions ($\beta = 0.5$), which fill the gaps of the
text manifold: :func:`interpolation_term` is Eq. (5) as an engine ``g_term``. As in the paper, D is never
trained on interpolated text (no real image has it): it only judges, through its matching-aware training,
whether the interpolated fakes agree with their text. (Were the interpolated fakes also in D's fake term, D
could reject them by their text alone -- interpolations of unit embeddings are shorter than any caption's --
and G would learn nothing from them.) :func:`interpolated_cond` draws interpolated embeddings for other uses
(the style encoder's training batches).

**Style encoder** (Sec. 4.4): $S(x)$ is trained to recover z from generated images,

$$\mathcal{L}_\text{style} = \mathbb{E}_{t, z\sim\mathcal{N}(0,1)}\,\lVert z - S(G(z, \varphi(t)))\rVert_2^2,$$

so that ``G(S(x), phi(t_new))`` draws a new caption in the style of a real image x.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import checks, gan, losses, train

# ----------------------------------------------------------------------------------------
# Captions: the emoji's name + a generated description of its colours and category
# ----------------------------------------------------------------------------------------
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.16, 0.16), "orange": (0.96, 0.55, 0.12), "yellow": (0.98, 0.82, 0.20),
    "green": (0.24, 0.67, 0.27), "blue": (0.20, 0.43, 0.86), "purple": (0.55, 0.31, 0.75),
    "pink": (0.94, 0.51, 0.71), "brown": (0.55, 0.35, 0.20), "black": (0.12, 0.12, 0.12),
    "gray": (0.60, 0.62, 0.64), "beige": (0.97, 0.86, 0.72),
}
"""Named colours (RGB in [0, 1]) the descriptions use; a pixel takes the name of the nearest one (near-white
pixels are background and never named; "beige" catches light skin tones and pale fills)."""

CATEGORY_NOUNS: dict[str, str] = {
    "Smileys & Emotion": "smiley", "People & Body": "person or body part", "Animals & Nature": "animal or plant",
    "Food & Drink": "food", "Travel & Places": "place or vehicle", "Activities": "activity",
    "Objects": "object", "Symbols": "symbol", "Flags": "flag", "Component": "component",
}
"""A noun phrase per emoji category (the emoji-datasource categories)."""


def colour_fractions(x: torch.Tensor, white_threshold: float = 0.12) -> torch.Tensor:
    """The fraction of an image's drawn pixels nearest to each colour of :data:`PALETTE`.

    Args:
        x: (B, 3, H, W) images in [0, 1] composited on white.
        white_threshold: pixels within this distance of pure white (every channel) are background and
            not counted.

    Returns:
        (B, K) fractions (rows sum to 1; all zero for an empty image), columns in ``PALETTE`` order.
    """
    checks.image_batch(x, "x", channels=3, lo=0, hi=1)
    pal = torch.tensor(list(PALETTE.values()), dtype=x.dtype, device=x.device)      # (K, 3)
    pix = x.permute(0, 2, 3, 1).reshape(len(x), -1, 3)                             # (B, HW, 3)
    drawn = (1 - pix).amax(-1) > white_threshold                                    # (B, HW)
    nearest = torch.cdist(pix, pal[None].expand(len(x), -1, -1)).argmin(-1)         # (B, HW)
    counts = F.one_hot(nearest, len(pal)).float() * drawn[..., None].float()        # (B, HW, K)
    counts = counts.sum(1)
    return counts / counts.sum(1, keepdim=True).clamp_min(1)


def colour_words(fractions: torch.Tensor, top: int = 2, min_fraction: float = 0.2) -> list[list[str]]:
    """The dominant colour names per image: up to ``top`` names with at least ``min_fraction`` of the pixels.

    Args:
        fractions: (B, K) from :func:`colour_fractions`.
        top: at most this many names per image.
        min_fraction: a colour below this share is not named (the most frequent one always is).

    Returns:
        B lists of colour names, most frequent first.
    """
    checks.ndim(fractions, "fractions", 2, f"(B, {len(PALETTE)})")
    if fractions.shape[1] != len(PALETTE):
        raise ValueError(f"fractions must have {len(PALETTE)} columns (one per PALETTE colour), got "
                         f"{tuple(fractions.shape)}")
    names = list(PALETTE)
    out = []
    for row in fractions.tolist():
        order = sorted(range(len(row)), key=lambda k: -row[k])
        out.append([names[k] for i, k in enumerate(order[:top]) if i == 0 or row[k] >= min_fraction])
    return out


def describe(colours: Sequence[str], category: str) -> str:
    """A generated description, e.g. ``describe(["yellow", "brown"], "Smileys & Emotion")`` -> "a yellow and brown smiley"."""
    if category not in CATEGORY_NOUNS:
        raise ValueError(f"unknown emoji category {category!r}; expected one of {sorted(CATEGORY_NOUNS)}")
    if not colours:
        return f"a {CATEGORY_NOUNS[category]}"
    return f"a {' and '.join(colours)} {CATEGORY_NOUNS[category]}"


def emoji_captions(names: Sequence[str], categories: Sequence[str], images: torch.Tensor | Sequence[torch.Tensor],
                   top: int = 2, min_fraction: float = 0.2) -> list[str]:
    """One caption per emoji: its name and a description of its colours and category.

    Args:
        names: N emoji names (``ImageSet.attrs["name"]``), e.g. "slice of pizza".
        categories: N categories (``attrs["category"]``).
        images: (N, 3, H, W) in [0, 1] composited on white, or several such batches (the same emoji in
            several styles), whose colour fractions are averaged so every style gets the same caption.
        top, min_fraction: see :func:`colour_words`.

    Returns:
        N captions "name, a <colour> and <colour> <noun>", e.g. "slice of pizza, a yellow and orange food".
    """
    views = [images] if isinstance(images, torch.Tensor) else list(images)
    if not views:
        raise ValueError("images is empty: pass (N, 3, H, W) images or a list of such batches")
    if not (len(names) == len(categories) == len(views[0])) or any(len(v) != len(names) for v in views):
        raise ValueError(f"names ({len(names)}), categories ({len(categories)}) and images "
                         f"({[len(v) for v in views]}) must be aligned")
    frac = torch.stack([colour_fractions(v) for v in views]).mean(0)
    return [f"{n}, {describe(c, cat)}" for n, cat, c in zip(names, categories, colour_words(frac, top, min_fraction))]


# ----------------------------------------------------------------------------------------
# Character tokenisation (the char-level text encoder's input)
# ----------------------------------------------------------------------------------------
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 -,;:.!?'&()/*#+"
"""Characters with their own id (1 + position); id 0 is padding, the last id any other character."""
VOCAB_SIZE = len(ALPHABET) + 2


def encode_chars(texts: Sequence[str], max_len: int = 96) -> torch.Tensor:
    """Character ids of lower-cased texts, padded with 0 and cut at ``max_len``.

    Args:
        texts: N strings.
        max_len: length of every row.

    Returns:
        (N, max_len) int64 ids in [0, VOCAB_SIZE): 0 padding, 1 + ALPHABET.index(ch), VOCAB_SIZE - 1 unknown.
    """
    if isinstance(texts, str):
        raise TypeError(f"texts must be a list of strings, got a bare str; wrap it: encode_chars([{texts!r}])")
    checks.positive_int(max_len, "max_len")
    index = {ch: i + 1 for i, ch in enumerate(ALPHABET)}
    out = torch.zeros(len(texts), max_len, dtype=torch.long)
    for r, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts must contain only str, got {type(t).__name__} at index {r}")
        ids = [index.get(ch, VOCAB_SIZE - 1) for ch in t.lower()[:max_len]]
        out[r, :len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def _device_of(net: nn.Module) -> torch.device:
    """The device of a module's first parameter (or buffer); CPU for a module with neither."""
    for t in (*net.parameters(), *net.buffers()):
        return t.device
    return torch.device("cpu")


# ----------------------------------------------------------------------------------------
# GAN-CLS: the matching-aware discriminator
# ----------------------------------------------------------------------------------------
def cls_d_objective(s_real: torch.Tensor, s_wrong: torch.Tensor, s_fake: torch.Tensor) -> torch.Tensor:
    r"""The slide's discriminator objective (to *maximise*), from D's probabilities.

    $$L_D = \log s_r + \tfrac12\big(\log(1 - s_w) + \log(1 - s_f)\big)$$

    Args:
        s_real: (B,) D(x, h) in (0, 1): real image, matching text.
        s_wrong: (B,) D(x, h_hat) in (0, 1): real image, mismatching text.
        s_fake: (B,) D(x_hat, h) in (0, 1): fake image, its text.

    Returns:
        Scalar, the batch mean.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Algorithm 1, line 9.
    """
    for t, n in ((s_real, "s_real"), (s_wrong, "s_wrong"), (s_fake, "s_fake")):
        checks.value_range(checks.tensor(t, n).detach(), n, 0.0, 1.0)
    return (torch.log(s_real) + 0.5 * (torch.log1p(-s_wrong) + torch.log1p(-s_fake))).mean()


def cls_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    r"""The real and fake part of GAN-CLS's D loss: $-\log s_r - \tfrac12 \log(1 - s_f)$ (batch means).

    With :func:`mismatch_term` at weight 1/2 the engine minimises exactly $-L_D$ (:func:`cls_d_objective`).

    Args:
        logits_real: (B,) or (B, 1) raw D(x, h).
        logits_fake: (B,) or (B, 1) raw D(x_hat, h).

    Returns:
        Scalar loss (nats).

    Reference:
        Reed et al. 2016, Algorithm 1, line 9.
    """
    r, f = logits_real.reshape(-1), logits_fake.reshape(-1)
    return F.softplus(-r).mean() + 0.5 * F.softplus(f).mean()      # -log sigmoid(r), -log(1 - sigmoid(f))


def mismatch(c: torch.Tensor, shift: int = 1) -> torch.Tensor:
    """Mismatching text for a batch: the embeddings rolled by ``shift`` rows (row i gets the text of row i - shift).

    Args:
        c: (B, E) text embeddings of the batch.
        shift: rows to roll (not a multiple of B).

    Returns:
        (B, E) embeddings of *other* images' captions.
    """
    checks.ndim(c, "c", 2, "(B, E) text embeddings")
    if len(c) < 2 or shift % len(c) == 0:
        raise ValueError(f"mismatching text needs a batch of >= 2 rows and a shift that is not a multiple of the "
                         f"batch size, got B={len(c)}, shift={shift}")
    return c.roll(shift, 0)


def mismatch_term(discriminator: nn.Module, shift: int = 1) -> gan.Term:
    r"""GAN-CLS's wrong-text term as an engine ``d_term``: $-\log(1 - s_w)$ with $s_w = D(x, \hat h)$.

    Use with weight 1/2: ``d_terms={"mismatch": (0.5, mismatch_term(D))}`` (see :func:`gan_cls`).

    Args:
        discriminator: D(x, phi) of the trainer (called on the real batch with rolled embeddings).
        shift: see :func:`mismatch`.

    Returns:
        ``fn(batch: gan.Batch) -> scalar``.

    Reference:
        Reed et al. 2016, Algorithm 1, lines 6 and 9.
    """
    def term(b: gan.Batch) -> torch.Tensor:
        if b.c_real is None:
            raise ValueError("the mismatch term needs a conditional trainer whose real batches carry text "
                             "embeddings (cond=phi)")
        s_wrong = discriminator(b.x_real, mismatch(b.c_real, shift)).float()
        return F.softplus(s_wrong.reshape(-1)).mean()                   # -log(1 - sigmoid(s_w))

    return term


def gan_cls(discriminator: nn.Module, base: str = "ns", **changes: Any) -> gan.Variant:
    """The GAN-CLS variant: :func:`cls_d_loss` + 1/2 :func:`mismatch_term`, the base's G loss and optimiser.

    Args:
        discriminator: the trainer's D (the mismatch term calls it).
        base: the engine preset for the generator loss and Adam settings (``"ns"``: maximise log s_f).
        **changes: other :class:`course_lib.gan.Variant` fields.

    Returns:
        A :class:`course_lib.gan.Variant` named ``"gan-cls"``; ``d_loss + 0.5 * d_mismatch`` in its
        history is $-L_D$.

    Reference:
        Reed et al. 2016, Algorithm 1.
    """
    v = gan.variant(base).replace(name="gan-cls", d_loss=cls_d_loss,
                                  d_terms={"mismatch": (0.5, mismatch_term(discriminator))})
    return v.replace(**changes) if changes else v


def cls_control(base: str = "ns", **changes: Any) -> gan.Variant:
    r"""The control of GAN-CLS: its D loss with the halved fake term (:func:`cls_d_loss`) but *no* mismatch term.

    D minimises $-\log s_r - \tfrac12 \log(1 - s_f)$ and never sees a real image with the wrong text, so
    comparing GAN-CLS with this control isolates the matching-aware term: everything else, the softer
    fake term included, is the same. (The paper's plain GAN weights the fake term by 1, not 1/2.)

    Args:
        base: the engine preset for the generator loss and Adam settings.
        **changes: other :class:`course_lib.gan.Variant` fields.

    Returns:
        A :class:`course_lib.gan.Variant` named ``"gan-cls-control"`` without ``d_terms``.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Algorithm 1 without lines 6 and the s_w term of line 9.
    """
    v = gan.variant(base).replace(name="gan-cls-control", d_loss=cls_d_loss, d_terms={})
    return v.replace(**changes) if changes else v


@torch.no_grad()
def match_scores(discriminator: nn.Module, x: torch.Tensor, phi: torch.Tensor, shift: int = 1
                 ) -> tuple[float, float]:
    """D's mean probability on (image, its text) and (image, another image's text) pairs.

    A matching-aware D (GAN-CLS) gives a large gap; a plain conditional D need not.

    Args:
        discriminator: D(x, phi), used in eval mode.
        x: (B, C, H, W) real images in [-1, 1].
        phi: (B, E) their text embeddings.
        shift: see :func:`mismatch`.

    Returns:
        (mean sigmoid D(x, h), mean sigmoid D(x, h_hat)).
    """
    dev = _device_of(discriminator)
    x, phi = x.to(dev), phi.to(dev)
    with train.eval_mode(discriminator):
        s_match = torch.sigmoid(discriminator(x, phi).float()).mean().item()
        s_wrong = torch.sigmoid(discriminator(x, mismatch(phi, shift)).float()).mean().item()
    return s_match, s_wrong


# ----------------------------------------------------------------------------------------
# GAN-INT: interpolated text embeddings for the fakes
# ----------------------------------------------------------------------------------------
def interpolate(t1: torch.Tensor, t2: torch.Tensor, beta: float | torch.Tensor = 0.5) -> torch.Tensor:
    r"""$\beta\,t_1 + (1 - \beta)\,t_2$ (Reed et al. 2016, Eq. (5)); beta a float or a (B,) / (B, 1) tensor."""
    checks.tensor(t1, "t1")
    checks.tensor(t2, "t2")
    if t1.shape != t2.shape:
        raise ValueError(f"t1 and t2 must have the same shape, got {tuple(t1.shape)} and {tuple(t2.shape)}")
    if isinstance(beta, torch.Tensor) and beta.ndim == 1 and t1.ndim == 2:
        beta = beta[:, None]
    return beta * t1 + (1 - beta) * t2


def interpolation_term(generator: nn.Module, discriminator: nn.Module, beta: float = 0.5, seed: int = 0
                       ) -> gan.Term:
    r"""GAN-INT's generator term (Reed et al. 2016, Eq. (5)) as an engine ``g_term``:
    $-\log D(G(z, \beta t_1 + (1-\beta) t_2),\ \beta t_1 + (1-\beta) t_2)$, non-saturating, averaged over the batch.

    $t_1$ is each row's caption embedding (the real batch's ``c_real``), $t_2$ the previous row's (the batch is a
    random draw, so a random other caption), $z$ fresh latents. D only scores these fakes in G's update, so it is
    never trained on interpolated text. Use with weight 1:
    ``gan_cls(D, g_terms={"interp": (1.0, interpolation_term(G, D))})`` and no ``sample_cond``.

    Args:
        generator: G(z, phi) of the trainer.
        discriminator: D(x, phi) of the trainer.
        beta: interpolation weight (0.5 in the paper).
        seed: seed of the term's latents (a private generator: the training random stream is left alone).

    Returns:
        ``fn(batch: gan.Batch) -> scalar``.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Sec. 4.3, Eq. (5).
    """
    if not 0 <= beta <= 1:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    g = torch.Generator().manual_seed(seed)

    def term(b: gan.Batch) -> torch.Tensor:
        if b.c_real is None or b.z is None:
            raise ValueError("the interpolation term needs a conditional trainer with a latent z whose real batches "
                             "carry text embeddings (cond=phi)")
        t = interpolate(b.c_real, mismatch(b.c_real), beta)
        z = torch.randn(tuple(b.z.shape), generator=g).to(b.z.device)
        return losses.nonsaturating_g_loss(discriminator(generator(z, t), t).float())

    return term


def interpolated_cond(embeddings: torch.Tensor, beta: float = 0.5, frac: float = 0.5, seed: int = 0
                      ) -> Callable[[int], torch.Tensor]:
    r"""Text embeddings drawn n at a time, a fraction of them interpolated (a ``sample_cond``: e.g. the style
    encoder's batches; GAN-INT's generator term is :func:`interpolation_term`).

    Each call draws n training captions $t_1$; a fraction ``frac`` of the rows is replaced by
    $\beta t_1 + (1-\beta) t_2$ with another random caption $t_2$.

    Args:
        embeddings: (N, E) text embeddings of the training captions.
        beta: interpolation weight (0.5 in the paper).
        frac: fraction of interpolated rows in [0, 1] (1: every fake from an interpolation).
        seed: seed of the draws (a private generator: the training random stream is left alone).

    Returns:
        ``sample_cond(n) -> (n, E)`` embeddings on the device of ``embeddings``.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Sec. 4.3, Eq. (5).
    """
    checks.ndim(embeddings, "embeddings", 2, "(N, E) caption embeddings")
    if not 0 <= frac <= 1:
        raise ValueError(f"frac must be in [0, 1], got {frac}")
    if not 0 <= beta <= 1:
        raise ValueError(f"beta must be in [0, 1], got {beta}")
    g = torch.Generator().manual_seed(seed)
    table = embeddings.detach()

    def sample_cond(n: int) -> torch.Tensor:
        i = torch.randint(len(table), (n,), generator=g)
        j = torch.randint(len(table), (n,), generator=g)
        mix = (torch.rand(n, generator=g) < frac).to(table.device)
        t1, t2 = table[i.to(table.device)], table[j.to(table.device)]
        return torch.where(mix[:, None], interpolate(t1, t2, beta), t1)

    return sample_cond


@torch.no_grad()
def generate(generator: nn.Module, phi: torch.Tensor, z: torch.Tensor | None = None, seed: int = 0,
             batch_size: int = 256, train_mode: bool = False) -> torch.Tensor:
    """G(z, phi) for a batch of text embeddings, without gradients (reproducible z from ``seed``).

    Args:
        generator: G(z, phi) with a ``latent_dim`` attribute.
        phi: (N, E) text embeddings.
        z: (N, latent_dim) latents (styles); default drawn from N(0, I) with ``seed``.
        seed: seed of the default z.
        batch_size: rows per forward pass.
        train_mode: use batch statistics in batch norm (as during training) instead of the running ones
            (this also updates G's running statistics).

    Returns:
        (N, C, H, W) images in [-1, 1].
    """
    checks.ndim(phi, "phi", 2, "(N, E) text embeddings")
    if z is None:
        z = torch.randn(len(phi), generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    if len(z) != len(phi):
        raise ValueError(f"z has {len(z)} rows but phi has {len(phi)}: one latent per caption")
    dev = next(generator.parameters()).device
    with train.eval_mode(generator):                 # the training flag comes back afterwards
        generator.train(train_mode)
        return torch.cat([generator(z[i:i + batch_size].to(dev), phi[i:i + batch_size].to(dev)).cpu()
                          for i in range(0, len(phi), batch_size)])


def caption_diversity(samples: torch.Tensor) -> dict[str, float]:
    """How different several samples of one caption are, relative to samples of different captions.

    The text leaves much open (here the drawing style; for birds the pose and background), so a
    generator that uses its noise z draws one caption in several ways (the multimodality that motivates
    a GAN over a regression to the mean). ``within`` is the mean RMS pixel distance between two samples
    of the same caption, ``across`` between samples of two different captions (same sample index);
    their ratio is 0 when G ignores z and about 1 when z changes an image as much as the caption does.

    Args:
        samples: (M, N, C, H, W): M >= 2 samples (different z) for each of N >= 2 captions.

    Returns:
        ``{"within": ..., "across": ..., "ratio": within / across}``.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Sec. 1 (the distribution of images given a text is multimodal)
        and Fig. 1 / Sec. 5 (several samples per caption).
    """
    checks.ndim(samples, "samples", 5, "(M, N, C, H, W): M samples for each of N captions")
    m, n = samples.shape[:2]
    if m < 2 or n < 2:
        raise ValueError(f"caption_diversity needs M >= 2 samples of N >= 2 captions, got M={m}, N={n}")
    x = samples.detach().float().cpu().flatten(2)                        # (M, N, D)
    d = x.shape[-1]
    iu = torch.triu_indices(m, m, 1)
    within = (x[iu[0]] - x[iu[1]]).pow(2).mean(-1).sqrt().mean()        # pairs of samples, same caption
    dist = torch.cdist(x, x) / d ** 0.5                                  # (M, N, N): same sample index
    off = ~torch.eye(n, dtype=torch.bool)
    across = dist[:, off].mean()
    return {"within": float(within), "across": float(across), "ratio": float(within / across)}


# ----------------------------------------------------------------------------------------
# Style encoder
# ----------------------------------------------------------------------------------------
def style_loss(z: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
    r"""$\mathcal{L}_\text{style} = \mathbb{E}\,\lVert z - S(G(z, \varphi(t)))\rVert_2^2$ (sum over dims, mean over batch).

    Args:
        z: (B, latent_dim) the latents G was given.
        z_hat: (B, latent_dim) the style encoder's estimate S(G(z, phi(t))).

    Returns:
        Scalar.

    Reference:
        Reed et al. 2016, arXiv:1605.05396, Eq. (6).
    """
    checks.ndim(z, "z", 2, "(B, latent_dim)")
    if z.shape != z_hat.shape:
        raise ValueError(f"z and z_hat must have the same shape, got {tuple(z.shape)} and {tuple(z_hat.shape)}")
    return (z - z_hat).pow(2).sum(1).mean()


def train_style_encoder(name: str, style_encoder: nn.Module, generator: nn.Module,
                        sample_cond: Callable[[int], torch.Tensor], num_steps: int, batch_size: int = 64,
                        lr: float = 2e-4, device: torch.device | str | None = None) -> dict[str, list[float]]:
    """Train S on fresh generated batches (G frozen, in eval mode) to minimise :func:`style_loss`.

    Cached and resumable as checkpoint ``name`` (S saved as ``"net"``), with :func:`course_lib.train.fit_loss`.

    Args:
        name: checkpoint name (the budget is appended), e.g. ``"17-style-encoder"``.
        style_encoder: S(x) -> (B, latent_dim).
        generator: G(z, phi) with ``latent_dim``; its training flag and trainable parameters come back afterwards.
        sample_cond: ``sample_cond(n) -> (n, E)`` text embeddings (e.g. :func:`interpolated_cond`).
        num_steps: optimiser steps.
        batch_size: generated images per step.
        lr: Adam learning rate (beta1 = 0.5).
        device: where to train (default: the generator's device); G and S are moved there.

    Returns:
        The history (``loss`` per step); S is left in eval mode.

    Reference:
        Reed et al. 2016, Sec. 4.4 and Eq. (6).
    """
    checks.positive_int(batch_size, "batch_size")
    device = _device_of(generator) if device is None else torch.device(device)
    generator.to(device)
    trainable = [p for p in generator.parameters() if p.requires_grad]

    def loss_fn(_: None) -> torch.Tensor:                # a fresh generated batch every step
        z = torch.randn(batch_size, generator.latent_dim, device=device)
        with torch.no_grad():
            x = generator(z, sample_cond(batch_size).to(device))
        return style_loss(z, style_encoder(x))

    generator.requires_grad_(False)
    try:
        with train.eval_mode(generator):
            fit = train.fit_loss(name, {"net": style_encoder}, loss_fn, None, num_steps=num_steps, lr=lr,
                                 betas=(0.5, 0.999), device=device, desc="style encoder")
    finally:
        for p in trainable:
            p.requires_grad_(True)
    style_encoder.eval()
    return fit.history


# ----------------------------------------------------------------------------------------
# Joint text-image embedding (char encoder) and the caption matcher used as a metric
# ----------------------------------------------------------------------------------------
def joint_embedding_loss(img_emb: torch.Tensor, txt_emb: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    r"""Symmetric matching loss of a batch of (image, caption) pairs: each image must pick its caption
    among the batch's captions and each caption its image (softmax over cosine similarities).

    $$\mathcal{L} = \tfrac12\Big(\mathrm{CE}\big(\tfrac{1}{\tau} I T^\top, \mathrm{id}\big) + \mathrm{CE}\big(\tfrac{1}{\tau} T I^\top, \mathrm{id}\big)\Big)$$

    The softmax form of Reed et al.'s structured joint embedding (their Eq. (3)-(5) use a hinge
    over classes; Radford et al. 2021 use this form).

    Args:
        img_emb: (B, E) unit-norm image embeddings.
        txt_emb: (B, E) unit-norm text embeddings; row i describes image i.
        temperature: tau > 0.

    Returns:
        Scalar loss (nats).

    Reference:
        Reed, Akata, Lee & Schiele, CVPR 2016, arXiv:1605.05395, Sec. 3.
    """
    checks.ndim(img_emb, "img_emb", 2, "(B, E)")
    if img_emb.shape != txt_emb.shape:
        raise ValueError(f"img_emb and txt_emb must be aligned (B, E), got {tuple(img_emb.shape)} and "
                         f"{tuple(txt_emb.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = img_emb @ txt_emb.T / temperature
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_joint_embedding(name: str, image_net: nn.Module, text: torch.Tensor, images: torch.Tensor,
                          num_steps: int, text_net: nn.Module | None = None, batch_size: int = 128,
                          lr: float = 1e-3, temperature: float = 0.1, desc: str = "joint embedding",
                          seed: int = 0) -> dict[str, list[float]]:
    """Train an image encoder (and optionally a text encoder) with :func:`joint_embedding_loss`.

    Cached and resumable as checkpoint ``name`` with :func:`course_lib.train.fit_loss`: the networks are
    saved as ``{"image_net", "text_net"}``, or ``{"net"}`` when only the image encoder learns. Each epoch
    visits every pair once in a seeded random order (no pair twice in a batch).

    Args:
        name: checkpoint name (the budget is appended), e.g. ``"17-matcher"``.
        image_net: images (B, C, H, W) in [-1, 1] -> (B, E) unit norm.
        text: (N, ...) text inputs aligned with ``images``: char ids for ``text_net``, or fixed (N, E)
            unit-norm embeddings when ``text_net`` is None (then only ``image_net`` learns).
        images: (N, C, H, W) in [-1, 1].
        num_steps: optimiser steps.
        text_net: the text encoder to train, or None.
        batch_size: pairs per step (at most N).
        lr: Adam learning rate.
        temperature: see :func:`joint_embedding_loss`.
        desc: progress-bar label.
        seed: seed of the minibatch order.

    Returns:
        The history (``loss`` per step); the networks are left in eval mode.
    """
    if len(text) != len(images):
        raise ValueError(f"text ({len(text)}) and images ({len(images)}) must be aligned")
    b = min(checks.positive_int(batch_size, "batch_size"), len(images))
    modules = {"net": image_net} if text_net is None else {"image_net": image_net, "text_net": text_net}

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x, t = batch
        txt = text_net(t) if text_net is not None else t
        return joint_embedding_loss(image_net(x), txt, temperature)

    fit = train.fit_loss(name, modules, loss_fn, (images, text), num_steps=num_steps, lr=lr, batch_size=b,
                         seed=seed, device=_device_of(image_net), desc=desc)
    for net in modules.values():
        net.eval()
    return fit.history


@torch.no_grad()
def embed(net: nn.Module, inputs: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """``net`` on ``inputs`` in eval mode, in batches, without gradients: (N, ...) -> (N, E) on the CPU.

    The batches are moved to ``net``'s device (as :func:`generate` does); the result comes back to the CPU.
    """
    return train.predict(net, inputs, batch_size=batch_size, device=_device_of(net)).cpu()


def r_precision(img_emb: torch.Tensor, txt_emb: torch.Tensor, num_candidates: int = 100, seed: int = 0
                ) -> float:
    """Caption retrieval of images: the fraction whose own caption ranks first among ``num_candidates``.

    For image i the candidates are its caption and ``num_candidates - 1`` captions of other rows drawn
    at random; the score of a caption is the cosine similarity (dot product of unit vectors).
    Chance level is ``1 / num_candidates``.

    Args:
        img_emb: (N, E) unit-norm embeddings of the (generated) images.
        txt_emb: (N, E) unit-norm embeddings of the captions they were generated from, one per row.
        num_candidates: captions to rank (capped at N).
        seed: seed of the candidate draw.

    Returns:
        Top-1 accuracy in [0, 1].

    Reference:
        Xu et al., "AttnGAN", CVPR 2018, arXiv:1711.10485, Sec. 5 (R-precision).
    """
    checks.ndim(img_emb, "img_emb", 2, "(N, E)")
    if img_emb.shape != txt_emb.shape:
        raise ValueError(f"img_emb and txt_emb must be aligned, got {tuple(img_emb.shape)} and "
                         f"{tuple(txt_emb.shape)}")
    txt_emb = txt_emb.to(img_emb.device)
    n = len(img_emb)
    k = min(checks.positive_int(num_candidates, "num_candidates"), n)
    if n < 2:
        raise ValueError("r_precision needs at least 2 rows")
    g = torch.Generator().manual_seed(seed)
    # k - 1 distinct other rows per image: a random permutation of the others, first k - 1
    others = torch.argsort(torch.rand(n, n - 1, generator=g), 1)[:, :k - 1]       # indices into "rows != i"
    rows = torch.arange(n)[:, None]
    others = others + (others >= rows).long()                                     # skip row i itself
    cand = torch.cat([rows, others], 1).to(img_emb.device)                       # (N, k), own caption first
    sims = (img_emb[:, None, :] * txt_emb[cand]).sum(-1)                          # (N, k)
    return float((sims.argmax(1) == 0).float().mean())


# ----------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------
def show_captioned(rows: dict[str, torch.Tensor], captions: Sequence[str], title: str | None = None,
                   width: int = 18, scale: float = 1.0) -> Any:
    """Rows of images under one caption per column (held-out captions, style transfer).

    Args:
        rows: ``{row label: (K, C, H, W) images}`` in [0, 1] or [-1, 1], the same K for every row.
        captions: K column captions (wrapped at ``width`` characters).
        title: figure title.
        width: characters per caption line.
        scale: figure size multiplier.

    Returns:
        The figure (``viz.Shown``).
    """
    import textwrap

    import matplotlib.pyplot as plt

    from . import viz

    if not rows:
        raise ValueError("rows is empty: pass {'label': images, ...}")
    k = len(captions)
    for name, imgs in rows.items():
        if len(imgs) != k:
            raise ValueError(f"row {name!r} has {len(imgs)} images but there are {k} captions")
    n = len(rows)
    fig, axes = plt.subplots(n, k, figsize=(min(15.0, 1.25 * k) * scale, (1.15 * n + 0.7) * scale), squeeze=False)
    for r, (name, imgs) in enumerate(rows.items()):
        imgs = viz.to_unit(imgs.detach().float().cpu())
        for c in range(k):
            ax = axes[r, c]
            ax.imshow(imgs[c].permute(1, 2, 0).clamp(0, 1).numpy(), vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("\n".join(textwrap.wrap(captions[c], width)[:4]), fontsize=6)
            if c == 0:
                ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return viz.Shown(fig)
