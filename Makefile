# Robot operator: every developer and CI entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: help setup lint typecheck check test test-unit test-git test-cluster test-image \
        run cluster-up cluster-down controlplane manifests images bench-runtime bench-operator clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## Install Debian packages (as root) and the Python venv in .venv
	@hack/setup.sh

lint: setup ## ruff, and import-linter layering contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: setup ## mypy --strict over the packages, tests and benchmarks
	$(BIN)/mypy

check: lint typecheck ## All static checks

test: check controlplane ## THE test command: static checks, then unit, git/ssh, control-plane and image tiers
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: setup ## Unit tests only (no network, no cluster)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-git: setup ## Real git repositories and a real OpenSSH server on 127.0.0.1
	$(BIN)/pytest -m git $(PYTEST_ARGS)

test-cluster: setup controlplane ## Scenarios against a real control plane on 127.0.0.1
	$(BIN)/pytest -m cluster $(PYTEST_ARGS)

test-image: setup ## Build and run the images with podman
	$(BIN)/pytest -m image $(PYTEST_ARGS)

controlplane: setup ## Build (once, cached) kube-apiserver, kube-controller-manager and etcd
	@hack/controlplane.sh build

cluster-up: controlplane ## Start a control plane on 127.0.0.1; last line: export KUBECONFIG=...
	@hack/controlplane.sh up

cluster-down: ## Stop the control plane started by cluster-up
	@hack/controlplane.sh down

run: setup ## The main job: run the operator (starts a local control plane and an example robot if no cluster)
	@hack/run.sh

manifests: setup ## Regenerate deploy/install.yaml from deploy/ (kustomize)
	$(PY) -m robot_operator.manifests > deploy/install.yaml

images: setup ## Build the robot and operator images with podman (or docker); prints both references last
	@hack/images.sh

bench-runtime: setup ## Benchmark the runtime's bootstrap/restore/backup against the git CLI
	$(PY) bench/bench_runtime.py

bench-operator: controlplane ## Benchmark the operator against kubectl apply on the local control plane
	$(PY) bench/bench_operator.py

clean: ## Remove the venv and build caches (not the Go build cache)
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
