# Set-up and main jobs. Everything installs into ./.venv from a bare Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
# the torch build to install first (CPU wheel on these machines); /dev/null keeps your own
TORCH_REQUIREMENTS ?= requirements/cpu.txt
# the notebooks (jupytext percent scripts) and the executed notebooks the site renders
NOTEBOOKS      = $(filter-out notebooks/_%,$(wildcard notebooks/*.py))
NOTEBOOK_PAGES = $(NOTEBOOKS:notebooks/%.py=docs/notebooks/%.ipynb)
export NO_MKDOCS_2_WARNING = 1

.PHONY: install demo test test-slow bench notebooks docs clean

$(STAMP): pyproject.toml requirements/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r $(TORCH_REQUIREMENTS)
	$(PY) -m pip install -q -e '.[test,docs]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/plastisim demo --overwrite

# the suite (notebooks and the docs' examples included), then the strict docs build, then the
# built site in headless Chromium (tests/test_site_browser.py: maths typeset, search, no network
# request, no JavaScript error; screenshots in build/screenshots/). The first pass deselects
# the browser test (-m), which would otherwise build a site of its own; the notebooks the suite
# executes are kept in docs/notebooks/ for the site, not run twice
test: $(STAMP)
	PLASTISIM_NOTEBOOKS_TO=docs/notebooks $(PY) -m pytest -q -m 'not slow and not browser'
	$(MAKE) --no-print-directory docs
	PLASTISIM_SITE=site PLASTISIM_SCREENSHOTS_TO=build/screenshots $(PY) -m pytest -q tests/test_site_browser.py

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(VENV)/bin/plastisim bench

# execute a notebook when its script changed (figures: build/notebooks/)
docs/notebooks/%.ipynb: notebooks/%.py | $(STAMP)
	$(PY) notebooks/_execute.py $< --out $@ --figures build/notebooks

notebooks: $(NOTEBOOK_PAGES)

# the site: docs/*.md, the API reference from the docstrings, the notebooks -> site/
docs: $(NOTEBOOK_PAGES) | $(STAMP)
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) build site docs/notebooks .cache/mkdocs-jupyter *.egg-info
