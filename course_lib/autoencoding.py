"""Objectives and procedures of autoencoders: reconstruction losses, corruption for denoising,
greedy layer-wise pretraining, and the energy of predictive sparse decomposition (PSD).

The networks are in :mod:`course_lib.nets.autoencoders`; sparse inference (ISTA/FISTA) in
:mod:`course_lib.sparse`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import checks, train
from .nets.autoencoders import MLPAutoencoder


# --------------------------------------------------------------------------------------
# Reconstruction losses
# --------------------------------------------------------------------------------------
def reconstruction_loss(output: torch.Tensor, x: torch.Tensor, kind: str = "bce",
                        reduction: str = "mean") -> torch.Tensor:
    """Reconstruction loss summed over the dimensions of one example, averaged over the batch.

    * ``"bce"`` (binary or [0, 1] inputs, ``output`` are *logits*):
      ``-sum_i [x_i log sigmoid(o_i) + (1 - x_i) log(1 - sigmoid(o_i))]``;
    * ``"mse"`` (real inputs, ``output`` are values): ``sum_i (x_i - o_i)^2``.

    Args:
        output: decoder output, same shape as ``x`` (B, ...).
        x: targets (B, ...); in [0, 1] for ``"bce"``.
        kind: ``"bce"`` or ``"mse"``.
        reduction: ``"mean"`` over the batch, ``"sum"``, or ``"none"`` for per-example (B,).

    Returns:
        0-d tensor (or (B,) for ``"none"``).

    Reference:
        Hinton & Salakhutdinov 2006 (cross-entropy for logistic outputs, squared error for linear ones);
        Vincent et al. 2008, Sec. 2.2 (the two reconstruction losses).
    """
    checks.tensor(output, "output")
    checks.tensor(x, "x")
    checks.one_of(kind, "kind", ("bce", "mse"))
    checks.one_of(reduction, "reduction", ("mean", "sum", "none"))
    if output.shape != x.shape:
        raise ValueError(f"output and x must have the same shape, got {tuple(output.shape)} and {tuple(x.shape)}")
    if kind == "bce":
        checks.value_range(x, "x (targets of the cross-entropy)", 0.0, 1.0)
        per = F.binary_cross_entropy_with_logits(output, x, reduction="none")
    else:
        per = (output - x) ** 2
    per = per.flatten(1).sum(1)
    if reduction == "none":
        return per
    return per.mean() if reduction == "mean" else per.sum()


def squared_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Mean over examples of the summed squared error ``||x - x_hat||^2`` (Hinton & Salakhutdinov's metric).

    Args:
        x_hat, x: (B, ...) reconstructions and targets in the same range.

    Returns:
        0-d tensor.
    """
    return reconstruction_loss(x_hat, x, kind="mse")


# --------------------------------------------------------------------------------------
# Corruption for denoising autoencoders
# --------------------------------------------------------------------------------------
def masking_noise(x: torch.Tensor, fraction: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Set a random ``fraction`` of the entries of every example to 0 (the corruption q_D of a DAE).

    Args:
        x: inputs (B, ...).
        fraction: nu in [0, 1], the probability of destroying each entry.
        generator: optional torch.Generator for reproducible masks.

    Returns:
        Corrupted copy of ``x``.

    Reference:
        Vincent, Larochelle, Bengio & Manzagol 2008, Sec. 2.3 ("masking noise").
    """
    checks.tensor(x, "x")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    keep = torch.rand(x.shape, generator=generator, device="cpu").to(x.device) >= fraction
    return x * keep


def gaussian_noise(x: torch.Tensor, std: float, clip: tuple[float, float] | None = (0.0, 1.0),
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Additive isotropic Gaussian corruption ``x + std * eps`` (optionally clipped to the data range).

    Args:
        x: inputs (B, ...).
        std: noise standard deviation >= 0.
        clip: ``(lo, hi)`` to clamp to, or None.
        generator: optional torch.Generator.

    Reference:
        Vincent et al. 2010, JMLR 11, Sec. 4.2 (additive isotropic Gaussian noise).
    """
    checks.tensor(x, "x")
    if std < 0:
        raise ValueError(f"std must be >= 0, got {std}")
    out = x + std * torch.randn(x.shape, generator=generator, device="cpu").to(x.device)
    return out.clamp(*clip) if clip is not None else out


# --------------------------------------------------------------------------------------
# Greedy layer-wise pretraining of a stack (then unroll and fine-tune)
# --------------------------------------------------------------------------------------
def pretrain_layerwise(net: MLPAutoencoder, x: torch.Tensor, num_epochs: int, batch_size: int = 128,
                       lr: float = 1e-3, seed: int = 0) -> dict[str, list[float]]:
    """Train ``net`` as a stack of shallow autoencoders, one layer at a time, bottom up.

    Layer i's shallow autoencoder is ``decode_layer(encode_layer(h_i, i), i)`` where ``h_i`` are
    the (fixed) activations of the layers below; it is trained to reconstruct ``h_i`` (cross-entropy
    on the pixels for i = 0 with a logits output, squared error above). Because the shallow
    decoders *are* ``net.decoder_layers[i]``, the trained stack is already unrolled into a deep
    autoencoder, ready for fine-tuning end to end.

    Args:
        net: the deep autoencoder to initialise (modified in place).
        x: training inputs (N, D) or (N, C, H, W).
        num_epochs: epochs per layer.
        batch_size: examples per step.
        lr: Adam learning rate.
        seed: seed of the batch order.

    Returns:
        History ``{"layer0": [...], "layer1": [...], ...}`` of the per-step losses.

    Reference:
        Hinton & Salakhutdinov 2006 (with RBMs); Bengio, Lamblin, Popovici & Larochelle 2007
        (with autoencoders, as here).
    """
    if not isinstance(net, MLPAutoencoder):
        raise TypeError(f"net must be an MLPAutoencoder, got {type(net).__name__}")
    checks.positive_int(num_epochs, "num_epochs")
    checks.positive_int(batch_size, "batch_size")
    device = next(net.parameters()).device
    with torch.no_grad():
        h = x.flatten(1).to(device)
    history: dict[str, list[float]] = {}
    g = torch.Generator().manual_seed(seed)                    # one stream of batch draws for all layers
    for i in range(net.depth):
        kind = "bce" if (i == 0 and net.output == "logits") else "mse"
        n = h.shape[0]
        batches = train.random_batches(h, batch_size=min(batch_size, n), generator=g, replacement=True)

        def loss_fn(batch, i=i, kind=kind):
            (hb,) = batch
            return reconstruction_loss(net.decode_layer(net.encode_layer(hb, i), i), hb, kind=kind)

        layer = {"encoder": net.encoder_layers[i], "decoder": net.decoder_layers[i]}
        fit = train.fit_loss(None, layer, loss_fn, batches, num_steps=num_epochs * max(1, n // batch_size), lr=lr,
                             desc=f"pretrain layer {i}")     # an epoch: n // batch_size draws
        history[f"layer{i}"] = fit.history["loss"]
        with torch.no_grad():
            h = net.encode_layer(h, i)
    return history


# --------------------------------------------------------------------------------------
# Predictive sparse decomposition
# --------------------------------------------------------------------------------------
def psd_energy(x: torch.Tensor, dictionary: torch.Tensor, codes: torch.Tensor, codes_pred: torch.Tensor,
               lam: float, alpha: float) -> dict[str, torch.Tensor]:
    """The PSD energy ``||x - z D||^2 + lam |z|_1 + alpha ||z - F(x)||^2``, averaged over the batch.

    Args:
        x: inputs (B, D) (flattened).
        dictionary: atoms as rows (K, D).
        codes: the optimal codes z* (B, K).
        codes_pred: the encoder's prediction F(x) (B, K).
        lam: sparsity weight.
        alpha: weight of the prediction term.

    Returns:
        ``{"reconstruction", "sparsity", "prediction", "total"}`` (0-d tensors, per example).

    Reference:
        Kavukcuoglu, Ranzato & LeCun 2008, arXiv:1010.3467, Eq. (3).
    """
    checks.ndim(x, "x", 2, "(B, D)")
    checks.ndim(codes, "codes", 2, "(B, K)")
    if codes_pred.shape != codes.shape:
        raise ValueError(f"codes_pred must match codes {tuple(codes.shape)}, got {tuple(codes_pred.shape)}")
    n = x.shape[0]
    rec = ((x - codes @ dictionary) ** 2).sum() / n
    spa = lam * codes.abs().sum() / n
    pred = alpha * ((codes - codes_pred) ** 2).sum() / n
    return {"reconstruction": rec, "sparsity": spa, "prediction": pred, "total": rec + spa + pred}
