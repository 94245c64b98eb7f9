"""3D-GAN networks (course_lib.nets.voxels) and voxel rendering / metrics (course_lib.voxels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import jaccard_score
from torch import nn

from course_lib import data, voxels
from course_lib.nets import voxels as vnets


def _cube(size: int, lo: int, hi: int) -> torch.Tensor:
    x = torch.zeros(1, 1, size, size, size)
    x[..., lo:hi, lo:hi, lo:hi] = 1
    return x


# -- networks ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [16, 32])
def test_generator_and_discriminator_shapes(size):
    torch.manual_seed(0)
    G, D = vnets.Generator(20, size, width=4), vnets.Discriminator(size, width=4)
    x = G(torch.randn(3, 20))
    assert x.shape == (3, 1, size, size, size)
    assert 0 <= x.min() and x.max() <= 1                     # sigmoid occupancies
    assert D(x).shape == (3,)
    n_up = sum(isinstance(m, nn.ConvTranspose3d) for m in G.modules())
    assert n_up == vnets.num_layers(size) + 1                # 4^3 start + one x2 layer per doubling


def test_paper_generator_widths():
    G = vnets.Generator(vnets.LATENT_DIM, 64, width=64)
    widths = [m.out_channels for m in G.modules() if isinstance(m, nn.ConvTranspose3d)]
    assert widths == [512, 256, 128, 64, 1]                  # Wu et al. 2016, Fig. 1
    D = vnets.Discriminator(64, width=64)
    assert [m.out_channels for m in D.modules() if isinstance(m, nn.Conv3d)] == [64, 128, 256, 512, 1]


def test_convt3d_out_matches_torch():
    for side, k, s, p in [(1, 4, 1, 0), (4, 4, 2, 1), (5, 3, 2, 0), (7, 2, 2, 0)]:
        out = nn.ConvTranspose3d(1, 1, k, s, p)(torch.zeros(1, 1, side, side, side))
        assert out.shape[-1] == vnets.convt3d_out(side, k, s, p)


def test_bad_inputs_name_the_expected_shape():
    with pytest.raises(ValueError, match="one of"):
        vnets.Generator(8, size=24)
    D = vnets.Discriminator(16, width=2)
    with pytest.raises(ValueError, match=r"\(B, 1, 16, 16, 16\)"):
        D(torch.zeros(2, 1, 32, 32, 32))
    with pytest.raises(ValueError, match="one channel"):
        voxels.occupancy(torch.zeros(2, 3, 8, 8, 8))


def test_classifier_learns_the_shape_classes(ckpt_dir):
    torch.manual_seed(0)
    x, y = data.voxel_shapes(120, 16, seed=0)
    clf = vnets.Classifier(len(data.VOXEL_CLASSES), 16, width=8)
    hist = voxels.train_classifier("voxel-clf", clf, x, y, num_steps=60, batch_size=32, lr=3e-3)
    assert hist["loss"][-1] < hist["loss"][0]
    assert (voxels.predict(clf, x) == y).float().mean() > 0.75
    x32, y32 = data.voxel_shapes(60, 32, seed=3)          # larger grids are pooled down to the classifier's 16^3
    assert (voxels.predict(clf, x32) == y32).float().mean() > 0.6


# -- sampling: latents go to the generator's device -------------------------------------
class _DeviceCheckingGenerator(nn.Module):
    """Parameters on the 'meta' device (a stand-in for a GPU): refuses latents from anywhere else."""

    def __init__(self, size: int = 8):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1, device="meta"))
        self.size = size

    def forward(self, z):
        if z.device != self.w.device:
            raise RuntimeError(f"z on {z.device} but the generator on {self.w.device}")
        return torch.zeros(z.shape[0], 1, self.size, self.size, self.size)     # (CPU) grids


def test_decode_moves_latents_to_the_generators_device():
    G = _DeviceCheckingGenerator()
    z = torch.randn(3, 5)                                   # a seeded CPU latent, as the notebook's walk
    with pytest.raises(RuntimeError, match="meta"):
        G(z)                                                # the bug of notebook 20, cell 21 on a GPU
    x = voxels.decode(G, z)
    assert x.shape == (3, 1, 8, 8, 8) and x.device == z.device


def test_decode_is_eval_mode_generator_output_in_batches():
    torch.manual_seed(0)
    G = vnets.Generator(20, 16, width=4)
    z = torch.randn(5, 20)
    x = voxels.decode(G, z, batch_size=2)
    assert G.training                                       # the training flag is restored
    with torch.no_grad():
        ref = G.eval()(z)
    torch.testing.assert_close(x, ref)
    with pytest.raises(ValueError, match="latent_dim"):
        voxels.decode(G, torch.randn(5, 20, 1))


def test_walk_endpoints_best_of_the_two_best_classes():
    scores = torch.tensor([0.5, 0.9, 0.7, 0.8, 0.95, 0.1])
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    assert voxels.walk_endpoints(scores, labels) == (4, 1)    # best of class 2, then best of class 0
    assert voxels.walk_endpoints(scores, torch.zeros(6)) == (4, 1)   # one class: its two best samples
    with pytest.raises(ValueError, match="same length"):
        voxels.walk_endpoints(scores, labels[:3])


# -- metrics -------------------------------------------------------------------------------
def test_iou_against_sklearn_jaccard():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(4, 1, 8, 8, 8, generator=g), torch.rand(4, 1, 8, 8, 8, generator=g)
    got = voxels.iou(a, b)
    ref = [jaccard_score((a[i] > 0.5).flatten().numpy(), (b[i] > 0.5).flatten().numpy()) for i in range(4)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-6)
    assert voxels.iou(a, a).eq(1).all()
    assert voxels.iou(_cube(8, 0, 4), _cube(8, 4, 8)).item() == 0
    assert voxels.iou(_cube(8, 0, 4), _cube(8, 0, 2)).item() == pytest.approx(8 / 64)
    assert voxels.iou(torch.zeros(1, 1, 4, 4, 4), torch.zeros(1, 1, 4, 4, 4)).item() == 1   # empty vs empty


def test_nearest_iou_is_brute_force_max():
    x, _ = data.voxel_shapes(7, 16, seed=1)
    ref, _ = data.voxel_shapes(11, 16, seed=2)
    ref[5] = x[3]                                           # an exact copy is found with IoU 1
    best, idx = voxels.nearest_iou(x, ref, chunk=3)
    brute = torch.stack([voxels.iou(x[i:i + 1].expand_as(ref), ref) for i in range(len(x))])
    torch.testing.assert_close(best, brute.max(1).values)
    assert idx[3] == 5 and best[3] == 1
    with pytest.raises(ValueError, match="same grid size"):
        voxels.nearest_iou(x, torch.zeros(2, 1, 8, 8, 8))


def test_occupancy_histogram_and_tv_distance():
    assert voxels.occupancy(_cube(8, 0, 4)).item() == pytest.approx(1 / 8)
    h = voxels.class_histogram(torch.tensor([0, 0, 2, 3]), 4)
    torch.testing.assert_close(h, torch.tensor([0.5, 0.0, 0.25, 0.25]))
    assert voxels.tv_distance(h, h) == 0
    assert voxels.tv_distance(torch.tensor([1.0, 0]), torch.tensor([0, 1.0])) == 1


# -- rendering -----------------------------------------------------------------------------
def test_camera_is_orthonormal():
    for e, a in [(0, 0), (25, 40), (60, 220), (90, 10)]:
        R = voxels.camera(e, a)
        torch.testing.assert_close(R @ R.T, torch.eye(3), atol=1e-6, rtol=0)


def test_render_shapes_background_and_orientation():
    empty = torch.zeros(1, 1, 16, 16, 16)
    img = voxels.render(empty, image_size=24)
    assert img.shape == (1, 3, 24, 24) and img.eq(1).all()  # nothing: white
    top = torch.zeros(1, 1, 16, 16, 16)
    top[:, :, 10:14, 4:12, 4:12] = 1                         # a slab in the upper half (z is up, first axis)
    img = voxels.render(top, elevation=0, azimuth=0, image_size=32)
    assert 0 <= img.min() and img.max() <= 1
    solid = (img < 1).any(1)[0]                              # (H, W) object mask
    rows = solid.any(1).nonzero().flatten()
    assert rows.max() < 16                                   # seen from the side, the slab is in the top half


def test_render_silhouette_area_from_above():
    size, extent, s = 32, 1.2, 64
    x = _cube(size, 8, 24)                                   # half-side 0.5 of the [-1, 1] grid (up to one cell)
    mask = (voxels.render(x, elevation=90, azimuth=0, image_size=s, extent=extent) < 1).any(1).float()
    expected = (16 / 31 / extent) ** 2                       # projected square / image area
    assert abs(mask.mean().item() - expected) < 0.03


def test_render_views_tiles_side_by_side():
    x, _ = data.voxel_shapes(2, 16, seed=0)
    img = voxels.render_views(x, views=((20, 30), (20, 120)), image_size=20, pad=2)
    assert img.shape == (2, 3, 20, 42)
    with pytest.raises(ValueError, match="views is empty"):
        voxels.render_views(x, views=())


# -- the adaptive D update (paper, Sec. 3.1) -------------------------------------------------
def test_plot_class_coverage():
    h = voxels.class_histogram(torch.tensor([0, 1, 1, 2]), 3)
    fig = voxels.plot_class_coverage({"a": h, "b": h}, ["x", "y", "z"])
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 6
    with pytest.raises(ValueError, match="entries for 2 classes"):
        voxels.plot_class_coverage({"a": h}, ["x", "y"])
