"""Checks for the exercises of notebooks 11-15, re-exported by :mod:`course_lib.exercises`."""

from __future__ import annotations

__all__: list[str] = []
