"""Exercises: checks that tell a student what is wrong, and student copies of the notebooks.

In a notebook, the solution of an exercise sits between markers::

    def kl_normal(mu, logvar):
        # BEGIN SOLUTION
        return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
        # END SOLUTION

    exercises.check_close(kl_normal(mu, logvar), reference, "kl_normal")

``python -m course_lib.exercises notebooks student`` writes a copy of every notebook in
which each marked block is replaced by ``# TODO: ...`` and ``raise NotImplementedError``
(indented like the solution), with outputs cleared.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

BEGIN = "# BEGIN SOLUTION"
END = "# END SOLUTION"


class ExerciseError(AssertionError):
    """Raised by a check; the message explains what is wrong and gives a hint."""


def _ok(what: str) -> bool:
    print(f"\u2714 {what}: correct")
    return True


def check_shape(value: Any, expected: Sequence[int], what: str = "result") -> bool:
    """Check that a tensor has the expected shape."""
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should be a torch.Tensor, got {type(value).__name__}")
    if tuple(value.shape) != tuple(expected):
        raise ExerciseError(f"{what} should have shape {tuple(expected)}, got {tuple(value.shape)}")
    return _ok(f"{what} shape {tuple(expected)}")


def check_close(value: Any, expected: Any, what: str = "result", rtol: float = 1e-4, atol: float = 1e-5,
                hint: str | None = None) -> bool:
    """Check that ``value`` matches ``expected`` (numbers, arrays or tensors) to tolerance.

    The message names the shape mismatch, NaNs, or the largest difference and where it is.
    """
    if value is None:
        raise ExerciseError(f"{what} is None: did you forget to return it?")
    try:
        v = torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value, dtype=torch.float64)
        e = torch.as_tensor(expected.detach() if isinstance(expected, torch.Tensor) else expected,
                            dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ExerciseError(f"{what} should be numeric (a number, array or tensor); {err}") from None
    v, e = v.cpu(), e.cpu()
    if v.shape != e.shape:
        raise ExerciseError(f"{what} should have shape {tuple(e.shape)}, got {tuple(v.shape)}"
                            + (f". Hint: {hint}" if hint else ""))
    if torch.isnan(v).any() and not torch.isnan(e).any():
        raise ExerciseError(f"{what} contains NaN" + (f". Hint: {hint}" if hint else ""))
    if not torch.allclose(v, e, rtol=rtol, atol=atol, equal_nan=True):
        diff = (v - e).abs()
        i = int(diff.flatten().argmax())
        where = f" at index {tuple(int(j) for j in torch.unravel_index(torch.tensor(i), v.shape))}" if v.ndim else ""
        msg = (f"{what} is not correct: largest difference {diff.max().item():.4g}{where} "
               f"(got {v.flatten()[i].item():.6g}, expected {e.flatten()[i].item():.6g})")
        if hint:
            msg += f". Hint: {hint}"
        raise ExerciseError(msg)
    return _ok(what)


def check_true(condition: Any, what: str, hint: str | None = None) -> bool:
    """Check a condition about the student's result; ``what`` states what should hold."""
    if not bool(condition):
        raise ExerciseError(f"expected: {what}" + (f". Hint: {hint}" if hint else ""))
    return _ok(what)


def check_between(value: float, lo: float, hi: float, what: str = "result", hint: str | None = None) -> bool:
    """Check that a number lies in [lo, hi]."""
    v = float(value)
    if not lo <= v <= hi:
        raise ExerciseError(f"{what} = {v:.4g} should be between {lo:g} and {hi:g}" + (f". Hint: {hint}" if hint else ""))
    return _ok(f"{what} = {v:.4g}")


# --------------------------------------------------------------------------------------
# Student copies
# --------------------------------------------------------------------------------------
_BEGIN_RE = re.compile(r"^(\s*)# BEGIN SOLUTION\b(.*)$")
_END_RE = re.compile(r"^\s*# END SOLUTION\b")


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace every marked solution block by a TODO stub.

    Args:
        source: cell source code.
        where: used in error messages (``"03_x.ipynb cell 12"``).

    Returns:
        The new source and the number of blocks replaced.

    Raises:
        ValueError: on nested, unclosed or unopened markers.
    """
    out: list[str] = []
    inside = False
    count = 0
    for lineno, line in enumerate(source.splitlines(), 1):
        b, e = _BEGIN_RE.match(line), _END_RE.match(line)
        if b:
            if inside:
                raise ValueError(f"{where} line {lineno}: nested '{BEGIN}' (close the previous block first)")
            inside = True
            count += 1
            indent, note = b.group(1), b.group(2).strip(" :-")
            out.append(f"{indent}# TODO: {note or 'your code here'}")
            out.append(f"{indent}raise NotImplementedError(\"exercise: replace this line with your solution\")")
        elif e:
            if not inside:
                raise ValueError(f"{where} line {lineno}: '{END}' without a '{BEGIN}'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out), count


def student_notebook(nb: dict[str, Any], where: str = "notebook") -> tuple[dict[str, Any], int]:
    """A copy of a notebook (nbformat JSON dict) with solutions stubbed and outputs cleared."""
    nb = json.loads(json.dumps(nb))
    total = 0
    for i, cell in enumerate(nb.get("cells", [])):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if cell.get("cell_type") == "code":
            new, n = strip_solutions(src, f"{where} cell {i}")
            total += n
            cell["source"] = new
            cell["outputs"] = []
            cell["execution_count"] = None
        elif BEGIN in src:
            raise ValueError(f"{where} cell {i}: solution markers belong in code cells")
    return nb, total


def write_student_copies(src_dir: str | Path, out_dir: str | Path) -> dict[str, int]:
    """Write student copies of every ``*.ipynb`` in ``src_dir`` to ``out_dir``.

    Returns:
        ``{notebook name: number of exercises stubbed}``.
    """
    src_dir, out_dir = Path(src_dir), Path(out_dir)
    if not src_dir.is_dir():
        raise FileNotFoundError(f"no notebook folder {src_dir}")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for path in sorted(src_dir.glob("*.ipynb")):
        nb, n = student_notebook(json.loads(path.read_text()), path.name)
        (out_dir / path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        counts[path.name] = n
    return counts


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_lib.exercises",
                                description="Write student copies of the notebooks (solutions replaced by TODOs).")
    p.add_argument("src", nargs="?", default="notebooks", help="folder of notebooks (default: notebooks)")
    p.add_argument("out", nargs="?", default="student", help="output folder (default: student)")
    a = p.parse_args(argv)
    counts = write_student_copies(a.src, a.out)
    for name, n in counts.items():
        print(f"{name}: {n} exercise(s) stubbed")
    print(f"wrote {len(counts)} student notebook(s) to {a.out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
