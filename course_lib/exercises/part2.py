"""Checks for the exercises of notebooks 06-10, re-exported by :mod:`course_lib.exercises`."""

from __future__ import annotations

__all__: list[str] = []
