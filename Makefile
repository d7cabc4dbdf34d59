# vllm-mm-patches: a patch series on top of vLLM $(VLLM_TAG).
# `make help` lists the targets. Everything it makes lives under build/.

# PIN=NAME: the same targets for the pin in directory NAME/ (its VERSION,
# patches/, vllm-tests.txt, requirements-test.txt, hash locks), built under
# build/NAME/ (scripts/pin.py). Without it: the main series at the top.
PIN ?=
export SERIES_PIN := $(PIN)
include $(if $(PIN),$(PIN)/VERSION,VERSION)

PYTHON ?= python3
VENV   := build/$(if $(PIN),$(PIN)/)venv
VPY    := $(VENV)/bin/python
SERIES := $(PYTHON) scripts/series.py
# Extra pytest options of test-tooling/-vllm/-e2e (e.g. PYTEST_ARGS="-k keye -x"),
# read by scripts/run_tests.py from the environment.
export PYTEST_ARGS ?=

export OMP_NUM_THREADS ?= 2
# INDEX_URL=...: the package index of every download (pip's --index-url); pip's
# own configuration (pip.conf, PIP_*) applies otherwise. See scripts/index.py.
ifneq ($(INDEX_URL),)
export PIP_INDEX_URL := $(INDEX_URL)
endif
# Offline for every target but eval-gpu, which reads the model hub: it gets
# the caller's own values back (see the eval-gpu target).
CALLER_HF_HUB_OFFLINE := $(HF_HUB_OFFLINE)
CALLER_HF_DATASETS_OFFLINE := $(HF_DATASETS_OFFLINE)
CALLER_TRANSFORMERS_OFFLINE := $(TRANSFORMERS_OFFLINE)
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.DEFAULT_GOAL := help
.PHONY: models help fetch apply export build wheel test test-tooling test-vllm test-e2e \
        test-wheel check \
        smoke serve demo soak eval eval-gpu bench bench-keye bench-glm \
        bench-vit-cudagraph bench-kimi matrix mutation lock clean port-check \
        upstream-check main-series

help: ## this list (times: 2-core machine, cold pip cache)
	@echo "vllm-mm-patches on vLLM $(VLLM_TAG). Fresh machine: make apply && make test"
	@echo
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo
	@echo "Variables: FORCE=1 (apply: discard local work, kept under refs/backups/),"
	@echo "  DEVICE=cpu|cuda (build), VLLM_GIT_URL=<git url> (fetch: clone the tag),"
	@echo "  INDEX_URL=<package index> (fetch, build, lock, matrix; default: pip's configuration),"
	@echo "  PYTEST_ARGS=... (test-tooling/-vllm/-e2e/-wheel), MODEL=... (serve, demo, soak, eval, eval-gpu),"
	@echo "  PIN=NAME (the pin in NAME/, built in build/NAME/: PIN=upstream), PYTHON=python3.x"

fetch: ## download (package index) + verify the pinned sdist into build/ (~10 s; VLLM_GIT_URL clones)
	$(SERIES) fetch

apply: ## build/vllm = pristine tag + patches/*.patch (~20 s first time, ~2 s after)
	$(SERIES) apply $(if $(FORCE),--force)

export: ## build/vllm commits after the tag -> patches/ (byte-stable, ~2 s)
	$(SERIES) export

build: ## venv + deps + patched tree with the release's kernels (~6 min cold, ~10 s after)
	$(SERIES) ensure
	$(PYTHON) scripts/build.py

wheel: main-series ## the patched vLLM as CPU and CUDA wheels in build/dist/ (~1 min, no compiler)
	$(SERIES) ensure
	$(PYTHON) scripts/wheel.py

test: build $(if $(PIN),,wheel) ## tooling, e2e, wheel contents, then the series' vLLM tests (~19 min; PIN=: its vLLM tests)
	$(PYTHON) scripts/run_tests.py

test-tooling: main-series build ## only the fast tests of the tooling in tests/ (~30 s)
	$(PYTHON) scripts/run_tests.py tooling

test-vllm: build ## only the vLLM tests the series adds/changes + tests/vllm-tests.txt
	$(PYTHON) scripts/run_tests.py vllm

test-e2e: main-series build ## only the end-to-end tests (tiny models through the engine, ~7 min)
	$(PYTHON) scripts/run_tests.py e2e

test-wheel: main-series build wheel ## the wheels' tests: contents, CPU wheel in a fresh venv + smoke (~16 min)
	$(PYTHON) scripts/run_tests.py wheel

check: build ## lint the series (messages, clean apply, tag's ruff) and the tooling (~20 s)
	$(SERIES) check --ruff $(VENV)/bin/ruff
	$(VENV)/bin/ruff check scripts tests
	$(VENV)/bin/ruff format --check scripts tests

models: main-series build ## build the tiny random-weight checkpoints into build/models (~10 s)
	$(VPY) scripts/tiny_models.py all --out build/models

smoke: main-series build ## generate text on CPU with a tiny random Qwen3-VL (~1 min)
	$(VPY) scripts/smoke.py

serve: main-series build ## vllm serve the tiny model on 127.0.0.1 (Ctrl-C stops it)
	$(VPY) scripts/serve.py $(if $(MODEL),--model $(MODEL))

demo: main-series build ## start the server, send an image+video chat request, stop it (~2 min)
	$(VPY) scripts/demo.py $(if $(MODEL),--model $(MODEL))

soak: main-series build ## soak vllm serve: 400 mixed good/bad requests, 4 clients, RSS (~2 min)
	$(VPY) scripts/soak.py $(if $(MODEL),--model $(MODEL))

eval: main-series build ## lm-eval on a local task: pristine v0.19.1 vs patched, same scores (~5 min)
	$(VPY) scripts/eval_local.py $(if $(MODEL),--model $(MODEL))

eval-gpu: HF_HUB_OFFLINE = $(CALLER_HF_HUB_OFFLINE)
eval-gpu: HF_DATASETS_OFFLINE = $(CALLER_HF_DATASETS_OFFLINE)
eval-gpu: TRANSFORMERS_OFFLINE = $(CALLER_TRANSFORMERS_OFFLINE)
eval-gpu: ## lm-eval of a real checkpoint (needs a GPU and the model hub): MODEL=...
	$(if $(wildcard $(VPY)),$(VPY),$(PYTHON)) scripts/eval_gpu.py $(MODEL)

bench: bench-keye bench-glm bench-vit-cudagraph bench-kimi ## all benchmarks

bench-keye: main-series build ## Keye M-RoPE: v0.19.1 vs patched, one run (~1 min)
	$(VPY) scripts/bench_keye_mrope.py

bench-vit-cudagraph: main-series build ## Qwen3-VL ViT eager vs CUDA graph (skips without a GPU)
	$(VPY) scripts/bench_vit_cudagraph.py

bench-kimi: main-series build ## Kimi-K2.5 ViT latency and syncs, v0.19.1 vs patched (skips w/o GPU)
	$(VPY) scripts/bench_kimi_vit.py

bench-glm: main-series build ## GLM-4.6V/GLMGA video frame selection: v0.19.1 vs patched, one run (~30 s)
	$(VPY) scripts/bench_glm_frames.py

matrix: main-series ## which patches apply to each vLLM release >= 0.19.0 -> docs/matrix.md (~30 min first, ~5 s after)
	$(PYTHON) scripts/matrix.py

mutation: main-series ## mutation score of the tooling tests (mutmut into build/mutvenv; ~1 h)
	$(PYTHON) scripts/mutation.py

lock: ## rewrite the hash lock scripts/constraints.txt from build/venv (~1.5 min; DEVICE=cuda)
	$(PYTHON) scripts/lock.py $(if $(DEVICE),--device $(DEVICE))

clean: ## remove build/ except downloads (refuses if build/vllm has unexported work)
	$(SERIES) clean

port-check: build ## PIN=NAME: each patch's tests (NAME/TESTS) fail on the release, pass with the patch
	$(PYTHON) scripts/portcheck.py

upstream-check: ## the ports in upstream/ on their release: test before/after each (~9 min after its build)
	$(MAKE) --no-print-directory port-check PIN=upstream

# The targets of the main series only (its tiny models, wheels, benchmarks...).
main-series:
	@$(if $(PIN),echo "make $(MAKECMDGOALS): a target of the main series; run it without PIN=$(PIN)" >&2; exit 1,:)
