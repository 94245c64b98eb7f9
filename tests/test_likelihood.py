"""Tests of course_lib.likelihood: units, NLLs and KL against torch.distributions, IWAE, sampling."""

import math
import time

import pytest
import torch
from torch import distributions as D

from course_lib import likelihood
from course_lib.nets import autoregressive as ar


def test_bits_per_dim_round_trip_and_paper_value():
    # 81.30 nats on 784 binary pixels (PixelRNN paper) is 0.1496 bits/dim
    assert likelihood.bits_per_dim(81.30, 784) == pytest.approx(81.30 / (784 * math.log(2)))
    assert likelihood.bits_per_dim(81.30, 784) == pytest.approx(0.14961, abs=1e-5)
    t = torch.tensor([10.0, 500.0])
    assert torch.allclose(likelihood.nats_from_bits_per_dim(likelihood.bits_per_dim(t, 3072), 3072), t)
    with pytest.raises(ValueError, match="num_dims"):
        likelihood.bits_per_dim(1.0, 0)


def test_num_dims():
    assert likelihood.num_dims(torch.zeros(5, 3, 8, 8)) == 192
    with pytest.raises(ValueError, match="batch"):
        likelihood.num_dims(torch.zeros(5))


def test_bernoulli_nll_matches_torch_distributions():
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 5, 5) * 3
    x = (torch.rand(4, 1, 5, 5) < 0.5).float()
    ref = -D.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(likelihood.bernoulli_nll(logits, x), ref, atol=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        likelihood.bernoulli_nll(logits, x[:, :, :4])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        likelihood.bernoulli_nll(logits, x * 2 - 1)


def test_categorical_nll_matches_torch_distributions():
    torch.manual_seed(0)
    logits = torch.randn(3, 6, 2, 4, 4)
    x = torch.randint(0, 6, (3, 2, 4, 4))
    ref = -D.Categorical(logits=logits.permute(0, 2, 3, 4, 1)).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(likelihood.categorical_nll(logits, x), ref, atol=1e-5)
    with pytest.raises(TypeError, match="integer"):
        likelihood.categorical_nll(logits, x.float())
    with pytest.raises(ValueError, match=r"\[0, 6\)"):
        likelihood.categorical_nll(logits, x + 1)


def test_log_normal_matches_torch_distributions():
    torch.manual_seed(0)
    z, mu, logvar = torch.randn(5, 3), torch.randn(5, 3), torch.randn(5, 3)
    ref = D.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(-1)
    assert torch.allclose(likelihood.log_normal(z, mu, logvar), ref, atol=1e-5)
    assert torch.allclose(likelihood.log_normal(z), D.Normal(0.0, 1.0).log_prob(z).sum(-1), atol=1e-6)


def test_kl_normal_closed_form_matches_torch_distributions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(6, 4), torch.randn(6, 4)
    q = D.Normal(mu, (0.5 * logvar).exp())
    ref = D.kl_divergence(q, D.Normal(torch.zeros_like(mu), torch.ones_like(mu))).sum(-1)
    assert torch.allclose(likelihood.kl_normal(mu, logvar), ref, atol=1e-5)
    mu_p, logvar_p = torch.randn(6, 4), torch.randn(6, 4)
    ref2 = D.kl_divergence(q, D.Normal(mu_p, (0.5 * logvar_p).exp())).sum(-1)
    assert torch.allclose(likelihood.kl_normal(mu, logvar, mu_p, logvar_p), ref2, atol=1e-5)
    assert torch.allclose(likelihood.kl_normal(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        likelihood.kl_normal(mu[0], logvar[0])


def test_elbo_sign_and_beta():
    r, k = torch.tensor([10.0, 20.0]), torch.tensor([1.0, 2.0])
    assert torch.allclose(likelihood.elbo(r, k), torch.tensor([-11.0, -22.0]))
    assert torch.allclose(likelihood.elbo(r, k, beta=4.0), torch.tensor([-14.0, -28.0]))
    with pytest.raises(ValueError, match="beta"):
        likelihood.elbo(r, k, beta=-1.0)


def test_log_mean_exp_is_stable():
    lw = torch.tensor([[1000.0, 1000.0], [-1000.0, -1000.0 + math.log(3)]])
    out = likelihood.log_mean_exp(lw, 1)
    assert torch.allclose(out, torch.tensor([1000.0, -1000.0 + math.log(2.0)]), atol=1e-4)


def _toy_model():
    """1-D latent, 3 binary pixels: p(x_d = 1 | z) = sigmoid(w_d z + b_d); exact p(x) by quadrature."""
    w, b = torch.tensor([2.0, -1.5, 0.5]), torch.tensor([0.3, 0.0, -0.8])

    def decode(z):  # (B, 1) -> (B, 1, 1, 3)
        return (z * w + b).reshape(-1, 1, 1, 3)

    def exact_log_px(x):  # x (N, 1, 1, 3)
        z = torch.linspace(-10, 10, 20001, dtype=torch.float64)[:, None]
        logits = (z * w.double() + b.double())                       # (G, 3)
        out = []
        for xi in x.reshape(-1, 3).double():
            lp = -torch.nn.functional.binary_cross_entropy_with_logits(logits, xi.expand_as(logits),
                                                                        reduction="none").sum(1)
            lp = lp + D.Normal(0.0, 1.0).log_prob(z[:, 0])
            out.append(torch.logsumexp(lp, 0) + math.log(20.0 / 20000))
        return torch.stack(out).float()
    return decode, exact_log_px


def test_importance_log_px_converges_to_exact_and_bounds_elbo():
    decode, exact = _toy_model()
    x = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1]], dtype=torch.float32).reshape(3, 1, 1, 3)
    # an imperfect q(z|x) = N(0.3, 0.8^2) that ignores x: the ELBO is loose, IWAE tightens it
    encode = lambda xb: (torch.full((len(xb), 1), 0.3), torch.full((len(xb), 1), math.log(0.64)))
    g = torch.Generator().manual_seed(0)
    lp_big, elbo = likelihood.importance_log_px(x, encode, decode, num_samples=20000, generator=g)
    assert torch.allclose(lp_big, exact(x), atol=0.02)
    assert (elbo < lp_big).all()
    g = torch.Generator().manual_seed(1)
    runs = [likelihood.importance_log_px(x, encode, decode, num_samples=2, generator=g) for _ in range(400)]
    lp_2 = torch.stack([r[0] for r in runs]).mean(0)
    elbo_1 = torch.stack([r[1] for r in runs]).mean(0)
    # the bound tightens with K (Burda et al. 2016, Thm. 1): ELBO <= IWAE(K=2) <= IWAE(K=20000)
    assert elbo_1.sum() < lp_2.sum() - 0.1 and lp_2.sum() < lp_big.sum() - 0.1


def test_sample_autoregressive_follows_the_model():
    # a model whose conditional copies the pixel on the left (and is 1 in column 0) gives all-ones rows
    def copy_left(x):
        logits = torch.full_like(x, 20.0)
        logits[..., 1:] = torch.where(x[..., :-1] > 0.5, 20.0, -20.0)
        return logits
    x, frames = likelihood.sample_autoregressive(copy_left, (2, 1, 4, 5), num_frames=4)
    assert torch.equal(x, torch.ones(2, 1, 4, 5))
    assert len(frames) == 4 and frames[0].sum() < frames[-1].sum()
    # categorical: logits peaked at (i + j + c) % K
    K = 5

    def pattern(x):
        b, c, h, w = x.shape
        idx = (torch.arange(h)[:, None] + torch.arange(w)[None] + torch.arange(c)[:, None, None]) % K
        return 30.0 * torch.nn.functional.one_hot(idx, K).permute(3, 0, 1, 2)[None].float().expand(b, K, c, h, w)
    x, _ = likelihood.sample_autoregressive(pattern, (2, 3, 3, 3), levels=K)
    assert x.dtype == torch.long and torch.equal(x[0], pattern(x)[0].argmax(0))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        likelihood.sample_autoregressive(copy_left, (2, 4, 5))
    with pytest.raises(ValueError, match="temperature"):
        likelihood.sample_autoregressive(copy_left, (1, 1, 2, 2), temperature=0)


def test_nll_dispatch_and_evaluate_nll_in_batches():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 1)
    x = (torch.rand(7, 1, 3, 3) < 0.5).float()
    full = likelihood.bernoulli_nll(net(x), x)
    assert torch.allclose(likelihood.evaluate_nll(net, x, batch_size=3), full, atol=1e-6)
    logits = torch.randn(2, 4, 1, 3, 3)
    idx = torch.randint(0, 4, (2, 1, 3, 3))
    assert torch.allclose(likelihood.nll(logits, idx), likelihood.categorical_nll(logits, idx))


def test_independent_categorical_nll_closed_forms():
    k = 4
    # every value equally often at every position: D log K, per position or shared, any pseudocount
    x_train = torch.arange(k).repeat_interleave(3)[:, None].repeat(1, 6).reshape(-1, 2, 3)   # (12, 2, 3)
    x = torch.randint(k, (5, 2, 3), generator=torch.Generator().manual_seed(0))
    for per_position in (True, False):
        nll = likelihood.independent_categorical_nll(x_train, x, k, per_position=per_position, pseudocount=0.5)
        assert nll.shape == (5,) and torch.allclose(nll, torch.full((5,), 6 * math.log(k), dtype=torch.float64))
    # two positions, K = 2: position 0 always 0, position 1 always 1 (3 training rows), Laplace smoothing:
    # p(k_0 = 0) = p(k_1 = 1) = (3 + 1) / (3 + 2) = 0.8; the shared histogram gives 1/2 everywhere
    x_train = torch.tensor([[0, 1]] * 3)
    x = torch.tensor([[0, 1], [1, 0]])
    nll = likelihood.independent_categorical_nll(x_train, x, 2)
    assert nll.tolist() == pytest.approx([-2 * math.log(0.8), -2 * math.log(0.2)])
    shared = likelihood.independent_categorical_nll(x_train, x, 2, per_position=False)
    assert shared.tolist() == pytest.approx([2 * math.log(2)] * 2)


def test_independent_categorical_nll_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    x_train = torch.randint(5, (200, 3, 3), generator=g)
    x = torch.randint(5, (7, 3, 3), generator=g)
    counts = torch.stack([torch.bincount(x_train[:, i, j], minlength=5) for i in range(3) for j in range(3)]).double()
    probs = (counts + 1) / (counts + 1).sum(1, keepdim=True)                                   # (9, 5)
    ref = -D.Categorical(probs=probs).log_prob(x.flatten(1)).sum(1)
    assert torch.allclose(likelihood.independent_categorical_nll(x_train, x, 5), ref)
    with pytest.raises(TypeError, match="integer"):
        likelihood.independent_categorical_nll(x_train.float(), x, 5)
    with pytest.raises(ValueError, match=r"must be in \[0, 4\)"):
        likelihood.independent_categorical_nll(x_train, x, 4)
    with pytest.raises(ValueError, match="pseudocount"):
        likelihood.independent_categorical_nll(x_train, x, 5, pseudocount=0.0)


def test_to_levels_and_back_round_trips_8bit_images():
    k = torch.arange(256).reshape(1, 1, 16, 16)
    x = k.float() / 255
    assert torch.equal(likelihood.to_levels(x), k)
    assert torch.equal(likelihood.from_levels(likelihood.to_levels(x)), x)
    assert likelihood.to_levels(torch.tensor([[0.0, 0.49, 0.51, 1.0]]), levels=2).tolist() == [[0, 0, 1, 1]]
    with pytest.raises(ValueError, match="levels must be >= 2"):
        likelihood.to_levels(x, levels=1)
    with pytest.raises(TypeError, match="integer levels"):
        likelihood.from_levels(x)


def test_sample_autoregressive_with_context_rows_equals_the_full_image():
    torch.manual_seed(0)
    for net, levels in ((ar.PixelCNN(1, None, hidden=8, num_layers=2, kernel_size=3), None),
                        (ar.GatedPixelCNN(1, None, hidden=8, num_layers=1, first_kernel=3), None),
                        (ar.PixelCNN(1, 6, hidden=8, num_layers=1, kernel_size=3, one_hot_input=False), 6)):
        with torch.no_grad():                                  # sharpen: the samples follow the net, not noise
            net.head[-1].weight.mul_(20)
        full, _ = likelihood.sample_autoregressive(net, (3, 1, 9, 5), levels=levels,
                                                   generator=torch.Generator().manual_seed(1))
        window, frames = likelihood.sample_autoregressive(net, (3, 1, 9, 5), levels=levels, num_frames=3,
                                                          context_rows=net.context_rows,
                                                          generator=torch.Generator().manual_seed(1))
        assert torch.equal(full, window) and torch.equal(frames[-1], window)
    # a window too small for the net's receptive field changes the conditionals (the check is not vacuous)
    net = ar.PixelCNN(1, None, hidden=8, num_layers=3, kernel_size=3)
    x = (torch.rand(1, 1, 9, 5) < 0.5).float()
    with torch.no_grad():
        assert not torch.allclose(net(x)[..., 8, :], net(x[:, :, 8:])[..., 0, :])
        assert torch.allclose(net(x)[..., 8, :], net(x[:, :, 8 - net.context_rows:])[..., -1, :], atol=1e-6)
    with pytest.raises(ValueError, match="context_rows"):
        likelihood.sample_autoregressive(net, (1, 1, 2, 2), context_rows=-1)


def test_seconds_per_sample_times_the_median_call_per_sample():
    calls = []

    def sample(n):
        calls.append(n)
        time.sleep(0.02)
        return torch.zeros(n)

    t, out = likelihood.seconds_per_sample(sample, 4, repeats=3, warmup=True)
    assert calls == [4, 4, 4, 4] and out.shape == (4,)
    assert 0.02 / 4 <= t < 0.5
    with pytest.raises(ValueError, match="repeats"):
        likelihood.seconds_per_sample(sample, 4, repeats=0)


def test_sample_autoregressive_passes_the_window_row_to_a_position_dependent_net():
    torch.manual_seed(0)
    net = ar.PixelCNN(1, None, hidden=8, num_layers=2, kernel_size=3, class_map_size=3, image_size=9, num_classes=2)
    with torch.no_grad():
        net.class_map.normal_(0, 3)
        net.head[-1].weight.mul_(20)
    y = torch.tensor([0, 1, 1])
    full, _ = likelihood.sample_autoregressive(lambda x, top: net(x, y, top=top), (3, 1, 9, 9), pass_top=True,
                                               generator=torch.Generator().manual_seed(1))
    window, _ = likelihood.sample_autoregressive(lambda x, top: net(x, y, top=top), (3, 1, 9, 9), pass_top=True,
                                                 context_rows=net.context_rows, generator=torch.Generator().manual_seed(1))
    assert torch.equal(full, window)
    with pytest.raises(ValueError, match="rows top"):                # without top the window is misplaced
        likelihood.sample_autoregressive(lambda x: net(x, y, top=9 - x.shape[2] + 1), (3, 1, 9, 9),
                                         context_rows=net.context_rows)
