# pinpipe: `make demo` and `make test` are the whole quick start.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTHON ?= python3

.DEFAULT_GOAL := help
.PHONY: help setup demo test unit lint format bench soak clean kafka kafka-stop s3 s3-stop airflow assets screenshots

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-8s %s\n", $$1, $$2}'

setup: $(VENV)/.installed-dev ## Create .venv and install pinpipe with its test tools (Kafka, Spark, ...)

# uv (from PyPI, into the venv) installs in seconds what pip takes half a minute for; pip
# stays the fallback wherever uv cannot be had.
INSTALL = $(BIN)/uv pip install -q --python $(BIN)/python
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv || true
	@if [ -x $(BIN)/uv ]; then $(INSTALL) -e .; else $(BIN)/pip install -q -e .; fi
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	@if [ -x $(BIN)/uv ]; then $(INSTALL) -e '.[dev]'; else $(BIN)/pip install -q -e '.[dev]'; fi
	@touch $@

demo: $(VENV)/.installed ## Run the whole pipeline on demo data and print the analytics (base install only)
	$(BIN)/pinpipe demo

test: lint unit ## Lint, type-check and run every test

unit: setup
	$(BIN)/pytest

lint: setup ## ruff and mypy
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: setup ## Apply ruff's formatting and fixes
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: setup ## Benchmarks; results go to docs/benchmarks.md
	$(PY) benchmarks/run.py

SOAK_MINUTES ?= 30
SOAK_RATE ?= 200

soak: setup ## `pinpipe up` for SOAK_MINUTES (30) at SOAK_RATE (200) requests/s; to docs/benchmarks.md
	$(PY) benchmarks/soak.py --minutes $(SOAK_MINUTES) --rate $(SOAK_RATE) --write-docs

UPLOT_VERSION ?= 1.6.32
VENDOR := src/pinpipe/console/static/vendor

assets: ## Refresh the console's JavaScript from npm (uPlot $(UPLOT_VERSION)) into the package
	@command -v npm >/dev/null || { echo "make assets needs npm (Node.js)"; exit 1; }
	@tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent uplot@$(UPLOT_VERSION) >/dev/null \
	  && tar xzf uplot-$(UPLOT_VERSION).tgz \
	  && cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css $(CURDIR)/$(VENDOR)/ \
	  && cp package/LICENSE $(CURDIR)/$(VENDOR)/uPlot.LICENSE && rm -rf $$tmp
	@ls -l $(VENDOR)

screenshots: setup ## Rewrite docs/console/*.png from the console's browser test
	PINPIPE_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/console/test_console.py

kafka: setup ## Start Apache Kafka in the background; prints its bootstrap address last
	@$(PY) -m tests.infra.kafka_broker start

kafka-stop: setup ## Stop the broker `make kafka` started
	@$(PY) -m tests.infra.kafka_broker stop

s3: setup ## Start a background S3 server (KIND=moto|s3proxy); prints export lines, endpoint last
	@$(PY) -m tests.infra.s3_server start $(or $(KIND),moto)

s3-stop: setup ## Stop the S3 server `make s3` started (KIND=moto|s3proxy)
	@$(PY) -m tests.infra.s3_server stop $(or $(KIND),moto)

airflow: setup ## Airflow 3 in its own venv (airflow/constraints.txt); prints export lines: eval "$$(make -s airflow)"
	@$(PY) -m tests.infra.airflow_env ensure >/dev/null
	@$(PY) -m tests.infra.airflow_env exports $(or $(AIRFLOW_DIR),.pinpipe/airflow)

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) .pinpipe .pytest_cache .mypy_cache .ruff_cache
