"""course_lib.course: the runner's CLI, notebook selection, report and claims summary, and student copies."""

from __future__ import annotations

import json

import pytest

from course_lib import course


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------
def test_cli_needs_a_command(capsys):
    with pytest.raises(SystemExit) as err:
        course.main([])
    assert err.value.code == 2 and "run" in capsys.readouterr().err


def test_cli_rejects_an_unknown_budget(capsys):
    with pytest.raises(SystemExit) as err:
        course.main(["run", "--budget", "huge"])
    assert err.value.code == 2 and "invalid choice: 'huge'" in capsys.readouterr().err


def test_cli_run_passes_its_arguments(monkeypatch):
    seen = {}

    def fake_run(budget, only, out, timeout, inplace):
        seen.update(budget=budget, only=list(only), out=out, timeout=timeout, inplace=inplace)
        return [{"notebook": "05_gan", "status": "ok", "claims": {}}]

    monkeypatch.setattr(course, "run", fake_run)
    assert course.main(["run", "--budget", "smoke", "--only", "00", "05_gan", "--out", "b", "--timeout", "9",
                        "--inplace"]) == 0
    assert seen == {"budget": "smoke", "only": ["00", "05_gan"], "out": "b", "timeout": 9, "inplace": True}
    assert course.main(["run"]) == 0
    assert seen == {"budget": None, "only": [], "out": "build", "timeout": 3600, "inplace": False}


@pytest.mark.parametrize("rows, code", [
    ([{"notebook": "00_a", "status": "failed", "claims": {}}], 1),
    ([{"notebook": "00_a", "status": "ok", "claims": {"x": {"pass": False}}}], 1),
    ([{"notebook": "00_a", "status": "ok", "claims": {"x": {"pass": None}}}], 0),
])
def test_cli_run_exit_code(monkeypatch, rows, code):
    monkeypatch.setattr(course, "run", lambda *a, **k: rows)
    assert course.main(["run"]) == code


def test_cli_list_prints_every_notebook(capsys):
    assert course.main(["list"]) == 0
    names = capsys.readouterr().out.split()
    assert names == [p.stem for p in sorted((course.ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))]
    assert names[0] == "00_introduction" and len(names) == 21


def test_cli_run_bad_notebook_number(monkeypatch):
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    with pytest.raises(SystemExit, match=r"no notebook matches \['99'\]; available: 00_introduction, "):
        course.main(["run", "--only", "99"])


# --------------------------------------------------------------------------------------
# Selection, report, claims summary
# --------------------------------------------------------------------------------------
def test_report_table(tmp_path):
    rows = [{"notebook": "00_introduction", "budget": "smoke", "status": "ok", "wall_s": 3.2, "error": "",
             "metrics": {"n": {"value": 4000, "unit": "images"}}},
            {"notebook": "01_x", "budget": "smoke", "status": "failed", "wall_s": 1.0, "error": "ValueError: boom",
             "metrics": {}}]
    md = course.write_report(rows, tmp_path).read_text()
    assert "| 00_introduction | smoke | ok | 3.2 | n = 4000 images |" in md
    assert "**ValueError: boom**" in md
    assert json.loads((tmp_path / "results.json").read_text())[1]["status"] == "failed"


def test_notebook_selection(tmp_path):
    for name in ("00_introduction", "05_gan", "06_dcgan"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in course.notebooks(tmp_path, ["05"])] == ["05_gan"]
    assert [p.stem for p in course.notebooks(tmp_path, ["dcgan", "00"])] == ["00_introduction", "06_dcgan"]
    with pytest.raises(SystemExit, match="no notebook matches"):
        course.notebooks(tmp_path, ["99"])


def test_claims_summary_counts_failures():
    rows = [{"notebook": "00_a", "claims": {"x": {"pass": True}, "y": {"pass": False}}},
            {"notebook": "01_b", "claims": {"z": {"pass": None}}}]
    line, n_fail = course.claims_summary(rows)
    assert line == "claims: 1 of 2 hold; failing: y (00_a)" and n_fail == 1
    assert course.claims_summary([{"notebook": "00_a", "claims": {"z": {"pass": None}}}])[1] == 0


def test_notebook_selection_ignores_unnumbered_files(tmp_path):
    for name in ("00_introduction", "05_gan", "scratch", "5_gan"):
        (tmp_path / f"{name}.ipynb").write_text("{}")
    assert [p.stem for p in course.notebooks(tmp_path)] == ["00_introduction", "05_gan"]


def test_claims_summary_without_claims():
    assert course.claims_summary([{"notebook": "00_a", "claims": {}}]) == ("claims: none stated in these notebooks", 0)
    line, n = course.claims_summary([{"notebook": "00_a", "claims": {"z": {"pass": None}}}])
    assert line.startswith("claims: 1 stated, none judged") and n == 0


def test_course_runner_executes_a_notebook(tmp_path, monkeypatch):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {"name": "python3", "language": "python",
                                                                           "display_name": "Python 3"}},
          "cells": [{"cell_type": "markdown", "id": "md-title", "metadata": {}, "source": "# 98 · Test"},
                    {"cell_type": "code", "id": "code-1", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": "from course_lib import env, results\nimport os\n"
                               "results.record('budget is smoke', float(env.budget() == 'smoke'))\n"
                               "print(os.environ['COURSE_HEADLESS'])"}]}
    folder = tmp_path / "nbs"
    folder.mkdir()
    (folder / "98_test.ipynb").write_text(json.dumps(nb))
    (folder / "99_fail.ipynb").write_text(json.dumps({**nb, "cells": [
        {"cell_type": "code", "id": "code-1", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "1 / 0"}]}))
    monkeypatch.setenv("COURSE_BUDGET", "smoke")
    rows = course.run(out=tmp_path / "build", folder=folder, timeout=120)
    assert [r["status"] for r in rows] == ["ok", "failed"]
    import os

    assert "COURSE_NOTEBOOK" not in os.environ  # the kernel got it; the caller's environment is restored
    assert rows[0]["metrics"]["budget is smoke"]["value"] == 1.0
    assert "ZeroDivisionError" in rows[1]["error"]
    build = tmp_path / "build"
    assert (build / "executed" / "98_test.ipynb").exists() and (build / "html" / "98_test.html").exists()
    executed = json.loads((build / "executed" / "98_test.ipynb").read_text())
    assert "1" in "".join(executed["cells"][1]["outputs"][-1].get("text", ""))
    assert "| 98_test | smoke | ok |" in (build / "results.md").read_text()


# --------------------------------------------------------------------------------------
# Student copies
# --------------------------------------------------------------------------------------
SOLVED = """def square(x):
    \"\"\"x squared: x^2.\"\"\"
    ### BEGIN SOLUTION: return x squared
    y = x * x
    return y
    ### END SOLUTION

print(square(3))"""


def test_strip_solutions_keeps_indentation_and_runs():
    src, n = course.strip_solutions(SOLVED)
    assert n == 1 and "x * x" not in src
    assert "    # YOUR CODE HERE: return x squared\n    raise NotImplementedError()\n" in src
    assert src.startswith('def square(x):\n    """x squared: x^2."""\n')   # signature and docstring stay
    ns: dict = {}
    exec(src.replace("print(square(3))", ""), ns)  # the stub is valid Python
    with pytest.raises(NotImplementedError):
        ns["square"](3)


@pytest.mark.parametrize("bad, msg", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without a"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "nested"),
])
def test_unbalanced_markers(bad, msg):
    with pytest.raises(ValueError, match=msg):
        course.strip_solutions(bad, "nb cell 3")


@pytest.mark.parametrize("old, fix", [
    ("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "'### BEGIN SOLUTION'"),
    ("    ## BEGIN SOLUTION: note\n    x = 1\n    ### END SOLUTION", "'### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\nx = 1\n# END SOLUTION", "'### END SOLUTION'"),
    ("x = 1  # BEGIN SOLUTION\n### END SOLUTION", "'### BEGIN SOLUTION' alone on its line"),
])
def test_old_style_markers_are_refused_naming_the_fix(old, fix):
    with pytest.raises(ValueError, match=r"nb cell 3 line \d: old-style marker .*write " + fix):
        course.strip_solutions(old, "nb cell 3")


def test_student_copies_clear_outputs(tmp_path, capsys):
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Title"},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": SOLVED.splitlines(True),
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "9"}]},
    ]}
    src = tmp_path / "nbs"
    src.mkdir()
    (src / "01_x.ipynb").write_text(json.dumps(nb))
    assert course.main(["student", "--src", str(src), "--out", str(tmp_path / "student")]) == 0
    out = json.loads((tmp_path / "student" / "01_x.ipynb").read_text())
    code = out["cells"][1]
    assert code["outputs"] == [] and code["execution_count"] is None
    assert "NotImplementedError" in code["source"] and "x * x" not in code["source"]
    printed = capsys.readouterr().out
    assert "01_x.ipynb: 1 exercise(s) stubbed" in printed and f"wrote 1 student notebook(s) to {tmp_path / 'student'}/" in printed
    with pytest.raises(FileNotFoundError, match="no notebook folder"):
        course.write_student_copies(tmp_path / "missing", tmp_path / "s")


def test_student_notebook_rejects_markers_in_markdown():
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# BEGIN SOLUTION"}]}
    with pytest.raises(ValueError, match="02_x.ipynb cell 0: solution markers belong in code cells"):
        course.student_notebook(nb, "02_x.ipynb")
