"""Tests for the embedded emoji dataset (course_lib._emoji, data/emoji)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from course_lib import _emoji

FIELDS = {"name", "short_name", "unified", "image", "category", "subcategory",
          "skin_tone", "skin_tones", "gender", "age", "base"}


@pytest.fixture(scope="module")
def emoji():
    return _emoji.read_emoji()


def test_shapes_dtype_and_pairing(emoji):
    images, records = emoji
    assert set(images) == {"twitter", "google"}
    n = len(records)
    assert n > 3000
    for a in images.values():
        assert a.shape == (n, 64, 64, 4)
        assert a.dtype == np.uint8
    # every emoji is visible in both styles and transparent pixels carry no colour
    for a in images.values():
        assert (a[..., 3].reshape(n, -1).max(axis=1) > 0).all()
        assert (a[..., :3][a[..., 3] == 0] == 0).all()


def test_records_fields(emoji):
    _, records = emoji
    for i, r in enumerate(records):
        assert set(r) == FIELDS
        assert r["name"] and r["name"] == r["name"].lower()
        assert r["skin_tone"] in (-1, 0, 1, 2, 3, 4, 5)
        assert r["gender"] in (None, "man", "woman")
        assert r["age"] in (None, "baby", "child", "adult", "older")
        base = records[r["base"]]
        assert base["skin_tone"] == 0 and base["base"] == r["base"]
        assert (r["base"] == i) == (r["skin_tone"] == 0)
    assert len({r["image"] for r in records}) == len(records)
    assert any(r["name"] == "slice of pizza" for r in records)


def test_skin_tones(emoji):
    _, records = emoji
    tones = Counter(r["skin_tone"] for r in records)
    assert all(tones[t] > 100 for t in range(6))
    # each variant has the base's short name and a tone suffix in its name
    for r in records:
        if r["skin_tone"] != 0:
            base = records[r["base"]]
            assert r["short_name"] == base["short_name"]
            assert r["name"].startswith(base["name"]) and "skin tone" in r["name"]
            assert r["gender"] == base["gender"] and r["age"] == base["age"]


def test_gender_and_age(emoji):
    _, records = emoji
    by_short = {r["short_name"]: r for r in records if r["skin_tone"] == 0}
    assert by_short["man"]["gender"] == "man" and by_short["man"]["age"] == "adult"
    assert by_short["woman"]["gender"] == "woman" and by_short["woman"]["age"] == "adult"
    assert by_short["baby"]["age"] == "baby" and by_short["baby"]["gender"] is None
    assert by_short["girl"]["age"] == "child" and by_short["girl"]["gender"] == "woman"
    assert by_short["older_man"]["age"] == "older" and by_short["older_man"]["gender"] == "man"
    assert by_short["pizza"]["gender"] is None and by_short["pizza"]["age"] is None
    assert by_short["flag-im"]["gender"] is None  # "Isle of Man Flag" is not a man
    genders = Counter(r["gender"] for r in records)
    ages = Counter(r["age"] for r in records)
    assert genders["man"] > 100 and genders["woman"] > 100
    assert all(ages[a] > 0 for a in ("baby", "child", "adult", "older"))


def _copy(tmp_path: Path) -> Path:
    src = _emoji.default_directory()
    for name in (_emoji.NPZ_NAME, _emoji.JSON_NAME):
        shutil.copy(src / name, tmp_path / name)
    return tmp_path


def test_checksum_catches_corruption(tmp_path):
    d = _copy(tmp_path)
    npz = d / _emoji.NPZ_NAME
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    npz.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="sha256"):
        _emoji.read_emoji(d)


def test_missing_files_message(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="build_emoji_data.py"):
        _emoji.read_emoji(tmp_path)
    monkeypatch.setenv("COURSE_EMOJI_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="build_emoji_data.py"):
        _emoji.read_emoji()
