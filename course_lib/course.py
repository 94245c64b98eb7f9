"""Run the course: execute notebooks headless, write executed copies, HTML and a results table; student copies.

    python -m course_lib.course run                       # every notebook, default budget
    python -m course_lib.course run --budget smoke --only 00 05
    python -m course_lib.course run --inplace             # also refresh outputs in notebooks/
    python -m course_lib.course devcheck                  # GPU check: full sizes, 3 steps per training loop
    python -m course_lib.course list
    python -m course_lib.course student --out student     # copies with the solutions stubbed (no nbgrader)
    python -m course_lib.course assignments               # nbgrader course folder build/assignments/
    python -m course_lib.course exercises                 # per notebook: exercises, build exercises, checks
    python -m course_lib.course site                      # the course website -> build/site/ (course_lib.publish)
    python -m course_lib.course slides [--tag]            # reveal.js decks -> build/slides/; --tag: into notebooks/

Outputs of ``run`` under ``--out`` (default ``build/``): ``executed/NN_topic.ipynb``,
``html/NN_topic.html``, ``results/NN_topic.json`` (numbers recorded with
:func:`course_lib.results.record`), ``results.md`` and ``results.json``.

``student`` writes a copy of every notebook in which each block between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` (nbgrader's markers) is replaced by ``# YOUR CODE HERE`` and
``raise NotImplementedError()`` (indented like the solution; the stub nbgrader writes), with outputs cleared
(:func:`write_student_copies`). The signature and docstring sit outside the markers and stay.
``assignments`` and ``exercises`` are :mod:`course_lib.grading` (nbgrader assignments from the same markers).

``devcheck`` (:func:`devcheck`) is the check for a machine with a GPU, which CI lacks: every notebook at the
``full`` budget's sizes with every training loop capped at ``--steps`` steps (``COURSE_MAX_STEPS``), each from an
empty checkpoint folder, so device placement, autocast and the full sizes are exercised in minutes. It writes
``devcheck.md`` / ``devcheck.json`` (per notebook: status, wall time, the failing cell and its error) under
``--out`` (default ``build/devcheck/``) and exits with 1 when a notebook failed. Claims fail at a few steps; only
errors count. ``--plain`` runs the code cells in a plain Python process instead of a Jupyter kernel (the default
where nbclient or ipykernel is missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def notebooks(folder: Path, only: Sequence[str] = ()) -> list[Path]:
    """Notebooks in ``folder`` sorted by number; ``only`` filters by prefix or substring."""
    paths = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if only:
        picked = [p for p in paths if any(p.stem.startswith(o) or o in p.stem for o in only)]
        if not picked:
            names = ", ".join(p.stem for p in paths)
            raise SystemExit(f"no notebook matches {list(only)}; available: {names}")
        paths = picked
    return paths


def _notebook_env(path: Path, out: Path, budget: str) -> dict[str, str]:
    """The variables a notebook runs with (budget, headless, where its results go); clears its stale results."""
    for suffix in (".json", ".claims.json"):
        (out / "results" / f"{path.stem}{suffix}").unlink(missing_ok=True)
    return {"COURSE_BUDGET": budget, "COURSE_HEADLESS": "1", "COURSE_NOTEBOOK": path.stem,
            "COURSE_RESULTS_DIR": str(out / "results"), "COURSE_PROGRESS": "0"}


def _error_line(err: BaseException) -> str:
    """``Type: first line of the message`` (a timeout's message goes on with the cell's code)."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}"[:300]


def _execute(path: Path, out: Path, budget: str, timeout: int, inplace: bool) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from tqdm.auto import tqdm

    nb = nbformat.read(path, as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    saved_env = dict(os.environ)  # the kernel inherits these; the caller's session gets its own back
    os.environ.update(_notebook_env(path, out, budget))
    bar = tqdm(total=n_code, desc=f"{path.stem} [{budget}]", unit="cell", leave=True)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=lambda **kw: bar.update(1) if kw["cell"].cell_type == "code" else None)
    t0 = time.perf_counter()
    status, error = "ok", ""
    try:
        client.execute()
    except CellExecutionError as err:                 # the exception's line, without the terminal's colour codes
        status, error = "failed", re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip().splitlines()[-1][:300]
    except Exception as err:  # kernel died, timeout
        status, error = "failed", _error_line(err)
    finally:
        bar.close()
        os.environ.clear()
        os.environ.update(saved_env)
    if getattr(client, "_async_cleanup_kernel_future", None) is not None:
        # nbclient's own SIGINT / SIGTERM handler shut the kernel down (Ctrl-C or kill): stop the whole run
        # instead of reporting this notebook as failed and going on with the next one
        raise KeyboardInterrupt(f"interrupted (Ctrl-C or SIGTERM) while running {path.stem}")
    wall = time.perf_counter() - t0
    cell = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"
                 and any(o.get("output_type") == "error" for o in c.get("outputs", []))), None)
    (out / "executed").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out / "executed" / path.name)
    if inplace and status == "ok":
        nbformat.write(nb, path)
    try:
        from nbconvert import HTMLExporter

        html, _ = HTMLExporter().from_notebook_node(nb)
        (out / "html").mkdir(parents=True, exist_ok=True)
        (out / "html" / f"{path.stem}.html").write_text(html)
    except Exception:  # pragma: no cover - HTML is a convenience
        traceback.print_exc()
    rfile = out / "results" / f"{path.stem}.json"
    metrics = json.loads(rfile.read_text()) if rfile.exists() else {}
    cfile = out / "results" / f"{path.stem}.claims.json"
    claims = json.loads(cfile.read_text()) if cfile.exists() else {}
    return {"notebook": path.stem, "budget": budget, "status": status, "wall_s": round(wall, 1),
            "metrics": metrics, "claims": claims, "error": error, "cell": cell}


LECTURE_TARGET_S = 300  # 5 minutes per notebook on an idle 2-core CPU


def claims_summary(rows: list[dict[str, Any]]) -> tuple[str, int]:
    """One line ``claims: H of N hold; failing: ...`` over the judged claims; returns (line, n_failing)."""
    judged = [(r["notebook"], k, c) for r in rows for k, c in r.get("claims", {}).items() if c.get("pass") is not None]
    failing = [f"{k} ({nb})" for nb, k, c in judged if not c["pass"]]
    n_all = sum(len(r.get("claims", {})) for r in rows)
    if not n_all:
        return "claims: none stated in these notebooks", 0
    if not judged:
        return f"claims: {n_all} stated, none judged (the smoke budget only checks that they run)", 0
    line = f"claims: {len(judged) - len(failing)} of {len(judged)} hold"
    return line + (f"; failing: {', '.join(failing)}" if failing else ""), len(failing)


def _fmt_metrics(metrics: dict[str, Any]) -> str:
    parts = []
    for k, m in metrics.items():
        v = m["value"]
        s = f"{v:.4g}" if isinstance(v, float) else str(v)
        parts.append(f"{k} = {s}{(' ' + m['unit']) if m.get('unit') else ''}")
    return "; ".join(parts)


def write_report(rows: list[dict[str, Any]], out: Path) -> Path:
    """``results.md`` (a Markdown table) and ``results.json`` from the run's rows."""
    lines = ["# Course run results", "",
             "Numbers are computed by the notebooks in this run (not typed in).", "",
             "| notebook | budget | status | wall time (s) | measured |", "|---|---|---|---:|---|"]
    for r in rows:
        measured = _fmt_metrics(r["metrics"]) or "-"
        if r["error"]:
            measured = f"**{r['error']}**"
        lines.append(f"| {r['notebook']} | {r['budget']} | {r['status']} | {r['wall_s']} | {measured} |")
    if any(r.get("claims") for r in rows):
        lines += ["", "## Claims", "", claims_summary(rows)[0], ""]
        for r in rows:
            if not r.get("claims"):
                continue
            lines += ["", f"### {r['notebook']}", "", "| claim | value | target | pass |", "|---|---:|---|---|"]
            for k, c in r["claims"].items():
                verdict = "not judged" if c["pass"] is None else ("yes" if c["pass"] else "**no**")
                lines.append(f"| {k} | {c['value']:.4g} | {c['target']} | {verdict} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return out / "results.md"


def run(budget: str | None = None, only: Sequence[str] = (), out: str | Path = "build",
        folder: str | Path | None = None, timeout: int = 3600, inplace: bool = False) -> list[dict[str, Any]]:
    """Execute the notebooks and write the build folder; returns one row per notebook."""
    from . import env

    budget = env.budget(budget)
    out = Path(out).resolve()
    folder = Path(folder) if folder else ROOT / "notebooks"
    paths = notebooks(folder, only)
    print(f"running {len(paths)} notebook(s) at budget '{budget}' on {env.device()} -> {out}/")
    rows = []
    for i, p in enumerate(paths, 1):
        try:
            row = _execute(p, out, budget, timeout, inplace)
        except KeyboardInterrupt:
            write_report(rows, out)
            print(f"\ninterrupted in {p.stem}: {len(rows)} notebook(s) finished before it; report in "
                  f"{out / 'results.md'}", flush=True)
            raise
        rows.append(row)
        mark = "ok" if row["status"] == "ok" else f"FAILED: {row['error']}"
        over = " OVER the lecture target" if budget == "lecture" and row["wall_s"] > LECTURE_TARGET_S else ""
        print(f"[{i}/{len(paths)}] {p.stem}: {mark} ({row['wall_s']} s; lecture target {LECTURE_TARGET_S} s{over})",
              flush=True)
        write_report(rows, out)
    report = write_report(rows, out)
    n_ok = sum(r["status"] == "ok" for r in rows)
    print(f"{n_ok}/{len(rows)} notebooks ran; results in {report}, HTML in {out / 'html'}/")
    print(claims_summary(rows)[0])
    return rows


def _run_cells(path: str, report: str) -> None:
    """Execute a notebook's code cells in order in this process (no Jupyter kernel), as a script would.

    Writes ``{"status", "cell", "error"}`` to ``report`` before each cell (so a timeout names the cell it
    stopped in) and at the end; the first exception stops the run. Figures are closed after each cell.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nb = json.loads(Path(path).read_text())
    ns: dict[str, Any] = {"__name__": "__main__"}

    def write(status: str, cell: int | None, error: str = "") -> None:
        Path(report).write_text(json.dumps({"status": status, "cell": cell, "error": error}))

    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        write("running", i)
        try:
            exec(compile("".join(src) if isinstance(src, list) else src, f"{Path(path).name} cell {i}", "exec"), ns)
        except BaseException as err:  # noqa: BLE001 - a notebook may raise anything; report it and stop
            write("failed", i, _error_line(err))
            traceback.print_exc()
            return
        finally:
            plt.close("all")
    write("ok", None)


def _execute_plain(path: Path, out: Path, budget: str, timeout: int) -> dict[str, Any]:
    """:func:`_run_cells` in a fresh Python process (cwd the notebook's folder); ``timeout`` per notebook."""
    import subprocess

    report = out / "plain" / f"{path.stem}.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.unlink(missing_ok=True)
    env = {**os.environ, **_notebook_env(path, out, budget), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    t0 = time.perf_counter()
    with open(out / "plain" / f"{path.stem}.log", "w") as log:
        try:
            subprocess.run([sys.executable, "-c", f"from course_lib.course import _run_cells; "
                            f"_run_cells({str(path)!r}, {str(report)!r})"], cwd=path.parent, env=env,
                           stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
    wall = time.perf_counter() - t0
    r = json.loads(report.read_text()) if report.exists() else {"status": "failed", "cell": None,
                                                                 "error": "the Python process died before cell 0"}
    if timed_out:
        r = {"status": "failed", "cell": r["cell"], "error": f"TimeoutExpired: the notebook ran over {timeout} s"}
    elif r["status"] == "running":       # the process died inside a cell (out of memory, a crash)
        r = {**r, "status": "failed", "error": "the Python process died in this cell (see the log)"}
    return {"notebook": path.stem, "status": r["status"], "wall_s": round(wall, 1), "cell": r["cell"],
            "error": r["error"]}


def devcheck(steps: int = 3, budget: str = "full", only: Sequence[str] = (), out: str | Path = "build/devcheck",
             folder: str | Path | None = None, timeout: int = 900, plain: bool | None = None) -> list[dict[str, Any]]:
    """Run every notebook at ``budget``'s sizes with each training loop capped at ``steps`` steps.

    For a machine with a GPU (CI has none): device placement, autocast and the full sizes are exercised in
    minutes (``COURSE_MAX_STEPS``, :func:`course_lib.env.capped`). Each notebook starts from an empty checkpoint
    folder ``<out>/checkpoints/<notebook>`` (capped checkpoints are named ``...-cap<steps>.pt`` anyway). Writes
    ``devcheck.md`` and ``devcheck.json`` under ``out`` after every notebook, so an interrupted check keeps
    what it found.

    Args:
        timeout: seconds per cell in a Jupyter kernel; per notebook with ``plain``.
        plain: run the code cells in a plain Python process (:func:`_run_cells`; no Jupyter needed, e.g. on
            a GPU machine whose Python has torch but not nbclient / ipykernel); default: plain only when
            nbclient or ipykernel is missing.

    Returns:
        One row per notebook: ``status``, ``wall_s``, ``cell`` (index of the failing cell or None), ``error``.
    """
    import importlib.util

    import torch

    from . import checks, env

    checks.positive_int(steps, "steps")
    if plain is None:
        plain = any(importlib.util.find_spec(m) is None for m in ("nbclient", "ipykernel"))
    budget = checks.one_of(budget, "budget", env.BUDGETS)
    out = Path(out).resolve()
    folder = Path(folder) if folder else ROOT / "notebooks"
    paths = notebooks(folder, only)
    dev = env.device()
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else str(dev)
    head = (f"device {dev} ({name}), torch {torch.__version__}, budget {budget}, every training loop capped at "
            f"{steps} steps (COURSE_MAX_STEPS), each notebook from an empty checkpoint folder, "
            + ("code cells in a plain Python process" if plain else "in a Jupyter kernel"))
    print(f"device check of {len(paths)} notebook(s): {head} -> {out}/")
    saved = {k: os.environ.get(k) for k in ("COURSE_MAX_STEPS", "COURSE_CHECKPOINT_DIR")}
    rows: list[dict[str, Any]] = []
    try:
        for i, p in enumerate(paths, 1):
            ckpt_dir = out / "checkpoints" / p.stem
            shutil.rmtree(ckpt_dir, ignore_errors=True)
            ckpt_dir.mkdir(parents=True)
            os.environ.update(COURSE_MAX_STEPS=str(steps), COURSE_CHECKPOINT_DIR=str(ckpt_dir))
            try:
                row = (_execute_plain(p, out, budget, timeout) if plain
                       else _execute(p, out, budget, timeout, inplace=False))
            except KeyboardInterrupt:
                print(f"\ninterrupted in {p.stem}; report of the {len(rows)} notebook(s) before it in "
                      f"{out / 'devcheck.md'}", flush=True)
                raise
            rows.append({k: row[k] for k in ("notebook", "status", "wall_s", "cell", "error")})
            mark = "ok" if row["status"] == "ok" else f"FAILED in cell {row['cell']}: {row['error']}"
            print(f"[{i}/{len(paths)}] {p.stem}: {mark} ({row['wall_s']} s)", flush=True)
            _write_devcheck(rows, out, head)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    n_ok = sum(r["status"] == "ok" for r in rows)
    print(f"{n_ok}/{len(rows)} notebooks ran; report in {out / 'devcheck.md'}")
    return rows


def _write_devcheck(rows: list[dict[str, Any]], out: Path, head: str) -> None:
    lines = ["# Device check", "", head + ".", "",
             "| notebook | status | wall time (s) | failing cell | error |", "|---|---|---:|---:|---|"]
    for r in rows:
        err = " ".join(r["error"].replace("|", "\\|").split()) if r["error"] else "-"
        lines.append(f"| {r['notebook']} | {r['status']} | {r['wall_s']} | "
                     f"{'-' if r['cell'] is None else r['cell']} | {err} |")
    out.mkdir(parents=True, exist_ok=True)
    (out / "devcheck.md").write_text("\n".join(lines) + "\n")
    (out / "devcheck.json").write_text(json.dumps({"setup": head, "notebooks": rows}, indent=1))


# --------------------------------------------------------------------------------------
# Student copies: every solution block between the markers replaced by a TODO stub
# --------------------------------------------------------------------------------------
BEGIN = "### BEGIN SOLUTION"   # nbgrader's markers: one syntax for make student and make assignments
END = "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")   # nbgrader's default code stub, line by line
_BEGIN_RE = re.compile(r"^(\s*)### BEGIN SOLUTION\b(.*)$")
_END_RE = re.compile(r"^\s*### END SOLUTION\b")
_ANY_MARKER_RE = re.compile(r"(BEGIN|END)\s+SOLUTION")   # nbgrader reads these words anywhere in a line


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace every block between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` by nbgrader's stub.

    The stub is ``# YOUR CODE HERE`` (plus any note written after ``### BEGIN SOLUTION``) and
    ``raise NotImplementedError()``, indented like the marker.

    Args:
        source: cell source code.
        where: used in error messages (``"03_x.ipynb cell 12"``).

    Returns:
        The new source and the number of blocks replaced.

    Raises:
        ValueError: on nested, unclosed or unopened markers, and on any other line naming BEGIN/END SOLUTION
            (the retired ``# BEGIN SOLUTION``, a marker after code), naming the fix.
    """
    out: list[str] = []
    inside = False
    count = 0
    for lineno, line in enumerate(source.splitlines(), 1):
        b, e = _BEGIN_RE.match(line), _END_RE.match(line)
        if not (b or e) and (old := _ANY_MARKER_RE.search(line)):
            raise ValueError(f"{where} line {lineno}: old-style marker {line.strip()!r}; write "
                             f"'### {old.group(1)} SOLUTION' alone on its line (three #, nbgrader's marker)")
        if b:
            if inside:
                raise ValueError(f"{where} line {lineno}: nested '{BEGIN}' (close the previous block first)")
            inside = True
            count += 1
            indent, note = b.group(1), b.group(2).strip(" :-")
            out.append(f"{indent}{STUB[0]}{': ' + note if note else ''}")
            out.append(f"{indent}{STUB[1]}")
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
        elif "BEGIN SOLUTION" in src or "END SOLUTION" in src:
            raise ValueError(f"{where} cell {i}: solution markers belong in code cells (nbgrader reads "
                             "'BEGIN SOLUTION' anywhere in a cell)")
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
    try:
        return _main(argv)
    except KeyboardInterrupt:            # Ctrl-C or SIGTERM: stopped, as the shell's convention says
        return 130


def _main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m course_lib.course", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute notebooks headless")
    r.add_argument("--budget", choices=("smoke", "lecture", "full"), default=None,
                   help="default: COURSE_BUDGET, else full on a GPU and lecture on a CPU")
    r.add_argument("--only", nargs="*", default=(), help="notebook numbers or names, e.g. 00 05_gan")
    r.add_argument("--out", default="build", help="output folder (default build/)")
    r.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    r.add_argument("--inplace", action="store_true", help="also write outputs back into notebooks/")
    c = sub.add_parser("devcheck", help="GPU check: each notebook at the full sizes, training loops capped at "
                                        "--steps steps; report -> build/devcheck/devcheck.md")
    c.add_argument("--steps", type=int, default=3, help="steps per training loop (default 3)")
    c.add_argument("--budget", choices=("smoke", "lecture", "full"), default="full", help="sizes (default full)")
    c.add_argument("--only", nargs="*", default=(), help="notebook numbers or names, e.g. 00 05_gan")
    c.add_argument("--out", default="build/devcheck", help="output folder (default build/devcheck/)")
    c.add_argument("--timeout", type=int, default=900, help="seconds per cell (per notebook with --plain)")
    c.add_argument("--plain", action="store_true", default=None,
                   help="code cells in a plain Python process, no Jupyter (default: only when nbclient or "
                        "ipykernel is missing)")
    sub.add_parser("list", help="list the notebooks")
    s = sub.add_parser("student", help="write student copies (solutions replaced by TODOs, outputs cleared)")
    s.add_argument("--src", default=str(ROOT / "notebooks"), help="folder of notebooks (default: the course's)")
    s.add_argument("--out", default="student", help="output folder (default student/)")
    g = sub.add_parser("assignments", help="nbgrader course folder: source/ from the notebooks, release/ by "
                                           "nbgrader generate_assignment (needs the grading extra)")
    g.add_argument("--only", nargs="*", default=(), help="notebook numbers or names, e.g. 05 06")
    g.add_argument("--out", default="build/assignments", help="course folder (default build/assignments/)")
    g.add_argument("--src", default=str(ROOT / "notebooks"), help="folder of notebooks (default: the course's)")
    e = sub.add_parser("exercises", help="per notebook: exercises, build exercises, checks that fail on a mistake")
    e.add_argument("--src", default=str(ROOT / "notebooks"), help="folder of notebooks (default: the course's)")
    w = sub.add_parser("site", help="the course website from the committed notebooks -> build/site/ (site extra)")
    w.add_argument("--only", nargs="*", default=(), help="notebook numbers or names, e.g. 00 05 (default: all)")
    w.add_argument("--out", default="build/site", help="HTML folder (default build/site/)")
    d = sub.add_parser("slides", help="reveal.js slides of the notebooks -> build/slides/ (site extra); "
                                      "--tag writes the slide metadata into notebooks/ instead (for RISE)")
    d.add_argument("--only", nargs="*", default=(), help="notebook numbers or names, e.g. 00 05 (default: all)")
    d.add_argument("--out", default="build/slides", help="output folder (default build/slides/)")
    d.add_argument("--tag", action="store_true", help="write metadata.slideshow into notebooks/ (no HTML)")
    a = p.parse_args(argv)
    if a.cmd in ("site", "slides"):
        from . import publish

        return publish.command(a.cmd, a.only, a.out, tag=getattr(a, "tag", False))
    if a.cmd == "list":
        for path in notebooks(ROOT / "notebooks"):
            print(path.stem)
        return 0
    if a.cmd == "student":
        counts = write_student_copies(a.src, a.out)
        for name, n in counts.items():
            print(f"{name}: {n} exercise(s) stubbed")
        print(f"wrote {len(counts)} student notebook(s) to {a.out}/")
        return 0
    if a.cmd in ("assignments", "exercises"):
        from . import grading

        if a.cmd == "exercises":
            print(grading.counts_table(grading.exercise_counts(a.src)))
            return 0
        released = grading.build_assignments(a.out, a.only, a.src)
        for path in released:
            print(f"released {path}")
        print(f"wrote {len(released)} assignment(s) to {a.out}/ (nbgrader course folder: source/, release/)")
        return 0
    if a.cmd == "devcheck":
        rows = devcheck(a.steps, a.budget, a.only, a.out, timeout=a.timeout, plain=a.plain)
        return 0 if all(r["status"] == "ok" for r in rows) else 1
    rows = run(a.budget, a.only, a.out, timeout=a.timeout, inplace=a.inplace)
    n_failing = claims_summary(rows)[1]
    return 0 if all(r["status"] == "ok" for r in rows) and n_failing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
