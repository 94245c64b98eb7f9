"""The layout of course_lib: no chapter imports another chapter (README, "Layout").

Three questions find anything: plumbing is in a toolkit module; an image operation or a measure several
chapters use is in ``images``, ``quality`` or ``metrics``; everything else is in its chapter's module, with
its networks in ``nets/<same name>``. So a chapter module may import toolkit modules, the shared networks
of ``nets/`` and its own ``nets/`` twin -- never another chapter or another chapter's networks -- and
toolkit modules and networks import no chapter at all. The imports are read with ``ast`` (nothing is run).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "course_lib"

# Plumbing, the shared image operations and measures, the adversarial engine and the feature networks.
TOOLKIT = {
    "__init__", "_emoji", "env", "checks", "data", "checkpoints", "results", "train", "viz", "exercises",
    "course",                                # the runner
    "publish",                               # the website and the slides (make site, make slides)
    "grading",                               # nbgrader: exercise metadata rules, assignments, counts
    "images", "quality", "metrics",          # image operations and measures several chapters use
    "losses", "gan",                         # the adversarial losses and the one engine every GAN chapter uses
    "features",                              # pretrained feature networks (perceptual losses, FID features)
}
# nets/X is a chapter's twin when course_lib/X.py is a chapter module; the others are shared building blocks
# (dcgan, mlp, classifier, image2image, autoencoders, vae, autoregressive, ...).

# Temporary exceptions, each with its reason; empty the set once the reason is gone.
PENDING: set[tuple[str, str]] = set()
NOTEBOOK_PENDING: set[tuple[str, str]] = set()


def _modules() -> dict[str, Path]:
    mods = {p.stem: p for p in LIB.glob("*.py")}
    mods.update({f"nets.{p.stem}": p for p in (LIB / "nets").glob("*.py") if p.stem != "__init__"})
    mods["exercises"] = LIB / "exercises" / "__init__.py"   # a package: the core and one part per third
    mods.update({f"exercises.{p.stem}": p for p in (LIB / "exercises").glob("*.py") if p.stem != "__init__"})
    return mods


MODULES = _modules()
CHAPTERS = {m for m in MODULES if "." not in m and m not in TOOLKIT}


def _is_chapter(name: str) -> bool:
    """A chapter module, or a chapter's networks (nets/<chapter>)."""
    return name in CHAPTERS or (name.startswith("nets.") and name[5:] in CHAPTERS)


def _course_imports(tree: ast.AST, package: str) -> set[str]:
    """course_lib modules imported anywhere in a module (also inside functions), as 'x' or 'nets.x'."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:                                   # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                parts = base + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            if not parts or parts[0] != "course_lib":
                continue
            prefix = ".".join(parts[1:])
            for alias in node.names:
                name = f"{prefix}.{alias.name}" if prefix else alias.name
                if name in MODULES:
                    found.add(name)
                elif prefix in MODULES:                      # from .module import name
                    found.add(prefix)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "course_lib" and ".".join(parts[1:]) in MODULES:
                    found.add(".".join(parts[1:]))
    return found


def _allowed(module: str, imported: str) -> bool:
    if not _is_chapter(imported):
        return True
    if module.split(".")[0] == "exercises":                 # the checks run each chapter's exercise against
        return True                                          # that chapter's own implementation
    return imported == f"nets.{module}"                      # a chapter module and its own networks


def test_the_toolkit_and_chapter_sets_are_the_modules_there_are():
    assert TOOLKIT <= set(MODULES), f"toolkit modules that do not exist: {sorted(TOOLKIT - set(MODULES))}"
    assert {"restore", "superres", "translation", "inpainting", "scaling"} <= CHAPTERS


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_another_chapter(module):
    path = MODULES[module]
    package = ("course_lib.nets" if module.startswith("nets.") else
               "course_lib.exercises" if module.startswith("exercises") else "course_lib")
    imported = _course_imports(ast.parse(path.read_text(), str(path)), package)
    bad = sorted(m for m in imported if m != module and not _allowed(module, m) and (module, m) not in PENDING)
    assert not bad, (f"course_lib/{path.relative_to(LIB)} imports the chapter module(s) {bad}: move what they "
                     f"share to a toolkit module (images, quality, metrics, train, ...) or into this chapter")


def test_the_import_reader_sees_chapter_imports():
    tree = ast.parse("from . import checks, restore\nfrom .nets import translation as t\n"
                     "def f():\n    from .superres import center_crop\n")
    assert _course_imports(tree, "course_lib") == {"checks", "restore", "nets.translation", "superres"}
    assert _course_imports(ast.parse("from .. import restore\n"), "course_lib.nets") == {"restore"}
    assert not _allowed("nets.restore", "restore") and _allowed("restore", "nets.restore")
    assert not _allowed("restore", "translation") and _allowed("restore", "images")


def _notebook_imports(path: Path) -> set[str]:
    nb = json.loads(path.read_text())
    found: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        src = "".join(cell["source"])
        lines = [ln for ln in src.splitlines() if not ln.lstrip().startswith(("%", "!"))]
        try:
            tree = ast.parse("\n".join(lines))
        except SyntaxError:
            continue
        found |= _course_imports(tree, "__main__")
    return found


def test_notebook_13_uses_no_other_chapter():
    """13 (deblurring, denoising, HDR) needs the shared image operations and networks, not 11's or 15's modules."""
    path = next((ROOT / "notebooks").glob("13_*.ipynb"))
    imported = _notebook_imports(path)
    assert "restore" in imported and "images" in imported            # the reader sees the imports
    others = sorted(m for m in imported if _is_chapter(m) and m not in ("restore", "nets.restore")
                    and ("13", m) not in NOTEBOOK_PENDING)
    assert not others, f"notebook 13 imports other chapters: {others}"
