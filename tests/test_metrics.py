"""course_lib.metrics: FID against scipy, Inception score bounds, mode coverage, divergences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from course_lib import data, metrics


def _direct_fid(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean.real))


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for d in (1, 5, 32):
        a, b = rng.normal(size=(200, d)), rng.normal(size=(300, d)) @ rng.normal(size=(d, d)) + 0.5
        m1, s1 = metrics.feature_statistics(a)
        m2, s2 = metrics.feature_statistics(b)
        assert metrics.frechet_distance(m1, s1, m2, s2) == pytest.approx(_direct_fid(m1, s1, m2, s2), rel=1e-6, abs=1e-8)
    assert metrics.frechet_distance(m1, s1, m1, s1) == pytest.approx(0.0, abs=1e-7)


def test_frechet_distance_of_1d_gaussians_is_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2
    val = metrics.frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[1.0]]))
    assert val == pytest.approx(9.0 + 1.0)
    with pytest.raises(ValueError, match="shapes do not match"):
        metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def _toy_net():
    torch.manual_seed(0)
    proj = torch.randn(16, 6)

    def feats(x):
        return x.flatten(1)[:, :16] @ proj

    return metrics.FeatureNetwork("toy projection", feats, lambda x: feats(x)[:, :3] * 5, 4, 1, torch.device("cpu"))


def test_fid_is_small_for_same_distribution_and_grows_with_shift():
    net = _toy_net()
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(400, 1, 4, 4, generator=g), torch.rand(400, 1, 4, 4, generator=g)
    shifted = (b * 0.5 + 0.5)
    same, diff = metrics.fid(a, b, net), metrics.fid(a, shifted, net)
    assert same < 0.1 * diff
    assert metrics.label("FID", net) == "FID (toy projection)"
    with pytest.raises(ValueError, match=r"images\.to_unit\(x\)"):
        metrics.fid(a * 2 - 1, b, net)


def test_inception_score_bounds():
    net = _toy_net()
    x = torch.rand(300, 1, 4, 4)
    is_mean, _ = metrics.inception_score(x, net, splits=3)
    assert 1.0 <= is_mean <= 3.0 + 1e-9
    const = metrics.FeatureNetwork("const", lambda x: x.flatten(1), lambda x: torch.zeros(len(x), 3), None, 1,
                                   torch.device("cpu"))
    assert metrics.inception_score(x, const)[0] == pytest.approx(1.0)
    onehot = metrics.FeatureNetwork("onehot", lambda x: x.flatten(1),
                                    lambda x: 50 * torch.nn.functional.one_hot(torch.arange(len(x)) % 3, 3).float(),
                                    None, 1, torch.device("cpu"))
    assert metrics.inception_score(x, onehot)[0] == pytest.approx(3.0, rel=1e-3)


def test_mode_coverage_counts_modes_and_quality():
    modes = data.mixture_modes()
    x, _ = data.gaussian_mixture_2d(4000, std=0.05)
    full = metrics.mode_coverage(x, modes, std=0.05)
    assert full["modes_covered"] == 8 and full["high_quality"] > 0.98 and full["kl_modes"] < 0.01
    two = x[(torch.cdist(x, modes).argmin(1) < 2)]
    half = metrics.mode_coverage(two, modes, std=0.05)
    assert half["modes_covered"] == 2 and half["kl_modes"] == pytest.approx(math.log(4), abs=0.02)
    smeared = 2.5 * torch.randn(2000, 2)
    assert metrics.mode_coverage(smeared, modes, std=0.05)["high_quality"] < 0.1


def test_kl_and_js_on_a_grid_match_closed_forms():
    x = torch.linspace(-15, 15, 30001, dtype=torch.float64)
    dx = float(x[1] - x[0])
    p = torch.distributions.Normal(0.0, 1.0)
    q = torch.distributions.Normal(1.0, 2.0)
    exact = float(torch.distributions.kl_divergence(p, q))
    assert metrics.kl_divergence(p.log_prob(x).exp(), q.log_prob(x).exp(), dx) == pytest.approx(exact, rel=1e-5)
    pd = p.log_prob(x).exp()
    assert metrics.js_divergence(pd, pd, dx) == pytest.approx(0.0, abs=1e-9)
    far = torch.distributions.Normal(30.0, 1.0).log_prob(x + 0.0).exp()   # disjoint support on the grid
    assert metrics.js_divergence(pd, far, dx) <= math.log(2) + 1e-6


def test_course_classifier_trains_once_and_names_itself(ckpt_dir, monkeypatch):
    monkeypatch.setitem(metrics._CLASSIFIER_SIZES, "smoke", {"n": 1000, "num_epochs": 2})
    net = metrics.course_classifier("mnist", verbose=False)
    assert net.name == "course MNIST classifier" and net.test_accuracy > 0.5
    assert (ckpt_dir / "classifier-mnist-smoke.pt").exists()
    test = data.load("mnist", "test", n=200)
    real_vs_real = metrics.fid(test.x[:100], test.x[100:], net)
    noise = metrics.fid(test.x[:100], torch.rand(100, 1, 28, 28), net)
    assert real_vs_real < noise
    assert metrics.course_classifier("mnist", verbose=False) is net     # cached


def test_inception_features_offline_error_and_load_path(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert not metrics.inception_weights_available()
    with pytest.raises(FileNotFoundError, match=r"imagenet_features\(\)"):
        metrics.inception_features(device="cpu")
    # a cached file with the right architecture loads (random weights stand in for the real ones)
    from torchvision.models import inception_v3

    path = metrics.inception_weights_path()
    path.parent.mkdir(parents=True)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    net = metrics.inception_features(device="cpu")
    x = torch.rand(2, 1, 28, 28)
    assert net.features(net.prepare(x)).shape == (2, 2048)
    assert net.logits(net.prepare(x)).shape == (2, 1000)
    assert "Inception-v3" in metrics.label("FID", net)


def test_course_classifier_leaves_the_global_seed_alone(ckpt_dir):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    metrics.course_classifier("mnist", verbose=False)
    assert torch.equal(torch.rand(3), expected)


def test_fid_reference_caches_features_and_reads_against_the_floor():
    net = _toy_net()
    g = torch.Generator().manual_seed(0)
    ref_x, held = torch.rand(300, 1, 4, 4, generator=g), torch.rand(500, 1, 4, 4, generator=g)
    ref = metrics.FIDReference(ref_x, net, heldout=held)
    x = torch.rand(200, 1, 4, 4, generator=g) * 0.6
    assert ref.fid(x) == pytest.approx(metrics.fid(ref_x, x, net), rel=1e-9)
    assert ref.label == "FID (toy projection)" and ref.features.shape == (300, 6)
    draws = ref.floor_draws(200, draws=3)
    assert len(set(draws)) == 3 and ref.floor(200, draws=3) == pytest.approx(np.mean(draws))
    assert ref.floor(200) < 0.2 * ref.fid(x)                  # real held-out data: the best any model can do
    assert ref.floor(50) > ref.floor(400)                     # FID's small-sample bias: read at the same n
    with pytest.raises(ValueError, match="needs held-out real images"):
        metrics.FIDReference(ref_x, net).floor(10)
    with pytest.raises(ValueError, match="2 <= n <= 500"):
        ref.floor(501)
    with pytest.raises(ValueError, match="must match x_ref"):
        metrics.FIDReference(ref_x, net, heldout=torch.rand(5, 1, 8, 8))


def test_recognisable_rate_counts_confident_samples_and_their_classes():
    # logits: class = the pixel set to 10 (confident), or all zeros (p = 1/3 each, not recognised)
    net = metrics.FeatureNetwork("toy", lambda x: x.flatten(1), lambda x: x.flatten(1)[:, :3] * 10, 2, 1,
                                 torch.device("cpu"))
    x = torch.zeros(10, 1, 2, 2)
    x[:4, 0, 0, 0] = 1          # 4 confident class 0
    x[4:6, 0, 0, 1] = 1         # 2 confident class 1
    r = metrics.recognisable_rate(x, net)
    assert r["rate"] == pytest.approx(0.6) and r["n"] == 10
    assert r["per_class"].tolist() == pytest.approx([4 / 6, 2 / 6, 0.0]) and r["classes_covered"] == 2
    assert metrics.recognisable_rate(x, net, threshold=0.99999)["rate"] == 0.0
    with pytest.raises(ValueError, match=r"threshold must be a probability in \(0, 1\)"):
        metrics.recognisable_rate(x, net, threshold=1.5)


def test_class_probabilities_are_the_softmax_and_recognisable_rate_uses_them():
    # logits (10, 0, 0) for a pixel set to 1: p = e^10 / (e^10 + 2), closed form; zeros: p = 1/3 each
    net = metrics.FeatureNetwork("toy", lambda x: x.flatten(1), lambda x: x.flatten(1)[:, :3] * 10, 2, 1,
                                 torch.device("cpu"))
    x = torch.zeros(5, 1, 2, 2)
    x[:2, 0, 0, 0] = 1
    p = metrics.class_probabilities(x, net, batch_size=2)
    assert p.shape == (5, 3) and p.dtype == torch.float64
    assert torch.allclose(p.sum(1), torch.ones(5, dtype=torch.float64))
    conf = p.max(1).values
    assert conf[:2].tolist() == pytest.approx([math.exp(10) / (math.exp(10) + 2)] * 2)
    assert conf[2:].tolist() == pytest.approx([1 / 3] * 3)
    assert metrics.recognisable_rate(x, net)["rate"] == pytest.approx(float((conf >= 0.9).double().mean()))
    headless = metrics.FeatureNetwork("no head", lambda x: x.flatten(1), None, 2, 1, torch.device("cpu"))
    with pytest.raises(ValueError, match="no classifier head"):
        metrics.class_probabilities(x, headless)


def test_distance_to_support_closed_form_and_brute_force():
    # support {(0, 0), (3, 4)}: (0, 1) -> 1, (3, 0) -> 3 (3 to the origin, 4 to (3, 4)), (6, 8) -> 5
    d = metrics.distance_to_support(np.array([[0.0, 1.0], [3.0, 0.0], [6.0, 8.0]]), np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(d, [1.0, 3.0, 5.0])
    pts, sup = _gauss(50, 3, seed=0), _gauss(20, 3, seed=1)
    brute = np.linalg.norm(pts[:, None] - sup[None], axis=-1).min(1)
    np.testing.assert_allclose(metrics.distance_to_support(pts, sup, batch_size=7), brute, rtol=1e-10)
    assert np.all(metrics.distance_to_support(sup, sup) < 1e-6)            # a support point is on the support
    with pytest.raises(ValueError, match="3-D but support is 2-D"):
        metrics.distance_to_support(pts, sup[:, :2])


def test_fid_equals_torchmetrics_on_identical_features():
    tm = pytest.importorskip("torchmetrics.image.fid")
    net = _toy_net()

    class Feats(torch.nn.Module):
        num_features = 6                                       # (saves torchmetrics its 299 px probe)

        def forward(self, x):
            return net.features(net.prepare(x.float())).double()

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(300, 1, 4, 4, generator=g), torch.rand(300, 1, 4, 4, generator=g) * 0.7
    ref = tm.FrechetInceptionDistance(feature=Feats(), normalize=True)
    ref.set_dtype(torch.float64)
    ref.update(a, real=True)
    ref.update(b, real=False)
    assert metrics.fid(a, b, net) == pytest.approx(float(ref.compute()), rel=1e-6)


def test_course_classifier_fid_features_are_full_rank():
    """Pre-ReLU features: no dead unit, so the FID covariance of real digits has full rank."""
    net = metrics.course_classifier("mnist", verbose=False)
    f = metrics.compute_features(data.load("mnist", "test").x[:600], net)
    assert torch.linalg.matrix_rank(torch.cov(f.T.double())).item() == f.shape[1]


def _gauss(n, d=4, shift=0.0, scale=1.0, seed=0):
    return np.random.default_rng(seed).normal(shift, scale, (n, d))


# ---------------------------------------------------------------- precision / recall
def test_knn_radii_match_brute_force():
    x = _gauss(30, 3)
    r = metrics.knn_radii(x, k=3)
    d = np.linalg.norm(x[:, None] - x[None], axis=-1)
    np.testing.assert_allclose(r, np.sort(d, 1)[:, 3], rtol=1e-10)


def test_precision_recall_same_distribution_is_high():
    pr = metrics.precision_recall(_gauss(400, seed=0), _gauss(400, seed=1))
    assert pr["precision"] > 0.8 and pr["recall"] > 0.8


def test_mode_dropping_lowers_recall_not_precision():
    rng = np.random.default_rng(0)
    centres = np.eye(4) * 10
    real = np.concatenate([c + rng.normal(size=(100, 4)) for c in centres])
    fake = np.concatenate([c + rng.normal(size=(200, 4)) for c in centres[:2]])   # two of four modes
    pr = metrics.precision_recall(real, fake)
    assert pr["precision"] > 0.85
    assert pr["recall"] < 0.6


def test_far_away_samples_have_zero_precision():
    pr = metrics.precision_recall(_gauss(100), _gauss(100, shift=50))
    assert pr == {"precision": 0.0, "recall": 0.0}


def test_precision_recall_bad_input():
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        metrics.precision_recall(np.zeros(10), np.zeros((10, 2)))
    with pytest.raises(ValueError, match="more than k=3"):
        metrics.knn_radii(np.zeros((3, 2)))


# ---------------------------------------------------------------- KID
def test_kid_is_unbiased_and_detects_shift():
    vals = [metrics.kid(_gauss(50, seed=2 * s), _gauss(50, seed=2 * s + 1)) for s in range(20)]
    assert abs(np.mean(vals)) < 3 * np.std(vals) / math.sqrt(len(vals)) + 1e-3
    assert metrics.kid(_gauss(200), _gauss(200, shift=1.0, seed=1)) > 0.1


def test_kid_matches_explicit_formula():
    x, y = _gauss(6, 3), _gauss(5, 3, seed=1)
    k = lambda a, b: (a @ b / 3 + 1) ** 3
    kxx = sum(k(x[i], x[j]) for i in range(6) for j in range(6) if i != j) / 30
    kyy = sum(k(y[i], y[j]) for i in range(5) for j in range(5) if i != j) / 20
    kxy = sum(k(x[i], y[j]) for i in range(6) for j in range(5)) / 30
    assert metrics.kid(x, y) == pytest.approx(kxx + kyy - 2 * kxy, rel=1e-10)
