# The two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Builds are cached outside the work tree, so a fresh clone reuses them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ppmt-amp/target
export CARGO_BUILD_JOBS ?= 2
BIN := $(CARGO_TARGET_DIR)/debug
LOAD_ENV := set -a; . .local/local.env; set +a

.PHONY: demo test up down build lint unit e2e bench bench-quick clean-local api

## Run the whole pipeline once on the local stack with the bundled demo sources.
demo: build up
	$(LOAD_ENV); $(BIN)/ppmt demo

## The read API on http://127.0.0.1:8080 (PPMT_API_ADDR), over the demo stack's table.
api: build up
	$(LOAD_ENV); $(BIN)/ppmt provision --stack ppmt-amp-demo --env-file .local/demo.env >/dev/null
	$(LOAD_ENV); set -a; . .local/demo.env; set +a; $(BIN)/api

## Everything CI runs: format, lints, unit tests, end-to-end tests.
test: lint unit e2e bench-quick

## Start moto server and PostgreSQL on 127.0.0.1 (installing them if missing).
up:
	infra/local/up.sh

## Stop them.
down:
	infra/local/down.sh

build:
	cargo build --workspace --bins

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	PPMT_METRICS=off cargo test --workspace --exclude ppmt-e2e

e2e: build up
	infra/local/chromium.sh
	$(LOAD_ENV); PPMT_METRICS=off cargo test -p ppmt-e2e -- --test-threads=1

## Parse throughput, the transform, the app's table and the loader's memory at realistic
## sizes, each figure beside a baseline measured in the same run (release build, on the
## local stack); the figures also go to bench/results/*.json.
bench: up
	cargo build --release --workspace --bins
	$(CARGO_TARGET_DIR)/release/bench_parse
	$(CARGO_TARGET_DIR)/release/bench_start
	$(LOAD_ENV); $(CARGO_TARGET_DIR)/release/bench_transform
	$(LOAD_ENV); $(CARGO_TARGET_DIR)/release/bench_app
	$(LOAD_ENV); $(CARGO_TARGET_DIR)/release/bench_day
	$(LOAD_ENV); $(CARGO_TARGET_DIR)/release/bench_load

## The same bench programs on small sizes with the debug build, so the harness cannot rot
## (`make test` runs it); its timings mean nothing.
bench-quick: build up
	cargo build -p ppmt-e2e --bins
	PPMT_BENCH_PARSE_ROWS=2000 PPMT_BENCH_PARSE_RUNS=1 $(BIN)/bench_parse
	PPMT_BENCH_START_RUNS=3 $(BIN)/bench_start
	$(LOAD_ENV); PPMT_BENCH_ROWS=2000 PPMT_BENCH_DAYS=2 PPMT_BENCH_SIZES=2000,4000 $(BIN)/bench_transform
	$(LOAD_ENV); PPMT_BENCH_APP_PRODUCTS=100 PPMT_BENCH_API_REQUESTS=100 $(BIN)/bench_app
	$(LOAD_ENV); PPMT_BENCH_DAY_ROWS=2000,4000 $(BIN)/bench_day
	$(LOAD_ENV); PPMT_BENCH_LOAD_MB=1,2 $(BIN)/bench_load

clean-local: down
	rm -rf .local
