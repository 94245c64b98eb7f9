"""One training loop for every non-adversarial model of the course, and the helpers around it.

Most models minimise one loss with Adam: :func:`fit_loss` builds the optimiser, trains inside
:func:`course_lib.checkpoints.trained` (cached by name, resumable) and returns a :class:`FitResult`::

    fit = train.fit_loss("ae", {"net": net}, lambda b: F.mse_loss(net(b[0]), b[0]), x_train,
                         num_epochs=S.num_epochs, lr=1e-3, batch_size=128)
    viz.plot_curves(fit.history)

Underneath, :func:`fit` knows nothing of architectures: a model is a ``step_fn(batch, step) -> dict``
that does forward, backward and the optimiser step and returns scalar logs. The loop handles
epochs, a progress bar with live losses, the NaN/inf guard, resuming from a checkpoint and
callbacks (sample grids, schedules); write a ``step_fn`` when a step is more than one loss::

    def step_fn(batch, step):
        x, _ = train.to(batch, cfg.device)
        loss = F.mse_loss(net(x), x)
        opt.zero_grad(); loss.backward(); opt.step()
        return {"loss": loss}

    def train_fn(ckpt):
        ckpt.attach(opt=opt)
        train.fit(step_fn, loader, num_epochs=S.num_epochs, ckpt=ckpt)
    history = checkpoints.load_or_train("ae", {"net": net}, train_fn)

:func:`random_batches` draws seeded minibatches from tensors; :func:`predict` and :func:`eval_mode`
run networks in eval mode and restore their training flags afterwards.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from . import checkpoints, checks, env
from .checkpoints import Checkpoint

StepFn = Callable[[Any, int], Mapping[str, Any]]
Callback = Callable[[int, dict[str, float]], None]


def to(batch: Any, device: torch.device | str) -> Any:
    """Move a tensor or a (nested) tuple/list/dict of tensors to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to(b, device) for b in batch)
    if isinstance(batch, Mapping):
        return {k: to(v, device) for k, v in batch.items()}
    return batch


def progress(iterable: Iterable | None = None, total: int | None = None, desc: str = "", **kw: Any):
    """A tqdm progress bar that works in notebooks and terminals (quiet with ``COURSE_PROGRESS=0``)."""
    from tqdm.auto import tqdm

    disable = os.environ.get("COURSE_PROGRESS", "1") == "0"
    bar = tqdm(iterable, total=total, desc=desc, disable=disable, mininterval=0.5, leave=True, **kw)
    _label_on_one_line(bar)
    return bar


def _label_on_one_line(bar: Any) -> None:
    """In JupyterLab keep a progress bar's label ("vae2-mnist: 100%") on one line and its bar visible.

    tqdm draws ``[label, bar, numbers]`` as one row of widgets that all shrink when the numbers
    (``3/3 [00:00<00:00, loss=546, ...]``) are long: the label breaks at its hyphen ("vae2-" above
    "mnist: 100%") and the bar shrinks to a stub. Here the label keeps its width and the row wraps,
    so long numbers go under the bar instead. Terminal bars (no ``container``) are left as they are.
    """
    container = getattr(bar, "container", None)
    children = getattr(container, "children", ())
    if len(children) == 3 and hasattr(container, "layout"):
        container.layout.flex_flow = "row wrap"
        children[0].layout.flex = "0 0 auto"


def every(n: int, fn: Callable[[int], None]) -> Callback:
    """A callback that calls ``fn(step)`` every ``n`` steps (step counted from 1)."""
    checks.positive_int(n, "n")
    return lambda step, logs: fn(step) if step % n == 0 else None


def _scalar(k: str, v: Any) -> float:
    if isinstance(v, torch.Tensor):
        if v.numel() != 1:
            raise ValueError(f"step_fn must return scalars; {k!r} has shape {tuple(v.shape)}")
        v = v.detach().item()
    v = float(v)
    if not math.isfinite(v):
        raise FloatingPointError(
            f"{k} became {v}; training stopped. Lower the learning rate, check the inputs' range, "
            "or add gradient clipping. The last good checkpoint is kept.")
    return v


def _batches_from(loader: Iterable, start: int) -> Iterable:
    """Endless batches, beginning where an uninterrupted run would be at step ``start``.

    For a DataLoader with its own generator (``ImageSet.loader``), the shuffles of the finished
    epochs are replayed and the finished part of the current epoch is skipped, so a resumed run
    sees the same batches as one that was never interrupted.
    """
    if isinstance(loader, RandomBatches):
        return loader.iter_from(start)
    forever = itertools.chain.from_iterable(itertools.repeat(loader))
    if not start:
        return forever
    try:
        per_epoch = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return forever
    if getattr(loader, "generator", None) is not None:
        for _ in range(start // per_epoch):
            for _ in loader:  # replays the epoch's shuffle (and the loader's seed draw)
                pass
    current = itertools.islice(iter(loader), start % per_epoch, None)
    return itertools.chain(current, forever)


def fit(step_fn: StepFn, loader: Iterable, num_epochs: int | None = None, num_steps: int | None = None,
        ckpt: Checkpoint | None = None, callbacks: Sequence[Callback] = (), desc: str = "train",
        history: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Run ``step_fn`` over ``loader`` for ``num_epochs`` epochs or ``num_steps`` steps.

    Args:
        step_fn: ``step_fn(batch, step) -> {"loss": ..., ...}`` (scalars or 1-element tensors).
        loader: re-iterable batches (a DataLoader); cycled as needed.
        num_epochs: epochs to train (``num_steps = num_epochs * len(loader)``).
        num_steps: total steps instead of epochs.
        ckpt: a :class:`~course_lib.checkpoints.Checkpoint`; training resumes at ``ckpt.step``,
            logs go into ``ckpt.history`` and the checkpoint is saved periodically.
        callbacks: ``cb(step, logs)`` called after every step.
        desc: progress-bar label.
        history: dict to append logs to when there is no checkpoint.

    Returns:
        The history ``dict[str, list[float]]``, one value per step and key.

    Raises:
        FloatingPointError: when a logged value becomes NaN or infinite.
    """
    if (num_epochs is None) == (num_steps is None):
        raise ValueError("give exactly one of num_epochs or num_steps")
    if num_epochs is not None:
        checks.positive_int(num_epochs, "num_epochs")
        try:
            per_epoch = len(loader)  # type: ignore[arg-type]
        except TypeError:
            raise ValueError("num_epochs needs a loader with len(); pass num_steps instead") from None
        if per_epoch == 0:
            raise ValueError("the loader yields no batches (batch_size larger than the dataset with drop_last?)")
        num_steps = num_epochs * per_epoch
    checks.positive_int(num_steps, "num_steps")
    num_steps = env.capped(num_steps)             # the device check's COURSE_MAX_STEPS (normally no cap)
    hist = ckpt.history if ckpt is not None else (history if history is not None else {})
    start = ckpt.step if ckpt is not None else 0
    batches = _batches_from(loader, start)
    bar = progress(total=num_steps, desc=desc, initial=start)
    smooth: dict[str, float] = {}
    try:
        for step in range(start, num_steps):
            logs = {k: _scalar(k, v) for k, v in step_fn(next(batches), step).items()}
            for k, v in logs.items():
                hist.setdefault(k, []).append(v)
                smooth[k] = v if k not in smooth else 0.9 * smooth[k] + 0.1 * v
            for cb in callbacks:
                cb(step + 1, logs)
            bar.update(1)
            if step % 10 == 0 or step + 1 == num_steps:
                bar.set_postfix({k: f"{v:.4g}" for k, v in list(smooth.items())[:4]}, refresh=False)
            if ckpt is not None:
                ckpt.maybe_save(step + 1)
    finally:
        bar.close()
    if ckpt is not None:
        ckpt.current_step = num_steps
    return hist


class Timer:
    """``with Timer() as t: ...`` then ``t.seconds``."""

    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.t0

    def __repr__(self) -> str:
        return f"{self.seconds:.2f} s"


# ----------------------------------------------------------------------------------------
# Minibatches of tensors
# ----------------------------------------------------------------------------------------
class RandomBatches:
    """Seeded minibatches of aligned tensors (what :func:`random_batches` returns).

    Iterating gives one epoch (a fresh permutation each time), or endless draws with
    ``replacement=True``; :meth:`iter_from` gives the endless stream an uninterrupted run sees from
    a given step on, which is how :func:`fit` resumes exactly.
    """

    def __init__(self, tensors: Sequence[torch.Tensor], batch_size: int, generator: torch.Generator,
                 replacement: bool, drop_last: bool):
        self.tensors = tuple(tensors)
        self.batch_size = batch_size
        self.generator = generator
        self.replacement = replacement
        self.drop_last = drop_last
        self.n = len(self.tensors[0])
        self._initial_state = generator.get_state()

    def __len__(self) -> int:
        if self.replacement:
            raise TypeError("random_batches(..., replacement=True) is endless and has no len(); train with num_steps")
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def _take(self, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t[idx.to(t.device)] for t in self.tensors)

    def _epoch_indices(self) -> list[torch.Tensor]:
        perm = torch.randperm(self.n, generator=self.generator)
        return list(perm.split(self.batch_size))[:len(self)]

    def _draw(self) -> torch.Tensor:
        return torch.randint(self.n, (self.batch_size,), generator=self.generator)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        if self.replacement:
            while True:
                yield self._take(self._draw())
        for idx in self._epoch_indices():
            yield self._take(idx)

    def iter_from(self, start: int = 0) -> Iterator[tuple[torch.Tensor, ...]]:
        """Endless batches from step ``start`` of the stream the generator's seed defines.

        The generator is reset to its state at construction and the index draws of the first
        ``start`` steps are replayed (indices only: cheap), so a resumed run sees the same batches
        as one that was never interrupted.
        """
        self.generator.set_state(self._initial_state)
        if self.replacement:
            for _ in range(start):
                self._draw()
            return iter(self)
        per_epoch = len(self)
        for _ in range(start // per_epoch):
            self._epoch_indices()
        current = (self._take(i) for i in self._epoch_indices()[start % per_epoch:])
        return itertools.chain(current, itertools.chain.from_iterable(itertools.repeat(self)))


def random_batches(*tensors: torch.Tensor, batch_size: int, generator: torch.Generator | int = 0,
                   replacement: bool = False, drop_last: bool = True) -> RandomBatches:
    """Minibatches of aligned tensors, drawn with a seeded generator (deterministic, resumable).

    Args:
        *tensors: (N, ...) tensors with the same first dimension (e.g. images and labels); batches
            stay on the tensors' devices.
        batch_size: rows per batch.
        generator: a CPU ``torch.Generator`` or an int seed. It drives the draws only (the global
            random stream is left alone).
        replacement: False: each epoch is a fresh permutation cut into batches (every row once per
            epoch); True: every batch is ``batch_size`` rows drawn with replacement, endlessly.
        drop_last: drop the last incomplete batch of an epoch (keeps every batch the same size).

    Returns:
        A :class:`RandomBatches`: ``len()`` batches per epoch, each a tuple ``(t1[idx], t2[idx], ...)``.

    Raises:
        ValueError: no tensors, different first dimensions, or ``batch_size > N`` with ``drop_last``.
    """
    if not tensors:
        raise ValueError("random_batches needs at least one tensor, e.g. random_batches(x, y, batch_size=64)")
    for i, t in enumerate(tensors):
        checks.tensor(t, f"tensors[{i}]")
        if t.ndim == 0:
            raise ValueError(f"tensors[{i}] is 0-d; random_batches needs (N, ...) tensors")
    sizes = [len(t) for t in tensors]
    if len(set(sizes)) > 1:
        shapes = ", ".join(str(tuple(t.shape)) for t in tensors)
        raise ValueError(f"random_batches needs tensors with the same first dimension (one row per example), "
                         f"got shapes {shapes}")
    if sizes[0] == 0:
        raise ValueError("random_batches got empty tensors (0 rows)")
    checks.positive_int(batch_size, "batch_size")
    if not replacement and drop_last and batch_size > sizes[0]:
        raise ValueError(f"batch_size {batch_size} is larger than the {sizes[0]} examples, so drop_last leaves no "
                         f"batch; lower batch_size or pass drop_last=False")
    if isinstance(generator, int) and not isinstance(generator, bool):
        generator = torch.Generator().manual_seed(generator)
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise TypeError(f"generator must be a CPU torch.Generator or an int seed, got {generator!r}")
    return RandomBatches(tensors, batch_size, generator, replacement, drop_last)


# ----------------------------------------------------------------------------------------
# Inference: eval mode, restored afterwards
# ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _mode(modules: Sequence[nn.Module], training: bool) -> Iterator[None]:
    """Set ``modules`` to train (``training=True``) or eval mode; restore every submodule's flag on exit."""
    for m in modules:
        if not isinstance(m, nn.Module):
            raise TypeError(f"expected nn.Module objects, got {type(m).__name__}")
    flags = [(sub, sub.training) for m in modules for sub in m.modules()]
    for m in modules:
        m.train(training)
    try:
        yield
    finally:
        for sub, flag in flags:
            sub.training = flag


def eval_mode(*modules: nn.Module) -> contextlib.AbstractContextManager[None]:
    """``with train.eval_mode(G, D): ...``: eval mode inside, each submodule's training flag restored after.

    Restored also when the block raises. Gradients are not switched off (use ``torch.no_grad()``
    or :func:`predict` for that).
    """
    return _mode(modules, training=False)


def _device_of(net: nn.Module, fallback: torch.device) -> torch.device:
    p = next(net.parameters(), None)
    if p is None:
        p = next(net.buffers(), None)
    return p.device if p is not None else fallback


def _cat(outs: list[Any]) -> Any:
    if isinstance(outs[0], torch.Tensor):
        return torch.cat(outs)
    if isinstance(outs[0], (tuple, list)):
        return type(outs[0])(_cat([o[k] for o in outs]) for k in range(len(outs[0])))
    raise TypeError(f"predict needs a network returning tensors or tuples of tensors, got {type(outs[0]).__name__}")


def _to(out: Any, device: torch.device) -> Any:
    if isinstance(out, torch.Tensor):
        return out.to(device)
    if isinstance(out, (tuple, list)):
        return type(out)(_to(o, device) for o in out)
    return out


@torch.no_grad()
def predict(net: nn.Module, x: torch.Tensor | Sequence[torch.Tensor], batch_size: int = 256,
            device: torch.device | str | None = None) -> Any:
    """``net(x)`` in eval mode, in batches, without gradients; the training flag is restored afterwards.

    Args:
        net: the network; called as ``net(xb)``, or ``net(xb1, xb2, ...)`` when ``x`` is a tuple.
        x: (N, ...) inputs, or a tuple of aligned (N, ...) inputs (e.g. ``(z, y)``).
        batch_size: rows per forward pass.
        device: where the network runs (default: its parameters' device; ``x``'s for a parameter-free map).

    Returns:
        The outputs (N, ...) concatenated on ``x``'s device (a tuple of them when ``net`` returns a tuple).
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be an nn.Module, got {type(net).__name__}")
    xs = tuple(x) if isinstance(x, (tuple, list)) else (x,)
    if not xs:
        raise ValueError("predict got no inputs")
    for i, t in enumerate(xs):
        checks.tensor(t, "x" if len(xs) == 1 else f"x[{i}]")
        if t.ndim == 0:
            raise ValueError("predict needs (N, ...) inputs, got a 0-d tensor")
    if len({len(t) for t in xs}) > 1:
        raise ValueError(f"predict needs inputs with the same first dimension, got shapes "
                         f"{', '.join(str(tuple(t.shape)) for t in xs)}")
    n = len(xs[0])
    if n == 0:
        raise ValueError(f"x is empty (shape {tuple(xs[0].shape)}): nothing to predict")
    checks.positive_int(batch_size, "batch_size")
    home = xs[0].device
    dev = torch.device(device) if device is not None else _device_of(net, home)
    with eval_mode(net):
        outs = [_to(net(*(t[i:i + batch_size].to(dev) for t in xs)), home) for i in range(0, n, batch_size)]
    return _cat(outs)


# ----------------------------------------------------------------------------------------
# One loss, Adam, cached: the training helper of the course
# ----------------------------------------------------------------------------------------
@dataclass
class FitResult:
    """What :func:`fit_loss` returns.

    Attributes:
        history: ``{"loss": [...], ...}``, one value per step (restored from the checkpoint when loaded).
        seconds: training wall time, summed over interrupted sessions (restored when loaded).
        loaded: True when a finished checkpoint was loaded and nothing was trained.
        extra: what the ``extra`` function returned after training (kept in the checkpoint).
    """

    history: dict[str, list[float]]
    seconds: float
    loaded: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def _split_loss(out: Any, loss_name: str) -> tuple[torch.Tensor, dict[str, Any]]:
    loss, logs = out if isinstance(out, tuple) and len(out) == 2 else (out, {})
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        got = f"shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(f"loss_fn must return a scalar loss tensor or (loss, logs dict), got {got}; "
                        f"average the per-example losses (.mean())")
    if not loss.requires_grad:
        raise ValueError("the loss has no gradient: loss_fn must compute it from the modules' parameters "
                         "(not under torch.no_grad(), not via .item() or .detach())")
    if not isinstance(logs, Mapping):
        raise TypeError(f"loss_fn's second value must be a dict of logs, got {type(logs).__name__}")
    if loss_name in logs:
        raise ValueError(f"loss_fn's logs must not repeat the key {loss_name!r} (the loss is logged under it)")
    return loss, dict(logs)


def fit_loss(name: str | None, modules: Mapping[str, nn.Module], loss_fn: Callable[[Any], Any], data: Any,
             num_steps: int | None = None, num_epochs: int | None = None, lr: float = 1e-3,
             batch_size: int | None = None, betas: tuple[float, float] = (0.9, 0.999), weight_decay: float = 0.0,
             seed: int = 0, replacement: bool = False,
             scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
             extra: Callable[[], Mapping[str, Any]] | None = None, loss_name: str = "loss",
             device: torch.device | str | None = None, callbacks: Sequence[Callback] = (), desc: str | None = None,
             amp: bool | None = None, **checkpoint_kw: Any) -> FitResult:
    """Minimise ``loss_fn`` with Adam over the modules' parameters, cached and resumable by ``name``.

    Runs :func:`fit` inside :func:`course_lib.checkpoints.trained`: the first call trains and saves
    ``<name>-<budget>.pt`` (modules, optimiser and scheduler state, history), later calls load it
    without training, and an interrupted run resumes where it stopped. Each step::

        loss = loss_fn(batch on device); opt.zero_grad(); loss.backward(); opt.step(); scheduler.step()

    The modules train in train mode; each one's training flag is restored afterwards.

    Args:
        name: checkpoint name (the budget is appended), e.g. ``"made-mnist"``; None: train without a
            checkpoint (nothing cached).
        modules: ``{"net": net}``: the networks saved in the checkpoint; Adam optimises all their parameters.
        loss_fn: ``loss_fn(batch) -> loss`` (a scalar tensor) or ``(loss, {"acc": ..., ...})`` (extra scalar logs).
        data: what batches come from. A tensor or a tuple of aligned tensors: :func:`random_batches`
            with ``batch_size``, ``seed`` and ``replacement`` (each batch a tuple). An iterable (a
            DataLoader): its batches as they come. None: ``loss_fn(None)`` draws its own batch
            (generated data; needs ``num_steps``).
        num_steps: optimiser steps; or
        num_epochs: passes over ``data`` (needs ``len(data)``).
        lr, betas, weight_decay: Adam settings.
        batch_size: rows per batch for tensor data (default 64); not allowed with a loader (it has its own).
        seed: seed of the minibatch draws for tensor data.
        replacement: for tensor data: draw each batch with replacement instead of per-epoch shuffling.
        scheduler: ``scheduler(opt) -> lr scheduler``, stepped after every optimiser step (and saved).
        extra: ``extra() -> dict`` called once after training (not when loading), e.g. a test accuracy;
            kept in the checkpoint and returned as ``FitResult.extra``.
        loss_name: the key of the loss in the history.
        amp: run ``loss_fn`` under autocast (:func:`course_lib.env.amp_dtype`): None = the default
            (CUDA; convolutional modules on a CPU with native bf16 unless ``COURSE_CPU_BF16=0``). bf16 only:
            where autocast would be float16 (a GPU without bf16) this helper trains in float32.
        device: where to train: the modules are moved there and each batch too (default: the first
            module's device).
        callbacks: ``cb(step, logs)`` after every step (see :func:`fit`).
        desc: progress-bar label (default: ``name``).
        **checkpoint_kw: ``retrain``, ``every_s``, ``verbose``, ``budget``, ``directory`` for
            :func:`course_lib.checkpoints.trained`.

    Returns:
        A :class:`FitResult` with the history, the training seconds, whether it was loaded and the extra.

    Raises:
        ValueError / TypeError: naming the bad argument, before anything is trained.
        FloatingPointError: when a logged value becomes NaN or infinite.
    """
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a checkpoint name (str) or None, got {type(name).__name__}")
    if name is None and checkpoint_kw:
        raise ValueError(f"{sorted(checkpoint_kw)} only apply with a checkpoint; give a name")
    if not isinstance(modules, Mapping) or not modules:
        raise ValueError("modules must be a non-empty dict name -> nn.Module, e.g. {'net': net}")
    for k, m in modules.items():
        if not isinstance(m, nn.Module):
            raise TypeError(f"modules[{k!r}] must be an nn.Module, got {type(m).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable (batch -> loss), got {type(loss_fn).__name__}")
    if (num_epochs is None) == (num_steps is None):
        raise ValueError("give exactly one of num_epochs or num_steps")
    checks.positive_int(num_steps if num_steps is not None else num_epochs,
                        "num_steps" if num_steps is not None else "num_epochs")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    first = next((p for m in modules.values() for p in m.parameters()), None)
    if first is None:
        raise ValueError(f"the modules {sorted(modules)} have no parameters to train")
    dev = torch.device(device) if device is not None else first.device
    amp_dtype = env.amp_dtype(dev, amp, list(modules.values()))
    if amp_dtype == torch.float16:                  # fp16 needs a gradient scaler: this helper trains in float32
        amp_dtype = None
    for m in modules.values():
        m.to(dev)
    params = list({id(p): p for m in modules.values() for p in m.parameters()}.values())   # shared ones once

    if data is None:
        if num_epochs is not None:
            raise ValueError("data=None (loss_fn draws its own batches) has no epochs; pass num_steps")
        if batch_size is not None or replacement:
            raise ValueError("batch_size and replacement are for tensor data; with data=None loss_fn makes its batches")
        batches: Any = [None]
    elif isinstance(data, torch.Tensor) or (isinstance(data, tuple) and data
                                            and all(isinstance(t, torch.Tensor) for t in data)):
        tensors = (data,) if isinstance(data, torch.Tensor) else data
        batches = random_batches(*tensors, batch_size=64 if batch_size is None else batch_size,
                                 generator=seed, replacement=replacement)
        if num_epochs is not None and replacement:
            raise ValueError("replacement=True draws endless batches with no epochs; pass num_steps")
    elif isinstance(data, Iterable):
        if batch_size is not None or replacement:
            raise ValueError(f"batch_size and replacement are for tensor data; the {type(data).__name__} "
                             f"makes its own batches")
        batches = data
    else:
        raise TypeError(f"data must be a tensor, a tuple of tensors, an iterable of batches (a DataLoader) "
                        f"or None, got {type(data).__name__}")

    plain_history: dict[str, list[float]] = {}          # without a checkpoint (name=None)

    def train_fn(ckpt: Checkpoint | None) -> dict[str, Any] | None:
        opt = torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)
        sched = scheduler(opt) if scheduler is not None else None
        if ckpt is not None:
            ckpt.attach(opt=opt, **({"sched": sched} if sched is not None else {}))

        def step_fn(batch: Any, step: int) -> dict[str, Any]:
            with torch.autocast(dev.type, dtype=amp_dtype) if amp_dtype is not None else contextlib.nullcontext():
                loss, logs = _split_loss(loss_fn(to(batch, dev)), loss_name)
            loss = loss.float()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
            return {loss_name: loss, **logs}

        with _mode(list(modules.values()), training=True):
            fit(step_fn, batches, num_epochs=num_epochs, num_steps=num_steps, ckpt=ckpt, callbacks=callbacks,
                desc=desc or name or "train", history=plain_history)
        if extra is None:
            return None
        kept = extra()
        if not isinstance(kept, Mapping):
            raise TypeError(f"extra must return a dict of numbers/tensors to keep, got {type(kept).__name__}")
        return dict(kept)

    if name is None:
        with Timer() as t:
            kept = train_fn(None)
        return FitResult(plain_history, t.seconds, False, kept or {})
    ckpt = checkpoints.trained(name, dict(modules), train_fn, **checkpoint_kw)
    return FitResult(ckpt.history, float(ckpt.elapsed_s), ckpt.loaded, dict(ckpt.extra))
