"""nbgrader assignments from the course notebooks: the metadata rules, the course folder, autograding, counts.

The notebooks in ``notebooks/`` are the instructor's versions. Each exercise is two cells with nbgrader
metadata (``cell["metadata"]["nbgrader"]``):

* the **solution cell** ``{"solution": true, "grade": false, "locked": false, "grade_id": "NN_<name>"}``: the
  signature and the docstring with the equation, then the body between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` (nbgrader's markers; ``make student`` reads the same ones). A **build** exercise (a
  network, a loss that drives a training run, a training step, an experiment) also carries
  ``cell["metadata"]["course"] = {"build": true}``.
* the **check cell** ``{"grade": true, "solution": false, "locked": true, "points": p, "grade_id":
  "NN_<name>_check"}``: the ``exercises.check_*`` call(s), the autograded test.

:func:`problems` lists what breaks these rules; :func:`build_assignments` (``make assignments``) writes an
nbgrader course folder with one assignment per notebook (``source/NN_topic/NN_topic.ipynb``) and runs
``nbgrader generate_assignment`` into ``release/``. Read-only cells: the check cells (locked in the
notebooks) and, added in ``source/`` only, the setup cell (the first code cell, with ``env.setup``), so the
autograder restores the course's imports and sizes whatever a student changed; every other cell stays
editable. :func:`submit`, :func:`autograde` and :func:`feedback` run nbgrader on submissions (the CI round
trip, in ``tests/test_grading.py``); :func:`exercise_counts` and :func:`counts_table` are
``python -m course_lib.course exercises``. nbgrader itself (the ``grading`` extra) is only needed to run it.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import course

COURSE_ID = "deep-generative-models"
SCHEMA_VERSION = 3
MIN_EXERCISES = 3        # solution cells per notebook (issue 17)
MIN_BUILD = 1            # of which build exercises
SETUP_ID = "setup"       # grade_id suffix of the read-only setup cell in source/
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
_CHECK_CALL = re.compile(r"\bexercises\.(check_\w+)\s*\(")
_GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")     # what nbgrader accepts

NBGRADER_CONFIG = '''\
"""nbgrader configuration of the course's assignments (written by `make assignments`, course_lib.grading)."""
import os

c = get_config()  # noqa: F821 - nbgrader's config loader provides it
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "{course_id}"
# One marker syntax for nbgrader and `make student`: the body between these lines becomes the stub.
c.ClearSolutions.begin_solution_delimeter = "{begin}"
c.ClearSolutions.end_solution_delimeter = "{end}"
c.ClearSolutions.code_stub = {{"python": "{stub}"}}
# autograde executes whole notebooks, training cells included: run it at COURSE_BUDGET=smoke to grade fast.
c.Execute.timeout = 3600
'''


# --------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------
def _source(cell: Mapping[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def nbgrader_meta(cell: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's nbgrader metadata (``{}`` when it has none)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return dict(meta) if isinstance(meta, Mapping) else {}


def is_solution(cell: Mapping[str, Any]) -> bool:
    """A solution cell: nbgrader metadata with ``"solution": true``."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_graded(cell: Mapping[str, Any]) -> bool:
    """A check cell: nbgrader metadata with ``"grade": true``."""
    return bool(nbgrader_meta(cell).get("grade"))


def is_build(cell: Mapping[str, Any]) -> bool:
    """A build exercise: ``cell["metadata"]["course"] == {"build": true}`` on its solution cell."""
    meta = cell.get("metadata", {}).get("course", {})
    return isinstance(meta, Mapping) and meta.get("build") is True


def has_markers(cell: Mapping[str, Any]) -> bool:
    """The cell has a ``### BEGIN SOLUTION`` line."""
    return any(course._BEGIN_RE.match(line) for line in _source(cell).splitlines())


def check_calls(cell: Mapping[str, Any]) -> list[str]:
    """The ``exercises.check_*`` names the cell calls, in order."""
    return _CHECK_CALL.findall(_source(cell))


def _number(name: str) -> str:
    m = re.match(r"^(\d\d)_", Path(name).name)
    if not m:
        raise ValueError(f"notebook names start with their two-digit number (NN_topic), got {name!r}")
    return m.group(1)


def _cells(nb: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    if not isinstance(nb, Mapping) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{name}: expected a notebook (a dict with a 'cells' list), got {type(nb).__name__}")
    return nb["cells"]


# --------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------
def problems(nb: Mapping[str, Any], name: str, require_counts: bool = True) -> list[str]:
    """What keeps a notebook from being a course assignment; ``[]`` when it is one.

    Rules: every cell with ``### BEGIN SOLUTION`` is a code cell with nbgrader solution metadata and balanced
    markers (no retired ``# BEGIN SOLUTION``); every solution cell has the markers (else nbgrader replaces the
    whole cell, signature and docstring included) and is not locked; every check cell (``"grade": true``)
    calls ``exercises.check_*``, has ``points`` > 0, is locked and is not a solution cell; grade_ids are
    unique, start with the notebook's number (``NN_``) and use nbgrader's characters; each solution
    ``NN_x`` has its check cell ``NN_x_check``; ``schema_version`` is 3; ``course.build`` sits on solution
    cells only. With ``require_counts``: at least ``MIN_EXERCISES`` solution cells, ``MIN_BUILD`` of them
    build exercises.

    Args:
        nb: the notebook as JSON (``json.load``).
        name: the file name (``"05_gan.ipynb"``), for its number and the messages.
        require_counts: also ask for the issue-17 minimum of exercises and build exercises.
    """
    cells = _cells(nb, name)
    nn = _number(name)
    out: list[str] = []
    ids: Counter[str] = Counter()
    solutions: list[str] = []
    checks: set[str] = set()
    n_build = 0
    for i, cell in enumerate(cells):
        where = f"{name} cell {i}"
        src, meta = _source(cell), nbgrader_meta(cell)
        mentions = "BEGIN SOLUTION" in src or "END SOLUTION" in src
        if cell.get("cell_type") != "code":
            if mentions:
                out.append(f"{where}: a {cell.get('cell_type')} cell names BEGIN/END SOLUTION; markers belong in "
                           "code cells (nbgrader matches the words anywhere)")
            if meta:
                out.append(f"{where}: nbgrader metadata on a {cell.get('cell_type')} cell; exercises are code cells")
            continue
        n_blocks = 0
        try:
            _, n_blocks = course.strip_solutions(src, where)
        except ValueError as err:
            out.append(str(err))
        if (n_blocks or mentions) and not meta.get("solution"):
            out.append(f"{where}: has solution markers but no nbgrader solution metadata (metadata.nbgrader = "
                       f'{{"grade": false, "grade_id": "{nn}_<name>", "locked": false, "schema_version": 3, '
                       '"solution": true, "task": false})')
        if is_build(cell) and not meta.get("solution"):
            out.append(f"{where}: metadata course.build belongs on the exercise's solution cell")
        if not meta:
            continue
        gid = meta.get("grade_id")
        if not isinstance(gid, str) or not _GRADE_ID.match(gid):
            out.append(f"{where}: grade_id should be letters, digits, '_' or '-', got {gid!r}")
            gid = None
        elif not gid.startswith(f"{nn}_"):
            out.append(f"{where}: grade_id {gid!r} should start with the notebook number '{nn}_'")
        if gid:
            ids[gid] += 1
        if meta.get("schema_version") != SCHEMA_VERSION:
            out.append(f"{where}: nbgrader schema_version should be {SCHEMA_VERSION}, got {meta.get('schema_version')!r}")
        if meta.get("solution"):
            solutions.append(gid or f"cell {i}")
            n_build += is_build(cell)
            if not n_blocks:
                out.append(f"{where}: solution cell without '### BEGIN SOLUTION': nbgrader would replace the whole "
                           "cell, signature and docstring included; mark the body only")
            if meta.get("locked"):
                out.append(f"{where}: a solution cell must not be locked (the student writes in it)")
            if meta.get("grade"):
                out.append(f"{where}: a solution cell is not graded itself; its check cell '{gid}_check' is")
        if meta.get("grade"):
            if gid:
                checks.add(gid)
            if not check_calls(cell):
                out.append(f"{where}: check cell {gid!r} should call exercises.check_*(...)")
            pts = meta.get("points")
            if isinstance(pts, bool) or not isinstance(pts, (int, float)) or not pts > 0:
                out.append(f"{where}: check cell {gid!r} needs points > 0, got {pts!r}")
            if not meta.get("locked"):
                out.append(f"{where}: check cell {gid!r} should be locked (\"locked\": true)")
    out += [f"{name}: grade_id {g!r} is used by {k} cells; grade_ids must be unique" for g, k in ids.items() if k > 1]
    out += [f"{name}: solution {s!r} has no check cell {s + '_check'!r} (nbgrader grade metadata with points)"
            for s in solutions if not s.startswith("cell ") and f"{s}_check" not in checks]
    if require_counts:
        if len(solutions) < MIN_EXERCISES:
            out.append(f"{name}: {len(solutions)} exercise(s) (solution cells); the course asks for at least "
                       f"{MIN_EXERCISES}")
        if n_build < MIN_BUILD:
            out.append(f"{name}: no build exercise; mark one solution cell with metadata "
                       '"course": {"build": true}')
    return out


def validate(path: str | Path, require_counts: bool = True) -> None:
    """Raise a ValueError listing every :func:`problems` of the notebook at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {path}")
    found = problems(json.loads(path.read_text()), path.name, require_counts)
    if found:
        raise ValueError(f"{path.name} is not a valid assignment:\n  " + "\n  ".join(found))


# --------------------------------------------------------------------------------------
# The nbgrader course folder
# --------------------------------------------------------------------------------------
def source_notebook(nb: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The notebook as nbgrader's source: a kernelspec, and the setup cell read-only (``NN_setup``, locked).

    The setup cell is the first code cell calling ``env.setup``; it gets locked nbgrader metadata unless it
    has nbgrader metadata already. Nothing else changes.
    """
    nb = json.loads(json.dumps(nb))
    cells = _cells(nb, name)
    nb.setdefault("metadata", {})
    if not nb["metadata"].get("kernelspec"):
        nb["metadata"]["kernelspec"] = dict(KERNELSPEC)
    for cell in cells:
        if cell.get("cell_type") == "code" and "env.setup(" in _source(cell):
            if not nbgrader_meta(cell):
                cell.setdefault("metadata", {})["nbgrader"] = {
                    "grade": False, "grade_id": f"{_number(name)}_{SETUP_ID}", "locked": True,
                    "schema_version": SCHEMA_VERSION, "solution": False, "task": False}
            break
    return nb


def write_course(out: str | Path, only: Sequence[str] = (), src: str | Path | None = None,
                 require_counts: bool = False) -> list[str]:
    """Write ``out/nbgrader_config.py`` and ``out/source/NN_topic/NN_topic.ipynb`` for each notebook.

    Each notebook is validated first (:func:`validate`; the metadata rules, and with ``require_counts`` the
    course's minimum of exercises, which tests/test_grading.py enforces); one assignment per notebook, named
    like it.

    Returns:
        The assignment names.
    """
    out = Path(out)
    folder = Path(src) if src else course.ROOT / "notebooks"
    if not folder.is_dir():
        raise FileNotFoundError(f"no notebook folder {folder}")
    paths = course.notebooks(folder, only)
    if not paths:
        raise ValueError(f"no NN_topic.ipynb notebooks in {folder}")
    for p in paths:
        validate(p, require_counts)
    out.mkdir(parents=True, exist_ok=True)
    stub = course.STUB[0] + "\\n" + course.STUB[1]
    (out / "nbgrader_config.py").write_text(NBGRADER_CONFIG.format(course_id=COURSE_ID, begin=course.BEGIN,
                                                                   end=course.END, stub=stub))
    names = []
    for p in paths:
        nb = source_notebook(json.loads(p.read_text()), p.name)
        (out / "source" / p.stem).mkdir(parents=True, exist_ok=True)
        (out / "source" / p.stem / p.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        names.append(p.stem)
    return names


def nbgrader(course_dir: str | Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    """Run ``nbgrader <args>`` in the course folder (its config and database); returns its output.

    Raises:
        RuntimeError: nbgrader failed; the message ends with its output.
    """
    course_dir = Path(course_dir)
    if not (course_dir / "nbgrader_config.py").is_file():
        raise FileNotFoundError(f"{course_dir} is not a course folder (no nbgrader_config.py; see write_course)")
    run_env = {**os.environ, **(env or {})}
    # nbgrader calls the `alembic` script and starts kernels: this interpreter's bin/ (the venv) comes first
    run_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), run_env.get("PATH", "")])
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course_dir, env=run_env,
                          capture_output=True, text=True, check=False)
    text = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed (exit {proc.returncode}):\n{text[-4000:]}")
    return text


def build_assignments(out: str | Path = "build/assignments", only: Sequence[str] = (),
                      src: str | Path | None = None, require_counts: bool = False) -> list[Path]:
    """``make assignments``: the course folder (:func:`write_course`) and ``nbgrader generate_assignment``.

    Returns:
        The released student notebooks, ``out/release/NN_topic/NN_topic.ipynb``.
    """
    names = write_course(out, only, src, require_counts)
    released = []
    for name in names:
        nbgrader(out, "generate_assignment", name, "--force")
        path = Path(out) / "release" / name / f"{name}.ipynb"
        if not path.is_file():
            raise RuntimeError(f"nbgrader generate_assignment {name} wrote no {path}")
        released.append(path)
    return released


def submit(course_dir: str | Path, assignment: str, student: str, notebook: str | Path) -> Path:
    """Copy ``notebook`` in as ``student``'s submission of ``assignment`` (``submitted/<student>/<assignment>/``)."""
    course_dir, notebook = Path(course_dir), Path(notebook)
    if not re.match(r"^[A-Za-z0-9_-]+$", student):
        raise ValueError(f"student ids are letters, digits, '_' or '-', got {student!r}")
    if not (course_dir / "source" / assignment).is_dir():
        raise ValueError(f"no assignment {assignment!r} in {course_dir / 'source'} (see write_course)")
    if not notebook.is_file():
        raise FileNotFoundError(f"no notebook {notebook}")
    dest = course_dir / "submitted" / student / assignment / f"{assignment}.ipynb"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(notebook, dest)
    return dest


def scores(course_dir: str | Path, assignment: str, student: str) -> dict[str, Any]:
    """A graded submission from the gradebook: ``{"score", "max_score", "cells": {grade_id: score}}``."""
    from nbgrader.api import Gradebook

    db = Path(course_dir).resolve() / "gradebook.db"
    if not db.is_file():
        raise FileNotFoundError(f"no gradebook {db}; run generate_assignment and autograde first")
    with Gradebook(f"sqlite:///{db}", COURSE_ID) as gb:
        sub = gb.find_submission_notebook(assignment, assignment, student)
        return {"score": sub.score, "max_score": sub.max_score, "cells": {g.name: g.score for g in sub.grades}}


def autograde(course_dir: str | Path, assignment: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``nbgrader autograde`` every submission of ``assignment`` (one run); the kernels get ``env``.

    Returns:
        ``{student: scores(...) plus "autograded": the executed, graded notebook}``.
    """
    course_dir = Path(course_dir)
    students = sorted(p.parent.name for p in (course_dir / "submitted").glob(f"*/{assignment}"))
    if not students:
        raise ValueError(f"no submission of {assignment!r} under {course_dir / 'submitted'} (see submit)")
    nbgrader(course_dir, "autograde", assignment, "--force", env=env)
    out = {}
    for student in students:
        out[student] = scores(course_dir, assignment, student)
        out[student]["autograded"] = course_dir / "autograded" / student / assignment / f"{assignment}.ipynb"
    return out


def feedback(course_dir: str | Path, assignment: str) -> dict[str, Path]:
    """``nbgrader generate_feedback`` for every graded submission: ``{student: feedback HTML}``."""
    course_dir = Path(course_dir)
    nbgrader(course_dir, "generate_feedback", assignment, "--force")
    pages = {p.parent.parent.name: p for p in sorted((course_dir / "feedback").glob(f"*/{assignment}/{assignment}.html"))}
    if not pages:
        raise RuntimeError(f"nbgrader generate_feedback wrote no HTML under {course_dir / 'feedback'}")
    return pages


def errors_outside_exercises(nb: Mapping[str, Any]) -> list[int]:
    """Indices of executed code cells with an error output that are neither solution nor check cells."""
    return [i for i, c in enumerate(_cells(nb, "notebook"))
            if c.get("cell_type") == "code" and not (is_solution(c) or is_graded(c))
            and any(o.get("output_type") == "error" for o in c.get("outputs", []))]


# --------------------------------------------------------------------------------------
# Counts: exercises, build exercises, checks that a test feeds a wrong answer
# --------------------------------------------------------------------------------------
def _is_exercise_error_raises(item: ast.withitem) -> tuple[bool, ast.expr | None]:
    """(``pytest.raises(...ExerciseError...)``?, its ``match=`` expression)."""
    call = item.context_expr
    if not (isinstance(call, ast.Call) and call.args and getattr(call.func, "attr", getattr(call.func, "id", ""))
            == "raises"):
        return False, None
    names = {getattr(n, "attr", getattr(n, "id", None)) for n in ast.walk(call.args[0])}
    match = next((k.value for k in call.keywords if k.arg == "match"), None)
    return "ExerciseError" in names, match


def _check_name(node: ast.AST | None) -> str | None:
    name = getattr(node, "attr", getattr(node, "id", None))
    return name if isinstance(name, str) and name.startswith("check_") else None


def _is_stub(match: ast.AST | None) -> bool:
    return isinstance(match, ast.Constant) and "not implemented" in str(match.value).lower()


def mistake_tests(tests: str | Path | None = None) -> Counter[str]:
    """How many tests feed each ``check_*`` a wrong answer that is not the stub, read from the test files.

    Counted: a ``with pytest.raises(exercises.ExerciseError, match=...)`` block calling
    ``exercises.check_x(...)``, and a call of a helper such as ``fails(exercises.check_x, wrong, "factor 2")``
    whose body is that block around a call of its parameter. A ``match`` saying "not implemented" (the stub)
    is not a mistake. Files: ``test_exercises*.py`` in ``tests`` (default: the course's tests/).
    """
    folder = Path(tests) if tests else course.ROOT / "tests"
    if not folder.is_dir():
        raise FileNotFoundError(f"no test folder {folder}")
    found: Counter[str] = Counter()
    for path in sorted(folder.glob("test_exercises*.py")):
        tree = ast.parse(path.read_text(), str(path))
        helpers: dict[str, tuple[int, int | None]] = {}      # name -> (index of the check, index of match)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = [a.arg for a in fn.args.args]
            for node in ast.walk(fn):
                if not isinstance(node, ast.With):
                    continue
                for item in node.items:
                    ok, match = _is_exercise_error_raises(item)
                    called = [c.func.id for b in node.body for c in ast.walk(b)
                              if isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id in params]
                    if ok and called:
                        m = params.index(match.id) if isinstance(match, ast.Name) and match.id in params else None
                        helpers[fn.name] = (params.index(called[0]), m)
        for node in ast.walk(tree):
            if isinstance(node, ast.With):
                for item in node.items:
                    ok, match = _is_exercise_error_raises(item)
                    if ok and match is not None and not _is_stub(match):
                        names = {_check_name(c.func) for b in node.body for c in ast.walk(b) if isinstance(c, ast.Call)}
                        found.update(n for n in names if n)
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
                i_check, i_match = helpers[node.func.id]
                args = node.args
                name = _check_name(args[i_check]) if len(args) > i_check else None
                match = args[i_match] if i_match is not None and len(args) > i_match else None
                if i_match is not None and match is None:
                    match = next((k.value for k in node.keywords if k.arg == "match"), None)
                if name and not _is_stub(match):
                    found[name] += 1
    return found


def exercise_counts(folder: str | Path | None = None, tests: str | Path | None = None) -> list[dict[str, Any]]:
    """Per notebook: exercises (solution cells), build exercises, checks (``exercises.check_*`` in check cells),
    checks that a test feeds a wrong answer (:func:`mistake_tests`), and points."""
    folder = Path(folder) if folder else course.ROOT / "notebooks"
    mistakes = mistake_tests(tests)
    rows = []
    for path in course.notebooks(folder):
        cells = json.loads(path.read_text())["cells"]
        sol = [c for c in cells if c.get("cell_type") == "code" and has_markers(c)]
        graded = [c for c in cells if is_graded(c)]
        checks = sorted({n for c in graded for n in check_calls(c)})
        rows.append({"notebook": path.stem, "exercises": len(sol), "build": sum(map(is_build, sol)),
                     "checks": len(checks), "checks_failing_on_a_mistake": sum(mistakes[n] > 0 for n in checks),
                     "mistake_tests": sum(mistakes[n] for n in checks),
                     "points": sum(nbgrader_meta(c).get("points", 0) for c in graded)})
    return rows


def counts_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The counts as a Markdown table with a total row."""
    cols = ["exercises", "build", "checks", "checks_failing_on_a_mistake", "mistake_tests", "points"]
    heads = ["exercises", "build exercises", "checks", "checks failing on a mistake", "mistake tests", "points"]
    lines = ["| notebook | " + " | ".join(heads) + " |", "|---|" + "---:|" * len(cols)]
    lines += [f"| {r['notebook']} | " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    lines.append("| **total** | " + " | ".join(str(sum(r[c] for r in rows)) for c in cols) + " |")
    return "\n".join(lines)
