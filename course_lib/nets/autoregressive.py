"""Autoregressive networks: MADE, masked convolutions, PixelCNN, Gated PixelCNN (optionally class-conditional).

An autoregressive model factorises ``p(x) = prod_i p(x_i | x_<i)``; a network computes all
conditionals in one pass by *masking* its weights so that output ``i`` never sees input ``>= i``.
The networks return logits and know nothing of losses (see :mod:`course_lib.likelihood`).

Shapes: images ``(B, C, H, W)``; Bernoulli models return logits ``(B, C, H, W)``, categorical
models with ``levels=K`` return ``(B, K, C, H, W)`` and take long inputs ``(B, C, H, W)`` in ``[0, K)``.

The convolutional networks report how many rows above a pixel they can see (``context_rows``), so a
sampler may run them on those rows only (:func:`course_lib.likelihood.sample_autoregressive`), and
:func:`conditional_copy` turns a trained network into a class-conditional one (warm start).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from .. import checks

MASK_TYPES = ("A", "B")


# --------------------------------------------------------------------------------------
# MADE
# --------------------------------------------------------------------------------------
class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask ``(out_features, in_features)``."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor | None = None, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))
        if mask is not None:
            self.set_mask(mask)

    def set_mask(self, mask: torch.Tensor) -> None:
        if tuple(mask.shape) != tuple(self.weight.shape):
            raise ValueError(f"mask must have shape {tuple(self.weight.shape)}, got {tuple(mask.shape)}")
        self.mask.copy_(mask.to(self.mask))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_masks(num_inputs: int, hidden_sizes: tuple[int, ...], order: torch.Tensor | None = None,
               seed: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Connectivity masks of MADE from degrees.

    Each input gets a degree ``m(d)`` = its position in the ordering (1..D); hidden unit k gets a
    degree in ``[min previous, D-1]``. A hidden weight is kept when ``m_l(k) >= m_{l-1}(j)``; an
    output weight when ``m_out(d) > m_L(k)`` (strict), so output d depends only on inputs earlier
    in the ordering.

    Args:
        num_inputs: D.
        hidden_sizes: units per hidden layer.
        order: (D,) a permutation of ``0..D-1``: ``order[d]`` is the position of input d (default identity).
        seed: seed of the hidden degrees.

    Returns:
        ``(masks, degrees_in)``: one mask ``(out, in)`` per layer (hidden layers, then output) and
        the (D,) input degrees (1-based).

    Reference:
        Germain et al. 2015, "MADE: Masked Autoencoder for Distribution Estimation", arXiv:1502.03509, Eq. (12)-(13).
    """
    checks.positive_int(num_inputs, "num_inputs")
    if order is None:
        order = torch.arange(num_inputs)
    order = torch.as_tensor(order)
    if sorted(order.tolist()) != list(range(num_inputs)):
        raise ValueError(f"order must be a permutation of 0..{num_inputs - 1}")
    g = torch.Generator().manual_seed(seed)
    m_in = order + 1
    degrees = [m_in]
    for h in hidden_sizes:
        checks.positive_int(h, "hidden size")
        lo = int(degrees[-1].min())
        hi = max(lo, num_inputs - 1)
        degrees.append(torch.randint(lo, hi + 1, (h,), generator=g))
    masks = [(degrees[i + 1][:, None] >= degrees[i][None, :]).float() for i in range(len(hidden_sizes))]
    masks.append((m_in[:, None] > degrees[-1][None, :]).float())
    return masks, m_in


class MADE(nn.Module):
    """Masked autoencoder: one forward pass gives all D conditionals of a binary vector.

    Args:
        num_inputs: D.
        hidden_sizes: units per hidden layer.
        order: optional input ordering (see :func:`made_masks`).
        seed: seed of the degrees.

    Shapes:
        ``forward(x (B, D)) -> logits (B, D)``; ``logits[:, d]`` parameterises ``p(x_d | x_<d)``.

    Reference:
        Germain et al. 2015, arXiv:1502.03509.
    """

    def __init__(self, num_inputs: int, hidden_sizes: tuple[int, ...] = (256,), order: torch.Tensor | None = None,
                 seed: int = 0):
        super().__init__()
        masks, m_in = made_masks(num_inputs, tuple(hidden_sizes), order, seed)
        self.register_buffer("degrees", m_in)
        sizes = [num_inputs, *hidden_sizes, num_inputs]
        layers: list[nn.Module] = []
        for i, m in enumerate(masks):
            layers.append(MaskedLinear(sizes[i], sizes[i + 1], m))
            if i < len(masks) - 1:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        self.num_inputs = num_inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        checks.ndim(x, "x", 2, "(B, D)")
        if x.shape[1] != self.num_inputs:
            raise ValueError(f"x must have {self.num_inputs} features in dim 1, got shape {tuple(x.shape)}")
        return self.net(x)


# --------------------------------------------------------------------------------------
# Masks for convolutions
# --------------------------------------------------------------------------------------
def _groups(n: int, color_channels: int, name: str) -> torch.Tensor:
    if n % color_channels:
        raise ValueError(f"{name} = {n} must be divisible by color_channels = {color_channels} "
                         f"(the channels are split into one group per colour)")
    return torch.arange(n) * color_channels // n


def conv_mask(kernel_size: int, mask_type: str, in_channels: int = 1, out_channels: int = 1,
              color_channels: int = 1) -> torch.Tensor:
    """The PixelCNN mask of a ``kernel_size x kernel_size`` convolution.

    Spatially: all rows above the centre, and the pixels left of the centre in its row. The centre
    pixel is cut for type ``A`` (first layer: a pixel must not see itself) and kept for type ``B``
    (later layers). With colour (``color_channels = 3``) the channels are split into R, G, B groups
    and at the centre an output of group g sees inputs of groups ``< g`` (A) or ``<= g`` (B), so
    R is predicted from the past, G from the past and R, B from the past, R and G.

    Args:
        kernel_size: odd k.
        mask_type: ``"A"`` or ``"B"``.
        in_channels, out_channels: channel counts (divisible by ``color_channels``).
        color_channels: 1 (gray / no ordering inside a pixel) or 3 (R -> G -> B).

    Returns:
        Float 0/1 mask of shape ``(out_channels, in_channels, k, k)``.

    Reference:
        van den Oord et al. 2016, "Pixel Recurrent Neural Networks", arXiv:1601.06759, Sec. 3.4, Fig. 2.
    """
    checks.positive_int(kernel_size, "kernel_size")
    if kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd so the mask has a centre, got {kernel_size}")
    checks.one_of(mask_type, "mask_type", MASK_TYPES)
    checks.positive_int(color_channels, "color_channels")
    c = kernel_size // 2
    g_in = _groups(in_channels, color_channels, "in_channels")
    g_out = _groups(out_channels, color_channels, "out_channels")
    mask = torch.zeros(out_channels, in_channels, kernel_size, kernel_size)
    mask[:, :, :c, :] = 1           # rows above
    mask[:, :, c, :c] = 1           # left in the centre row
    centre = (g_out[:, None] > g_in[None, :]) if mask_type == "A" else (g_out[:, None] >= g_in[None, :])
    mask[:, :, c, c] = centre.float()
    return mask


def vertical_mask(kernel_size: int, include_center_row: bool) -> torch.Tensor:
    """(k, k) mask of the Gated PixelCNN vertical stack: rows above the centre (and the centre row).

    The first vertical layer excludes the centre row, so the vertical stack at row i only ever
    holds information from rows < i; later layers include it.

    Reference:
        van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders", arXiv:1606.05328, Fig. 1.
    """
    checks.positive_int(kernel_size, "kernel_size")
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[: c + 1 if include_center_row else c, :] = 1
    return mask


def horizontal_mask(kernel_size: int, include_center: bool) -> torch.Tensor:
    """(1, k) mask of the horizontal stack: pixels left of the centre (and the centre)."""
    checks.positive_int(kernel_size, "kernel_size")
    c = kernel_size // 2
    mask = torch.zeros(1, kernel_size)
    mask[0, : c + 1 if include_center else c] = 1
    return mask


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose weight is multiplied by a fixed mask.

    Args:
        in_channels, out_channels: channels.
        mask: ``(kh, kw)`` spatial mask (shared by all channel pairs) or ``(out, in, kh, kw)``.

    Use :func:`masked_conv` for the PixelCNN type A / B layers.
    """

    def __init__(self, in_channels: int, out_channels: int, mask: torch.Tensor):
        if mask.ndim == 2:
            mask = mask[None, None].expand(out_channels, in_channels, *mask.shape)
        if mask.ndim != 4 or tuple(mask.shape[:2]) != (out_channels, in_channels):
            raise ValueError(f"mask must be (kh, kw) or ({out_channels}, {in_channels}, kh, kw), got {tuple(mask.shape)}")
        kh, kw = mask.shape[2:]
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2))
        self.register_buffer("mask", mask.float().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def masked_conv(in_channels: int, out_channels: int, kernel_size: int, mask_type: str,
                color_channels: int = 1) -> MaskedConv2d:
    """A PixelCNN masked convolution of type ``"A"`` or ``"B"`` (see :func:`conv_mask`)."""
    return MaskedConv2d(in_channels, out_channels,
                        conv_mask(kernel_size, mask_type, in_channels, out_channels, color_channels))


def _embed_input(x: torch.Tensor, in_channels: int, levels: int | None, one_hot: bool = True) -> torch.Tensor:
    """Binary models: float images pass through. Categorical models with ``one_hot``: indices (long, or
    float holding integers) become one-hot (B, C*K, H, W) grouped by channel; a float (B, C*K, H, W)
    input is taken as already one-hot (used for gradient checks). Categorical models without
    ``one_hot``: indices become ``x / (K - 1)`` in [0, 1]; a float input is taken as already scaled."""
    checks.ndim(x, "x", 4, "(B, C, H, W)")
    if levels is not None and one_hot and x.is_floating_point() and x.shape[1] == in_channels * levels and levels > 1:
        return x                                   # already one-hot (or soft) encoded
    if x.shape[1] != in_channels:
        raise ValueError(f"x must have {in_channels} channels in dim 1 of (B, C, H, W), got shape {tuple(x.shape)}")
    if levels is None:
        return x.float()
    if not one_hot:                                # ordered values (gray levels): one scaled channel each
        if x.is_floating_point():
            try:
                checks.value_range(x.detach(), "x", 0.0, 1.0)
            except ValueError as e:
                raise ValueError(f"{e}; a float input of this network is taken as x / (K - 1) in [0, 1]: "
                                 f"pass the integer levels (long) instead") from None
            return x
        return x.float() / (levels - 1)
    b, c, h, w = x.shape
    return F.one_hot((x.round() if x.is_floating_point() else x).long().clamp(0, levels - 1), levels).permute(0, 1, 4, 2, 3).reshape(b, c * levels, h, w).float()


def _split_logits(out: torch.Tensor, in_channels: int, levels: int | None) -> torch.Tensor:
    """(B, C*L, H, W) -> Bernoulli logits (B, C, H, W) or categorical (B, K, C, H, W)."""
    if levels is None:
        return out
    b, _, h, w = out.shape
    return out.reshape(b, in_channels, levels, h, w).permute(0, 2, 1, 3, 4)


# --------------------------------------------------------------------------------------
# PixelCNN
# --------------------------------------------------------------------------------------
class PixelCNN(nn.Module):
    """PixelCNN: a type-A masked conv, residual type-B masked convs, and a 1x1 masked head.

    Args:
        in_channels: data channels C (1 gray/binary, 3 colour).
        levels: None for binary pixels (Bernoulli logits), else K values per channel (softmax).
        hidden: feature channels (divisible by C).
        num_layers: residual type-B layers after the first layer.
        kernel_size: first (type A) kernel size (7 in the paper).
        layer_kernel: kernel size of the type-B layers (3).
        num_classes: if given, a class embedding is added to every layer: ``p(x | y)``.
        class_map_size: a learned ``(hidden, s, s)`` map per class (one map without ``num_classes``),
            upsampled to the ``image_size`` canvas and added before every layer: a *location-dependent*
            bias, so that the network knows where on the canvas (a class puts) its strokes (van den Oord et
            al. 2016, Sec. 2.3, ``s = m(h)``). None: translation-equivariant layers, and the
            position-independent class embedding only (Eq. 4).
        image_size: the canvas side (square images) the class map is upsampled to; needed with
            ``class_map_size``. ``forward(..., top=r)`` then takes a window of rows ``r, r + 1, ...``.
        one_hot_input: categorical models only. True: each value enters as K one-hot channels (unordered
            values such as VQ-VAE codes). False: it enters as one channel ``x / (K - 1)`` in [0, 1] (ordered
            values such as 8-bit gray levels; the first layer is K times smaller). The output is the
            K-way softmax either way.

    Shapes:
        ``forward(x (B, C, H, W), y (B,) | None)`` -> logits (B, C, H, W) or (B, K, C, H, W).
        ``x`` is float (values in [0, 1]) or long (indices in ``[0, K)``, one-hot encoded or scaled).

    Reference:
        van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural Networks", arXiv:1601.06759
        (Sec. 3.4: the 256-way softmax over gray levels).
    """

    def __init__(self, in_channels: int = 1, levels: int | None = None, hidden: int = 64, num_layers: int = 7,
                 kernel_size: int = 7, layer_kernel: int = 3, num_classes: int | None = None,
                 one_hot_input: bool = True, class_map_size: int | None = None, image_size: int | None = None):
        super().__init__()
        checks.positive_int(in_channels, "in_channels")
        if levels is not None and levels < 2:
            raise ValueError(f"levels must be None (binary) or >= 2, got {levels}")
        self.in_channels, self.levels, self.num_classes = in_channels, levels, num_classes
        self.one_hot_input = bool(one_hot_input)
        cc = in_channels
        feat_in = in_channels * (levels if levels and self.one_hot_input else 1)
        out = in_channels * (levels if levels else 1)
        hidden = checks.positive_int(hidden, "hidden")
        self.first = masked_conv(feat_in, hidden, kernel_size, "A", cc)
        self.layers = nn.ModuleList(masked_conv(hidden, hidden, layer_kernel, "B", cc) for _ in range(num_layers))
        self.head = nn.Sequential(nn.ReLU(), masked_conv(hidden, hidden, 1, "B", cc), nn.ReLU(),
                                  masked_conv(hidden, out, 1, "B", cc))
        self.embed = nn.Embedding(num_classes, hidden) if num_classes else None
        _add_class_map(self, num_classes or 1, hidden, class_map_size, image_size)

    @property
    def context_rows(self) -> int:
        """Rows above a pixel that its conditional can see: ``kernel_size // 2 + num_layers * (layer_kernel // 2)``.

        The height of the receptive field above the pixel (the 1x1 head adds none); a sampler may run the
        network on these rows and the current one only (:func:`course_lib.likelihood.sample_autoregressive`).
        """
        return self.first.kernel_size[0] // 2 + sum(layer.kernel_size[0] // 2 for layer in self.layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, top: int = 0) -> torch.Tensor:
        """Logits of ``p(x_i | x_<i (, y))``; ``top``: the first row of ``x`` on the canvas (a sampler's window)."""
        cond = _class_bias(self.embed, y, x.shape[0])
        cond = cond + _class_map_bias(self, y, x, top)   # + the class's map: a location-dependent bias
        h = self.first(_embed_input(x, self.in_channels, self.levels, self.one_hot_input))
        if torch.is_tensor(cond):
            cond = cond.to(h.dtype)            # under autocast h is bfloat16: keep it so
        for layer in self.layers:
            h = h + cond
            h = h + layer(F.relu(h))            # residual type-B layer
        return _split_logits(self.head(h + cond), self.in_channels, self.levels)


def _add_class_map(net: nn.Module, maps: int, channels: int, size: int | None, image_size: int | None) -> None:
    """Give ``net`` a zero ``(maps, channels, size, size)`` class map and its canvas side (or None, None)."""
    net.class_map, net.image_size = None, None
    if size is None:
        if image_size is not None:
            raise ValueError("image_size is the canvas of a class map: give class_map_size too")
        return
    checks.positive_int(size, "class_map_size")
    if image_size is None:
        raise ValueError("class_map_size needs image_size (the canvas the map is upsampled to)")
    net.image_size = checks.positive_int(image_size, "image_size")
    device = next(net.parameters()).device
    net.class_map = nn.Parameter(torch.zeros(maps, channels, size, size, device=device))


def _class_map_bias(net: nn.Module, y: torch.Tensor | None, x: torch.Tensor, top: int) -> torch.Tensor | float:
    """The class's map upsampled to the canvas, rows ``top ... top + H - 1`` of ``x``'s window (0.0: no map)."""
    if net.class_map is None:
        if top:
            raise ValueError("top is for a network with a class map (class_map_size); this one is "
                             "translation-equivariant: pass the window alone")
        return 0.0
    n, (h, w) = net.image_size, x.shape[-2:]
    if w != n or not 0 <= top <= n - h:
        raise ValueError(f"x must be rows top ... top + H - 1 of the {n}x{n} canvas of the class map: got "
                         f"shape {tuple(x.shape)} with top={top}")
    maps = F.interpolate(net.class_map, size=(n, n), mode="bilinear", align_corners=False)[:, :, top:top + h]
    return maps if y is None else maps[y.long()]      # unconditional: the one map, broadcast over the batch


def _class_bias(embed: nn.Module | None, y: torch.Tensor | None, batch: int) -> torch.Tensor | float:
    if embed is None:
        if y is not None:
            raise ValueError("this network is unconditional (num_classes=None) but got labels y")
        return 0.0
    if y is None:
        raise ValueError("this network is class-conditional: pass labels y (B,)")
    checks.ndim(y, "y", 1, "(B,)")
    if len(y) != batch:
        raise ValueError(f"y must have one label per image ({batch}), got {len(y)}")
    return embed(y.long())[:, :, None, None]


# --------------------------------------------------------------------------------------
# Gated PixelCNN
# --------------------------------------------------------------------------------------
class GatedLayer(nn.Module):
    """One gated layer with a vertical and a horizontal stack (no blind spot).

    $$ y = \\tanh(W_f * x + V_f h) \\odot \\sigma(W_g * x + V_g h) $$

    The vertical stack sees the rows above (k x k conv, rows <= centre); the horizontal stack
    sees the pixels to the left in the row (1 x k conv, columns <= centre) plus a 1x1 link from
    the vertical stack; it has a residual connection.

    Reference:
        van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders", arXiv:1606.05328, Eq. (2)-(4).
    """

    def __init__(self, channels: int, kernel_size: int = 3, num_classes: int | None = None):
        super().__init__()
        c = channels
        self.v_conv = MaskedConv2d(c, 2 * c, vertical_mask(kernel_size, include_center_row=True))
        self.h_conv = MaskedConv2d(c, 2 * c, horizontal_mask(kernel_size, include_center=True))
        self.v_to_h = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_out = nn.Conv2d(c, c, 1)
        self.embed = nn.Embedding(num_classes, 2 * c) if num_classes else None

    @staticmethod
    def gate(x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, v: torch.Tensor, h: torch.Tensor, y: torch.Tensor | None = None,
                bias: torch.Tensor | float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """``bias``: an extra (B or 1, 2 * channels, H, W) term on both stacks' gates (the network's class map)."""
        cond = _class_bias(self.embed, y, v.shape[0]) + bias
        v_feat = self.v_conv(v)
        h_feat = self.h_conv(h) + self.v_to_h(v_feat)     # rows above flow into the row
        return self.gate(v_feat + cond), h + self.h_out(self.gate(h_feat + cond))


class GatedPixelCNN(nn.Module):
    """Gated PixelCNN for one data channel (binary, or ``levels`` values such as VQ-VAE codes).

    Args:
        in_channels: must be 1 (R->G->B ordering inside a pixel is left to :class:`PixelCNN`).
        levels: None (Bernoulli logits) or K (softmax over K values, long inputs).
        hidden: channels of both stacks.
        num_layers: gated layers.
        kernel_size: k of the vertical (k x k) and horizontal (1 x k) convolutions; the first layer
            uses ``first_kernel``.
        first_kernel: kernel of the first (centre-excluding) layer.
        num_classes: class-conditional if given.
        class_map_size, image_size: a learned ``(2 * hidden, s, s)`` map per class (one without
            ``num_classes``) upsampled to the canvas and added to every layer's gates: a location-dependent
            bias, as in :class:`PixelCNN`.

    Shapes:
        ``forward(x (B, 1, H, W), y (B,) | None)`` -> logits (B, 1, H, W) or (B, K, 1, H, W).

    Reference:
        van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders", arXiv:1606.05328.
    """

    def __init__(self, in_channels: int = 1, levels: int | None = None, hidden: int = 64, num_layers: int = 7,
                 kernel_size: int = 3, first_kernel: int = 7, num_classes: int | None = None,
                 class_map_size: int | None = None, image_size: int | None = None):
        super().__init__()
        if in_channels != 1:
            raise ValueError(f"GatedPixelCNN models one data channel; got in_channels={in_channels} "
                             "(use PixelCNN for colour with R->G->B masks)")
        if levels is not None and levels < 2:
            raise ValueError(f"levels must be None (binary) or >= 2, got {levels}")
        self.in_channels, self.levels, self.num_classes = in_channels, levels, num_classes
        feat_in = levels if levels else 1
        hidden = checks.positive_int(hidden, "hidden")
        self.v_first = MaskedConv2d(feat_in, hidden, vertical_mask(first_kernel, include_center_row=False))
        self.h_first = MaskedConv2d(feat_in, hidden, horizontal_mask(first_kernel, include_center=False))
        self.layers = nn.ModuleList(GatedLayer(hidden, kernel_size, num_classes) for _ in range(num_layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 1), nn.ReLU(),
                                  nn.Conv2d(hidden, feat_in, 1))
        _add_class_map(self, num_classes or 1, 2 * hidden, class_map_size, image_size)

    @property
    def context_rows(self) -> int:
        """Rows above a pixel that its conditional can see: ``first_kernel // 2 + num_layers * (kernel_size // 2)``.

        The first vertical convolution reaches ``first_kernel // 2`` rows up, each gated layer one more
        ``kernel_size // 2`` (see :attr:`PixelCNN.context_rows`).
        """
        return self.v_first.kernel_size[0] // 2 + sum(layer.v_conv.kernel_size[0] // 2 for layer in self.layers)

    def stacks(self, x: torch.Tensor, y: torch.Tensor | None = None, top: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The vertical and horizontal feature maps after the last layer (B, hidden, H, W) each."""
        e = _embed_input(x, self.in_channels, self.levels)
        v, h = self.v_first(e), self.h_first(e)
        bias = _class_map_bias(self, y, x, top)
        if torch.is_tensor(bias):
            bias = bias.to(v.dtype)            # under autocast the features are bfloat16: keep them so
        for layer in self.layers:
            v, h = layer(v, h, y, bias)
        return v, h

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None, top: int = 0) -> torch.Tensor:
        """Logits of ``p(x_i | x_<i (, y))``; ``top``: the first row of ``x`` on the canvas (a sampler's window)."""
        if self.num_classes is None and y is not None:
            raise ValueError("this network is unconditional (num_classes=None) but got labels y")
        _, h = self.stacks(x, y, top)
        return _split_logits(self.head(h), self.in_channels, self.levels)


def conditional_copy(net: PixelCNN | GatedPixelCNN, num_classes: int, class_map_size: int | None = None,
                     image_size: int | None = None) -> PixelCNN | GatedPixelCNN:
    """A class-conditional copy of a trained unconditional network, for a warm start.

    The copy has the same weights plus a class embedding (:class:`PixelCNN`: one, added before every
    layer; :class:`GatedPixelCNN`: one per gated layer) initialised to **zero**, so at first
    ``p(x | y) = p(x)`` for every label; training the copy on labelled data teaches it to use y. The
    original network is left unchanged.

    Args:
        net: an unconditional :class:`PixelCNN` or :class:`GatedPixelCNN` (``num_classes=None``).
        num_classes: number of labels.
        class_map_size, image_size: also a zero map per class, upsampled to the ``image_size`` canvas, a
            location-dependent bias (see :class:`PixelCNN`). A network that has a map already (a learned
            position map) gets a copy of it for every class (leave these None).

    Returns:
        The conditional copy (same device), in the training mode of ``net``.

    Reference:
        van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders", arXiv:1606.05328,
        Eq. (4) (the label enters every layer as a learned bias ``V^T h``).
    """
    if not isinstance(net, (PixelCNN, GatedPixelCNN)):
        raise TypeError(f"net must be a PixelCNN or GatedPixelCNN, got {type(net).__name__}")
    if net.num_classes is not None:
        raise ValueError(f"net is already class-conditional (num_classes={net.num_classes})")
    checks.positive_int(num_classes, "num_classes")
    if class_map_size is not None and net.class_map is not None:
        raise ValueError("net has a class map already (each class gets a copy of it): leave class_map_size "
                         "and image_size None")
    new = copy.deepcopy(net)
    device = next(net.parameters()).device

    def zero_embedding(dim: int) -> nn.Embedding:
        embed = nn.Embedding(num_classes, dim).to(device)
        nn.init.zeros_(embed.weight)
        return embed

    if isinstance(new, PixelCNN):
        new.embed = zero_embedding(new.first.out_channels)
    else:
        for layer in new.layers:
            layer.embed = zero_embedding(layer.v_conv.out_channels)
    if net.class_map is not None:        # the learned position map, one copy per class to start from
        new.class_map = nn.Parameter(net.class_map.detach().expand(num_classes, -1, -1, -1).clone())
    else:
        channels = new.first.out_channels if isinstance(new, PixelCNN) else new.layers[0].v_conv.out_channels
        _add_class_map(new, num_classes, channels, class_map_size, image_size)
    new.num_classes = num_classes
    return new


# --------------------------------------------------------------------------------------
# Receptive fields, measured from gradients
# --------------------------------------------------------------------------------------
def receptive_field(fn, shape: tuple[int, int, int, int], position: tuple[int, int], channel: int = 0,
                    levels: int | None = None) -> torch.Tensor:
    """Which input pixels influence the output at ``position``: |d out / d x| summed over channels.

    The input is random so that no gradient vanishes by accident (ReLUs on a constant input).

    Args:
        fn: ``x (B, C, H, W) float -> output (B, ..., H, W)`` (a network, or a lambda around its stacks).
        shape: ``(1, C, H, W)`` input shape (``C*K`` one-hot channels for categorical nets: pass ``levels``).
        position: ``(row, col)`` of the output pixel.
        channel: output channel (index into dim 1, or dim 2 for (B, K, C, H, W) outputs).
        levels: K when ``fn`` expects one-hot float input with K levels per channel (the map is summed).

    Returns:
        (H, W) float tensor of gradient magnitudes; > 0 where the pixel is in the receptive field.
    """
    if len(shape) != 4:
        raise ValueError(f"shape must be (B, C, H, W), got {shape}")
    g = torch.Generator().manual_seed(0)
    params = list(fn.parameters()) if isinstance(fn, torch.nn.Module) else []
    device = params[0].device if params else torch.device("cpu")
    x = torch.rand(*shape, generator=g).to(device).requires_grad_(True)
    out = fn(x)
    i, j = position
    sel = out[:, :, channel, i, j] if out.ndim == 5 else out[:, channel, i, j]
    sel.sum().backward()
    return x.grad.abs().sum(dim=(0, 1)).detach()


def causal_past(height: int, width: int, position: tuple[int, int]) -> torch.Tensor:
    """(H, W) bool mask of the pixels before ``position`` in raster order (the ones allowed)."""
    i, j = position
    past = torch.zeros(height, width, dtype=torch.bool)
    past[:i] = True
    past[i, :j] = True
    return past
