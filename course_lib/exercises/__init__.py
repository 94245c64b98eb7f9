"""Exercises: checks that tell a student what is wrong.

In a notebook, the solution of an exercise sits between markers and a check follows it::

    def kl_normal(mu, logvar):
        ### BEGIN SOLUTION
        return 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(-1)
        ### END SOLUTION

    exercises.check_kl_normal(kl_normal)      # runs the student's function against the course's

The checks of each part live in ``part1`` (notebooks 00-05), ``part2`` (06-10), ``part3`` (11-15) and ``part4`` (16-20)
and are re-exported here, so every check is ``exercises.check_*``. When later cells use the student's
code (a training run with the student's loss or block), :func:`or_reference` hands them the student's
version once its check passes and the course's version until then, so the student copy always runs.

A check prints ``✔ <what>: correct`` and returns True, or raises :class:`ExerciseError` whose message
says what is wrong (shape, NaN, the largest difference and where) and gives the hint. The student
copies (each marked block replaced by a TODO) are written by the course runner:
``python -m course_lib.course student`` (:func:`course_lib.course.write_student_copies`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Sequence
from typing import Any

import torch


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


def or_reference(student: Any, reference: Any, check: Callable[[Any], Any], what: str) -> Any:
    """The student's function or class once ``check(student)`` passes, else the course's ``reference``.

    The check runs quietly; any exception (a stub's ``NotImplementedError``, an :class:`ExerciseError`)
    prints one line and hands back the reference, so the cells after an unfinished exercise still run.

    Args:
        student: the student's function or class.
        reference: the course's implementation with the same signature.
        check: the ``exercises.check_*`` function of that exercise, called as ``check(student)``.
        what: the exercise in words, for the printed line ("the gradient penalty").

    Returns:
        ``student`` or ``reference``.
    """
    if not callable(check):
        raise ValueError(f"check should be an exercises.check_* function, got {type(check).__name__}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            check(student)
    except Exception as err:  # noqa: BLE001 - any failure means: not done yet
        reason = "not implemented yet" if isinstance(err, NotImplementedError) else "its check fails"
        print(f"using the course's version of {what} until yours is done ({reason})")
        return reference
    print(f"using your version of {what}")
    return student


class NotDone(ExerciseError, NotImplementedError):
    """A stub: both an ExerciseError (the check fails) and a NotImplementedError (the exercise is not done yet)."""


def run_student(fn: Any, *args: Any, what: str, crash_hint: str | Callable[[Exception], str | None] | None = None,
                **kwargs: Any) -> Any:
    """Run the student's code for a check: a stub or a crash becomes an error that says so.

    Args:
        fn: the student's function or class.
        *args, **kwargs: what to call it with.
        what: the exercise in words, for the messages.
        crash_hint: a hint added when the code crashes, or a function of the exception giving one (or None).

    Returns:
        What ``fn`` returned.

    Raises:
        ExerciseError: ``fn`` is not callable, or it crashed (with the exception's message).
        NotDone: ``fn`` is still the stub (raises NotImplementedError).
    """
    if not callable(fn):
        raise ExerciseError(f"{what}: pass your function or class itself (not its result), got {type(fn).__name__}")
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotDone(f"{what}: not implemented yet (replace `raise NotImplementedError()` with your code)") from None
    except ExerciseError:
        raise
    except Exception as err:  # noqa: BLE001 - any crash of the student's code is reported with its message
        hint = crash_hint(err) if callable(crash_hint) else crash_hint
        raise ExerciseError(f"{what} raised {type(err).__name__}: {err}" + (f". Hint: {hint}" if hint else "")) from None


from .part1 import *  # noqa: E402,F401,F403
from .part2 import *  # noqa: E402,F401,F403
from .part3 import *  # noqa: E402,F401,F403
from .part4 import *  # noqa: E402,F401,F403
