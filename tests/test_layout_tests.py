"""Tests mirror the modules: every course_lib module and every nets module has a test module that imports it.

``course_lib/X.py`` -> ``tests/test_X.py``; ``course_lib/nets/X.py`` -> ``tests/test_nets_X.py``, or the chapter's
``tests/test_X.py`` when it covers its nets twin. Exceptions are listed below, each with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# library modules tested under another name
COVERED_BY = {
    "_emoji": "test_emoji.py",             # the private emoji reader behind data.load("emoji")
    "autoencoding": "test_autoencoders.py",  # chapter 02 tests its objectives, nets and subspaces together
    "subspace": "test_autoencoders.py",      # PCA / principal angles: the linear-AE = PCA check lives there
}
# nets modules whose chapter test covers them (no test_nets_X.py)
NETS_COVERED_BY = {
    "aging": "test_aging.py",
    "autoencoders": "test_autoencoders.py",
    "autoregressive": "test_autoregressive.py",
    "conditional": "test_conditional.py",
    "image2image": "test_image2image.py",
    "inpainting": "test_inpainting.py",
    "restore": "test_restore.py",
    "scaling": "test_scaling.py",
    "text2image": "test_text2image.py",
    "translation": "test_translation.py",
    "vae": "test_vae.py",
    "voxels": "test_voxels.py",
}
# modules that need no test module
NO_TEST = {
    "__init__": "package docstring and version only",
    "nets.__init__": "package docstring only",
}
# modules whose test module is on its way in another branch: remove the entry when it lands
PENDING: dict[str, str] = {}


def _modules() -> list[str]:
    lib = ROOT / "course_lib"
    return [p.stem for p in sorted(lib.glob("*.py"))] + [f"nets.{p.stem}" for p in sorted((lib / "nets").glob("*.py"))]


def _test_file(module: str) -> Path:
    if module.startswith("nets."):
        name = module.split(".", 1)[1]
        own = TESTS / f"test_nets_{name}.py"
        return own if own.exists() or name not in NETS_COVERED_BY else TESTS / NETS_COVERED_BY[name]
    return TESTS / COVERED_BY.get(module, f"test_{module}.py")


def _imports(text: str, module: str) -> bool:
    """Does a test file import ``course_lib.<module>`` (``from course_lib[.nets] import a, name`` or ``(...)``)?"""
    package, _, name = ("course_lib." + module).rpartition(".")
    names = re.findall(rf"^\s*from\s+{re.escape(package)}\s+import\s+(?:\(([^)]*)\)|([^\n]+))", text, re.MULTILINE)
    imported = {n.strip().split(" as ")[0] for group in names for n in re.sub(r"#[^\n]*", "", "".join(group)).split(",")}
    return name in imported or re.search(rf"^\s*import\s+{re.escape(package)}\.{name}\b", text, re.MULTILINE) is not None


@pytest.mark.parametrize("module", [m for m in _modules() if m not in NO_TEST])
def test_every_module_has_a_test_module(module):
    path = _test_file(module)
    if module in PENDING:
        assert not path.exists(), f"{path.name} exists now: remove {module!r} from PENDING in {Path(__file__).name}"
        pytest.skip(f"pending: {PENDING[module]}")
    assert path.exists(), (f"course_lib/{module.replace('.', '/')}.py has no test module: add tests/"
                           f"{'test_nets_' + module[5:] if module.startswith('nets.') else 'test_' + module}.py "
                           f"(or list the test that covers it in {Path(__file__).name})")
    assert _imports(path.read_text(), module), f"{path.name} is listed for course_lib.{module} but does not import it"


def test_the_lists_name_existing_modules():
    modules = set(_modules())
    listed = set(COVERED_BY) | {f"nets.{n}" for n in NETS_COVERED_BY} | set(NO_TEST) | set(PENDING)
    assert not listed - modules, f"{Path(__file__).name} lists modules that no longer exist: {sorted(listed - modules)}"
    for name in NETS_COVERED_BY:   # a nets module with its own test_nets_X.py does not need the entry
        assert not (TESTS / f"test_nets_{name}.py").exists(), f"nets.{name} has test_nets_{name}.py: drop its entry"
