"""course_lib.exercises: checks that explain what is wrong (student copies: tests/test_course.py)."""

from __future__ import annotations

import pytest
import torch

from course_lib import exercises


def test_check_close_passes_and_explains(capsys):
    assert exercises.check_close(torch.tensor([1.0, 2.0]), [1.0, 2.0], "v")
    assert "✔ v: correct" in capsys.readouterr().out
    with pytest.raises(exercises.ExerciseError, match=r"largest difference 0.5 at index \(1,\).*Hint: sign"):
        exercises.check_close(torch.tensor([1.0, 2.5]), [1.0, 2.0], "v", hint="sign")
    with pytest.raises(exercises.ExerciseError, match=r"shape \(2,\), got \(3,\)"):
        exercises.check_close(torch.zeros(3), [1.0, 2.0], "v")
    with pytest.raises(exercises.ExerciseError, match="forget to return"):
        exercises.check_close(None, 1.0, "v")
    with pytest.raises(exercises.ExerciseError, match="NaN"):
        exercises.check_close(float("nan"), 1.0, "v")


def test_other_checks():
    assert exercises.check_shape(torch.zeros(2, 3), (2, 3), "z")
    with pytest.raises(exercises.ExerciseError, match=r"shape \(2, 4\), got \(2, 3\)"):
        exercises.check_shape(torch.zeros(2, 3), (2, 4), "z")
    with pytest.raises(exercises.ExerciseError, match="torch.Tensor"):
        exercises.check_shape([1], (1,), "z")
    assert exercises.check_between(0.5, 0, 1, "p")
    with pytest.raises(exercises.ExerciseError, match="between 0 and 1"):
        exercises.check_between(1.5, 0, 1, "p")
    with pytest.raises(exercises.ExerciseError, match="expected: loss decreases"):
        exercises.check_true(False, "loss decreases")
