"""course_lib.checks: each check returns good input unchanged and rejects bad input with a message
naming what was expected (and what arrived)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from course_lib import checks


def test_feature_matrix_accepts_tensors_arrays_and_lists():
    out = checks.feature_matrix(torch.arange(6, dtype=torch.float32).reshape(3, 2), "feats")
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == (3, 2)
    assert out[2, 1] == 5.0
    assert checks.feature_matrix([[1, 2, 3]], "feats").tolist() == [[1.0, 2.0, 3.0]]
    if torch.cuda.is_available():  # a GPU tensor comes back to the CPU
        assert checks.feature_matrix(torch.ones(2, 2, device="cuda"), "f").sum() == 4.0


@pytest.mark.parametrize("bad", [np.zeros(4), np.zeros((2, 3, 4)), torch.zeros(2, 3, 4)])
def test_feature_matrix_rejects_other_shapes(bad):
    with pytest.raises(ValueError, match=r"real_feats must have shape \(N, D\), got \("):
        checks.feature_matrix(bad, "real_feats")


def test_tensor():
    t = torch.zeros(2)
    assert checks.tensor(t, "x") is t
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        checks.tensor([0.0, 1.0], "x")
    with pytest.raises(TypeError, match="z must be a torch.Tensor, got ndarray"):
        checks.tensor(np.zeros(2), "z")


def test_ndim_accepts_one_or_several_dims():
    t = torch.zeros(2, 3)
    assert checks.ndim(t, "z", 2) is t
    assert checks.ndim(t, "z", (2, 4)) is t
    assert checks.ndim(torch.zeros(2, 3, 1, 1), "z", (2, 4)) is not None


def test_ndim_message_names_the_layout_and_what_arrived():
    with pytest.raises(ValueError, match=r"x must have shape \(B, C, H, W\), got 2-D tensor of shape \(28, 28\)"):
        checks.ndim(torch.zeros(28, 28), "x", 4, "(B, C, H, W)")
    with pytest.raises(ValueError, match=r"z must have shape 2-D or 4-D, got 3-D tensor of shape \(1, 2, 3\)"):
        checks.ndim(torch.zeros(1, 2, 3), "z", (2, 4))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        checks.ndim(np.zeros((2, 2)), "z", 2)


def test_floating():
    t = torch.zeros(2, dtype=torch.float16)
    assert checks.floating(t, "x") is t
    with pytest.raises(TypeError, match=r"x must be a floating-point tensor, got dtype torch.uint8; .*x.float\(\) / 255"):
        checks.floating(torch.zeros(2, dtype=torch.uint8), "x")
    with pytest.raises(TypeError, match="torch.Tensor"):
        checks.floating(1.0, "x")


def test_value_range_accepts_values_within_tolerance():
    t = torch.tensor([-1.0, 0.0, 1.0 + 5e-5])
    assert checks.value_range(t, "x", -1, 1) is t                     # 5e-5 over, inside tol = 1e-4
    assert checks.value_range(torch.zeros(0), "x", 0, 1).numel() == 0  # empty: nothing to check
    assert checks.value_range(torch.tensor([2.0]), "x", 0, 1, tol=1.0) is not None


def test_value_range_rejects_out_of_range_and_nan():
    with pytest.raises(ValueError, match=r"x must have values in \[0, 1\], got values in \[-1, 1\]"):
        checks.value_range(torch.tensor([-1.0, 1.0]), "x", 0, 1)
    with pytest.raises(ValueError, match=r"x must have values in \[-1, 1\], got values in \[0, 255\]"):
        checks.value_range(torch.tensor([0.0, 255.0]), "x", -1, 1)
    with pytest.raises(ValueError, match=r"x contains NaN; expected values in \[0, 1\]"):
        checks.value_range(torch.tensor([0.5, float("nan")]), "x", 0, 1)


def test_image_batch_accepts_a_batch():
    x = torch.rand(2, 3, 8, 8)
    assert checks.image_batch(x) is x
    assert checks.image_batch(x, "x", channels=3, lo=0, hi=1) is x
    assert checks.image_batch(x, "x", channels=(1, 3)) is x
    assert checks.image_batch(x * 10, "x", lo=0) is not None         # a range needs both ends


@pytest.mark.parametrize("bad, kwargs, err, msg", [
    (torch.rand(3, 8, 8), {}, ValueError, r"img must have shape \(B, C, H, W\), got 3-D tensor of shape \(3, 8, 8\)"),
    (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), {}, TypeError, "img must be a floating-point tensor"),
    (torch.rand(2, 3, 8, 8), {"channels": 1}, ValueError,
     r"img must have 1 channels in dim 1 of \(B, C, H, W\), got shape \(2, 3, 8, 8\)"),
    (torch.rand(2, 2, 8, 8), {"channels": (1, 3)}, ValueError, "img must have 1 or 3 channels"),
    (torch.rand(2, 3, 8, 8) * 2 - 1.5, {"lo": 0, "hi": 1}, ValueError, r"img must have values in \[0, 1\]"),
    ("not a tensor", {}, TypeError, "img must be a torch.Tensor, got str"),
])
def test_image_batch_rejects(bad, kwargs, err, msg):
    with pytest.raises(err, match=msg):
        checks.image_batch(bad, "img", **kwargs)


def test_positive_int():
    assert checks.positive_int(1, "width") == 1 and checks.positive_int(64, "width") == 64
    for bad in (0, -3, 2.0, "4", True, None):
        with pytest.raises(ValueError, match=rf"width must be a positive integer, got {bad!r}"):
            checks.positive_int(bad, "width")


def test_one_of():
    assert checks.one_of("ns", "variant", ["ns", "wgan"]) == "ns"
    assert checks.one_of("b", "key", {"a": 1, "b": 2}) == "b"          # any iterable of names, e.g. a dict
    with pytest.raises(ValueError, match=r"unknown variant 'wgn'; expected one of: 'ns', 'wgan'"):
        checks.one_of("wgn", "variant", ("ns", "wgan"))


TESTED = {"feature_matrix", "tensor", "ndim", "floating", "value_range", "image_batch", "positive_int", "one_of"}


def test_every_public_check_is_tested_here():
    public = {n for n, f in inspect.getmembers(checks, inspect.isfunction)
              if not n.startswith("_") and f.__module__ == checks.__name__}
    missing = public - TESTED
    assert not missing, f"checks.{sorted(missing)} have no test in tests/test_checks.py (add one, then to TESTED)"
    assert not TESTED - public, f"TESTED names functions checks no longer has: {sorted(TESTED - public)}"
