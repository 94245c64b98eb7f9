"""course_lib.publish without a browser: the parts, the slide tagging, the claims table, the CDN check.

The site and the slides themselves are built and opened in headless Chromium by tests/test_site.py.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from pathlib import Path

import pytest

from course_lib import course, publish

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def md(text: str) -> dict:
    return {"cell_type": "markdown", "id": f"m{abs(hash(text)) % 10**7:07d}", "metadata": {}, "source": text}


def code(text: str, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "execution_count": 1, "id": f"c{abs(hash(text)) % 10**7:07d}", "metadata": {},
            "outputs": outputs or [], "source": text}


def stream(lines: int | str) -> dict:
    text = lines if isinstance(lines, str) else "".join(f"line {i}\n" for i in range(lines))
    return {"name": "stdout", "output_type": "stream", "text": text}


def png(width: int, height: int) -> dict:
    """A display_data output with a real (blank) PNG of the given size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\x00" * width for _ in range(height))
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return {"output_type": "display_data", "metadata": {},
            "data": {"image/png": base64.b64encode(data).decode(), "text/plain": "<Figure>"}}


def lecture() -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {"language_info": {"name": "python"}}, "cells": [
        md("# 05 · A lecture\n\nWhat it is about."),            # 0 title
        code("import torch", [stream(1)]),                       # 1
        md("## 1. The first section\n\nSome prose."),            # 2 section
        code("x = 1\nprint(x)", [stream(2)]),                    # 3
        md("A short remark."),                                   # 4
        code("print('long')", [stream(80)]),                     # 5 a long output
        code("y = 2", []),                                       # 6 after the long one
        md("### Exercise 1: something\n\nWrite it.\n\n1. one\n2. two\n3. three"),   # 7 sub-section
        code("", []),                                            # 8 empty
        code("show()", [png(800, 4000)]),                        # 9 a tall figure
        md("## Summary\n\n- one\n- two"),                        # 10
    ]}


# ---------------------------------------------------------------------------------------------- parts
def test_parts_cover_every_notebook_once():
    numbers = [n for part in publish.PARTS for n in part.numbers]
    assert len(numbers) == len(set(numbers))
    assert {p.name[:2] for p in NOTEBOOKS} <= set(numbers)
    assert publish.part_of("05_gan").title.startswith("III.")
    assert publish.part_of("00_introduction").title == "Introduction"


def test_parts_agree_with_the_course_map_of_00():
    """The site's navigation is the course map that 00_introduction shows its readers."""
    nb = json.loads((ROOT / "notebooks" / "00_introduction.ipynb").read_text())
    table = next("".join(c["source"]) for c in nb["cells"] if "".join(c["source"]).startswith("## 3. The course map"))
    rows = [line.split("|")[1:3] for line in table.splitlines() if re.match(r"^\| [IVX]+\. ", line)]
    course_map = {title.strip(): tuple(re.findall(r"\b(\d\d) ", cell)) for title, cell in rows}
    ours = {p.title: p.numbers for p in publish.PARTS if p.title != "Introduction"}
    assert ours == course_map


@pytest.mark.parametrize("bad", ["gan", "5_gan", "99_extra", 7])
def test_part_of_names_what_it_expected(bad):
    with pytest.raises(ValueError, match="notebook"):
        publish.part_of(bad)


# ---------------------------------------------------------------------------------------------- slides
def test_sections_are_slides_subsections_subslides_and_long_outputs_get_their_own():
    types = publish.slide_types(lecture())
    assert types[0] == "slide" and types[2] == "slide" and types[10] == "slide"     # title, ## 1., ## Summary
    assert types[1] == "fragment" and types[3] == "fragment" and types[4] == "fragment"
    assert types[5] == "subslide"          # 80 lines of output do not fit under the section's start
    assert types[6] == "subslide"          # ... so the cell after them starts the next sub-slide
    assert types[7] == "subslide"          # ### Exercise
    assert types[8] == "skip"              # empty cell
    assert types[9] == "subslide"          # a figure taller than what is left of the slide


def test_tag_slides_is_idempotent_and_touches_only_slide_metadata():
    nb = lecture()
    nb["cells"][3]["metadata"] = {"tags": ["keep"], "slideshow": {"slide_type": "notes"}}   # stale metadata
    before = json.dumps(nb, sort_keys=True)
    once = publish.tag_slides(nb)
    assert json.dumps(nb, sort_keys=True) == before, "the input notebook must not be modified"
    assert publish.tag_slides(once) == once
    assert once["cells"][3]["metadata"] == {"slideshow": {"slide_type": "fragment"}, "tags": ["keep"]}
    assert once["metadata"]["rise"] == {"scroll": True}
    for a, b in zip(nb["cells"], once["cells"]):
        assert {k: v for k, v in a.items() if k != "metadata"} == {k: v for k, v in b.items() if k != "metadata"}
    assert [c["metadata"]["slideshow"]["slide_type"] for c in once["cells"]] == publish.slide_types(nb)


def test_png_height_counts_after_scaling_to_the_slide_width():
    small, wide = code("a", [png(100, 240)]), code("b", [png(2560, 480)])
    assert publish.cell_lines(small) == pytest.approx(2 + 240 / publish.LINE_PX)
    assert publish.cell_lines(wide) == pytest.approx(2 + 480 / 2 / publish.LINE_PX)   # 2560 px -> 1280: half


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem[:2])
def test_every_numbered_section_of_the_course_is_a_slide(path):
    nb = json.loads(path.read_text())
    tagged = publish.tag_slides(nb)
    assert publish.tag_slides(tagged) == tagged
    for cell in tagged["cells"]:
        first = "".join(cell["source"]).lstrip("\n").split("\n", 1)[0]
        kind = cell["metadata"]["slideshow"]["slide_type"]
        if cell["cell_type"] == "markdown" and re.match(r"^#{1,2} ", first):
            assert kind == "slide", f"{path.name}: {first!r} is a {kind}"
        elif cell["cell_type"] == "markdown" and first.startswith("### "):
            assert kind == "subslide", f"{path.name}: {first!r} is a {kind}"
        else:
            assert kind in ("fragment", "subslide", "skip")
    assert sum(re.match(r"^## \d+[a-z]?\. ", "".join(c["source"])) is not None for c in nb["cells"]) >= 3


def test_tag_notebooks_writes_only_what_changes(tmp_path):
    (tmp_path / "05_lecture.ipynb").write_text(json.dumps(lecture(), indent=1, ensure_ascii=False) + "\n")
    first = publish.tag_notebooks(tmp_path)
    text = (tmp_path / "05_lecture.ipynb").read_text()
    assert [p.name for p in first] == ["05_lecture.ipynb"]
    assert text.endswith("}\n") and '"slide_type": "subslide"' in text
    assert publish.tag_notebooks(tmp_path) == []
    assert (tmp_path / "05_lecture.ipynb").read_text() == text


@pytest.mark.parametrize("bad", [{"cells": "x"}, [], {"nbformat": 4}])
def test_slide_types_rejects_what_is_not_a_notebook(bad):
    with pytest.raises(ValueError, match="notebook"):
        publish.slide_types(bad)


def test_slide_types_rejects_a_slide_height_of_zero():
    with pytest.raises(ValueError, match="slide_lines"):
        publish.slide_types(lecture(), slide_lines=0)


# ---------------------------------------------------------------------------------------------- results page
CLAIM_LINES = (
    "device=cpu | budget=lecture | seed=0\n"
    "claim fista_matches_sklearn_lasso: 1.011e-10 (target <= 1.000e-06)  [same objective, independent solver] ✔\n"
    "psnr = 31.2 dB\n"
    "claim srgan_sharp: 0.2 (target >= 0.8 and <= 1.2)  [fine detail [Y] | ratio] ✘\n"
    "claim judged_later: 3 (target >= 1) (not judged at smoke)\n"
)


def test_claims_are_read_from_the_printed_lines():
    nb = {"cells": [code("run()", [stream(CLAIM_LINES)])]}
    claims = publish.claims_from_notebook(nb)
    assert [c["name"] for c in claims] == ["fista_matches_sklearn_lasso", "srgan_sharp", "judged_later"]
    assert [c["verdict"] for c in claims] == [True, False, None]
    assert claims[1]["target"] == ">= 0.8 and <= 1.2" and claims[1]["note"] == "fine detail [Y] | ratio"
    assert publish.budget_of(nb) == "lecture"
    assert publish.budget_of({"cells": []}) == "?"


def test_results_page_counts_and_escapes(tmp_path):
    nb = lecture()
    nb["cells"][3]["outputs"] = [stream(CLAIM_LINES)]
    path = tmp_path / "05_lecture.ipynb"
    path.write_text(json.dumps(nb))
    page = publish.results_page([path])
    assert "**1 of 2 judged claims hold.**" in page
    assert "| {doc}`05_lecture` | lecture | 3 | 1 | 1 |" in page
    assert r"fine detail \[Y\] \| ratio" in page         # a '|' in a note does not split the table row


def test_claims_from_notebook_rejects_a_non_notebook():
    with pytest.raises(ValueError, match="notebook"):
        publish.claims_from_notebook("05_gan.ipynb")


def test_index_page_has_one_toctree_per_part_in_course_order():
    paths = [ROOT / "notebooks" / n for n in ("05_gan.ipynb", "00_introduction.ipynb", "01_sparse_coding.ipynb")]
    page = publish.index_page(paths)
    captions = re.findall(r":caption: (.+)", page)
    assert captions == ["Introduction", "I. Representations", "III. Adversarial models", "Results"]


# ---------------------------------------------------------------------------------------------- nothing from a CDN
def test_external_urls_finds_scripts_and_styles_but_not_links():
    page = """<script src="https://cdn.example/mathjax.js"></script><script src="_static/local.js"></script>
    <link rel="stylesheet" href="https://cdn.example/a.css"><link rel="next" href="https://example.org/next">
    <a href="https://arxiv.org/abs/1406.2661">paper</a><img src="http://x.example/i.png">
    <script type="module">import mermaid from 'https://cdn.example/mermaid.mjs';</script>"""
    assert publish.external_urls(page) == ["https://cdn.example/mathjax.js", "http://x.example/i.png",
                                           "https://cdn.example/a.css", "https://cdn.example/mermaid.mjs"]


def test_course_cli_knows_site_and_slides(capsys):
    with pytest.raises(SystemExit):
        course.main(["slides", "--help"])
    assert "--tag" in capsys.readouterr().out
    with pytest.raises(ValueError, match="site"):
        publish.command("html")
