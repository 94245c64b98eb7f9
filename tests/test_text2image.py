"""Tests of course_lib.text2image (captions, GAN-CLS, GAN-INT, style loss) and its networks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from course_lib import gan, text2image
from course_lib.nets import text2image as t2i


def _solid(rgb, size=8, border=2):
    """A (3, size, size) image: a coloured square on white."""
    x = torch.ones(3, size, size)
    x[:, border:-border, border:-border] = torch.tensor(rgb)[:, None, None]
    return x


# ---------------------------------------------------------------------------------------- captions
def test_colour_fractions_and_words_name_the_drawn_colours():
    red, blue = _solid(text2image.PALETTE["red"]), _solid(text2image.PALETTE["blue"])
    half = red.clone()
    half[:, :, 4:] = blue[:, :, 4:]
    fr = text2image.colour_fractions(torch.stack([red, half, torch.ones(3, 8, 8)]))
    names = list(text2image.PALETTE)
    assert fr[0, names.index("red")] == 1                        # the white border is background
    assert torch.allclose(fr[1, [names.index("red"), names.index("blue")]], torch.tensor([0.5, 0.5]))
    assert fr[2].sum() == 0                                       # an empty (all white) image
    words = text2image.colour_words(fr)
    assert words[0] == ["red"] and sorted(words[1]) == ["blue", "red"]


def test_emoji_captions_average_the_styles_and_describe_category():
    red, blue = _solid(text2image.PALETTE["red"]), _solid(text2image.PALETTE["blue"])
    caps = text2image.emoji_captions(["heart", "drop"], ["Smileys & Emotion", "Animals & Nature"],
                                     [torch.stack([red, blue]), torch.stack([red, red])])
    assert caps[0] == "heart, a red smiley"
    assert caps[1].startswith("drop, a ") and "blue" in caps[1] and "red" in caps[1] and "animal" in caps[1]
    with pytest.raises(ValueError, match="aligned"):
        text2image.emoji_captions(["a"], ["Flags", "Flags"], torch.stack([red, blue]))
    with pytest.raises(ValueError, match="unknown emoji category"):
        text2image.describe(["red"], "Cars")


def test_encode_chars_ids_padding_and_unknowns():
    ids = text2image.encode_chars(["Ab", "a\u00e9"], max_len=4)
    assert ids.shape == (2, 4) and ids.dtype == torch.long
    assert ids[0].tolist() == [1, 2, 0, 0]                        # lower-cased, 0-padded
    assert ids[1, 1] == text2image.VOCAB_SIZE - 1                 # unknown character
    assert text2image.encode_chars(["x" * 10], max_len=3).shape == (1, 3)
    with pytest.raises(TypeError, match="bare str"):
        text2image.encode_chars("abc")


# ---------------------------------------------------------------------------------------- GAN-CLS
class _TableD(torch.nn.Module):
    """A toy D(x, phi): the score is <mean pixel, phi sum> so every pair gets a distinct logit."""

    def forward(self, x, phi):
        return x.flatten(1).mean(1) * 3 + phi.sum(1)


def test_engine_terms_equal_the_slides_L_D():
    torch.manual_seed(0)
    D = _TableD()
    x_real, x_fake, c = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2), torch.randn(6, 3)
    v = text2image.gan_cls(D)
    w, term = v.d_terms["mismatch"]
    engine = v.d_loss(D(x_real, c), D(x_fake, c)) + w * term(gan.Batch(x_real, x_fake, c, c))
    s = torch.sigmoid
    slide = text2image.cls_d_objective(s(D(x_real, c)), s(D(x_real, c.roll(1, 0))), s(D(x_fake, c)))
    assert torch.allclose(engine, -slide, atol=1e-6)
    # the same formula written out with logs of probabilities
    hand = (torch.log(s(D(x_real, c))) + 0.5 * (torch.log(1 - s(D(x_real, c.roll(1, 0))))
                                                + torch.log(1 - s(D(x_fake, c))))).mean()
    assert torch.allclose(slide, hand, atol=1e-6)
    assert v.name == "gan-cls" and v.g_loss is gan.variant("ns").g_loss


def test_mismatch_rolls_rows_and_rejects_degenerate_batches():
    c = torch.arange(6.0).reshape(3, 2)
    assert torch.equal(text2image.mismatch(c), c[[2, 0, 1]])
    with pytest.raises(ValueError, match="batch of >= 2"):
        text2image.mismatch(c[:1])
    with pytest.raises(ValueError, match="multiple of the batch"):
        text2image.mismatch(c, shift=3)


class _PairD(torch.nn.Module):
    """A D that checks the caption: +10 when the sign of phi equals the sign stored in the image, else -10."""

    def forward(self, x, phi):
        return 10 * x.flatten(1)[:, 0].sign() * phi[:, 0].sign()


def test_match_scores_see_a_matching_aware_discriminator():
    phi = torch.tensor([[5.0], [-5.0], [5.0], [-5.0]])          # rolled by one: every row gets the other sign
    x = phi[:, :, None, None].expand(4, 1, 2, 2).clone()         # each image "shows" its caption's sign
    s_match, s_wrong = text2image.match_scores(_TableD(), torch.zeros(4, 1, 2, 2), phi)
    assert s_match == pytest.approx(s_wrong)                     # this D ignores the pairing on average
    d = _PairD()
    s_match, s_wrong = text2image.match_scores(d, x, phi)
    assert s_match > 0.99 and s_wrong < 0.01
    assert d.training                                            # the mode is restored


# ---------------------------------------------------------------------------------------- GAN-INT
def test_interpolate_and_interpolated_cond():
    t1, t2 = torch.zeros(3, 2), torch.ones(3, 2)
    assert torch.allclose(text2image.interpolate(t1, t2, 0.25), torch.full((3, 2), 0.75))
    assert torch.allclose(text2image.interpolate(t1, t2, torch.tensor([1.0, 0.0, 0.5]))[:, 0],
                          torch.tensor([0.0, 1.0, 0.5]))
    table = torch.eye(20)                                        # two draws coincide with probability 1/20
    every = text2image.interpolated_cond(table, beta=0.5, frac=1.0)(500)
    none = text2image.interpolated_cond(table, frac=0.0)(500)
    assert set(none.sum(1).tolist()) == {1.0} and ((none == 1).sum(1) == 1).all()    # plain captions
    assert torch.allclose(every.sum(1), torch.ones(500))                            # convex combinations
    assert set(every.max(1).values.tolist()) <= {0.5, 1.0}                           # beta = 0.5 mixtures
    assert (every.max(1).values < 1).float().mean() > 0.9
    half = text2image.interpolated_cond(table, frac=0.5, seed=3)(4000)
    assert 0.42 < (half.max(1).values < 1).float().mean() < 0.53                    # 0.5 * 19/20
    assert torch.equal(text2image.interpolated_cond(table, seed=1)(8), text2image.interpolated_cond(table, seed=1)(8))
    with pytest.raises(ValueError, match="frac"):
        text2image.interpolated_cond(table, frac=2.0)


def test_interpolation_term_value_and_errors():
    torch.manual_seed(0)
    G = t2i.Generator(8, 6, 4, image_size=32, width=8)
    D = t2i.Discriminator(6, 4, image_size=32, width=8)
    phi = F.normalize(torch.randn(5, 6), dim=1)
    z = torch.randn(5, 8)
    b = gan.Batch(torch.zeros(5, 3, 32, 32), torch.zeros(5, 3, 32, 32), phi, phi, z)
    value = text2image.interpolation_term(G, D, beta=0.25, seed=7)(b)
    t = 0.25 * phi + 0.75 * phi.roll(1, 0)                       # each row with the previous row's caption
    z_term = torch.randn(5, 8, generator=torch.Generator().manual_seed(7))
    assert torch.allclose(value, F.softplus(-D(G(z_term, t), t)).mean(), atol=1e-6)
    value.backward()
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)     # it trains G
    with pytest.raises(ValueError, match="text embeddings"):
        text2image.interpolation_term(G, D)(gan.Batch(b.x_real, b.x_fake, None, None, z))
    with pytest.raises(ValueError, match="beta"):
        text2image.interpolation_term(G, D, beta=1.5)


def test_gan_int_never_shows_d_interpolated_text_in_its_update():
    class Spy(torch.nn.Module):                                  # records the text D is trained on
        def __init__(self, d):
            super().__init__()
            self.d, self.seen = d, []

        def forward(self, x, c):
            if any(p.requires_grad for p in self.d.parameters()):
                self.seen.append(c.detach().clone())
            return self.d(x, c)

    torch.manual_seed(0)
    x = torch.rand(32, 3, 32, 32) * 2 - 1
    phi = F.normalize(torch.randn(32, 6), dim=1)
    G = t2i.Generator(8, 6, 4, image_size=32, width=8)
    D = Spy(t2i.Discriminator(6, 4, image_size=32, width=8))
    v = text2image.gan_cls(D, g_terms={"interp": (1.0, text2image.interpolation_term(G, D))})
    hist = gan.Trainer(G, D, v, x, 8, 8, cond=phi, log_every=2).fit(4)
    assert "g_interp" in hist and all(torch.isfinite(torch.tensor(hist["g_interp"])))
    seen = torch.cat(D.seen)
    assert len(seen) > 0 and torch.allclose(seen.norm(dim=1), torch.ones(len(seen)), atol=1e-5)   # captions only
    assert ((seen[:, None] - phi[None]).abs().amax(-1).min(1).values < 1e-6).all()      # rows of phi


# ---------------------------------------------------------------------------------------- style and matching
def test_style_loss_matches_squared_norm():
    z, z_hat = torch.randn(5, 3), torch.randn(5, 3)
    assert torch.allclose(text2image.style_loss(z, z_hat), ((z - z_hat) ** 2).sum(1).mean())
    assert text2image.style_loss(z, z) == 0
    with pytest.raises(ValueError, match="same shape"):
        text2image.style_loss(z, z_hat[:, :2])


def test_joint_embedding_loss_oracle_and_r_precision():
    torch.manual_seed(0)
    a = F.normalize(torch.randn(8, 4), dim=1)
    b = F.normalize(torch.randn(8, 4), dim=1)
    logits = a @ b.T / 0.5
    expected = 0.5 * (F.cross_entropy(logits, torch.arange(8)) + F.cross_entropy(logits.T, torch.arange(8)))
    assert torch.allclose(text2image.joint_embedding_loss(a, b, 0.5), expected)
    assert text2image.joint_embedding_loss(a, a, 0.02) < 0.01       # perfect alignment: near zero loss
    e = F.normalize(torch.randn(200, 16), dim=1)
    assert text2image.r_precision(e, e, 50) == 1.0
    noise = text2image.r_precision(e, F.normalize(torch.randn(200, 16), dim=1), 10)
    assert noise < 0.3                                               # chance 0.1
    assert text2image.r_precision(e, -e, 1) == 1.0                  # one candidate: always its own caption
    assert text2image.r_precision(e, -e, 2) == 0.0                  # the own caption is the least similar
    with pytest.raises(ValueError, match="aligned"):
        text2image.r_precision(e, e[:, :8])
    # embed: eval mode, batched, results on the CPU; the mode is restored
    net = t2i.ImageEncoder(out_dim=5, image_size=16, width=4).train()
    x = torch.rand(7, 3, 16, 16) * 2 - 1
    out = text2image.embed(net, x, batch_size=3)
    assert out.device.type == "cpu" and net.training
    net.eval()
    assert torch.allclose(out, net(x), atol=1e-5)


def test_style_encoder_recovers_z_of_a_linear_generator(ckpt_dir):
    torch.manual_seed(0)

    class LinG(torch.nn.Module):
        latent_dim = 4

        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(4 + 2, 3 * 16 * 16)

        def forward(self, z, phi):
            return torch.tanh(self.lin(torch.cat([z, phi], 1))).reshape(-1, 3, 16, 16)

    G, S = LinG(), t2i.StyleEncoder(latent_dim=4, image_size=16, width=8)
    cond = text2image.interpolated_cond(torch.randn(10, 2))
    G.lin.bias.requires_grad_(False)                             # a frozen part stays frozen
    hist = text2image.train_style_encoder("style", S, G, cond, num_steps=150, batch_size=32, lr=3e-3)
    assert hist["loss"][-1] < 0.3 * hist["loss"][0] and (ckpt_dir / "style-smoke.pt").exists()
    assert not S.training and G.training and G.lin.weight.requires_grad and not G.lin.bias.requires_grad


def test_joint_embedding_training_overfits_the_pairs_and_saves_both_encoders(ckpt_dir):
    from course_lib import checkpoints

    torch.manual_seed(0)
    x = torch.rand(24, 3, 16, 16) * 2 - 1
    phi = F.normalize(torch.randn(24, 6), dim=1)
    net = t2i.ImageEncoder(out_dim=6, image_size=16, width=4)
    before = text2image.r_precision(text2image.embed(net, x), phi, 24)
    hist = text2image.train_joint_embedding("match", net, phi, x, num_steps=120, batch_size=8, lr=3e-3)
    assert len(hist["loss"]) == 120 and not net.training
    assert text2image.r_precision(text2image.embed(net, x), phi, 24) >= max(0.8, before + 0.5)
    assert set(checkpoints.load(ckpt_dir / "match-smoke.pt")["modules"]) == {"net"}
    ids = text2image.encode_chars([f"caption {i}" for i in range(24)], max_len=16)
    enc = t2i.CharEncoder(text2image.VOCAB_SIZE, out_dim=6)
    text2image.train_joint_embedding("match-chars", net, ids, x, num_steps=2, text_net=enc, batch_size=8)
    assert set(checkpoints.load(ckpt_dir / "match-chars-smoke.pt")["modules"]) == {"image_net", "text_net"}
    with pytest.raises(ValueError, match="aligned"):
        text2image.train_joint_embedding("bad", net, phi[:3], x, num_steps=1)


# ---------------------------------------------------------------------------------------- networks
def test_networks_shapes_ranges_and_errors():
    torch.manual_seed(0)
    G = t2i.Generator(latent_dim=8, embed_dim=5, proj_dim=4, image_size=32, width=8)
    D = t2i.Discriminator(embed_dim=5, proj_dim=4, image_size=32, width=8)
    z, phi = torch.randn(3, 8), torch.randn(3, 5)
    x = G(z, phi)
    assert x.shape == (3, 3, 32, 32) and x.abs().max() <= 1
    assert D(x, phi).shape == (3,)
    # the text reaches D's score: changing phi changes it, with the image fixed
    D.eval()
    assert not torch.allclose(D(x, phi), D(x, phi.flip(0)))
    with pytest.raises(ValueError, match="one caption per image"):
        D(x, phi[:2])
    with pytest.raises(ValueError, match="5 features"):
        G(z, torch.randn(3, 6))
    enc = t2i.CharEncoder(text2image.VOCAB_SIZE, out_dim=6)
    ids = text2image.encode_chars(["red heart", "a much longer caption with words"], max_len=40)
    e = enc(ids)
    assert e.shape == (2, 6) and torch.allclose(e.norm(dim=1), torch.ones(2))
    # padding does not change the embedding (mean over text positions only, up to the conv's reach)
    longer = torch.cat([ids, torch.zeros(2, 20, dtype=torch.long)], 1)
    assert torch.allclose(enc(longer), e, atol=1e-5)
    with pytest.raises(ValueError, match="ids in"):
        enc(ids + 1000)
    im = t2i.ImageEncoder(out_dim=7, image_size=32, width=8)
    assert torch.allclose(im(x.detach()).norm(dim=1), torch.ones(3), atol=1e-5)


def test_gan_cls_trains_through_the_engine():
    torch.manual_seed(0)
    x = torch.rand(64, 3, 32, 32) * 2 - 1
    phi = F.normalize(torch.randn(64, 6), dim=1)
    G = t2i.Generator(8, 6, 4, image_size=32, width=8)
    D = t2i.Discriminator(6, 4, image_size=32, width=8)
    trainer = gan.Trainer(G, D, text2image.gan_cls(D), x, 8, 16, cond=phi,
                          sample_cond=text2image.interpolated_cond(phi), log_every=5)
    hist = trainer.fit(10)
    assert {"d_loss", "g_loss", "d_mismatch"} <= set(hist)
    assert trainer.sample(cond=phi[:4]).shape == (4, 3, 32, 32)


def test_generate_is_reproducible_restores_mode_and_checks_rows():
    torch.manual_seed(0)
    G = t2i.Generator(8, 6, 4, image_size=32, width=8)
    phi = torch.randn(5, 6)
    a, b = text2image.generate(G, phi, seed=3, batch_size=2), text2image.generate(G, phi, seed=3)
    assert a.shape == (5, 3, 32, 32) and torch.allclose(a, b, atol=1e-6)    # eval mode: batch size does not matter
    assert G.training
    with pytest.raises(ValueError, match="one latent per caption"):
        text2image.generate(G, phi, z=torch.randn(4, 8))
    with pytest.raises(ValueError, match="captions"):
        text2image.show_captioned({"row": a}, ["only one caption"])


# ---------------------------------------------------------------------------------------- control, diversity
def test_cls_control_is_gan_cls_without_the_mismatch_term():
    torch.manual_seed(0)
    D = _TableD()
    x_real, x_fake, c = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2), torch.randn(6, 3)
    v_cls, v_ctl = text2image.gan_cls(D), text2image.cls_control()
    assert v_ctl.d_terms == {} and v_ctl.name == "gan-cls-control" and v_ctl.g_loss is v_cls.g_loss
    b = gan.Batch(x_real, x_fake, c, c)
    total_cls = v_cls.d_loss(D(x_real, c), D(x_fake, c)) + 0.5 * v_cls.d_terms["mismatch"][1](b)
    total_ctl = v_ctl.d_loss(D(x_real, c), D(x_fake, c))
    s = torch.sigmoid
    # the difference is exactly the halved wrong-text term -1/2 log(1 - s_w)
    assert torch.allclose(total_cls - total_ctl, -0.5 * torch.log(1 - s(D(x_real, c.roll(1, 0)))).mean(), atol=1e-6)
    # and the control keeps the halved fake term: -log s_r - 1/2 log(1 - s_f)
    hand = (-torch.log(s(D(x_real, c))) - 0.5 * torch.log(1 - s(D(x_fake, c)))).mean()
    assert torch.allclose(total_ctl, hand, atol=1e-6)
    assert text2image.cls_control(lr_d=1e-4).lr_d == 1e-4


def test_caption_diversity_is_zero_without_z_and_about_one_when_the_caption_is_ignored():
    torch.manual_seed(0)
    per_caption = torch.rand(1, 20, 3, 4, 4).expand(4, -1, -1, -1, -1)       # G ignores z
    d = text2image.caption_diversity(per_caption)
    assert d["within"] == 0 and d["ratio"] == 0 and d["across"] > 0.1
    iid = torch.rand(4, 20, 3, 4, 4)                                           # G ignores the caption
    assert text2image.caption_diversity(iid)["ratio"] == pytest.approx(1.0, abs=0.05)
    half = per_caption + 0.5 * (iid - 0.5)                                     # in between
    assert 0.1 < text2image.caption_diversity(half)["ratio"] < 0.9
    # within: mean RMS distance of the sample pairs, checked by hand for 2 samples of 2 captions
    two = torch.zeros(2, 2, 1, 1, 2)
    two[1, 0] = 1.0
    two[:, 1] = 3.0
    d = text2image.caption_diversity(two)
    assert d["within"] == pytest.approx(0.5) and d["across"] == pytest.approx((3 + 2) / 2)
    with pytest.raises(ValueError, match="M >= 2"):
        text2image.caption_diversity(iid[:1])
    with pytest.raises(ValueError, match="N captions"):
        text2image.caption_diversity(iid[0])
