"""Reader for the embedded emoji dataset under ``data/emoji`` (built by
``scripts/build_emoji_data.py``; see ``data/README.md``).

    >>> images, records = read_emoji()
    >>> images["twitter"].shape, images["google"].shape      # paired row by row
    ((3786, 64, 64, 4), (3786, 64, 64, 4))
    >>> records[0]["name"], records[0]["skin_tone"]
    ('grinning face', 0)

Use :func:`course_lib.data.load` (``"emoji"``, ``"emoji-twitter"``, ``"emoji-google"``)
for tensors; this module only reads and verifies the files.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

EMOJI_LICENSE = (
    "Twemoji graphics (c) Twitter, Inc and other contributors, CC-BY 4.0 "
    "(https://creativecommons.org/licenses/by/4.0/); Noto Emoji graphics (c) Google, "
    "Apache License 2.0; names/metadata from emoji-datasource (c) Cal Henderson, MIT"
)
STYLES = ("twitter", "google")
NPZ_NAME = "emoji64.npz"
JSON_NAME = "emoji64.json"
REBUILD = "python scripts/build_emoji_data.py"  # needs npm (runs `npm pack`)


def default_directory() -> Path:
    """``$COURSE_EMOJI_DIR`` if set, else the repository's ``data/emoji``."""
    env = os.environ.get("COURSE_EMOJI_DIR")
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / "data" / "emoji"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_emoji(
    directory: Path | None = None, verify: bool = True
) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Read the paired Twitter/Google emoji images and their records.

    Args:
        directory: folder holding ``emoji64.npz`` and ``emoji64.json``; default
            ``$COURSE_EMOJI_DIR`` or the repository's ``data/emoji``.
        verify: check the npz against the sha256 stored in the JSON.

    Returns:
        ``(images, records)``. ``images["twitter"]`` and ``images["google"]``: uint8
        arrays (N, 64, 64, 4), RGBA in [0, 255], not premultiplied (RGB of fully
        transparent pixels is 0); row i of both is the same emoji drawn in the two styles.
        ``records[i]`` describes row i: ``name`` (lowercase caption, e.g. "slice of pizza",
        "waving hand sign: dark skin tone"), ``short_name``, ``unified`` (codepoints),
        ``image`` (upstream file name), ``category``, ``subcategory``, ``skin_tone``
        (0 none/default yellow, 1..5 Fitzpatrick 1-2, 3, 4, 5, 6, -1 two people with
        different tones), ``skin_tones`` (tone per person, [] for base emoji),
        ``gender`` ("man", "woman" or None), ``age`` ("baby", "child", "adult", "older"
        or None), ``base`` (index of the emoji without skin tone; own index for base emoji).

    Raises:
        FileNotFoundError: the files are missing (rebuild with
            ``python scripts/build_emoji_data.py``).
        ValueError: ``verify`` and the npz checksum differs from the JSON.

    License:
        Twemoji graphics CC-BY 4.0 (Twitter, Inc and other contributors), Noto Emoji
        Apache 2.0 (Google), emoji-datasource metadata MIT (Cal Henderson): see
        :data:`EMOJI_LICENSE`; attribute them when you publish images.
    """
    directory = Path(directory) if directory is not None else default_directory()
    npz_path, json_path = directory / NPZ_NAME, directory / JSON_NAME
    missing = [p.name for p in (npz_path, json_path) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"emoji data not found: {', '.join(missing)} missing in {directory}. "
            f"Build it from the repository root with `{REBUILD}` (needs npm, downloads "
            "two packages from the npm registry), or point COURSE_EMOJI_DIR at a folder "
            "that holds emoji64.npz and emoji64.json."
        )

    with open(json_path, encoding="utf-8") as f:
        meta = json.load(f)
    records: list[dict] = meta["records"]
    if verify:
        expected, actual = meta["npz_sha256"], _sha256(npz_path)
        if actual != expected:
            raise ValueError(
                f"{npz_path} failed its sha256 check: expected {expected} (from {json_path.name}), "
                f"got {actual}. The file is corrupt or does not belong with this JSON; restore "
                f"it with `git checkout -- data/emoji` or rebuild both with `{REBUILD}`."
            )

    with np.load(npz_path, allow_pickle=False) as npz:
        images = {style: npz[style] for style in STYLES}
    for style, a in images.items():
        if a.shape != (len(records), 64, 64, 4) or a.dtype != np.uint8:
            raise ValueError(
                f"{npz_path}: '{style}' has shape {a.shape} {a.dtype}, expected "
                f"({len(records)}, 64, 64, 4) uint8 to match {json_path.name}; rebuild with `{REBUILD}`."
            )
    return images, records
