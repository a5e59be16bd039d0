"""The documentation site's structure, checked without building it (``make docs`` builds it
with ``mkdocs build --strict``, and ``make test`` runs that after the suite).

Every page of docs/ is in the nav of mkdocs.yml and every nav entry exists (or is a notebook
generated from notebooks/NAME.py); every module of the package is on a page of the API
reference (docs/api/*.md: a ``::: plastisim.module`` line), except the command line's own
modules, which the package ``plastisim.cli`` stands for.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
yaml = pytest.importorskip("yaml", reason="PyYAML comes with mkdocs (the docs extra)")


def _nav_paths(entries) -> list[str]:
    out = []
    for entry in entries:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                out += _nav_paths(value) if isinstance(value, list) else [value]
    return out


def _config() -> dict:
    # mkdocs.yml uses no custom tags; a plain safe load reads it
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))


def test_every_page_is_in_the_nav_and_every_entry_exists():
    nav = _nav_paths(_config()["nav"])
    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")
             if not p.relative_to(DOCS).parts[0] == "notebooks"}
    assert not pages - set(nav), f"pages missing from the nav of mkdocs.yml: {sorted(pages - set(nav))}"
    for entry in nav:
        if entry.startswith("notebooks/") and entry.endswith(".ipynb"):
            source = ROOT / "notebooks" / (Path(entry).stem + ".py")
            assert source.exists(), f"nav entry {entry}: no notebook {source.relative_to(ROOT)}"
        else:
            assert (DOCS / entry).exists(), f"nav entry {entry}: no such page in docs/"


def test_every_notebook_is_in_the_nav():
    nav = set(_nav_paths(_config()["nav"]))
    for source in (ROOT / "notebooks").glob("*.py"):
        if not source.name.startswith("_"):
            assert f"notebooks/{source.stem}.ipynb" in nav, f"{source.name} is not in the nav"


def _modules() -> set[str]:
    out = set()
    for path in (ROOT / "plastisim").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if parts[-1] == "__main__" or name.startswith("plastisim.cli."):
            continue
        out.add(name)
    return out


def test_every_module_is_in_the_api_reference():
    documented = {m.group(1) for page in (DOCS / "api").glob("*.md")
                  for m in re.finditer(r"^::: ([\w.]+)", page.read_text(encoding="utf-8"), re.M)}
    missing = sorted(_modules() - documented)
    assert not missing, (f"modules on no API page: {missing}; add a line '::: <module>' to the "
                         "page of its group in docs/api/ (docs/contributing.md)")
    unknown = sorted(documented - _modules())
    assert not unknown, f"API pages name modules that do not exist: {unknown}"
