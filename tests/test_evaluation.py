"""Tests of course_lib.evaluation: FID extrapolation, C2ST, preference, mixture and kernel likelihoods, MIG."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from course_lib import evaluation


def _gauss(n, d=4, shift=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(shift, scale, (n, d))


# ---------------------------------------------------------------- FID extrapolation
def test_extrapolate_recovers_line():
    ns = [50, 100, 200, 400]
    v_inf, a = evaluation.extrapolate_to_infinity(ns, [3.0 + 120 / n for n in ns])
    assert v_inf == pytest.approx(3.0) and a == pytest.approx(120.0)
    with pytest.raises(ValueError, match="two distinct"):
        evaluation.extrapolate_to_infinity([10, 10], [1.0, 2.0])


# ---------------------------------------------------------------- C2ST and preference
def test_c2st_chance_for_same_and_high_for_different():
    assert abs(evaluation.c2st_accuracy(_gauss(300), _gauss(300, seed=1)) - 0.5) < 0.1
    assert evaluation.c2st_accuracy(_gauss(300), _gauss(300, shift=2.0, seed=1)) > 0.9


def test_preference_matrix_properties():
    names, p = evaluation.preference_matrix({"a": [1, 1, 1], "b": [2, 0, 3], "c": [5, 5, 5]})
    assert names == ["a", "b", "c"]
    np.testing.assert_allclose(p + p.T, np.ones((3, 3)))
    assert p[0, 2] == 1.0 and p[0, 1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="at least two"):
        evaluation.preference_matrix({"a": [1.0]})


# ---------------------------------------------------------------- likelihood of a mixture
def test_log_mixture_matches_direct_and_bound():
    lp_good, lp_noise = torch.tensor([-100.0, -90.0]), torch.tensor([-543.0, -543.0])
    lm = evaluation.log_mixture([lp_good, lp_noise], [0.01, 0.99])
    direct = torch.log(0.01 * lp_good.double().exp() + 0.99 * lp_noise.double().exp())
    torch.testing.assert_close(lm, direct)
    assert (lp_good - lm <= math.log(100) + 1e-9).all()
    with pytest.raises(ValueError, match="sum to 1"):
        evaluation.log_mixture([lp_good, lp_noise], [0.5, 0.6])


def test_bernoulli_kernel_log_likelihood_closed_form():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(5, 1, 4, 4, generator=g) < 0.5).float()
    centers = torch.rand(3, 1, 4, 4, generator=g)
    lam = 0.2
    got = evaluation.bernoulli_kernel_log_likelihood(x, centers, lam)
    # oracle: torch.distributions, one product-Bernoulli per centre, uniform mixture
    per = torch.stack([torch.distributions.Bernoulli(probs=((1 - lam) * c + lam / 2).double().flatten())
                       .log_prob(x.double().flatten(1)).sum(1) for c in centers], 1)          # (N, M)
    torch.testing.assert_close(got, torch.logsumexp(per, 1) - math.log(3))
    # smoothing 1 is the uniform distribution on 16 binary pixels; identical centres = one centre
    torch.testing.assert_close(evaluation.bernoulli_kernel_log_likelihood(x, centers, 1.0),
                               torch.full((5,), -16 * math.log(2), dtype=torch.float64))
    torch.testing.assert_close(evaluation.bernoulli_kernel_log_likelihood(x, centers[:1].repeat(4, 1, 1, 1), lam),
                               per[:, 0])
    # a proper distribution: probabilities of all 2^4 binary images sum to 1
    allx = torch.tensor([[(i >> b) & 1 for b in range(4)] for i in range(16)], dtype=torch.float32)
    total = evaluation.bernoulli_kernel_log_likelihood(allx, torch.rand(7, 4, generator=g), 0.1).exp().sum()
    assert float(total) == pytest.approx(1.0)


def test_bernoulli_kernel_log_likelihood_bad_input():
    x, c = torch.ones(2, 4), torch.full((3, 4), 0.5)
    with pytest.raises(ValueError, match="binary"):
        evaluation.bernoulli_kernel_log_likelihood(x * 0.5, c, 0.1)
    with pytest.raises(ValueError, match="smoothing"):
        evaluation.bernoulli_kernel_log_likelihood(x, c, 0.0)
    with pytest.raises(ValueError, match="same shape"):
        evaluation.bernoulli_kernel_log_likelihood(x, torch.full((3, 5), 0.5), 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluation.bernoulli_kernel_log_likelihood(x, c * 3, 0.1)


# ---------------------------------------------------------------- MI and MIG
def test_discrete_mi_and_entropy_match_sklearn_and_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 5, 500), rng.integers(0, 3, 500)
    assert evaluation.discrete_mutual_info(a, b) == pytest.approx(mutual_info_score(a, b), rel=1e-10)
    assert evaluation.discrete_mutual_info(a, a) == pytest.approx(evaluation.discrete_entropy(a))
    assert evaluation.discrete_entropy(np.arange(8)) == pytest.approx(math.log(8))


def test_discretize_bins():
    z = evaluation.discretize(np.linspace(0, 1, 100)[:, None], bins=10)
    assert z.min() == 0 and z.max() == 9 and (np.bincount(z[:, 0]) == 10).all()


def _codes(seed=0, n=3000):
    v = evaluation.sprite_factors(n, seed=seed)[:, 1:]                     # 3 factors with 8 values
    rng = np.random.default_rng(seed)
    z = v + 0.1 * rng.normal(size=v.shape)
    return v, z


def test_mig_disentangled_duplicated_rotated():
    v, z = _codes()
    assert evaluation.mig(z, v)["mig"] > 0.9
    dup = np.concatenate([z, z[:, :1] + 0.01 * np.random.default_rng(1).normal(size=(len(z), 1))], 1)
    res = evaluation.mig(dup, v)
    assert res["per_factor"][0] < 0.1 and res["mi"][:, 0].max() > 0.9 * res["entropy"][0]
    q, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(3, 3)))
    assert evaluation.mig(z @ q, v)["mig"] < 0.5


def test_mig_bad_input():
    v, z = _codes(n=100)
    with pytest.raises(ValueError, match="two latent"):
        evaluation.mig(z[:, :1], v)
    with pytest.raises(ValueError, match="entropy is 0"):
        evaluation.mig(z, np.zeros((100, 2), int))


def test_render_sprites():
    f = np.array([[0, 7, 0, 0], [1, 0, 7, 7], [2, 3, 3, 3]])
    x = evaluation.render_sprites(f, size=32)
    assert x.shape == (3, 1, 32, 32) and set(x.unique().tolist()) <= {0.0, 1.0}
    assert x[0].sum() > x[1].sum() > 0                                      # larger scale, more pixels
