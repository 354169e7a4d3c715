# Two commands take a newcomer from a clone to a running, tested server:
#   make serve    install into .venv (first time only), then run the graph in the foreground
#   make test     install, then ruff, mypy and pytest
VENV ?= .venv
PYTHON ?= python3.11
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export RAY_USAGE_STATS_ENABLED := 0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Ray Serve's high-throughput mode (Ray >= 2.56): user code and router on the replica's own
# event loop, gRPC between replicas, direct ingress. Measured on the real graph, c=8, 2 cores
# (busy): 36-40 req/s without it, 47-51 with it (docs/benchmarks.md). Read when Ray starts.
# Its 1,000-record log buffer is turned off: it has no timer, so at low traffic a replica's
# log lines (and the request ids in them) would not reach the file for minutes.
export RAY_SERVE_THROUGHPUT_OPTIMIZED := 1
export RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE := 1
# Largest message between replicas (gRPC in that mode; Ray's default is 4 MiB): a 10 MB image
# or a batch of 256 long texts crosses deployments, so 64 MiB (tests/test_configs.py checks
# it covers the settings' limits).
export RAY_SERVE_REPLICA_GRPC_MAX_MESSAGE_LENGTH := 67108864

.PHONY: install serve head test lint typecheck unit train eval bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# `make serve SERVE_CONFIG=configs/gpu.yaml RAY_START_ARGS="--num-cpus 16 --num-gpus 1"` tries
# the GPU config on one machine; the Ray tools in another shell need RAY_AUTH_MODE=token.
SERVE_CONFIG ?= configs/local.yaml
RAY_START_ARGS ?=

serve: $(STAMP)
	$(BIN)/python -m serve_app.cluster serve $(SERVE_CONFIG) $(RAY_START_ARGS)

# The head node alone, for `serve deploy` from another shell; Ctrl-C stops it.
head: $(STAMP)
	$(BIN)/python -m serve_app.cluster head $(RAY_START_ARGS)

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

train: $(STAMP)
	$(BIN)/modserve train text

eval: $(STAMP)
	$(BIN)/modserve eval text

bench: $(STAMP)
	$(BIN)/modserve bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
