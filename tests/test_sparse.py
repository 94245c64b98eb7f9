"""Tests for course_lib.sparse: ISTA/FISTA against scikit-learn, dictionary learning, Gabor fits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib import sparse


def _problem(k: int = 30, d: int = 20, n: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    phi = sparse.normalize_atoms(torch.randn(k, d, generator=g, dtype=torch.float64))
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    return x, phi


# ---------------------------------------------------------------- objective and prox
def test_objective_terms_add_up_and_match_hand_computation():
    x, phi = _problem()
    a = torch.randn(x.shape[0], phi.shape[0], dtype=torch.float64)
    e = sparse.objective(x, phi, a, lam=0.3)
    rec = sum(float(((x[n] - sum(a[n, k] * phi[k] for k in range(phi.shape[0]))) ** 2).sum())
              for n in range(x.shape[0]))
    assert float(e["reconstruction"]) == pytest.approx(rec, rel=1e-10)
    assert float(e["sparsity"]) == pytest.approx(0.3 * float(a.abs().sum()), rel=1e-12)
    assert float(e["total"]) == pytest.approx(float(e["reconstruction"] + e["sparsity"]))
    m = sparse.objective(x, phi, a, lam=0.3, reduction="mean")
    assert float(m["total"]) == pytest.approx(float(e["total"]) / x.shape[0])


def test_soft_threshold_values():
    z = torch.tensor([-3.0, -0.5, 0.0, 0.2, 2.0])
    assert torch.equal(sparse.soft_threshold(z, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 1.0]))


def test_lipschitz_is_twice_the_largest_gram_eigenvalue():
    _, phi = _problem()
    assert sparse.lipschitz(phi) == pytest.approx(2 * float(torch.linalg.eigvalsh(phi @ phi.T).max()), rel=1e-10)


# ---------------------------------------------------------------- inference vs sklearn
@pytest.mark.parametrize("solver", [sparse.ista, sparse.fista])
def test_codes_match_sklearn_lasso_with_rescaled_alpha(solver):
    from sklearn.linear_model import Lasso

    x, phi = _problem()
    lam = 0.5
    a = solver(x, phi, lam, num_iters=20000 if solver is sparse.ista else 3000, tol=1e-13)
    d = x.shape[1]
    ref = np.stack([Lasso(alpha=lam / (2 * d), fit_intercept=False, tol=1e-12, max_iter=100000)
                    .fit(phi.T.numpy(), x[n].numpy()).coef_ for n in range(x.shape[0])])
    assert np.abs(a.numpy() - ref).max() < 1e-6
    assert (a != 0).float().mean() < 0.9                                    # really sparse


def test_codes_match_sklearn_sparse_coder():
    from sklearn.decomposition import SparseCoder

    x, phi = _problem(seed=1)
    lam = 0.8
    a = sparse.fista(x, phi, lam, num_iters=3000, tol=1e-13)
    ref = SparseCoder(phi.numpy(), transform_algorithm="lasso_cd", transform_alpha=lam / 2,
                      transform_max_iter=100000).transform(x.numpy())
    assert np.abs(a.numpy() - ref).max() < 1e-5


def test_fista_converges_faster_than_ista_and_histories_decrease():
    x, phi = _problem(k=60, d=30, n=4)
    _, h_ista = sparse.ista(x, phi, 0.2, num_iters=50, return_history=True)
    _, h_fista = sparse.fista(x, phi, 0.2, num_iters=50, return_history=True)
    best = float(sparse.objective(x, phi, sparse.fista(x, phi, 0.2, 5000), 0.2)["total"])
    assert np.all(np.diff(h_ista) <= 1e-9)                                  # ISTA is monotone
    assert h_fista[-1] - best < 0.5 * (h_ista[-1] - best)


def test_prior_term_pulls_codes_towards_prediction():
    x, phi = _problem()
    prior = torch.full((x.shape[0], phi.shape[0]), 0.3, dtype=torch.float64)
    a0 = sparse.fista(x, phi, 0.5, 500)
    a1 = sparse.fista(x, phi, 0.5, 500, prior=prior, prior_weight=100.0)
    assert (a1 - prior).norm() < (a0 - prior).norm()


def test_bad_inputs_raise_clear_errors():
    x, phi = _problem()
    with pytest.raises(ValueError, match=r"dictionary must be \(K, D\)"):
        sparse.fista(x, phi.T, 0.1)
    with pytest.raises(ValueError, match="lam must be a number >= 0"):
        sparse.ista(x, phi, -1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(N, D\)"):
        sparse.fista(x[0], phi, 0.1)
    with pytest.raises(ValueError, match="codes must have shape"):
        sparse.objective(x, phi, torch.zeros(2, 2, dtype=torch.float64), 0.1)


# ---------------------------------------------------------------- dictionary learning
@pytest.mark.parametrize("method", ["lstsq", "pgd"])
def test_update_dictionary_reduces_error_and_keeps_unit_norm(method):
    x, phi = _problem(k=15, d=10, n=200)
    a = sparse.fista(x, phi, 0.5, 200)
    before = float(((x - a @ phi) ** 2).sum())
    new = sparse.update_dictionary(x, a, phi, method=method, num_steps=20)
    assert torch.allclose(new.norm(dim=1), torch.ones(15, dtype=torch.float64))
    # least squares before renormalisation is optimal; after it, the error should still drop here
    assert float(((x - a @ new) ** 2).sum()) < before


def test_lstsq_update_is_exact_least_squares_when_atoms_already_unit_norm():
    g = torch.Generator().manual_seed(3)
    true = sparse.normalize_atoms(torch.randn(5, 8, generator=g, dtype=torch.float64))
    a = torch.randn(100, 5, generator=g, dtype=torch.float64)
    new = sparse.update_dictionary(a @ true, a, torch.randn(5, 8, dtype=torch.float64))
    assert torch.allclose(new, true, atol=1e-6)


def test_learn_dictionary_recovers_planted_atoms():
    g = torch.Generator().manual_seed(0)
    k, d, n = 12, 16, 3000
    true = sparse.normalize_atoms(torch.randn(k, d, generator=g))
    support = torch.rand(n, k, generator=g) < 0.15
    codes = support * torch.randn(n, k, generator=g).sign() * (1 + torch.rand(n, k, generator=g))
    x = codes @ true + 0.01 * torch.randn(n, d, generator=g)
    phi, hist = sparse.learn_dictionary(x, k, lam=0.2, num_steps=60, batch_size=None, inner_iters=30,
                                        progress=False)
    match = (phi @ true.T).abs().max(0).values                               # best |cos| per true atom
    assert (match > 0.95).float().mean() >= 0.9
    assert hist["reconstruction"][-1] < hist["reconstruction"][0]
    phi2, _ = sparse.learn_dictionary(x, k, lam=0.2, num_steps=300, batch_size=500, inner_iters=30,
                                      progress=False, seed=0)
    assert ((phi2 @ true.T).abs().max(0).values > 0.95).float().mean() >= 0.75      # online: slower


def test_top_atoms_sorted_by_magnitude():
    idx, c = sparse.top_atoms(torch.tensor([0.0, -0.9, 0.3, 0.5]), 3)
    assert idx.tolist() == [1, 3, 2] and c.tolist() == pytest.approx([-0.9, 0.5, 0.3])
    with pytest.raises(ValueError, match="exceeds the number of atoms"):
        sparse.top_atoms(torch.zeros(3), 4)


# ---------------------------------------------------------------- Gabor fits
def test_fit_gabor_recovers_parameters_and_rejects_noise():
    rng = np.random.default_rng(0)
    size = 8
    g = sparse.gabor(size, 3.6, 4.2, 0.9, 0.22, 1.4, 2.2, 0.5, 1.0)
    atoms = np.stack([g + 0.02 * rng.standard_normal((size, size)), rng.standard_normal((size, size))])
    fit = sparse.fit_gabor(atoms)
    assert fit["r2"][0] > 0.97
    assert fit["r2"][1] < 0.6
    p = dict(zip(sparse.GABOR_PARAMS, fit["params"][0]))
    assert p["x0"] == pytest.approx(3.6, abs=0.3) and p["y0"] == pytest.approx(4.2, abs=0.3)
    assert p["freq"] == pytest.approx(0.22, abs=0.03)
    # orientation is defined modulo pi
    assert min(abs(p["theta"] - 0.9) % np.pi, np.pi - abs(p["theta"] - 0.9) % np.pi) < 0.1


def test_fit_gabor_shape_errors():
    with pytest.raises(ValueError, match=r"\(K, H, W\) with H == W"):
        sparse.fit_gabor(np.zeros((2, 8, 6)))


# ---------------------------------------------------------------- pictures
def test_atom_images_and_plots():
    from course_lib import viz

    phi = torch.randn(6, 16)
    img = sparse.atom_images(phi, (1, 4, 4))
    assert img.shape == (6, 1, 4, 4) and img.min() >= 0 and img.max() <= 1
    assert torch.allclose((img - 0.5).abs().flatten(1).amax(1), torch.full((6,), 0.5))   # each atom fills the range
    with pytest.raises(ValueError, match="has 9 values but atoms have D=16"):
        sparse.atom_images(phi, (1, 3, 3))
    assert isinstance(sparse.stem_codes({"a": torch.randn(6), "b": torch.randn(6)}, top=2), viz.Shown)
    assert isinstance(sparse.plot_tradeoff([1, 2, 4], [5, 3, 1], [0.1, 0.3, 0.6], mark=2), viz.Shown)
    with pytest.raises(ValueError, match="1-D of equal length"):
        sparse.plot_tradeoff([1, 2], [5, 3, 1], [0.1, 0.3, 0.6])
