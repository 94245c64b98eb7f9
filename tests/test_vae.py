"""Tests of course_lib.nets.vae: reparameterisation, (C)VAE shapes, vector quantiser, training."""

import math

import pytest
import torch
from torch import distributions as D

from course_lib import likelihood
from course_lib.nets import vae


def test_reparameterize_statistics_and_gradients():
    mu = torch.tensor([[1.0, -2.0]]).expand(20000, 2).clone().requires_grad_(True)
    logvar = torch.tensor([[0.0, math.log(4.0)]]).expand(20000, 2).clone().requires_grad_(True)
    z = vae.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.05)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.05)
    z.sum().backward()
    assert torch.allclose(mu.grad, torch.ones_like(mu))   # dz/dmu = 1
    assert logvar.grad.abs().sum() > 0                     # gradients reach logvar through sigma * eps
    with pytest.raises(ValueError, match="same shape"):
        vae.reparameterize(torch.zeros(2, 3), torch.zeros(2, 2))


def test_kl_of_encoder_output_matches_torch_distributions():
    torch.manual_seed(0)
    net = vae.VAE(latent_dim=3, hidden=32)
    _, mu, logvar, _ = net(torch.rand(5, 1, 28, 28))
    ref = D.kl_divergence(D.Normal(mu, (0.5 * logvar).exp()), D.Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(likelihood.kl_normal(mu, logvar), ref, atol=1e-5)


def test_vae_shapes_conditional_and_autoencoder():
    torch.manual_seed(0)
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    logits, mu, logvar, z = vae.VAE(latent_dim=2, hidden=32)(x)
    assert logits.shape == (4, 1, 28, 28) and mu.shape == logvar.shape == z.shape == (4, 2)
    ae = vae.VAE(latent_dim=2, hidden=32, deterministic=True)
    _, mu, _, z = ae(x)
    assert torch.equal(mu, z)
    cvae = vae.VAE(latent_dim=2, hidden=32, num_classes=10)
    assert cvae(x, y)[0].shape == (4, 1, 28, 28)
    zz = torch.zeros(2, 2)
    assert not torch.allclose(cvae.decode(zz, torch.tensor([0, 0])), cvae.decode(zz, torch.tensor([5, 5])))
    with pytest.raises(ValueError, match="pass labels"):
        cvae(x)
    with pytest.raises(ValueError, match="unconditional"):
        ae(x, y)
    with pytest.raises(ValueError, match=r"\(B, 1, 28, 28\)"):
        ae(torch.rand(4, 1, 14, 14))
    with pytest.raises(ValueError, match="latent_dim=2"):
        ae.decode(torch.zeros(3, 5))


def test_vae_overfits_one_batch():
    torch.manual_seed(0)
    x = (torch.rand(16, 1, 28, 28) < 0.2).float()
    net = vae.VAE(latent_dim=4, hidden=64)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    losses = []
    for _ in range(200):
        logits, mu, logvar, _ = net(x)
        loss = -likelihood.elbo(likelihood.bernoulli_nll(logits, x), likelihood.kl_normal(mu, logvar)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_vector_quantizer_nearest_and_straight_through():
    torch.manual_seed(0)
    vq = vae.VectorQuantizer(num_codes=7, code_dim=3)
    z_e = torch.randn(2, 3, 4, 5, requires_grad=True)
    out = vq(z_e)
    flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, 3)
    ref = torch.cdist(flat, vq.codebook.weight.detach()).argmin(1).reshape(2, 4, 5)
    assert torch.equal(out.codes, ref)
    assert torch.allclose(out.z_q, vq.lookup(ref))           # forward value is the code
    out.z_q.sum().backward()
    assert torch.allclose(z_e.grad, torch.ones_like(z_e))    # straight-through: identity gradient
    e = vq.lookup(ref).detach()
    assert torch.allclose(out.commitment_loss, ((z_e.detach() - e) ** 2).mean())
    assert torch.allclose(out.codebook_loss, out.commitment_loss)   # same value, different gradients
    assert vq.usage.sum() == 40
    with pytest.raises(ValueError, match="code_dim=3"):
        vq(torch.randn(1, 4, 2, 2))


def test_codebook_loss_moves_codes_commitment_moves_encoder():
    torch.manual_seed(0)
    vq = vae.VectorQuantizer(4, 2)
    z_e = torch.randn(1, 2, 3, 3, requires_grad=True)
    out = vq(z_e)
    out.codebook_loss.backward()
    assert z_e.grad is None or (z_e.grad == 0).all()
    assert vq.codebook.weight.grad.abs().sum() > 0
    vq.zero_grad()
    out = vq(z_e)
    out.commitment_loss.backward()
    assert vq.codebook.weight.grad is None or (vq.codebook.weight.grad == 0).all()
    assert z_e.grad.abs().sum() > 0


def test_dead_codes_detected_and_restarted():
    torch.manual_seed(0)
    vq = vae.VectorQuantizer(5, 2)
    with torch.no_grad():
        vq.codebook.weight.copy_(torch.tensor([[0.0, 0], [10, 10], [20, 20], [30, 30], [40, 40]]))
    z_e = torch.randn(2, 2, 3, 3) * 0.1                      # all near code 0
    vq(z_e)
    assert vq.dead_codes().tolist() == [1, 2, 3, 4]
    assert vq.restart_dead_codes(z_e, generator=torch.Generator().manual_seed(0)) == 4
    assert vq.codebook.weight[1:].abs().max() < 1.0          # moved onto encoder outputs
    assert vq.usage.sum() == 0


def test_code_perplexity():
    assert vae.code_perplexity(torch.arange(8).repeat(5), 8) == pytest.approx(8.0)
    assert vae.code_perplexity(torch.zeros(10, dtype=torch.long), 8) == pytest.approx(1.0)
    assert 1.0 < vae.code_perplexity(torch.tensor([0, 0, 0, 1]), 8) < 2.0
    with pytest.raises(TypeError, match="integer"):
        vae.code_perplexity(torch.zeros(3), 4)


def test_vqvae_shapes_and_codes_round_trip():
    torch.manual_seed(0)
    net = vae.VQVAE(1, hidden=16, num_codes=8, code_dim=4)
    x = torch.rand(3, 1, 28, 28)
    logits, out = net(x)
    assert logits.shape == x.shape and out.codes.shape == (3, 7, 7)
    codes = net.encode_codes(x)
    assert torch.equal(codes, out.codes)
    assert torch.allclose(net.decode_codes(codes), logits, atol=1e-5)
