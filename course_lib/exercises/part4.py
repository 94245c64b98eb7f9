"""Checks for the exercises of notebooks 16-20, re-exported by :mod:`course_lib.exercises`.

Every check takes the student's function (or block factory), runs it on small random probes against the
course's implementation and, before the generic "largest difference" message, compares the answer with
the values of known mistakes (a missing term, a weight of 1 instead of 1/2, a flipped sign, an L2 where
an L1 belongs, ...) so that the message names the mistake.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from . import ExerciseError, _ok, check_close, run_student

__all__ = [  # noqa: RUF022 - grouped by notebook
    # 16 CycleGAN
    "check_cycle_loss", "check_identity_loss", "check_retrieval_at_1",
    # 17 text to image
    "check_colour_fractions", "check_gan_cls_d_loss", "check_style_loss",
    # 18 inversion
    "check_ez_loss", "check_project", "check_data_consistent",
    # 19 face aging
    "check_tv", "check_detail_ratio", "check_decoder_input",
    # 20 3D-GAN
    "check_convt3d_out", "check_iou", "check_up_block3d",
]


# ----------------------------------------------------------------------------------------
# Helpers: run the student's code, recognise known mistakes
# ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed the probes without touching the notebook's random stream."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise ExerciseError(f"pass your {what} itself (the function, not its result), got {type(fn).__name__}")


def _run(fn: Callable, *args: Any, what: str, **kwargs: Any) -> Any:
    """Call the student's code (:func:`course_lib.exercises.run_student`)."""
    return run_student(fn, *args, what=what, **kwargs)


def _as_tensor(value: Any, what: str) -> torch.Tensor:
    if value is None:
        raise ExerciseError(f"{what} returned None: did you forget to return it?")
    try:
        return torch.as_tensor(value.detach() if isinstance(value, torch.Tensor) else value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ExerciseError(f"{what} should return a number or a tensor; {err}") from None


def _scalar(value: Any, what: str) -> torch.Tensor:
    v = _as_tensor(value, what)
    if v.numel() != 1:
        raise ExerciseError(f"{what} should return one number (a scalar tensor), got shape {tuple(v.shape)}: "
                            f"average over the batch")
    return v.reshape(())


def _same(a: Any, b: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    a = torch.as_tensor(a.detach() if isinstance(a, torch.Tensor) else a, dtype=torch.float64)
    b = torch.as_tensor(b.detach() if isinstance(b, torch.Tensor) else b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _diagnose(value: Any, expected: Any, mistakes: Sequence[tuple[Any, str]], what: str,
              rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Raise with the mistake's message if ``value`` equals one of the known wrong answers (and not the right one)."""
    if _same(value, expected, rtol, atol):
        return
    for wrong, message in mistakes:
        if wrong is not None and _same(value, wrong, rtol, atol):
            raise ExerciseError(f"{what}: {message}")


def _grads(params: Sequence[nn.Parameter]) -> list[torch.Tensor]:
    return [torch.zeros_like(p) if p.grad is None else p.grad.detach().clone() for p in params]


def _loss_and_grads(fn: Callable, args: tuple, params: Sequence[nn.Parameter], what: str
                    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    """Value of a loss and the gradients it gives ``params`` (None if it carries no graph)."""
    for p in params:
        p.grad = None
    value = _run(fn, *args, what=what)
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return a torch.Tensor (a scalar loss), got {type(value).__name__}")
    v = _scalar(value, what)
    if not value.requires_grad:
        return v, None
    value.reshape(()).backward()
    return v, _grads(params)


class _Probe(nn.Module):
    """A small image-to-image map (conv + tanh): different maps never commute, so composition order shows."""

    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(x))


# ----------------------------------------------------------------------------------------
# 16 CycleGAN
# ----------------------------------------------------------------------------------------
def _cycle_probe(seed: int = 0) -> tuple[_Probe, _Probe, torch.Tensor, torch.Tensor]:
    with _seeded(seed):
        g, f = _Probe(), _Probe()
        a, b = torch.rand(3, 3, 8, 8) * 2 - 1, torch.rand(3, 3, 8, 8) * 2 - 1
    return g, f, a, b


def _check_two_map_loss(fn: Callable, reference: Callable, mistakes: Callable, what: str, hint: str) -> None:
    """Shared by the cycle and identity checks: value, known mistakes, gradients into both maps."""
    g, f, a, b = _cycle_probe()
    params = list(g.parameters()) + list(f.parameters())
    value, grads = _loss_and_grads(fn, (g, f, a, b), params, what)
    expected, ref_grads = _loss_and_grads(reference, (g, f, a, b), params, "the course's version")
    with torch.no_grad():
        _diagnose(value, expected, mistakes(g, f, a, b), what)
    check_close(value, expected, what, hint=hint)
    if grads is None:
        raise ExerciseError(f"{what} carries no gradient: do not detach, call .item() or use torch.no_grad() -- "
                            f"the generators learn from this loss")
    for name, net, sl in (("G", g, slice(0, 2)), ("F", f, slice(2, 4))):
        if all(float(t.abs().max()) == 0 for t in grads[sl]):
            raise ExerciseError(f"{what}: no gradient reaches {name}: did you detach one of its outputs?")
    for mine, ref in zip(grads, ref_grads):
        if not _same(mine, ref, rtol=1e-3, atol=1e-6):
            raise ExerciseError(f"{what}: the value is right but the gradients are not: did you detach part of it?")


def check_cycle_loss(cycle_loss: Callable) -> bool:
    r"""Check ``cycle_loss(G, F, a, b)`` $= \mathbb{E}|F(G(a)) - a| + \mathbb{E}|G(F(b)) - b|$ (notebook 16).

    Runs it with two small random convolutional maps on random batches against
    :func:`course_lib.translation.cycle_consistency` (value and the gradients into G and F), and with two
    maps that invert each other (loss 0).
    """
    from .. import translation

    what = "cycle_loss"
    _callable(cycle_loss, what)

    def mistakes(g, f, a, b):
        fwd, bwd = (f(g(a)) - a), (g(f(b)) - b)
        return [
            (fwd.abs().mean(), "only the A -> B -> A cycle: add the B -> A -> B term mean |G(F(b)) - b|"),
            (bwd.abs().mean(), "only the B -> A -> B cycle: add the A -> B -> A term mean |F(G(a)) - a|"),
            ((g(f(a)) - a).abs().mean() + (f(g(b)) - b).abs().mean(),
             "the maps are composed in the wrong order: F(G(a)) applies G first (A -> B), then F (B -> A)"),
            (fwd.pow(2).mean() + bwd.pow(2).mean(), "squared errors: the cycle loss is an L1 loss (absolute values)"),
            (fwd.abs().sum() + bwd.abs().sum(), "summed over the pixels: take the mean absolute error of each batch"),
            (0.5 * (fwd.abs().mean() + bwd.abs().mean()),
             "off by a factor 2: the two cycle terms are added, not averaged"),
            ((g(b) - b).abs().mean() + (f(a) - a).abs().mean(),
             "that is the identity loss (G(b) vs b): the cycle goes through both maps, F(G(a)) vs a"),
        ]

    _check_two_map_loss(cycle_loss, translation.cycle_consistency, mistakes, what,
                        hint="two L1 reconstruction errors: F(G(a)) vs a and G(F(b)) vs b")
    _, _, a, b = _cycle_probe()
    zero = _scalar(_run(cycle_loss, lambda x: 0.5 * x, lambda x: 2 * x, a, b, what=what), what)
    if abs(float(zero)) > 1e-6:
        raise ExerciseError(f"{what} of two maps that undo each other (G(x) = x / 2, F(x) = 2 x) is {float(zero):.4g}, "
                            f"should be 0: compare F(G(a)) with a, and G(F(b)) with b")
    return _ok(f"{what} (value, gradients into G and F, 0 for inverse maps)")


def check_identity_loss(identity_loss: Callable) -> bool:
    r"""Check ``identity_loss(G, F, a, b)`` $= \mathbb{E}|G(b) - b| + \mathbb{E}|F(a) - a|$ (notebook 16).

    Against :func:`course_lib.translation.identity_loss` (value, gradients), with G: A -> B and F: B -> A, so
    each map is fed an image of its *target* domain.
    """
    from .. import translation

    what = "identity_loss"
    _callable(identity_loss, what)

    def mistakes(g, f, a, b):
        gb, fa = g(b) - b, f(a) - a
        return [
            ((g(a) - a).abs().mean() + (f(b) - b).abs().mean(),
             ("each map got an image of its *source* domain: G maps A -> B, so feed it a B image, G(b) vs b "
             "(and F(a) vs a)")),
            (gb.abs().mean(), "only G's term: add mean |F(a) - a|"),
            (fa.abs().mean(), "only F's term: add mean |G(b) - b|"),
            (gb.pow(2).mean() + fa.pow(2).mean(), "squared errors: the identity loss is an L1 loss (absolute values)"),
            (gb.abs().sum() + fa.abs().sum(), "summed over the pixels: take the mean absolute error of each batch"),
            (0.5 * (gb.abs().mean() + fa.abs().mean()), "off by a factor 2: the two terms are added, not averaged"),
            ((f(g(a)) - a).abs().mean() + (g(f(b)) - b).abs().mean(),
             "that is the cycle loss: the identity loss feeds one map an image of its target domain, G(b) vs b"),
        ]

    _check_two_map_loss(identity_loss, translation.identity_loss, mistakes, what,
                        hint="G(b) vs b and F(a) vs a, mean absolute errors, added")
    return _ok(f"{what} (value and gradients into G and F)")


def check_retrieval_at_1(retrieval_at_1: Callable) -> bool:
    """Check ``retrieval_at_1(queries, gallery)`` (notebook 16) against :func:`course_lib.translation.retrieval_accuracy`.

    The probe holds 16 images; 10 queries are noisy copies of their own gallery row, the rest sit nearest to
    another row (two of them crowd one gallery image, so nearest-query and nearest-gallery differ).
    """
    from .. import translation

    what = "retrieval_at_1"
    _callable(retrieval_at_1, what)
    with _seeded(1):
        gallery = torch.rand(16, 3, 6, 6)
        src = torch.arange(16)
        src[10:] = torch.tensor([11, 12, 13, 14, 10, 10])              # rows 10-15 are nearest to other rows
        queries = (gallery[src] + 0.02 * torch.randn(16, 3, 6, 6)).clamp(0, 1)
        queries[15] = (0.6 * gallery[10] + 0.4 * gallery[15]).clamp(0, 1)  # nearer to row 10 than query 14 is
    value = _run(retrieval_at_1, queries, gallery, what=what)
    v = _scalar(value, what)
    expected = translation.retrieval_accuracy(queries, gallery)
    d = torch.cdist(queries.flatten(1), gallery.flatten(1))
    idx = torch.arange(16)
    mistakes = [
        (float((d.argmax(1) == idx).float().mean()), "argmax finds the *farthest* gallery image: nearest = argmin"),
        (float((d.argmin(0) == idx).float().mean()),
         ("argmin over dim 0 finds each gallery image's nearest query: take the nearest gallery image of each query "
         "(argmin over dim 1)")),
        (float((d.argmin(1) == idx).float().sum()), "that is a count: return the fraction (divide by N)"),
        (16 - float((d.argmin(1) == idx).float().sum()), "that counts the misses: count the rows whose nearest is their own"),
    ]
    _diagnose(v, expected, mistakes, what)
    check_close(v, expected, what, hint="torch.cdist of the flattened images, argmin over the gallery, compare with "
                                         "arange(N), mean")
    return _ok(f"{what} = {expected:.3f} on the probe")


# ----------------------------------------------------------------------------------------
# 17 text to image
# ----------------------------------------------------------------------------------------
def check_colour_fractions(colour_fractions: Callable) -> bool:
    """Check ``colour_fractions(x, palette)`` (notebook 17) against :func:`course_lib.text2image.colour_fractions`.

    The probe: palette colours, near-white background, pale pixels that are drawn in only one channel, and an
    all-white image (a row of zeros).
    """
    from .. import text2image

    what = "colour_fractions"
    _callable(colour_fractions, what)
    palette = torch.tensor(list(text2image.PALETTE.values()), dtype=torch.float32)
    with _seeded(2):
        x = torch.ones(4, 3, 8, 8)
        idx = torch.randint(len(palette), (3, 8, 8))
        x[:3] = palette[idx].permute(0, 3, 1, 2) * 0.9 + 0.1 * torch.rand(3, 3, 8, 8) * palette[idx].permute(0, 3, 1, 2)
        x[:3, :, :, :3] = 0.95                                  # background: near white in every channel
        x[:2, 2, :2, :] = 0.7                                   # pale but drawn: only the blue channel is low
        x[:2, :2, :2, :] = 1.0
        x = x.clamp(0, 1)                                       # row 3 stays all white
    value = _run(colour_fractions, x, palette, what=what)
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return a (B, K) tensor, got {type(value).__name__}")
    expected = text2image.colour_fractions(x)
    pix = x.permute(0, 2, 3, 1).reshape(4, -1, 3)
    onehot = F.one_hot(torch.cdist(pix, palette[None].expand(4, -1, -1)).argmin(-1), len(palette)).float()
    drawn_any = ((1 - pix).amax(-1) > 0.12).float()[..., None]
    drawn_all = ((1 - pix).amin(-1) > 0.12).float()[..., None]
    all_px = onehot.sum(1)
    mistakes = [
        (all_px / all_px.sum(1, keepdim=True), ("the white background is counted: keep only the drawn pixels "
                                               "(some channel below 1 - 0.12)")),
        ((onehot * drawn_any).sum(1) / pix.shape[1], ("the rows do not sum to 1: divide by the number of *drawn* "
                                                     "pixels of each image, not by all pixels")),
        ((onehot * drawn_all).sum(1) / (onehot * drawn_all).sum((1, 2))[:, None].clamp_min(1),
         "a pixel is drawn when *some* channel is below 1 - 0.12 ((1 - x).amax over the channels), not all of them"),
    ]
    if torch.isnan(value[3]).any():
        raise ExerciseError(f"{what}: an all-white image gives NaN (0 / 0): clamp the drawn-pixel count to at "
                            f"least 1, so its row is all zeros")
    _diagnose(value, expected, mistakes, what)
    check_close(value, expected, what, atol=1e-6,
                hint="nearest palette colour per pixel (cdist + argmin), one_hot, keep the drawn pixels, divide by "
                     "their count")
    return _ok(f"{what} (drawn pixels only, an all-white image gives zeros)")


class _TextD(nn.Module):
    """A tiny D(x, h): a bilinear score of image and text features, raw logits (B,)."""

    def __init__(self, pixels: int, text_dim: int, hidden: int = 6):
        super().__init__()
        self.img, self.txt = nn.Linear(pixels, hidden), nn.Linear(text_dim, hidden)
        self.bias = nn.Parameter(torch.tensor(0.3))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return (self.img(x.flatten(1)) * self.txt(h)).sum(1) + self.bias


def _gan_cls_reference(D: Callable, x_real: torch.Tensor, x_fake: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    from .. import text2image

    s_r, s_w, s_f = (torch.sigmoid(D(x_real, h)), torch.sigmoid(D(x_real, text2image.mismatch(h))),
                     torch.sigmoid(D(x_fake, h)))
    return -text2image.cls_d_objective(s_r, s_w, s_f)


def check_gan_cls_d_loss(gan_cls_d_loss: Callable) -> bool:
    r"""Check ``gan_cls_d_loss(D, x_real, x_fake, h)`` $= -L_D$ of GAN-CLS (notebook 17).

    $L_D = \log s_r + \frac12(\log(1 - s_w) + \log(1 - s_f))$ with $s_r = D(x, h)$, $s_w = D(x, \hat h)$,
    $\hat h$ = ``text2image.mismatch(h)``, $s_f = D(\hat x, h)$, D returning logits. Runs it with a small random
    D on random images and captions against :func:`course_lib.text2image.cls_d_objective` (value and D's
    gradients) and names the classic mistakes (no wrong-text term, weights 1 instead of 1/2, the fake image
    with the wrong text, the sign).
    """
    from .. import text2image

    what = "gan_cls_d_loss"
    _callable(gan_cls_d_loss, what)
    with _seeded(3):
        D = _TextD(3 * 4 * 4, 5)
        x_real, x_fake = torch.rand(6, 3, 4, 4) * 2 - 1, torch.rand(6, 3, 4, 4) * 2 - 1
        h = torch.randn(6, 5)
    params = list(D.parameters())
    value, grads = _loss_and_grads(gan_cls_d_loss, (D, x_real, x_fake, h), params, what)
    expected, ref_grads = _loss_and_grads(_gan_cls_reference, (D, x_real, x_fake, h), params, "the course's version")
    with torch.no_grad():
        r, f = D(x_real, h), D(x_fake, h)
        w = D(x_real, text2image.mismatch(h))
        sp = lambda t: F.softplus(t).mean()                                     # -log(1 - sigmoid(t))
        real, wrong, fake = sp(-r), sp(w), sp(f)
        mistakes = [
            (real + 0.5 * fake, ("the wrong-text term is missing: GAN-CLS also scores real images with "
                                "mismatching captions (h_hat = text2image.mismatch(h)) as fake, weight 1/2")),
            (real + fake, "the wrong-text term is missing, and the fake term has weight 1 instead of 1/2"),
            (real + wrong + 0.5 * fake, ("the wrong-text term has weight 1: it shares the 'fake' half of L_D with "
                                        "the fake images, weight 1/2 each")),
            (real + wrong + fake, "the wrong-text and fake terms have weight 1: L_D weights each by 1/2"),
            (real + 0.5 * wrong + fake, "the fake term has weight 1: L_D weights it by 1/2, like the wrong-text term"),
            (real + 0.5 * (sp(D(x_fake, text2image.mismatch(h))) + fake),
             "the wrong-text pair uses the fake image: it is a *real* image with a mismatching caption, D(x, h_hat)"),
            (real + 0.5 * (sp(r) + fake), ("the 'wrong' caption is the right one: use h_hat = text2image.mismatch(h), "
                                          "the captions rolled by one row")),
            (-expected, "sign flipped: return the loss D *minimises*, -L_D"),
        ]
        _diagnose(value, expected, mistakes, what)
    check_close(value, expected, what, hint="-log s_r - (log(1 - s_w) + log(1 - s_f)) / 2, batch means, s = "
                                            "sigmoid(D(...))")
    if grads is None:
        raise ExerciseError(f"{what} carries no gradient: D is trained with it (no .item(), no torch.no_grad())")
    for mine, ref in zip(grads, ref_grads):
        if not _same(mine, ref, rtol=1e-3, atol=1e-6):
            raise ExerciseError(f"{what}: the value is right but D's gradients are not: did you detach a score?")
    return _ok(f"{what} (three pairs, weights 1, 1/2, 1/2, D's gradients)")


def check_style_loss(style_loss: Callable) -> bool:
    r"""Check ``style_loss(z, z_hat)`` $= \mathbb{E}\lVert z - \hat z\rVert_2^2$ (notebook 17): sum over dims, batch mean."""
    from .. import text2image

    what = "style_loss"
    _callable(style_loss, what)
    with _seeded(4):
        z, z_hat = torch.randn(8, 7), torch.randn(8, 7)
    value = _scalar(_run(style_loss, z, z_hat, what=what), what)
    expected = text2image.style_loss(z, z_hat)
    d = z - z_hat
    mistakes = [
        (F.mse_loss(z_hat, z), ("averaged over the latent dimensions too (F.mse_loss): sum the squares over the "
                               "dimensions (the squared Euclidean distance), then average over the batch")),
        (d.norm(dim=1).mean(), "not squared: L_style uses the *squared* distance ||z - z_hat||^2"),
        (d.pow(2).sum(), "summed over the batch: take the batch mean"),
        (d.abs().sum(1).mean(), "absolute values: L_style uses squared differences"),
    ]
    _diagnose(value, expected, mistakes, what)
    check_close(value, expected, what, hint="((z - z_hat) ** 2).sum(1).mean()")
    return _ok(what)


# ----------------------------------------------------------------------------------------
# 18 inversion
# ----------------------------------------------------------------------------------------
class _CondG(nn.Module):
    """A tiny G(z, y) -> (B, 3, 4, 4) in [-1, 1]."""

    def __init__(self, latent_dim: int, attr_dim: int):
        super().__init__()
        self.fc = nn.Linear(latent_dim + attr_dim, 48)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc(torch.cat([z, y], 1))).view(len(z), 3, 4, 4)


def check_ez_loss(ez_loss: Callable) -> bool:
    r"""Check ``ez_loss(E_z, G, z, y)`` $= \mathrm{MSE}(E_z(G(z, y)), z)$ with no gradient into G (notebook 18)."""
    from .. import inversion

    what = "ez_loss"
    _callable(ez_loss, what)
    with _seeded(5):
        G = _CondG(6, 3)
        E_z = nn.Sequential(nn.Flatten(), nn.Linear(48, 6))
        z, y = torch.randn(5, 6), F.one_hot(torch.randint(3, (5,)), 3).float()
    params_g, params_e = list(G.parameters()), list(E_z.parameters())
    value, grads = _loss_and_grads(ez_loss, (E_z, G, z, y), params_g + params_e, what)
    expected = inversion.latent_encoder_loss(E_z, G, z, y)
    with torch.no_grad():
        d = E_z(G(z, y)) - z
        mistakes = [
            (d.pow(2).sum(1).mean(), "summed over the latent dimensions: F.mse_loss averages over all entries"),
            (d.pow(2).sum(), "summed over everything: F.mse_loss averages over all entries"),
            (d.abs().mean(), "absolute errors: the loss is the mean *squared* error"),
        ]
        _diagnose(value, expected, mistakes, what)
    check_close(value, expected, what, hint="F.mse_loss(E_z(G(z, y)), z), G under torch.no_grad()")
    if grads is None:
        raise ExerciseError(f"{what}: no gradient reaches E_z: only the generation x = G(z, y) goes under "
                            f"torch.no_grad(), not the encoder")
    if any(float(t.abs().max()) > 0 for t in grads[:len(params_g)]):
        raise ExerciseError(f"{what}: the gradient reaches G: generate x = G(z, y) under torch.no_grad() "
                            f"(G is a fixed data source here)")
    if all(float(t.abs().max()) == 0 for t in grads[len(params_g):]):
        raise ExerciseError(f"{what}: no gradient reaches E_z: only the generation goes under torch.no_grad()")
    return _ok(f"{what} (value, gradient into E_z only)")


def _simulate_projection(decode: Callable, x: torch.Tensor, w0: torch.Tensor, num_steps: int, lr: float,
                         optimizer: str = "adam", zero_grad: bool = True) -> torch.Tensor:
    from .. import inversion

    w = w0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr) if optimizer == "adam" else torch.optim.SGD([w], lr=lr)
    for _ in range(num_steps):
        loss = inversion.reconstruction_loss(decode(w), x)
        if zero_grad:
            opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach()


def check_project(project: Callable) -> bool:
    """Check ``project(decode, x, w0, num_steps, lr)`` (notebook 18): Adam on a copy of w0, returns w detached.

    Runs it on a small fixed decoder against :func:`course_lib.inversion.optimise` (6 steps) and names the usual
    slips: w0 changed in place, w not moving, SGD instead of Adam, gradients accumulating (no ``zero_grad``),
    a step too many or too few, a result that still carries the graph.
    """
    from .. import inversion

    what = "project"
    _callable(project, what)
    with _seeded(6):
        net = nn.Linear(5, 48)
        net.requires_grad_(False)
        x = torch.tanh(net(torch.randn(3, 5))).view(3, 3, 4, 4)
        w0 = 0.1 * torch.randn(3, 5)
    decode = lambda w: torch.tanh(net(w)).view(len(w), 3, 4, 4)
    n, lr = 6, 0.05
    w0_before = w0.clone()
    value = _run(project, decode, x, w0, n, lr, what=what)
    if not torch.equal(w0, w0_before):
        raise ExerciseError(f"{what} changed w0 in place: optimise a copy, w = w0.detach().clone().requires_grad_(True)")
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return the codes w as a (B, d) tensor, got {type(value).__name__}")
    if value.shape != w0.shape:
        raise ExerciseError(f"{what} should return w with the shape of w0 {tuple(w0.shape)}, got {tuple(value.shape)}")
    if value.requires_grad:
        raise ExerciseError(f"{what} returns w with its graph: return w.detach()")
    expected = inversion.optimise(decode, x, w0, n, lr).codes
    mistakes = [
        (w0, "w did not move: run num_steps optimiser steps on w (zero_grad, loss.backward(), opt.step())"),
        (_simulate_projection(decode, x, w0, n, lr, "sgd"), ("plain gradient descent (SGD): the projection uses "
                                                            "torch.optim.Adam([w], lr=lr)")),
        (_simulate_projection(decode, x, w0, n, lr, zero_grad=False),
         "the gradients accumulate over the steps: call opt.zero_grad() before each loss.backward()"),
        (_simulate_projection(decode, x, w0, n - 1, lr), "one step too few: run exactly num_steps steps"),
        (_simulate_projection(decode, x, w0, n + 1, lr), "one step too many: run exactly num_steps steps"),
    ]
    _diagnose(value, expected, mistakes, what, atol=1e-5)
    check_close(value, expected, what, atol=1e-4,
                hint="Adam on a copy of w0; loss = inversion.reconstruction_loss(decode(w), x); return w.detach()")
    return _ok(f"{what} ({n} Adam steps on a copy of w0)")


def check_data_consistent(data_consistent: Callable) -> bool:
    r"""Check ``data_consistent(observed, x_gen, forward_op)`` $= \mathrm{clamp}(\tilde x + G - A(G), -1, 1)$ (notebook 18).

    Against :func:`course_lib.inversion.data_consistent` for a blur and for the gray operator (where
    A(result) = observed holds exactly), and with the identity (where the result is the observation).
    """
    from .. import inversion

    what = "data_consistent"
    _callable(data_consistent, what)
    with _seeded(7):
        clean = torch.rand(2, 3, 12, 12) * 2 - 1
        x_gen = (torch.rand(2, 3, 12, 12) * 2 - 1).clamp(-0.9, 0.9)
    for kind, amount in (("blur", 1.5), ("grayscale", 1.0), ("noise", 1.0)):
        op = inversion.forward_operator(kind, amount)
        observed = op(clean)
        value = _run(data_consistent, observed, x_gen, op, what=what)
        if not isinstance(value, torch.Tensor):
            raise ExerciseError(f"{what} should return a (B, C, H, W) tensor, got {type(value).__name__}")
        expected = inversion.data_consistent(observed, x_gen, op)
        mistakes = [
            ((observed - x_gen + op(x_gen)).clamp(-1, 1), ("sign flipped: add G(w*) and subtract A(G(w*)), "
                                                          "x_obs + G - A(G)")),
            ((observed + x_gen).clamp(-1, 1), ("you add all of G(w*): subtract A(G(w*)), the part the observation "
                                              "already measured")),
            ((x_gen - op(x_gen)).clamp(-1, 1), "the observation is missing: start from it, x_obs + G - A(G)"),
            (observed + x_gen - op(x_gen), "not clamped: images live in [-1, 1], clamp the result"),
            ((observed + x_gen - op(observed)).clamp(-1, 1), ("A is applied to the observation: subtract A(G(w*)), "
                                                             "the generator's image degraded")),
            (x_gen, "that is the plain projection G(w*): keep the observation and add only what A removes"),
        ]
        _diagnose(value, expected, mistakes, f"{what} ({kind})", atol=1e-5)
        check_close(value, expected, f"{what} ({kind})", atol=1e-5, hint="(observed + x_gen - forward_op(x_gen))"
                                                                          ".clamp(-1, 1)")
    return _ok(f"{what} (blur, gray and identity operators)")


# ----------------------------------------------------------------------------------------
# 19 face aging
# ----------------------------------------------------------------------------------------
def check_tv(tv: Callable) -> bool:
    r"""Check ``tv(x)`` $= \mathrm{mean}|x_{i+1,j} - x_{i,j}| + \mathrm{mean}|x_{i,j+1} - x_{i,j}|$ (notebook 19).

    Against :func:`course_lib.losses.total_variation` on a random (B, C, H, W) batch (value and gradient),
    non-square, and 0 on a constant image.
    """
    from .. import losses

    what = "tv"
    _callable(tv, what)
    with _seeded(8):
        x = torch.rand(2, 3, 6, 9).requires_grad_(True)
    value = _run(tv, x, what=what)
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return a scalar tensor (it is a loss), got {type(value).__name__}")
    v = _scalar(value, what)
    expected = losses.total_variation(x)
    with torch.no_grad():
        dh, dw = x[..., 1:, :] - x[..., :-1, :], x[..., :, 1:] - x[..., :, :-1]
        dc = x[:, 1:] - x[:, :-1]
        mistakes = [
            (dh.abs().mean(), "only the vertical differences: add the horizontal ones, x[..., :, 1:] - x[..., :, :-1]"),
            (dw.abs().mean(), "only the horizontal differences: add the vertical ones, x[..., 1:, :] - x[..., :-1, :]"),
            (dh.pow(2).mean() + dw.pow(2).mean(), "squared differences: this TV uses absolute values"),
            (dh.abs().sum() + dw.abs().sum(), "summed: take the mean absolute difference of each direction"),
            ((x.roll(-1, 2) - x).abs().mean() + (x.roll(-1, 3) - x).abs().mean(),
             ("torch.roll wraps around the border (last row vs first): compare neighbours inside the image, "
             "x[..., 1:, :] - x[..., :-1, :]")),
            (dc.abs().mean() + dh.abs().mean(), ("differences along the channel axis: H and W are the last two "
                                                "dims, use x[..., 1:, :] and x[..., :, 1:]")),
            (dc.abs().mean() + dw.abs().mean(), ("differences along the channel axis: H and W are the last two "
                                                "dims, use x[..., 1:, :] and x[..., :, 1:]")),
            (0.5 * (dh.abs().mean() + dw.abs().mean()), ("off by a factor 2: the two directions are added, not "
                                                        "averaged")),
        ]
        _diagnose(v, expected, mistakes, what)
    check_close(v, expected, what, hint="x[..., 1:, :] - x[..., :-1, :] (rows) and x[..., :, 1:] - x[..., :, :-1] "
                                        "(columns), absolute values, a mean each, added")
    if not value.requires_grad:
        raise ExerciseError(f"{what} carries no gradient: it is a loss the generator is trained with")
    (grad,) = torch.autograd.grad(value.reshape(()), x)
    (ref_grad,) = torch.autograd.grad(expected, x)
    if not _same(grad, ref_grad, rtol=1e-3, atol=1e-6):
        raise ExerciseError(f"{what}: the value is right but the gradient is not: did you detach part of it?")
    flat = _scalar(_run(tv, torch.full((2, 3, 6, 9), 0.3), what=what), what)
    if abs(float(flat)) > 1e-7:
        raise ExerciseError(f"{what} of a constant image is {float(flat):.4g}, should be 0")
    return _ok(f"{what} (value, gradient, 0 on a constant image)")


def check_detail_ratio(detail_ratio: Callable) -> bool:
    """Check ``detail_ratio(x_hat, x)`` (notebook 19) against :func:`course_lib.quality.detail_ratio`.

    Probes: a noisy and a blurred version of random smooth images; blur must give a ratio below 1, noise above 1.
    """
    from .. import quality

    what = "detail_ratio"
    _callable(detail_ratio, what)
    with _seeded(9):
        x = F.interpolate(torch.rand(4, 3, 6, 6), size=16, mode="bilinear", align_corners=False)
        noisy = (x + 0.1 * torch.randn_like(x)).clamp(0, 1)
        blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]).view(1, 1, 3, 3)
    y = lambda t: 0.299 * t[:, :1] + 0.587 * t[:, 1:2] + 0.114 * t[:, 2:]
    for name, x_hat in (("noisy", noisy), ("blurred", blurred)):
        v = _scalar(_run(detail_ratio, x_hat, x, what=what), what)
        expected = quality.detail_ratio(x_hat, x)
        mistakes = [
            (1 / expected, "inverted: the outputs' high-frequency energy over the real images', x_hat on top"),
            (float(F.conv2d(y(x_hat), lap).mean() / F.conv2d(y(x), lap).mean()),
             "take the absolute value of the Laplacian before the mean (it averages to about 0)"),
            (float(F.conv2d(y(x_hat), lap).pow(2).mean() / F.conv2d(y(x), lap).pow(2).mean()),
             "squared Laplacian: the detail is the mean *absolute* Laplacian"),
        ]
        _diagnose(v, expected, mistakes, f"{what} ({name})", rtol=1e-3)
        check_close(v, expected, f"{what} ({name})", rtol=1e-3,
                    hint="mean |Laplacian| of the gray outputs divided by that of the gray real images")
    return _ok(f"{what} (noise above 1, blur below 1)")


def check_decoder_input(decoder_input: Callable) -> bool:
    """Check ``decoder_input(z, l, label_repeat)`` (notebook 19): ``[z, l, l, ..., l]`` along dim 1.

    The CAAE generator sees the code and the one-hot age label tiled ``label_repeat`` times. Besides the
    tensor, the check feeds it to the DCGAN body of a course :class:`~course_lib.nets.dcgan.AttributeGenerator`
    and compares with that generator's own output (the same weights).
    """
    from ..nets import dcgan

    what = "decoder_input"
    _callable(decoder_input, what)
    latent_dim, n_ages, repeat = 10, 4, 3
    with _seeded(10):
        z = torch.rand(5, latent_dim) * 2 - 1
        l = F.one_hot(torch.tensor([0, 1, 2, 3, 1]), n_ages).float()
        gen = dcgan.AttributeGenerator(latent_dim, n_ages, 3, 32, 4, label_repeat=repeat).eval()
    value = _run(decoder_input, z, l, repeat, what=what)
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return a tensor, got {type(value).__name__}")
    expected = torch.cat([z, l.repeat(1, repeat)], 1)
    if value.shape != expected.shape:
        hint = ""
        if tuple(value.shape) == (5, latent_dim + n_ages):
            hint = ": the label is not tiled, repeat it label_repeat times (l.repeat(1, label_repeat))"
        elif value.shape[0] != 5:
            hint = ": concatenate along dim 1 (features), not dim 0 (the batch)"
        raise ExerciseError(f"{what} should have shape (B, latent_dim + n_ages * label_repeat) = "
                            f"{tuple(expected.shape)}, got {tuple(value.shape)}{hint}")
    mistakes = [
        (torch.cat([z, l.repeat_interleave(repeat, 1)], 1),
         ("each entry of the label is repeated in place (repeat_interleave): tile the whole one-hot vector, "
         "l.repeat(1, label_repeat)")),
        (torch.cat([l.repeat(1, repeat), z], 1), ("the label comes first: the generator expects z, then the tiled "
                                                 "label, torch.cat([z, ...], 1)")),
    ]
    _diagnose(value, expected, mistakes, what)
    check_close(value, expected, what, hint="torch.cat([z, l.repeat(1, label_repeat)], 1)")
    with torch.no_grad():
        out = gen.net(value.float())
        ref = gen(z, l)
    check_close(out, ref, "G's body on your decoder input vs the course's G(z, l)", atol=1e-6)
    return _ok(what)


# ----------------------------------------------------------------------------------------
# 20 3D-GAN
# ----------------------------------------------------------------------------------------
_CONVT_CASES = ((1, 4, 1, 0), (4, 4, 2, 1), (8, 4, 2, 1), (5, 3, 2, 0), (7, 5, 3, 2), (3, 2, 2, 0), (6, 4, 2, 1))


def check_convt3d_out(convt3d_out: Callable) -> bool:
    """Check ``convt3d_out(d, k, s, p)`` (notebook 20) on several layer settings and through a 3D-GAN generator.

    Each answer is compared with the side PyTorch's ``ConvTranspose3d`` really produces.
    """
    from ..nets import voxels as vnets

    what = "convt3d_out"
    _callable(convt3d_out, what)
    for d, k, s, p in _CONVT_CASES:
        got = _run(convt3d_out, d, k, s, p, what=what)
        with torch.no_grad():
            true = nn.ConvTranspose3d(1, 1, k, s, p)(torch.zeros(1, 1, d, d, d)).shape[-1]
        if isinstance(got, torch.Tensor):
            got = got.item()
        if got == true:
            continue
        known = {
            (d - 1) * s - p + k: "padding counted once: it trims p from *both* ends of each axis, - 2p",
            d * s - 2 * p + k: "d * s: the first and last kernel positions are (d - 1) * s apart",
            (d - 1) * s + 2 * p + k: "padding added: in a transposed convolution it *removes* 2p from the output",
            (d + 2 * p - k) // s + 1: "that is the size of a (forward) convolution, which shrinks the side; "
                                      "the transposed one inverts it",
        }
        msg = known.get(got, "the side should be (d - 1) * s - 2 * p + k")
        raise ExerciseError(f"{what}({d}, k={k}, s={s}, p={p}) = {got}, but ConvTranspose3d gives {true}: {msg}")
    with _seeded(11):
        G = vnets.Generator(vnets.LATENT_DIM, 16, 2)
    side, h = 1, torch.zeros(1, vnets.LATENT_DIM, 1, 1, 1)
    with torch.no_grad():
        for layer in G.net:
            h = layer(h) if not isinstance(layer, nn.BatchNorm3d) else h
            if isinstance(layer, nn.ConvTranspose3d):
                side = _run(convt3d_out, side, layer.kernel_size[0], layer.stride[0], layer.padding[0], what=what)
                if side != h.shape[-1]:
                    raise ExerciseError(f"{what}: walking the generator gives side {side}, the layer produces "
                                        f"{h.shape[-1]}")
    return _ok(f"{what} ({len(_CONVT_CASES)} settings and the generator's 1 -> 4 -> 8 -> 16)")


def check_iou(iou: Callable) -> bool:
    """Check ``iou(a, b)`` for (B, 1, D, D, D) grids (notebook 20) against :func:`course_lib.voxels.iou`.

    The probe holds probabilities (binarised at 0.5), grids of different fill, and a pair of empty grids (IoU 1).
    """
    from .. import voxels

    what = "iou"
    _callable(iou, what)
    with _seeded(12):
        a = torch.rand(5, 1, 6, 6, 6) ** 2                       # probabilities, about 30% above 0.5
        b = torch.rand(5, 1, 6, 6, 6) ** 3
        b[1] = a[1].clamp(0.05, 0.95)                            # the same shape as soft values
        a[4], b[4] = 0.2, 0.3                                    # both empty once binarised
    value = _run(iou, a, b, what=what)
    if not isinstance(value, torch.Tensor):
        raise ExerciseError(f"{what} should return a (B,) tensor, got {type(value).__name__}")
    if value.shape != (5,):
        raise ExerciseError(f"{what} should return one IoU per pair of grids, shape (5,) for this probe, got "
                            f"{tuple(value.shape)}: count per grid (flatten(1).sum(1)), not over the whole batch")
    expected = voxels.iou(a, b)
    if torch.isnan(value.double()).any():
        raise ExerciseError(f"{what} is NaN for two empty grids (0 / 0): the IoU of two empty grids is 1")
    ab, bb = a > 0.5, b > 0.5
    inter, union = (ab & bb).flatten(1).sum(1).double(), (ab | bb).flatten(1).sum(1).double()
    soft_i, soft_u = (a * b).flatten(1).sum(1), (a + b - a * b).flatten(1).sum(1)
    mistakes = [
        (soft_i / soft_u, "the grids are not binarised: threshold the occupancies at 0.5 first"),
        (torch.where(union > 0, inter / ab.flatten(1).sum(1).clamp_min(1), torch.ones_like(union)),
         "divided by |A|: IoU divides by the union |A or B|"),
        (torch.where(union > 0, inter / union.clamp_min(1), torch.zeros_like(union)),
         "two empty grids should have IoU 1 (the same, empty, shape), not 0"),
        (torch.where(union > 0, inter / (ab.flatten(1).sum(1) + bb.flatten(1).sum(1)).clamp_min(1),
                     torch.ones_like(union)), ("divided by |A| + |B|, which counts the intersection twice: divide by "
                                              "the union |A or B|")),
    ]
    _diagnose(value, expected, mistakes, what)
    check_close(value, expected, what, hint="binarise at 0.5; |a & b| / |a | b| per grid; 1 where both are empty")
    return _ok(f"{what} (binarised, per grid, 1 for two empty grids)")


def _layers(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if not list(m.children())]


def check_up_block3d(up_block3d: Callable) -> bool:
    """Check ``up_block3d(c_in, c_out)`` (notebook 20): ConvTranspose3d(4, 2, 1, no bias) -> BatchNorm3d -> ReLU.

    The block must double the side, have the course block's parameter count, and, loaded with the same weights,
    give the same outputs as the generator's block in training and evaluation mode.
    """
    what = "up_block3d"
    _callable(up_block3d, what)
    c_in, c_out = 6, 4
    with _seeded(13):
        block = _run(up_block3d, c_in, c_out, what=what)
        ref = nn.Sequential(nn.ConvTranspose3d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU(True))
        x = torch.randn(3, c_in, 4, 4, 4)
    if not isinstance(block, nn.Module):
        raise ExerciseError(f"{what} should return an nn.Module (e.g. nn.Sequential(...)), got {type(block).__name__}")
    try:
        with torch.no_grad():
            out = block(x)
    except Exception as err:  # noqa: BLE001
        raise ExerciseError(f"the block fails on a (B, c_in, 4, 4, 4) input: {type(err).__name__}: {err}") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 5:
        raise ExerciseError(f"the block should map (B, c_in, D, D, D) to (B, c_out, 2D, 2D, 2D), got "
                            f"{getattr(out, 'shape', type(out).__name__)}")
    side = out.shape[-1]
    if out.shape[1] != c_out:
        raise ExerciseError(f"the block should output c_out = {c_out} channels, got {out.shape[1]}")
    if side != 8:
        msg = {2: "the side halves: that is a Conv3d (down-sampling), the generator needs nn.ConvTranspose3d",
               7: "the side grows by 3 only: stride 2 doubles it (kernel 4, stride 2, padding 1)",
               10: "the side is 2 D + 2: padding 1 trims one voxel at each end (kernel 4, stride 2, padding 1)",
               4: "the side does not change: stride 2 doubles it"}.get(side, "kernel 4, stride 2, padding 1 "
                                                                            "doubles the side")
        raise ExerciseError(f"a 4^3 input should come out 8^3, got {side}^3: {msg}")
    n_ref, n = sum(p.numel() for p in ref.parameters()), sum(p.numel() for p in block.parameters())
    if n != n_ref:
        msg = {n_ref + c_out: "the transposed convolution has a bias: batch norm right after it removes any bias "
                              "(bias=False)",
               n_ref - 2 * c_out: "no batch norm: add nn.BatchNorm3d(c_out) after the transposed convolution",
               n_ref - 2 * c_out + c_in * 2: "batch norm sits before the convolution: ConvTranspose3d, then "
                                             "BatchNorm3d(c_out), then ReLU"}.get(n, "")
        raise ExerciseError(f"the block has {n:,} parameters, the course's {n_ref:,} (ConvTranspose3d {c_in}->{c_out} "
                            f"with kernel 4 and no bias, BatchNorm3d({c_out})){': ' + msg if msg else ''}")
    layers = _layers(block)
    kinds = [type(m) for m in layers if isinstance(m, (nn.ConvTranspose3d, nn.BatchNorm3d, nn.BatchNorm2d,
                                                         nn.BatchNorm1d, nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid))]
    if nn.LeakyReLU in kinds:
        raise ExerciseError("the block uses LeakyReLU: the 3D-GAN generator uses ReLU (LeakyReLU(0.2) is the "
                            "discriminator's)")
    if float(out.min()) < 0:
        raise ExerciseError("the block's outputs go negative: end it with nn.ReLU()")
    if kinds[:2] != [nn.ConvTranspose3d, nn.BatchNorm3d]:
        raise ExerciseError(f"the layers should be ConvTranspose3d -> BatchNorm3d -> ReLU, got "
                            f"{' -> '.join(k.__name__ for k in kinds)}")
    conv = next(m for m in layers if isinstance(m, nn.ConvTranspose3d))
    bn = next(m for m in layers if isinstance(m, nn.BatchNorm3d))
    if (conv.kernel_size, conv.stride, conv.padding) != ((4, 4, 4), (2, 2, 2), (1, 1, 1)):
        raise ExerciseError(f"the transposed convolution should have kernel 4, stride 2, padding 1, got kernel "
                            f"{conv.kernel_size[0]}, stride {conv.stride[0]}, padding {conv.padding[0]}")
    with torch.no_grad():
        conv.weight.copy_(ref[0].weight)
        bn.weight.copy_(torch.linspace(0.5, 1.5, c_out))
        bn.bias.copy_(torch.linspace(-0.2, 0.2, c_out))
        ref[1].weight.copy_(bn.weight)
        ref[1].bias.copy_(bn.bias)
        bn.reset_running_stats()
        ref[1].reset_running_stats()
        block.train(), ref.train()
        check_close(block(x), ref(x), "the block with the course's weights (training mode)", atol=1e-5,
                    hint="ConvTranspose3d -> BatchNorm3d -> ReLU, nothing else")
        block.eval(), ref.eval()
        check_close(block(x), ref(x), "the block with the course's weights (evaluation mode)", atol=1e-5)
    block.train()
    return _ok(f"{what} ({c_in} -> {c_out} channels, 4^3 -> 8^3, {n_ref:,} parameters)")
