# Set-up and main jobs. Everything installs into ./.venv from a bare Python >= 3.11.
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
STAMP   = $(VENV)/.installed
# the torch build to install first (CPU wheel on these machines); /dev/null keeps your own
TORCH_REQUIREMENTS ?= requirements/cpu.txt

.PHONY: install demo test test-slow bench clean

$(STAMP): pyproject.toml requirements/cpu.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r $(TORCH_REQUIREMENTS)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/plastisim demo --overwrite

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(VENV)/bin/plastisim bench

clean:
	rm -rf $(VENV) build *.egg-info
