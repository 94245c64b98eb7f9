r"""Face aging with a conditional adversarial autoencoder (CAAE, notebook 19), trained with :mod:`course_lib.gan`.

CAAE (Zhang, Song & Qi 2017, Eq. (5)):

$$\min_{E,G}\max_{D_z,D_{img}}\ \lambda\,\mathcal{L}(x, G(E(x), l)) + \gamma\,\mathrm{TV}(G(E(x), l))
 + \mathbb{E}_{z^*}[\log D_z(z^*)] + \mathbb{E}_x[\log(1 - D_z(E(x)))]
 + \mathbb{E}_{x,l}[\log D_{img}(x, l)] + \mathbb{E}_{x,l}[\log(1 - D_{img}(G(E(x), l), l))]$$

How it maps onto the one adversarial engine (no new loop):

* "the generator" is ``nets.aging.CAAE(E, G)``: ``(x, l) -> G(E(x), l)``, called through
  ``generator_input=lambda z, c: c`` with the condition ``c = (x, l)`` (``latent_dim=None``);
* "the discriminator" is ``nets.aging.CAAEDiscriminator(D_img, D_z)``: the engine's adversarial loss is
  D_img's, on ``(x, l)`` (``discriminator_input=lambda x, c: (x, c[1])``);
* D_z's prior matching is a discriminator term (:func:`prior_d_term`) and E's side of it a generator term
  (:func:`prior_g_term`); the reconstruction $\mathcal{L}$ (L1, ``gan.l1_term``) and TV (:func:`tv_term`) are
  generator terms; the image-GAN weight $\beta$ is the variant's ``adv_weight`` (0: no image GAN at all, a pure
  adversarial autoencoder: D_img gets no loss and is not trained).

The "decoupled" alternative AE//GAN (Zhang et al. 2018) is ``nets.aging.DecoupledCAAE`` with
:func:`decoupled_reconstruction_term`. Blur vs noise is measured by :func:`course_lib.quality.detail_ratio`
(fine detail relative to real images: < 1 blurry, > 1 noisy) next to reconstruction L1 / PSNR (:func:`image_scores`).
Whether an output shows the asked age is judged by a classifier of the age group trained on real faces only
(``metrics.image_judge``; :func:`target_age_rate`); whether it keeps the person, by retrieval of the true
variant among all faces of that age (:func:`identity_retrieval`); what the prior matching D_z buys, by decoding
prior codes (:func:`decode_prior`).

Data stand-in: :func:`emoji_faces` (emoji people with age variants baby / child / adult / older, in two
drawing styles) replaces the real age-labelled face photos (Morph, CACD, UTKFace) of the paper.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from . import checks, data, gan, images, losses, metrics, quality
from . import train as training          # aging.train (below) trains a CAAE
from .nets import aging as anets
from .nets import classifier as classifier_net
from .nets import dcgan

AGES = ("baby", "child", "adult", "older")


# ----------------------------------------------------------------------------------------
# Data: emoji faces with age labels
# ----------------------------------------------------------------------------------------
@dataclass
class Faces:
    """Face images with age groups.

    Attributes:
        x: (N, 3, S, S) in [0, 1].
        age: (N,) index into :data:`AGES`.
        names: emoji names (with the drawing style appended).
    """

    x: torch.Tensor
    age: torch.Tensor
    names: list[str]

    def __len__(self) -> int:
        return len(self.x)

    def labels(self) -> torch.Tensor:
        """(N, len(AGES)) one-hot age labels l."""
        return F.one_hot(self.age, len(AGES)).float()


HELD_OUT_TONE = 3          # "medium skin tone": every face of this tone, at every age, is kept out of training

# the age variants of one person: adult emoji -> {age: the emoji of that age}
LADDERS = {"adult": {"baby": "baby", "child": "child", "older": "older adult"},
           "man": {"child": "boy", "older": "older man"},
           "woman": {"child": "girl", "older": "older woman"}}


def emoji_faces(split: str = "train", image_size: int = 32, styles: Sequence[str] = ("twitter", "google"),
                held_out_tone: int = HELD_OUT_TONE) -> Faces:
    """Emoji faces with an age group: the stand-in for age-labelled face photos.

    All emoji of subcategory "person" -- baby; child / boy / girl; adult / man / woman with hair variants;
    older adult / man / woman -- in 6 skin tones and both drawing styles (Twitter, Google). ``test`` holds
    every face of one skin tone (``held_out_tone``, at every age); ``train`` the other five tones. A model
    must then combine a tone it saw only in the test face (through z) with an age it learnt from other
    tones (through l), and :func:`age_pairs` gives the true older / younger variant to compare with.

    Args:
        split: ``train`` or ``test``.
        image_size: side in pixels.
        styles: drawing styles (``twitter``; ``google`` comes from the emoji set's paired images).
        held_out_tone: skin tone 0..5 kept for the test split (0 is the default yellow; default 3, "medium").

    Returns:
        :class:`Faces` with images in [0, 1]; names end with the style, e.g. ``"man: medium skin tone (google)"``.
    """
    checks.one_of(split, "split", ("train", "test"))
    if not styles or any(s not in ("twitter", "google") for s in styles):
        raise ValueError(f"styles must be a non-empty subset of ('twitter', 'google'), got {styles!r}")
    if held_out_tone not in range(6):
        raise ValueError(f"held_out_tone must be a skin tone 0..5, got {held_out_tone}")
    ds = data.load("emoji-twitter", split="all", image_size=image_size)
    tone = ds.attrs["skin_tone"].tolist()
    idx = [i for i, (s, a) in enumerate(zip(ds.attrs["subcategory"], ds.attrs["age"]))
           if s == "person" and a is not None and (tone[i] == held_out_tone) == (split == "test")]
    xs, age, names = [], [], []
    for style in styles:
        imgs = ds.x if style == "twitter" else ds.attrs["paired"].clamp(0, 1)
        xs.append(imgs[idx])
        age += [AGES.index(ds.attrs["age"][i]) for i in idx]
        names += [f"{ds.attrs['name'][i]} ({style})" for i in idx]
    return Faces(torch.cat(xs), torch.tensor(age, dtype=torch.long), names)


def _base_and_rest(name: str) -> tuple[str, str]:
    """"man: medium skin tone (google)" -> ("man", ": medium skin tone (google)")."""
    style = name[name.rindex(" ("):]
    core = name[:name.rindex(" (")]
    base, _, tone = core.partition(":")
    return base, (":" + tone if tone else "") + style


def age_pairs(faces: Faces) -> list[tuple[int, int, int]]:
    """(source, target, target age) index triples: an adult face and its true variant of another age.

    Uses :data:`LADDERS` (adult -> baby / child / older adult, man -> boy / older man, woman -> girl /
    older woman) within one skin tone and one drawing style.
    """
    where = {n: i for i, n in enumerate(faces.names)}
    out = []
    for i, n in enumerate(faces.names):
        base, rest = _base_and_rest(n)
        for age, target in LADDERS.get(base, {}).items():
            j = where.get(target + rest)
            if j is not None:
                out.append((i, j, AGES.index(age)))
    return out


def balanced_loader(faces: Faces, batch_size: int, num_samples: int | None = None, seed: int = 0) -> DataLoader:
    """Batches ``(x, x, l)`` in [-1, 1] drawn with equal probability per age group (the groups are unbalanced).

    The engine reads ``(target, *condition)``: the target x, and the condition ``c = (x, l)`` (what the
    CAAE generator encodes, and the age it decodes with).
    """
    checks.positive_int(batch_size, "batch_size")
    counts = torch.bincount(faces.age, minlength=len(AGES)).float()
    if len(counts) != len(AGES) or (counts == 0).any():
        empty = [a for a, c in zip(AGES, counts.tolist()) if c == 0]
        raise ValueError(f"every age group {AGES} needs at least one face; empty: {empty}, "
                         f"counts {counts.long().tolist()}")
    weights = 1.0 / counts[faces.age]
    g = torch.Generator().manual_seed(seed)
    sampler = WeightedRandomSampler(weights, num_samples or len(faces), replacement=True, generator=g)
    x = images.to_pm1(faces.x)
    return DataLoader(TensorDataset(x, x, faces.labels()), batch_size=batch_size, sampler=sampler, drop_last=True)


# ----------------------------------------------------------------------------------------
# Loss terms (data of a gan.Variant)
# ----------------------------------------------------------------------------------------
def tv_term(b: gan.Batch) -> torch.Tensor:
    r"""$\mathrm{TV}(G(E(x), l))$ of the fakes (``losses.total_variation``): CAAE's smoothness term $\gamma$."""
    return losses.total_variation(b.x_fake)


def _last_z(gen: anets.CAAE, b: gan.Batch) -> torch.Tensor:
    z = gen.last_z
    if z is None or len(z) != len(b.x_real):
        raise RuntimeError("the CAAE generator has not encoded this batch (last_z missing or of another batch): "
                           "use the prior terms only inside a gan.Trainer whose generator is this CAAE")
    return z.float()                                    # E may have run under autocast; D_z's terms run in float32


def uniform_prior(n: int, latent_dim: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """z* ~ U[-1, 1]^latent_dim, shape (n, latent_dim): CAAE's prior (E ends in Tanh)."""
    return torch.rand(n, latent_dim, device=device) * 2 - 1


def prior_d_term(gen: anets.CAAE, discriminator: anets.CAAEDiscriminator) -> gan.Term:
    r"""D_z's loss: $-\log D_z(z^*) - \log(1 - D_z(E(x)))$ with $z^* \sim U[-1, 1]$ (a discriminator term).

    Reference: Zhang et al. 2017, arXiv:1702.08423, Eq. (3) (the adversarial-autoencoder prior matching).
    """

    def term(b: gan.Batch) -> torch.Tensor:
        z = _last_z(gen, b).detach()
        z_star = uniform_prior(len(z), z.shape[1], z.device)
        return losses.minimax_d_loss(discriminator.d_z(z_star), discriminator.d_z(z))

    return term


def prior_g_term(gen: anets.CAAE, discriminator: anets.CAAEDiscriminator) -> gan.Term:
    r"""E's side of the prior matching, non-saturating: $-\log D_z(E(x))$ (a generator term; D_z is frozen)."""

    def term(b: gan.Batch) -> torch.Tensor:
        return losses.nonsaturating_g_loss(discriminator.d_z(_last_z(gen, b)))

    return term


def decoupled_reconstruction_term(gen: anets.DecoupledCAAE) -> gan.Term:
    """AE//GAN: the L1 reconstruction of the autoencoder path only (``gen.last_ae``), not of the output."""

    def term(b: gan.Batch) -> torch.Tensor:
        if gen.last_ae is None or len(gen.last_ae) != len(b.x_real):
            raise RuntimeError("the DecoupledCAAE has not decoded this batch")
        return (gen.last_ae - b.x_real).abs().mean()

    return term


def caae_variant(gen: anets.CAAE, discriminator: anets.CAAEDiscriminator, gan_weight: float,
                 rec_weight: float = 1.0, tv_weight: float = 0.01, prior_weight: float = 0.01, lr: float = 2e-4
                 ) -> gan.Variant:
    r"""The CAAE objective (Eq. (5)) as a ``gan.Variant``: weighted image-GAN loss + rec + TV + prior terms.

    G minimises $\beta L_{GAN} + \lambda L_{rec} + \gamma\,\mathrm{TV} + w_z L_{prior}$ with $\beta$ = ``gan_weight``
    the variant's ``adv_weight`` (non-saturating); D_img's loss is the unweighted binary cross-entropy on
    ``(x, l)``, D_z's the prior term. ``gan_weight=0`` is the adversarial autoencoder without an image GAN:
    the engine computes no D_img loss at all, so D_img keeps its initial weights (only D_z trains).

    Args:
        gen: the CAAE (or DecoupledCAAE: then the reconstruction is on its AE path and ``gan_weight`` should
            be 1, the residual path seeing only the adversarial loss).
        discriminator: D_img and D_z.
        gan_weight: $\beta$, the weight of D_img's adversarial loss for G (the AE+GAN balance swept in the
            notebook), >= 0.
        rec_weight: $\lambda$ of the L1 reconstruction.
        tv_weight: $\gamma$ of the total variation.
        prior_weight: weight of E's prior-matching (D_z) loss.
        lr: Adam learning rate of both players (beta1 = 0.5).
    """
    if not (isinstance(gan_weight, (int, float)) and gan_weight >= 0):
        raise ValueError(f"the GAN weight must be a number >= 0, got {gan_weight!r}")
    rec = decoupled_reconstruction_term(gen) if isinstance(gen, anets.DecoupledCAAE) else gan.l1_term
    return gan.variant("ns", adv_weight=gan_weight, lr_d=lr, lr_g=lr,
                       g_terms={"rec": (rec_weight, rec), "tv": (tv_weight, tv_term),
                                "prior": (prior_weight, prior_g_term(gen, discriminator))},
                       d_terms={"prior": (1.0, prior_d_term(gen, discriminator))})


def build(latent_dim: int = 50, width: int = 32, image_size: int = 32, label_repeat: int | None = None,
          decoupled: bool = False) -> tuple[anets.CAAE, anets.CAAEDiscriminator]:
    """A fresh CAAE (or AE//GAN) generator and its two discriminators for :data:`AGES`.

    Args:
        latent_dim, width, image_size: sizes.
        label_repeat: how often G's input repeats the one-hot age; default about as many numbers as z has
            (``round(latent_dim / len(AGES))``, the authors' code tiles the label to z's length), so that the
            age is not drowned by the code (with 4 repeats of 4 ages against 50 code numbers, the outputs took the
            asked age visibly less often in a trial run).
        decoupled: AE//GAN (a residual generator beside the autoencoder's) instead of AE+GAN.

    Reference:
        Zhang, Song & Qi 2017, arXiv:1702.08423, Fig. 3 (G(z, l)); released code, ``tile_ratio = 1.0``.
    """
    n = len(AGES)
    label_repeat = max(1, round(latent_dim / n)) if label_repeat is None else checks.positive_int(label_repeat,
                                                                                                  "label_repeat")
    enc = dcgan.Encoder(latent_dim, 3, image_size, width, bound=True)
    dec = dcgan.AttributeGenerator(latent_dim, n, 3, image_size, width, label_repeat)
    if decoupled:
        res = dcgan.AttributeGenerator(latent_dim, n, 3, image_size, width, label_repeat)
        gen: anets.CAAE = anets.DecoupledCAAE(enc, dec, res)
    else:
        gen = anets.CAAE(enc, dec)
    disc = anets.CAAEDiscriminator(dcgan.AttributeDiscriminator(n, 3, image_size, width),
                                   anets.LatentDiscriminator(latent_dim))
    return gen, disc


def trainer(gen: anets.CAAE, discriminator: anets.CAAEDiscriminator, variant: gan.Variant, loader: DataLoader,
            log_every: int = 25, desc: str | None = None) -> gan.Trainer:
    """The engine's trainer for a CAAE: G(E(x), l) against D_img(x, l), c = (x, l) from :func:`balanced_loader`."""
    return gan.Trainer(gen, discriminator, variant, loader, latent_dim=None, conditional=True,
                       generator_input=lambda z, c: tuple(c), discriminator_input=lambda x, c: (x, c[1]),
                       log_every=log_every, desc=desc)


def train(name: str, faces: Faces, num_steps: int, gan_weight: float, batch_size: int = 32, latent_dim: int = 50,
          width: int = 32, decoupled: bool = False, **weights: float) -> gan.Run:
    """Build and train (or load) one CAAE with the engine: ``gan.load_or_train(name, ...)``.

    Args:
        name: checkpoint name (e.g. ``"19-caae-w0.01"``).
        faces: training faces.
        num_steps: generator updates.
        gan_weight: image-GAN weight (1 for AE//GAN).
        batch_size, latent_dim, width: sizes.
        decoupled: AE//GAN instead of AE+GAN.
        **weights: ``rec_weight``, ``tv_weight``, ``prior_weight``, ``lr`` for :func:`caae_variant`.

    Returns:
        The engine's ``gan.Run`` (``run.trainer.generator`` is the trained CAAE, in eval mode).
    """
    image_size = faces.x.shape[-1]
    gen, disc = build(latent_dim, width, image_size, decoupled=decoupled)
    v = caae_variant(gen, disc, gan_weight, **weights)
    loader = balanced_loader(faces, batch_size, num_samples=max(len(faces), batch_size * 50))
    run = gan.load_or_train(name, trainer(gen, disc, v, loader, desc=name), num_steps=num_steps)
    gen.eval()
    disc.eval()
    return run


# ----------------------------------------------------------------------------------------
# Using a trained CAAE
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def age_transfer(gen: anets.CAAE, faces: Faces, pairs: Sequence[tuple[int, int, int]]) -> dict[str, float]:
    """How close G(E(x_adult), l_target) comes to the true face of the target age (mean L1 in [0, 1] units).

    Returns:
        ``{"CAAE": L1 of the aged faces, "unchanged": L1 of the input adult (doing nothing)}``.
    """
    if not pairs:
        raise ValueError("no (adult, other age) pairs: use faces with complete ladders (emoji_faces)")
    src, tgt, ages = (torch.tensor(t) for t in zip(*pairs))
    x_out = progression(gen, faces.x[src])[ages, torch.arange(len(src))]
    return {"CAAE": float((x_out - faces.x[tgt]).abs().mean()),
            "unchanged": float((faces.x[src] - faces.x[tgt]).abs().mean())}


@torch.no_grad()
def reconstruct(gen: anets.CAAE, x: torch.Tensor, age: torch.Tensor) -> torch.Tensor:
    """G(E(x), l) for images x (B, 3, S, S) in [0, 1] with their own ages (B,) -> (B, 3, S, S) in [0, 1]."""
    checks.image_batch(x, "x", channels=3, lo=0, hi=1)
    if age.shape != (len(x),):
        raise ValueError(f"age must be (B={len(x)},) age-group indices, got shape {tuple(age.shape)}")
    dev = next(gen.parameters()).device                 # the net may live on the GPU, x on the CPU
    xd = x.to(dev)
    out = gen(images.to_pm1(xd), F.one_hot(age.to(dev).long(), len(AGES)).float().to(xd))
    return images.to_unit(out).to(x.device)


@torch.no_grad()
def progression(gen: anets.CAAE, x: torch.Tensor) -> torch.Tensor:
    """Every age for every face: x (B, 3, S, S) in [0, 1] -> (len(AGES), B, 3, S, S) in [0, 1].

    The face is encoded once, z = E(x), and decoded with each age label: G(z, l_k).

    Reference: Zhang et al. 2017, Sec. 3.4 (age progression / regression at test time).
    """
    checks.image_batch(x, "x", channels=3, lo=0, hi=1)
    dev = next(gen.parameters()).device                 # the net may live on the GPU, x on the CPU
    z = gen.encode(images.to_pm1(x.to(dev)))
    out = []
    for k in range(len(AGES)):
        l = F.one_hot(torch.full((len(x),), k, dtype=torch.long, device=dev), len(AGES)).float().to(z)
        x_k = gen.decode(z, l)
        if isinstance(gen, anets.DecoupledCAAE):
            x_k = (x_k + gen.residual_scale * gen.residual(z, l)).clamp(-1, 1)
        out.append(images.to_unit(x_k).to(x.device))
    return torch.stack(out)


def strip_rows(x: torch.Tensor, ages_out: torch.Tensor, label: str = "input") -> dict[str, torch.Tensor]:
    """Rows for ``viz.show_rows``: the inputs, then one row per age (columns = faces)."""
    return {label: x, **{a: ages_out[k] for k, a in enumerate(AGES)}}


# ----------------------------------------------------------------------------------------
# Measures: the asked age (by an independent judge) and the kept identity
# ----------------------------------------------------------------------------------------
@torch.no_grad()
def target_age_rate(gen: anets.CAAE, faces: Faces, judge: metrics.FeatureNetwork) -> dict[str, float]:
    """How often a face decoded at an asked age is judged to be of that age: every face at every age.

    Each face is encoded once and decoded at all ages (:func:`progression`); the judge -- a classifier of
    the age group trained on *real* faces only (``metrics.image_judge``), never one of the CAAE's networks --
    labels every output.

    Args:
        gen: a trained CAAE or AE//GAN.
        faces: the faces to age (held-out ones for the claim).
        judge: a :class:`course_lib.metrics.FeatureNetwork` with one logit per age group of :data:`AGES`.

    Returns:
        ``{"all": rate over the len(AGES) x N outputs, "changed": rate over the outputs whose asked age differs
        from the face's own, "n": number of outputs}``.

    Reference:
        Zhang, Song & Qi 2017, arXiv:1702.08423, Sec. 4.4 (age progression judged against the asked age group).
    """
    prog = progression(gen, faces.x)                                  # (A, N, 3, S, S)
    a, n = prog.shape[:2]
    asked = torch.arange(a).repeat_interleave(n)
    hit = metrics.class_probabilities(prog.flatten(0, 1), judge).argmax(1) == asked
    changed = asked != faces.age.repeat(a)
    return {"all": float(hit.double().mean()), "changed": float(hit[changed].double().mean()), "n": a * n}


@torch.no_grad()
def identity_retrieval(gen: anets.CAAE, faces: Faces, pairs: Sequence[tuple[int, int, int]]) -> dict[str, float]:
    """Is the aged face closest to the *same* person's true variant? Retrieval among all faces of the target age.

    For every pair (adult i, its true variant j of age a) the output G(E(x_i), l_a) is compared (mean absolute
    difference in [0, 1] units) with every face of ``faces`` whose age is a; a hit when the nearest is j. The
    same with the unchanged adult x_i as the query gives the do-nothing baseline.

    Args:
        gen: a trained CAAE or AE//GAN.
        faces: faces of one split (the candidates), e.g. the held-out tone.
        pairs: (source, target, target age) triples from :func:`age_pairs`.

    Returns:
        ``{"CAAE": hit rate, "unchanged": hit rate of the input adult, "chance": mean 1 / #candidates, "n": pairs}``.

    Reference:
        Zhang et al. 2017, arXiv:1702.08423, Sec. 4 (identity preservation); retrieval as in Zhu et al. 2017
        (CycleGAN), arXiv:1703.10593.
    """
    if not pairs:
        raise ValueError("no (adult, other age) pairs: use faces with complete ladders (emoji_faces)")
    src, tgt, ages = (torch.tensor(t) for t in zip(*pairs))
    aged = progression(gen, faces.x[src])[ages, torch.arange(len(src))]
    hits = {"CAAE": [], "unchanged": []}
    chance = []
    for k in range(len(src)):
        cand = (faces.age == ages[k]).nonzero().flatten()
        chance.append(1.0 / len(cand))
        for key, q in (("CAAE", aged[k]), ("unchanged", faces.x[src[k]])):
            d = (faces.x[cand] - q).abs().flatten(1).mean(1)
            hits[key].append(bool(cand[d.argmin()] == tgt[k]))
    return {"CAAE": sum(hits["CAAE"]) / len(src), "unchanged": sum(hits["unchanged"]) / len(src),
            "chance": sum(chance) / len(chance), "n": len(src)}


@torch.no_grad()
def decode_prior(gen: anets.CAAE, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Faces decoded from prior codes z* ~ U[-1, 1]^d at every age: what D_z is for (every code decodes to a face).

    Args:
        gen: a trained CAAE (the generator's ``latent_dim`` gives d).
        n: codes.
        seed: seed of the codes.

    Returns:
        (images (len(AGES) * n, 3, S, S) in [0, 1] on the CPU, asked ages (len(AGES) * n,)).

    Reference:
        Zhang et al. 2017, arXiv:1702.08423, Sec. 3.2 (D_z makes the code space smooth and filled);
        Makhzani et al. 2016, arXiv:1511.05644.
    """
    checks.positive_int(n, "n")
    dev = next(gen.parameters()).device
    d = gen.generator.latent_dim
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(n, d, generator=g) * 2 - 1).to(dev)
    out, asked = [], []
    for k in range(len(AGES)):
        l = F.one_hot(torch.full((n,), k, dtype=torch.long, device=dev), len(AGES)).float()
        out.append(images.to_unit(gen.decode(z, l)).float().cpu())
        asked.append(torch.full((n,), k, dtype=torch.long))
    return torch.cat(out), torch.cat(asked)


# ----------------------------------------------------------------------------------------
# Measures: blur vs noise
# ----------------------------------------------------------------------------------------
def image_scores(x_hat: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
    """Reconstruction L1, PSNR (dB) and :func:`course_lib.quality.detail_ratio` of outputs x_hat vs the real x (both in [0, 1])."""
    checks.image_batch(x_hat, "x_hat", lo=0, hi=1)
    checks.image_batch(x, "x", lo=0, hi=1)
    return {"L1": float((x_hat - x).abs().mean()), "PSNR": quality.psnr(x_hat, x),
            "detail ratio": quality.detail_ratio(x_hat, x)}


# ----------------------------------------------------------------------------------------
# Measures: which of several models looks most real (NRDS)
# ----------------------------------------------------------------------------------------
@dataclass
class NRDSResult:
    """What :func:`nrds` measured.

    Attributes:
        curves: model name -> the discriminator's mean output (probability "real") on that model's images after
            each epoch: it falls as the discriminator learns; the slower, the harder the model is to tell from real.
        real_curve: the same on the real images (stays high).
        areas: model name -> area under its curve (trapezoidal rule over the epochs).
        scores: model name -> NRDS, the area normalised by the sum of the areas of all models (sums to 1; higher
            = more realistic *relative to the others*; with n models, 1/n is the average).
    """

    curves: dict[str, list[float]]
    real_curve: list[float]
    areas: dict[str, float]
    scores: dict[str, float]


def nrds(real: torch.Tensor, fakes: Mapping[str, torch.Tensor], epochs: int = 20, batch_size: int = 32,
         width: int = 16, lr: float = 2e-4, seed: int = 0, device: str | torch.device | None = None) -> NRDSResult:
    r"""Normalized relative discriminative score (Zhang, Song & Qi 2018, Sec. 5): rank several models by realism.

    One binary discriminator (the course classifier's small CNN with one output, Adam(lr, beta1 = 0.5); the authors
    use a DCGAN-style discriminator) learns to tell the real images (label 1) from the pooled images of *all*
    models (label 0), in balanced batches of both (one batch, so that batch norm sees both classes, as at test
    time). After every epoch its mean output $C_i(e)$ on each model's images is recorded; a model whose images
    are harder to tell from real keeps a high output for longer. With $A_i = \int C_i$ (trapezoidal rule over
    the epochs),
    $$\mathrm{NRDS}_i = \frac{A_i}{\sum_j A_j}.$$
    The score is relative: it ranks the models compared together, and changes when the set changes.

    Args:
        real: (N, C, H, W) real images in [0, 1] (H = W = 28, 32 or 64).
        fakes: model name -> (M, C, H, W) images of that model in [0, 1] (at least two models).
        epochs: passes over the real images (each epoch pairs every real batch with a random batch of the pool).
        batch_size: real images (and as many fakes) per step.
        width: the discriminator's penultimate layer has ``8 * width`` units.
        lr: Adam's learning rate.
        seed: initialisation and shuffling seed (the caller's random stream is left alone).
        device: default :func:`course_lib.env.device`.

    Returns:
        An :class:`NRDSResult`.

    Reference:
        Zhang, Song & Qi, "Decoupled Learning for Conditional Adversarial Networks", WACV 2018, arXiv:1801.06790,
        Sec. 5 and Fig. 7 (their code: github.com/ZZUTK/Decoupled-Learning-Conditional-GAN, NRDS/).
    """
    from . import env

    checks.image_batch(real, "real", lo=0, hi=1)
    if not isinstance(fakes, Mapping) or len(fakes) < 2:
        raise ValueError("fakes must map at least two model names to image batches (NRDS compares models), got "
                         f"{type(fakes).__name__} with {len(fakes) if isinstance(fakes, Mapping) else 0} entries")
    for name, x in fakes.items():
        checks.image_batch(x, f"fakes[{name!r}]", lo=0, hi=1)
        if x.shape[1:] != real.shape[1:]:
            raise ValueError(f"fakes[{name!r}] must have the real images' shape (M, {', '.join(map(str, real.shape[1:]))}), "
                             f"got {tuple(x.shape)}")
    checks.positive_int(epochs, "epochs")
    checks.positive_int(batch_size, "batch_size")
    if len(real) < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} real images, got {len(real)}")
    dev = torch.device(device) if device is not None else env.device()
    names = list(fakes)
    pool = torch.cat([fakes[n] for n in names])
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        disc = classifier_net.Classifier(real.shape[1], 1, real.shape[-1], feature_dim=width * 8, dropout=0.0).to(dev)
        opt = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.999))
        g = torch.Generator().manual_seed(seed)

        def mean_output(x: torch.Tensor) -> float:
            with torch.no_grad():
                return float(torch.cat([torch.sigmoid(disc(c.to(dev)).float()).reshape(-1).cpu()
                                        for c in x.split(256)]).mean())

        curves: dict[str, list[float]] = {n: [] for n in names}
        real_curve: list[float] = []
        n_batches = len(real) // batch_size
        for _ in training.progress(range(epochs), desc="NRDS discriminator", unit="epoch"):
            disc.train()
            order = torch.randperm(len(real), generator=g)
            picks = torch.randint(len(pool), (n_batches * batch_size,), generator=g)
            for b in range(n_batches):
                xr = real[order[b * batch_size:(b + 1) * batch_size]].to(dev)
                xf = pool[picks[b * batch_size:(b + 1) * batch_size]].to(dev)
                scores = disc(torch.cat([xr, xf])).reshape(-1)      # one batch: batch norm sees both classes
                labels = torch.cat([torch.ones(len(xr)), torch.zeros(len(xf))]).to(dev)
                loss = F.binary_cross_entropy_with_logits(scores.float(), labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            disc.eval()
            for n in names:
                curves[n].append(mean_output(fakes[n]))
            real_curve.append(mean_output(real))
    areas = {n: float(torch.trapezoid(torch.tensor(c))) if len(c) > 1 else c[0] for n, c in curves.items()}
    total = sum(areas.values())
    if not total > 0:
        raise ValueError("the discriminator's output fell to 0 on every model at once: NRDS cannot rank them "
                         "(train it for fewer epochs or with a smaller learning rate)")
    return NRDSResult(curves, real_curve, areas, {n: a / total for n, a in areas.items()})
