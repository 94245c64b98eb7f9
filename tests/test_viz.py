"""course_lib.viz: grids for every range and channel count, curves, strips, widgets headless."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import viz
from course_lib.nets import mlp


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5])
def test_grid_any_channel_count(channels):
    x = torch.rand(6, channels, 8, 8)
    g = viz.make_grid(x, nrow=3, pad=1)
    rows = 6 * (channels if channels in (2, 5) else 1)
    ncols = 3
    assert g.shape == (int(np.ceil(rows / ncols)) * 9 + 1, ncols * 9 + 1, 3)
    assert g.min() >= 0 and g.max() <= 1
    viz.show_grid(x, title="t")


def test_range_detection_and_explicit_range():
    x01 = torch.rand(2, 1, 4, 4)
    assert np.allclose(viz.make_grid(x01 * 2 - 1, pad=0, nrow=2)[:, :4, 0], x01[0, 0].numpy(), atol=1e-6)
    assert np.allclose(viz.to_unit(torch.tensor([0.0, 255.0]), (0, 255)).numpy(), [0, 1])
    with pytest.raises(ValueError, match="lo < hi"):
        viz.to_unit(x01, (1, 0))


def test_rgba_composited_on_white():
    x = torch.zeros(1, 4, 2, 2)  # fully transparent black
    assert np.allclose(viz.make_grid(x, pad=0), 1.0)


def test_bad_images():
    with pytest.raises(TypeError, match="torch.Tensor"):
        viz.show_grid(np.zeros((2, 1, 4, 4)))
    with pytest.raises(ValueError, match="empty"):
        viz.make_grid(torch.zeros(0, 1, 4, 4))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        viz.make_grid(torch.zeros(1, 1, 1, 4, 4))


def test_curves_strip_rows_scatter_bar():
    fig = viz.plot_curves({"loss": list(np.linspace(1, 0, 200)), "acc": [0.5] * 200})
    assert len(fig.axes[0].lines) == 4  # raw + smoothed for each
    with pytest.raises(KeyError, match="no curve"):
        viz.plot_curves({"loss": [1.0]}, keys=["kl"])
    viz.show_strip([torch.rand(4, 1, 8, 8)] * 3, labels=["a", "b", "c"])
    with pytest.raises(ValueError, match="3 frames but 2 labels"):
        viz.show_strip([torch.rand(4, 1, 8, 8)] * 3, labels=["a", "b"])
    viz.show_rows({"x": torch.rand(5, 3, 8, 8), "x_hat": torch.rand(5, 3, 8, 8)})
    viz.scatter_2d(torch.randn(50, 2), torch.randint(0, 3, (50,)))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        viz.scatter_2d(torch.randn(5, 3))
    viz.bar({"a": 1.0, "b": 2.0})
    assert np.allclose(viz.smooth([0, 0, 3, 3], 2), [0, 0, 1.5, 3])


def test_strip_shows_every_grid_pixel_so_the_gaps_between_tiles_survive():
    # six frames of a 4x4 grid of 28-pixel digits (117 px square): at the old fixed 10.8 x 2 in, 80 dpi, each
    # panel got ~110 px and the nearest-neighbour resampling dropped the one-pixel gaps between tiles
    frames = [torch.rand(16, 1, 28, 28) for _ in range(6)]
    shown = viz.show_strip(frames, [f"step {i}" for i in range(6)], title="the same 16 latents")
    fig = shown.fig
    for ax in fig.axes:
        ax.apply_aspect()
        pos = ax.get_position()
        assert pos.width * fig.get_figwidth() * fig.dpi >= 117
        assert pos.height * fig.get_figheight() * fig.dpi >= 117
    small = viz.show_strip([torch.rand(4, 1, 8, 8)] * 2)  # already large enough: the size is kept
    assert tuple(small.fig.get_size_inches()) == (3.6, 2.0)


def test_interpolation_widget_is_static_without_frontend(monkeypatch):
    monkeypatch.setenv("COURSE_HEADLESS", "1")
    assert not viz.has_frontend()
    decode = lambda z: torch.sigmoid(z).view(-1, 1, 2, 2)  # noqa: E731
    fig = viz.interpolation_widget(decode, torch.zeros(4), torch.ones(4), steps=5)
    assert isinstance(fig, viz.Shown) and fig.fig.__class__.__name__ == "Figure" and not hasattr(fig, "_repr_png_")
    fig = viz.slider_widget(lambda v: torch.full((1, 1, 2, 2), v), [0.0, 0.5, 1.0], label="t")
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="same shape"):
        viz.interpolation_widget(decode, torch.zeros(4), torch.zeros(3))


def test_live_widgets_redraw_when_the_slider_moves(monkeypatch, capsys):
    """The JupyterLab path without a browser (tests/test_browser.py drags the sliders in one)."""
    import matplotlib.pyplot as plt

    monkeypatch.setattr(viz, "has_frontend", lambda: True)
    titles = []
    real_show_grid = viz.show_grid

    def spy(images, **kw):
        titles.append(kw.get("title"))
        return real_show_grid(images, **kw)

    monkeypatch.setattr(viz, "show_grid", spy)
    decode = lambda z: z[:, :1, None, None].expand(-1, 1, 4, 4)  # noqa: E731
    live = viz.interpolation_widget(decode, torch.zeros(2), torch.ones(2), steps=5, title="walk")
    assert isinstance(live, viz.Live) and "VBox" in repr(live)
    slider, _ = live.children  # forwarded to the widget
    assert titles == ["walk\nt = 0.00"]  # drawn once, with the title the static strip has
    slider.value = 1.0
    assert titles[-1] == "walk\nt = 1.00" and len(titles) == 2
    assert plt.get_fignums() == []  # each figure closed: the inline backend will not show it again
    live = viz.slider_widget(lambda v: torch.full((1, 1, 2, 2), v), [0.0, 0.5], label="w", title="sweep")
    s = live.widget.children[0]
    assert s.label == "0" and titles[-1] == "sweep\nw = 0"
    s.value = 1
    assert s.label == "0.5" and titles[-1] == "sweep\nw = 0.5"  # the readout shows the value, not its index
    live._ipython_display_()  # displayed when made, not again as the cell's value


def test_interpolate_endpoints_linear_and_spherical():
    z0, z1 = torch.randn(8), torch.randn(8)
    for sph in (False, True):
        zs = viz.interpolate(z0, z1, torch.tensor([0.0, 1.0]), spherical=sph)
        assert torch.allclose(zs[0], z0, atol=1e-5) and torch.allclose(zs[1], z1, atol=1e-5)
    mid = viz.interpolate(z0, z1, torch.tensor([0.5]), spherical=True)[0]
    assert mid.norm() > viz.interpolate(z0, z1, torch.tensor([0.5]))[0].norm()  # slerp keeps the norm up


def test_curves_use_logged_step_numbers():
    fig = viz.plot_curves({"step": [50, 100, 150], "d_loss": [1.0, 0.8, 0.7], "time": [1, 2, 3]})
    lines = fig.axes[0].lines
    assert len(lines) == 1 and list(lines[0].get_xdata()) == [50, 100, 150]


def test_gan_figures():
    img = viz.density_image(torch.zeros(10, 2))
    assert img.shape == (1, 64, 64) and float(img.min()) == 0.0 and float(img.max()) == 1.0
    x = torch.linspace(0, 1, 5)
    fig = viz.curve_strip(x, [{"a": x}, {"a": x ** 2}], ["one", "two"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="2 frames but 1 titles"):
        viz.curve_strip(x, [{"a": x}, {"a": x}], ["one"])
    D = mlp.discriminator(2, (8,))
    pts = torch.randn(50, 2)
    fig = viz.plot_decision_boundaries({"D": lambda p: torch.sigmoid(D(p))}, pts, pts, n=20)
    assert len(fig.axes) == 2                     # panel + colour bar
    assert len(viz.plot_xy({"s": ([1, 2], [3, 4])}, "x", "y").axes) == 1


def test_plot_1d_panels_shades_densities_and_checks_lengths():
    x = torch.linspace(-3, 3, 50)
    dens = {"data": torch.exp(-(x - 2) ** 2), "fakes": torch.exp(-(x + 2) ** 2)}
    fig = viz.plot_1d_panels(x, [{"D": torch.sigmoid(x)}, {"|grad|": torch.exp(x), "other": 1 + x ** 2}],
                             ["scores", "gradients"], densities=dens, logy=[False, True], ylabels=["s", "g"])
    assert len(fig.axes) == 4                     # two panels, each with a hidden axes for the densities
    assert fig.axes[1].get_yscale() == "log" and fig.axes[0].get_yscale() == "linear"
    assert len(fig.axes[1].lines) == 2
    assert len(viz.plot_1d_panels(x, [{"D": x}], ["one"]).axes) == 1
    with pytest.raises(ValueError, match="one title per panel"):
        viz.plot_1d_panels(x, [{"D": x}], ["one", "two"])
    with pytest.raises(ValueError, match="has 10 values but the grid x has 50"):
        viz.plot_1d_panels(x, [{"D": x[:10]}], ["one"])
    with pytest.raises(ValueError, match="one entry per panel"):
        viz.plot_1d_panels(x, [{"D": x}], ["one"], logy=[True, False])
