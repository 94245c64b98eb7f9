"""One training loop for every non-adversarial model of the course.

The loop knows nothing of architectures: a model is a ``step_fn(batch, step) -> dict`` that
does forward, backward and the optimiser step and returns scalar logs. The loop handles
epochs, a progress bar with live losses, the NaN/inf guard, resuming from a checkpoint and
callbacks (sample grids, schedules)::

    def step_fn(batch, step):
        x, _ = train.to(batch, cfg.device)
        loss = F.mse_loss(net(x), x)
        opt.zero_grad(); loss.backward(); opt.step()
        return {"loss": loss}

    def train_fn(ckpt):
        ckpt.attach(opt=opt)
        train.fit(step_fn, loader, num_epochs=S.num_epochs, ckpt=ckpt)
    history = checkpoints.load_or_train("ae", {"net": net}, train_fn)
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from . import checks
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
    return tqdm(iterable, total=total, desc=desc, disable=disable, mininterval=0.5, leave=True, **kw)


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
    hist = ckpt.history if ckpt is not None else (history if history is not None else {})
    start = ckpt.step if ckpt is not None else 0
    batches = _batches_from(loader, start)
    bar = progress(total=num_steps, desc=desc, initial=start)
    t0 = time.perf_counter()
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
    fit.last_seconds = time.perf_counter() - t0
    return hist


fit.last_seconds = 0.0


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
