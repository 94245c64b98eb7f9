"""course_lib.conditional and course_lib.nets.conditional: cGAN, AC-GAN, InfoGAN, BiGAN, semi-supervised GAN."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from course_lib import conditional, gan, losses
from course_lib.nets import conditional as cnets
from course_lib.nets import dcgan


def _digits(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 28, 28, generator=g) * 2 - 1, torch.randint(10, (n,), generator=g)


# ---------------------------------------------------------------------------- networks
def test_network_shapes_and_label_checks():
    torch.manual_seed(0)
    x, y = _digits(8)
    G = cnets.ConditionalGenerator(16, 10, width=8)
    assert G(torch.randn(8, 16), y).shape == (8, 1, 28, 28)
    assert cnets.ConditionalGenerator(16, 10, 8, embedding_dim=4)(torch.randn(8, 16), y).shape == (8, 1, 28, 28)
    for proj in (False, True):
        assert cnets.ConditionalDiscriminator(10, 8, projection=proj)(x, y).shape == (8,)
    s, cls = cnets.HeadsDiscriminator({"class": 10}, 8)(x)
    assert s.shape == (8,) and cls.shape == (8, 10)
    assert cnets.JointDiscriminator(16, 8, hidden=32)(x, torch.randn(8, 16)).shape == (8,)
    assert cnets.Encoder(16, 8)(x).shape == (8, 16)
    lse, logits, feats = cnets.SemiSupervisedDiscriminator(10, 8, hidden=32)(x)
    assert logits.shape == (8, 10) and feats.shape == (8, 32)
    torch.testing.assert_close(lse, torch.logsumexp(logits, 1))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        G(torch.randn(2, 16), torch.tensor([3, 10]))
    with pytest.raises(TypeError, match="integer class labels"):
        cnets.one_hot(torch.tensor([1.0, 2.0]), 10)
    with pytest.raises(ValueError, match="28x28"):
        cnets.HeadsDiscriminator({"class": 10}, 8)(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match="one label per latent"):
        G(torch.randn(3, 16), y[:2])


def test_conditional_generator_output_depends_on_the_label():
    torch.manual_seed(0)
    G = cnets.ConditionalGenerator(8, 10, width=8).eval()
    z = torch.randn(1, 8).expand(10, -1)
    out = G(z, torch.arange(10))
    # untrained, in eval mode, the output is tiny (N(0, 0.02) weights over four layers): compare to its size
    assert (out[1:] - out[:1]).abs().amax() > 0.1 * out.abs().amax() > 0


def test_label_scale_scales_the_one_hot_in_g_and_the_label_maps_in_d():
    y = torch.tensor([0, 3])
    G = cnets.ConditionalGenerator(8, 10, width=8, label_scale=3.0)
    assert G.label_vector(y).tolist()[1] == [0, 0, 0, 3.0, 0, 0, 0, 0, 0, 0]
    torch.manual_seed(0)
    D1 = cnets.ConditionalDiscriminator(10, 8, label_scale=1.0).eval()
    D3 = cnets.ConditionalDiscriminator(10, 8, label_scale=3.0).eval()
    D3.load_state_dict(D1.state_dict())
    x = torch.zeros(2, 1, 28, 28)
    with torch.no_grad():                              # same weights: D3 sees label maps 3x as large
        first = D1.trunk.net[0]
        maps = F.one_hot(y, 10).float()[:, :, None, None].expand(-1, -1, 28, 28)
        torch.testing.assert_close(D3.trunk.net[0](torch.cat([x, 3 * maps], 1)), first(torch.cat([x, 3 * maps], 1)))
        assert not torch.allclose(D1(x, y), D3(x, y))
    with pytest.raises(ValueError, match="label_scale"):
        cnets.ConditionalDiscriminator(10, 8, label_scale=0)


def test_wrong_labels_differ_everywhere_and_are_uniform():
    y = torch.arange(10).repeat(500)
    w = conditional.wrong_labels(y, 10, torch.Generator().manual_seed(0))
    assert w.shape == y.shape and bool((w != y).all()) and int(w.min()) >= 0 and int(w.max()) <= 9
    counts = torch.bincount(w[y == 0], minlength=10)  # label 0 -> each of 1..9 about 500 / 9 times
    assert counts[0] == 0 and counts[1:].min() > 30
    with pytest.raises(ValueError, match=">= 2"):
        conditional.wrong_labels(torch.zeros(3, dtype=torch.long), 1)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        conditional.wrong_labels(torch.tensor([10]), 10)


class _LabelReader(torch.nn.Module):
    """D(x, y) = +1 when y is the class written in x's mean brightness, -1 otherwise (a D that uses y perfectly)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x, y):
        cls = ((x.mean((1, 2, 3)) + 1) / 2 * 9.999).long()
        return self.w * ((cls == y).float() * 2 - 1)


class _Blind(_LabelReader):
    """A D that ignores y: the same score for every label (a tie is not a preference)."""

    def forward(self, x, y):
        return self.w * x.mean((1, 2, 3))


def test_label_use_is_one_for_a_label_reader_and_zero_for_a_label_blind_d():
    y = torch.arange(10).repeat(20)
    x = ((y.float() + 0.5) / 10 * 2 - 1)[:, None, None, None].expand(-1, 1, 28, 28)
    assert conditional.label_use(_LabelReader(), x, y, 10) == 1.0
    assert conditional.label_use(_Blind(), x, y, 10) == 0.0
    with pytest.raises(ValueError, match="aligned"):
        conditional.label_use(_LabelReader(), x, y[:5], 10)


def test_mismatch_term_is_softplus_of_the_wrong_label_scores():
    x = ((torch.arange(10).float() + 0.5) / 10 * 2 - 1)[:, None, None, None].expand(-1, 1, 28, 28)
    y = torch.arange(10)
    D = _LabelReader()
    term = conditional.mismatch_term(D, 10)
    b = gan.Batch(x, x, c_real=y)
    # every wrong label scores -1: the term is softplus(-1); the right labels would give softplus(+1)
    torch.testing.assert_close(term(b), F.softplus(torch.tensor(-1.0)))
    term(b).backward()
    assert D.w.grad is not None and float(D.w.grad) < 0    # D lowers the wrong pairs' scores by raising w
    with pytest.raises(ValueError, match="labels"):
        term(gan.Batch(x, x))


def test_mismatch_term_teaches_a_conditional_d_to_use_the_label():
    """A few D steps on real digits: with the term D's label use rises well above 1/2 (a coin flip)."""
    torch.manual_seed(0)
    y = torch.arange(10).repeat(8)
    x = ((y.float() + 0.5) / 10 * 2 - 1)[:, None, None, None].expand(-1, 1, 28, 28).contiguous()
    x = x + 0.05 * torch.randn_like(x)
    D = cnets.ConditionalDiscriminator(10, 8)
    term = conditional.mismatch_term(D, 10)
    opt = torch.optim.Adam(D.parameters(), lr=2e-3)
    before = conditional.label_use(D, x, y, 10)
    for _ in range(60):
        loss = F.softplus(-D(x, y)).mean() + term(gan.Batch(x, x, c_real=y))
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert conditional.label_use(D, x, y, 10) > max(0.9, before + 0.2)


# ---------------------------------------------------------------------------- sampling and grids
def test_class_labels_and_grid_by_class():
    lab = conditional.class_labels(3, 2)
    assert lab.tolist() == [0, 0, 1, 1, 2, 2]
    x = torch.arange(5.0)[:, None, None, None].expand(5, 1, 2, 2)
    grid = conditional.grid_by_class(x, torch.tensor([2, 0, 2, 2, 1]), 3, 2, fill=-1)
    assert grid[:, 0, 0, 0].tolist() == [1, -1, 4, -1, 0, 2]


def test_matched_accuracy_recovers_a_permutation():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(10, (500,), generator=g)
    perm = torch.randperm(10, generator=g)
    codes = torch.argsort(perm)[labels]                 # code c means class perm[c]
    acc, mapping = conditional.matched_accuracy(codes, labels, 10)
    assert acc == 1.0 and mapping.tolist() == perm.tolist()
    noisy = codes.clone()
    noisy[:100] = (noisy[:100] + 1) % 10
    assert conditional.matched_accuracy(noisy, labels, 10)[0] == pytest.approx(0.8)


def test_confusion_counts_code_label_pairs():
    codes, labels = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([1, 1, 0, 2, 0, 2])
    conf = conditional.confusion(codes, labels, 3)
    assert conf.tolist() == [[0, 2, 0], [1, 0, 0], [1, 0, 2]] and conf.dtype == torch.long
    with pytest.raises(ValueError, match="aligned"):
        conditional.confusion(codes, labels[:5], 3)


def test_matched_accuracy_is_the_best_one_to_one_mapping():
    g = torch.Generator().manual_seed(1)
    codes, labels = torch.randint(4, (60,), generator=g), torch.randint(4, (60,), generator=g)
    brute = max(float((torch.tensor(p)[codes] == labels).float().mean()) for p in itertools.permutations(range(4)))
    assert conditional.matched_accuracy(codes, labels, 4)[0] == pytest.approx(brute)


class _Oracle:
    """A FeatureNetwork stand-in whose logits read the class from the mean brightness."""
    name, logits = "oracle", None

    def __init__(self):
        self.logits = lambda x: F.one_hot((x.mean((1, 2, 3)) * 9.999).long(), 10).float()

    def prepare(self, x):
        return x


def test_sample_accuracy_maps_the_range_and_counts_agreement():
    y = torch.arange(10)
    x = (y.float() / 10 + 0.05)[:, None, None, None].expand(10, 1, 28, 28) * 2 - 1   # in [-1, 1]
    assert conditional.sample_accuracy(x, y, _Oracle()) == 1.0
    assert conditional.sample_accuracy(x, (y + 1) % 10, _Oracle()) == 0.0
    with pytest.raises(ValueError, match="labels"):
        conditional.sample_accuracy(x, y[:3], _Oracle())


# ---------------------------------------------------------------------------- InfoGAN
def test_gaussian_nll_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    x, mu, ls = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g) * 0.5
    ref = -torch.distributions.Normal(mu, ls.exp()).log_prob(x)
    torch.testing.assert_close(conditional.gaussian_nll(x, mu, ls), ref)
    with pytest.raises(ValueError, match="same shape"):
        conditional.gaussian_nll(x, mu[:, :2], ls)


def test_info_codes_vector_and_loss():
    codes = conditional.InfoCodes(10, 2, weight_cont=0.5)
    torch.manual_seed(0)
    cat, cont = codes.sample(6)
    assert cat.shape == (6,) and cont.shape == (6, 2) and cont.abs().max() <= 1
    v = codes.vector((cat, cont))
    assert v.shape == (6, 12) and torch.equal(v[:, :10].argmax(1), cat) and torch.equal(v[:, 10:], cont)
    (gz,) = codes.generator_input(torch.zeros(6, 4), (cat, cont))
    assert gz.shape == (6, 16)
    q = torch.randn(6, codes.q_dim)
    ref = F.cross_entropy(q[:, :10], cat) + 0.5 * (-torch.distributions.Normal(q[:, 10:12], q[:, 12:].exp())
                                                   .log_prob(cont)).sum(1).mean()
    torch.testing.assert_close(codes.info_loss(q, (cat, cont)), ref)
    b = gan.Batch(torch.zeros(6, 1), torch.zeros(6, 1), None, (cat, cont), aux_fake=q)
    torch.testing.assert_close(codes.info_term(b), ref)
    with pytest.raises(ValueError, match="q_dim|14"):
        codes.info_loss(torch.randn(6, 12), (cat, cont))
    with pytest.raises(TypeError, match="pair"):
        codes.vector(cat)


def test_info_codes_fixed_std_is_half_a_squared_error_and_q_outputs_only_means():
    codes = conditional.InfoCodes(10, 2, weight_cont=1.0, fixed_std=1.0)
    assert codes.q_dim == 12
    torch.manual_seed(0)
    cat, cont = codes.sample(5)
    q = torch.randn(5, 12)
    ref = F.cross_entropy(q[:, :10], cat) + (0.5 * (cont - q[:, 10:]) ** 2 + 0.5 * np.log(2 * np.pi)).sum(1).mean()
    torch.testing.assert_close(codes.info_loss(q, (cat, cont)), ref)
    with pytest.raises(ValueError, match="n_cat \\+ n_cont"):
        codes.split_q(torch.randn(5, 14))
    with pytest.raises(ValueError, match="fixed_std"):
        conditional.InfoCodes(10, 2, fixed_std=0.0)


def test_info_codes_generator_input_scales_codes_and_makes_uniform_noise():
    codes = conditional.InfoCodes(10, 2, code_scale=2.0, uniform_noise=True)
    torch.manual_seed(0)
    z = torch.randn(20000, 3)
    cat, cont = codes.sample(len(z))
    (g,) = codes.generator_input(z, (cat, cont))
    noise, code = g[:, :3], g[:, 3:]
    assert float(noise.abs().max()) <= 1 and abs(float(noise.var()) - 1 / 3) < 0.01        # U(-1, 1): variance 1/3
    assert float((noise < 0.5).float().mean()) == pytest.approx(0.75, abs=0.01)          # uniform CDF at 0.5
    torch.testing.assert_close(code, 2.0 * codes.vector((cat, cont)))
    (plain,) = conditional.InfoCodes(10, 2).generator_input(z[:4], (cat[:4], cont[:4]))
    torch.testing.assert_close(plain[:, :3], z[:4])
    with pytest.raises(ValueError, match="code_scale"):
        conditional.InfoCodes(10, 2, code_scale=-1)


def test_info_networks_shapes_and_q_shares_the_body():
    torch.manual_seed(0)
    codes = conditional.InfoCodes(10, 2, fixed_std=1.0)
    G = cnets.InfoGenerator(16 + codes.dim, width=8, hidden=32)
    D = cnets.InfoDiscriminator(codes.q_dim, width=8, hidden=32, q_hidden=16)
    x = G(*codes.generator_input(torch.randn(4, 16), codes.sample(4)))
    assert x.shape == (4, 1, 28, 28) and float(x.detach().abs().max()) <= 1
    s, q = D(x)
    assert s.shape == (4,) and q.shape == (4, codes.q_dim)
    q.sum().backward()                                      # Q's loss reaches the shared conv body
    assert D.body[0].weight.grad is not None and D.source.weight.grad is None
    with pytest.raises(ValueError, match="built for inputs of size 28"):
        G(torch.randn(4, 20))


def test_infogan_term_trains_through_the_engine():
    torch.manual_seed(0)
    codes = conditional.InfoCodes(4, 1)
    G = dcgan.Generator(8 + codes.dim, 1, 28, 8)
    D = cnets.HeadsDiscriminator({"code": codes.q_dim}, 8, hidden=16)
    v = gan.variant("ns", d_terms={"info": (1.0, codes.info_term)}, g_terms={"info": (1.0, codes.info_term)})
    x, _ = _digits(64)
    tr = gan.Trainer(G, D, v, x, 8, 16, device="cpu", log_every=30, sample_cond=codes.sample,
                     generator_input=codes.generator_input, discriminator_input=lambda x, c: (x,))
    hist = tr.fit(60)
    assert hist["d_info"][-1] < hist["d_info"][0]            # Q learns to read the code from G(z, c)
    assert tr.sample(cond=codes.sample(5)).shape == (5, 1, 28, 28)


# ---------------------------------------------------------------------------- stroke measures
def _bar(shift_per_row: float, width: int = 2) -> torch.Tensor:
    img = torch.zeros(1, 1, 28, 28)
    for r in range(4, 24):
        c = round(14 + shift_per_row * (14 - r))             # row r counted downwards
        img[0, 0, r, c - width // 2:c - width // 2 + width] = 1
    return img


def test_slant_sign_and_thickness():
    s = conditional.slant(torch.cat([_bar(0.0), _bar(0.5), _bar(-0.5)]))
    assert abs(float(s[0])) < 1e-6 and s[1] == pytest.approx(0.5, abs=0.05) and s[2] == pytest.approx(-0.5, abs=0.05)
    t = conditional.thickness(torch.cat([_bar(0.0, 2), _bar(0.0, 4), torch.zeros(1, 1, 28, 28)]))
    assert t[0] == pytest.approx(2.0, abs=0.3) and t[1] == pytest.approx(4.0, abs=0.5) and t[2] == 0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        conditional.slant(_bar(0.0) * 2 - 1)


def test_correlation_matches_numpy():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(50, generator=g), torch.randn(50, generator=g)
    assert conditional.correlation(a, a + 0.5 * b) == pytest.approx(np.corrcoef(a, a + 0.5 * b)[0, 1])


# ---------------------------------------------------------------------------- BiGAN
def test_knn_accuracy_matches_sklearn():
    from sklearn.neighbors import KNeighborsClassifier

    g = torch.Generator().manual_seed(0)
    xtr, ytr = torch.randn(200, 5, generator=g), torch.randint(3, (200,), generator=g)
    xtr += ytr[:, None].float()
    xte, yte = torch.randn(100, 5, generator=g), torch.randint(3, (100,), generator=g)
    xte += yte[:, None].float()
    ref = KNeighborsClassifier(5).fit(xtr.numpy(), ytr.numpy()).score(xte.numpy(), yte.numpy())
    assert conditional.knn_accuracy(xtr, ytr, xte, yte, 5) == pytest.approx(ref, abs=0.02)
    assert conditional.knn_accuracy(xtr, ytr, xtr, ytr, 1) == 1.0


def test_knn_neighbours_are_the_exact_ones_in_chunks_and_near_ties():
    """The float32 candidate search with float64 re-ranking returns the neighbours of exact float64 distances,
    across chunk borders, and orders a point and its copy moved by 1e-3 (float32 distances of points of norm
    ~600 cannot: their rounding error is larger than the gap)."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(3000, 40, generator=g) * 100
    points = torch.cat([base, base[:300] + 1e-3])                    # 300 near twins at the end
    queries = torch.cat([base[:300], torch.randn(200, 40, generator=g) * 100])
    exact = torch.cdist(queries.double(), points.double()).topk(5, largest=False).indices
    nearest = conditional._nearest(queries, points, 5, chunk=128)
    assert torch.equal(nearest, exact)
    assert torch.equal(nearest[:300, :2], torch.stack([torch.arange(300), torch.arange(3000, 3300)], 1))


def test_bigan_through_the_engine_updates_encoder_and_sees_joint_pairs():
    torch.manual_seed(0)
    L = 8
    G, E = dcgan.Generator(L, 1, 28, 8), cnets.Encoder(L, 8)
    gen = cnets.BiGANGenerator(G, E)
    D = cnets.JointDiscriminator(L, 8, hidden=16)
    seen = []
    D.register_forward_pre_hook(lambda m, args: seen.append(tuple(a.shape for a in args)))
    v = gan.variant("ns", g_terms={"enc": (1.0, conditional.bigan_encoder_term(gen, D))})
    x, _ = _digits(64)
    tr = gan.Trainer(gen, D, v, x, None, 16, device="cpu", log_every=5, cond=conditional.bigan_condition(gen),
                     sample_cond=conditional.gaussian_sampler(L))
    e0 = [p.detach().clone() for p in E.parameters()]
    hist = tr.fit(5)
    assert all(s == ((16, 1, 28, 28), (16, L)) for s in seen)
    assert any(not torch.equal(a, b) for a, b in zip(e0, E.parameters())), "the encoder must be trained"
    assert "g_enc" in hist and tr.sample(4).shape == (4, 1, 28, 28)
    # E's term is the inverted-label GAN loss on the real pair: softplus(D(x, E(x)))
    D.eval()
    b = gan.Batch(x[:4], x[:4])
    torch.testing.assert_close(conditional.bigan_encoder_term(gen, D)(b), F.softplus(D(x[:4], E(x[:4]))).mean())
    with pytest.raises(TypeError, match="BiGANGenerator"):
        conditional.bigan_condition(G)



def test_mlp_bigan_nets_shapes_errors_and_engine_step():
    torch.manual_seed(0)
    L = 6
    x, _ = _digits(16)
    G, E, D = cnets.MLPGenerator(L, 32), cnets.MLPEncoder(L, 32), cnets.MLPJointDiscriminator(L, 32, dropout=0.2)
    x_g = G(torch.randn(16, L)).detach()
    assert x_g.shape == (16, 1, 28, 28) and float(x_g.abs().max()) <= 1
    assert E(x).shape == (16, L) and D(x, E(x)).shape == (16,)
    with pytest.raises(ValueError, match="x has 16 images but z has 3 rows"):
        D(x, torch.randn(3, L))
    with pytest.raises(ValueError, match=r"28x28"):
        E(torch.zeros(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        G(torch.randn(4))
    gen = cnets.BiGANGenerator(G, E)
    v = gan.variant("ns", g_terms={"enc": (1.0, conditional.bigan_encoder_term(gen, D))})
    tr = gan.Trainer(gen, D, v, x, None, 8, device="cpu", log_every=2, cond=conditional.bigan_condition(gen),
                     sample_cond=conditional.gaussian_sampler(L))
    e0, g0 = [p.detach().clone() for p in E.parameters()], [p.detach().clone() for p in G.parameters()]
    hist = tr.fit(3)
    assert any(not torch.equal(a, b) for a, b in zip(e0, E.parameters())), "the encoder must be trained"
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters())), "the generator must be trained"
    assert np.isfinite(hist["g_enc"]).all()


# ---------------------------------------------------------------------------- semi-supervised GAN
def test_unsupervised_loss_is_the_k_plus_1_cross_entropy():
    g = torch.Generator().manual_seed(0)
    lr, lf = torch.randn(7, 10, generator=g) * 3, torch.randn(7, 10, generator=g) * 3
    # explicit K+1 classifier: append the fake class's logit 0, P(fake) = softmax[..., K]
    p_real = F.softmax(torch.cat([lr, torch.zeros(7, 1)], 1), 1)
    p_fake = F.softmax(torch.cat([lf, torch.zeros(7, 1)], 1), 1)
    ref = -(1 - p_real[:, -1]).log().mean() - p_fake[:, -1].log().mean()
    torch.testing.assert_close(conditional.unsupervised_d_loss(lr, lf), ref)
    torch.testing.assert_close(conditional.unsupervised_d_loss(lr, lf),
                               losses.minimax_d_loss(torch.logsumexp(lr, 1), torch.logsumexp(lf, 1)))
    big = torch.full((2, 10), 200.0)                     # the logsumexp form stays finite
    assert torch.isfinite(conditional.unsupervised_d_loss(big, -big))


def test_supervised_and_feature_matching_terms():
    torch.manual_seed(0)
    D = cnets.SemiSupervisedDiscriminator(10, 8, hidden=16, dropout=0.0).eval()
    x, y = _digits(20)
    b = gan.Batch(x, x)
    torch.testing.assert_close(conditional.supervised_term(D, x, y)(b), F.cross_entropy(D(x)[1], y))
    assert conditional.supervised_term(D, x, y, batch_size=4)(b).ndim == 0
    fr, ff = torch.randn(5, 3), torch.randn(5, 3)
    b = gan.Batch(x, x, aux_real=(None, fr), aux_fake=(None, ff))
    torch.testing.assert_close(conditional.feature_matching_term(b), ((fr.mean(0) - ff.mean(0)) ** 2).sum())
    with pytest.raises(ValueError, match="labels"):
        conditional.supervised_term(D, x, y[:3])
    s = torch.randn(4, requires_grad=True)
    out = conditional.zero_g_loss(s)
    out.backward()
    assert float(out.detach()) == 0 and torch.equal(s.grad, torch.zeros(4))


def test_mlp_semi_supervised_discriminator_noise_only_in_training_and_logsumexp():
    torch.manual_seed(0)
    x, _ = _digits(6)
    D = cnets.MLPSemiSupervisedDiscriminator(10, (32, 16))
    lse, logits, feats = D(x)
    assert logits.shape == (6, 10) and feats.shape == (6, 16)
    torch.testing.assert_close(lse, torch.logsumexp(logits, 1))
    assert not torch.equal(D(x)[1], D(x)[1])                 # Gaussian noise on every layer while training
    D.eval()
    torch.testing.assert_close(D(x)[1], D(x)[1])             # ... and none in eval mode
    torch.testing.assert_close(D.logits(x), D(x)[1])
    wn = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert len(wn) == 3 and all(hasattr(m, "parametrizations") for m in wn)
    noise = cnets.GaussianNoise(0.5)
    out = noise(torch.zeros(20000))
    assert abs(float(out.std()) - 0.5) < 0.01
    with pytest.raises(ValueError, match="std"):
        cnets.GaussianNoise(-1.0)
    with pytest.raises(ValueError, match="hidden"):
        cnets.MLPSemiSupervisedDiscriminator(10, ())


def test_mlp_generator_softplus_and_weight_norm_options():
    torch.manual_seed(0)
    G = cnets.MLPGenerator(8, 16, activation="softplus", weight_norm=True)
    x = G(torch.randn(5, 8))
    assert x.shape == (5, 1, 28, 28) and float(x.detach().abs().max()) <= 1
    assert any(isinstance(m, torch.nn.Softplus) for m in G.modules())
    assert hasattr(G.net[6], "parametrizations")
    with pytest.raises(ValueError, match="activation"):
        cnets.MLPGenerator(8, 16, activation="tanh")


def test_semi_supervised_gan_and_baseline_overfit_the_labelled_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path))
    torch.manual_seed(0)
    x, y = _digits(20)
    D = cnets.SemiSupervisedDiscriminator(10, 8, hidden=32, dropout=0.0)
    hist, seconds = conditional.fit_classifier("08-test-baseline", D, D.logits, x, y, 150, batch_size=20, lr=3e-3)
    assert conditional.accuracy(D.logits, x, y, D) == 1.0 and seconds > 0
    assert hist["loss"][-1] < hist["loss"][0]
    G = dcgan.Generator(8, 1, 28, 8)
    D2 = cnets.SemiSupervisedDiscriminator(10, 8, hidden=32, dropout=0.0)
    v = gan.variant("ns", lr_d=3e-3, g_loss=conditional.zero_g_loss,
                    d_terms={"sup": (1.0, conditional.supervised_term(D2, x, y))},
                    g_terms={"fm": (1.0, conditional.feature_matching_term)})
    tr = gan.Trainer(G, D2, v, _digits(64, seed=1)[0], 8, 16, device="cpu", log_every=50)
    h = tr.fit(150)
    assert h["d_sup"][-1] < 0.5 * h["d_sup"][0] and "g_fm" in h
    assert conditional.accuracy(D2.logits, x, y, D2) >= 0.9
