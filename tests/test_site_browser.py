"""The documentation site works offline, checked in a real browser.

The built site is opened from the disk (``file://``) in headless Chromium driven by
Playwright, page by page: the home page, the results, the contributing guide (maths written
with ``pymdownx.arithmatex``) and the quickstart notebook (maths in markdown cells, headings
and the table of contents). On each page:

- the equations are typeset by the KaTeX shipped with the site: the visible text (code and
  notebook outputs set aside) holds no raw ``$...$``, ``\\(``/``\\)`` or ``\\[``/``\\]``, and a
  page whose source has maths shows KaTeX elements;
- the search works: a word typed in the search box gives results (Material's offline plugin
  embeds the index in ``search/search_index.js``);
- no request leaves the machine: every URL the page asks for is ``file:``, ``data:``,
  ``blob:`` or ``about:`` (the browser context is offline too), and no local file is missing;
- no JavaScript error is raised.

A full-page screenshot of each page is written to ``PLASTISIM_SCREENSHOTS_TO`` (default: the
test's temporary folder): home.png, results.png, contributing.png, quickstart.png.

The site is ``PLASTISIM_SITE`` (a built site folder; ``make test`` passes ``site``) or, without
it, built by the test into a temporary folder with ``mkdocs build --strict``, which needs the
executed notebooks (``make notebooks``); the test skips when they are missing, and when
Chromium (``/usr/bin/chromium``, Debian's ``chromium`` package) or Playwright for Python (the
``test`` extra; no ``playwright install`` needed) is missing.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
LOCAL_SCHEMES = {"file", "data", "blob", "about"}
# screenshot name -> page of the site
PAGES = {"home": "index.html", "results": "results.html", "contributing": "contributing.html",
         "quickstart": "notebooks/quickstart.html"}
SEARCH_WORD = "hierarchy"

# raw LaTeX left in the text: $...$ (not a lone dollar) and the \( \) \[ \] delimiters
RAW_DOLLAR = re.compile(r"\$[^\s$][^$\n]*?\$")
RAW_DELIMITER = re.compile(r"\\[()\[\]]")

# the text of the article and the sidebars, without code, the notebooks' code cells (their
# source, hidden copies for the copy button included, and their outputs) and the typeset maths
# (KaTeX keeps the TeX source in a hidden annotation)
VISIBLE_TEXT_JS = """() => {
  const parts = [];
  for (const root of document.querySelectorAll(
      "article, .md-sidebar, .md-header__topic")) {
    const copy = root.cloneNode(true);
    copy.querySelectorAll(
      "pre, code, script, style, .katex, .highlight, .jp-CodeCell, .jp-OutputArea"
    ).forEach((el) => el.remove());
    parts.push(copy.textContent);
  }
  return parts.join("\\n");
}"""
MATHS_COUNTS_JS = """() => ({
  arithmatex: document.querySelectorAll(".arithmatex").length,
  arithmatexTypeset: document.querySelectorAll(".arithmatex .katex").length,
  katex: document.querySelectorAll("article .katex").length,
  toc: document.querySelectorAll(".md-nav__link .katex").length,
  katexLoaded: typeof window.katex !== "undefined",
})"""


def _chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("PLASTISIM_SITE")
    if given:
        path = Path(given).resolve()
        assert (path / "index.html").is_file(), f"PLASTISIM_SITE={given}: no index.html there"
        return path
    pytest.importorskip("mkdocs", reason="building the site needs the docs extra (mkdocs)")
    sources = [p for p in (ROOT / "notebooks").glob("*.py") if not p.name.startswith("_")]
    missing = [p.stem for p in sources
               if not (ROOT / "docs" / "notebooks" / f"{p.stem}.ipynb").is_file()]
    if missing:
        pytest.skip(f"executed notebooks missing ({', '.join(sorted(missing))}): run "
                    "`make notebooks` or set PLASTISIM_SITE to a built site")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                           "-f", str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
                          cwd=tmp_path_factory.mktemp("mkdocs"), capture_output=True, text=True,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    if proc.returncode != 0:
        warnings = [line for line in (proc.stderr + proc.stdout).splitlines()
                    if line.strip() and not line.startswith("INFO")]
        pytest.fail("mkdocs build --strict failed:\n" + "\n".join(warnings[-40:]),
                    pytrace=False)
    return out


@pytest.fixture(scope="module")
def browser():
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium at /usr/bin/chromium (Debian: apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright for Python missing (the test extra)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("PLASTISIM_SCREENSHOTS_TO")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _source_has_maths(html: str) -> bool:
    """Whether the built page, before any script ran, holds maths to typeset."""
    if 'class="arithmatex"' in html:
        return True
    # notebooks: $...$ in the markdown cells (mkdocs-jupyter keeps them as written)
    for cell in re.findall(r'class="[^"]*jp-RenderedMarkdown[^"]*"[^>]*>(.*?)</div>', html,
                           flags=re.S):
        text = re.sub(r"<(pre|code)\b.*?</\1>", "", cell, flags=re.S)
        if RAW_DOLLAR.search(text):
            return True
    return False


@pytest.mark.parametrize("name", list(PAGES))
def test_page_offline_typeset_searchable(name, site, browser, screenshots):
    path = site / PAGES[name]
    assert path.is_file(), f"{PAGES[name]} is not in the built site {site}"
    requests: list[str] = []
    failed: list[str] = []
    errors: list[str] = []
    context = browser.new_context(viewport={"width": 1280, "height": 900}, offline=True)
    try:
        context.on("request", lambda request: requests.append(request.url))
        context.on("requestfailed",
                   lambda request: failed.append(f"{request.url} ({request.failure})"))
        page = context.new_page()
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.goto(path.as_uri(), wait_until="load")
        page.evaluate("document.fonts.ready.then(() => true)")
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

        problems = []                                  # every failed check, reported at once

        # (a) the maths is typeset: no raw LaTeX left, KaTeX elements where there is maths
        counts = page.evaluate(MATHS_COUNTS_JS)
        if not counts["katexLoaded"]:
            problems.append("KaTeX did not load (javascripts/vendor/katex/)")
        text = page.evaluate(VISIBLE_TEXT_JS)
        raw = RAW_DOLLAR.findall(text) + RAW_DELIMITER.findall(text)
        if raw:
            problems.append(f"raw LaTeX left in the text: {raw[:10]}")
        if counts["arithmatexTypeset"] != counts["arithmatex"]:
            problems.append(f"{counts['arithmatexTypeset']} of {counts['arithmatex']} "
                            "arithmatex equations typeset")
        if _source_has_maths(path.read_text(encoding="utf-8")) and not counts["katex"]:
            problems.append("the page has maths but no KaTeX element")

        # (b) the search has its index: a word typed in the box gives results
        page.fill("input.md-search__input", SEARCH_WORD)     # in the header at this width
        try:
            page.wait_for_selector(".md-search-result__item", timeout=15_000)
        except Exception as exc:                             # playwright's TimeoutError
            problems.append(f"no search result for {SEARCH_WORD!r} in 15 s "
                            f"({type(exc).__name__})")

        # (c) nothing leaves the machine, and no local file is missing
        remote = [url for url in requests if urlsplit(url).scheme not in LOCAL_SCHEMES]
        if remote:
            problems.append(f"requests leaving the machine: {remote}")
        if failed:
            problems.append(f"failed requests: {failed}")
        # (d) no JavaScript error
        if errors:
            problems.append(f"JavaScript errors: {errors}")
        assert not problems, f"{PAGES[name]}:\n  " + "\n  ".join(problems)
    finally:
        context.close()
