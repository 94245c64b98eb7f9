"""The course's widgets as a student sees them: JupyterLab in headless Chromium (fixtures in tests/browser.py).

nbval proves that cells run; these tests open a notebook in a real JupyterLab, run it, move the
sliders of ``viz.interpolation_widget`` and ``viz.slider_widget`` and compare screenshots of the
image under each slider (``build/browser/*.png``). They skip, saying why, where no Chromium is installed.
"""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from browser import shot_path

# Two 16x16 patterns (a disc and its complement): decode(z) weights them by z[:, 0] and z[:, 1], so
# t = 0 and t = 1 of the interpolation are each other's negative and the image must change.
WIDGET_CELLS = [
    "import sys\n\nimport torch\n\nfrom course_lib import viz\n\nprint(sys.prefix)",
    ("yy, xx = torch.meshgrid(torch.linspace(-1, 1, 16), torch.linspace(-1, 1, 16), indexing=\"ij\")\n"
     "disc = (xx**2 + yy**2 < 0.5).float()\n\n\n"
     "def decode(z):\n"
     "    return z[:, :1, None, None] * disc + z[:, 1:, None, None] * (1 - disc)"),
    "viz.interpolation_widget(decode, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), steps=5)",
    # a trailing ";" hides a cell's value, not the widget
    "viz.slider_widget(lambda v: decode(torch.tensor([[v, 1 - v]])), [1.0, 0.5, 0.0], label=\"w\", title=\"disc\");",
    ("def broken(z):\n"
     "    if z[0, 0] < 0.5:\n"
     "        raise RuntimeError(\"decode failed past the middle\")\n"
     "    return decode(z)\n\n\n"
     "viz.interpolation_widget(broken, torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), steps=5)"),
    # a training progress bar with the long numbers train.fit shows
    ("from course_lib import train\n\n"
     "bar = train.progress(range(3), desc=\"vae2-mnist\")\n"
     "for _ in bar:\n"
     "    bar.set_postfix(loss=545.6, recon=545.6, kl=0.02612, d_loss=1.2345, g_loss=0.5678, d_acc=0.5)"),
]

# Mean absolute difference (0-255, over the pixels of the widget's image) above which the image changed;
# a disc turned into its negative changes it by 150-250 (most pixels flip between black and white), the
# same image re-rendered by 0.
CHANGED = 20.0
UNCHANGED = 1.0


def widget_notebook(path: Path) -> Path:
    """Write the small notebook the widget test opens (the course's widgets on tiny data)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in WIDGET_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (course)", "language": "python"}
    nbformat.write(nb, path)
    return path


def png(data: bytes) -> np.ndarray:
    """A screenshot as a float (H, W, 3) array."""
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=float)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute pixel difference of two screenshots (over their common top-left part)."""
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    if h == 0 or w == 0:
        raise ValueError(f"empty screenshot: {a.shape} vs {b.shape}")
    return float(np.abs(a[:h, :w] - b[:h, :w]).mean())


def test_difference_sees_a_changed_image():
    a = np.zeros((4, 4, 3))
    assert difference(a, a) == 0
    assert difference(a, a + 255) == 255
    with pytest.raises(ValueError, match="empty screenshot"):
        difference(a, np.zeros((0, 4, 3)))


def drag_to_end(page, slider) -> None:
    """Drag a slider's handle to the right end of its track with the mouse, as a student would."""
    handle, track = slider.locator(".noUi-handle"), slider.locator(".noUi-base")
    slider.scroll_into_view_if_needed()
    hb, tb = handle.bounding_box(), track.bounding_box()
    page.mouse.move(hb["x"] + hb["width"] / 2, hb["y"] + hb["height"] / 2)
    page.mouse.down()
    page.mouse.move(tb["x"] + tb["width"] + 20, hb["y"] + hb["height"] / 2, steps=8)
    page.mouse.up()


def settle(page, lab, out, timeout_s: float = 60) -> None:
    """Wait until the kernel is idle and the output's image stays the same for 0.5 s (the drag's last redraw)."""
    last, deadline = None, time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        now = (lab.kernel_status(page), out.evaluate("el => Array.from(el.querySelectorAll('img')).map(i => i.src)"))
        if now[0] == "idle" and now == last:
            return
        last = now
        page.wait_for_timeout(500)
    raise TimeoutError(f"the widget kept redrawing for {timeout_s} s")


def test_sliders_redraw_the_image_in_jupyterlab(jupyter_lab, browser_page, tmp_path):
    page = browser_page
    name = jupyter_lab.open(page, widget_notebook(tmp_path / "widgets.ipynb"))
    # make setup disables the plugin that asks "Would you like to get notified about official Jupyter news?"
    assert not page.evaluate("(id) => window.jupyterapp.hasPlugin(id) && window.jupyterapp.isPluginActivated(id)",
                             "@jupyterlab/apputils-extension:announcements"), \
        "the Jupyter-news plugin is on: run make setup (it runs jupyter labextension disable)"
    assert jupyter_lab.run_all(page, timeout_s=120), f"a cell of {name} failed"
    page.screenshot(path=shot_path("widgets-notebook"))
    assert page.get_by_text("get notified about", exact=False).count() == 0, "the Jupyter-news pop-up is shown"

    outputs = page.locator(".jp-Cell .jp-OutputArea")
    assert str(Path(sys.prefix)) in outputs.nth(0).inner_text(), "the notebook's kernel is not the course venv's"
    shown = page.locator(".jp-Notebook").inner_text()
    for text in ("VBox(children", "Error displaying widget", "course widget"):
        assert text not in shown, f"a widget renders as text ({text!r}): {shown[-800:]}"
    widgets = page.locator(".jp-OutputArea-output .widget-vbox")
    widgets.nth(2).wait_for()
    assert widgets.count() == 3, "each widget cell shows one widget"
    for i, (widget, end) in enumerate(zip([widgets.nth(0), widgets.nth(1)], ["1.00", "0"])):
        out = widget.locator(".widget-output")
        out.locator("img").first.wait_for()
        assert out.locator("img").count() == 1, f"widget {i} shows {out.locator('img').count()} images"
        out.screenshot(path=shot_path(f"widget{i}-start"))
        before, again = out.locator("img").screenshot(), out.locator("img").screenshot()
        src = out.locator("img").get_attribute("src")
        drag_to_end(page, widget.locator(".widget-slider"))
        page.wait_for_function("([el, end]) => el.innerText.trim() === end",
                               arg=[widget.locator(".widget-readout").element_handle(), end])
        page.wait_for_function("([el, src]) => { const im = el.querySelector('img'); return im && im.src !== src; }",
                               arg=[out.element_handle(), src])
        settle(page, jupyter_lab, out)
        out.screenshot(path=shot_path(f"widget{i}-end"))
        after = out.locator("img").screenshot()
        assert out.locator("img").count() == 1, f"widget {i} shows {out.locator('img').count()} images after the drag"
        assert difference(png(before), png(again)) <= UNCHANGED
        changed = difference(png(before), png(after))
        assert changed > CHANGED, f"widget {i}: the image barely changed ({changed:.1f}) when its slider moved"

    # an error while redrawing is shown under the slider, where the student looks
    widget = widgets.nth(2)
    out = widget.locator(".widget-output")
    out.locator("img").first.wait_for()
    drag_to_end(page, widget.locator(".widget-slider"))
    out.get_by_text("decode failed past the middle").first.wait_for()
    out.screenshot(path=shot_path("widget2-error"))
    assert out.locator("img").count() == 0, "the image of a failed redraw stays up"

    # the progress bar's label ("vae2-mnist: 100%") stays on one line and its bar stays visible
    # (tqdm's own notebook bar breaks the label at the hyphen and shrinks the bar to ~30 px here)
    progress = page.locator(".jp-OutputArea-output .widget-hprogress").first
    label = progress.locator("xpath=..").locator(".widget-html").first
    label.scroll_into_view_if_needed()
    lines = label.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el.querySelector('.widget-html-content'));"
        " return new Set(Array.from(r.getClientRects()).filter(b => b.width > 0).map(b => Math.round(b.top))).size; }")
    width = progress.evaluate("el => el.getBoundingClientRect().width")
    page.screenshot(path=shot_path("progress-bar"))
    assert "vae2-mnist" in label.inner_text() and lines == 1, f"the progress label breaks into {lines} lines"
    assert width >= 100, f"the progress bar is squeezed to {width:.0f} px"
