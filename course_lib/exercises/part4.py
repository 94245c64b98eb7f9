"""Checks for the exercises of notebooks 16-20, re-exported by :mod:`course_lib.exercises`."""

from __future__ import annotations

__all__: list[str] = []
