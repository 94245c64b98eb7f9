"""One adversarial training loop for every GAN of the course.

A GAN *variant* is data -- a discriminator loss, a generator loss, an optional penalty, the
number of critic steps and the optimiser settings -- plus callbacks (weight clipping, sample
grids, an EMA of the generator, mode coverage, a cosine learning-rate decay). The loop never changes::

    G, D = mlp.generator(2, 2), mlp.discriminator(2)
    trainer = gan.Trainer(G, D, gan.variant("wgan-gp"), data=x_ring, latent_dim=2, batch_size=256,
                          callbacks=[gan.SampleGrid(every=500), gan.ModeCoverage(data.mixture_modes())])
    run = gan.load_or_train("wgan-gp-ring", trainer, num_steps=S.num_steps)   # cached, resumable
    run.history["d_loss"], run.extra["samples"], run.seconds

One *step* is ``n_critic`` discriminator updates (or ``critic_schedule(step)``: the original WGAN's 100 early
ones) followed by one generator update:

    # (1) Update D: maximize log D(x) + log(1 - D(G(z)))   (or the variant's critic objective)
    # (2) Update G: maximize log D(G(z))                    (or the variant's generator objective)

The hot loop is lean: diagnostics (loss means, discriminator accuracy, gradient norms, the
NaN/inf guard, the progress bar and checkpoint saves) run every ``log_every`` steps, so there
is one host-device synchronisation per ``log_every`` steps rather than per step. On a CUDA GPU
the forward passes run under ``torch.autocast`` (bf16, or fp16 with a ``GradScaler``); on a CPU
with native bf16 arithmetic convolutional networks run under bf16 autocast too (1.3-1.7x faster
there; ``COURSE_CPU_BF16=0`` switches it off, see :func:`course_lib.env.amp_dtype`).

Conditional GANs, image-to-image tasks and auxiliary losses use the same loop; what changes is
data (conditions, extra loss terms) and callbacks, never a subclass:

* **class-conditional** (Mirza & Osindero 2014, arXiv:1411.1784): the data come with conditions
  ``c`` (``cond=`` labels aligned with the data, or a loader of ``(x, c)`` pairs with
  ``conditional=True``: the sample first, its condition second); G is called as ``G(z, c)`` and
  D as ``D(x, c)``; fakes use sampled conditions ``sample_cond(n)``::

      trainer = gan.Trainer(G, D, gan.variant("ns"), x, latent_dim=16, cond=y,
                            sample_cond=lambda n: torch.randint(10, (n,)))
      trainer.sample(cond=torch.arange(10))              # one sample per class

* **paired image-to-image** (pix2pix, super-resolution, inpainting): ``c`` is the input image, fakes
  use the real batch's ``c``; ``latent_dim=None`` means no z (G is called as ``G(c)``), or map
  ``(z, c)`` to G's arguments with ``generator_input``. ``cond`` may also be a function of the real
  batch (``cond=lambda x: F.avg_pool2d(x, 4)`` for 4x super-resolution). Extra generator terms
  are data of the variant, each logged as ``g_<name>``::

      v = gan.variant("ns", g_terms={"l1": (100.0, gan.l1_term)})        # pix2pix, Eq. (4)
      trainer = gan.Trainer(G, D, v, loader_of_target_input_pairs, latent_dim=None)   # G(c), D(x, c)

* **auxiliary outputs of D** (AC-GAN, InfoGAN): D may return ``(scores, extra)``; the adversarial loss
  sees ``scores``, the terms see ``extra`` in their :class:`Batch` (``b.aux_real``, ``b.aux_fake``)::

      v = gan.variant("ns", d_terms={"cls": (1.0, gan.aux_class_d_term)},
                      g_terms={"cls": (1.0, gan.aux_class_g_term)})     # AC-GAN, Eq. (2)-(3)
      # InfoGAN: D(x) -> (scores, code logits); the code c is sampled for the fakes, D sees only x
      info = lambda b: F.cross_entropy(b.aux_fake, b.c_fake)                # -L_I, Eq. (5)
      v = gan.variant("ns", d_terms={"info": (1.0, info)}, g_terms={"info": (1.0, info)})
      gan.Trainer(G, D, v, x, 62, sample_cond=lambda n: torch.randint(10, (n,)),
                  discriminator_input=lambda x, c: (x,))

* **skipping D updates**: a callback whose ``skip_d_step(trainer, scores_real, scores_fake)`` returns
  True skips that D update (no backward, no optimiser step); ``d_skipped`` logs the fraction::

      gan.Trainer(G, D, gan.variant("ns"), voxels, 200, callbacks=[gan.SkipDIfAccurate(0.8)])  # 3D-GAN

* **what D trains on**: a callback whose ``fakes_for_d(trainer, x_fake)`` returns other fakes replaces the
  batch D scores (G still learns from this step's fakes): CycleGAN's history of 50 generated images::

      gan.Trainer(G, D, v, loader, None, ..., callbacks=[translation.ImagePool(50)])   # Shrivastava et al. 2017

* **the weight of the adversarial loss** is data too: ``adv_weight`` (SRGAN's 1e-3; 0 = terms only)::

      gan.variant("ns", adv_weight=1e-3, g_terms={"content": (1.0, content)})          # SRGAN, Eq. (3)

The course's MNIST DCGAN (:func:`mnist_dcgan`) is trained once and cached by name; every chapter that
judges a trained GAN on MNIST loads the same model.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import inspect
import itertools
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import checkpoints, checks, env, losses, train

DLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GLoss = Callable[[torch.Tensor], torch.Tensor]
Penalty = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------
# Callbacks
# ----------------------------------------------------------------------------------------
class Callback:
    """Hooks of the adversarial loop; override the ones you need.

    ``step`` counts completed generator updates (1, 2, ...). A callback that keeps tensors
    for later (sample grids) returns them from :meth:`state` and gets them back from
    :meth:`load_state` when a finished run is loaded from its checkpoint.
    """

    def on_init(self, trainer: Trainer) -> None:
        """When the trainer is built, before its networks are collected for a checkpoint."""

    def on_begin(self, trainer: Trainer) -> None:
        """Before the first step (also when resuming)."""

    def after_d_step(self, trainer: Trainer) -> None:
        """After every discriminator/critic optimiser step (not after a skipped one)."""

    def skip_d_step(self, trainer: Trainer, scores_real: torch.Tensor, scores_fake: torch.Tensor) -> bool:
        """Before every D update: return True to skip it (no backward, no optimiser step).

        Args:
            scores_real, scores_fake: (B,) or (B, 1) D's (detached) scores on this update's batches.

        Only callbacks that override this hook are asked; asking costs one host-device
        synchronisation per D update, so the plain loop does not pay for it.
        """
        return False

    def fakes_for_d(self, trainer: Trainer, x_fake: torch.Tensor) -> torch.Tensor:
        """Before every D update: the fakes D is trained on (default: this update's, unchanged).

        Args:
            x_fake: (B, ...) the generator's output for this D update, detached.

        Returns:
            (B, ...) the fakes D scores in its loss (the penalty and the D terms see them too), e.g. a
            mix of this batch and earlier ones (CycleGAN's image pool). The G update always uses this
            step's fakes. For a D that reads conditions, row i must still fit ``c_fake[i]``.

        Only callbacks that override this hook are asked, in order (each gets the previous one's output).
        """
        return x_fake

    def after_g_step(self, trainer: Trainer, step: int) -> None:
        """After every generator optimiser step."""

    def on_log(self, trainer: Trainer, step: int, logs: dict[str, float]) -> None:
        """Every ``log_every`` steps with the logged means (add entries to ``logs`` to log them)."""

    def on_end(self, trainer: Trainer) -> None:
        """After the last step."""

    def modules(self) -> dict[str, nn.Module]:
        """Extra networks to save in the checkpoint (e.g. the EMA generator)."""
        return {}

    def state(self) -> dict[str, Any]:
        """Tensors / numbers to keep in ``ckpt.extra``."""
        return {}

    def load_state(self, extra: Mapping[str, Any]) -> None:
        """Restore what :meth:`state` returned."""


class WeightClip(Callback):
    """Clip every critic parameter to [-c, c] after each critic step (the original WGAN).

    Reference:
        Arjovsky et al., "Wasserstein GAN", ICML 2017, Algorithm 1, line 7 (c = 0.01).
    """

    def __init__(self, c: float = 0.01):
        if not c > 0:
            raise ValueError(f"clipping value c must be > 0, got {c}")
        self.c = float(c)

    def after_d_step(self, trainer: Trainer) -> None:
        with torch.no_grad():
            for p in trainer.discriminator.parameters():
                p.clamp_(-self.c, self.c)

    def __repr__(self) -> str:
        return f"WeightClip(c={self.c})"


class CosineDecay(Callback):
    """Decay G's and D's learning rates from the variant's (``lr_g``, ``lr_d``) to 0 along a cosine over
    ``num_steps`` generator updates: after update t both rates are $\\mathrm{lr}_0 \\cdot (1 + \\cos(\\pi t / T)) / 2$
    (0 from t = T on). The rate is a function of the step alone, so a resumed run continues on the same curve.

    A GAN trained at a constant rate keeps oscillating around its equilibrium, and where it stops is a matter of the
    last few steps; a rate that goes to 0 lets it settle. SRGAN decays its rate 10x for the second half of its
    updates (Ledig et al. 2017, Sec. 3.2); the cosine is SGDR's (Loshchilov & Hutter 2017) without restarts.

    Args:
        num_steps: T, the generator updates over which the rates reach 0 (usually the run's length).
    """

    def __init__(self, num_steps: int):
        self.num_steps = checks.positive_int(num_steps, "num_steps")

    def factor(self, step: int) -> float:
        """(1 + cos(pi min(step, T) / T)) / 2: 1 at step 0, 0 from step T on."""
        return 0.5 * (1.0 + math.cos(math.pi * min(step, self.num_steps) / self.num_steps))

    def _set(self, trainer: Trainer, step: int) -> None:
        f = self.factor(step)
        for opt, lr in ((trainer.opt_g, trainer.variant.lr_g), (trainer.opt_d, trainer.variant.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * f

    def on_begin(self, trainer: Trainer) -> None:
        self._set(trainer, trainer.step)

    def after_g_step(self, trainer: Trainer, step: int) -> None:
        self._set(trainer, step)

    def __repr__(self) -> str:
        return f"CosineDecay(num_steps={self.num_steps})"


class EMA(Callback):
    """An exponential moving average of the generator's weights (sample from ``ema.generator``).

    $$\\theta_\\text{EMA} \\leftarrow \\beta\\,\\theta_\\text{EMA} + (1 - \\beta)\\,\\theta_G$$

    Batch-norm buffers are not averaged: the copy takes G's running statistics at every step. Those are the
    statistics of G's activations, not of the averaged weights', and the longer the average (beta near 1), the
    more they differ. ``standing_stats=n`` replaces them at the end of training by the statistics of the
    averaged generator itself over ``n`` batches of fresh latents (BigGAN's "standing statistics").

    Args:
        decay: beta in (0, 1).
        standing_stats: batches of latents (the trainer's batch size, a fixed seed) whose batch statistics
            become the copy's running statistics when training ends; 0: keep G's.

    Reference:
        Yazici et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019;
        Karras et al. 2018 (Progressive GAN) use beta = 0.999; Brock et al. 2019 (BigGAN), standing statistics.
    """

    def __init__(self, decay: float = 0.999, standing_stats: int = 0):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        if isinstance(standing_stats, bool) or not isinstance(standing_stats, int) or standing_stats < 0:
            raise ValueError(f"standing_stats must be a number of batches >= 0, got {standing_stats!r}")
        self.decay = decay
        self.standing_stats = standing_stats
        self.generator: nn.Module | None = None

    def on_init(self, trainer: Trainer) -> None:
        if self.generator is None:                    # the averaged copy starts as G
            self.generator = copy.deepcopy(trainer.generator).requires_grad_(False)
        if self.standing_stats and (trainer.latent_shape is None or (trainer.conditional and trainer.sample_cond is None)):
            raise ValueError("EMA(standing_stats=...) draws latents (and conditions with sample_cond=) for the "
                             "statistics: it needs a trainer with a latent z and, if conditional, sample_cond")

    def after_g_step(self, trainer: Trainer, step: int) -> None:
        with torch.no_grad():
            ema_p = [p for p in self.generator.parameters()]
            torch._foreach_lerp_(ema_p, [p.detach() for p in trainer.generator.parameters()], 1 - self.decay)
            for b_ema, b in zip(self.generator.buffers(), trainer.generator.buffers()):
                b_ema.copy_(b)

    def on_end(self, trainer: Trainer) -> None:
        if self.standing_stats:
            self.recompute_batch_norm(trainer, self.standing_stats)

    @torch.no_grad()
    def recompute_batch_norm(self, trainer: Trainer, n_batches: int, seed: int = 0) -> None:
        """Set the running statistics of the copy's batch-norm layers to its batch statistics, averaged over
        ``n_batches`` batches of latents drawn with ``seed`` (momentum None: an equal-weight average)."""
        norms = [m for m in self.generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            return
        rng = torch.Generator().manual_seed(seed)
        momenta, was_training = [m.momentum for m in norms], self.generator.training
        try:
            for m in norms:
                m.reset_running_stats()
                m.momentum = None                     # cumulative average over the batches
            self.generator.train()
            for _ in range(n_batches):
                z = torch.randn((trainer.batch_size, *trainer.latent_shape), generator=rng).to(trainer.device)
                c = trainer._to_device(trainer.sample_cond(len(z))) if trainer.conditional else None
                with trainer._autocast():
                    trainer.generate(z, c, generator=self.generator)
        finally:
            for m, momentum in zip(norms, momenta):
                m.momentum = momentum
            self.generator.train(was_training)

    def modules(self) -> dict[str, nn.Module]:
        if self.generator is None:
            raise RuntimeError("the EMA callback has no generator yet: pass it to a gan.Trainer (callbacks=[ema]) first")
        return {"generator_ema": self.generator}

    def __repr__(self) -> str:
        return f"EMA(decay={self.decay:g}" + (f", standing_stats={self.standing_stats})" if self.standing_stats else ")")


class Snapshot(Callback):
    """Keep ``fn(trainer)`` (a tensor) at step 0 and every ``every`` steps, e.g. D on a grid of x.

    After training ``extra[key]`` is a (T, ...) tensor and ``extra[key + "_steps"]`` the steps.
    """

    def __init__(self, every: int, fn: Callable[[Trainer], torch.Tensor], key: str):
        self.every = checks.positive_int(every, "every")
        self.fn, self.key = fn, key
        self.frames: list[torch.Tensor] = []
        self.steps: list[int] = []

    def _grab(self, trainer: Trainer, step: int) -> None:
        with torch.no_grad():
            self.frames.append(self.fn(trainer).detach().float().cpu())
        self.steps.append(step)

    def on_begin(self, trainer: Trainer) -> None:
        if not self.steps:
            self._grab(trainer, trainer.step)

    def after_g_step(self, trainer: Trainer, step: int) -> None:
        if trainer.due(step, self.every):
            self._grab(trainer, step)

    def state(self) -> dict[str, Any]:
        if not self.frames:
            return {}
        return {self.key: torch.stack(self.frames), self.key + "_steps": torch.tensor(self.steps)}

    def load_state(self, extra: Mapping[str, Any]) -> None:
        if self.key in extra:
            self.frames = list(extra[self.key])
            self.steps = [int(s) for s in extra[self.key + "_steps"]]


class SampleGrid(Snapshot):
    """Samples of a fixed batch of z at step 0 and every ``every`` steps (``extra["samples"]``).

    Args:
        every: steps between grids.
        n: samples per grid (ignored when ``cond`` is given: one sample per condition).
        seed: seed of the fixed z (and of the conditions drawn with the trainer's ``sample_cond``).
        key: name in ``extra``.
        cond: fixed conditions (n, ...) for a conditional trainer, e.g. ``torch.arange(10)`` or a
            batch of input images; default: ``n`` conditions drawn once from ``sample_cond``.
    """

    def __init__(self, every: int, n: int = 64, seed: int = 1234, key: str = "samples", cond: Any = None):
        self.cond = cond
        self.n = checks.positive_int(n, "n") if cond is None else _num_rows(cond)
        self.seed = seed
        self.z: torch.Tensor | None = None
        self._ready = False
        super().__init__(every, self._sample, key)

    def _sample(self, trainer: Trainer) -> torch.Tensor:
        if not self._ready:
            g = torch.Generator().manual_seed(self.seed)
            if trainer.latent_shape is not None:
                self.z = torch.randn(self.n, *trainer.latent_shape, generator=g).to(trainer.device)
            if trainer.conditional:
                if self.cond is None:
                    if trainer.sample_cond is None:
                        raise ValueError("SampleGrid on a conditional trainer needs cond=... (the conditions to "
                                         "show) or a trainer with sample_cond")
                    with torch.random.fork_rng(devices=[]):       # leaves the training random stream alone
                        torch.manual_seed(self.seed)
                        self.cond = trainer.sample_cond(self.n)
                self.cond = trainer._to_device(self.cond)
            self._ready = True
        return trainer.generate(self.z, self.cond)


class ModeCoverage(Callback):
    """Count the modes of a known 2-D mixture the generator covers; warn on mode collapse.

    Logs ``modes`` (covered modes) and ``hq`` (fraction of high-quality samples) into the history
    with ``modes_step``, and prints one warning when fewer than ``warn_below`` modes are covered.

    Args:
        modes: (K, 2) mixture centres (``data.mixture_modes()``).
        std: the components' standard deviation (a sample is high quality within 3 std).
        every: steps between evaluations.
        n: samples per evaluation.
        warn_below: warn under this many modes (default K // 2).
    """

    def __init__(self, modes: torch.Tensor, std: float = 0.02, every: int = 500, n: int = 2000,
                 warn_below: int | None = None):
        checks.ndim(modes, "modes", 2, "(K, 2)")
        self.modes, self.std = modes, std
        self.every, self.n = checks.positive_int(every, "every"), checks.positive_int(n, "n")
        self.warn_below = len(modes) // 2 if warn_below is None else warn_below
        self.warned = False

    def after_g_step(self, trainer: Trainer, step: int) -> None:
        if not trainer.due(step, self.every):
            return
        from . import metrics

        cov = metrics.mode_coverage(trainer.sample(self.n).float().cpu(), self.modes, self.std)
        trainer.log(modes=cov["modes_covered"], hq=cov["high_quality"], modes_step=step)
        if cov["modes_covered"] < self.warn_below and not self.warned:
            self.warned = True
            print(f"warning: mode collapse? only {cov['modes_covered']}/{len(self.modes)} modes covered at "
                  f"step {step} ({cov['high_quality']:.0%} high-quality samples)")


def d_accuracy(scores_real: torch.Tensor, scores_fake: torch.Tensor, threshold: float | None = 0.0) -> torch.Tensor:
    """D's accuracy on a real and a fake batch: mean of P(score_real > t) and P(score_fake <= t).

    Args:
        scores_real, scores_fake: (B,) or (B, 1) raw D scores.
        threshold: t (0 for logits); None: the midpoint of the two batches' mean scores (critics).

    Returns:
        A scalar tensor in [0, 1] (no host synchronisation).
    """
    s_real, s_fake = scores_real.detach().reshape(-1), scores_fake.detach().reshape(-1)
    thr = threshold if threshold is not None else 0.5 * (s_real.mean() + s_fake.mean())
    return 0.5 * ((s_real > thr).float().mean() + (s_fake <= thr).float().mean())


class SkipDIfAccurate(Callback):
    """Skip a D update when D already classifies more than ``max_acc`` of the batch correctly.

    Uses :meth:`Callback.skip_d_step`: a skipped update runs no backward pass and leaves D's
    weights and optimiser state unchanged. The engine logs the skipped fraction as ``d_skipped``.
    The accuracy uses the variant's ``threshold`` (0 for logits).

    Args:
        max_acc: accuracy above which D is not updated (0.8 in the paper).

    Reference:
        Wu et al., "Learning a Probabilistic Latent Space of Object Shapes via 3D GAN Modeling",
        NeurIPS 2016, arXiv:1610.07584, Sec. 3.1 ("we only update the discriminator if its accuracy
        in the last batch is not higher than 80%").
    """

    def __init__(self, max_acc: float = 0.8):
        if not 0 < max_acc <= 1:
            raise ValueError(f"max_acc must be in (0, 1], got {max_acc}")
        self.max_acc = float(max_acc)

    def skip_d_step(self, trainer: Trainer, scores_real: torch.Tensor, scores_fake: torch.Tensor) -> bool:
        return float(d_accuracy(scores_real, scores_fake, trainer.variant.threshold)) > self.max_acc

    def __repr__(self) -> str:
        return f"SkipDIfAccurate(max_acc={self.max_acc})"


# ----------------------------------------------------------------------------------------
# Extra loss terms (data of a variant)
# ----------------------------------------------------------------------------------------
@dataclass
class Batch:
    """What an extra loss term ``fn(batch) -> scalar`` sees (:attr:`Variant.g_terms`, :attr:`Variant.d_terms`).

    In a D term ``x_fake`` is detached; in a G term it carries G's graph and ``aux_fake`` comes
    from D's (frozen) pass on it, so the term's gradient reaches G.

    Attributes:
        x_real: (B, ...) the data batch (the target y of a paired task).
        x_fake: (B, ...) G's output for ``z`` and ``c_fake``.
        c_real: the data batch's conditions (None for unconditional data).
        c_fake: the conditions the fakes were generated from (``c_real``, or ``sample_cond(B)``).
        z: (B, *latent_shape) the latents (None when ``latent_dim=None``).
        aux_real, aux_fake: what D returned after the scores (a tensor if D returned a pair, a tuple
            if more; None if D returned only scores), e.g. AC-GAN's class logits (B, K).
    """

    x_real: torch.Tensor
    x_fake: torch.Tensor
    c_real: Any = None
    c_fake: Any = None
    z: torch.Tensor | None = None
    aux_real: Any = None
    aux_fake: Any = None


Term = Callable[[Batch], torch.Tensor]


def l1_term(b: Batch) -> torch.Tensor:
    r"""pix2pix's reconstruction term $\mathcal{L}_{L1} = \mathbb{E}\,\lVert y - G(x, z)\rVert_1$ (mean over pixels).

    Use as ``g_terms={"l1": (100.0, gan.l1_term)}`` (lambda = 100 in the paper).

    Reference:
        Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017,
        arXiv:1611.07004, Eq. (3)-(4).
    """
    return (b.x_fake - b.x_real).abs().mean()


def _class_logits(aux: Any, which: str) -> torch.Tensor:
    if aux is None:
        raise ValueError(f"the AC-GAN class term needs a discriminator returning (scores, class_logits); "
                         f"D returned only scores on the {which} batch")
    return aux[0] if isinstance(aux, tuple) else aux


def aux_class_d_term(b: Batch) -> torch.Tensor:
    r"""AC-GAN's class loss for D: cross-entropy of D's class logits on real and fake batches.

    $$-L_C = -\mathbb{E}[\log P(C = c \mid x_\text{real})] - \mathbb{E}[\log P(C = c \mid x_\text{fake})]$$

    Needs D returning ``(scores, class_logits (B, K))`` and integer labels ``c`` (B,).

    Reference:
        Odena et al., "Conditional Image Synthesis with Auxiliary Classifier GANs", ICML 2017,
        arXiv:1610.09585, Eq. (2)-(3).
    """
    ce = torch.nn.functional.cross_entropy
    return ce(_class_logits(b.aux_real, "real").float(), b.c_real) + \
        ce(_class_logits(b.aux_fake, "fake").float(), b.c_fake)


def aux_class_g_term(b: Batch) -> torch.Tensor:
    r"""AC-GAN's class loss for G: $-\mathbb{E}[\log P(C = c \mid G(z, c))]$ (G wants its class recognised).

    Reference:
        Odena et al. 2017, arXiv:1610.09585, Eq. (3) (G maximises L_C - L_S).
    """
    return torch.nn.functional.cross_entropy(_class_logits(b.aux_fake, "fake").float(), b.c_fake)


_RESERVED = {"loss", "acc", "real", "fake", "skipped", "updated"}


def _check_terms(terms: Any, what: str) -> dict[str, tuple[float, Term]]:
    if not isinstance(terms, Mapping):
        raise TypeError(f"{what} must be a dict {{name: (weight, fn)}}, got {type(terms).__name__}")
    out = {}
    for name, val in terms.items():
        if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
            raise ValueError(f"{what}: term name {name!r} must be an identifier other than {sorted(_RESERVED)} "
                             f"(it is logged as '{what[0]}_{name}')")
        if not (isinstance(val, tuple) and len(val) == 2 and isinstance(val[0], (int, float)) and callable(val[1])):
            raise TypeError(f"{what}[{name!r}] must be a pair (weight, fn) with fn(batch: gan.Batch) -> scalar, "
                            f"got {val!r}")
        out[name] = (float(val[0]), val[1])
    return out


# ----------------------------------------------------------------------------------------
# Variants
# ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A GAN variant as data: what the loop optimises and with which optimiser.

    Attributes:
        name: label in logs and tables.
        d_loss: ``d_loss(scores_real, scores_fake) -> scalar`` minimised by D (see course_lib.losses).
        g_loss: ``g_loss(scores_fake) -> scalar`` minimised by G.
        penalty: ``penalty(D, x_real, x_fake) -> scalar`` added to the D loss (``losses.gradient_penalty``).
        penalty_weight: its weight lambda.
        penalty_every: lazy regularisation (StyleGAN2, Karras et al. 2020, Sec. 3.1): the penalty is computed
            only on the D updates of every ``penalty_every``-th generator step (step 0, k, 2k, ...), with its
            weight multiplied by ``penalty_every`` so that its average pull is unchanged; 1 (default): at every
            D update. A penalty that differentiates D's gradient (R1, WGAN-GP) costs about as much as the rest
            of the D update, so StyleGAN2 computes its R1 once every 16 minibatches.
        n_critic: D updates per G update.
        critic_schedule: ``critic_schedule(step) -> int | None``, the D updates before generator update
            ``step`` (0-based); None (or no schedule) means ``n_critic``. The original WGAN's code trains the
            critic 100 times per G update for the first 25 and every 500th (:func:`wgan_reference_critic_schedule`).
        optimizer: ``"adam"`` or ``"rmsprop"`` (the original WGAN).
        lr_d, lr_g: learning rates.
        betas: Adam's (beta1, beta2).
        threshold: D score separating "real" from "fake" for the accuracy diagnostic
            (0 for logits, (a+b)/2 for LSGAN; None: midpoint of the batch's mean scores, for critics).
        callbacks: callbacks that are part of the variant (``WeightClip`` for WGAN).
        g_terms: extra generator terms ``{name: (weight, fn)}``, ``fn(batch: Batch) -> scalar``, added to
            the G loss as ``weight * fn(batch)`` and logged (unweighted) as ``g_<name>``, e.g.
            ``{"l1": (100.0, gan.l1_term)}`` (pix2pix) or a content / total-variation term (SRGAN).
        d_terms: extra discriminator terms, the same way, logged as ``d_<name>`` (AC-GAN's class loss).
        adv_weight: the weight $a$ of the adversarial loss in G's objective,
            $L_G = a\\,L_{adv} + \\sum_k w_k L_k$ (SRGAN's $10^{-3}$, CAAE's GAN weight); D's adversarial
            loss is not weighted. 0: no adversarial slot at all -- neither ``d_loss`` nor ``g_loss`` is
            computed (logged as 0) and the objective is the terms alone (inpainting's several
            discriminator heads, each a term).
    """

    name: str
    d_loss: DLoss
    g_loss: GLoss
    penalty: Penalty | None = None
    penalty_weight: float = 0.0
    penalty_every: int = 1
    n_critic: int = 1
    critic_schedule: Callable[[int], int | None] | None = None
    optimizer: str = "adam"
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    threshold: float | None = 0.0
    callbacks: tuple[Callback, ...] = field(default_factory=tuple)
    g_terms: Mapping[str, tuple[float, Term]] = field(default_factory=dict, hash=False)
    d_terms: Mapping[str, tuple[float, Term]] = field(default_factory=dict, hash=False)
    adv_weight: float = 1.0

    def __post_init__(self) -> None:
        checks.positive_int(self.n_critic, "n_critic")
        checks.positive_int(self.penalty_every, "penalty_every")
        if self.critic_schedule is not None and not callable(self.critic_schedule):
            raise TypeError(f"variant {self.name!r}: critic_schedule must be a function step -> D updates, "
                            f"got {type(self.critic_schedule).__name__}")
        if not (isinstance(self.adv_weight, (int, float)) and math.isfinite(self.adv_weight) and self.adv_weight >= 0):
            raise ValueError(f"variant {self.name!r}: adv_weight must be a number >= 0 (the weight of the adversarial "
                             f"loss in G's objective; 0 = terms only), got {self.adv_weight!r}")
        if self.adv_weight == 0 and not (self.g_terms and self.d_terms):
            raise ValueError(f"variant {self.name!r} has adv_weight=0 (no adversarial loss) but no "
                             f"{'g_terms' if not self.g_terms else 'd_terms'}: nothing would train "
                             f"{'G' if not self.g_terms else 'D'}")
        object.__setattr__(self, "g_terms", _check_terms(self.g_terms, "g_terms"))
        object.__setattr__(self, "d_terms", _check_terms(self.d_terms, "d_terms"))
        checks.one_of(self.optimizer, "optimizer", ("adam", "rmsprop"))
        if self.penalty is not None and not self.penalty_weight > 0:
            raise ValueError(f"variant {self.name!r} has a penalty but penalty_weight={self.penalty_weight}")

    def critic_steps(self, step: int) -> int:
        """D updates before generator update ``step`` (0-based): ``critic_schedule(step)``, or ``n_critic`` where
        there is no schedule or it returns None."""
        n = None if self.critic_schedule is None else self.critic_schedule(step)
        if n is None:
            return self.n_critic
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"variant {self.name!r}: critic_schedule({step}) must be a positive int, got {n!r}")
        return n

    def replace(self, **changes: Any) -> Variant:
        """A copy with some fields changed, e.g. ``v.replace(lr_d=1e-4)``."""
        return dataclasses.replace(self, **changes)

    def make_optimizers(self, generator: nn.Module, discriminator: nn.Module
                        ) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        """(opt_g, opt_d) with the variant's settings."""
        if self.optimizer == "rmsprop":
            return (torch.optim.RMSprop(generator.parameters(), lr=self.lr_g),
                    torch.optim.RMSprop(discriminator.parameters(), lr=self.lr_d))
        return (torch.optim.Adam(generator.parameters(), lr=self.lr_g, betas=self.betas),
                torch.optim.Adam(discriminator.parameters(), lr=self.lr_d, betas=self.betas))


def wgan_reference_critic_schedule(step: int) -> int | None:
    """D updates before generator update ``step`` (0-based) in the original WGAN's code: 100 for the first 25
    generator updates and for every 500th; otherwise None, the variant's ``n_critic`` (5 in Algorithm 1).

    A critic trained close to optimality gives G useful gradients from the start and an estimate of the
    Wasserstein distance that follows sample quality (Arjovsky et al. 2017, Sec. 4.2, Fig. 3-4).

    Reference:
        Arjovsky, Chintala & Bottou, github.com/martinarjovsky/WassersteinGAN, main.py (``Diters``).
    """
    return 100 if step < 25 or step % 500 == 0 else None


def _presets() -> dict[str, Variant]:
    gp = functools.partial(losses.gradient_penalty)
    return {
        # Goodfellow et al. 2014 (with DCGAN's Adam settings)
        "minimax": Variant("minimax", losses.minimax_d_loss, losses.minimax_g_loss),
        "ns": Variant("ns", losses.minimax_d_loss, losses.nonsaturating_g_loss),
        # Arjovsky et al. 2017, Algorithm 1: RMSProp, lr 5e-5, n_critic 5, c = 0.01; their code's 100 critic
        # updates for the first 25 generator updates and every 500th
        "wgan": Variant("wgan", losses.wasserstein_d_loss, losses.wasserstein_g_loss, n_critic=5,
                        critic_schedule=wgan_reference_critic_schedule,
                        optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, threshold=None, callbacks=(WeightClip(0.01),)),
        # Gulrajani et al. 2017, Algorithm 1: lambda 10, n_critic 5, Adam(1e-4, 0, 0.9)
        "wgan-gp": Variant("wgan-gp", losses.wasserstein_d_loss, losses.wasserstein_g_loss, penalty=gp,
                           penalty_weight=10.0, n_critic=5, lr_d=1e-4, lr_g=1e-4, betas=(0.0, 0.9), threshold=None),
        # Mao et al. 2017: a = 0, b = c = 1, Adam(2e-4, 0.5)
        "lsgan": Variant("lsgan", losses.lsgan_d_loss, losses.lsgan_g_loss, threshold=0.5),
        # Miyato et al. 2018 / Lim & Ye 2017
        "hinge": Variant("hinge", losses.hinge_d_loss, losses.hinge_g_loss),
    }


VARIANTS: tuple[str, ...] = tuple(_presets())


def variant(name: str, **changes: Any) -> Variant:
    """A named variant with the paper's settings, optionally changed.

    Args:
        name: ``minimax``, ``ns`` (non-saturating), ``wgan`` (clipping), ``wgan-gp``, ``lsgan``, ``hinge``.
        **changes: fields of :class:`Variant` to override (``lr_d=1e-4``, ``n_critic=1``, ...).

    Returns:
        A frozen :class:`Variant`.
    """
    checks.one_of(name, "GAN variant", VARIANTS)
    v = _presets()[name]
    return v.replace(**changes) if changes else v


# ----------------------------------------------------------------------------------------
# The loop
# ----------------------------------------------------------------------------------------
class Trainer:
    """Trains a generator and a discriminator with a :class:`Variant`.

    Args:
        generator: z (B, *latent_shape) -> x (B, ...); conditional: ``generator(z, c)`` (or
            ``generator(c)`` when ``latent_dim=None``, or ``generator(*generator_input(z, c))``).
        discriminator: x (B, ...) -> scores (B,) or (B, 1) (raw, no sigmoid); conditional:
            ``discriminator(x, c)`` (or ``discriminator(*discriminator_input(x, c))``). It may return
            a tuple ``(scores, extra...)``: the adversarial loss sees ``scores``, the terms see the rest.
        variant: the GAN variant (:func:`variant`).
        data: a tensor (N, ...) of training samples (random minibatches are drawn from it, fast),
            or an iterable of batches (a DataLoader; tuples use their first element, and for a
            conditional trainer ``(x, c)``: the sample (the target of a paired task) first, its
            condition second; more elements make c a tuple). Samples must be in the generator's output range
            (``ImageSet.pm1()`` for Tanh generators).
        latent_dim: size of z, or a shape tuple; None: no z (an image-to-image generator ``G(c)``;
            makes the trainer conditional).
        batch_size: samples per minibatch (tensor data only; a loader sets its own).
        device: default :func:`course_lib.env.device`.
        callbacks: extra callbacks (the variant's own run first).
        log_every: steps between diagnostics, progress-bar updates and checkpoint saves.
        amp: mixed precision (:func:`course_lib.env.amp_dtype`); None (default): on for CUDA, and bf16 autocast
            on a CPU with native bf16 when G or D is convolutional (``COURSE_CPU_BF16=0`` turns that off);
            True / False to force it.
        seed: seed of the minibatch draw.
        desc: progress-bar label (default the variant's name).
        cond: the conditions c of the data: a tensor (N, ...) aligned with tensor ``data`` (labels,
            input images), or a function ``cond(x_real) -> c`` deriving them from each real batch
            (a low-resolution or masked copy). Makes the trainer conditional.
        sample_cond: ``sample_cond(n) -> c`` draws the conditions of the fakes (class-conditional GANs,
            InfoGAN codes); default: fakes use the real batch's c (paired tasks: pix2pix, SR).
        generator_input: ``generator_input(z, c) -> tuple`` of G's arguments (default ``(z, c)``, or
            ``(c,)`` without z).
        discriminator_input: ``discriminator_input(x, c) -> tuple`` of D's arguments (default ``(x, c)``;
            InfoGAN: ``lambda x, c: (x,)``).
        conditional: force the conditional path (e.g. a loader of ``(x, c)`` pairs with the default
            calls); implied by any of the four arguments above and by ``latent_dim=None``.

    Attributes:
        history: ``dict[str, list[float]]`` of the logged diagnostics (``step``, ``d_loss``,
            ``g_loss``, ``penalty``, ``d_acc``, ``d_real``, ``d_fake``, ``grad_d``, ``grad_g``, ``time``;
            ``g_<name>`` / ``d_<name>`` per extra term; ``d_skipped`` with a skipping callback). Losses,
            ``d_acc`` (D's accuracy, :func:`d_accuracy`) and ``d_real`` / ``d_fake`` (its mean scores) are means
            over the G steps since the previous log; the gradient norms are those of the last step.
        step: generator updates done.
        conditional: whether G and D are called with conditions.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, variant: Variant,
                 data: torch.Tensor | Iterable, latent_dim: int | Sequence[int] | None, batch_size: int = 64,
                 device: torch.device | str | None = None, callbacks: Sequence[Callback] = (),
                 log_every: int = 50, amp: bool | None = None, seed: int = 0, desc: str | None = None, *,
                 cond: torch.Tensor | Callable[[torch.Tensor], Any] | None = None,
                 sample_cond: Callable[[int], Any] | None = None,
                 generator_input: Callable[[torch.Tensor | None, Any], tuple] | None = None,
                 discriminator_input: Callable[[torch.Tensor, Any], tuple] | None = None,
                 conditional: bool = False):
        if not isinstance(variant, Variant):
            raise TypeError(f"variant must be a gan.Variant (e.g. gan.variant('ns')), got {type(variant).__name__}")
        self.device = torch.device(device) if device is not None else env.device()
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        self.variant = variant
        self.conditional = bool(conditional or cond is not None or sample_cond is not None or latent_dim is None
                                or generator_input is not None or discriminator_input is not None)
        if latent_dim is None:                        # no z: an image-to-image generator G(c)
            self.latent_shape = None
        else:
            self.latent_shape = (checks.positive_int(latent_dim, "latent_dim"),) if isinstance(latent_dim, int) \
                else tuple(latent_dim)
        self.batch_size = checks.positive_int(batch_size, "batch_size")
        self.callbacks: list[Callback] = [*variant.callbacks, *callbacks]
        self.log_every = checks.positive_int(log_every, "log_every")
        self.desc = desc or variant.name
        self.amp_dtype = env.amp_dtype(self.device, amp, (self.generator, self.discriminator))   # None: float32
        self.opt_g, self.opt_d = variant.make_optimizers(self.generator, self.discriminator)
        fp16 = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)
        self.history: dict[str, list[float]] = {}
        self.step = 0
        self.seconds = 0.0
        self.capped_at: int | None = None             # set by fit when the device check's cap shortened the run
        self.ckpt: checkpoints.Checkpoint | None = None
        self._rng = torch.Generator().manual_seed(seed)   # the minibatch draws (saved in checkpoints)
        self._data = data
        if isinstance(data, torch.Tensor):
            if len(data) == 0:
                raise ValueError("data is empty")
            self._data = data.to(self.device)
            self.batch_size = min(self.batch_size, len(data))
        self.sample_cond = sample_cond
        self._cond, self._cond_fn = self._check_cond(cond, data, discriminator_input)
        # How G and D are called, resolved once: (z, c) -> G's arguments, (x, c) -> D's arguments.
        self._g_args, self._g_how = _call_adapter("generator", self.conditional, generator_input,
                                                  z_free=self.latent_shape is None)
        self._d_args, self._d_how = _call_adapter("discriminator", self.conditional, discriminator_input)
        self._checked: set[str] = set()               # roles whose signature was checked on first call
        self._d_aux = False                           # set once D returned a tuple (scores, extra...)
        if not self.conditional:                      # catch a conditional network in an unconditional trainer
            _check_signature(self.generator, "generator", 1, "generator(z)")
            _check_signature(self.discriminator, "discriminator", 1, "discriminator(x)")
        if self.latent_shape is not None and generator_input is None:   # G called as G(z) or G(z, c)
            self._check_latent()
        for cb in self.callbacks:
            cb.on_init(self)

    def _check_cond(self, cond: Any, data: Any, discriminator_input: Any) -> tuple[torch.Tensor | None, Callable | None]:
        if cond is None:
            if self.conditional and isinstance(data, torch.Tensor):
                if discriminator_input is None:
                    raise ValueError("the discriminator is called as discriminator(x, c) but tensor data has no "
                                     "conditions: pass cond= (one per sample, or a function of the real batch), or "
                                     "discriminator_input=lambda x, c: (x,) for a D that sees only x (InfoGAN)")
                if self.sample_cond is None:
                    raise ValueError("a conditional trainer on tensor data needs cond= (the data's conditions) or "
                                     "sample_cond= (conditions drawn for the fakes)")
            return None, None
        if callable(cond) and not isinstance(cond, torch.Tensor):
            return None, cond
        if not isinstance(cond, torch.Tensor):
            raise TypeError(f"cond must be a tensor aligned with data or a function cond(x_real) -> c, "
                            f"got {type(cond).__name__}")
        if not isinstance(data, torch.Tensor):
            raise TypeError("cond= as a tensor needs tensor data (rows aligned); a loader yields (x, c) pairs "
                            "itself (conditional=True), or pass a function cond=lambda x_real: ...")
        if len(cond) != len(data):
            raise ValueError(f"cond has {len(cond)} rows but data has {len(data)}: they must be aligned "
                             f"(one condition per sample)")
        return cond.to(self.device), None

    def _check_latent(self) -> None:
        """Fail here, naming the sizes, when G does not take z of the trainer's latent shape."""
        shape = tuple(self.latent_shape)
        declared = getattr(self.generator, "latent_dim", None)
        if isinstance(declared, int) and len(shape) == 1 and declared != shape[0]:
            raise ValueError(f"the generator was built with latent_dim={declared} but the trainer was given "
                             f"latent_dim={shape[0]}: pass the generator's latent size to gan.Trainer")
        if self.conditional:                          # G needs conditions: only the declared size is checked
            return
        z = torch.zeros(2, *shape, device=self.device)   # a probe: no random draw, eval mode, no gradients
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []), \
                torch.no_grad(), train.eval_mode(self.generator):
            try:
                self.generator(z)
            except (RuntimeError, ValueError, TypeError) as err:
                first = (str(err).splitlines() or [""])[0]
                raise ValueError(f"the generator cannot take z of shape (B, {', '.join(map(str, shape))}) "
                                 f"(latent_dim={shape[0] if len(shape) == 1 else shape}): {first}. Pass the latent "
                                 f"size the generator was built with to gan.Trainer") from None

    # -- helpers ---------------------------------------------------------------------------
    def due(self, step: int, every: int) -> bool:
        """Whether a callback that acts every ``every`` generator steps acts after ``step``: at the multiples of
        ``every``, and at the last step of a run the device check's cap shortened (so that it ends evaluated)."""
        return step % every == 0 or step == self.capped_at

    def sample_z(self, n: int) -> torch.Tensor:
        """n latent vectors z ~ N(0, I), shape (n, *latent_shape), on the device."""
        return torch.randn(n, *self.latent_shape, device=self.device)

    def _to_device(self, c: Any) -> Any:
        if isinstance(c, torch.Tensor):
            return c.to(self.device, non_blocking=True)
        if isinstance(c, (tuple, list)):
            return type(c)(self._to_device(t) for t in c)
        return c

    def _call(self, net: nn.Module, role: str, args: tuple, how: str) -> Any:
        if role not in self._checked:                 # once: a clear error for a network of the wrong kind
            _check_signature(net, role, len(args), how)
            self._checked.add(role)
        return net(*args)

    def generate(self, z: torch.Tensor | None, c: Any = None, generator: nn.Module | None = None) -> torch.Tensor:
        """G's output for latents z and conditions c, called the way the loop calls it (gradients kept).

        Args:
            z: (B, *latent_shape) latents, or None without z.
            c: the conditions (conditional trainers only).
            generator: another network of the same kind (the EMA generator); default the trainer's.

        Returns:
            (B, ...) generated samples.
        """
        return self._call(self.generator if generator is None else generator, "generator", self._g_args(z, c),
                          self._g_how)

    def _score(self, x: torch.Tensor, c: Any) -> tuple[torch.Tensor, Any]:
        """D's adversarial scores (float) and its extra outputs (None, a tensor or a tuple)."""
        out = self._call(self.discriminator, "discriminator", self._d_args(x, c), self._d_how)
        if isinstance(out, (tuple, list)):
            self._d_aux = True
            return out[0].float(), _float(out[1] if len(out) == 2 else tuple(out[1:]))
        return out.float(), None

    def _critic(self, c: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        """D as a function of x alone (for the gradient penalty): the scores under conditions c."""
        if not self.conditional and not self._d_aux:
            return self.discriminator
        return lambda x: self._score(x, c)[0]

    @torch.no_grad()
    def sample(self, n: int | None = None, ema: bool = False, cond: Any = None) -> torch.Tensor:
        """n generated samples (no gradients); ``ema=True`` uses the EMA generator.

        Args:
            n: number of samples (default: one per row of ``cond``).
            ema: sample from the :class:`EMA` callback's generator.
            cond: conditions (n, ...) for a conditional trainer (default: ``sample_cond(n)``).

        Returns:
            (n, ...) samples.
        """
        g = self.generator
        if ema:
            found = [cb for cb in self.callbacks if isinstance(cb, EMA)]
            if not found:
                raise ValueError("ema=True but the trainer has no gan.EMA callback")
            g = found[0].generator
        if not self.conditional:
            if cond is not None:
                raise ValueError("cond= given but the trainer is unconditional (no cond/sample_cond/conditional=True)")
            return torch.cat([g(self.sample_z(min(1024, n - i))) for i in range(0, n, 1024)])
        if cond is None:
            if self.sample_cond is None:
                raise ValueError("a conditional trainer without sample_cond needs the conditions: sample(cond=c)")
            cond = self.sample_cond(checks.positive_int(n, "n"))
        cond = self._to_device(cond)
        m = _num_rows(cond)
        if n is not None and n != m:
            raise ValueError(f"n={n} but cond has {m} rows (one condition per sample)")
        out = []
        for i in range(0, m, 1024):
            j = min(m, i + 1024)
            z = self.sample_z(j - i) if self.latent_shape is not None else None
            out.append(self.generate(z, _slice_rows(cond, i, j), generator=g))
        return torch.cat(out)

    def log(self, **values: float) -> None:
        """Append values to the history (used by callbacks)."""
        hist = self.ckpt.history if self.ckpt is not None else self.history
        for k, v in values.items():
            hist.setdefault(k, []).append(float(v))

    def modules(self) -> dict[str, nn.Module]:
        """Every network to checkpoint: generator, discriminator and callback networks."""
        mods: dict[str, nn.Module] = {"generator": self.generator, "discriminator": self.discriminator}
        for cb in self.callbacks:
            mods.update(cb.modules())
        return mods

    def _batches(self) -> Iterable[tuple[torch.Tensor, Any]]:
        """Endless (x_real, c_real) minibatches (c_real None for unconditional data)."""
        fn = self._cond_fn
        if isinstance(self._data, torch.Tensor):
            n, b, cond = len(self._data), self.batch_size, self._cond
            while True:
                idx = torch.randint(n, (b,), generator=self._rng).to(self.device, non_blocking=True)
                x = self._data[idx]
                yield x, (cond[idx] if cond is not None else fn(x) if fn is not None else None)
        pairs = self.conditional and fn is None
        for batch in itertools.chain.from_iterable(itertools.repeat(self._data)):
            c = None
            if isinstance(batch, (tuple, list)):
                if pairs and len(batch) >= 2:
                    c = self._to_device(batch[1] if len(batch) == 2 else tuple(batch[1:]))
                batch = batch[0]
            x = batch.to(self.device, non_blocking=True)
            yield x, (fn(x) if fn is not None else c)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    @staticmethod
    def _grad_norm(module: nn.Module) -> torch.Tensor:
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if not grads:
            return torch.zeros(())
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))

    # -- the loop --------------------------------------------------------------------------
    def fit(self, num_steps: int, ckpt: checkpoints.Checkpoint | None = None) -> dict[str, list[float]]:
        """Train until ``num_steps`` generator updates (resuming at ``ckpt.step``).

        Args:
            num_steps: total generator updates.
            ckpt: a checkpoint from :func:`course_lib.checkpoints.load_or_train`; the optimisers and the
                minibatch random state are attached (restored when resuming), logs go to
                ``ckpt.history`` and the file is saved every ``ckpt.every_s`` seconds at log steps
                whose losses are finite.

        Returns:
            The history ``dict[str, list[float]]``.

        Raises:
            FloatingPointError: a loss became NaN or infinite; the last good checkpoint is kept.
        """
        checks.positive_int(num_steps, "num_steps")
        capped = env.capped(num_steps)            # the device check's COURSE_MAX_STEPS (normally no cap)
        self.capped_at, num_steps = (capped if capped < num_steps else None), capped
        if ckpt is not None:
            self.ckpt = ckpt
            ckpt.attach(opt_g=self.opt_g, opt_d=self.opt_d, batches=checkpoints.RandomState(self._rng))
            self.step = ckpt.step
            for cb in self.callbacks:
                cb.load_state(ckpt.extra)
        hist = ckpt.history if ckpt is not None else self.history
        self.generator.train()
        self.discriminator.train()
        batches, meter = self._batches(), _Meter()
        hooked = {hook: [cb for cb in self.callbacks if getattr(type(cb), hook) is not getattr(Callback, hook)]
                  for hook in ("after_d_step", "after_g_step", "skip_d_step", "fakes_for_d")}
        for cb in self.callbacks:
            cb.on_begin(self)
        t0 = time.perf_counter() - (ckpt.elapsed_s if ckpt is not None else 0.0)
        bar = train.progress(total=num_steps, desc=self.desc, initial=self.step)
        try:
            for step in range(self.step, num_steps):
                diag = (step + 1) % self.log_every == 0 or step + 1 == num_steps
                n_critic = self.variant.critic_steps(step)
                for k in range(n_critic):
                    last = k == n_critic - 1
                    b = self._d_update(*next(batches), last, diag and last, meter, hooked)
                self._g_update(b, diag, meter)
                self.step = step + 1
                for cb in hooked["after_g_step"]:
                    cb.after_g_step(self, self.step)
                if diag:
                    self._log(hist, bar, meter, t0)
                    if ckpt is not None:
                        for cb in self.callbacks:
                            ckpt.extra.update(cb.state())
                        ckpt.maybe_save(self.step)
        finally:
            bar.close()
        for cb in self.callbacks:
            cb.on_end(self)
        if ckpt is not None:
            for cb in self.callbacks:
                ckpt.extra.update(cb.state())
            ckpt.current_step = self.step
        self.seconds = time.perf_counter() - t0
        return hist

    def _d_update(self, x_real: torch.Tensor, c_real: Any, last: bool, diag: bool, meter: _Meter,
                  hooked: Mapping[str, list[Callback]]) -> Batch:
        """One D (critic) update on a real batch and a fresh fake batch; returns the batch for the G step.

        The last of the ``n_critic`` updates keeps G's graph in ``x_fake`` so the G step reuses the
        fakes, and feeds the meter (losses, scores, D's gradient norm at log steps).
        """
        # (1) Update D: maximize log D(x) + log(1 - D(G(z)))   [or the variant's critic objective]
        v = self.variant
        z = self.sample_z(len(x_real)) if self.latent_shape is not None else None
        c_fake = c_real if self.sample_cond is None else self._to_device(self.sample_cond(len(x_real)))
        with self._autocast():
            with contextlib.nullcontext() if last else torch.no_grad():
                x_fake = self.generate(z, c_fake)
            x_d = x_fake.detach()
            for cb in hooked["fakes_for_d"]:          # e.g. CycleGAN's image pool: D also sees earlier fakes
                x_d = cb.fakes_for_d(self, x_d)
            s_real, aux_real = self._score(x_real, c_real)
            s_fake, aux_fake = self._score(x_d, c_fake)
            b = Batch(x_real, x_d, c_real, c_fake, z, aux_real, aux_fake)
            parts = {"d_loss": (1.0, v.d_loss(s_real, s_fake))} if v.adv_weight else {}
            if v.penalty is not None and self.step % v.penalty_every == 0:     # lazy: every k-th G step, weight k
                with torch.autocast(self.device.type, enabled=False):   # float32: it differentiates D's gradient
                    pen = v.penalty(self._critic(c_real), x_real, b.x_fake.to(x_real.dtype))
                parts["penalty"] = (v.penalty_weight * v.penalty_every, pen)
            parts.update({"d_" + name: (w, fn(b).float()) for name, (w, fn) in v.d_terms.items()})  # AC-GAN class loss
        loss = _weighted_sum(parts)
        b.x_fake = x_fake                             # with G's graph (the last update only)
        if last:
            meter.add({k: t for k, (_, t) in parts.items()})
            meter.scores(s_real, s_fake, v.threshold)
        if hooked["skip_d_step"]:                     # e.g. 3D-GAN: no D update while D is accurate enough
            votes = [cb.skip_d_step(self, s_real.detach(), s_fake.detach()) for cb in hooked["skip_d_step"]]  # ask all
            skip = any(votes)
            meter.skipped(skip)
            if skip:
                if diag:
                    meter.set(grad_d=torch.zeros(()))
                return b
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(loss).backward()
        if diag:
            self.scaler_d.unscale_(self.opt_d)
            meter.set(grad_d=self._grad_norm(self.discriminator))
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        for cb in hooked["after_d_step"]:
            cb.after_d_step(self)
        return b

    def _g_update(self, b: Batch, diag: bool, meter: _Meter) -> None:
        """One G update on the fakes of the last D update (D frozen: no weight gradients for D)."""
        # (2) Update G: maximize log D(G(z))   [or the variant's generator objective]
        v = self.variant
        self.discriminator.requires_grad_(False)
        with self._autocast():
            s_gen, aux_gen = self._score(b.x_fake, b.c_fake)
            gb = dataclasses.replace(b, aux_real=_detach(b.aux_real), aux_fake=aux_gen)
            parts = {"g_loss": (v.adv_weight, v.g_loss(s_gen))} if v.adv_weight else {}
            parts.update({"g_" + name: (w, fn(gb).float()) for name, (w, fn) in v.g_terms.items()})  # L1, content
        loss = _weighted_sum(parts)
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(loss).backward()
        self.discriminator.requires_grad_(True)
        if diag:
            self.scaler_g.unscale_(self.opt_g)
            meter.set(grad_g=self._grad_norm(self.generator))
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        meter.add({k: t for k, (_, t) in parts.items()})

    def _log(self, hist: dict[str, list[float]], bar: Any, meter: _Meter, t0: float) -> None:
        """The log step: the meter's means (one host-device synchronisation), NaN guard, callbacks, bar."""
        v = self.variant
        logs = meter.read()
        if not v.adv_weight:                          # no adversarial slot: logged as 0
            logs = {"d_loss": 0.0, "g_loss": 0.0, **logs}
        order = ["d_loss", "g_loss", "penalty", "d_acc", "d_real", "d_fake", "grad_d", "grad_g",
                 *("d_" + k for k in v.d_terms), *("g_" + k for k in v.g_terms), "d_skipped"]
        if "penalty" not in logs and hist.get("penalty"):   # a lazy penalty not computed in this interval
            logs["penalty"] = hist["penalty"][-1]          # keeps its last value (the lists stay aligned)
        logs = {k: logs[k] for k in order if k in logs}
        for k, val in logs.items():
            if not math.isfinite(val):
                where = f" The last good checkpoint ({self.ckpt.path.name}) is kept." if self.ckpt is not None else ""
                raise FloatingPointError(
                    f"{v.name}: {k} became {val} at step {self.step}; training stopped. Lower the learning "
                    f"rates (lr_d={v.lr_d}, lr_g={v.lr_g}), check the data range, or use a penalty.{where}")
        logs = {"step": float(self.step), **logs, "time": time.perf_counter() - t0}
        for cb in self.callbacks:
            cb.on_log(self, self.step, logs)
        for k, val in logs.items():
            hist.setdefault(k, []).append(float(val))
        bar.update(self.step - bar.n)
        bar.set_postfix({"D": f"{logs['d_loss']:.3g}", "G": f"{logs['g_loss']:.3g}", "acc": f"{logs['d_acc']:.2f}"},
                        refresh=False)


def _weighted_sum(parts: Mapping[str, tuple[float, torch.Tensor]]) -> torch.Tensor:
    """sum_k w_k * t_k, in order (a weight of 1 multiplies nothing)."""
    total = None
    for w, t in parts.values():
        t = t if w == 1.0 else w * t
        total = t if total is None else total + t
    return total


class _Meter:
    """The loop's diagnostics between two log steps, kept on the device.

    ``add`` sums losses (read as means over the G steps that logged them: a lazy penalty is averaged over the
    steps that computed it), ``set`` keeps the latest value (gradient
    norms), ``scores`` sums D's accuracy and mean scores of each G step's last D update (read as means over
    the interval, like the losses: one batch alone is a noisy reading of D's accuracy -- a batch of 8 scores
    it in steps of 1/16); :meth:`read` is the one host-device synchronisation per log step, and starts the
    next interval.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}
        self.latest: dict[str, torch.Tensor] = {}
        self.n_skip = self.n_d = 0
        self.score_sums: dict[str, torch.Tensor] = {}
        self.n_scores = 0

    def add(self, values: Mapping[str, torch.Tensor]) -> None:
        for k, t in values.items():
            t = t.detach()
            self.sums[k] = self.sums[k] + t if k in self.sums else t
            self.counts[k] = self.counts.get(k, 0) + 1

    def set(self, **values: torch.Tensor) -> None:
        self.latest.update(values)

    def scores(self, s_real: torch.Tensor, s_fake: torch.Tensor, threshold: float | None) -> None:
        s_real, s_fake = s_real.detach().reshape(-1).float(), s_fake.detach().reshape(-1).float()
        vals = {"d_acc": d_accuracy(s_real, s_fake, threshold).float(), "d_real": s_real.mean(),
                "d_fake": s_fake.mean()}
        for k, t in vals.items():
            self.score_sums[k] = self.score_sums[k] + t if k in self.score_sums else t
        self.n_scores += 1

    def skipped(self, skip: bool) -> None:
        self.n_d += 1
        self.n_skip += int(skip)

    def read(self) -> dict[str, float]:
        vals = {**{k: t / self.counts[k] for k, t in self.sums.items()},
                **{k: t / self.n_scores for k, t in self.score_sums.items()}, **self.latest}
        dev = next(iter(vals.values())).device
        out = dict(zip(vals, torch.stack([t.float().reshape(()).to(dev) for t in vals.values()]).tolist()))
        if self.n_d:
            out["d_skipped"] = self.n_skip / self.n_d
        self._reset()
        return out


def _call_adapter(role: str, conditional: bool, custom: Callable[..., Any] | None, z_free: bool = False
                  ) -> tuple[Callable[[Any, Any], tuple], str]:
    """How the loop calls G (``(z, c) -> arguments``) or D (``(x, c) -> arguments``), resolved once."""
    first = "z" if role == "generator" else "x"
    if not conditional:
        return (lambda a, c: (a,)), f"{role}({first})"
    if custom is not None:
        return (lambda a, c: _as_args(custom(a, c))), f"{role}(*{role}_input({first}, c))"

    def need_c(c: Any) -> Any:
        if c is None:
            hint = ("give the data's conditions (cond=, (x, c) batches) or sample_cond=" if role == "generator" else
                    "give (x, c) batches or cond=, or discriminator_input=lambda x, c: (x,) for a D that sees only x")
            raise ValueError(f"the {role} is called as {role}({'c' if z_free else first + ', c'}) but there is no "
                             f"condition c: {hint}")
        return c

    if z_free:
        return (lambda a, c: (need_c(c),)), "generator(c) (latent_dim=None)"
    return (lambda a, c: (a, need_c(c))), f"{role}({first}, c)"


def _as_args(args: Any) -> tuple:
    return args if isinstance(args, tuple) else (args,)


def _num_rows(c: Any) -> int:
    """Rows of a condition: a tensor, or a tuple/list of tensors (the first one counts)."""
    if isinstance(c, (tuple, list)):
        return _num_rows(c[0])
    if not isinstance(c, torch.Tensor):
        raise TypeError(f"conditions must be a tensor or a tuple of tensors, got {type(c).__name__}")
    return len(c)


def _slice_rows(c: Any, i: int, j: int) -> Any:
    if isinstance(c, (tuple, list)):
        return type(c)(_slice_rows(t, i, j) for t in c)
    return c[i:j]


def _map_tensors(fn: Callable[[torch.Tensor], torch.Tensor], a: Any) -> Any:
    """``fn`` applied to every tensor in a (nested) tuple / list / dict."""
    if isinstance(a, torch.Tensor):
        return fn(a)
    if isinstance(a, (tuple, list)):
        return type(a)(_map_tensors(fn, t) for t in a)
    if isinstance(a, Mapping):
        return {k: _map_tensors(fn, v) for k, v in a.items()}
    return a


def _detach(a: Any) -> Any:
    return _map_tensors(torch.Tensor.detach, a)


def _float(a: Any) -> Any:
    """Floating tensors as float32 (what D returns under autocast), for the losses and terms."""
    return _map_tensors(lambda t: t.float() if t.is_floating_point() else t, a)


def _check_signature(module: nn.Module, role: str, n_args: int, how: str) -> None:
    """Raise a TypeError naming the expected call when ``module.forward`` cannot take ``n_args`` arguments."""
    try:
        sig = inspect.signature(module.forward)
        sig.bind(*range(n_args))
    except ValueError:                                # no signature to inspect (C extension): trust it
        return
    except TypeError:
        params = ", ".join(sig.parameters)
        hint = ("give it a forward(z, c), or map (z, c) to its arguments with generator_input=lambda z, c: ..."
                if role == "generator" else
                "give it a forward(x, c), or map (x, c) to its arguments with discriminator_input=lambda x, c: (x,)")
        if n_args == 1:
            hint = "pass cond=, sample_cond= or conditional=True to train a conditional GAN"
        raise TypeError(f"the trainer calls the {role} as {how} ({n_args} argument{'s' * (n_args > 1)}) but "
                        f"{type(module).__name__}.forward takes ({params}); {hint}") from None


@dataclass
class Run:
    """What :func:`load_or_train` returns.

    Attributes:
        history: logged diagnostics (see :class:`Trainer`).
        extra: what callbacks kept (``extra["samples"]``: (T, n, ...) samples at ``extra["samples_steps"]``).
        seconds: training wall time (restored from the checkpoint when loaded).
        trainer: the trainer (its networks hold the trained weights).
    """

    history: dict[str, list[float]]
    extra: dict[str, Any]
    seconds: float
    trainer: Trainer


def window_means(steps: Sequence[float], values: Sequence[float], at_steps: Sequence[float]) -> list[float]:
    """The mean of a logged quantity over the steps of each window ending at ``at_steps``.

    Aligns the trainer's history (logged every ``log_every`` steps) with evaluations made every
    ``every`` steps (a :class:`Snapshot`, e.g. FID at ``extra["fid_steps"]``): window ``k`` holds the
    steps ``(at_steps[k-1], at_steps[k]]`` (the first one starts at 0). Each logged value is itself a
    mean over the steps since the previous log, so entries are weighted by the steps they cover.
    A window that holds no log entry raises: log at least as often as you evaluate.

    Args:
        steps: (T,) increasing steps of the log entries (``run.history["step"]``).
        values: (T,) the logged values (``run.history["d_loss"]``).
        at_steps: (K,) increasing window ends, each > 0 (the evaluation steps after step 0).

    Returns:
        K means, one per window, e.g. the critic loss to pair with the FID at the same step.

    Reference:
        Arjovsky et al., "Wasserstein GAN", ICML 2017, Fig. 3-4 (the critic's estimate beside sample
        quality over training).
    """
    steps, values, ends = [float(s) for s in steps], [float(v) for v in values], [float(a) for a in at_steps]
    if len(steps) != len(values):
        raise ValueError(f"steps and values must be aligned (one step per logged value), got {len(steps)} steps "
                         f"and {len(values)} values")
    if any(b <= a for a, b in itertools.pairwise(steps)) or any(b <= a for a, b in itertools.pairwise(ends)):
        raise ValueError("steps and at_steps must be strictly increasing (the history's 'step' and the "
                         "evaluation steps)")
    if ends and ends[0] <= 0:
        raise ValueError(f"at_steps must be > 0 (leave out the evaluation at step 0: no loss is logged before "
                         f"it), got {ends[0]:g}")
    covered = [b - a for a, b in zip([0.0, *steps], steps)]       # steps each log entry averages over
    out, lo = [], 0.0
    for hi in ends:
        idx = [i for i, s in enumerate(steps) if lo < s <= hi]
        if not idx:
            raise ValueError(f"no log entry in the window ({lo:g}, {hi:g}]: log at least as often as you "
                             f"evaluate (log_every <= every)")
        w = sum(covered[i] for i in idx)
        out.append(sum(values[i] * covered[i] for i in idx) / w)
        lo = hi
    return out


def load_or_train(name: str, trainer: Trainer, num_steps: int, **kw: Any) -> Run:
    """Train with the engine inside :func:`course_lib.checkpoints.trained` (cached, resumable).

    Args:
        name: checkpoint name (the budget is appended), e.g. ``"dcgan-mnist"``.
        trainer: a :class:`Trainer`.
        num_steps: generator updates.
        **kw: passed on (``retrain=True``, ``every_s=...``, ``verbose=False``).

    Returns:
        A :class:`Run` with history, extra (sample grids), wall time and the trainer.
    """
    ckpt = checkpoints.trained(name, trainer.modules(), lambda ckpt: trainer.fit(num_steps, ckpt), **kw)
    history = ckpt.history
    for cb in trainer.callbacks:
        cb.load_state(ckpt.extra)
    trainer.step = ckpt.current_step if ckpt.current_step else ckpt.step
    seconds = ckpt.history["time"][-1] if ckpt.history.get("time") else ckpt.elapsed_s
    return Run(history, dict(ckpt.extra), float(seconds), trainer)


# ----------------------------------------------------------------------------------------
# The course's MNIST DCGAN: trained once, judged by every chapter that needs a trained GAN
# ----------------------------------------------------------------------------------------
MNIST_DCGAN: dict[str, dict[str, Any]] = {
    # n: training digits (None = all 50,000); width: D's first / G's last feature maps; lr_g, lr_d: Adam
    # learning rates of G and D, D's half of G's (with equal rates D won outright: accuracy 0.91 over the
    # second half of training at 2e-4). Lecture: 5x Radford et al.'s 2e-4 -- with the two-upsampling
    # generator of the course's first 28 px plan, 2,000 steps at 1e-3 / 5e-4 gave FID / floor 10.8 where 4,000
    # steps at 2e-4 / 1e-4 gave 13.8 (2026-12-05). With the three-layer plan (nets.dcgan, start=4; 2026-12-06, width
    # 32): 2,000 steps 3.9 (recognisable 0.74), 3,000 steps 2.7 (0.77); 3,000 at 5e-4 / 2.5e-4: 4.6 (0.73).
    # Full: the paper's rates.
    "smoke": dict(n=500, width=8, steps=30, batch_size=32, latent_dim=64, lr_g=1e-3, lr_d=5e-4),
    "lecture": dict(n=None, width=32, steps=3000, batch_size=64, latent_dim=64, lr_g=1e-3, lr_d=5e-4),
    "full": dict(n=None, width=64, steps=20000, batch_size=128, latent_dim=100, lr_g=2e-4, lr_d=1e-4),
}


def mnist_dcgan(frames: int = 6, budget: str | None = None, **kw: Any) -> Run:
    """The course's DCGAN on the full MNIST, trained once and cached as
    ``dcgan-mnist-s4-w<width>-lrg<lr_g>-lrd<lr_d>`` (s4: the 4x4-start plan).

    Radford et al.'s architecture (``nets.dcgan``) and Adam settings (beta1 0.5) with the non-saturating loss,
    D's learning rate half of G's and both larger at the lecture budget, at the sizes of :data:`MNIST_DCGAN` for
    the budget. Notebook 06 builds it step by step and trains it here; notebooks that judge a trained GAN
    (07, 09, 10) call the same function and load the same checkpoint (or train it, identically, when they run
    first): one well-trained generator for the course.
    Training is seeded inside (the caller's random stream is left alone), so the model does not depend
    on which notebook trains it.

    Args:
        frames: sample grids of 16 fixed latents kept over training (``run.extra["samples"]``).
        budget: the sizes' budget (default the active one).
        **kw: passed to :func:`load_or_train` (``retrain=True``, ``verbose=False``).

    Returns:
        A :class:`Run`; ``run.trainer.generator`` is the trained G (latent size
        ``run.trainer.latent_shape[0]``), ``run.extra["samples"]`` the (frames, 16, 1, 28, 28) strip.
    """
    from . import data
    from .nets import dcgan

    s = MNIST_DCGAN[env.budget(budget)]
    x = data.load("mnist", n=s["n"]).pm1()
    every = max(1, s["steps"] // (checks.positive_int(frames, "frames") - 1 if frames > 1 else 1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = dcgan.Generator(s["latent_dim"], 1, 28, s["width"], start=4)     # the deeper 28 px plan
        D = dcgan.Discriminator(1, 28, s["width"], start=4)
        v = variant("ns", lr_g=s["lr_g"], lr_d=s["lr_d"])
        trainer = Trainer(G, D, v, x, s["latent_dim"], s["batch_size"], callbacks=[SampleGrid(every, n=16)],
                          log_every=max(1, min(50, every)), desc="dcgan mnist")
        return load_or_train(f"dcgan-mnist-s4-w{s['width']}-lrg{v.lr_g:g}-lrd{v.lr_d:g}", trainer, s["steps"], **kw)
