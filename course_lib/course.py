"""Run the course: execute notebooks headless, write executed copies, HTML and a results table.

    python -m course_lib.course run                       # every notebook, default budget
    python -m course_lib.course run --budget smoke --only 00 05
    python -m course_lib.course run --inplace             # also refresh outputs in notebooks/
    python -m course_lib.course list

Outputs under ``--out`` (default ``build/``): ``executed/NN_topic.ipynb``,
``html/NN_topic.html``, ``results/NN_topic.json`` (numbers recorded with
:func:`course_lib.results.record`), ``results.md`` and ``results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
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


def _execute(path: Path, out: Path, budget: str, timeout: int, inplace: bool) -> dict[str, Any]:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from tqdm.auto import tqdm

    nb = nbformat.read(path, as_version=4)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    saved_env = dict(os.environ)  # the kernel inherits these; the caller's session gets its own back
    os.environ.update(COURSE_BUDGET=budget, COURSE_HEADLESS="1", COURSE_NOTEBOOK=path.stem,
                      COURSE_RESULTS_DIR=str(out / "results"), COURSE_PROGRESS="0")
    (out / "results" / f"{path.stem}.json").unlink(missing_ok=True)
    (out / "results" / f"{path.stem}.claims.json").unlink(missing_ok=True)
    bar = tqdm(total=n_code, desc=f"{path.stem} [{budget}]", unit="cell", leave=True)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_executed=lambda **kw: bar.update(1) if kw["cell"].cell_type == "code" else None)
    t0 = time.perf_counter()
    status, error = "ok", ""
    try:
        client.execute()
    except CellExecutionError as err:
        status, error = "failed", str(err).strip().splitlines()[-1][:300]
    except Exception as err:  # kernel died, timeout
        status, error = "failed", f"{type(err).__name__}: {err}"[:300]
    finally:
        bar.close()
        os.environ.clear()
        os.environ.update(saved_env)
    wall = time.perf_counter() - t0
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
            "metrics": metrics, "claims": claims, "error": error}


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
        row = _execute(p, out, budget, timeout, inplace)
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


def main(argv: Sequence[str] | None = None) -> int:
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
    sub.add_parser("list", help="list the notebooks")
    a = p.parse_args(argv)
    if a.cmd == "list":
        for path in notebooks(ROOT / "notebooks"):
            print(path.stem)
        return 0
    rows = run(a.budget, a.only, a.out, timeout=a.timeout, inplace=a.inplace)
    n_failing = claims_summary(rows)[1]
    return 0 if all(r["status"] == "ok" for r in rows) and n_failing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
