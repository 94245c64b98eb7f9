"""The course website and a lecture deck, built and opened in headless Chromium (fixtures in tests/browser.py).

The site is built from three committed notebooks (``make site`` builds all of them the same way) and served by
``http.server`` on 127.0.0.1: equations are typeset by the local MathJax (no raw ``$``), every image loads,
the links between the notebooks answer 200 and the "next" link leads to the next notebook, and the search
page finds a word. One deck of ``make slides`` is opened: reveal.js starts, has a slide per section, and
typesets its equations. No page loads anything from outside the build folder. Screenshots: ``build/browser/``.
"""

from __future__ import annotations

import functools
import http.server
import itertools
import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from browser import shot_path

from course_lib import publish

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("00_introduction", "03_autoregressive", "05_gan")   # three parts, many equations, a few figures
DECK = "05_gan"

pytest.importorskip("myst_nb", reason="the site extra (Sphinx, myst-nb): pip install -e '.[site]' (make setup does)")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no request log in the test output
        pass


@pytest.fixture(scope="module")
def serve() -> Iterator[callable]:
    """serve(folder) -> the URL of a local http.server for that folder (all stopped at the end)."""
    servers = []

    def start(folder: Path) -> str:
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}"

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def site(tmp_path_factory, serve) -> tuple[Path, str]:
    """The site of three notebooks, built by the same code as ``make site``; (folder, URL)."""
    index = publish.build_site(PAGES, tmp_path_factory.mktemp("site") / "site")
    return index.parent, serve(index.parent)


@pytest.fixture(scope="module")
def slides(tmp_path_factory, serve) -> tuple[Path, str]:
    """One deck of ``make slides``; (its file, the URL of its folder)."""
    out = tmp_path_factory.mktemp("slides")
    (deck,) = publish.build_slides([DECK], out)
    return deck, serve(out)


TIMEOUT_MS = 240_000   # generous: on a busy 2-core machine (two pytest workers, notebooks) Chromium is slow


def _watch(page) -> list[str]:
    """Requests that failed or went outside 127.0.0.1, collected while the page is used; sets the timeouts."""
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(TIMEOUT_MS)
    bad: list[str] = []
    # a request the browser itself cancels (net::ERR_ABORTED: the test clicked on to the next page while a MathJax
    # font was still loading) is not a broken link; a missing file is a 404 response, caught below
    page.on("requestfailed", lambda r: None if "ERR_ABORTED" in (r.failure or "")
            else bad.append(f"failed {r.url} ({r.failure})"))
    page.on("response", lambda r: bad.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("request", lambda r: bad.append(f"external {r.url}")
            if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
    return bad


def _typeset(page) -> None:
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")


def test_the_site_loads_nothing_from_outside(site):
    folder, _ = site
    pages = sorted(folder.glob("*.html"))
    assert {f"{n}.html" for n in PAGES} | {"index.html", "results.html", "search.html"} <= {p.name for p in pages}
    for page in pages:
        assert publish.external_urls(page.read_text()) == [], page.name


@pytest.mark.parametrize("name", PAGES)
def test_a_notebook_page_renders_its_equations_and_figures(site, browser_page, name):
    _, url = site
    bad = _watch(browser_page)
    browser_page.goto(f"{url}/{name}.html", wait_until="domcontentloaded")
    _typeset(browser_page)
    browser_page.wait_for_function("() => Array.from(document.querySelectorAll('article img')).every(i => i.complete)")
    n_math = browser_page.locator("article mjx-container").count()
    errors = browser_page.locator("mjx-merror").count()
    # the prose as a reader sees it: code, outputs and the typeset equations left out
    prose = browser_page.evaluate("""() => {
        const a = document.querySelector('article').cloneNode(true);
        a.querySelectorAll('pre, code, .cell_output, .output, mjx-container, script').forEach(e => e.remove());
        return a.innerText; }""")
    images = browser_page.evaluate("() => Array.from(document.querySelectorAll('article img'))"
                                   ".map(i => [i.getAttribute('src'), i.complete ? i.naturalWidth : 0])")
    browser_page.screenshot(path=str(shot_path(f"site-{name}")))
    assert n_math >= 10, f"{name}: only {n_math} typeset equations"
    assert errors == 0, f"{name}: {errors} equations MathJax could not typeset"
    assert "$" not in prose, f"{name}: raw TeX in the text: ...{prose[max(0, prose.find('$') - 80):][:160]}..."
    assert images and all(w > 0 for _, w in images), f"{name}: images not loaded: {[s for s, w in images if not w]}"
    assert not bad, bad


def test_links_between_notebooks_resolve(site, browser_page):
    _, url = site
    bad = _watch(browser_page)
    browser_page.goto(f"{url}/{PAGES[0]}.html", wait_until="domcontentloaded")
    hrefs = browser_page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    local = sorted({h.split("#")[0] for h in hrefs if h.startswith(url)})
    notebook_links = [h for h in local if any(h.endswith(f"/{n}.html") for n in PAGES)]
    assert len(notebook_links) == len(PAGES), notebook_links
    for link in local:
        with urllib.request.urlopen(link, timeout=30) as r:
            assert r.status == 200, link
    # "next" at the foot of each page walks the course in order, across parts
    for here, there in itertools.pairwise(PAGES):
        browser_page.goto(f"{url}/{here}.html", wait_until="domcontentloaded")
        with browser_page.expect_navigation(wait_until="domcontentloaded"):
            browser_page.locator("a.right-next").click()
        assert browser_page.url == urljoin(url + "/", f"{there}.html"), browser_page.url
        assert browser_page.locator("h1").first.inner_text().startswith(there[:2])
    assert not bad, bad


def test_the_search_page_finds_a_word(site, browser_page):
    _, url = site
    _watch(browser_page)
    browser_page.goto(f"{url}/search.html?q=discriminator", wait_until="domcontentloaded")
    browser_page.wait_for_selector("#search-results ul.search li")
    found = browser_page.locator("#search-results ul.search li a").all_inner_texts()
    _typeset(browser_page)                               # the navigation's titles with math in them, too
    nav = browser_page.evaluate("""() => { const n = document.querySelector('.bd-sidebar-primary').cloneNode(true);
        n.querySelectorAll('mjx-container').forEach(e => e.remove()); return n.innerText; }""")
    browser_page.screenshot(path=str(shot_path("site-search")))
    assert any(t.startswith("05") for t in found), found
    assert "\\(" not in nav and "$" not in nav, nav


def test_the_results_page_lists_the_claims(site, browser_page):
    _, url = site
    _watch(browser_page)
    browser_page.goto(f"{url}/results.html", wait_until="domcontentloaded")
    rows = browser_page.locator("article table").first.locator("tbody tr").all_inner_texts()
    assert [r.split("\t")[0][:2] for r in rows] == [n[:2] for n in PAGES]
    n_claims = sum(len(publish.claims_from_notebook(json.loads((ROOT / "notebooks" / f"{n}.ipynb").read_text())))
                   for n in PAGES)
    assert browser_page.locator("article table code").count() >= n_claims > 0


def test_a_lecture_deck_runs_in_reveal_js(slides, browser_page):
    deck, url = slides
    assert publish.external_urls(deck.read_text()) == []
    bad = _watch(browser_page)
    browser_page.goto(f"{url}/{deck.name}", wait_until="domcontentloaded")
    browser_page.wait_for_function("() => window.Reveal && Reveal.isReady()")
    _typeset(browser_page)
    n_sections = sum(t == "slide" for t in publish.slide_types(json.loads((ROOT / "notebooks" / f"{DECK}.ipynb")
                                                                          .read_text())))
    assert browser_page.evaluate("Reveal.getHorizontalSlides().length") == n_sections
    assert browser_page.evaluate("Reveal.getTotalSlides()") > n_sections > 1
    browser_page.screenshot(path=str(shot_path("slides-title")))
    browser_page.keyboard.press("ArrowRight")                      # the first numbered section
    browser_page.wait_for_function("() => Reveal.getIndices().h === 1")
    assert browser_page.locator(".reveal .slides section.present h2").first.inner_text().startswith("1.")
    assert browser_page.locator(".reveal mjx-container").count() > 0
    browser_page.screenshot(path=str(shot_path("slides-section-1")))
    assert not bad, bad
