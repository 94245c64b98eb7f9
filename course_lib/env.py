"""Device, seeding and budgets: the one setup cell of every notebook.

A *budget* says how much compute a notebook may spend; it is read once from the
environment variable ``COURSE_BUDGET``:

* ``smoke``   -- CI: seconds per notebook, checks that every cell runs.
* ``lecture`` -- a 2-core laptop CPU: a few minutes; the phenomenon is visible and measured.
* ``full``    -- a GPU: paper-scale sizes.

The default is ``full`` on a CUDA GPU and ``lecture`` otherwise. A notebook turns
the budget into sizes in exactly one place, :meth:`Setup.pick`, so the same code
runs at every size (there is never a separate "toy" path)::

    cfg = env.setup(seed=0)
    S = cfg.pick(smoke=dict(num_epochs=1, n_train=512),
                 lecture=dict(num_epochs=10, n_train=4000),
                 full=dict(num_epochs=50, n_train=60000))
    S.num_epochs
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from . import checks

BUDGETS = ("smoke", "lecture", "full")


def device(prefer: str | None = None) -> torch.device:
    """Pick the compute device: CUDA > Apple MPS > CPU.

    Args:
        prefer: force a device (``"cpu"``, ``"cuda"``, ``"mps"``); defaults to the
            environment variable ``COURSE_DEVICE`` or automatic choice.

    Returns:
        The chosen :class:`torch.device`.
    """
    prefer = prefer or os.environ.get("COURSE_DEVICE") or None
    if prefer is not None:
        checks.one_of(prefer.split(":")[0], "device", ("cpu", "cuda", "mps"))
        if prefer.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"device {prefer!r} requested but torch.cuda.is_available() is False")
        if prefer == "mps" and not _mps_available():
            raise RuntimeError("device 'mps' requested but torch.backends.mps.is_available() is False")
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX-512 BF16 or AMX flags in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_bf16() -> bool:
    """Whether CPU training may run convolutional networks under bf16 autocast (see :func:`amp_dtype`).

    ``COURSE_CPU_BF16=0`` switches it off and ``=1`` on; by default it is on exactly where the CPU
    has native bf16 arithmetic (:func:`cpu_has_native_bf16`). Results are deterministic for a fixed
    setting, but differ between the two settings.
    """
    flag = os.environ.get("COURSE_CPU_BF16", "").strip()
    if flag not in ("", "0", "1"):
        raise ValueError(f"COURSE_CPU_BF16 must be 0 or 1, got {flag!r}")
    return cpu_has_native_bf16() if flag == "" else flag == "1"


def _convolutional(modules: Sequence[torch.nn.Module]) -> bool:
    conv = (torch.nn.modules.conv._ConvNd,)
    return any(isinstance(sub, conv) for m in modules for sub in m.modules())


def amp_dtype(dev: torch.device | str, amp: bool | None = None,
              modules: Sequence[torch.nn.Module] | None = None) -> torch.dtype | None:
    """The autocast dtype of training on ``dev``, or None for float32.

    The CPU default follows a measurement (``scripts/bench_gan_engine.py --bf16`` and the toy MLP in
    the README): on a CPU with native bf16 a DCGAN step ran 1.3-1.7x faster under bf16 autocast,
    while the small MLPs of the 2-D toy problems ran 7% slower. So by default CPU training uses bf16
    for convolutional networks only (and where :func:`cpu_bf16` allows it).

    Args:
        dev: the training device.
        amp: None: the default (CUDA: on; CPU: :func:`cpu_bf16` and ``modules`` convolutional);
            True / False to force it.
        modules: the networks to train (the CPU default needs them; without them it is off).

    Returns:
        CUDA: bfloat16 where supported, else float16 (with a gradient scaler); CPU: bfloat16; None: off.
    """
    dev = torch.device(dev)
    if amp is None:
        on = dev.type == "cuda" or (dev.type == "cpu" and modules is not None and cpu_bf16()
                                    and _convolutional(modules))
    else:
        on = bool(amp)
    if not on:
        return None
    if dev.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dev.type == "cpu":
        return torch.bfloat16
    raise ValueError(f"amp=True is supported on CUDA and the CPU, not on {dev.type}")


def budget(value: str | None = None) -> str:
    """Return the active budget name.

    Args:
        value: explicit budget; defaults to ``COURSE_BUDGET``, then ``full`` on a CUDA GPU,
            else ``lecture``.

    Raises:
        ValueError: for a name other than ``smoke``, ``lecture`` or ``full``.
    """
    value = value or os.environ.get("COURSE_BUDGET") or None
    if value is None:
        return "full" if torch.cuda.is_available() else "lecture"
    return checks.one_of(value.strip().lower(), "budget (COURSE_BUDGET)", BUDGETS)


def step_cap() -> int | None:
    """The device check's cap on every training loop: ``COURSE_MAX_STEPS`` (unset or empty: no cap).

    ``python -m course_lib.course devcheck`` sets it to run each notebook at the full budget's sizes for a
    few steps per training loop (:func:`capped`), so a GPU session checks device placement and autocast in
    minutes; claims then fail, as they should for a few steps. Checkpoints of a capped run carry the cap
    in their file name (:func:`course_lib.checkpoints.path_for`) and are never loaded by a normal run.

    Raises:
        ValueError: ``COURSE_MAX_STEPS`` is not a positive integer.
    """
    value = os.environ.get("COURSE_MAX_STEPS", "").strip()
    if not value:
        return None
    try:
        cap = int(value)
    except ValueError:
        cap = 0
    if cap < 1:
        raise ValueError(f"COURSE_MAX_STEPS must be a positive integer (steps per training loop) or unset, "
                         f"got {value!r}")
    return cap


def capped(num_steps: int) -> int:
    """``num_steps``, or the device check's :func:`step_cap` when that is smaller."""
    cap = step_cap()
    return num_steps if cap is None else min(num_steps, cap)


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and PyTorch (all devices).

    Args:
        seed: the seed.
        deterministic: also ask PyTorch for deterministic kernels (slower on GPU;
            ops without a deterministic version warn instead of failing).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # effective only before the first cuBLAS call of the process: keep setup() the first cell
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = False


class Sizes(Mapping):
    """Read-only bag of sizes for the active budget; fields read as attributes (``S.num_epochs``)."""

    def __init__(self, budget_name: str, values: Mapping[str, Any]):
        object.__setattr__(self, "_budget", budget_name)
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(
                f"no size {key!r} in this budget; defined sizes: {', '.join(self._values)}"
            ) from None

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("sizes are read-only: change them in the cfg.pick(...) call")

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Sizes[{self._budget}]({inner})"


def pick(smoke: Mapping[str, Any], lecture: Mapping[str, Any], full: Mapping[str, Any],
         budget_name: str | None = None) -> Sizes:
    """Choose the sizes for the active budget.

    All three budgets must define the same keys: the code is identical at every size.

    Args:
        smoke, lecture, full: a mapping of size names to values for each budget.
        budget_name: override the active budget.

    Returns:
        A read-only :class:`Sizes` for the active budget.
    """
    table = {"smoke": dict(smoke), "lecture": dict(lecture), "full": dict(full)}
    keys = set(table["lecture"])
    for name, values in table.items():
        if set(values) != keys:
            missing = sorted(keys - set(values))
            extra = sorted(set(values) - keys)
            raise ValueError(
                f"budget {name!r} must define the same sizes as 'lecture'; missing {missing}, extra {extra}"
            )
    b = budget(budget_name)
    return Sizes(b, table[b])


@dataclass(frozen=True)
class Setup:
    """What the setup cell established: device, budget and seed."""

    device: torch.device
    budget: str
    seed: int
    deterministic: bool
    num_threads: int
    started: float = field(default_factory=time.perf_counter, compare=False)

    def elapsed(self) -> float:
        """Seconds since the setup cell ran (for the notebook's wall time)."""
        return time.perf_counter() - self.started

    def pick(self, smoke: Mapping[str, Any], lecture: Mapping[str, Any], full: Mapping[str, Any]) -> Sizes:
        """Sizes for this setup's budget (see :func:`pick`); prints them."""
        sizes = pick(smoke, lecture, full, budget_name=self.budget)
        print(sizes)
        return sizes

    def __str__(self) -> str:
        dev = str(self.device)
        if self.device.type == "cuda":
            dev += f" ({torch.cuda.get_device_name(self.device)})"
        if self.device.type == "cuda":
            amp = str(amp_dtype(self.device)).replace("torch.", "")
        elif self.device.type == "cpu":
            amp = "bfloat16 for conv nets" if cpu_bf16() else "off"
        else:
            amp = "off"
        cap = step_cap()
        return (f"device={dev} | budget={self.budget} | seed={self.seed} | "
                f"deterministic={self.deterministic} | torch {torch.__version__} | threads={self.num_threads} | "
                f"autocast={amp}" + (f" | device check: every training loop capped at {cap} steps" if cap else ""))


def setup(seed: int = 0, deterministic: bool = False, device_name: str | None = None,
          budget_name: str | None = None, verbose: bool = True) -> Setup:
    """Seed everything, choose device and budget, and print them in one line.

    Args:
        seed: global seed.
        deterministic: request deterministic kernels (see :func:`seed_everything`).
        device_name: force a device; default automatic (``COURSE_DEVICE`` overrides).
        budget_name: force a budget; default ``COURSE_BUDGET`` or automatic.
        verbose: print the setup line.

    Returns:
        A frozen :class:`Setup`.
    """
    seed_everything(seed, deterministic)
    threads = os.environ.get("COURSE_NUM_THREADS")
    if threads:
        torch.set_num_threads(checks.positive_int(int(threads), "COURSE_NUM_THREADS"))
    cfg = Setup(device=device(device_name), budget=budget(budget_name), seed=seed,
                deterministic=deterministic, num_threads=torch.get_num_threads())
    if verbose:
        print(cfg)
    return cfg
