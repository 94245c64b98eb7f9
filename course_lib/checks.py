"""Input checks that fail early with a message naming what was expected.

Every public function in course_lib validates its tensors with these helpers, so a
student who passes a (H, W) image where a (B, C, H, W) batch was expected reads
*what* was expected and *what* arrived, not a stack trace from deep inside a conv.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch

ArrayLike = torch.Tensor | np.ndarray


def feature_matrix(x: ArrayLike, name: str) -> np.ndarray:
    """``x`` (a tensor or array of shape (N, D)) as a float64 numpy array; a ValueError naming ``name`` otherwise."""
    a = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D), got {a.shape}")
    return a


def _shape(x: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in x.shape) + ")"


def tensor(x: object, name: str) -> torch.Tensor:
    """Return ``x`` if it is a tensor, else raise a TypeError naming ``name``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def ndim(x: torch.Tensor, name: str, dims: int | Sequence[int], layout: str = "") -> torch.Tensor:
    """Check the number of dimensions of ``x``.

    Args:
        x: tensor to check.
        name: argument name used in the message.
        dims: allowed number(s) of dimensions.
        layout: human description of the expected layout, e.g. ``"(B, C, H, W)"``.
    """
    tensor(x, name)
    allowed = (dims,) if isinstance(dims, int) else tuple(dims)
    if x.ndim not in allowed:
        want = layout or " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name} must have shape {want}, got {x.ndim}-D tensor of shape {_shape(x)}")
    return x


def floating(x: torch.Tensor, name: str) -> torch.Tensor:
    """Check that ``x`` has a floating dtype (images are float in this course)."""
    tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {x.dtype}; "
            f"convert uint8 images with x.float() / 255"
        )
    return x


def value_range(x: torch.Tensor, name: str, lo: float, hi: float, tol: float = 1e-4) -> torch.Tensor:
    """Check that every value of ``x`` lies in ``[lo, hi]`` (up to ``tol``)."""
    tensor(x, name)
    if x.numel() == 0:
        return x
    xmin, xmax = float(x.min()), float(x.max())
    if math.isnan(xmin) or math.isnan(xmax):
        raise ValueError(f"{name} contains NaN; expected values in [{lo:g}, {hi:g}]")
    if xmin < lo - tol or xmax > hi + tol:
        raise ValueError(f"{name} must have values in [{lo:g}, {hi:g}], got values in [{xmin:.4g}, {xmax:.4g}]")
    return x


def image_batch(
    x: torch.Tensor,
    name: str = "x",
    channels: int | Iterable[int] | None = None,
    lo: float | None = None,
    hi: float | None = None,
) -> torch.Tensor:
    """Check an image batch: float tensor of shape (B, C, H, W), optional channels and range.

    Args:
        x: tensor to check.
        name: argument name for the message.
        channels: allowed channel count(s), or None for any.
        lo, hi: allowed value range, or None to skip the range check.

    Returns:
        ``x`` unchanged, so checks can be chained inline.
    """
    ndim(x, name, 4, "(B, C, H, W)")
    floating(x, name)
    if channels is not None:
        allowed = (channels,) if isinstance(channels, int) else tuple(channels)
        if x.shape[1] not in allowed:
            raise ValueError(
                f"{name} must have {' or '.join(map(str, allowed))} channels in dim 1 of (B, C, H, W), "
                f"got shape {_shape(x)}"
            )
    if lo is not None and hi is not None:
        value_range(x, name, lo, hi)
    return x


def positive_int(v: object, name: str) -> int:
    """Check that ``v`` is an int >= 1."""
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")
    return v


def one_of(v: str, name: str, allowed: Iterable[str]) -> str:
    """Check that ``v`` is one of ``allowed`` and say which names exist if not."""
    allowed = list(allowed)
    if v not in allowed:
        raise ValueError(f"unknown {name} {v!r}; expected one of: {', '.join(map(repr, allowed))}")
    return v
