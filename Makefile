# crm-mock — `make help` lists the targets.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8080

.DEFAULT_GOAL := help
.PHONY: help serve serve-pg test lint contract bench specs clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[fast,examples]' \
	  || $(PY) -m pip install -q --disable-pip-version-check -e '.[examples]'   # no bjoern wheel here: gunicorn serves
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@# The /__mock/ page is tested in a real headless Chromium (Debian's package; playwright drives it).
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null; } \
	  || echo "NOTE: no chromium and no root apt-get: tests/test_page.py will be SKIPPED (install chromium to run it)"
	@# Prism (npm) judges the closeio client's traffic against Close's own OpenAPI (tests/test_prism_proxy.py).
	@[ -x bench/node_modules/.bin/prism ] || npm ci --prefix bench --no-audit --no-fund --loglevel=error >/dev/null \
	  || echo "NOTE: npm could not install Prism: tests/test_prism_proxy.py will be SKIPPED (run npm ci --prefix bench)"
	touch $@

serve: $(VENV)/.installed ## Install (first run) and start the mock, all vendors, on 127.0.0.1:8080 (HOST=, PORT= to change)
	$(VENV)/bin/crm-mock serve --host $(HOST) --port $(PORT)

PGDATA ?= $(CURDIR)/.pgdata
PGPORT ?= 5433
PG_AS  := $(shell [ "$$(id -u)" = 0 ] && echo runuser -u postgres --)

serve-pg: $(VENV)/.installed ## Start a local PostgreSQL cluster in .pgdata/ (first run: initdb) and serve on it
	@if [ ! -d $(PGDATA)/data ]; then mkdir -p $(PGDATA) && { [ -z "$(PG_AS)" ] || chown postgres $(PGDATA); } \
	  && $(PG_AS) initdb -A trust --no-sync -U postgres -D $(PGDATA)/data >/dev/null; fi
	@$(PG_AS) pg_ctl -D $(PGDATA)/data status >/dev/null 2>&1 || $(PG_AS) pg_ctl -D $(PGDATA)/data -w -l $(PGDATA)/log \
	  -o "-p $(PGPORT) -k $(PGDATA) -c listen_addresses=127.0.0.1" start >/dev/null
	$(VENV)/bin/crm-mock serve --host $(HOST) --port $(PORT) --store postgresql://postgres@127.0.0.1:$(PGPORT)/postgres

test: lint ## Install with dev extras (first run), lint, and run the whole test suite
	@# Two workers, a test file each (--dist loadfile keeps a file's module fixtures on one worker).
	$(PY) -m pytest -q -n 2 --dist loadfile

lint: $(VENV)/.installed-dev ## ruff (style, imports, likely bugs) and mypy (the public API)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

contract: $(VENV)/.installed ## Fuzz the in-process mock with Schemathesis for every vendor (zero failures expected)
	$(VENV)/bin/crm-mock contract all --max-examples 100 --stateful --seed 1 --junit build/contract-junit.xml --report build/contract-report.md

bench: $(VENV)/.installed ## Benchmark crm-mock against Prism and WireMock, and against its own data size; writes bench/RESULTS.md
	$(PY) bench/run.py

specs: $(VENV)/.installed ## Show the vendors and operations the mock serves
	$(VENV)/bin/crm-mock specs

clean: ## Remove the virtualenv and build outputs
	-@[ -d $(PGDATA)/data ] && $(PG_AS) pg_ctl -D $(PGDATA)/data -m fast stop >/dev/null 2>&1
	rm -rf $(VENV) build .pytest_cache $(PGDATA)
