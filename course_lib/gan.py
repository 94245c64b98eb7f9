"""One adversarial training loop for every GAN of the course.

A GAN *variant* is data -- a discriminator loss, a generator loss, an optional penalty, the
number of critic steps and the optimiser settings -- plus callbacks (weight clipping, sample
grids, an EMA of the generator, mode coverage). The loop never changes::

    G, D = mlp.generator(2, 2), mlp.discriminator(2)
    trainer = gan.Trainer(G, D, gan.variant("wgan-gp"), data=x_ring, latent_dim=2, batch_size=256,
                          callbacks=[gan.SampleGrid(every=500), gan.ModeCoverage(data.mixture_modes())])
    run = gan.load_or_train("wgan-gp-ring", trainer, num_steps=S.num_steps)   # cached, resumable
    run.history["d_loss"], run.extra["samples"], run.seconds

One *step* is ``n_critic`` discriminator updates followed by one generator update:

    # (1) Update D: maximize log D(x) + log(1 - D(G(z)))   (or the variant's critic objective)
    # (2) Update G: maximize log D(G(z))                    (or the variant's generator objective)

The hot loop is lean: diagnostics (loss means, discriminator accuracy, gradient norms, the
NaN/inf guard, the progress bar and checkpoint saves) run every ``log_every`` steps, so there
is one host-device synchronisation per ``log_every`` steps rather than per step. On a CUDA GPU
the forward passes run under ``torch.autocast`` (bf16, or fp16 with a ``GradScaler``); on the
CPU nothing of that is used.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
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

    def on_begin(self, trainer: Trainer) -> None:
        """Before the first step (also when resuming)."""

    def after_d_step(self, trainer: Trainer) -> None:
        """After every discriminator/critic optimiser step."""

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


class EMA(Callback):
    """An exponential moving average of the generator's weights (sample from ``ema.generator``).

    $$\\theta_\\text{EMA} \\leftarrow \\beta\\,\\theta_\\text{EMA} + (1 - \\beta)\\,\\theta_G$$

    Reference:
        Yazici et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019;
        Karras et al. 2018 (Progressive GAN) use beta = 0.999.
    """

    def __init__(self, decay: float = 0.999):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.generator: nn.Module | None = None

    def attach(self, generator: nn.Module) -> None:
        if self.generator is None:
            self.generator = copy.deepcopy(generator).requires_grad_(False)

    def on_begin(self, trainer: Trainer) -> None:
        self.attach(trainer.generator)

    def after_g_step(self, trainer: Trainer, step: int) -> None:
        with torch.no_grad():
            ema_p = [p for p in self.generator.parameters()]
            torch._foreach_lerp_(ema_p, [p.detach() for p in trainer.generator.parameters()], 1 - self.decay)
            for b_ema, b in zip(self.generator.buffers(), trainer.generator.buffers()):
                b_ema.copy_(b)

    def modules(self) -> dict[str, nn.Module]:
        if self.generator is None:
            raise RuntimeError("EMA.attach(generator) must run before the modules are collected")
        return {"generator_ema": self.generator}


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
        if step % self.every == 0:
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
    """Samples of a fixed batch of z at step 0 and every ``every`` steps (``extra["samples"]``)."""

    def __init__(self, every: int, n: int = 64, seed: int = 1234, key: str = "samples"):
        self.n = checks.positive_int(n, "n")
        self.seed = seed
        self.z: torch.Tensor | None = None
        super().__init__(every, self._sample, key)

    def _sample(self, trainer: Trainer) -> torch.Tensor:
        if self.z is None:
            g = torch.Generator().manual_seed(self.seed)
            self.z = torch.randn(self.n, *trainer.latent_shape, generator=g).to(trainer.device)
        return trainer.generator(self.z)


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
        if step % self.every:
            return
        from . import metrics

        cov = metrics.mode_coverage(trainer.sample(self.n).float().cpu(), self.modes, self.std)
        trainer.log(modes=cov["modes_covered"], hq=cov["high_quality"], modes_step=step)
        if cov["modes_covered"] < self.warn_below and not self.warned:
            self.warned = True
            print(f"warning: mode collapse? only {cov['modes_covered']}/{len(self.modes)} modes covered at "
                  f"step {step} ({cov['high_quality']:.0%} high-quality samples)")


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
        n_critic: D updates per G update.
        optimizer: ``"adam"`` or ``"rmsprop"`` (the original WGAN).
        lr_d, lr_g: learning rates.
        betas: Adam's (beta1, beta2).
        threshold: D score separating "real" from "fake" for the accuracy diagnostic
            (0 for logits, (a+b)/2 for LSGAN; None: midpoint of the batch's mean scores, for critics).
        callbacks: callbacks that are part of the variant (``WeightClip`` for WGAN).
    """

    name: str
    d_loss: DLoss
    g_loss: GLoss
    penalty: Penalty | None = None
    penalty_weight: float = 0.0
    n_critic: int = 1
    optimizer: str = "adam"
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    threshold: float | None = 0.0
    callbacks: tuple[Callback, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        checks.positive_int(self.n_critic, "n_critic")
        checks.one_of(self.optimizer, "optimizer", ("adam", "rmsprop"))
        if self.penalty is not None and not self.penalty_weight > 0:
            raise ValueError(f"variant {self.name!r} has a penalty but penalty_weight={self.penalty_weight}")

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


def _presets() -> dict[str, Variant]:
    gp = functools.partial(losses.gradient_penalty)
    return {
        # Goodfellow et al. 2014 (with DCGAN's Adam settings)
        "minimax": Variant("minimax", losses.minimax_d_loss, losses.minimax_g_loss),
        "ns": Variant("ns", losses.minimax_d_loss, losses.nonsaturating_g_loss),
        # Arjovsky et al. 2017, Algorithm 1: RMSProp, lr 5e-5, n_critic 5, c = 0.01
        "wgan": Variant("wgan", losses.wasserstein_d_loss, losses.wasserstein_g_loss, n_critic=5,
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
        generator: z (B, *latent_shape) -> x (B, ...).
        discriminator: x (B, ...) -> scores (B,) or (B, 1) (raw, no sigmoid).
        variant: the GAN variant (:func:`variant`).
        data: a tensor (N, ...) of training samples (random minibatches are drawn from it, fast),
            or an iterable of batches (a DataLoader; tuples use their first element). Samples
            must be in the generator's output range (``ImageSet.pm1()`` for Tanh generators).
        latent_dim: size of z, or a shape tuple.
        batch_size: samples per minibatch (tensor data only; a loader sets its own).
        device: default :func:`course_lib.env.device`.
        callbacks: extra callbacks (the variant's own run first).
        log_every: steps between diagnostics, progress-bar updates and checkpoint saves.
        amp: mixed precision; default on for CUDA, always off on the CPU.
        seed: seed of the minibatch draw.
        desc: progress-bar label (default the variant's name).

    Attributes:
        history: ``dict[str, list[float]]`` of the logged diagnostics (``step``, ``d_loss``,
            ``g_loss``, ``penalty``, ``d_acc``, ``d_real``, ``d_fake``, ``grad_d``, ``grad_g``, ``time``).
        step: generator updates done.
    """

    def __init__(self, generator: nn.Module, discriminator: nn.Module, variant: Variant,
                 data: torch.Tensor | Iterable, latent_dim: int | Sequence[int], batch_size: int = 64,
                 device: torch.device | str | None = None, callbacks: Sequence[Callback] = (),
                 log_every: int = 50, amp: bool | None = None, seed: int = 0, desc: str | None = None):
        if not isinstance(variant, Variant):
            raise TypeError(f"variant must be a gan.Variant (e.g. gan.variant('ns')), got {type(variant).__name__}")
        self.device = torch.device(device) if device is not None else env.device()
        self.generator = generator.to(self.device)
        self.discriminator = discriminator.to(self.device)
        self.variant = variant
        self.latent_shape = (checks.positive_int(latent_dim, "latent_dim"),) if isinstance(latent_dim, int) \
            else tuple(latent_dim)
        self.batch_size = checks.positive_int(batch_size, "batch_size")
        self.callbacks: list[Callback] = [*variant.callbacks, *callbacks]
        self.log_every = checks.positive_int(log_every, "log_every")
        self.desc = desc or variant.name
        use_amp = self.device.type == "cuda" if amp is None else bool(amp)
        if use_amp and self.device.type != "cuda":
            raise ValueError("amp=True needs a CUDA device; the CPU path runs in float32")
        self.amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if use_amp else None
        self.opt_g, self.opt_d = variant.make_optimizers(self.generator, self.discriminator)
        fp16 = self.amp_dtype == torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)
        self.history: dict[str, list[float]] = {}
        self.step = 0
        self.ckpt: checkpoints.Checkpoint | None = None
        self._rng = torch.Generator().manual_seed(seed)
        self._data = data
        if isinstance(data, torch.Tensor):
            if len(data) == 0:
                raise ValueError("data is empty")
            self._data = data.to(self.device)
            self.batch_size = min(self.batch_size, len(data))
        for cb in self.callbacks:
            if isinstance(cb, EMA):
                cb.attach(self.generator)

    # -- helpers ---------------------------------------------------------------------------
    def sample_z(self, n: int) -> torch.Tensor:
        """n latent vectors z ~ N(0, I), shape (n, *latent_shape), on the device."""
        return torch.randn(n, *self.latent_shape, device=self.device)

    @torch.no_grad()
    def sample(self, n: int, ema: bool = False) -> torch.Tensor:
        """n generated samples (no gradients); ``ema=True`` uses the EMA generator."""
        g = self.generator
        if ema:
            found = [cb for cb in self.callbacks if isinstance(cb, EMA)]
            if not found:
                raise ValueError("ema=True but the trainer has no gan.EMA callback")
            g = found[0].generator
        return torch.cat([g(self.sample_z(min(1024, n - i))) for i in range(0, n, 1024)])

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

    def _batches(self) -> Iterable[torch.Tensor]:
        if isinstance(self._data, torch.Tensor):
            n, b = len(self._data), self.batch_size
            while True:
                idx = torch.randint(n, (b,), generator=self._rng).to(self.device, non_blocking=True)
                yield self._data[idx]
        for batch in itertools.chain.from_iterable(itertools.repeat(self._data)):
            if isinstance(batch, (tuple, list)):
                batch = batch[0]
            yield batch.to(self.device, non_blocking=True)

    def _autocast(self):
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

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
            ckpt: a checkpoint from :func:`course_lib.checkpoints.load_or_train`; optimiser states
                are attached (restored when resuming), logs go to ``ckpt.history`` and the file is
                saved every ``ckpt.every_s`` seconds at log steps whose losses are finite.

        Returns:
            The history ``dict[str, list[float]]``.

        Raises:
            FloatingPointError: a loss became NaN or infinite; the last good checkpoint is kept.
        """
        checks.positive_int(num_steps, "num_steps")
        G, D, v = self.generator, self.discriminator, self.variant
        if ckpt is not None:
            self.ckpt = ckpt
            ckpt.attach(opt_g=self.opt_g, opt_d=self.opt_d)
            self.step = ckpt.step
            for cb in self.callbacks:
                cb.load_state(ckpt.extra)
        hist = ckpt.history if ckpt is not None else self.history
        G.train()
        D.train()
        batches = self._batches()
        for cb in self.callbacks:
            cb.on_begin(self)
        cb_d = [cb for cb in self.callbacks if type(cb).after_d_step is not Callback.after_d_step]
        cb_g = [cb for cb in self.callbacks if type(cb).after_g_step is not Callback.after_g_step]
        zero = torch.zeros((), device=self.device)
        sum_d, sum_g, sum_p, n_acc = zero.clone(), zero.clone(), zero.clone(), 0
        t0 = time.perf_counter() - (ckpt.elapsed_s if ckpt is not None else 0.0)
        bar = train.progress(total=num_steps, desc=self.desc, initial=self.step)
        try:
            for step in range(self.step, num_steps):
                diag = (step + 1) % self.log_every == 0 or step + 1 == num_steps
                # (1) Update D: maximize log D(x) + log(1 - D(G(z)))  [or the variant's critic objective]
                for k in range(v.n_critic):
                    x_real = next(batches)
                    last = k == v.n_critic - 1
                    z = self.sample_z(len(x_real))
                    with self._autocast():
                        if last:                      # keep G's graph: the G step reuses this batch
                            x_fake = G(z)
                        else:
                            with torch.no_grad():
                                x_fake = G(z)
                        s_real = D(x_real).float()
                        s_fake = D(x_fake.detach()).float()
                    loss_d = v.d_loss(s_real, s_fake)
                    total_d = loss_d
                    if v.penalty is not None:
                        pen = v.penalty(D, x_real, x_fake.detach().to(x_real.dtype))
                        total_d = loss_d + v.penalty_weight * pen
                        if last:
                            sum_p += pen.detach()
                    self.opt_d.zero_grad(set_to_none=True)
                    self.scaler_d.scale(total_d).backward()
                    if diag and last:
                        self.scaler_d.unscale_(self.opt_d)
                        grad_d = self._grad_norm(D)
                    self.scaler_d.step(self.opt_d)
                    self.scaler_d.update()
                    for cb in cb_d:
                        cb.after_d_step(self)
                # (2) Update G: maximize log D(G(z))  [or the variant's generator objective]
                D.requires_grad_(False)               # no weight gradients for D in the G step
                with self._autocast():
                    s_gen = D(x_fake).float()
                loss_g = v.g_loss(s_gen)
                self.opt_g.zero_grad(set_to_none=True)
                self.scaler_g.scale(loss_g).backward()
                D.requires_grad_(True)
                if diag:
                    self.scaler_g.unscale_(self.opt_g)
                    grad_g = self._grad_norm(G)
                self.scaler_g.step(self.opt_g)
                self.scaler_g.update()
                self.step = step + 1
                for cb in cb_g:
                    cb.after_g_step(self, self.step)
                sum_d += loss_d.detach()
                sum_g += loss_g.detach()
                n_acc += 1
                if diag:
                    self._log_step(hist, bar, sum_d, sum_g, sum_p, n_acc, s_real, s_fake, grad_d, grad_g, t0)
                    sum_d, sum_g, sum_p, n_acc = zero.clone(), zero.clone(), zero.clone(), 0
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

    def _log_step(self, hist: dict[str, list[float]], bar: Any, sum_d: torch.Tensor, sum_g: torch.Tensor,
                  sum_p: torch.Tensor, n: int, s_real: torch.Tensor, s_fake: torch.Tensor,
                  grad_d: torch.Tensor, grad_g: torch.Tensor, t0: float) -> None:
        v = self.variant
        s_real, s_fake = s_real.detach().reshape(-1), s_fake.detach().reshape(-1)
        thr = v.threshold if v.threshold is not None else 0.5 * (s_real.mean() + s_fake.mean())
        acc = 0.5 * ((s_real > thr).float().mean() + (s_fake <= thr).float().mean())
        vals = torch.stack([sum_d / n, sum_g / n, sum_p / n, acc, s_real.mean(), s_fake.mean(),
                            grad_d.to(sum_d), grad_g.to(sum_d)]).tolist()   # the one sync per log step
        logs = dict(zip(("d_loss", "g_loss", "penalty", "d_acc", "d_real", "d_fake", "grad_d", "grad_g"), vals))
        if v.penalty is None:
            logs.pop("penalty")
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


def load_or_train(name: str, trainer: Trainer, num_steps: int, **kw: Any) -> Run:
    """Train with the engine inside :func:`course_lib.checkpoints.load_or_train` (cached, resumable).

    Args:
        name: checkpoint name (the budget is appended), e.g. ``"dcgan-mnist"``.
        trainer: a :class:`Trainer`.
        num_steps: generator updates.
        **kw: passed on (``retrain=True``, ``every_s=...``, ``verbose=False``).

    Returns:
        A :class:`Run` with history, extra (sample grids), wall time and the trainer.
    """
    history = checkpoints.load_or_train(name, trainer.modules(), lambda ckpt: trainer.fit(num_steps, ckpt), **kw)
    ckpt = checkpoints.load_or_train.last
    for cb in trainer.callbacks:
        cb.load_state(ckpt.extra)
    trainer.step = ckpt.current_step if ckpt.current_step else ckpt.step
    seconds = ckpt.history["time"][-1] if ckpt.history.get("time") else ckpt.elapsed_s
    return Run(history, dict(ckpt.extra), float(seconds), trainer)


# ----------------------------------------------------------------------------------------
# Figures of the toy problems (used by notebooks 05 and 07)
# ----------------------------------------------------------------------------------------
def _shown(fig: Any) -> Any:
    from . import viz

    return viz.Shown(fig) if hasattr(viz, "Shown") else fig


def density_image(points: torch.Tensor, lim: float = 2.6, bins: int = 64) -> torch.Tensor:
    """A 2-D histogram of points (N, 2) as a (1, bins, bins) image in [0, 1] (dark = dense), for ``viz.show_strip``.

    Args:
        points: (N, 2) samples.
        lim: the square [-lim, lim]^2 shown.
        bins: pixels per side.

    Returns:
        (1, bins, bins) float tensor; y points up.
    """
    checks.ndim(points, "points", 2, "(N, 2)")
    p = points.detach().float().cpu()
    h = torch.histogramdd(p, bins=[bins, bins], range=[-lim, lim, -lim, lim]).hist   # (x bins, y bins)
    h = (h / h.max().clamp_min(1)).sqrt()                 # sqrt: faint modes stay visible
    return (1 - h.T.flip(0))[None]


def curve_strip(x: torch.Tensor, frames: Sequence[Mapping[str, torch.Tensor]], titles: Sequence[str],
                styles: Mapping[str, str] | None = None, ylim: tuple[float, float] | None = (0, 1.05),
                title: str | None = None) -> Any:
    """Panels of 1-D curves, one panel per frame (the Goodfellow et al. 2014 Fig. 1 strip).

    Args:
        x: (M,) grid.
        frames: per panel, ``{label: (M,) values}``.
        titles: one caption per panel.
        styles: matplotlib format per label (``{"data": "k-", "D(x)": "b--"}``).
        ylim: y-axis limits.
    """
    import matplotlib.pyplot as plt

    if len(frames) != len(titles):
        raise ValueError(f"got {len(frames)} frames but {len(titles)} titles")
    n = len(frames)
    fig, axes = plt.subplots(1, n, figsize=(min(14.0, 2.6 * n), 2.4), sharey=True)
    axes = [axes] if n == 1 else list(axes)
    xs = x.detach().cpu().numpy()
    for ax, fr, t in zip(axes, frames, titles):
        for k, y in fr.items():
            ax.plot(xs, torch.as_tensor(y).detach().cpu().numpy(), (styles or {}).get(k, "-"), label=k, lw=1.5)
        ax.set_title(t, fontsize=9)
        if ylim:
            ax.set_ylim(*ylim)
    axes[0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _shown(fig)


def plot_decision_boundaries(scores: Mapping[str, Callable[[torch.Tensor], torch.Tensor]], x_real: torch.Tensor,
                             x_fake: torch.Tensor | Mapping[str, torch.Tensor], lim: float = 2.6, n: int = 120,
                             levels: Mapping[str, float] | None = None, title: str | None = None) -> Any:
    """D's score over the plane for several discriminators, with its decision boundary and the data.

    Args:
        scores: ``{name: fn}``, fn maps points (P, 2) to scores (P,) (already squashed if wanted).
        x_real: (N, 2) data points (black).
        x_fake: (N, 2) generated points (red), one set or one per name.
        lim: the square shown; n: grid points per side.
        levels: the decision level per name (default 0.5 for scores in [0, 1], else 0).

    Returns:
        The figure: filled contours of each score with the level set at the panel's threshold
        (0.5 after a sigmoid; 0 otherwise) drawn in white.
    """
    import matplotlib.pyplot as plt

    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    k = len(scores)
    fig, axes = plt.subplots(1, k, figsize=(min(14.0, 3.2 * k), 3.1))
    axes = [axes] if k == 1 else list(axes)
    for ax, (name, fn) in zip(axes, scores.items()):
        with torch.no_grad():
            s = fn(grid).reshape(n, n).float().cpu()
        cs = ax.contourf(xx.numpy(), yy.numpy(), s.numpy(), levels=20, cmap="coolwarm")
        level = (levels or {}).get(name, 0.5 if float(s.min()) >= 0 and float(s.max()) <= 1 else 0.0)
        if float(s.min()) < level < float(s.max()):
            ax.contour(xx.numpy(), yy.numpy(), s.numpy(), levels=[level], colors="w", linewidths=2)
        fake = x_fake[name] if isinstance(x_fake, Mapping) else x_fake
        ax.scatter(*x_real[:400].T.cpu().numpy(), s=2, c="k", label="data")
        ax.scatter(*fake[:400].T.detach().cpu().numpy(), s=2, c="yellow", label="G(z)")
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        fig.colorbar(cs, ax=ax, fraction=0.046)
    axes[0].legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _shown(fig)


def plot_xy(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
            title: str | None = None, marker: str = "o-") -> Any:
    """Named (x, y) series on one axes (e.g. critic estimate vs FID over training)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker, label=name, ms=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _shown(fig)
