# neuralscope — every target sets up what it needs first, so a fresh machine needs only
# Python 3.11, pip, git and (for the browser tests) root to install Debian's chromium.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: setup demo test bench gallery clean browser

STATIC := src/neuralscope/server/static/index.html
WEB_SRC := $(shell find web/src web/index.html web/package.json web/package-lock.json web/vite.config.js web/vite.standalone.config.js -type f 2>/dev/null)

setup: $(STAMP) browser $(STATIC)

# The dashboard frontend and the bundle that standalone HTML exports inline (web/src/standalone):
# npm dependencies pinned by web/package-lock.json, built into the
# package's git-ignored static folder.
$(STATIC): $(WEB_SRC)
	sh web/build.sh

$(STAMP): pyproject.toml $(wildcard src/neuralscope/*.c)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q --upgrade pip
	$(PY) -m pip install --disable-pip-version-check -q -e ".[dev]"
	touch $(STAMP)

# Debian's chromium drives the browser tests and the HTML screenshots (never a browser
# download); ffmpeg lets animations be saved as MP4.
SYSTEM_PACKAGES := chromium ffmpeg
browser:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	command -v ffmpeg >/dev/null 2>&1 || missing="$$missing ffmpeg"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "warning: could not install$$missing; the tests that need them will skip"; \
	  else echo "note: run 'sudo apt-get install$$missing' to enable the browser and MP4 tests"; fi; \
	fi

demo: setup
	$(VENV)/bin/neuralscope demo --out runs/demo

test: setup
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

# Lucent (feature-vis peer) pins an ancient kornia: install it without its pins, for benchmarks only.
# elkjs (the graph-layout peer of benchmarks/graph_elk.py) goes into .bench/elk, for benchmarks only.
bench: setup
	$(PY) -m pip install --disable-pip-version-check -q kornia decorator && \
	  $(PY) -m pip install --disable-pip-version-check -q --no-deps torch-lucent==0.1.8
	test -d .bench/elk/node_modules/elkjs || npm install --prefix .bench/elk --no-audit --no-fund --no-save elkjs@0.12.1
	@for b in benchmarks/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

gallery: setup
	$(PY) examples/gallery.py --out gallery

clean:
	rm -rf $(VENV) runs gallery .pytest_cache
