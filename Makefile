# xmodal — the two commands a newcomer runs are `make demo` and `make test`.
# Both set up .venv on first use (torch's CPU build first, then the project with every extra).

VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.xmodal-installed
TORCH   ?= torch==2.13.0
DEMO_DIR ?= .cache/demo
PYTEST_ARGS ?=
CHROMIUM ?= /usr/bin/chromium
FLITE    ?= /usr/bin/flite
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# install a Debian package (the one recipe of every system dependency below)
APT_INSTALL = $(SUDO) apt-get update -qq && \
	$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq

.PHONY: setup demo test bench lint format clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[all,dev]'
	@touch $(STAMP)

# Debian's flite: the structured translator's canonical voice (kal16, chosen on val).
$(FLITE):
	$(APT_INSTALL) flite

setup: $(STAMP) $(FLITE)  ## create .venv, install xmodal with every extra, and Debian's flite

demo: setup  ## run the main job on built-in data
	$(VENV)/bin/xmodal demo --out $(DEMO_DIR)

# Debian's Chromium for the end-to-end browser test (Playwright drives it; never `playwright install`).
$(CHROMIUM):
	$(APT_INSTALL) chromium

test: setup $(CHROMIUM)  ## run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

bench: setup  ## run every benchmark (prints ratios against a baseline measured in the same run)
	@set -e; for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf .cache .pytest_cache .ruff_cache build dist src/*.egg-info
