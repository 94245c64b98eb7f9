"""Checks for the exercises of notebooks 00-05, re-exported by :mod:`course_lib.exercises`."""

from __future__ import annotations

__all__: list[str] = []
