# sigmagate — every entry point a user or CI needs. Each target installs what it uses.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(abspath $(VENV))/bin/python
STAMP   := $(VENV)/.installed
GOBIN   := $(abspath build/bin)
export GOBIN

# Pinned developer tools, installed from the Go module proxy into build/bin.
STATICCHECK_VERSION := v0.8.2
ACTIONLINT_VERSION  := v1.7.12

# Tests and tools find the sidecar's Python through this.
export SIGMAGATE_PYTHON := $(PY)
export SIGMAGATE_ROOT   := $(abspath .)

.PHONY: help venv test test-py test-go test-monitoring monitoring-tools lint lint-py lint-go lint-workflows bench bench-scale demo clean

help:
	@echo "make demo   – set up, then run the whole pipeline end to end on generated data"
	@echo "make test   – every test and linter (Python and Go, and the Prometheus alert rules)"
	@echo "make test-monitoring – promtool check and unit tests of monitoring/sigmagate.rules.yml"
	@echo "make bench  – the benchmarks; rewrites docs/BENCHMARKS.md"
	@echo "make bench-scale – export and training at 10⁶…5·10⁷ rows and the model-family table (hours); its section of BENCHMARKS.md"

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11+ or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11+ is required, found " + sys.version)'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[train,dask,dev]"
	touch $@

venv: $(STAMP)

$(GOBIN)/staticcheck:
	cd go && go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(GOBIN)/actionlint:
	cd go && go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

lint-py: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lint-go: $(GOBIN)/staticcheck
	@out=$$(cd go && gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed: $$out" >&2; exit 1; fi
	cd go && go vet ./...
	cd go && $(GOBIN)/staticcheck ./...
	cd go/bench && go vet ./...
	cd go/bench && $(GOBIN)/staticcheck ./...

lint-workflows: $(GOBIN)/actionlint
	$(GOBIN)/actionlint .github/workflows/*.yml

lint: lint-py lint-go lint-workflows

# Prometheus and promtool (Debian's prometheus package) for the monitoring tests.
monitoring-tools:
	scripts/install_prometheus.sh

# The alert rules: syntax, then their promtool unit tests (monitoring/sigmagate.rules.test.yml).
test-monitoring: monitoring-tools
	promtool check rules monitoring/sigmagate.rules.yml
	cd monitoring && promtool check config prometheus.example.yml
	cd monitoring && promtool test rules sigmagate.rules.test.yml

# tests/monitoring runs a real Prometheus, hence monitoring-tools.
test-py: $(STAMP) monitoring-tools
	$(VENV)/bin/pytest -q -n auto --dist loadfile --durations=15

test-go: $(STAMP)
	cd go && go test -race -count=1 ./...
	cd go/bench && go test -race -count=1 ./...

test: lint test-monitoring test-py test-go

bench: $(STAMP)
	$(PY) -m bench

# 10⁶ … 5·10⁷ rows through export and every training path: about two hours and
# ~40 GB of disk under build/scale/; rewrites the Scale section of docs/BENCHMARKS.md.
bench-scale: $(STAMP)
	$(PY) -m bench.scale
	$(PY) -m pytest -q -s -m bench_scale

demo: $(STAMP)
	scripts/demo.sh

clean:
	rm -rf build .pytest_cache .ruff_cache
