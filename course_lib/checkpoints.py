"""Checkpoints: load a trained model if present, else train it; resume after an interruption.

The pattern of every training cell in the course::

    def train_fn(ckpt):                      # ckpt.step > 0 when resuming
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        ckpt.attach(opt=opt)                 # restores the optimiser state when resuming
        for step in range(ckpt.step, S.num_steps):
            ...
            ckpt.log(loss=loss.item())       # history survives interruptions
            ckpt.maybe_save(step + 1)        # every ``every_s`` seconds
    history = checkpoints.load_or_train("ae-mnist", {"net": net}, train_fn)

Files are ``<COURSE_CHECKPOINT_DIR>/<name>-<budget>.pt`` (default ``<repo>/checkpoints``),
so a lecture-budget model is never mistaken for a full one (a device check's capped run,
``COURSE_MAX_STEPS``, writes ``<name>-<budget>-cap<N>.pt``). Files hold only tensors and
plain containers and are read with ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import pickle
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import env

FORMAT = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def checkpoint_dir() -> Path:
    """``COURSE_CHECKPOINT_DIR`` or ``checkpoints/`` at the repository root."""
    d = os.environ.get("COURSE_CHECKPOINT_DIR")
    return Path(d) if d else Path(__file__).resolve().parent.parent / "checkpoints"


def path_for(name: str, budget: str | None = None, directory: str | os.PathLike | None = None) -> Path:
    """The checkpoint file of ``name`` at ``budget`` (default: the active budget)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"checkpoint name must be letters, digits, '.', '_' or '-', got {name!r}")
    cap = env.step_cap()                      # a device check's few-step models are never a real run's
    return Path(directory or checkpoint_dir()) / f"{name}-{env.budget(budget)}{f'-cap{cap}' if cap else ''}.pt"


def save(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """Atomically write ``payload`` (tensors and plain containers only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(dict(payload), tmp)
    os.replace(tmp, path)


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint safely with ``weights_only=True`` (no arbitrary code is executed).

    Raises:
        FileNotFoundError: naming the path.
        ValueError: when the file is not a course checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if found is None:                             # not a pickle of allowed types at all: damaged or foreign
            raise ValueError(_unreadable(path, err)) from None
        raise ValueError(f"{path} holds objects other than tensors and plain containers ({found.group(1)}), so it "
                         f"cannot be read safely (weights_only=True); delete it to retrain.") from None
    except (RuntimeError, EOFError, KeyError, OSError, ValueError) as err:   # truncated zip, empty or foreign bytes
        raise ValueError(_unreadable(path, err)) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a course_lib checkpoint (format {FORMAT}); delete it to retrain")
    return payload


def _unreadable(path: Path, err: BaseException) -> str:
    first = (str(err).splitlines() or [""])[0][:120]
    return (f"{path} is unreadable or truncated ({path.stat().st_size} bytes; {type(err).__name__}: {first}); an "
            f"interrupted copy or a full disk can leave such a file. Delete it (or set COURSE_RETRAIN=1) and run the "
            f"cell again to retrain.")


def _plain(value: Any) -> Any:
    """Tensors and plain containers only (numpy scalars/arrays become floats/tensors), so that
    every file written can be read back with ``weights_only=True``."""
    import numpy as np

    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, np.generic):
        return value.item()
    return value


class RandomState:
    """A ``torch.Generator`` as a checkpoint entry: ``ckpt.attach(batches=checkpoints.RandomState(g))``.

    Its state is saved with the optimisers and restored when a run resumes, so a seeded minibatch
    stream continues where the interrupted run stopped.
    """

    def __init__(self, generator: torch.Generator):
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"RandomState needs a torch.Generator, got {type(generator).__name__}")
        self.generator = generator

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {"state": self.generator.get_state()}

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        self.generator.set_state(state["state"])


def _module_state(module: Any) -> dict[str, Any]:
    if not hasattr(module, "state_dict"):
        raise TypeError(f"expected an nn.Module or optimiser with state_dict(), got {type(module).__name__}")
    return module.state_dict()


class Checkpoint:
    """Handed to a ``train_fn``: where to resume, a history, and saving.

    Attributes:
        step: the step to resume from (0 for a fresh run).
        history: ``dict[str, list[float]]`` of everything passed to :meth:`log`.
        extra: what ``train_fn`` returned (tensors and numbers kept in the file).
        elapsed_s: training wall time in seconds, summed over interrupted sessions.
        loaded: True when :func:`trained` found a finished file and trained nothing.
        path: the file.
    """

    def __init__(self, path: Path, modules: Mapping[str, nn.Module], every_s: float = 60.0,
                 payload: dict[str, Any] | None = None):
        self.path = path
        self.modules = dict(modules)
        self.every_s = every_s
        self.optimizers: dict[str, Any] = {}
        payload = payload or {}
        self.step: int = int(payload.get("step", 0))
        self.current_step: int = self.step
        self.history: dict[str, list[float]] = {k: list(v) for k, v in payload.get("history", {}).items()}
        self.extra: dict[str, Any] = dict(payload.get("extra", {}))
        self.elapsed_s: float = float(payload.get("elapsed_s", 0.0))
        self.loaded: bool = False
        self._optim_state: dict[str, Any] = dict(payload.get("optimizers", {}))
        self._t0 = time.perf_counter()
        self._last_save = time.perf_counter()

    def attach(self, **optimizers: Any) -> None:
        """Register optimisers (and schedulers); restores their state when resuming."""
        for k, opt in optimizers.items():
            if k in self._optim_state:
                opt.load_state_dict(self._optim_state[k])
            self.optimizers[k] = opt

    def log(self, **values: float) -> None:
        """Append scalar values to the history (``ckpt.log(loss=0.3, acc=0.9)``)."""
        for k, v in values.items():
            v = float(v.detach()) if isinstance(v, torch.Tensor) else float(v)
            self.history.setdefault(k, []).append(v)

    def payload(self, step: int, complete: bool) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "complete": complete,
            "step": int(step),
            "modules": {k: _module_state(m) for k, m in self.modules.items()},
            "optimizers": {k: _module_state(o) for k, o in self.optimizers.items()},
            "history": _plain(self.history),
            "extra": _plain(self.extra),
            "rng": {"torch": torch.get_rng_state(),
                    **({"cuda": torch.cuda.get_rng_state_all()} if torch.cuda.is_available() else {})},
            "elapsed_s": self.elapsed_s + time.perf_counter() - self._t0,
            "budget": env.budget(),
        }

    def save(self, step: int, complete: bool = False) -> None:
        """Write the checkpoint now (modules, optimisers, history, step)."""
        self.current_step = int(step)
        save(self.path, self.payload(step, complete))
        self._last_save = time.perf_counter()

    def maybe_save(self, step: int) -> bool:
        """Save if ``every_s`` seconds passed since the last save; returns whether it saved."""
        self.current_step = int(step)
        if time.perf_counter() - self._last_save >= self.every_s:
            self.save(step)
            return True
        return False


def _restore_modules(modules: Mapping[str, nn.Module], payload: Mapping[str, Any], path: Path) -> None:
    saved = payload.get("modules", {})
    missing = sorted(set(modules) - set(saved))
    if missing:
        raise ValueError(f"{path} has no weights for {missing} (it has {sorted(saved)}); delete it to retrain")
    for k, m in modules.items():
        try:
            m.load_state_dict(saved[k])
        except RuntimeError as err:
            raise ValueError(f"{path}: weights of {k!r} do not fit the network (architecture changed?); "
                             f"delete the file to retrain.\n{err}") from None


def trained(name: str, modules: Mapping[str, nn.Module], train_fn: Callable[[Checkpoint], Any],
            budget: str | None = None, directory: str | os.PathLike | None = None,
            retrain: bool | None = None, every_s: float = 60.0, verbose: bool = True) -> Checkpoint:
    """Load ``modules`` from ``<name>-<budget>.pt`` if training finished, else train (resuming) and save.

    :func:`load_or_train` is this function's history; use ``trained`` when you need more of the run
    (``ckpt.extra``, ``ckpt.elapsed_s``, ``ckpt.loaded``).

    Args:
        name: checkpoint name, e.g. ``"dcgan-mnist"``.
        modules: the networks whose weights are saved, ``{"generator": G, "discriminator": D}``.
        train_fn: ``train_fn(ckpt)`` trains in place, starting at ``ckpt.step``, logging with
            ``ckpt.log`` and calling ``ckpt.maybe_save(step)``; it may return a dict of extra
            tensors/numbers to keep (stored in ``ckpt.extra``).
        budget: the budget the file belongs to (default: the active one).
        directory: override ``COURSE_CHECKPOINT_DIR``.
        retrain: ignore a finished checkpoint (default: ``COURSE_RETRAIN=1``).
        every_s: seconds between intermediate saves.
        verbose: print what happened.

    Returns:
        The finished :class:`Checkpoint`: ``.history``, ``.extra``, ``.elapsed_s`` (restored when loading)
        and ``.loaded``.
    """
    if not modules:
        raise ValueError("modules must name at least one network to save, e.g. {'net': net}")
    for k, m in modules.items():
        _module_state(m)
    path = path_for(name, budget, directory)
    if retrain is None:
        retrain = os.environ.get("COURSE_RETRAIN", "") not in ("", "0")
    payload = None
    if path.exists() and not retrain:
        payload = load(path)
        _restore_modules(modules, payload, path)
        if payload.get("complete"):
            if verbose:
                print(f"loaded {path.name}: trained {payload['step']} steps in {payload['elapsed_s']:.1f} s "
                      f"(delete it or set COURSE_RETRAIN=1 to train again)")
            ckpt = Checkpoint(path, modules, every_s, payload)
            ckpt.loaded = True
            return ckpt
        rng = payload.get("rng", {})
        if "torch" in rng:  # continue the random stream where the interrupted run stopped
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and torch.cuda.is_available() and len(rng["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(rng["cuda"])
        if verbose:
            print(f"resuming {path.name} from step {payload['step']}")
    ckpt = Checkpoint(path, modules, every_s, payload)
    extra = train_fn(ckpt)
    if isinstance(extra, Mapping):
        ckpt.extra.update(extra)
    ckpt.save(ckpt.current_step, complete=True)
    total = ckpt.elapsed_s + time.perf_counter() - ckpt._t0
    ckpt.elapsed_s, ckpt._t0 = total, time.perf_counter()   # .elapsed_s: the training time, as after loading
    if verbose:
        print(f"trained and saved {path.name} ({total:.1f} s)")
    return ckpt


def load_or_train(name: str, modules: Mapping[str, nn.Module], train_fn: Callable[[Checkpoint], Any],
                  **kw: Any) -> dict[str, list[float]]:
    """:func:`trained`, returning only the history ``dict[str, list[float]]`` (also restored when loading).

    ``**kw``: ``budget``, ``directory``, ``retrain``, ``every_s``, ``verbose`` as in :func:`trained`.
    """
    return trained(name, modules, train_fn, **kw).history
