"""Tests for course_lib.nets.autoencoders, course_lib.autoencoding and course_lib.subspace."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
import torch.nn.functional as F

from course_lib import autoencoding, sparse, subspace
from course_lib.nets import autoencoders


def _low_rank(n: int = 400, d: int = 12, k: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    basis = torch.linalg.qr(torch.randn(d, d, generator=g))[0][:, :k]
    z = torch.randn(n, k, generator=g) * torch.tensor([3.0, 2.0, 1.5])[:k]
    return z @ basis.T + 0.05 * torch.randn(n, d, generator=g) + 1.0


# ---------------------------------------------------------------- subspace
def test_pca_matches_sklearn():
    from sklearn.decomposition import PCA

    x = _low_rank().double()
    p = subspace.pca(x, 3)
    ref = PCA(3).fit(x.numpy())
    assert np.allclose(np.abs(p.components.numpy()), np.abs(ref.components_), atol=1e-8)
    assert np.allclose(p.variances.numpy(), ref.explained_variance_, rtol=1e-8)
    assert np.allclose(p.reconstruct(x).numpy(), ref.inverse_transform(ref.transform(x.numpy())), atol=1e-8)
    assert torch.allclose(p.components @ p.components.T, torch.eye(3, dtype=torch.float64), atol=1e-10)


def test_principal_angles_match_scipy_including_tiny_angles():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(40, 5, generator=g, dtype=torch.float64)
    for b in (a + 1e-7 * torch.randn(40, 5, generator=g, dtype=torch.float64),
              torch.randn(40, 3, generator=g, dtype=torch.float64),
              a @ torch.randn(5, 5, generator=g, dtype=torch.float64)):
        ours = subspace.principal_angles(a, b).numpy()
        ref = np.sort(scipy.linalg.subspace_angles(a.numpy(), b.numpy()))
        assert np.allclose(ours, ref, atol=1e-12, rtol=1e-6)
    with pytest.raises(ValueError, match="same space"):
        subspace.principal_angles(a, torch.randn(30, 2, dtype=torch.float64))


def test_zca_whitening_gives_identity_covariance():
    x = _low_rank(n=2000, d=6, k=3).double() + 0.3 * torch.randn(2000, 6, dtype=torch.float64)
    xw, w, _ = subspace.zca_whitening(x, eps=1e-8)
    cov = xw.T @ xw / (x.shape[0] - 1)
    assert torch.allclose(cov, torch.eye(6, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(w, w.T)
    with pytest.raises(ValueError, match="eps must be > 0"):
        subspace.zca_whitening(x, eps=0.0)


# ---------------------------------------------------------------- networks
def test_shapes_and_image_shape_roundtrip():
    x = torch.rand(5, 1, 28, 28)
    lin = autoencoders.LinearAutoencoder(784, 8, image_shape=(1, 28, 28))
    assert lin.encode(x).shape == (5, 8) and lin(x).shape == x.shape
    net = autoencoders.MLPAutoencoder((784, 64, 32, 6), image_shape=(1, 28, 28))
    assert net.encode(x).shape == (5, 6) and net(x).shape == x.shape
    r = net.reconstruct(x)
    assert r.min() >= 0 and r.max() <= 1
    enc = autoencoders.PSDEncoder(784, 50)
    assert enc(x).shape == (5, 50)
    d = autoencoders.Dictionary(50, 784)
    assert torch.allclose(d.weight.norm(dim=1), torch.ones(50))


def test_bad_input_errors():
    net = autoencoders.MLPAutoencoder((784, 32, 4))
    with pytest.raises(ValueError, match="expects in_dim=784"):
        net(torch.rand(3, 1, 14, 14))
    with pytest.raises(ValueError, match="unknown activation"):
        autoencoders.MLPAutoencoder((10, 4), activation="swish")
    with pytest.raises(ValueError, match="same shape"):
        autoencoding.reconstruction_loss(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        autoencoding.reconstruction_loss(torch.zeros(2, 3), torch.full((2, 3), 2.0), kind="bce")


def test_code_layer_is_linear_and_logits_output_unbounded():
    net = autoencoders.MLPAutoencoder((20, 16, 3), activation="sigmoid")
    z = net.encode(torch.rand(64, 20) * 10)
    assert (z < 0).any()                                          # no sigmoid on the code
    out = net.decode(torch.randn(64, 3) * 50)
    assert (out < 0).any()                                        # logits, not probabilities


# ---------------------------------------------------------------- objectives
def test_reconstruction_losses_against_torch():
    g = torch.Generator().manual_seed(0)
    logits, x = torch.randn(4, 1, 5, 5, generator=g), torch.rand(4, 1, 5, 5, generator=g)
    bce = autoencoding.reconstruction_loss(logits, x, "bce")
    assert torch.allclose(bce, F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / 4, atol=1e-5)
    mse = autoencoding.reconstruction_loss(logits, x, "mse", reduction="none")
    assert mse.shape == (4,) and torch.allclose(mse.sum(), ((logits - x) ** 2).sum())


def test_masking_noise_fraction_and_reproducible():
    x = torch.ones(200, 100)
    a = autoencoding.masking_noise(x, 0.3, torch.Generator().manual_seed(1))
    b = autoencoding.masking_noise(x, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert abs(float((a == 0).float().mean()) - 0.3) < 0.01
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        autoencoding.masking_noise(x, 1.5)
    n = autoencoding.gaussian_noise(torch.full((1000,), 0.5), 0.1, generator=torch.Generator().manual_seed(0))
    assert abs(float(n.std()) - 0.1) < 0.01 and n.min() >= 0


def test_psd_energy_terms():
    g = torch.Generator().manual_seed(0)
    x, phi = torch.randn(8, 10, generator=g), sparse.normalize_atoms(torch.randn(6, 10, generator=g))
    z, zp = torch.randn(8, 6, generator=g), torch.randn(8, 6, generator=g)
    e = autoencoding.psd_energy(x, phi, z, zp, lam=0.3, alpha=2.0)
    base = sparse.objective(x, phi, z, 0.3, reduction="mean")
    assert torch.allclose(e["reconstruction"] + e["sparsity"], base["total"])
    assert torch.allclose(e["prediction"], 2.0 * ((z - zp) ** 2).sum() / 8)


# ---------------------------------------------------------------- learning behaviour
def test_linear_autoencoder_learns_principal_subspace_with_non_orthogonal_weights():
    torch.manual_seed(0)
    x = _low_rank()
    net = autoencoders.LinearAutoencoder(12, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(1500):
        loss = autoencoding.reconstruction_loss(net(x), x, "mse")
        opt.zero_grad()
        loss.backward()
        opt.step()
    angles = subspace.principal_angles(net.decoder.weight.detach(), subspace.pca(x, 3).components.T)
    assert float(angles.max()) < 0.05
    wtw = net.decoder.weight.detach().T @ net.decoder.weight.detach()
    assert float((wtw - torch.diag(wtw.diagonal())).abs().max()) > 1e-3   # not an orthonormal basis


def test_overfit_one_batch_and_pretraining_initialises_every_layer():
    torch.manual_seed(0)
    x = torch.rand(32, 1, 8, 8).round()
    net = autoencoders.MLPAutoencoder((64, 32, 16, 8), activation="sigmoid", image_shape=(1, 8, 8))
    before = [p.detach().clone() for p in net.parameters()]
    hist = autoencoding.pretrain_layerwise(net, x, num_epochs=30, batch_size=16, lr=1e-2)
    assert set(hist) == {"layer0", "layer1", "layer2"}
    assert all(np.mean(h[-5:]) < np.mean(h[:5]) for h in hist.values())
    assert all(not torch.equal(b, p) for b, p in zip(before, net.parameters()))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(400):
        loss = autoencoding.reconstruction_loss(net(x), x, "bce")
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(((net.reconstruct(x) > 0.5).float() != x).float().mean()) < 0.02
