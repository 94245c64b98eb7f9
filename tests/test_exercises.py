"""course_lib.exercises: checks that explain, and student copies."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib import exercises

SOLVED = """def square(x):
    # BEGIN SOLUTION: return x squared
    y = x * x
    return y
    # END SOLUTION

print(square(3))"""


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


def test_strip_solutions_keeps_indentation_and_runs():
    src, n = exercises.strip_solutions(SOLVED)
    assert n == 1 and "x * x" not in src
    assert "    # TODO: return x squared" in src and "    raise NotImplementedError" in src
    ns: dict = {}
    exec(src.replace("print(square(3))", ""), ns)  # the stub is valid Python
    with pytest.raises(NotImplementedError):
        ns["square"](3)


@pytest.mark.parametrize("bad, msg", [
    ("# BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n# END SOLUTION", "without a"),
    ("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "nested"),
])
def test_unbalanced_markers(bad, msg):
    with pytest.raises(ValueError, match=msg):
        exercises.strip_solutions(bad, "nb cell 3")


def test_student_copies_clear_outputs(tmp_path, capsys):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": SOLVED.splitlines(True),
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "9"}]},
    ]}
    src = tmp_path / "nbs"
    src.mkdir()
    (src / "01_x.ipynb").write_text(json.dumps(nb))
    assert exercises.main([str(src), str(tmp_path / "student")]) == 0
    out = json.loads((tmp_path / "student" / "01_x.ipynb").read_text())
    code = out["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert "NotImplementedError" in code["source"] and "x * x" not in code["source"]
    assert "01_x.ipynb: 1 exercise(s) stubbed" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no notebook folder"):
        exercises.write_student_copies(tmp_path / "missing", tmp_path / "s")
