r"""GAN inversion and attribute editing (notebook 18): IcGAN encoders, three inversion methods, rephotography.

**Inversion** finds a code $w$ whose image $G(w)$ matches a given image $x$:

* *optimisation-based* (Zhu et al. 2016, iGAN, Eq. (1)): $w^* = \arg\min_w \lVert A(G(w)) - x\rVert_2^2$ by
  gradient descent from a fixed start (:func:`optimise`);
* *learning-based*: an encoder $E$ trained once, $w = E(x)$ in one forward pass (:func:`encode`);
* *hybrid*: the encoder's code as the start of the optimisation (:func:`hybrid`, iGAN Sec. 3.1).

Every method returns an :class:`Inversion` with the codes, the images and the wall time, so the three
are compared on reconstruction error **and** time. $A$ is an optional differentiable forward operator:
projecting a *degraded* photo (blurred, noisy, gray) with the matching $A$ restores it from the generator's
space -- "rephotography" (:func:`degrade`, :func:`forward_operator`).

**IcGAN** (Perarnau et al. 2016): a conditional GAN $G(z, y)$, an encoder $E_z$ trained on generated pairs
($\min \mathbb{E}_{z,y}\lVert z - E_z(G(z,y))\rVert^2$, :func:`train_latent_encoder`) and an encoder $E_y$
trained on real labelled images (:func:`train_attribute_encoder`). Editing = encode, change $y$, decode
(:func:`flip`). Attributes are groups of one-hot codes (:class:`AttributeGroups`). Whether an edit took is
decided by :func:`attribute_judge`, a classifier trained on real emoji only (never E_y, never G's images).
Restoration by projection is bounded by the generator's ceiling; :func:`data_consistent` keeps what the
observation measured and takes only the rest from the projection.

Images are in [-1, 1] (the generator's range) unless a function says otherwise.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from . import checks, images, metrics, train

Decoder = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------
# Attributes as groups of one-hot codes
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AttributeGroups:
    """Named groups of mutually exclusive attribute values, concatenated into one vector y.

    ``AttributeGroups({"skin tone": ["yellow", "1-2", "3", "4", "5", "6"], "gender": ["none", "man", "woman"]})``
    gives y of size 9: one-hot tone then one-hot gender (CelebA's binary attributes are groups of size 2).
    """

    groups: Mapping[str, Sequence[str]]

    @property
    def dim(self) -> int:
        return sum(len(v) for v in self.groups.values())

    def slice(self, name: str) -> slice:
        """The columns of group ``name`` in y."""
        checks.one_of(name, "attribute group", self.groups)
        start = 0
        for k, v in self.groups.items():
            if k == name:
                return slice(start, start + len(v))
            start += len(v)
        raise AssertionError

    def encode(self, **indices: torch.Tensor) -> torch.Tensor:
        """Integer values per group (each (B,)) -> y (B, dim) one-hot per group."""
        missing = sorted(set(self.groups) - set(indices))
        if missing:
            raise ValueError(f"give a value for every group; missing {missing}")
        parts = []
        for k, v in self.groups.items():
            idx = torch.as_tensor(indices[k]).long()
            checks.ndim(idx, k, 1, "(B,) integer values")
            if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= len(v)):
                raise ValueError(f"{k} values must lie in [0, {len(v)}), got [{int(idx.min())}, {int(idx.max())}]")
            parts.append(F.one_hot(idx, len(v)).float())
        return torch.cat(parts, 1)

    def decode(self, y_or_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """y (B, dim) or logits -> {group: (B,) argmax value}."""
        checks.ndim(y_or_logits, "y", 2, f"(B, {self.dim})")
        if y_or_logits.shape[1] != self.dim:
            raise ValueError(f"y must have {self.dim} columns ({list(self.groups)}), got {y_or_logits.shape[1]}")
        return {k: y_or_logits[:, self.slice(k)].argmax(1) for k in self.groups}

    def hard(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits (B, dim) -> one-hot y (B, dim): the most likely value of every group (E_y's attributes)."""
        return self.encode(**self.decode(logits))

    def loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Sum over groups of the cross-entropy between logits (B, dim) and one-hot targets y (B, dim).

        Reference: IcGAN (arXiv:1611.06355, Sec. 3.2) trains E_y with an L2 loss on binary attributes; for
        one-hot groups the cross-entropy is the usual choice.
        """
        target = self.decode(y)
        return sum(F.cross_entropy(logits[:, self.slice(k)], target[k]) for k in self.groups)

    def accuracy(self, logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """Fraction of rows whose argmax matches y, per group."""
        p, t = self.decode(logits), self.decode(y)
        return {k: float((p[k] == t[k]).float().mean()) for k in self.groups}


SKIN_TONES = ("yellow", "light", "medium-light", "medium", "medium-dark", "dark")
GENDERS = ("none", "man", "woman")
EMOJI_GROUPS = AttributeGroups({"skin tone": SKIN_TONES, "gender": GENDERS})
HEADS = ("person", "person-role", "person-gesture", "person-fantasy")   # emoji subcategories drawn as heads


def emoji_people(split: str = "train", image_size: int = 32, subcategories: Sequence[str] | None = HEADS
                 ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Emoji of the "People & Body" category with one skin tone, and their attribute vectors (the CelebA stand-in).

    Args:
        split: ``train`` or ``test`` (the emoji split: whole base emoji are held out, with all their tones).
        image_size: side in pixels.
        subcategories: keep only these emoji subcategories (default :data:`HEADS`: faces and heads, the
            closest to CelebA's aligned faces); None keeps all (hands, sports, families, ...).

    Returns:
        x (N, 3, S, S) in [0, 1]; y (N, 9) = one-hot skin tone (:data:`SKIN_TONES`) + one-hot gender
        (:data:`GENDERS`), i.e. :data:`EMOJI_GROUPS`; the emoji names.
    """
    from . import data

    checks.one_of(split, "split", ("train", "test"))
    ds = data.load("emoji-twitter", split=split, image_size=image_size)
    tone = ds.attrs["skin_tone"]
    sub = ds.attrs["subcategory"]
    idx = [i for i, (c, t) in enumerate(zip(ds.attrs["category"], tone.tolist()))
           if c == "People & Body" and t >= 0 and (subcategories is None or sub[i] in subcategories)]
    gender = torch.tensor([GENDERS.index(ds.attrs["gender"][i] or "none") for i in idx])
    y = EMOJI_GROUPS.encode(**{"skin tone": tone[idx], "gender": gender})
    return ds.x[idx], y, [ds.attrs["name"][i] for i in idx]


def flip(y: torch.Tensor, groups: AttributeGroups, name: str, value: int | torch.Tensor) -> torch.Tensor:
    """Set group ``name`` of every row of y (B, dim) to ``value`` (an int or (B,) ints): IcGAN's edit of y.

    Returns:
        A new (B, dim) tensor; the other groups are unchanged.
    """
    checks.ndim(y, "y", 2, f"(B, {groups.dim})")
    sl = groups.slice(name)
    k = sl.stop - sl.start
    v = torch.as_tensor(value).long().expand(len(y)) if torch.as_tensor(value).ndim == 0 else torch.as_tensor(value)
    if int(v.min()) < 0 or int(v.max()) >= k:
        raise ValueError(f"{name} has {k} values; got {v.tolist()[:5]}")
    out = y.clone()
    out[:, sl] = F.one_hot(v.long(), k).to(y)
    return out


def sampler_from(y: torch.Tensor) -> Callable[[int], torch.Tensor]:
    """``sample(n)``: n attribute vectors drawn (with replacement) from the data's y (N, dim): the fakes' y."""
    checks.ndim(y, "y", 2, "(N, dim)")
    y = y.clone()
    return lambda n: y[torch.randint(len(y), (n,))]


# ----------------------------------------------------------------------------------------
# IcGAN encoders
# ----------------------------------------------------------------------------------------
def latent_encoder_loss(encoder: nn.Module, generator: nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""IcGAN's $\mathcal{L}_{ez} = \mathbb{E}_{z, y}\lVert z - E_z(G(z, y))\rVert_2^2$ on one generated batch.

    G is used as a fixed data source (no gradient into it); the loss is the mean over the batch of the
    squared error summed over the latent dimensions divided by ``latent_dim`` (i.e. ``F.mse_loss``).

    Args:
        encoder: E_z, x (B, C, H, W) -> (B, latent_dim).
        generator: G(z, y).
        z: (B, latent_dim) latents.
        y: (B, dim) attributes.

    Reference:
        Perarnau et al., "Invertible Conditional GANs for image editing", arXiv:1611.06355, Eq. (3).
    """
    with torch.no_grad():
        x = generator(z, y)
    return F.mse_loss(encoder(x), z)


def train_latent_encoder(name: str, encoder: nn.Module, generator: nn.Module, sample_y: Callable[[int], torch.Tensor],
                         latent_dim: int, num_steps: int, batch_size: int = 64, lr: float = 2e-4) -> dict[str, list[float]]:
    """Train E_z on pairs (G(z, y), z) drawn fresh at every step (cached under checkpoint ``name``).

    Args:
        name: checkpoint name (e.g. ``"18-icgan-ez"``).
        encoder: E_z.
        generator: the trained G(z, y) (put in eval mode, not changed).
        sample_y: ``sample_y(n)`` -> (n, dim) attributes (:func:`sampler_from`).
        latent_dim: size of z.
        num_steps, batch_size, lr: optimisation (Adam, beta1 = 0.5).

    Returns:
        The history (``loss`` per step).
    """
    checks.positive_int(num_steps, "num_steps")
    checks.positive_int(batch_size, "batch_size")
    generator.eval().requires_grad_(False)
    dev = next(generator.parameters()).device

    def loss_fn(_: None) -> torch.Tensor:               # a fresh generated batch every step
        z = torch.randn(batch_size, latent_dim, device=dev)
        return latent_encoder_loss(encoder, generator, z, sample_y(batch_size).to(dev))

    # E_z trains where G generates (CUDA-safe)
    fit = train.fit_loss(name, {"encoder": encoder}, loss_fn, None, num_steps=num_steps, lr=lr, betas=(0.5, 0.999),
                         device=dev, desc="E_z")
    encoder.eval()
    return fit.history


def train_attribute_encoder(name: str, encoder: nn.Module, x: torch.Tensor, y: torch.Tensor, groups: AttributeGroups,
                            num_steps: int, batch_size: int = 64, lr: float = 2e-4, flip_lr: bool = True
                            ) -> dict[str, list[float]]:
    """Train E_y on real labelled images x (N, C, H, W) in [-1, 1] with attributes y (N, dim).

    Args:
        name: checkpoint name.
        encoder: E_y, x -> (B, dim) logits.
        x, y: training images and their attribute vectors.
        groups: the attribute groups (the loss is :meth:`AttributeGroups.loss`).
        num_steps, batch_size, lr: optimisation (Adam, beta1 = 0.5).
        flip_lr: random horizontal flips (augmentation; attributes do not change under a mirror).

    Returns:
        The history (``loss`` per step).
    """
    checks.image_batch(x, "x")
    checks.ndim(y, "y", 2, f"(N, {groups.dim})")
    checks.positive_int(num_steps, "num_steps")
    checks.positive_int(batch_size, "batch_size")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} rows")
    if y.shape[1] != groups.dim:
        raise ValueError(f"y must have {groups.dim} columns ({list(groups.groups)}), got {y.shape[1]}")
    g = torch.Generator().manual_seed(0)
    dev = next(encoder.parameters()).device
    x, y = x.to(dev), y.to(dev)                      # train where the encoder lives (CUDA-safe)
    batches = train.random_batches(x, y, batch_size=batch_size, generator=g, replacement=True)

    def loss_fn(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        xb, yb = batch
        if flip_lr:                                  # drawn from the batches' generator (a resume replays batches only)
            mirror = (torch.rand(len(xb), 1, 1, 1, generator=g) < 0.5).to(dev)
            xb = torch.where(mirror, xb.flip(-1), xb)
        return groups.loss(encoder(xb), yb)

    fit = train.fit_loss(name, {"encoder": encoder}, loss_fn, batches, num_steps=num_steps, lr=lr,
                         betas=(0.5, 0.999), desc="E_y")
    encoder.eval()
    return fit.history


def icgan_decoder(generator: nn.Module, latent_dim: int) -> Decoder:
    """The conditional G as a function of one code w = [z, y] (B, latent_dim + dim) -> images: what is inverted."""
    checks.positive_int(latent_dim, "latent_dim")
    return lambda w: generator(w[:, :latent_dim], w[:, latent_dim:])


def icgan_encoder(encoder_z: nn.Module, encoder_y: nn.Module, groups: AttributeGroups
                  ) -> Callable[[torch.Tensor], torch.Tensor]:
    """IcGAN's encoder x -> w = [E_z(x), one-hot argmax of E_y(x)] (B, latent_dim + dim).

    Reference: Perarnau et al. 2016, arXiv:1611.06355, Fig. 1 (E_z and E_y side by side; y thresholded).
    """
    return lambda x: torch.cat([encoder_z(x), groups.hard(encoder_y(x)).to(x)], 1)


# ----------------------------------------------------------------------------------------
# Inversion: optimisation, encoder, hybrid
# ----------------------------------------------------------------------------------------
@dataclass
class Inversion:
    """What an inversion method returns.

    Attributes:
        codes: (B, d) the codes w found.
        images: (B, C, H, W) G(w) in [-1, 1] (detached).
        seconds: wall time of the whole batch.
        losses: the mean objective after each optimisation step (empty for the encoder).
    """

    codes: torch.Tensor
    images: torch.Tensor
    seconds: float
    losses: list[float] = field(default_factory=list)

    def mse(self, x: torch.Tensor) -> float:
        """Mean squared error to x (B, C, H, W) in [-1, 1], measured in [0, 1] units."""
        return float(F.mse_loss(images.to_unit(self.images), images.to_unit(x.to(self.images))))


def _sync(t: torch.Tensor) -> None:
    """Wait for queued CUDA kernels so that wall times measure the work, not its launch."""
    if t.is_cuda:
        torch.cuda.synchronize(t.device)


def reconstruction_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    r"""Per-image mean squared error $\frac{1}{CHW}\lVert \hat x - x\rVert_2^2$, summed over the batch.

    Summing (not averaging) over the batch keeps every image's gradient independent of the batch size,
    so a batch of projections behaves like separate runs.
    """
    return (x_hat - x).pow(2).flatten(1).mean(1).sum()


def optimise(decode: Decoder, x: torch.Tensor, w_init: torch.Tensor, num_steps: int, lr: float = 0.05,
             forward_op: Callable[[torch.Tensor], torch.Tensor] | None = None,
             prior_weight: float = 0.0) -> Inversion:
    r"""Optimisation-based inversion: Adam on w to minimise $\lVert A(G(w)) - x\rVert^2 + \lambda\lVert w\rVert^2$.

    Per image, both terms are means: $\frac{1}{CHW}\lVert A(G(w_i)) - x_i\rVert^2 + \frac{\lambda}{d}\lVert w_i\rVert^2$
    (:func:`reconstruction_loss` and the prior), summed over the batch so that every image's gradient is that of its
    own run.

    Args:
        decode: w (B, d) -> images (B, C, H, W) in [-1, 1]; G in eval mode.
        x: (B, C', H, W) target images in [-1, 1] (already degraded if ``forward_op`` is given).
        w_init: (B, d) starting codes (zeros / random for pure optimisation, E(x) for the hybrid).
        num_steps: Adam steps (>= 1).
        lr: Adam learning rate.
        forward_op: A, a differentiable degradation applied to G(w) before the comparison (rephotography);
            None: identity.
        prior_weight: lambda of a small ridge term keeping w near the prior's typical set (on the mean of
            w_i^2 over the d entries).

    Returns:
        :class:`Inversion` (images are the clean G(w), not A(G(w))).

    Reference:
        Zhu et al., "Generative Visual Manipulation on the Natural Image Manifold", ECCV 2016, arXiv:1609.03552,
        Eq. (1)-(2); Xia et al., "GAN Inversion: A Survey", TPAMI 2022, arXiv:2101.05278, Sec. 3.2.
    """
    checks.image_batch(x, "x")
    checks.ndim(w_init, "w_init", 2, "(B, d)")
    checks.positive_int(num_steps, "num_steps")
    if len(w_init) != len(x):
        raise ValueError(f"w_init has {len(w_init)} rows but x has {len(x)} images: one code per image")
    op = forward_op or (lambda t: t)
    t0 = time.perf_counter()
    w = w_init.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    losses = []
    for _ in range(num_steps):
        loss = reconstruction_loss(op(decode(w)), x)
        if prior_weight:
            loss = loss + prior_weight * w.pow(2).mean(1).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()) / len(x))
    with torch.no_grad():
        images = decode(w)
    _sync(images)
    return Inversion(w.detach(), images, time.perf_counter() - t0, losses)


@torch.no_grad()
def encode(decode: Decoder, encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Inversion:
    """Learning-based inversion: w = E(x), one forward pass (plus decoding, timed together).

    Args:
        decode: w -> images.
        encoder: x (B, C, H, W) in [-1, 1] -> w (B, d).
        x: target images in [-1, 1].

    Reference:
        Perarnau et al. 2016 (IcGAN encoders); Xia et al. 2022, arXiv:2101.05278, Sec. 3.1.
    """
    checks.image_batch(x, "x")
    _sync(x)
    t0 = time.perf_counter()
    w = encoder(x)
    images = decode(w)
    _sync(images)
    return Inversion(w, images, time.perf_counter() - t0)


def hybrid(decode: Decoder, encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, num_steps: int,
           lr: float = 0.05, forward_op: Callable[[torch.Tensor], torch.Tensor] | None = None,
           prior_weight: float = 0.0, x_encoder: torch.Tensor | None = None) -> Inversion:
    """Hybrid inversion: start the optimisation at the encoder's code w0 = E(x) (time includes the encoder).

    Args:
        decode, x, num_steps, lr, forward_op, prior_weight: as :func:`optimise`.
        encoder: x -> w.
        x_encoder: what the encoder sees (default x); e.g. the degraded photo when rephotographing.

    Reference:
        Zhu et al. 2016, arXiv:1609.03552, Sec. 3.1 ("hybrid method": a predictive network for the
        initial guess, then optimisation); Xia et al. 2022, Sec. 3.3.
    """
    checks.image_batch(x, "x")
    if x_encoder is not None and len(x_encoder) != len(x):
        raise ValueError(f"x_encoder has {len(x_encoder)} images but x has {len(x)}: one encoder input per target")
    _sync(x)
    t0 = time.perf_counter()
    with torch.no_grad():
        w0 = encoder(x if x_encoder is None else x_encoder)
    _sync(w0)
    t_enc = time.perf_counter() - t0
    out = optimise(decode, x, w0, num_steps, lr, forward_op, prior_weight)
    out.seconds += t_enc
    return out


# ----------------------------------------------------------------------------------------
# Degradations for rephotography
# ----------------------------------------------------------------------------------------
DEGRADATIONS = ("blur", "noise", "grayscale")


def _gray3(x: torch.Tensor) -> torch.Tensor:
    """BT.601 luma repeated to 3 channels (``images.luma``; linear, so valid on [-1, 1] too)."""
    checks.image_batch(x, "x", channels=3)
    return images.luma(x).expand(-1, 3, -1, -1)


def forward_operator(kind: str, amount: float = 1.0) -> Callable[[torch.Tensor], torch.Tensor]:
    """The differentiable operator A of a degradation (used inside the projection's loss).

    ``blur``: Gaussian blur with sigma = ``amount`` pixels; ``noise``: identity (the noise is not modelled,
    the generator's manifold removes it); ``grayscale``: BT.601 luma repeated to 3 channels. All three are
    linear with weights summing to 1, so they work on [-1, 1] images as on [0, 1] ones.
    """
    checks.one_of(kind, "degradation", DEGRADATIONS)
    if kind == "blur":
        if not amount > 0:
            raise ValueError(f"blur needs sigma > 0, got {amount}")
        return lambda x: images.blur(x, amount)
    if kind == "grayscale":
        return _gray3
    return lambda x: x


def degrade(x: torch.Tensor, kind: str, amount: float = 1.0, seed: int = 0) -> torch.Tensor:
    """A degraded observation of images x (B, 3, H, W) in [-1, 1]: A(x), plus Gaussian noise for ``noise``.

    Args:
        x: clean images in [-1, 1].
        kind: ``blur`` (sigma = amount px), ``noise`` (std = amount in [0, 1] units, i.e. 2 * amount in
            [-1, 1] units; clipped), ``grayscale``.
        amount: strength.
        seed: noise seed.

    Returns:
        (B, 3, H, W) in [-1, 1].
    """
    checks.image_batch(x, "x", channels=3)
    y = forward_operator(kind, amount if kind == "blur" else 1.0)(x)
    if kind == "noise":
        if amount < 0:
            raise ValueError(f"noise std must be >= 0, got {amount}")
        y = images.to_pm1(images.degrade(images.to_unit(y), "noise", amount, seed))     # std amount in [0, 1] units
    return y


def data_consistent(observed: torch.Tensor, x_gen: torch.Tensor, forward_op: Callable[[torch.Tensor], torch.Tensor]
                    ) -> torch.Tensor:
    r"""Keep what the observation measured, take only the rest from the generator: $\tilde x + G(w^*) - A(G(w^*))$.

    A projection $G(w^*)$ can be no closer to the truth than the generator's own reconstruction of the clean
    image (its ceiling), even where the observation $\tilde x = A(x)$ holds most of the image (a light blur,
    the luma of a gray photo). Adding back only the part of $G(w^*)$ that $A$ removes keeps $A(\hat x) \approx \tilde x$:
    for a blur, the observation's low frequencies plus the generator's high frequencies; for gray, the
    observation's luma plus the generator's colour. Exact (``A(x_hat) = observed``) when A is a projection
    (``A(A(x)) = A(x)``, e.g. the luma); for a blur an approximation. With A = identity (noise) it returns the
    observation unchanged: there the plain projection is the restoration.

    Args:
        observed: (B, C, H, W) the degraded observation in [-1, 1].
        x_gen: (B, C, H, W) the projection G(w*) in [-1, 1] (:func:`hybrid` / :func:`optimise` with ``forward_op``).
        forward_op: the degradation's operator A (:func:`forward_operator`).

    Returns:
        (B, C, H, W) in [-1, 1] (clamped).

    Reference:
        Wang, Yu & Zhang, "Zero-Shot Image Restoration Using Denoising Diffusion Null-Space Model", ICLR 2023,
        arXiv:2212.00490, Eq. (4) (range-null space decomposition $A^\dagger y + (I - A^\dagger A)\bar x$; here with
        $A^\dagger \approx I$ on the observation).
    """
    checks.image_batch(observed, "observed")
    checks.image_batch(x_gen, "x_gen")
    if observed.shape != x_gen.shape:
        raise ValueError(f"observed and x_gen must have the same shape, got {tuple(observed.shape)} and "
                         f"{tuple(x_gen.shape)}")
    x_gen = x_gen.to(observed)
    return (observed + x_gen - forward_op(x_gen)).clamp(-1, 1)


# ----------------------------------------------------------------------------------------
# Independent judges of the attributes (trained on real emoji only)
# ----------------------------------------------------------------------------------------
JUDGE_CLASSES: dict[str, tuple[str, ...]] = {"skin tone": SKIN_TONES, "gender": GENDERS[1:]}
"""The classes of :func:`attribute_judge` per attribute: six tones; man / woman (gender-neutral emoji are left out)."""


def judge_labels(y: torch.Tensor, name: str, groups: AttributeGroups = EMOJI_GROUPS) -> torch.Tensor:
    """Attribute vectors y (B, dim) -> the judge's class of attribute ``name`` (B,): -1 where it has none (no gender)."""
    checks.one_of(name, "judged attribute", JUDGE_CLASSES)
    v = groups.decode(y)[name]
    return v - 1 if name == "gender" else v


def attribute_judge(name: str, image_size: int = 32, num_steps: int = 400) -> metrics.FeatureNetwork:
    """An independent judge of one emoji attribute, trained on real emoji only (never on G's images, never E_y).

    ``metrics.image_judge`` on every emoji of the "People & Body" category with a skin tone (not only heads:
    more images per tone), train split; measured on the test split (other base emoji, all tones). For
    ``gender`` only the emoji drawn as a man or a woman, classes :data:`JUDGE_CLASSES` (man = 0, woman = 1).

    Args:
        name: ``"skin tone"`` or ``"gender"``.
        image_size: side in pixels (that of the judged images).
        num_steps: training steps.

    Returns:
        A ``metrics.FeatureNetwork`` whose ``test_accuracy`` is its held-out accuracy; its classes are
        ``JUDGE_CLASSES[name]`` (map attribute vectors with :func:`judge_labels`).

    Reference:
        Perarnau et al. 2016, arXiv:1611.06355, Sec. 4 (edits judged by attribute classifiers).
    """
    checks.one_of(name, "judged attribute", JUDGE_CLASSES)
    x, y, _ = emoji_people("train", image_size, subcategories=None)
    x_test, y_test, _ = emoji_people("test", image_size, subcategories=None)
    c, c_test = judge_labels(y, name), judge_labels(y_test, name)
    keep, keep_test = c >= 0, c_test >= 0
    return metrics.image_judge(f"emoji-{name.replace(' ', '-')}-{image_size}", x[keep], c[keep], x_test[keep_test],
                               c_test[keep_test], JUDGE_CLASSES[name], num_steps)

