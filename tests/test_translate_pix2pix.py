"""translation.translate_pix2pix: pix2pix's test-time mode (dropout on, batch statistics), without side effects."""

import pytest
import torch

from course_lib import translation
from course_lib.nets import image2image as i2i

SIZES: list[int] = []                                   # batch sizes seen by _Recorder (a copy keeps this list)


class _Recorder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        SIZES.append(len(x))
        return x * self.scale


def _unet():
    torch.manual_seed(0)
    return i2i.UNet(1, 3, depth=4, width=4, max_width=16, dropout=0.5)


def test_outputs_use_batch_statistics_and_seeded_dropout():
    G = _unet()
    x = torch.rand(12, 1, 16, 16) * 2 - 1
    a = translation.translate_pix2pix(G, x, batch_size=4, seed=0)
    assert a.shape == (12, 3, 16, 16)
    assert torch.equal(translation.translate_pix2pix(G, x, batch_size=4, seed=0), a)      # seeded: reproducible
    assert not torch.allclose(translation.translate_pix2pix(G, x, batch_size=4, seed=1), a)  # dropout is the noise
    torch.manual_seed(0)                                                                  # = a manual train-mode pass
    manual = torch.cat([G.train()(xb) for xb in x.split(4)]).detach()
    G.eval()
    assert torch.allclose(manual, a, atol=1e-6)


def test_running_averages_are_neither_read_nor_changed():
    """The bug it fixes: eval mode reads running averages (collected with dropout on); pix2pix never does."""
    G = _unet().eval()
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    a = translation.translate_pix2pix(G, x, batch_size=8)
    bn = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bn:
        m.running_var.mul_(9.0)                                          # variance shift: wrong running variances
    stats = [(m.running_mean.clone(), m.running_var.clone(), int(m.num_batches_tracked)) for m in bn]
    assert torch.equal(translation.translate_pix2pix(G, x, batch_size=8), a)   # unaffected
    assert not torch.allclose(translation.translate(G, x), translation.translate(_unet().eval(), x))   # eval is
    assert not G.training                                                # the caller's mode is kept
    for m, (mu, var, n) in zip(bn, stats):
        assert torch.equal(m.running_mean, mu) and torch.equal(m.running_var, var) and int(m.num_batches_tracked) == n


def test_nearly_equal_batches_and_bad_inputs():
    SIZES.clear()
    out = translation.translate_pix2pix(_Recorder(), torch.rand(10, 1, 4, 4), batch_size=4)
    assert out.shape == (10, 1, 4, 4) and SIZES == [4, 3, 3]             # no batch of 2 at the end
    with pytest.raises(ValueError, match="empty"):
        translation.translate_pix2pix(_unet(), torch.rand(0, 1, 16, 16))
    with pytest.raises(TypeError, match="nn.Module"):
        translation.translate_pix2pix(lambda t: t, torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match="batch_size"):
        translation.translate_pix2pix(_unet(), torch.rand(2, 1, 16, 16), batch_size=0)
