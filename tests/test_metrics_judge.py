"""metrics.image_judge (an attribute judge trained on real labelled images) and metrics.target_rate."""

from __future__ import annotations

import pytest
import torch

from course_lib import metrics


def _squares(n: int, colour: int, seed: int) -> torch.Tensor:
    """n gray 12x12 images with a 4x4 square at a random place in channel ``colour`` (the attribute)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 3, 12, 12), 0.5)
    for i in range(n):
        r, c = torch.randint(0, 8, (2,), generator=g).tolist()
        x[i, :, r:r + 4, c:c + 4] = 0.1
        x[i, colour, r:r + 4, c:c + 4] = 0.9
    return x


def test_image_judge_learns_an_unbalanced_attribute_and_reports_held_out_accuracy(ckpt_dir):
    x_train = torch.cat([_squares(95, 0, 0), _squares(5, 2, 1)])   # 95 red, 5 blue: balanced batches needed
    y_train = torch.cat([torch.zeros(95), torch.ones(5)]).long()
    x_test = torch.cat([_squares(20, 0, 2), _squares(20, 2, 3)])
    y_test = torch.cat([torch.zeros(20), torch.ones(20)]).long()
    judge = metrics.image_judge("toy-colour", x_train, y_train, x_test, y_test, ("red", "blue"), num_steps=60,
                                batch_size=32, device="cpu", verbose=False)
    assert judge.test_accuracy >= 0.95
    assert metrics.target_rate(x_test[20:], judge, 1) >= 0.9         # the rare class is recognised too
    assert metrics.target_rate(x_test, judge, y_test) == pytest.approx(judge.test_accuracy)
    assert metrics.image_judge("toy-colour", x_train, y_train, x_test, y_test, ("red", "blue"), num_steps=60,
                               device="cpu") is judge               # cached


def test_image_judge_rejects_bad_labels():
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(ValueError, match="one label per image"):
        metrics.image_judge("bad", x, torch.zeros(3).long(), x, torch.zeros(4).long(), ("a", "b"), 5)
    with pytest.raises(ValueError, match="every class needs training images"):
        metrics.image_judge("bad", x, torch.zeros(4).long(), x, torch.zeros(4).long(), ("a", "b"), 5)
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        metrics.image_judge("bad", x, torch.tensor([0, 1, 2, 0]), x, torch.zeros(4).long(), ("a", "b"), 5)
    with pytest.raises(ValueError, match="at least two classes"):
        metrics.image_judge("bad", x, torch.zeros(4).long(), x, torch.zeros(4).long(), ("a",), 5)


def test_target_rate_counts_argmax_hits():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    table = {round(float(v), 4): row for v, row in zip(torch.linspace(0, 1, 4), logits)}

    def fake_logits(x: torch.Tensor) -> torch.Tensor:        # the image's mean value picks its logits row
        return torch.stack([table[round(float(v), 4)] for v in x.mean((1, 2, 3))])

    net = metrics.FeatureNetwork("stub", fake_logits, fake_logits, None, None, torch.device("cpu"))
    x = torch.linspace(0, 1, 4).view(4, 1, 1, 1).expand(4, 3, 2, 2).contiguous()
    assert metrics.target_rate(x, net, 0) == 0.5
    assert metrics.target_rate(x, net, torch.tensor([0, 1, 2, 1])) == 0.75
    with pytest.raises(ValueError, match="one class or"):
        metrics.target_rate(x, net, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        metrics.target_rate(x, net, 3)
