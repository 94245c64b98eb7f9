"""All plotting of the course: image grids, training curves, sample strips, latent widgets.

Images may be in [0, 1] or [-1, 1] (detected, or say ``value_range=``) with any channel
count: 1 is shown gray, 3 as RGB, 4 as RGBA composited on white, other counts as one gray
panel per channel. Every function returns a :class:`Shown` (the figure, displayed once; ``.fig``, ``.savefig``);
the slider widgets in JupyterLab return a :class:`Live` (the widget, displayed once).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from . import checks

class Shown:
    """What a plotting function returns: the figure, shown once in Jupyter.

    In a notebook the figure is displayed by the inline backend when the cell ends; returning
    the bare Figure would display it a second time as the cell's value. ``Shown`` forwards
    every attribute to the figure (``.savefig``, ``.axes``) and ``.fig`` is the Figure itself.
    """

    def __init__(self, fig: plt.Figure):
        self.fig = fig

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fig, name)

    def _ipython_display_(self) -> None:
        """Nothing: the inline backend already shows the open figure."""

    def __repr__(self) -> str:
        w, h = self.fig.get_size_inches()
        return f"<course figure {w:.1f}x{h:.1f} in, {len(self.fig.axes)} axes>"


class Live:
    """What a widget function returns in JupyterLab: the ipywidgets box, already displayed once.

    Like :class:`Shown` for figures: the cell's value does not display it again (and a trailing
    ``;``, which hides a cell's value, does not hide it). ``.widget`` is the box; other attributes
    are forwarded to it; ``IPython.display.display(live.widget)`` shows it once more.
    """

    def __init__(self, widget: Any):
        self.widget = widget

    def __getattr__(self, name: str) -> Any:
        if name == "widget":  # not set yet (copy, pickle): no recursion
            raise AttributeError(name)
        return getattr(self.widget, name)

    def _ipython_display_(self) -> None:
        """Nothing: the widget was displayed when it was made."""

    def __repr__(self) -> str:
        return f"<course widget: {type(self.widget).__name__} of {len(self.widget.children)}>"


def _shows(fn):
    @functools.wraps(fn)
    def wrapper(*args: Any, **kw: Any) -> Any:
        out = fn(*args, **kw)
        return Shown(out) if isinstance(out, plt.Figure) else out
    return wrapper


plt.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "axes.grid": False, "image.interpolation": "nearest"})


def to_unit(x: torch.Tensor, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Map images to [0, 1] for display.

    Args:
        x: (B, C, H, W) or (C, H, W) or (H, W) float tensor.
        value_range: ``(lo, hi)`` of the input; default ``(-1, 1)`` if any value is below 0,
            else ``(0, 1)``.

    Returns:
        Float tensor on the CPU, clamped to [0, 1].
    """
    x = checks.tensor(x, "images").detach().float().cpu()
    if value_range is None:
        value_range = (-1.0, 1.0) if x.numel() and x.min() < -1e-3 else (0.0, 1.0)
    lo, hi = value_range
    if hi <= lo:
        raise ValueError(f"value_range must be (lo, hi) with lo < hi, got {value_range}")
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def _as_batch(images: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
    if isinstance(images, (list, tuple)):
        images = torch.stack([checks.tensor(i, "images[i]") for i in images])
    x = checks.tensor(images, "images")
    if x.ndim == 2:
        x = x[None, None]
    elif x.ndim == 3:
        # (C, H, W) for one image with 1, 3 or 4 channels, else a gray batch (B, H, W)
        x = x[None] if x.shape[0] in (1, 3, 4) else x[:, None]
    checks.ndim(x, "images", 4, "(B, C, H, W)")
    return x


def _rgb(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) in [0,1] -> (B, 3 or 1, H, W) displayable; RGBA on white; C=2 or C>4 per channel."""
    c = x.shape[1]
    if c == 4:
        a = x[:, 3:4]
        return x[:, :3] * a + (1 - a)
    if c in (1, 3):
        return x
    return x.reshape(-1, 1, *x.shape[2:])  # one gray panel per channel


def make_grid(images: torch.Tensor | Sequence[torch.Tensor], nrow: int | None = None, pad: int = 1,
              value_range: tuple[float, float] | None = None, pad_value: float = 1.0) -> np.ndarray:
    """Tile a batch into one (H', W', 3) numpy image in [0, 1].

    Args:
        images: (B, C, H, W) in [0, 1] or [-1, 1], any C.
        nrow: images per row (default about sqrt(B)).
        pad: pixels between tiles.
        value_range: input range (default detected).
        pad_value: colour of the padding.
    """
    x = _rgb(to_unit(_as_batch(images), value_range))
    b, c, h, w = x.shape
    if b == 0:
        raise ValueError("images is empty: nothing to show")
    nrow = nrow or max(1, int(math.ceil(math.sqrt(b))))
    checks.positive_int(nrow, "nrow")
    ncol_rows = int(math.ceil(b / nrow))
    grid = torch.full((3, ncol_rows * (h + pad) + pad, nrow * (w + pad) + pad), pad_value)
    for i in range(b):
        r, q = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = x[i]
    return grid.permute(1, 2, 0).numpy()


@_shows
def show_grid(images: torch.Tensor | Sequence[torch.Tensor], nrow: int | None = None, title: str | None = None,
              value_range: tuple[float, float] | None = None, scale: float = 1.0, ax: plt.Axes | None = None,
              pad: int = 1) -> Shown:
    """Show a batch of images as a grid.

    Args:
        images: (B, C, H, W) tensor in [0, 1] or [-1, 1] (detected), any channel count.
        nrow: images per row.
        title: axes title.
        value_range: input range, to override the detection.
        scale: figure size multiplier.
        ax: draw into an existing axes.

    Returns:
        The figure.
    """
    grid = make_grid(images, nrow=nrow, value_range=value_range, pad=pad)
    if ax is None:
        hpx, wpx = grid.shape[:2]
        w = min(12.0, max(2.5, wpx / 40)) * scale
        fig, ax = plt.subplots(figsize=(w, max(1.0, w * hpx / wpx)))
    else:
        fig = ax.figure
    ax.imshow(grid, vmin=0, vmax=1)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)
    return fig


@_shows
def show_rows(rows: Mapping[str, torch.Tensor], value_range: tuple[float, float] | None = None,
              scale: float = 1.0, title: str | None = None) -> Shown:
    """Several labelled rows of images (e.g. inputs / reconstructions / PCA), one row per entry."""
    if not rows:
        raise ValueError("rows is empty: pass {'label': images, ...}")
    n = len(rows)
    first = _as_batch(next(iter(rows.values())))
    w = min(12.0, max(3.0, first.shape[0] * 0.9)) * scale
    fig, axes = plt.subplots(n, 1, figsize=(w, 1.0 * scale * n * max(1, w / max(1, first.shape[0])) + 0.3))
    axes = np.atleast_1d(axes)
    for ax, (label, imgs) in zip(axes, rows.items()):
        ax.imshow(make_grid(imgs, nrow=len(_as_batch(imgs)), value_range=value_range), vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        for s in ax.spines.values():
            s.set_visible(False)
        ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


@_shows
def show_strip(frames: Sequence[torch.Tensor], labels: Sequence[Any] | None = None, title: str | None = None,
               value_range: tuple[float, float] | None = None, scale: float = 1.0) -> Shown:
    """Samples over time: one column per frame (each a batch shown as a small grid).

    Args:
        frames: list of (B, C, H, W) batches, e.g. the same z decoded after each epoch.
        labels: caption per frame (e.g. ``"step 200"``).
    """
    if len(frames) == 0:
        raise ValueError("frames is empty")
    if labels is not None and len(labels) != len(frames):
        raise ValueError(f"got {len(frames)} frames but {len(labels)} labels")
    n = len(frames)
    grids = [make_grid(f, value_range=value_range) for f in frames]
    fig, axes = plt.subplots(1, n, figsize=(min(14.0, 1.8 * n) * scale, 2.0 * scale))
    axes = np.atleast_1d(axes)
    for i, (ax, grid) in enumerate(zip(axes, grids)):
        ax.imshow(grid, vmin=0, vmax=1)
        ax.set_axis_off()
        if labels is not None:
            ax.set_title(str(labels[i]), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _at_least_one_pixel_each(fig, axes, grids)
    return fig


def _at_least_one_pixel_each(fig: plt.Figure, axes: Sequence[plt.Axes], images: Sequence[np.ndarray],
                             limit_in: float = 30.0) -> None:
    """Grow ``fig`` until every image gets at least one screen pixel per image pixel (up to ``limit_in`` wide).

    Smaller, the nearest-neighbour resampling drops whole rows and columns: a 4x4 grid's
    one-pixel white gaps vanish and it reads as a 3x3 grid of unequal tiles. A larger PNG is
    scaled down smoothly by the browser or the viewer instead.
    """
    for _ in range(4):
        shrink = 1.0
        for ax, img in zip(axes, images):
            ax.apply_aspect()
            pos = ax.get_position()
            w_px, h_px = pos.width * fig.get_figwidth() * fig.dpi, pos.height * fig.get_figheight() * fig.dpi
            shrink = min(shrink, w_px / img.shape[1], h_px / img.shape[0])
        if shrink >= 1.0:
            return
        w, h = fig.get_size_inches()
        grow = min(1.02 / shrink, limit_in / w)
        if grow <= 1.0:
            return
        fig.set_size_inches(w * grow, h * grow)
        fig.tight_layout()


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average with a window shrunk at the start (same length as input)."""
    v = np.asarray(values, dtype=float)
    if window <= 1 or len(v) < 2:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, len(v) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


@_shows
def plot_curves(history: Mapping[str, Sequence[float]], keys: Sequence[str] | None = None,
                smooth_window: int | None = None, title: str | None = None, logy: bool = False,
                xlabel: str = "step", ax: plt.Axes | None = None) -> Shown:
    """Training curves from a history ``{"loss": [...], ...}`` (raw faint, smoothed bold)."""
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a dict of lists, got {type(history).__name__}")
    keys = list(keys) if keys is not None else [k for k, v in history.items() if len(v) and k not in ("step", "time")]
    unknown = [k for k in keys if k not in history]
    if unknown:
        raise KeyError(f"no curve {unknown} in history; it has {sorted(history)}")
    if not keys:
        raise ValueError("history has no values to plot")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3))
    else:
        fig = ax.figure
    steps = history.get("step")
    for k in keys:
        v = np.asarray(history[k], dtype=float)
        # histories logged every k steps carry their step numbers in history["step"]
        x = np.asarray(steps, dtype=float) if steps is not None and len(steps) == len(v) else np.arange(len(v))
        win = smooth_window or max(1, len(v) // 50)
        line, = ax.plot(x, v, alpha=0.25 if win > 1 else 1.0)
        if win > 1:
            ax.plot(x, smooth(v, win), color=line.get_color(), label=k)
        else:
            line.set_label(k)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


@_shows
def scatter_2d(points: torch.Tensor | np.ndarray, labels: Sequence[int] | torch.Tensor | None = None,
               title: str | None = None, ax: plt.Axes | None = None, s: float = 4, **kw: Any) -> Shown:
    """2-D points (N, 2), optionally coloured by integer label (latent spaces, mixtures)."""
    p = np.asarray(points.detach().cpu() if isinstance(points, torch.Tensor) else points, dtype=float)
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must have shape (N, 2), got {p.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4))
    else:
        fig = ax.figure
    if labels is not None:
        lab = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels)
        sc = ax.scatter(p[:, 0], p[:, 1], c=lab, cmap="tab10", s=s, **kw)
        if len(np.unique(lab)) <= 10:
            ax.legend(*sc.legend_elements(), fontsize=7, loc="best", markerscale=0.8)
    else:
        ax.scatter(p[:, 0], p[:, 1], s=s, **kw)
    ax.set_aspect("equal", "datalim")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def has_frontend() -> bool:
    """True inside a live Jupyter kernel with widgets; False headless (``COURSE_HEADLESS=1``) or in scripts."""
    if os.environ.get("COURSE_HEADLESS", "") not in ("", "0"):
        return False
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and "IPKernelApp" in ip.config
    except Exception:  # pragma: no cover
        return False


@_shows
def interpolation_widget(decode: Callable[[torch.Tensor], torch.Tensor], z0: torch.Tensor, z1: torch.Tensor,
                         steps: int = 8, spherical: bool = False, value_range: tuple[float, float] | None = None,
                         title: str = "latent interpolation") -> Any:
    """A slider that decodes ``(1 - t) z0 + t z1``; a static strip of ``steps`` frames without a front end.

    Args:
        decode: maps latents (B, ...) to images (B, C, H, W).
        z0, z1: two latents of the same shape (one item, no batch dim, or (1, ...)).
        steps: frames in the static version.
        spherical: slerp instead of linear interpolation (better for Gaussian latents).

    Returns:
        A :class:`Live` (the slider and its image, already displayed) in JupyterLab, else a :class:`Shown`
        (the static strip). Either way the cell shows it once, with or without a trailing ``;``.
    """
    z0, z1 = checks.tensor(z0, "z0"), checks.tensor(z1, "z1")
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")

    def at(ts: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return decode(interpolate(z0, z1, ts, spherical))

    if not has_frontend():
        ts = torch.linspace(0, 1, steps)
        fig = show_grid(at(ts), nrow=steps, value_range=value_range, title=title + " (t = 0 ... 1)")
        return fig
    # the live path runs in JupyterLab: tests/test_browser.py drags this slider in headless Chromium
    import ipywidgets as widgets

    slider = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=1 / max(1, steps - 1), description="t")
    return _live(slider, lambda t: show_grid(at(torch.tensor([t])), value_range=value_range,
                                             title=f"{title}\nt = {t:.2f}", scale=0.6))


def interpolate(z0: torch.Tensor, z1: torch.Tensor, ts: torch.Tensor, spherical: bool = False) -> torch.Tensor:
    """Latents between z0 and z1 at fractions ``ts`` (T,) -> (T, *z.shape without a leading 1)."""
    z0 = z0.reshape(z0.shape[1:]) if z0.ndim > 1 and z0.shape[0] == 1 else z0
    z1 = z1.reshape(z1.shape[1:]) if z1.ndim > 1 and z1.shape[0] == 1 else z1
    t = ts.to(z0).reshape(-1, *([1] * z0.ndim))
    if not spherical:
        return (1 - t) * z0 + t * z1
    a, b = z0.flatten(), z1.flatten()
    omega = torch.arccos((a / a.norm()).dot(b / b.norm()).clamp(-1 + 1e-7, 1 - 1e-7))
    so = torch.sin(omega)
    return (torch.sin((1 - t) * omega) / so) * z0 + (torch.sin(t * omega) / so) * z1


@_shows
def slider_widget(render: Callable[[float], torch.Tensor], values: Sequence[float], label: str = "value",
                  value_range: tuple[float, float] | None = None, title: str | None = None) -> Any:
    """A slider over ``values`` that shows ``render(v)`` (images); static strip of all values headless.

    Returns a :class:`Live` in JupyterLab (the slider's readout shows the value), else a :class:`Shown`.
    """
    values = list(values)
    if not values:
        raise ValueError("values is empty")
    if not has_frontend():
        frames = [render(v) for v in values]
        return show_strip(frames, [f"{label}={v:.2g}" for v in values], title=title, value_range=value_range)
    # the live path runs in JupyterLab: tests/test_browser.py drags this slider in headless Chromium
    import ipywidgets as widgets

    # the readout shows the value, not its index
    s = widgets.SelectionSlider(options=[(f"{v:.3g}", i) for i, v in enumerate(values)], index=0, description=label)
    return _live(s, lambda i: show_grid(render(values[i]), value_range=value_range,
                                        title=(f"{title}\n" if title else "") + f"{label} = {values[i]:.3g}"))


def _live(slider: Any, draw: Callable[[Any], Shown]) -> Live:
    """Display ``VBox([slider, output])``: the figure ``draw(slider.value)``, redrawn whenever the slider moves.

    Each redraw replaces the output's one image (the figure is closed, so the inline backend does not
    show it a second time), and an error while drawing is shown in the output under the slider, where
    the student looks. The box is displayed here, so a cell ending in ``;`` still shows it.
    """
    import ipywidgets as widgets
    from IPython.display import display

    out = widgets.Output()

    def redraw(value: Any) -> None:
        with out:  # an exception raised here is shown in ``out`` (ipywidgets prints the traceback there)
            out.clear_output(wait=True)
            fig = draw(value).fig
            try:
                display(fig)
            finally:
                plt.close(fig)

    slider.observe(lambda change: redraw(change["new"]), names="value")
    redraw(slider.value)
    box = widgets.VBox([slider, out])
    display(box)
    return Live(box)


@_shows
def bar(values: Mapping[str, float], title: str | None = None, ylabel: str = "", ax: plt.Axes | None = None,
        fmt: str = "{:.3g}") -> Shown:
    """A labelled bar chart of named numbers (values printed on the bars)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(3.0, 0.8 * len(values) + 1), 3))
    else:
        fig = ax.figure
    names, vals = list(values), [float(v) for v in values.values()]
    bars = ax.bar(range(len(vals)), vals, color="tab:blue")
    tilt = len(names) > 4 or sum(len(n) for n in names) > 36  # long labels would overlap
    ax.set_xticks(range(len(vals)), names, rotation=25 if tilt else 0, ha="right" if tilt else "center")
    for b_, v in zip(bars, vals):
        ax.annotate(fmt.format(v), (b_.get_x() + b_.get_width() / 2, b_.get_height()), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


@_shows
def imshow(img: torch.Tensor | np.ndarray, title: str | None = None, ax: plt.Axes | None = None,
           cmap: str | None = None, **kw: Any) -> Shown:
    """One image: (H, W), (C, H, W) tensor or (H, W, C) array; ranges as in :func:`to_unit`."""
    if isinstance(img, np.ndarray):
        img = torch.from_numpy(np.ascontiguousarray(img)).float()
        if img.ndim == 3 and img.shape[-1] in (1, 3, 4):
            img = img.permute(2, 0, 1)
    x = _rgb(to_unit(_as_batch(img)))[0]
    if ax is None:
        fig, ax = plt.subplots(figsize=(3, 3))
    else:
        fig = ax.figure
    if x.shape[0] == 1:
        ax.imshow(x[0].numpy(), cmap=cmap or "gray", vmin=0, vmax=1, **kw)
    else:
        ax.imshow(x.permute(1, 2, 0).numpy(), **kw)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)
    return fig


# ----------------------------------------------------------------------------------------
# Figures of the GAN chapters: toy densities, 1-D curves, decision boundaries, x-y series
# ----------------------------------------------------------------------------------------
def density_image(points: torch.Tensor, lim: float = 2.6, bins: int = 64) -> torch.Tensor:
    """A 2-D histogram of points (N, 2) as a (1, bins, bins) image in [0, 1] (dark = dense), for ``viz.show_strip``.

    Args:
        points: (N, 2) samples.
        lim: the square [-lim, lim]^2 shown.
        bins: pixels per side.

    Returns:
        (1, bins, bins) float tensor; y points up.
    """
    checks.ndim(points, "points", 2, "(N, 2)")
    p = points.detach().float().cpu()
    h = torch.histogramdd(p, bins=[bins, bins], range=[-lim, lim, -lim, lim]).hist   # (x bins, y bins)
    h = (h / h.max().clamp_min(1)).sqrt()                 # sqrt: faint modes stay visible
    return (1 - h.T.flip(0))[None]


def curve_strip(x: torch.Tensor, frames: Sequence[Mapping[str, torch.Tensor]], titles: Sequence[str],
                styles: Mapping[str, str] | None = None, ylim: tuple[float, float] | None = (0, 1.05),
                title: str | None = None) -> Any:
    """Panels of 1-D curves, one panel per frame (the Goodfellow et al. 2014 Fig. 1 strip).

    Args:
        x: (M,) grid.
        frames: per panel, ``{label: (M,) values}``.
        titles: one caption per panel.
        styles: matplotlib format per label (``{"data": "k-", "D(x)": "b--"}``).
        ylim: y-axis limits.
    """
    if len(frames) != len(titles):
        raise ValueError(f"got {len(frames)} frames but {len(titles)} titles")
    n = len(frames)
    fig, axes = plt.subplots(1, n, figsize=(min(14.0, 2.6 * n), 2.4), sharey=True)
    axes = [axes] if n == 1 else list(axes)
    xs = x.detach().cpu().numpy()
    for ax, fr, t in zip(axes, frames, titles):
        for k, y in fr.items():
            ax.plot(xs, torch.as_tensor(y).detach().cpu().numpy(), (styles or {}).get(k, "-"), label=k, lw=1.5)
        ax.set_title(t, fontsize=9)
        if ylim:
            ax.set_ylim(*ylim)
    axes[0].legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return Shown(fig)


def plot_1d_panels(x: torch.Tensor, panels: Sequence[Mapping[str, torch.Tensor]], titles: Sequence[str],
                   densities: Mapping[str, torch.Tensor] | None = None, logy: bool | Sequence[bool] = False,
                   ylabels: Sequence[str] | None = None, title: str | None = None) -> Any:
    """Panels of curves over a 1-D grid with densities shaded behind them.

    The 1-D pictures of the GAN losses: discriminators and critics over x in one panel, the gradient
    each gives the generator in another (log scale), the data and the fakes shaded in both.

    Args:
        x: (M,) grid.
        panels: per panel, ``{label: (M,) values}``.
        titles: one caption per panel.
        densities: ``{label: (M,) density}`` shaded in every panel on a hidden second y axis.
        logy: log-scaled y axis, one flag for all panels or one per panel (gradient magnitudes).
        ylabels: one y label per panel.
        title: figure title.

    Returns:
        The figure (one axes per panel, plus one hidden axes per panel for the densities).

    Reference:
        Arjovsky & Bottou 2017, arXiv:1701.04862, Fig. 2; Arjovsky et al. 2017, arXiv:1701.07875, Fig. 2.
    """
    n = len(panels)
    if n == 0 or len(titles) != n:
        raise ValueError(f"need one title per panel, got {n} panels and {len(titles)} titles")
    flags = [bool(logy)] * n if isinstance(logy, bool) else [bool(f) for f in logy]
    if len(flags) != n or (ylabels is not None and len(ylabels) != n):
        raise ValueError(f"logy and ylabels need one entry per panel ({n})")
    xs = checks.ndim(checks.tensor(x, "x"), "x", 1, "(M,)").detach().float().cpu().numpy()

    def values(v: torch.Tensor, what: str) -> np.ndarray:
        a = torch.as_tensor(v).detach().float().cpu().reshape(-1).numpy()
        if len(a) != len(xs):
            raise ValueError(f"{what} has {len(a)} values but the grid x has {len(xs)}")
        return a

    fig, axes = plt.subplots(1, n, figsize=(min(14.0, 4.2 * n), 3.0))
    axes = [axes] if n == 1 else list(axes)
    for i, (ax, curves, t) in enumerate(zip(axes, panels, titles)):
        if densities:
            shade = ax.twinx()
            for (name, dens), color in zip(densities.items(), ("0.3", "tab:red", "tab:green", "tab:purple")):
                shade.fill_between(xs, values(dens, f"density {name!r}"), color=color, alpha=0.15, lw=0,
                                   label=name if i == 0 else None)
            shade.set_yticks([])
            shade.set_ylim(bottom=0)
            ax.set_zorder(shade.get_zorder() + 1)
            ax.patch.set_visible(False)
            if i == 0:
                shade.legend(fontsize=7, loc="lower right")
        for name, y in curves.items():
            ax.plot(xs, values(y, f"curve {name!r}"), lw=1.5, label=name)
        if flags[i]:
            ax.set_yscale("log")
        if ylabels is not None:
            ax.set_ylabel(ylabels[i], fontsize=8)
        ax.set_xlabel("x", fontsize=8)
        ax.set_title(t, fontsize=9)
        ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return Shown(fig)


def plot_decision_boundaries(scores: Mapping[str, Callable[[torch.Tensor], torch.Tensor]], x_real: torch.Tensor,
                             x_fake: torch.Tensor | Mapping[str, torch.Tensor], lim: float = 2.6, n: int = 120,
                             levels: Mapping[str, float] | None = None, title: str | None = None) -> Any:
    """D's score over the plane for several discriminators, with its decision boundary and the data.

    Args:
        scores: ``{name: fn}``, fn maps points (P, 2) to scores (P,) (already squashed if wanted).
        x_real: (N, 2) data points (black).
        x_fake: (N, 2) generated points (yellow), one set or one per name.
        lim: the square shown; n: grid points per side.
        levels: the decision level per name (default 0.5 for scores in [0, 1], else 0).

    Returns:
        The figure: filled contours of each score with the level set at the panel's threshold
        (0.5 after a sigmoid; 0 otherwise) drawn in white.
    """
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([xx.reshape(-1), yy.reshape(-1)], 1)
    k = len(scores)
    fig, axes = plt.subplots(1, k, figsize=(min(14.0, 3.2 * k), 3.1))
    axes = [axes] if k == 1 else list(axes)
    for ax, (name, fn) in zip(axes, scores.items()):
        with torch.no_grad():
            s = fn(grid).reshape(n, n).float().cpu()
        cs = ax.contourf(xx.numpy(), yy.numpy(), s.numpy(), levels=20, cmap="coolwarm")
        level = (levels or {}).get(name, 0.5 if float(s.min()) >= 0 and float(s.max()) <= 1 else 0.0)
        if float(s.min()) < level < float(s.max()):
            ax.contour(xx.numpy(), yy.numpy(), s.numpy(), levels=[level], colors="w", linewidths=2)
        fake = x_fake[name] if isinstance(x_fake, Mapping) else x_fake
        ax.scatter(*x_real[:400].T.cpu().numpy(), s=2, c="k", label="data")
        ax.scatter(*fake[:400].T.detach().cpu().numpy(), s=2, c="yellow", label="G(z)")
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        fig.colorbar(cs, ax=ax, fraction=0.046)
    axes[0].legend(fontsize=7, loc="lower left")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return Shown(fig)


def plot_xy(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
            title: str | None = None, marker: str = "o-") -> Any:
    """Named (x, y) series on one axes (e.g. critic estimate vs FID over training)."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, (xs, ys) in series.items():
        ax.plot(list(xs), list(ys), marker, label=name, ms=4)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return Shown(fig)
