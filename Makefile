# Two commands for a new user: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
SEED ?= 42
INSTALLED := $(VENV)/.installed

.PHONY: install run test lint typecheck pytest browser bench notebooks clean

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU wheel on this machine's disk, never the multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/matcher migrate
	$(BIN)/matcher demo-data --seed $(SEED) --if-empty
	$(BIN)/matcher serve --host $(HOST) --port $(PORT)

test: lint typecheck pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(INSTALLED)
	$(BIN)/mypy

# One worker per core; a module's tests stay on one worker, so its module-scoped fixtures are
# built once. `make pytest PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= auto
pytest: $(INSTALLED) browser
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadscope

# The portal's browser tests drive Debian's Chromium (Playwright's own download cannot reach
# the internet here), with CJK fonts so screenshots show the Chinese pages.
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { apt-get update && apt-get install -y chromium fonts-noto-cjk; }

bench: $(INSTALLED)
	@for script in benchmarks/[a-z]*.py; do \
		module=benchmarks.$$(basename $$script .py); echo "== $$module"; $(BIN)/python -m $$module || exit 1; \
	done

# Runs every notebook top to bottom on executed copies in $(NOTEBOOKS_OUT) (ignored); the committed
# notebooks keep no outputs. MATCHER_NOTEBOOK_SAMPLE=200 make notebooks caps each protocol's queries.
NOTEBOOKS_OUT ?= data/notebooks
notebooks: $(INSTALLED)
	rm -rf $(NOTEBOOKS_OUT) && mkdir -p $(NOTEBOOKS_OUT)
	cp notebooks/*.ipynb $(NOTEBOOKS_OUT)/
	@for notebook in $(NOTEBOOKS_OUT)/*.ipynb; do echo "== $$notebook"; \
		PYTHONPATH=$(CURDIR)/notebooks $(BIN)/jupyter-execute --inplace --kernel_name=python3 --timeout=-1 \
			$$notebook || exit 1; \
	done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
