"""The course as a website and as lecture slides, built from the committed notebooks (nothing is re-executed).

    python -m course_lib.course site                 # build/site/index.html: Sphinx + myst-nb + sphinx-book-theme
    python -m course_lib.course site --only 00 05    # a subset (the browser test builds three notebooks)
    python -m course_lib.course slides               # build/slides/NN_topic.slides.html: reveal.js decks
    python -m course_lib.course slides --tag         # write the slide metadata into notebooks/ (JupyterLab RISE)

Everything a page loads is served from the build folder: MathJax 3 from the PyPI package
``sphinx-mathjax-offline`` and reveal.js 5 from the PyPI package ``sphinx-revealjs`` (the ``site`` extra),
so the site and the slides work offline and load nothing from a CDN.

The site navigates by the parts of the course map in ``00_introduction`` (:data:`PARTS`), gives each
notebook one page with its committed outputs, renders the equations with MathJax, has Sphinx's full-text
search, and a results page with every claim the notebooks printed (:func:`claims_from_notebook`).

The slides come from :func:`tag_slides`: each title or ``## N.`` section is a slide, each ``###``
sub-section a sub-slide, the other cells are fragments of the current slide until it is full, and a cell
that does not fit starts a sub-slide (so a long output gets a sub-slide of its own).
"""

from __future__ import annotations

import base64
import copy
import html
import json
import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SITE_CONF = ROOT / "docs"      # conf.py of the website, the slide template


@dataclass(frozen=True)
class Part:
    """A part of the course: its title and the numbers of its notebooks."""

    title: str
    numbers: tuple[str, ...]


# The course map of 00_introduction ("## 3. The course map"); tests/test_publish.py checks that they agree.
PARTS: tuple[Part, ...] = (
    Part("Introduction", ("00",)),
    Part("I. Representations", ("01", "02")),
    Part("II. Likelihood models", ("03", "04")),
    Part("III. Adversarial models", ("05", "06", "07")),
    Part("IV. Conditional and scale", ("08", "09", "10")),
    Part("V. Restoration", ("11", "12", "13", "14")),
    Part("VI. Translation and synthesis", ("15", "16", "17", "18", "19", "20")),
)


def part_of(stem: str) -> Part:
    """The part a notebook belongs to, from its two-digit prefix (``"05_gan"`` -> part III).

    Raises:
        ValueError: when the name does not start with the number of a notebook of the course map.
    """
    if not isinstance(stem, str) or not re.match(r"^\d\d", stem):
        raise ValueError(f"expected a notebook name starting with two digits, e.g. '05_gan', got {stem!r}")
    for part in PARTS:
        if stem[:2] in part.numbers:
            return part
    known = ", ".join(n for p in PARTS for n in p.numbers)
    raise ValueError(f"notebook {stem!r} is in no part of the course map (numbers {known}); add it to publish.PARTS")


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def title_of(nb: dict[str, Any], default: str = "") -> str:
    """The notebook's title: the text of its first ``# `` heading (``"05 · Generative adversarial networks"``)."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            for line in _source(cell).splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return default


# --------------------------------------------------------------------------------------
# Slides: cell metadata for reveal.js (nbconvert) and RISE
# --------------------------------------------------------------------------------------
SLIDE_WIDTH, SLIDE_HEIGHT = 1280, 800   # the deck's size in pixels (reveal.js scales it to the screen)
LINE_PX = 24            # one line on a slide: 20 px prose, 15 px code, with their spacing
SLIDE_LINES = 30        # lines that fit on one slide under its margins
MARKDOWN_WRAP = 100     # characters per line of prose on a slide
_HEADING = re.compile(r"^(#{1,6})\s")
_SLIDE_TYPES = ("slide", "subslide", "fragment", "-", "skip", "notes")


def _heading_level(cell: dict[str, Any]) -> int | None:
    """Level of the heading that opens a markdown cell (1 for ``# ``), or None."""
    if cell.get("cell_type") != "markdown":
        return None
    lines = _source(cell).lstrip("\n").splitlines()
    m = _HEADING.match(lines[0]) if lines else None
    return len(m.group(1)) if m else None


def _png_size(b64: str | list[str]) -> tuple[int, int] | None:
    """(width, height) from the IHDR chunk of a base64 PNG, or None if it is not one."""
    text = "".join(b64) if isinstance(b64, list) else b64
    try:
        head = base64.b64decode("".join(text.split())[:44])
    except ValueError:
        return None
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _text_lines(text: str) -> float:
    return sum(max(1, math.ceil(len(line) / 100)) for line in text.splitlines()) if text else 0


def cell_lines(cell: dict[str, Any]) -> float:
    """How tall a cell is on a slide, in lines (:data:`SLIDE_LINES` fill one slide).

    Prose counts its lines wrapped at :data:`MARKDOWN_WRAP` characters, code its lines, text outputs their
    lines, and an image its height in pixels over :data:`LINE_PX` after scaling to the slide's width.
    """
    if not isinstance(cell, dict) or "cell_type" not in cell:
        raise ValueError(f"expected a notebook cell (a dict with 'cell_type'), got {type(cell).__name__}")
    src = _source(cell)
    if cell["cell_type"] == "markdown":
        return sum(max(1, math.ceil(len(line) / MARKDOWN_WRAP)) for line in src.strip().splitlines())
    if cell["cell_type"] != "code":
        return 0
    total = float(len(src.strip().splitlines())) + (1 if src.strip() else 0)
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            total += _text_lines("".join(out.get("text", "")))
        elif out.get("output_type") == "error":
            total += len(out.get("traceback", []))
        else:
            data = out.get("data", {})
            size = _png_size(data["image/png"]) if "image/png" in data else None
            if size:
                width, height = size
                total += min(height * min(1.0, SLIDE_WIDTH / max(width, 1)), 640) / LINE_PX   # max-height 640
            elif "image/jpeg" in data or "image/svg+xml" in data:
                total += SLIDE_LINES / 2
            elif "text/html" in data:
                total += _text_lines("".join(data["text/html"])) / 2
            elif "text/plain" in data:
                total += _text_lines("".join(data["text/plain"]))
    return total


def slide_types(nb: dict[str, Any], slide_lines: float = SLIDE_LINES) -> list[str]:
    """The reveal.js slide type of every cell, from the cells' content alone (old slide metadata is ignored).

    * a ``# `` or ``## `` heading (the title, every numbered section, Summary, Further reading): ``slide``;
    * a ``### `` heading (an exercise, a sub-section): ``subslide``;
    * an empty cell: ``skip``;
    * any other cell: a ``fragment`` of the current (sub-)slide while the cells so far fit in
      ``slide_lines`` lines (:func:`cell_lines`), else a new ``subslide``; so a long output gets a
      sub-slide of its own, and the cell after it starts the next one.

    Args:
        nb: a notebook as nbformat JSON (``{"cells": [...], ...}``).
        slide_lines: the height of one slide in lines.

    Returns:
        One of ``"slide"``, ``"subslide"``, ``"fragment"``, ``"skip"`` per cell.
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("expected a notebook as nbformat JSON: a dict with a list under 'cells'")  # noqa: TRY004
    if not slide_lines > 0:
        raise ValueError(f"slide_lines must be positive, got {slide_lines}")
    types: list[str] = []
    used = 0.0
    for i, cell in enumerate(nb["cells"]):
        level = _heading_level(cell)
        height = cell_lines(cell)
        if not _source(cell).strip() and not cell.get("outputs"):
            types.append("skip")
            continue
        if level in (1, 2) or not types or all(t == "skip" for t in types):
            kind, used = "slide", height
        elif level == 3 or used + height > slide_lines:
            kind, used = "subslide", height
        else:
            kind, used = "fragment", used + height
        types.append(kind)
    return types


def tag_slides(nb: dict[str, Any], slide_lines: float = SLIDE_LINES) -> dict[str, Any]:
    """A copy of the notebook with ``metadata.slideshow.slide_type`` set on every cell (:func:`slide_types`).

    Deterministic and idempotent: the types depend only on the cells' content, so tagging a tagged notebook
    changes nothing. The notebook's metadata gets ``rise: {"scroll": true}`` (RISE scrolls a slide that is
    still too tall); nothing else is changed.
    """
    types = slide_types(nb, slide_lines)
    out = copy.deepcopy(nb)
    for cell, kind in zip(out["cells"], types):
        meta = cell.setdefault("metadata", {})
        was_sorted = list(meta) == sorted(meta)
        meta["slideshow"] = {"slide_type": kind}
        if was_sorted:
            cell["metadata"] = dict(sorted(meta.items()))
    meta = out.setdefault("metadata", {})
    was_sorted = list(meta) == sorted(meta)
    meta["rise"] = {**meta.get("rise", {}), "scroll": True}
    if was_sorted:
        out["metadata"] = dict(sorted(meta.items()))
    return out


def tag_notebooks(folder: str | Path = NOTEBOOKS, only: Sequence[str] = ()) -> list[Path]:
    """Write the slide metadata of :func:`tag_slides` into the notebooks of ``folder``; returns those changed.

    A notebook is rewritten (``json.dumps(nb, indent=1, ensure_ascii=False)`` and a newline, the course's
    format) only when its metadata changes; outputs and other metadata are kept.
    """
    from .course import notebooks

    changed = []
    for path in notebooks(Path(folder), only):
        nb = json.loads(path.read_text())
        tagged = tag_slides(nb)
        if tagged != nb:
            path.write_text(json.dumps(tagged, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


def _reveal_dir() -> Path:
    """reveal.js (``dist/``, ``plugin/``) as shipped by the PyPI package sphinx-revealjs."""
    try:
        import sphinx_revealjs
    except ImportError as err:  # pragma: no cover - the 'site' extra is installed by make setup
        raise RuntimeError("reveal.js comes from the PyPI package sphinx-revealjs: pip install -e '.[site]'") from err
    path = Path(sphinx_revealjs.__file__).parent / "_static" / "revealjs"
    if not (path / "dist" / "reveal.js").exists():  # pragma: no cover - a package layout change
        raise RuntimeError(f"no dist/reveal.js under {path}: has sphinx-revealjs changed its layout?")
    return path


def _mathjax_dir() -> Path:
    """MathJax 3 (``tex-chtml.js`` and its fonts) as shipped by the PyPI package sphinx-mathjax-offline."""
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - the 'site' extra
        raise RuntimeError("MathJax comes from the PyPI package sphinx-mathjax-offline: pip install -e '.[site]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"
    if not (path / "tex-chtml.js").exists():  # pragma: no cover - a package layout change
        raise RuntimeError(f"no tex-chtml.js under {path}: has sphinx-mathjax-offline changed its layout?")
    return path


def _copy_tree(src: Path, dst: Path) -> None:
    if not dst.exists():
        shutil.copytree(src, dst)


def build_slides(only: Sequence[str] = (), out: str | Path = "build/slides",
                 folder: str | Path = NOTEBOOKS) -> list[Path]:
    """Write a reveal.js deck per notebook, ``out/NN_topic.slides.html``, and ``out/index.html`` listing them.

    The notebooks are tagged in memory with :func:`tag_slides` (``notebooks/`` is not touched) and exported
    by nbconvert's ``SlidesExporter`` with the course template ``docs/slides.html.j2``, which loads reveal.js
    and MathJax from ``out/_static/`` (copied from their PyPI packages), not from a CDN.

    Returns:
        The paths of the decks written.
    """
    import nbformat
    from nbconvert import SlidesExporter

    from .course import notebooks

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _copy_tree(_reveal_dir(), out / "_static" / "reveal.js")
    _copy_tree(_mathjax_dir(), out / "_static" / "mathjax")
    exporter = SlidesExporter(template_file=str(SITE_CONF / "slides.html.j2"),
                              reveal_url_prefix="_static/reveal.js", reveal_theme="white",
                              reveal_transition="none", reveal_number="c/t",
                              reveal_width=str(SLIDE_WIDTH), reveal_height=str(SLIDE_HEIGHT),
                              mathjax_url="_static/mathjax/tex-chtml.js")
    decks = []
    rows = []
    for path in notebooks(Path(folder), only):
        nb = tag_slides(json.loads(path.read_text()))
        node = nbformat.reads(json.dumps(nb), as_version=4)   # sources as strings, as nbconvert expects
        body, _ = exporter.from_notebook_node(node, resources={"metadata": {"name": path.stem}})
        deck = out / f"{path.stem}.slides.html"
        deck.write_text(body)
        decks.append(deck)
        n = sum(t == "slide" for t in slide_types(nb))
        rows.append(f'<li><a href="{deck.name}">{html.escape(title_of(nb, path.stem))}</a> ({n} slides)</li>')
    index = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lecture slides</title>\n"
             "<script>window.MathJax = {tex: {inlineMath: [['$', '$']]}};</script>\n"
             "<script defer src=\"_static/mathjax/tex-chtml.js\"></script>\n"
             "<style>body { font-family: sans-serif; max-width: 50em; margin: 2em auto; line-height: 1.6; }</style>"
             "</head>\n<body><h1>Deep Generative Models: lecture slides</h1>\n<ul>\n" + "\n".join(rows)
             + "\n</ul>\n<p>Keys: space or the arrows to move (down: the sub-slides of a section), Esc for the "
             "overview, S for the speaker view.</p></body></html>\n")
    (out / "index.html").write_text(index)
    return decks


# --------------------------------------------------------------------------------------
# The website
# --------------------------------------------------------------------------------------
_CLAIM = re.compile(r"^claim (?P<name>[a-z][a-z0-9_]*): (?P<value>\S+) \(target (?P<target>[^)]*)\)"
                    r"(?:  \[(?P<note>.*)\])? (?P<verdict>✔|✘|\(not judged at smoke\))\s*$")
_BUDGET = re.compile(r"\bbudget=(\w+)")


def claims_from_notebook(nb: dict[str, Any]) -> list[dict[str, Any]]:
    """The claims a notebook printed in its outputs (the lines of :func:`course_lib.results.claim`).

    Returns:
        One dict per claim line, in order: ``name``, ``value`` (the printed text), ``target``, ``note`` and
        ``verdict`` (True for ✔, False for ✘, None when not judged).
    """
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError("expected a notebook as nbformat JSON: a dict with a list under 'cells'")  # noqa: TRY004
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") != "stream":
                continue
            for line in "".join(out.get("text", "")).splitlines():
                m = _CLAIM.match(line)
                if m:
                    v = m.group("verdict")
                    found.append({"name": m.group("name"), "value": m.group("value"), "target": m.group("target"),
                                  "note": m.group("note") or "", "verdict": None if v.startswith("(") else v == "✔"})
    return found


def budget_of(nb: dict[str, Any]) -> str:
    """The budget the notebook's outputs were made at, from its setup line (``budget=lecture``), or ``"?"``."""
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            m = _BUDGET.search("".join(out.get("text", ""))) if out.get("output_type") == "stream" else None
            if m:
                return m.group(1)
    return "?"


def _md(text: str) -> str:
    """Text escaped for a cell of a Markdown table."""
    return re.sub(r"([\\`*_{}\[\]<>|$#~])", r"\\\1", text)


def results_page(paths: Sequence[Path]) -> str:
    """The results page (MyST Markdown): every claim printed in the committed notebooks, by notebook."""
    rows, detail = [], []
    n_all = n_hold = 0
    for path in paths:
        nb = json.loads(Path(path).read_text())
        claims = claims_from_notebook(nb)
        judged = [c for c in claims if c["verdict"] is not None]
        hold = sum(c["verdict"] for c in judged)
        n_all, n_hold = n_all + len(judged), n_hold + hold
        rows.append(f"| {{doc}}`{path.stem}` | {budget_of(nb)} | {len(claims)} | {hold} | {len(judged) - hold} |")
        if claims:
            detail += ["", f"### {title_of(nb, path.stem)}", "", f"{{doc}}`{path.stem}`", "",
                       "| claim | value | target | holds | note |", "|---|---:|---|---|---|"]
            for c in claims:
                verdict = "not judged" if c["verdict"] is None else ("✔ yes" if c["verdict"] else "✘ **no**")
                detail.append(f"| `{c['name']}` | {_md(c['value'])} | {_md(c['target'])} | {verdict} | {_md(c['note'])} |")
    head = ["# Results: the claims", "",
            ("Each lesson of the course is a **claim**, a measured number with a target, printed next to the result "
             "it judges (`results.claim`). This page collects the claims printed in the committed notebooks, "
             "whose outputs come from a run at the budget given below; `make course` recomputes them "
             "(`build/results.md`)."), "",
            f"**{n_hold} of {n_all} judged claims hold.**", "",
            "| notebook | budget | claims | hold | fail |", "|---|---|---:|---:|---:|"]
    return "\n".join(head + rows + ["", "## Every claim"] + detail) + "\n"


def index_page(paths: Sequence[Path]) -> str:
    """The home page (MyST Markdown): the course's introduction and one table of contents per part."""
    readme = (ROOT / "README.md").read_text().split("\n\n")
    intro = next((p for p in readme if p and not p.startswith("#")), "")
    lines = ["# Deep Generative Models, the course", "", intro.strip(), "",
             ("Every page shows a notebook with the outputs it was committed with (nothing is re-run to build "
              "this site); [Results](results.md) collects the claims they print. Run them yourself with "
              "`make lab`, or all of them headless with `make course`."), ""]
    by_part: dict[str, list[str]] = {}
    for path in paths:
        by_part.setdefault(part_of(path.stem).title, []).append(path.stem)
    for part in PARTS:
        if part.title in by_part:
            lines += ["```{toctree}", f":caption: {part.title}", ":maxdepth: 1", "", *by_part[part.title], "```", ""]
    lines += ["```{toctree}", ":caption: Results", ":maxdepth: 1", "", "results", "```", ""]
    return "\n".join(lines)


def site_sources(src: str | Path, paths: Sequence[Path]) -> Path:
    """Lay out the Sphinx source folder: the notebooks (copied only when changed), ``index.md``, ``results.md``."""
    src = Path(src)
    src.mkdir(parents=True, exist_ok=True)
    keep = {p.name for p in paths}
    for old in src.glob("*.ipynb"):
        if old.name not in keep:
            old.unlink()
    for p in paths:
        dst = src / p.name
        if not dst.exists() or dst.read_bytes() != p.read_bytes():
            shutil.copy2(p, dst)
    for name, text in (("index.md", index_page(paths)), ("results.md", results_page(paths))):
        if not (src / name).exists() or (src / name).read_text() != text:
            (src / name).write_text(text)
    return src


def build_site(only: Sequence[str] = (), out: str | Path = "build/site", folder: str | Path = NOTEBOOKS,
               quiet: bool = True) -> Path:
    """Build the website with Sphinx (``docs/conf.py``: myst-nb, execution off, sphinx-book-theme).

    Args:
        only: notebook numbers or names (default: all).
        out: the HTML folder; its sources are laid out in ``<out>-src`` with Sphinx's doctrees (so a second
            build only redoes what changed), and myst-nb keeps the notebooks' images in ``jupyter_execute``
            beside ``out``.
        folder: the notebooks.
        quiet: pass ``-q`` to sphinx-build (warnings are still printed).

    Returns:
        The path of ``index.html``.
    """
    from .course import notebooks

    out = Path(out).resolve()
    paths = notebooks(Path(folder), only)
    src = site_sources(out.parent / f"{out.name}-src", paths)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(SITE_CONF), "-d", str(src / ".doctrees"),
           *(["-q"] if quiet else []), str(src), str(out)]
    done = subprocess.run(cmd, check=False)
    if done.returncode:
        raise RuntimeError(f"sphinx-build failed (exit {done.returncode}): {' '.join(cmd)}")
    return out / "index.html"


def external_urls(html_text: str) -> list[str]:
    """The http(s) URLs a page loads as a script, a style sheet, a font or an image (links are not counted)."""
    found = re.findall(r"<(?:script|img|iframe|source)\b[^>]*\bsrc=[\"'](https?://[^\"']+)", html_text, re.IGNORECASE)
    found += [m for tag in re.findall(r"<link\b[^>]*>", html_text, re.IGNORECASE)
              if re.search(r"rel=[\"'](?:stylesheet|preload|modulepreload|icon)", tag, re.IGNORECASE)
              for m in re.findall(r"href=[\"'](https?://[^\"']+)", tag, re.IGNORECASE)]
    found += re.findall(r"@import\s+(?:url\()?[\"']?(https?://[^\"')]+)", html_text, re.IGNORECASE)
    found += re.findall(r"\bimport\s+[\w{}\s,*]*\s+from\s+[\"'](https?://[^\"']+)", html_text)
    return found


def command(cmd: str, only: Sequence[str] = (), out: str | Path | None = None, tag: bool = False) -> int:
    """``python -m course_lib.course site | slides [--tag]``: build, print what was written and how long it took."""
    if cmd not in ("site", "slides"):
        raise ValueError(f"cmd must be 'site' or 'slides', got {cmd!r}")
    t0 = time.perf_counter()
    if cmd == "slides" and tag:
        changed = tag_notebooks(NOTEBOOKS, only)
        for path in changed:
            print(f"tagged {path.relative_to(ROOT)}")
        print(f"slide metadata written into {len(changed)} notebook(s) ({time.perf_counter() - t0:.0f} s)")
        return 0
    if cmd == "slides":
        decks = build_slides(only, out or "build/slides")
        print(f"wrote {len(decks)} deck(s) to {Path(out or 'build/slides')}/ in {time.perf_counter() - t0:.0f} s; "
              f"open {Path(out or 'build/slides') / 'index.html'}")
        return 0
    index = build_site(only, out or "build/site")
    pages = sum(1 for _ in index.parent.glob("*.html"))
    print(f"wrote the site ({pages} pages) to {index.parent}/ in {time.perf_counter() - t0:.0f} s; open {index}")
    return 0

