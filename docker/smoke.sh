#!/usr/bin/env bash
# Builds the image and runs it for real on a machine with no registry access for images:
# starts dockerd, makes a Debian base image with debootstrap + `docker import`, builds the Dockerfile on
# it with the local CPU torch wheel, runs the container, waits for /readyz, POSTs a seed WAV, checks the
# WAV that comes back, stops the container with SIGTERM, checks it exited 0, and stops dockerd.
# Needs root and Debian (apt-get). `make docker-smoke` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
WORK=${SMOKE_WORK:-/var/tmp/wavenet-docker-smoke}
BASE=wavenet-base:bookworm
IMAGE=wavenet-service:smoke
PORT=${SMOKE_PORT:-18000}
TORCH_WHEEL=${TORCH_WHEEL:-$(ls /opt/wheels/torch-2.13.0+cpu-cp311-*.whl 2>/dev/null | head -n 1)}
mkdir -p "$WORK"

command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
  || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io debootstrap; }

dockerd --data-root "$WORK/docker" --pidfile "$WORK/dockerd.pid" >"$WORK/dockerd.log" 2>&1 &
DOCKERD=$!
cleanup() {
  docker rm -f wavenet-smoke >/dev/null 2>&1 || true
  kill "$DOCKERD" 2>/dev/null || true
  wait "$DOCKERD" 2>/dev/null || true
  rm -f docker/wheels/*.whl docker/wheels/*.zip docker/wheels/*.tar.gz
}
trap cleanup EXIT
for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
docker info --format 'dockerd {{.ServerVersion}}, storage {{.Driver}}'

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  rm -rf "$WORK/rootfs"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$WORK/rootfs" \
    http://deb.debian.org/debian >"$WORK/debootstrap.log"
  tar -C "$WORK/rootfs" -c . | docker import - "$BASE"
fi

# Containers here cannot verify the registries' certificates, so every wheel comes from the host's pip.
[ -n "$TORCH_WHEEL" ] && cp "$TORCH_WHEEL" docker/wheels/
$PY -m pip download --quiet -d docker/wheels "$TORCH_WHEEL" ".[service]" setuptools wheel
docker build --network host --build-arg BASE_IMAGE="$BASE" --build-arg PIP_NO_INDEX=1 -t "$IMAGE" .
docker image ls "$IMAGE" --format 'image {{.Repository}}:{{.Tag}} {{.Size}}'

docker rm -f wavenet-smoke >/dev/null 2>&1 || true  # left over from an interrupted run
docker run -d --name wavenet-smoke -p "$PORT:8000" "$IMAGE"
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 1; done
curl -sf "http://127.0.0.1:$PORT/readyz"; echo
$PY -c "
import numpy as np, soundfile
t = np.arange(8000) / 8000
soundfile.write('$WORK/seed.wav', 0.3 * np.sin(2 * np.pi * 220 * t), 8000)"
curl -sf -F "seed=@$WORK/seed.wav" -F duration=1 -F random_seed=1 "http://127.0.0.1:$PORT/generate" -o "$WORK/out.wav"
$PY -c "
import soundfile
info = soundfile.info('$WORK/out.wav')
assert info.samplerate == 8000 and info.frames == 8000, info
print('generated WAV ok:', info.frames, 'samples at', info.samplerate, 'Hz')"
docker inspect --format 'health: {{.State.Health.Status}}' wavenet-smoke
docker stop --timeout 40 wavenet-smoke
code=$(docker inspect --format '{{.State.ExitCode}}' wavenet-smoke)
echo "container exit code after SIGTERM: $code"
[ "$code" = 0 ]
echo "docker smoke test passed"
