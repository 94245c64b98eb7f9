"""Build the embedded emoji dataset: 64x64 RGBA emoji in two styles, paired, with names.

    python scripts/build_emoji_data.py [--out data/emoji] [--compression lzma|deflate]

Needs ``npm`` (it only runs ``npm pack``, which downloads two tarballs from the npm
registry; nothing is installed). Writes, under ``--out``:

* ``emoji64.npz``: ``twitter`` and ``google``, uint8 arrays (N, 64, 64, 4) RGBA, row i of
  both is the same emoji (paired styles).
* ``emoji64.json``: ``{"npz_sha256": ..., "records": [N records], ...}``; record i
  describes row i (name, codepoints, category, skin tone, gender, age, base index).

Reruns give byte-identical files (records sorted by emoji.json ``sort_order`` then skin
tone; the npz is a zip written with fixed timestamps) as long as the package versions
below and the zlib/liblzma of the Python that runs it are the same.

Sources and licences (see data/README.md):
Twemoji graphics (c) Twitter, Inc and other contributors, CC-BY 4.0;
Noto Emoji graphics by Google, Apache License 2.0;
emoji-datasource metadata (c) Cal Henderson (iamcal), MIT.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

# Pinned sources: change a version here, rerun, and commit the new files together.
EMOJI_DATASOURCE_VERSION = "16.0.0"
PACKAGES = {  # style name in the npz -> npm package (same emoji.json in both)
    "twitter": f"emoji-datasource-twitter@{EMOJI_DATASOURCE_VERSION}",
    "google": f"emoji-datasource-google@{EMOJI_DATASOURCE_VERSION}",
}
IMAGE_SIZE = 64
NPZ_NAME = "emoji64.npz"
JSON_NAME = "emoji64.json"
ZIP_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # fixed zip member timestamp -> reproducible bytes

# Fitzpatrick modifiers U+1F3FB..U+1F3FF -> skin tone 1..5 (1 = type 1-2, 5 = type 6).
SKIN_TONE = {"1F3FB": 1, "1F3FC": 2, "1F3FD": 3, "1F3FE": 4, "1F3FF": 5}
SKIN_TONE_WORDS = {  # CLDR names, used to caption the variants
    1: "light skin tone",
    2: "medium-light skin tone",
    3: "medium skin tone",
    4: "medium-dark skin tone",
    5: "dark skin tone",
}
MIXED_SKIN_TONE = -1  # two people with different tones (e.g. handshake, couples)

# Attributes are only derived inside these subcategories (people, not hands or symbols:
# "PERSON WITH FOLDED HANDS" is a pair of hands, "BABY BOTTLE" is a drink, "Isle of Man").
PEOPLE_SUBCATEGORY = re.compile(r"^(person|family)")
MALE_WORDS = {"man", "men", "boy", "boys", "male", "prince", "father", "merman"}
FEMALE_WORDS = {"woman", "women", "girl", "girls", "female", "princess", "mother", "mermaid"}
AGE_WORDS = {
    "baby": "baby",
    "child": "child", "children": "child", "boy": "child", "boys": "child",
    "girl": "child", "girls": "child",
    "man": "adult", "men": "adult", "woman": "adult", "women": "adult",
    "adult": "adult", "person": "adult", "people": "adult",
}
# Legacy Unicode character names that say "man"/"woman" although the emoji is the
# gender-neutral base of a man/woman pair (CLDR: person in tuxedo, person wearing turban,
# person with skullcap, people with bunny ears). Keyed by short_name.
GENDER_NEUTRAL_DESPITE_NAME = {"person_in_tuxedo", "man_with_turban", "man_with_gua_pi_mao", "dancers"}


def npm_pack(spec: str, workdir: Path) -> Path:
    """Run ``npm pack SPEC`` in ``workdir`` and return the tarball path."""
    if shutil.which("npm") is None:
        sys.exit("npm is not on PATH: install Node.js/npm (it is only used for `npm pack`).")
    out = subprocess.run(
        ["npm", "pack", spec, "--silent"], cwd=workdir, check=True, capture_output=True, text=True
    )
    tarball = workdir / out.stdout.strip().splitlines()[-1]
    if not tarball.is_file():
        sys.exit(f"npm pack {spec} did not produce {tarball}")
    return tarball


def unpack(tarball: Path, dest: Path) -> Path:
    """Unpack an npm tarball and return its ``package/`` directory."""
    with tarfile.open(tarball, "r:gz") as tf:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: refuse unsafe paths
            tf.extractall(dest, filter="data")
        else:
            tf.extractall(dest)
    return dest / "package"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def derive_gender(name_words: list[str]) -> str | None:
    """'man' / 'woman' when every gendered word agrees, None if none or mixed."""
    male = any(w in MALE_WORDS for w in name_words)
    female = any(w in FEMALE_WORDS for w in name_words)
    if male and not female:
        return "man"
    if female and not male:
        return "woman"
    return None


def derive_age(name_words: list[str]) -> str | None:
    """'baby' / 'child' / 'adult' / 'older' when all age words agree, None otherwise.

    "older man" counts once, as 'older'. Mixed ages (families, "woman feeding baby") -> None.
    """
    ages = set()
    skip_next = False
    for w in name_words:
        if skip_next:
            skip_next = False
            continue
        if w == "older":
            ages.add("older")
            skip_next = True  # "older adult/man/woman"
        elif w in AGE_WORDS:
            ages.add(AGE_WORDS[w])
    return ages.pop() if len(ages) == 1 else None


def attributes(entry: dict) -> tuple[str | None, str | None]:
    """(gender, age) of an emoji.json entry, conservatively from its name."""
    if not PEOPLE_SUBCATEGORY.match(entry.get("subcategory") or ""):
        return None, None
    name = entry.get("name") or entry["short_name"].replace("_", " ").replace("-", " ")
    w = words(name)
    neutral = entry["short_name"] in GENDER_NEUTRAL_DESPITE_NAME or "family" in w  # groups of mixed people
    gender = None if neutral else derive_gender(w)
    return gender, derive_age(w)


def base_name(entry: dict) -> str:
    name = entry.get("name") or entry["short_name"].replace("_", " ")
    return name.lower()


def variant_name(name: str, tones: list[int]) -> str:
    """CLDR-style caption: 'waving hand sign: dark skin tone', 'kiss: woman, man, light ..., dark ...'."""
    distinct = list(dict.fromkeys(tones))  # "1F3FB-1F3FB" is one tone, said once
    suffix = ", ".join(SKIN_TONE_WORDS[t] for t in distinct)
    return f"{name}, {suffix}" if ":" in name else f"{name}: {suffix}"


def make_records(entries: list[dict]) -> list[dict]:
    """One record per base emoji and per skin-tone variant, in a deterministic order."""
    rows = []
    for e in entries:
        gender, age = attributes(e)
        name = base_name(e)
        common = {
            "short_name": e["short_name"],
            "category": e["category"],
            "subcategory": e["subcategory"],
            "gender": gender,
            "age": age,
        }
        base_row = {"name": name, "unified": e["unified"], "image": e["image"],
                    "skin_tone": 0, "skin_tones": [], **common}
        rows.append(((e["sort_order"], 0, ()), e["unified"], base_row))
        for key, v in (e.get("skin_variations") or {}).items():
            tones = [SKIN_TONE[k] for k in key.split("-")]
            uniform = len(set(tones)) == 1
            row = {"name": variant_name(name, tones), "unified": v["unified"], "image": v["image"],
                   "skin_tone": tones[0] if uniform else MIXED_SKIN_TONE, "skin_tones": tones,
                   **common}
            rows.append(((e["sort_order"], 1 if uniform else 2, tuple(tones)), e["unified"], row))
    rows.sort(key=lambda r: r[0])
    records, index_of_base = [], {}
    for i, (_, base_unified, row) in enumerate(rows):
        if row["skin_tone"] == 0 and not row["skin_tones"]:
            index_of_base[base_unified] = i
        records.append(row)
    for (_, base_unified, _), rec in zip(rows, records):
        rec["base"] = index_of_base[base_unified]
    # fixed key order in the JSON
    keys = ["name", "short_name", "unified", "image", "category", "subcategory",
            "skin_tone", "skin_tones", "gender", "age", "base"]
    return [{k: r[k] for k in keys} for r in records]


def load_image(path: Path) -> np.ndarray:
    """(64, 64, 4) uint8 RGBA; RGB of fully transparent pixels set to 0."""
    with Image.open(path) as im:
        a = np.asarray(im.convert("RGBA"), dtype=np.uint8).copy()  # P / LA / RGBA -> RGBA
    if a.shape != (IMAGE_SIZE, IMAGE_SIZE, 4):
        raise ValueError(f"{path}: expected {IMAGE_SIZE}x{IMAGE_SIZE}, got {a.shape}")
    a[a[..., 3] == 0] = 0  # invisible pixels carry arbitrary colours upstream
    return a


def write_npz(path: Path, arrays: dict[str, np.ndarray], compression: int) -> None:
    """Like np.savez_compressed, but with fixed timestamps so the bytes are reproducible."""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=ZIP_DATE_TIME)
            info.compress_type = compression
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[key]), allow_pickle=False)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=repo / "data" / "emoji")
    parser.add_argument("--compression", choices=["lzma", "deflate"], default="lzma",
                        help="zip compression inside the npz; np.load reads both "
                             "(lzma: 13.0 MB, ~1 s to load; deflate, as np.savez_compressed: 20.4 MB, ~0.4 s)")
    args = parser.parse_args()
    compression = {"lzma": zipfile.ZIP_LZMA, "deflate": zipfile.ZIP_DEFLATED}[args.compression]

    with tempfile.TemporaryDirectory(prefix="emoji_build_") as tmp:
        tmp = Path(tmp)
        pkg_dirs, emoji_json = {}, None
        for style, spec in PACKAGES.items():
            print(f"npm pack {spec}")
            tarball = npm_pack(spec, tmp)
            pkg_dirs[style] = unpack(tarball, tmp / style)
            with open(pkg_dirs[style] / "emoji.json", encoding="utf-8") as f:
                entries = json.load(f)
            if emoji_json is None:
                emoji_json = entries
            elif entries != emoji_json:
                sys.exit("emoji.json differs between the two packages: pin matching versions")

        img_dirs = {s: pkg_dirs[s] / "img" / s / str(IMAGE_SIZE) for s in PACKAGES}
        n_all = sum(1 + len(e.get("skin_variations") or {}) for e in emoji_json)
        have_both = [e for e in emoji_json if all((img_dirs[s] / e["image"]).is_file() for s in PACKAGES)]
        for e in have_both:  # keep only variants drawn in both styles
            e["skin_variations"] = {
                k: v for k, v in (e.get("skin_variations") or {}).items()
                if all((img_dirs[s] / v["image"]).is_file() for s in PACKAGES)
            }
        records = make_records(have_both)
        if len(records) != n_all:
            print(f"dropped {n_all - len(records)} of {n_all} entries: no 64x64 image in both styles")
        arrays = {s: np.stack([load_image(img_dirs[s] / r["image"]) for r in records]) for s in PACKAGES}

    args.out.mkdir(parents=True, exist_ok=True)
    npz_path, json_path = args.out / NPZ_NAME, args.out / JSON_NAME
    write_npz(npz_path, arrays, compression)
    meta = {
        "description": "Paired 64x64 RGBA emoji in two styles; record i describes row i "
                       "of both arrays in the npz.",
        "built_by": "python scripts/build_emoji_data.py",
        "packages": list(PACKAGES.values()),
        "license": "Twemoji graphics (c) Twitter, Inc and other contributors, CC-BY 4.0 "
                   "(https://creativecommons.org/licenses/by/4.0/); Noto Emoji graphics "
                   "(c) Google, Apache License 2.0; emoji-datasource metadata (c) Cal Henderson "
                   "(iamcal), MIT",
        "npz": NPZ_NAME,
        "npz_sha256": sha256(npz_path),
        "count": len(records),
        "fields": {
            "name": "lowercase name from emoji.json; variants get a CLDR-style skin-tone suffix",
            "skin_tone": "0 none (default yellow), 1..5 Fitzpatrick 1-2,3,4,5,6 (U+1F3FB..U+1F3FF), "
                         "-1 mixed tones (two people)",
            "skin_tones": "tone per person for variants, [] for base emoji",
            "gender": "'man', 'woman' or null, from name words, people subcategories only",
            "age": "'baby', 'child', 'adult', 'older' or null, from name words",
            "base": "index of the base (no skin tone) emoji; own index for base emoji",
        },
    }
    # One record per line: readable diffs, still plain JSON.
    head = json.dumps(meta, indent=1, ensure_ascii=False)[:-2]  # drop the closing "\n}"
    body = ",\n".join("  " + json.dumps(r, ensure_ascii=False, sort_keys=False) for r in records)
    json_path.write_text(f'{head},\n "records": [\n{body}\n ]\n}}\n', encoding="utf-8")
    json.loads(json_path.read_text(encoding="utf-8"))  # sanity: valid JSON

    tones = [r["skin_tone"] for r in records]
    print(f"{len(records)} emoji ({tones.count(0)} base, {len(records) - tones.count(0)} skin-tone variants)")
    for s, a in arrays.items():
        print(f"  {s}: {a.shape} {a.dtype}, {a.nbytes / 2**20:.1f} MiB in memory")
    for p in (npz_path, json_path):
        print(f"wrote {p} ({p.stat().st_size / 1e6:.2f} MB)")
    print(f"npz sha256 {meta['npz_sha256']}")


if __name__ == "__main__":
    main()
