# wavenet-service image: the HTTP service on the shipped weights.
#   GPU host (default, CUDA build of torch from PyPI):   docker build -t wavenet-service .
#   CPU-only host:  docker build --build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu -t wavenet-service .
#   Offline: put every wheel in docker/wheels/ (`pip download -d docker/wheels torch==2.13.0 '.[service]'
#   setuptools wheel`) and add --build-arg PIP_NO_INDEX=1.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
ARG TORCH_SPEC=torch==2.13.0
ARG TORCH_INDEX_URL=
# Build arguments are in the environment of RUN: PIP_NO_INDEX=1 makes pip use docker/wheels/ only.
ARG PIP_NO_INDEX=
# The native step kernel is compiled for this CPU level: x86-64-v3 (AVX2 + FMA) runs on most servers.
ARG WAVENET_MARCH=x86-64-v3
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY docker/wheels/ /wheels/
# torch is pinned by the TORCH_SPEC build argument, which hadolint cannot see:
# hadolint ignore=DL3013
RUN pip install --find-links /wheels ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL" --extra-index-url https://pypi.org/simple} "$TORCH_SPEC"
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY model_core/ model_core/
COPY service/ service/
COPY wavenet/ wavenet/
# the project itself; its dependency ranges live in pyproject.toml:
# hadolint ignore=DL3013
RUN WAVENET_MARCH="$WAVENET_MARCH" pip install --find-links /wheels ".[service]" \
    && python -P -c "from model_core.inference.kernels.native import load_library; load_library()"

FROM ${BASE_IMAGE} AS runtime
# libgomp1: the OpenMP runtime of the native step kernel.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin wavenet
COPY --from=build /opt/venv /opt/venv
COPY weights/ /app/weights/
WORKDIR /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WAVENET_CHECKPOINT=/app/weights/wavenet-default.safetensors
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
STOPSIGNAL SIGTERM
# `wavenet serve` runs uvicorn; on SIGTERM it stops accepting, lets live streams finish (grace period), exits 0.
CMD ["wavenet", "serve", "--host", "0.0.0.0", "--port", "8000", "--grace-seconds", "30"]
