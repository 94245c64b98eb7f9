"""course_lib.metrics.style_classifier / style_rate: the emoji style judge (Twitter vs Google) of 16 and 17."""

from __future__ import annotations

import pytest
import torch

from course_lib import data, metrics


def test_style_classifier_tells_the_two_styles_apart_on_held_out_emoji(ckpt_dir):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    judge = metrics.style_classifier(16, device="cpu", verbose=False)
    assert torch.equal(torch.get_rng_state(), state)                    # the notebook's random stream is untouched
    assert judge.name.startswith("course emoji style classifier") and judge.image_size == 16
    assert judge.test_accuracy > 0.65                                    # smoke budget, 16 px: a weak judge
    test = data.load("emoji-twitter", "test", image_size=16)
    google, twitter = test.attrs["paired"].clamp(0, 1), test.x
    rate_google, rate_twitter = metrics.style_rate(google, judge, "google"), metrics.style_rate(twitter, judge, "google")
    assert rate_google > 0.6 and rate_twitter < 0.5 and rate_google - rate_twitter > 0.4
    assert metrics.style_rate(twitter, judge, "twitter") == pytest.approx(1 - metrics.style_rate(twitter, judge))
    p = metrics.class_probabilities(google[:8], judge)
    assert p.shape == (8, 2) and torch.allclose(p.sum(1), torch.ones(8, dtype=p.dtype))
    verdict = metrics.judged_styles(torch.cat([twitter, google]), judge)
    assert verdict.dtype == torch.int64 and set(verdict.tolist()) <= {0, 1}
    assert float((verdict[len(twitter):] == metrics.EMOJI_STYLES.index("google")).double().mean()) == rate_google
    # trained once: the same object, and the checkpoint is reused by a new process (cache cleared here)
    assert metrics.style_classifier(16, device="cpu", verbose=False) is judge
    assert [p.name for p in ckpt_dir.iterdir()] == ["classifier-emoji-style-blur0.6-16-smoke.pt"]
    metrics._CLASSIFIERS.pop(("emoji-style", 16, "cpu"))
    again = metrics.style_classifier(16, device="cpu", verbose=False)
    assert again.test_accuracy == judge.test_accuracy


def test_style_rate_names_what_it_expects(ckpt_dir):
    judge = metrics.style_classifier(16, device="cpu", verbose=False)
    x = torch.rand(4, 3, 16, 16)
    with pytest.raises(ValueError, match="twitter"):
        metrics.style_rate(x, judge, "noto")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        metrics.style_rate(2 * x - 1, judge)
    ten_classes = metrics.FeatureNetwork("ten", lambda t: t.flatten(1), lambda t: torch.zeros(len(t), 10), None, 3,
                                         torch.device("cpu"))
    with pytest.raises(ValueError, match="two-class"):
        metrics.style_rate(x, ten_classes)
    with pytest.raises(ValueError, match="image_size"):
        metrics.style_classifier(0)
