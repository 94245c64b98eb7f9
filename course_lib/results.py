"""Measured numbers: print them in the notebook and collect them for ``build/results.md``.

Every number a notebook reports goes through :func:`record`, so it is computed, printed,
and (when the course runner executes the notebook) written to
``$COURSE_RESULTS_DIR/<notebook>.json`` for the results table.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import env

_RECORDED: dict[str, dict[str, Any]] = {}
_CLAIMS: dict[str, dict[str, Any]] = {}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f"{value:.4g}"
    return f"{value:.3e}"


def _as_number(value: Any, what: str, allow_bool: bool) -> int | float:
    """A Python number from a number or a 0-d tensor/array; bools only where ``allow_bool`` (a claim may be a yes/no)."""
    if hasattr(value, "item"):
        value = value.item()
    if (isinstance(value, bool) and not allow_bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number, got {type(value).__name__}")
    return value


def record(name: str, value: float, unit: str = "", note: str = "") -> float:
    """Print ``name = value unit`` and store it for the results table.

    Args:
        name: what was measured, e.g. ``"test NLL (nats)"``.
        value: the computed number (a float or 0-d tensor).
        unit: unit text, e.g. ``"dB"``.
        note: short context, e.g. the feature network or data used.

    Returns:
        The value as a float (so ``x = results.record(...)`` reads naturally).
    """
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    value = _as_number(value, f"value of {name!r}", allow_bool=False)
    if isinstance(value, float) and not math.isfinite(value):
        print(f"warning: {name} is {value}")
    line = f"{name} = {_fmt(value)}" + (f" {unit}" if unit else "") + (f"  ({note})" if note else "")
    print(line)
    _RECORDED[name] = {"value": value, "unit": unit, "note": note, "budget": env.budget()}
    _flush()
    return float(value)


def claim(name: str, value: float, *, at_least: float | None = None, at_most: float | None = None,
          note: str = "") -> bool | None:
    """State a lesson as a checked claim: print one line with the value, the target and the verdict.

    ``claim <name>: <value> (target >= <x>)  [<note>] ✔`` (or ``✘``; ``<=`` for ``at_most``); the verdict ends
    the line. At the ``smoke`` budget the verdict is replaced by ``(not judged at smoke)`` and nothing fails.
    The claim is stored for the results table (``<notebook>.claims.json`` beside the numbers).

    Args:
        name: lowercase snake_case, unique across the course, e.g. ``"fista_matches_sklearn_lasso"``.
        value: the measured number (float, int, bool or 0-d tensor).
        at_least / at_most: the target; give at least one.
        note: short context (the judge, the sample size).

    Returns:
        True/False when judged, None at smoke.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"claim name must be lowercase snake_case (e.g. 'deep_ae_beats_pca'), got {name!r}")
    if at_least is None and at_most is None:
        raise ValueError(f"claim {name!r} needs a target: at_least=... and/or at_most=...")
    value = float(_as_number(value, f"value of claim {name!r}", allow_bool=True))
    budget = env.budget()
    ok = math.isfinite(value) and (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
    target = " and ".join(t for t in ((f">= {_fmt(float(at_least))}" if at_least is not None else ""),
                                      (f"<= {_fmt(float(at_most))}" if at_most is not None else "")) if t)
    verdict = "(not judged at smoke)" if budget == "smoke" else ("✔" if ok else "✘")
    print(f"claim {name}: {_fmt(value)} (target {target})" + (f"  [{note}]" if note else "") + f" {verdict}")
    _CLAIMS[name] = {"value": value, "at_least": at_least, "at_most": at_most, "target": target,
                     "pass": None if budget == "smoke" else bool(ok), "note": note, "budget": budget}
    _flush()
    return None if budget == "smoke" else bool(ok)


def claims() -> dict[str, dict[str, Any]]:
    """Every claim stated in this process."""
    return dict(_CLAIMS)


def recorded() -> dict[str, dict[str, Any]]:
    """Everything recorded in this process."""
    return dict(_RECORDED)


def _flush() -> None:
    d, nb = os.environ.get("COURSE_RESULTS_DIR"), os.environ.get("COURSE_NOTEBOOK")
    if not d or not nb:
        return
    path = Path(d) / f"{nb}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_RECORDED, indent=1))
    if _CLAIMS:
        (Path(d) / f"{nb}.claims.json").write_text(json.dumps(_CLAIMS, indent=1))


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, title: str | None = None) -> str:
    """Print (and return) a plain-text table of dict rows; floats get 4 significant digits."""
    if not rows:
        raise ValueError("table needs at least one row")
    columns = list(columns or rows[0].keys())
    cells = [[(_fmt(r[c]) if isinstance(r.get(c), float) else str(r.get(c, ""))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(columns, widths)),
             "-+-".join("-" * w for w in widths)]
    lines += [" | ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    text = (f"{title}\n" if title else "") + "\n".join(lines)
    print(text)
    return text
